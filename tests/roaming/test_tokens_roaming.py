"""A Kazakh driver's card at an Uzbek charger: the OCPI Tokens module between two silkcharge
networks over real HTTP (the Kazakh one an eMSP, KZ*SLK; the Uzbek one a CPO, UZ*UZE), and an
OCPP 1.6 charger of the Uzbek network presenting the card (roaming/tokens.py).

Each network has its own database and its own uvicorn; the tokens travel through the Kazakh
outbox; the charger is the `ocpp` package over a real WebSocket."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator

import pytest
from ocpp.v16 import call as call16
from sqlalchemy import select

from silkcharge.domain.clock import to_ocpp, utcnow
from silkcharge.store.schema import RoamingPartner, RoamingToken, RoamingTransaction
from tests.e2e.network import register_station
from tests.e2e.peers import connected_peer, eventually
from tests.roaming.conftest import Network, another_database, invite, register, running_network
from tests.roaming.fake_partner import FakePartner

KZ_EMSP = {"country_code": "KZ", "party_id": "SLK", "role": "EMSP", "business_name": "Silk Charge Kazakhstan"}
UZ_CPO = {"country_code": "UZ", "party_id": "UZE", "role": "CPO", "business_name": "UzEnergy Charging"}
STATION = "TASH-1"


@pytest.fixture
async def roaming_pair(database_url) -> AsyncIterator[tuple[Network, Network]]:
    """The Kazakh eMSP and the Uzbek CPO, registered with each other (the CPO invited)."""
    with another_database(database_url) as uz_url:
        async with running_network("kz", database_url, KZ_EMSP) as kz, running_network("uz", uz_url, UZ_CPO) as uz:
            invitation = await invite(uz, "Silk Charge KZ")
            answer = await register(kz, "UzEnergy", invitation["versions_url"], invitation["credentials_token"])
            assert answer.status_code == 201, answer.text
            await register_station(uz.api, STATION)
            yield kz, uz


async def token_of(network: Network) -> str:
    """The token `network` calls its partner with."""
    return (await network.partner_row()).token_to_them


async def stored_token(uz: Network, uid: str) -> RoamingToken | None:
    async with uz.platform.sessions() as session:
        return await session.scalar(select(RoamingToken).where(RoamingToken.uid_key == uid.upper()))


async def roaming_transaction(uz: Network, transaction_id: int) -> RoamingTransaction | None:
    async with uz.platform.sessions() as session:
        return await session.get(RoamingTransaction, transaction_id)


@contextlib.asynccontextmanager
async def charger(uz: Network):
    async with connected_peer(f"ws://127.0.0.1:{uz.platform.gateway.port}/ocpp", STATION, "1.6") as peer:
        await peer.call(call16.BootNotification(charge_point_vendor="V", charge_point_model="M"))
        yield peer


async def authorize(peer, id_tag: str) -> str:
    return (await peer.call(call16.Authorize(id_tag=id_tag))).id_tag_info["status"]


def foreign_token(uid: str, **fields) -> dict:
    """A token as the Kazakh eMSP's platform would push it (sent straight over OCPI)."""
    return {"country_code": "KZ", "party_id": "SLK", "uid": uid, "type": "RFID", "contract_id": f"KZ-SLK-C{uid[:8]}",
            "issuer": "Silk Charge", "valid": True, "whitelist": "ALWAYS", "last_updated": "2026-12-04T09:00:00Z",
            **fields}


async def put_token(kz: Network, uz: Network, token: dict, *, path: str | None = None):
    """The Kazakh eMSP's PUT of `token` to the Uzbek CPO (as KZ's outbox would send it)."""
    path = path or f"KZ/SLK/{token['uid']}"
    return await uz.ocpi("PUT", f"cpo/2.2.1/tokens/{path}", await token_of(kz), json=token)


# -- the eMSP's card travels and is accepted -----------------------------------------------------------


async def test_a_card_issued_by_the_kazakh_emsp_is_pushed_to_the_uzbek_cpo_and_accepted_at_its_charger(
    roaming_pair,
):
    kz, uz = roaming_pair
    created = await kz.api.post("/api/v1/tokens", json={"token": "04A1B2C3D4", "type": "ISO14443"})
    assert created.status_code == 201, created.text

    stored = await eventually(lambda: stored_token(uz, "04A1B2C3D4"))
    assert (stored.country_code, stored.party_id, stored.type, stored.valid) == ("KZ", "SLK", "RFID", True)
    assert stored.contract_id.startswith("KZ-SLK-C") and stored.whitelist == "ALLOWED"
    kz_at_uz = await uz.partner_row()
    assert stored.partner_id == kz_at_uz.id

    async with charger(uz) as peer:
        assert await authorize(peer, "04a1b2c3d4") == "Accepted"  # an idTag read lower-case is the same card
        start = call16.StartTransaction(connector_id=1, id_tag="04A1B2C3D4", meter_start=0, timestamp=to_ocpp(utcnow()))
        started = await peer.call(start)
        await kz.platform.roaming_push.stop()
        replayed = await peer.call(start)  # its reply was lost: answered as before
    assert started.id_tag_info["status"] == "Accepted"
    assert replayed.transaction_id == started.transaction_id and replayed.id_tag_info["status"] == "Accepted"
    remembered = await roaming_transaction(uz, started.transaction_id)
    assert remembered.partner_id == kz_at_uz.id and remembered.roaming_token_id == stored.id
    assert (remembered.country_code, remembered.party_id, remembered.token_uid) == ("KZ", "SLK", "04A1B2C3D4")
    assert remembered.decided_by == "realtime" and remembered.authorization_reference


async def test_the_emsps_real_time_answer_wins_over_a_stored_copy_that_is_not_up_to_date(roaming_pair):
    kz, uz = roaming_pair
    await kz.api.post("/api/v1/tokens", json={"token": "CARD-BLOCKED", "type": "ISO14443"})
    await eventually(lambda: stored_token(uz, "CARD-BLOCKED"))
    await kz.platform.roaming_push.stop()  # the change below will not reach the CPO by push
    blocked = await kz.api.patch("/api/v1/tokens/CARD-BLOCKED", json={"status": "Blocked"})
    assert blocked.status_code == 200

    async with charger(uz) as peer:
        assert await authorize(peer, "CARD-BLOCKED") == "Blocked"
    assert (await stored_token(uz, "CARD-BLOCKED")).valid is True  # whitelist ALLOWED: real time was asked


async def test_a_card_blocked_at_the_emsp_is_pushed_invalid_and_refused_at_the_charger(roaming_pair):
    kz, uz = roaming_pair
    await kz.api.post("/api/v1/tokens", json={"token": "CARD-LOST", "type": "ISO14443"})
    await eventually(lambda: stored_token(uz, "CARD-LOST"))
    await kz.api.patch("/api/v1/tokens/CARD-LOST", json={"status": "Blocked"})

    async def invalidated():
        token = await stored_token(uz, "CARD-LOST")
        return token if not token.valid else None

    await eventually(invalidated)
    async with charger(uz) as peer:
        assert await authorize(peer, "CARD-LOST") == "Blocked"


async def test_a_card_deleted_at_the_emsp_is_pushed_invalid_since_ocpi_deletes_no_token(roaming_pair):
    kz, uz = roaming_pair
    await kz.api.post("/api/v1/tokens", json={"token": "CARD-GONE", "type": "ISO14443"})
    await eventually(lambda: stored_token(uz, "CARD-GONE"))
    assert (await kz.api.delete("/api/v1/tokens/CARD-GONE")).status_code == 204

    async def invalidated():
        token = await stored_token(uz, "CARD-GONE")
        return token if not token.valid else None

    await eventually(invalidated)


async def test_the_whitelist_decides_when_the_emsp_is_not_asked_or_does_not_know_the_card(roaming_pair):
    kz, uz = roaming_pair
    # None of these cards is known at the Kazakh eMSP: asked in real time, it answers 2004.
    for token in (foreign_token("ALWAYS-OK"), foreign_token("ALWAYS-INVALID", valid=False),
                  foreign_token("NEVER-UNKNOWN", whitelist="NEVER"),
                  foreign_token("OFFLINE-UNKNOWN", whitelist="ALLOWED_OFFLINE")):
        answer = await put_token(kz, uz, token)
        assert answer.status_code == 200 and answer.json()["status_code"] == 1000, answer.text
    async with charger(uz) as peer:
        assert await authorize(peer, "ALWAYS-OK") == "Accepted"  # the stored copy, no call
        assert await authorize(peer, "ALWAYS-INVALID") == "Invalid"
        assert await authorize(peer, "NEVER-UNKNOWN") == "Invalid"  # the eMSP said 2004
        assert await authorize(peer, "OFFLINE-UNKNOWN") == "Invalid"  # it answered: not offline
        assert await authorize(peer, "NOBODY-AT-ALL") == "Invalid"  # no partner's token either


async def test_an_unreachable_emsp_leaves_the_decision_to_the_whitelist(roaming_pair):
    kz, uz = roaming_pair
    for token in (foreign_token("OFFLINE-OK", whitelist="ALLOWED_OFFLINE"),
                  foreign_token("NEVER-OK", whitelist="NEVER")):
        assert (await put_token(kz, uz, token)).json()["status_code"] == 1000
    async with uz.platform.sessions.begin() as session:  # the eMSP's platform moved away
        partner = await session.scalar(select(RoamingPartner))
        partner.endpoints = [{**e, "url": "http://127.0.0.1:9/ocpi/emsp/2.2.1/tokens"} if e["identifier"] == "tokens"
                             else e for e in partner.endpoints]
    async with charger(uz) as peer:
        assert await authorize(peer, "OFFLINE-OK") == "Accepted"
        assert await authorize(peer, "NEVER-OK") == "Invalid"


async def test_an_emsp_that_does_not_answer_in_time_costs_the_driver_the_timeout_then_the_whitelist_decides(
    roaming_pair,
):
    kz, uz = roaming_pair
    for token in (foreign_token("SLOW-ALLOWED", whitelist="ALLOWED"), foreign_token("SLOW-NEVER", whitelist="NEVER")):
        assert (await put_token(kz, uz, token)).json()["status_code"] == 1000
    silent = FakePartner()  # takes the request, never answers
    silent.hold = True
    await silent.start()
    try:
        async with uz.platform.sessions.begin() as session:
            partner = await session.scalar(select(RoamingPartner))
            partner.endpoints = [{**e, "url": silent.endpoint} if e["identifier"] == "tokens" else e
                                 for e in partner.endpoints]
        uz.platform.settings.ocpi_authorize_timeout = 0.5
        async with charger(uz) as peer:
            began = time.monotonic()
            assert await authorize(peer, "SLOW-ALLOWED") == "Accepted"
            assert await authorize(peer, "SLOW-NEVER") == "Invalid"
            waited = time.monotonic() - began
        assert [path for _, path in silent.attempts] == ["SLOW-ALLOWED/authorize", "SLOW-NEVER/authorize"]
        assert 1.0 <= waited < 5.0  # two bounded waits, not the client's 20 s timeout
    finally:
        silent.hold = False
        await silent.stop()


# -- the CPO's receiver: what it stores and refuses ------------------------------------------------------


async def test_the_cpo_stores_a_put_token_serves_it_back_and_takes_a_patch(roaming_pair):
    kz, uz = roaming_pair
    token = foreign_token("04FF00AA", visual_number="KZ 0001", language="kk")
    assert (await put_token(kz, uz, token)).status_code == 200
    served = await uz.ocpi("GET", "cpo/2.2.1/tokens/KZ/SLK/04ff00aa?type=RFID", await token_of(kz))
    assert served.status_code == 200 and served.json()["data"] == token

    patched = await uz.ocpi("PATCH", "cpo/2.2.1/tokens/KZ/SLK/04FF00AA", await token_of(kz),
                            json={"valid": False, "last_updated": "2026-12-04T10:00:00Z"})
    assert patched.json()["status_code"] == 1000, patched.text
    stored = await stored_token(uz, "04FF00AA")
    assert stored.valid is False and stored.visual_number == "KZ 0001"


async def test_an_older_version_of_a_token_is_acknowledged_and_ignored(roaming_pair):
    kz, uz = roaming_pair
    await put_token(kz, uz, foreign_token("04FF00BB", last_updated="2026-12-04T10:00:00Z", valid=False))
    late = await put_token(kz, uz, foreign_token("04FF00BB", last_updated="2026-12-04T09:59:59Z", valid=True))
    assert late.status_code == 200 and late.json()["status_code"] == 1000
    assert (await stored_token(uz, "04FF00BB")).valid is False


@pytest.mark.parametrize("token, path", [
    (foreign_token("04AA", whitelist="SOMETIMES"), None),
    ({k: v for k, v in foreign_token("04AB").items() if k != "contract_id"}, None),
    (foreign_token("04AC"), "UZ/UZE/04AC"),  # another party's ids: not the caller's
    (foreign_token("04AD", country_code="UZ", party_id="UZE"), "UZ/UZE/04AD"),
    (foreign_token("04AE"), "KZ/SLK/04AF"),  # the body's uid is not the URL's
    (foreign_token("04AG", type="APP_USER"), None),  # the URL's type is RFID by default
    ("not an object", "KZ/SLK/04AH"),
], ids=["bad-whitelist", "no-contract", "other-party-url", "other-party-both", "uid-mismatch", "type-mismatch",
        "not-an-object"])
async def test_a_bad_token_or_another_partys_is_refused_with_2001_and_nothing_is_stored(roaming_pair, token, path):
    kz, uz = roaming_pair
    answer = await put_token(kz, uz, token, path=path)
    assert answer.status_code == 400 and answer.json()["status_code"] == 2001, answer.text
    async with uz.platform.sessions() as session:
        assert (await session.scalars(select(RoamingToken))).all() == []


async def test_the_cpo_answers_2004_for_a_token_it_does_not_hold(roaming_pair):
    kz, uz = roaming_pair
    answer = await uz.ocpi("GET", "cpo/2.2.1/tokens/KZ/SLK/NOPE", await token_of(kz))
    assert answer.status_code == 404 and answer.json()["status_code"] == 2004
    patch = await uz.ocpi("PATCH", "cpo/2.2.1/tokens/KZ/SLK/NOPE", await token_of(kz),
                          json={"valid": False, "last_updated": "2026-12-04T10:00:00Z"})
    assert patch.status_code == 404 and patch.json()["status_code"] == 2004


# -- the eMSP's sender: list and real-time authorization ------------------------------------------------------


async def test_the_emsp_lists_its_tokens_in_pages_and_by_date(roaming_pair):
    kz, uz = roaming_pair
    for n in range(3):
        await kz.api.post("/api/v1/tokens", json={"token": f"LIST-{n}", "type": "ISO14443"})
    await kz.api.post("/api/v1/tokens", json={"token": "KEYPAD-1", "type": "KeyCode"})  # does not roam
    token = await token_of(uz)
    first = await kz.ocpi("GET", "emsp/2.2.1/tokens?limit=2", token)
    assert first.status_code == 200 and first.headers["X-Total-Count"] == "3"
    assert [t["uid"] for t in first.json()["data"]] == ["LIST-0", "LIST-1"] and 'rel="next"' in first.headers["Link"]
    rest = await kz.ocpi("GET", "emsp/2.2.1/tokens?limit=2&offset=2", token)
    assert [t["uid"] for t in rest.json()["data"]] == ["LIST-2"] and "Link" not in rest.headers
    later = await kz.ocpi("GET", "emsp/2.2.1/tokens?date_from=2999-01-01T00:00:00Z", token)
    assert later.json()["data"] == [] and later.headers["X-Total-Count"] == "0"


async def test_real_time_authorization_at_the_emsp_answers_allowed_with_the_location_or_2004(roaming_pair):
    kz, uz = roaming_pair
    await kz.api.post("/api/v1/tokens", json={"token": "RT-1", "type": "ISO14443"})
    await kz.api.post("/api/v1/tokens", json={"token": "RT-2", "type": "ISO14443", "status": "Blocked"})
    token = await token_of(uz)
    where = {"location_id": "TASH", "evse_uids": ["TASH-1*1"]}
    allowed = (await kz.ocpi("POST", "emsp/2.2.1/tokens/RT-1/authorize", token, json=where)).json()
    assert allowed["status_code"] == 1000 and allowed["data"]["allowed"] == "ALLOWED"
    assert allowed["data"]["location"] == where and allowed["data"]["token"]["uid"] == "RT-1"
    assert allowed["data"]["authorization_reference"]
    blocked = (await kz.ocpi("POST", "emsp/2.2.1/tokens/RT-2/authorize?type=RFID", token)).json()
    assert blocked["data"]["allowed"] == "BLOCKED" and "location" not in blocked["data"]
    unknown = await kz.ocpi("POST", "emsp/2.2.1/tokens/NOBODY/authorize", token)
    assert unknown.status_code == 404 and unknown.json()["status_code"] == 2004
    wrong_type = await kz.ocpi("POST", "emsp/2.2.1/tokens/RT-1/authorize?type=APP_USER", token)
    assert wrong_type.json()["status_code"] == 2004
    malformed = await kz.ocpi("POST", "emsp/2.2.1/tokens/RT-1/authorize", token, json={"evse_uids": ["X"]})
    assert malformed.status_code == 400 and malformed.json()["status_code"] == 2001


async def test_the_cards_of_a_partner_no_longer_registered_are_strangers_again(roaming_pair):
    kz, uz = roaming_pair
    assert (await put_token(kz, uz, foreign_token("ALWAYS-OLD"))).json()["status_code"] == 1000
    async with uz.platform.sessions.begin() as session:
        (await session.scalar(select(RoamingPartner))).state = "unregistered"
    async with charger(uz) as peer:
        assert await authorize(peer, "ALWAYS-OLD") == "Invalid"
