"""The HubClientInfo module (Receiver) over real HTTP, on SQLite and PostgreSQL, between the
Kazakh CPO (KZ*SLK) and the Uzbek eMSP (UZ*UZE): each may tell the other the connection status of
parties, as a hub does. What is kept and served back, what is refused, and what a status changes:
pushes wait for a party reported away and go when it is CONNECTED again; the drivers' search and
starts leave alone the chargers of a party that cannot be reached; operators see the statuses."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from silkcharge.roaming.hubclientinfo import partners_away
from silkcharge.roaming.outbox import PENDING, SENT, Push
from silkcharge.store.schema import RoamingClientInfo, RoamingLocation, RoamingOutboxRow
from tests.e2e.network import add_token
from tests.e2e.peers import eventually
from tests.roaming.conftest import Network
from tests.roaming.test_driver_roaming_start import CARD, DRIVER, logged_in
from tests.roaming.test_location_merge import location as partner_location
from tests.roaming.test_partner_sites import almaty_site, pull, search

PATH = "2.2.1/hubclientinfo"


def client_info(country_code: str, party_id: str, role: str, status: str, last_updated: str) -> dict:
    return {"country_code": country_code, "party_id": party_id, "role": role, "status": status,
            "last_updated": last_updated}


@pytest.fixture
async def tokens(registered) -> AsyncIterator[tuple[Network, Network, str, str]]:
    """KZ and UZ registered; the token UZ calls KZ with, and the one KZ calls UZ with."""
    kz, uz = registered
    yield kz, uz, (await uz.partner_row()).token_to_them, (await kz.partner_row()).token_to_them


async def test_our_version_details_list_hubclientinfo_as_receiver_at_one_address_for_both_roles(tokens):
    kz, _, uz_token, _ = tokens
    details = (await kz.ocpi("GET", "2.2.1", uz_token)).json()["data"]
    listed = [e for e in details["endpoints"] if e["identifier"] == "hubclientinfo"]
    assert listed == [{"identifier": "hubclientinfo", "role": "RECEIVER", "url": f"{kz.url}/ocpi/{PATH}"}]


async def test_a_client_info_is_kept_served_back_and_an_older_one_is_acknowledged_and_not_applied(tokens):
    kz, _, uz_token, _ = tokens
    put = await kz.ocpi("PUT", f"{PATH}/NL/ALL", uz_token,
                        json=client_info("nl", "all", "CPO", "PLANNED", "2026-11-01T10:00:00Z"))
    assert put.status_code == 200 and put.json()["status_code"] == 1000, put.text
    newer = await kz.ocpi("PATCH", f"{PATH}/NL/ALL", uz_token,
                          json={"status": "CONNECTED", "last_updated": "2026-11-01T12:00:00Z"})
    assert newer.json()["status_code"] == 1000, newer.text
    late = await kz.ocpi("PUT", f"{PATH}/NL/ALL", uz_token,
                         json=client_info("NL", "ALL", "CPO", "OFFLINE", "2026-11-01T11:00:00Z"))
    assert late.status_code == 200 and late.json()["status_code"] == 1000
    assert "not applied" in late.json()["status_message"]
    got = await kz.ocpi("GET", f"{PATH}/nl/all", uz_token)
    assert got.json()["data"] == client_info("NL", "ALL", "CPO", "CONNECTED", "2026-11-01T12:00:00Z")

    # what one partner reported is its own: the other side never pushed NL*ALL to the Uzbek network
    kz_token = (await kz.partner_row()).token_to_them
    uz = tokens[1]
    unknown = await uz.ocpi("GET", f"{PATH}/NL/ALL", kz_token)
    assert unknown.status_code == 404 and unknown.json()["status_code"] == 2000


async def test_a_broken_client_info_is_2001_naming_the_field_and_nothing_is_kept(tokens):
    kz, _, uz_token, _ = tokens
    good = client_info("NL", "ALL", "CPO", "CONNECTED", "2026-11-01T10:00:00Z")
    refusals = {
        "status": await kz.ocpi("PUT", f"{PATH}/NL/ALL", uz_token, json={**good, "status": "ASLEEP"}),
        "role: required": await kz.ocpi("PUT", f"{PATH}/NL/ALL", uz_token,
                                        json={k: v for k, v in good.items() if k != "role"}),
        "last_updated": await kz.ocpi("PUT", f"{PATH}/NL/ALL", uz_token, json={**good, "last_updated": "yesterday"}),
        "country_code": await kz.ocpi("PUT", f"{PATH}/NL/ALL", uz_token, json={**good, "country_code": "DE"}),
        "party_id": await kz.ocpi("PUT", f"{PATH}/NL/ALLX", uz_token, json=good),
        "last_updated: required in every PATCH": await kz.ocpi("PATCH", f"{PATH}/NL/ALL", uz_token,
                                                               json={"status": "SUSPENDED"}),
        "not JSON": await kz.ocpi("PUT", f"{PATH}/NL/ALL", uz_token, content=b"{",
                                  headers={"content-type": "application/json"}),
    }
    for field, answer in refusals.items():
        assert answer.status_code == 400 and answer.json()["status_code"] == 2001, (field, answer.text)
        assert field in answer.json()["status_message"], (field, answer.text)
    never_put = await kz.ocpi("PATCH", f"{PATH}/NL/ALL", uz_token,
                              json={"status": "SUSPENDED", "last_updated": "2026-11-01T10:00:00Z"})
    assert never_put.status_code == 404 and "PUT it first" in never_put.json()["status_message"]
    nobody = await kz.ocpi("PUT", f"{PATH}/NL/ALL", "not-a-token", json=good)
    assert nobody.status_code == 401
    async with kz.platform.sessions() as session:
        assert (await session.scalars(RoamingClientInfo.__table__.select())).all() == []


async def test_pushes_to_a_partner_reported_offline_wait_unprobed_and_go_at_once_when_it_is_connected(tokens):
    """The Uzbek eMSP (as a hub would) tells the Kazakh CPO it is OFFLINE: a location push to it
    stays pending without an attempt, and the operator sees the status; CONNECTED again, the push
    goes at once and the location arrives."""
    kz, uz, uz_token, _ = tokens
    offline = await kz.ocpi("PUT", f"{PATH}/UZ/UZE", uz_token,
                            json=client_info("UZ", "UZE", "EMSP", "OFFLINE", "2026-11-01T10:00:00Z"))
    assert offline.json()["status_code"] == 1000, offline.text
    partner = await kz.partner_row()
    assert await partners_away(kz.platform.sessions) == {partner.id}

    body = partner_location(country_code="KZ", party_id="SLK", id="ALA-HUB")
    push = Push(partner.id, "locations", "KZ/SLK/ALA-HUB", "PUT", "KZ/SLK/ALA-HUB", body)
    [row_id] = await kz.platform.roaming_push.outbox.enqueue_after_commit([push], tenant_id=partner.tenant_id)
    assert await kz.platform.roaming_push.sender.run_once() == 0
    async with kz.platform.sessions() as session:
        waiting = await session.get(RoamingOutboxRow, row_id)
    assert (waiting.state, waiting.attempts, waiting.last_error) == (PENDING, 0, None)

    [listed] = (await kz.api.get("/api/v1/roaming/partners")).json()
    assert [(p["country_code"], p["party_id"], p["role"], p["status"]) for p in listed["parties"]] == [
        ("UZ", "UZE", "EMSP", "OFFLINE")]

    back = await kz.ocpi("PATCH", f"{PATH}/UZ/UZE", uz_token,
                         json={"status": "CONNECTED", "last_updated": "2026-11-01T10:05:00Z"})
    assert back.json()["status_code"] == 1000, back.text

    async def arrived():
        async with kz.platform.sessions() as session:
            row = await session.get(RoamingOutboxRow, row_id)
        return row if row.state == SENT else None

    sent = await eventually(arrived)
    assert sent.attempts == 1
    async with uz.platform.sessions() as session:
        assert (await session.scalars(RoamingLocation.__table__.select())).all()
    one = (await kz.api.get(f"/api/v1/roaming/partners/{partner.id}")).json()
    assert [p["status"] for p in one["parties"]] == ["CONNECTED"]


async def test_a_party_reported_offline_is_unavailable_in_search_and_refuses_a_start_and_a_suspended_one_is_hidden(
        tokens):
    kz, uz, _, kz_token = tokens
    await almaty_site(kz)
    await pull(uz)
    await add_token(uz.api, CARD)
    await uz.platform.drivers.ensure(*DRIVER, "en", [CARD])

    async def report(status: str, at: str) -> None:
        answer = await uz.ocpi("PUT", f"{PATH}/KZ/SLK", kz_token, json=client_info("KZ", "SLK", "CPO", status, at))
        assert answer.json()["status_code"] == 1000, answer.text

    await report("OFFLINE", "2026-11-01T10:00:00Z")
    [site] = await search(uz, standard="ccs2")
    [ccs] = site["stations"][0]["connectors"]
    assert (ccs["status"], ccs["available"]) == ("Unavailable", False)
    app: httpx.AsyncClient = await logged_in(uz)
    try:
        refused = await app.post("/api/v1/driver/roaming/start", json={
            "party": "KZ*SLK", "location_id": "ALA-DOSTYK", "evse_uid": "ALA-DOS-01*1"})
    finally:
        await app.aclose()
    assert refused.status_code == 503 and "OFFLINE" in refused.json()["detail"]

    await report("SUSPENDED", "2026-11-01T11:00:00Z")
    assert await search(uz, standard="ccs2") == []

    await report("CONNECTED", "2026-11-01T12:00:00Z")
    [site] = await search(uz, standard="ccs2")
    assert site["stations"][0]["connectors"][0]["status"] != "Unavailable"
