"""Sessions and CDRs between two silkcharge networks over real HTTP (uvicorn on free ports), on
SQLite and PostgreSQL: the Uzbek network is the CPO (UZ*UZE), the Kazakh one the eMSP of the
driver (KZ*SLK). A session pushed from Tashkent through the outbox arrives in Almaty (PUT, then
PATCHes in order); its CDR arrives in UZS and the Kazakh driver's receipt shows KZT with the
rate. Replays, conflicts, late PATCHes and malformed objects are answered as OCPI says."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import orjson
import pytest
from ocpp.v16 import call
from sqlalchemy import select

from silkcharge.domain.clock import to_ocpp, utcnow
from silkcharge.domain.money import Money, Price
from silkcharge.roaming.cdrs import CdrPushes, cdr_location, cdr_object
from silkcharge.roaming.outbox import SENT
from silkcharge.roaming.sessions import Party, SessionPushes, TokenOwner, session_object
from silkcharge.roaming.wire import dumps
from silkcharge.store.schema import (
    RoamingCdr,
    RoamingOutboxRow,
    RoamingSession,
    RoamingToken,
    Transaction,
)
from tests.e2e.network import PASSWORD, add_token
from tests.e2e.peers import connected_peer, eventually
from tests.roaming.conftest import Network, another_database, invite, register, running_network

UZ_CPO = {"country_code": "UZ", "party_id": "UZE", "role": "CPO", "business_name": "UzEnergy Charge"}
KZ_EMSP = {"country_code": "KZ", "party_id": "SLK", "role": "EMSP", "business_name": "Silk Charge Kazakhstan"}
CPO = Party("UZ", "UZE")
DRIVER = ("aigerim@example.kz", "steppe wind 2026", "Aigerim")
CARD = "KZ-DRIVER-1"
RATE = Decimal("0.0405")  # an example: 1 UZS = 0.0405 KZT


@pytest.fixture
async def kz(database_url) -> AsyncIterator[Network]:
    async with running_network("kz", database_url, KZ_EMSP) as network:
        yield network


@pytest.fixture
async def uz(database_url) -> AsyncIterator[Network]:
    with another_database(database_url) as url:
        async with running_network("uz", url, UZ_CPO) as network:
            yield network


@pytest.fixture
async def roaming(kz, uz) -> tuple[Network, Network, TokenOwner, str]:
    """The Kazakh eMSP invited the Uzbek CPO, which registered: the Uzbek side's owner of the
    Kazakh driver's token, and the token the Uzbek side calls the Kazakh one with."""
    invitation = await invite(kz, "UzEnergy")
    answer = await register(uz, "Silk Charge KZ", invitation["versions_url"], invitation["credentials_token"])
    assert answer.status_code == 201, answer.text
    partner = await uz.partner_row()
    owner = TokenOwner(partner_id=partner.id, country_code="KZ", party_id="SLK", uid=CARD, contract_id="KZ-SLK-C1")
    return kz, uz, owner, partner.token_to_them


def the_transaction(start: datetime, **changes) -> Transaction:
    values = dict(id=501, station_id="TAS-01", station_tx_id="501", evse_id=2, connector_id=1, id_token=CARD,
                  state="Active", started_at=start, stopped_at=None, energy_wh=None, meter_start_wh=None,
                  meter_stop_wh=None, remote_start_id=None, offline=False)
    values.update(changes)
    return Transaction(**values)


def the_cdr(owner: TokenOwner, start: datetime, **changes) -> dict:
    end = start + timedelta(minutes=40)
    stored = {
        "id": "cdr-501", "start_date_time": _t(start), "end_date_time": _t(end), "currency": "UZS",
        "session_id": "501", "tariffs": [],
        "charging_periods": [{"start_date_time": _t(start), "dimensions": [{"type": "ENERGY", "volume": Decimal(12)}]}],
        "total_cost": {"excl_vat": Decimal("30000"), "incl_vat": Decimal("33600")},
        "total_energy": Decimal(12), "total_time": Decimal("0.667"), "total_parking_time": Decimal(0),
        **changes,
    }
    location = cdr_location(site_code="TAS-CENTRAL", site_name="Tashkent Central", address="Amir Temur 1",
                            city="Tashkent", country="UZ", lat=41.311, lon=69.279, station_id="TAS-01", evse_id=2,
                            connector_id=1)
    return cdr_object(stored, cpo=CPO, owner=owner, location=location, auth_method="AUTH_REQUEST",
                      last_updated=end + timedelta(minutes=1))


def _t(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def json_of(body: dict) -> dict:
    return orjson.loads(dumps(body))


async def rows(network: Network, model, *where):
    async with network.platform.sessions() as session:
        return (await session.scalars(select(model).where(*where).order_by(model.id))).all()


async def sent_pushes(uz: Network, module: str, count: int) -> list[RoamingOutboxRow]:
    async def done():
        found = await rows(uz, RoamingOutboxRow, RoamingOutboxRow.module == module)
        return found if len(found) == count and all(r.state == SENT for r in found) else None

    return await eventually(done)


async def test_a_session_pushed_from_the_uzbek_cpo_arrives_at_the_kazakh_emsp_put_then_patches_in_order(roaming):
    kz, uz, owner, _ = roaming
    start = utcnow().replace(microsecond=0) - timedelta(hours=1)
    pushes = SessionPushes(uz.platform.roaming_push.outbox)
    tenant = (await uz.partner_row()).tenant_id

    started = session_object(the_transaction(start), cpo=CPO, location_id="TAS-CENTRAL", owner=owner, currency="UZS")
    charging = session_object(the_transaction(start, energy_wh=Decimal(5000)), cpo=CPO, location_id="TAS-CENTRAL",
                              owner=owner, currency="UZS", last_updated=start + timedelta(minutes=10))
    ended = session_object(
        the_transaction(start, state="Ended", energy_wh=Decimal(12000), stopped_at=start + timedelta(minutes=40)),
        cpo=CPO, location_id="TAS-CENTRAL", owner=owner, currency="UZS",
        total_cost=Price(Money(Decimal(30000), "UZS"), Money(Decimal(33600), "UZS")))
    async with uz.platform.sessions.begin() as session:
        await pushes.started(session, owner, CPO, json_of(started), tenant_id=tenant)
    async with uz.platform.sessions.begin() as session:
        await pushes.updated(session, owner, CPO, json_of(started), json_of(charging), tenant_id=tenant)
    async with uz.platform.sessions.begin() as session:
        await pushes.updated(session, owner, CPO, json_of(charging), json_of(ended), tenant_id=tenant)

    sent = await sent_pushes(uz, "sessions", 3)
    assert [(r.method, r.sequence) for r in sent] == [("PUT", 1), ("PATCH", 2), ("PATCH", 3)]
    assert sent[0].sent_at <= sent[1].sent_at <= sent[2].sent_at  # one after the other, in order
    assert set(sent[2].body) == {"kwh", "status", "end_date_time", "total_cost", "last_updated"}

    [held] = await rows(kz, RoamingSession)
    assert (held.country_code, held.party_id, held.session_id, held.token_uid) == ("UZ", "UZE", "501", CARD)
    assert held.status == "COMPLETED" and held.body["kwh"] == 12
    assert held.body["total_cost"] == {"excl_vat": 30000, "incl_vat": 33600}
    assert held.body["location_id"] == "TAS-CENTRAL" and held.body["cdr_token"]["party_id"] == "SLK"


async def test_the_cdr_arrives_in_uzs_and_the_kazakh_drivers_receipt_shows_kzt_with_the_rate(roaming):
    kz, uz, owner, _ = roaming
    start = utcnow().replace(microsecond=0) - timedelta(hours=2)
    await add_token(kz.api, CARD)
    await kz.platform.drivers.ensure(*DRIVER, "en", [CARD])
    entered = await kz.api.post("/api/v1/exchange-rates", json={
        "from_currency": "UZS", "to_currency": "KZT", "rate": str(RATE), "valid_on": start.date().isoformat(),
        "source": "National Bank of Kazakhstan (example)"})
    assert entered.status_code == 201, entered.text

    tenant = (await uz.partner_row()).tenant_id
    async with uz.platform.sessions.begin() as session:
        await CdrPushes(uz.platform.roaming_push.outbox).created(session, owner, json_of(the_cdr(owner, start)),
                                                                 tenant_id=tenant)
    await sent_pushes(uz, "cdrs", 1)

    [cdr] = await rows(kz, RoamingCdr)
    assert (cdr.cdr_id, cdr.currency, cdr.total_incl_vat, cdr.conflict) == ("cdr-501", "UZS", Decimal(33600), False)
    assert (cdr.charge_state, cdr.driver_currency) == ("ready", "KZT")
    assert (cdr.driver_excl_vat, cdr.driver_incl_vat) == (Decimal("1215.00"), Decimal("1360.80"))
    assert cdr.rate == RATE and cdr.rate_valid_on == start.date()

    login = await kz.api.post("/api/v1/driver/login", json={"email": DRIVER[0], "password": DRIVER[1]},
                              headers={"X-API-Key": ""})
    assert login.status_code == 200, login.text
    kz.api.cookies.clear()
    driver = {"X-API-Key": "", "Authorization": f"Bearer {login.json()['token']}"}
    [charge] = (await kz.api.get("/api/v1/driver/roaming-charges", headers=driver)).json()
    assert charge["partner"] == "UzEnergy" and Decimal(charge["driver_incl_vat"]) == Decimal("1360.80")
    receipt = await kz.api.get(f"/api/v1/driver/roaming-charges/{charge['id']}/receipt", headers=driver)
    assert receipt.status_code == 200 and receipt.headers["content-type"].startswith("text/html")
    assert "33,600.00 UZS" in receipt.text and "1,360.80 KZT" in receipt.text
    assert f"1 UZS = 0.0405 KZT, of {start.date().isoformat()}" in receipt.text
    someone = await kz.api.get(f"/api/v1/driver/roaming-charges/{charge['id'] + 1}/receipt", headers=driver)
    assert someone.status_code == 404


async def test_a_replayed_cdr_is_acknowledged_not_duplicated_and_a_conflicting_one_is_refused_and_kept(roaming):
    kz, _, owner, token = roaming
    body = json_of(the_cdr(owner, datetime(2026, 12, 1, 9, tzinfo=timezone.utc)))
    first = await kz.ocpi("POST", "emsp/2.2.1/cdrs", token, json=body)
    assert first.status_code == 200 and first.json()["status_code"] == 1000, first.text
    again = await kz.ocpi("POST", "emsp/2.2.1/cdrs", token, json=body)
    assert again.status_code == 200 and again.json()["status_code"] == 1000
    assert again.headers["location"] == first.headers["location"]
    assert len(await rows(kz, RoamingCdr)) == 1

    other = await kz.ocpi("POST", "emsp/2.2.1/cdrs", token, json={**body, "total_energy": 13})
    assert other.status_code == 400 and other.json()["status_code"] == 2001
    assert "other content" in other.json()["status_message"]
    kept = await rows(kz, RoamingCdr)
    assert [(r.conflict, r.body["total_energy"]) for r in kept] == [(False, 12), (True, 13)]

    location = first.headers["location"]
    fetched = await kz.ocpi("GET", location.split("/ocpi/", 1)[1], token)
    assert fetched.status_code == 200 and fetched.json()["data"]["total_energy"] == 12


async def test_a_cdr_without_a_rate_is_kept_held_with_the_reason_until_the_rate_is_entered(roaming):
    kz, _, owner, token = roaming
    body = json_of(the_cdr(owner, datetime(2026, 11, 2, 9, tzinfo=timezone.utc)))
    answer = await kz.ocpi("POST", "emsp/2.2.1/cdrs", token, json=body)
    assert answer.json()["status_code"] == 1000, answer.text
    [cdr] = await rows(kz, RoamingCdr)
    assert cdr.charge_state == "held" and cdr.driver_excl_vat is None
    assert "UZS" in cdr.hold_reason and "KZT" in cdr.hold_reason and "2026-11-02" in cdr.hold_reason

    entered = await kz.api.post("/api/v1/exchange-rates", json={
        "from_currency": "UZS", "to_currency": "KZT", "rate": str(RATE), "valid_on": "2026-11-01",
        "source": "National Bank of Kazakhstan (example)"})
    assert entered.status_code == 201, entered.text
    [released] = await rows(kz, RoamingCdr)  # entering the rate converts what waited for it
    assert (released.charge_state, released.hold_reason) == ("ready", None)
    assert (released.driver_incl_vat, released.rate, str(released.rate_valid_on)) == (
        Decimal("1360.80"), RATE, "2026-11-01")


async def test_a_late_patch_is_acknowledged_and_not_applied(roaming):
    kz, _, owner, token = roaming
    start = datetime(2026, 12, 1, 9, tzinfo=timezone.utc)
    path = "emsp/2.2.1/sessions/UZ/UZE/501"
    body = json_of(session_object(the_transaction(start), cpo=CPO, location_id="TAS-CENTRAL", owner=owner,
                                  currency="UZS"))
    assert (await kz.ocpi("PUT", path, token, json=body)).json()["status_code"] == 1000
    newer = {"kwh": 9, "last_updated": "2026-12-01T09:30:00Z"}
    older = {"kwh": 5, "last_updated": "2026-12-01T09:20:00Z"}
    assert (await kz.ocpi("PATCH", path, token, json=newer)).json()["status_code"] == 1000
    late = await kz.ocpi("PATCH", path, token, json=older)
    assert late.status_code == 200 and late.json()["status_code"] == 1000
    assert "not applied" in late.json()["status_message"]
    got = (await kz.ocpi("GET", path, token)).json()["data"]
    assert got["kwh"] == 9 and got["last_updated"] == "2026-12-01T09:30:00Z" and got["status"] == "ACTIVE"


async def test_malformed_sessions_unknown_parties_and_unknown_sessions_are_refused_with_2001(roaming):
    kz, _, owner, token = roaming
    body = json_of(session_object(the_transaction(datetime(2026, 12, 1, 9, tzinfo=timezone.utc)), cpo=CPO,
                                  location_id="TAS-CENTRAL", owner=owner, currency="UZS"))
    broken = await kz.ocpi("PUT", "emsp/2.2.1/sessions/UZ/UZE/501", token, json={**body, "kwh": "many"})
    assert broken.status_code == 400 and broken.json()["status_code"] == 2001 and "kwh" in broken.json()["status_message"]
    garbled = await kz.ocpi("PUT", "emsp/2.2.1/sessions/UZ/UZE/501", token, content=b"{not json",
                            headers={"content-type": "application/json"})
    assert garbled.status_code == 400 and garbled.json()["status_code"] == 2001
    stranger = await kz.ocpi("PUT", "emsp/2.2.1/sessions/KZ/XXX/501", token, json={**body, "country_code": "KZ",
                                                                                    "party_id": "XXX"})
    assert stranger.status_code == 400 and stranger.json()["status_code"] == 2001
    assert "KZ*XXX" in stranger.json()["status_message"]
    unknown = await kz.ocpi("PATCH", "emsp/2.2.1/sessions/UZ/UZE/999", token,
                            json={"kwh": 1, "last_updated": "2026-12-01T09:30:00Z"})
    assert unknown.status_code == 404 and unknown.json()["status_code"] == 2001
    nobody = await kz.ocpi("PUT", "emsp/2.2.1/sessions/UZ/UZE/501", "not-a-token", json=body)
    assert nobody.status_code == 401
    assert await rows(kz, RoamingSession) == []
    cdr = json_of(the_cdr(owner, datetime(2026, 12, 1, 9, tzinfo=timezone.utc)))
    stranger_cdr = await kz.ocpi("POST", "emsp/2.2.1/cdrs", token, json={**cdr, "party_id": "XXX"})
    assert stranger_cdr.status_code == 400 and stranger_cdr.json()["status_code"] == 2001
    assert await rows(kz, RoamingCdr) == []


UZ_TARIFF = {"currency": "UZS", "country_code": "UZ", "party_id": "UZE",
             "elements": [{"price_components": [{"type": "ENERGY", "price": "2500", "vat": 12, "step_size": 1}]}]}


async def card_known(uz: Network, card: str = CARD) -> None:
    """Once the Kazakh eMSP's push of the card reached the Uzbek CPO (ocpi-tokens)."""
    async def known():
        return await rows(uz, RoamingToken, RoamingToken.uid_key == card)

    await eventually(known)


async def uzbek_station(uz: Network) -> str:
    """An operator, a site in Tashkent with one station and a UZS tariff; the gateway's OCPP URL.
    The Kazakh driver's card is not in its registry: it is known through roaming."""
    made = [
        await uz.api.post("/api/v1/operators", json={"code": "UZ-TEST", "name": "UzEnergy", "country": "UZ",
                                                     "currency": "UZS"}),
        await uz.api.post("/api/v1/sites", json={"code": "TAS-CENTRAL", "operator": "UZ-TEST",
                                                 "name": "Tashkent Central", "city": "Tashkent", "country": "UZ",
                                                 "lat": 41.311, "lon": 69.279, "timezone": "Asia/Tashkent"}),
        await uz.api.post("/api/v1/stations", json={"id": "TAS-01", "site": "TAS-CENTRAL", "password": PASSWORD,
                                                    "connectors": [{"evse_id": 1, "connector_id": 1,
                                                                    "standard": "type2", "max_power_kw": "22"}]}),
        await uz.api.post("/api/v1/tariffs", json={"code": "UZ-STD", "operator": "UZ-TEST", "tariff": UZ_TARIFF}),
    ]
    assert all(answer.status_code == 201 for answer in made), [answer.text for answer in made]
    return f"ws://127.0.0.1:{uz.platform.gateway.port}/ocpp"


async def test_a_kazakh_card_charging_at_an_uzbek_station_reaches_the_kazakh_emsp_as_session_and_cdr_and_both_settle_it(roaming):
    """The whole way: the card pushed by ocpi-tokens, a real OCPP 1.6 session, billing's CDR, the
    pushes through the outbox, the conversion and the SENDER lists."""
    kz, uz, _, _ = roaming
    await add_token(kz.api, CARD)  # the Kazakh eMSP issues the card: ocpi-tokens pushes it to the Uzbek CPO
    await kz.platform.drivers.ensure(*DRIVER, "en", [CARD])

    await card_known(uz)
    start = utcnow().replace(microsecond=0) - timedelta(hours=1)
    entered = await kz.api.post("/api/v1/exchange-rates", json={
        "from_currency": "UZS", "to_currency": "KZT", "rate": str(RATE), "valid_on": start.date().isoformat(),
        "source": "National Bank of Kazakhstan (example)"})
    assert entered.status_code == 201, entered.text
    ocpp_url = await uzbek_station(uz)

    async with connected_peer(ocpp_url, "TAS-01", "1.6") as station:
        await station.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
        await station.call(call.Authorize(id_tag=CARD))
        begun = await station.call(call.StartTransaction(connector_id=1, id_tag=CARD, meter_start=0,
                                                         timestamp=to_ocpp(start)))

        async def arrived():
            return [row for row in await rows(kz, RoamingSession) if row.status == "ACTIVE"]

        [active] = await eventually(arrived)
        assert active.body["location_id"] == "TAS-CENTRAL" and active.body["currency"] == "UZS"
        assert active.body["cdr_token"]["uid"] == CARD and active.body["evse_uid"] == "TAS-01*1"
        assert active.body["cdr_token"]["contract_id"].startswith("KZ-SLK-")
        assert active.body["authorization_reference"]
        await station.call(call.StopTransaction(meter_stop=12000, timestamp=to_ocpp(start + timedelta(minutes=40)),
                                                transaction_id=begun.transaction_id, id_tag=CARD))

    async def billed():
        return await rows(kz, RoamingCdr)

    [cdr] = await eventually(billed)
    assert (cdr.currency, cdr.total_excl_vat, cdr.total_incl_vat) == ("UZS", Decimal(30000), Decimal(33600))
    assert (cdr.driver_currency, cdr.driver_incl_vat, cdr.rate) == ("KZT", Decimal("1360.80"), RATE)
    assert cdr.session_id == str(begun.transaction_id) and cdr.body["cdr_location"]["country"] == "UZB"

    # the CDR and the session are two objects, not ordered against each other: the session's
    # cost PATCH may come after the CDR
    sent = await sent_pushes(uz, "sessions", 3)
    assert [r.method for r in sent] == ["PUT", "PATCH", "PATCH"]
    [ended] = await rows(kz, RoamingSession)
    assert ended.status == "COMPLETED" and ended.body["kwh"] == 12
    assert ended.body["total_cost"] == {"excl_vat": 30000, "incl_vat": 33600}

    # The Kazakh eMSP pulls the same from the Uzbek CPO's SENDER lists (catch-up, audit).
    kz_token = (await kz.partner_row()).token_to_them
    pulled = await uz.ocpi("GET", "cpo/2.2.1/sessions", kz_token, params={"date_from": _t(start)})
    assert pulled.status_code == 200 and pulled.headers["x-total-count"] == "1", pulled.text
    [listed] = pulled.json()["data"]
    assert listed["id"] == str(begun.transaction_id) and listed["status"] == "COMPLETED" and listed["kwh"] == 12
    assert listed["total_cost"] == {"excl_vat": 30000, "incl_vat": 33600}
    [listed_cdr] = (await uz.ocpi("GET", "cpo/2.2.1/cdrs", kz_token)).json()["data"]
    assert listed_cdr == {**cdr.body, "last_updated": listed_cdr["last_updated"]}
    later = await uz.ocpi("GET", "cpo/2.2.1/sessions", kz_token,
                          params={"date_from": _t(utcnow() + timedelta(minutes=1))})
    assert later.json()["data"] == [] and later.headers["x-total-count"] == "0"

    # The month as both operators settle it: the Uzbek CPO is owed 33,600 UZS by its Kazakh
    # partner; the Kazakh eMSP owes the same and charged its driver 1,360.80 KZT for it.
    month = (start + timedelta(minutes=40)).strftime("%Y-%m")
    [owed_to_uz] = (await uz.api.get("/api/v1/roaming/settlement", params={"month": month})).json()
    assert owed_to_uz["their_drivers_at_our_chargers"] == {
        "cdrs": 1, "energy_kwh": "12", "totals": [{"currency": "UZS", "excl_vat": "30000.00", "incl_vat": "33600.00"}]}
    assert owed_to_uz["our_drivers_at_their_chargers"]["cdrs"] == 0
    [owed_by_kz] = (await kz.api.get("/api/v1/roaming/settlement", params={"month": month})).json()
    assert owed_by_kz["our_drivers_at_their_chargers"] == {
        "cdrs": 1, "energy_kwh": "12", "totals": [{"currency": "UZS", "excl_vat": "30000.00", "incl_vat": "33600.00"}]}
    assert owed_by_kz["charged_to_our_drivers"]["totals"] == [
        {"currency": "KZT", "excl_vat": "1215.00", "incl_vat": "1360.80"}]
    assert (owed_by_kz["our_cdrs_waiting_for_a_rate"], owed_by_kz["conflicting_cdrs"]) == (0, 0)
    assert (await kz.api.get("/api/v1/roaming/settlement", params={"month": "2026-13"})).status_code == 422

    # and as each operator's console lists them
    [at_theirs] = (await kz.api.get("/api/v1/roaming/sessions")).json()
    assert (at_theirs["direction"], at_theirs["status"], at_theirs["token_uid"], at_theirs["evse"]) == (
        "ours_at_theirs", "COMPLETED", CARD, "TAS-01*1")
    assert at_theirs["cost"] == {"currency": "UZS", "incl_vat": "33600"} and at_theirs["kwh"] == "12"
    [at_ours] = (await uz.api.get("/api/v1/roaming/sessions")).json()
    assert (at_ours["direction"], at_ours["session_id"], at_ours["token_uid"], at_ours["kwh"]) == (
        "theirs_at_ours", str(begun.transaction_id), CARD, "12")
    [sent_cdr] = (await kz.api.get("/api/v1/roaming/cdrs")).json()
    assert (sent_cdr["currency"], sent_cdr["total_incl_vat"], sent_cdr["driver_currency"],
            sent_cdr["driver_incl_vat"], sent_cdr["charge_state"]) == ("UZS", "33600.00", "KZT", "1360.80", "ready")


FAST_RETRIES = {"roaming_push_backoff_base": 0.05, "roaming_push_backoff_cap": 0.5}
"""The CPO's outbox retries a partner that is down within half a second (in production: up to
five minutes), so the test waits for the eMSP's return, not for a backoff."""


def energy(wh: int, at: datetime) -> list[dict]:
    return [{"timestamp": to_ocpp(at), "sampledValue": [{"value": str(wh), "measurand": "Energy.Active.Import.Register",
                                                          "unit": "Wh"}]}]


async def test_the_emsp_going_down_mid_session_loses_nothing_its_pushes_arrive_in_order_when_it_is_back(
        database_url):
    """The Kazakh eMSP's platform stops while its driver charges in Tashkent (its port refuses
    connections); the session goes on and ends at the charger; the eMSP comes back on the same
    port and database, and the CPO's outbox delivers what waited: the session's end and cost
    PATCHes in order, then the CDR, once, in UZS, converted to KZT for the driver."""
    with another_database(database_url) as uz_url:
        async with running_network("uz", uz_url, UZ_CPO, **FAST_RETRIES) as uz, \
                contextlib.AsyncExitStack() as first_life:
            kz = await first_life.enter_async_context(running_network("kz", database_url, KZ_EMSP))
            invitation = await invite(kz, "UzEnergy")
            answer = await register(uz, "Silk Charge KZ", invitation["versions_url"], invitation["credentials_token"])
            assert answer.status_code == 201, answer.text
            await add_token(kz.api, CARD)
            await kz.platform.drivers.ensure(*DRIVER, "en", [CARD])
            start = utcnow().replace(microsecond=0) - timedelta(hours=1)
            entered = await kz.api.post("/api/v1/exchange-rates", json={
                "from_currency": "UZS", "to_currency": "KZT", "rate": str(RATE), "valid_on": start.date().isoformat(),
                "source": "National Bank of Kazakhstan (example)"})
            assert entered.status_code == 201, entered.text

            async def card_known_in_tashkent():
                return await rows(uz, RoamingToken, RoamingToken.uid_key == CARD)

            await eventually(card_known_in_tashkent)
            ocpp_url = await uzbek_station(uz)

            async with connected_peer(ocpp_url, "TAS-01", "1.6") as station:
                await station.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
                await station.call(call.Authorize(id_tag=CARD))
                begun = await station.call(call.StartTransaction(connector_id=1, id_tag=CARD, meter_start=0,
                                                                 timestamp=to_ocpp(start)))

                async def live_at_the_emsp():
                    return [row for row in await rows(kz, RoamingSession) if row.status == "ACTIVE"]

                await eventually(live_at_the_emsp)
                kz_port = kz.port
                await first_life.aclose()  # the Kazakh platform is down: its port refuses connections

                tx = begun.transaction_id
                for minute, wh in ((10, 3000), (20, 6500), (30, 9500)):
                    await station.call(call.MeterValues(connector_id=1, transaction_id=tx,
                                                        meter_value=energy(wh, start + timedelta(minutes=minute))))
                await station.call(call.StopTransaction(meter_stop=12000, transaction_id=tx, id_tag=CARD,
                                                        timestamp=to_ocpp(start + timedelta(minutes=40))))

            async def waiting_for_the_emsp():
                """The end and cost PATCHes and the CDR enqueued, and the outage met at least once."""
                found = await rows(uz, RoamingOutboxRow, RoamingOutboxRow.module.in_(("sessions", "cdrs")))
                pending = [row for row in found if row.state == "pending"]
                return found if len(pending) == 3 and any(row.attempts and row.last_error for row in pending) else None

            await eventually(waiting_for_the_emsp)

            async with running_network("kz", database_url, None, port=kz_port) as kz:
                sent = await sent_pushes(uz, "sessions", 3)
                [cdr_push] = await sent_pushes(uz, "cdrs", 1)
                assert [(row.method, row.sequence) for row in sent] == [("PUT", 1), ("PATCH", 2), ("PATCH", 3)]
                assert sent[0].sent_at <= sent[1].sent_at <= sent[2].sent_at
                assert set(sent[1].body) == {"kwh", "status", "end_date_time", "last_updated"}
                assert set(sent[2].body) == {"kwh", "status", "end_date_time", "total_cost", "currency", "last_updated"}
                assert sent[1].attempts >= 2 and cdr_push.attempts >= 1  # each waited for the eMSP's return

                [session] = await rows(kz, RoamingSession)
                assert (session.session_id, session.status, session.body["kwh"]) == (str(tx), "COMPLETED", 12)
                assert session.body["total_cost"] == {"excl_vat": 30000, "incl_vat": 33600}
                [cdr] = await rows(kz, RoamingCdr)
                assert (cdr.session_id, cdr.conflict, cdr.currency, cdr.total_incl_vat) == (
                    str(tx), False, "UZS", Decimal(33600))
                assert (cdr.driver_currency, cdr.driver_incl_vat, cdr.rate) == ("KZT", Decimal("1360.80"), RATE)
                # OCPI numbers arrive as JSON numbers, not as the strings billing stores them as
                assert cdr.body["total_energy"] == 12 and cdr.body["total_cost"] == {"excl_vat": 30000, "incl_vat": 33600}
                assert {type(d["volume"]) for p in cdr.body["charging_periods"] for d in p["dimensions"]} <= {int, float}
                assert {type(c["price"]) for t in cdr.body["tariffs"] for e in t["elements"]
                        for c in e["price_components"]} <= {int, float}
