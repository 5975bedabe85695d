"""A driver charges at a resident tenant's station with the app token (issue 15, item 6): the
token is the platform's (its database), the station's and its sessions are the tenant's (its
own database). The station's authorization finds drivers' tokens in the platform's database,
and only those; the driver's lists, receipts, export and deletion gather the sessions from
every database. Two real databases (tests/store/residents.py), real OCPP 1.6 chargers (the
`ocpp` package) over real sockets, raw SQL on both databases."""

from __future__ import annotations

from contextlib import AsyncExitStack
from datetime import timedelta
from decimal import Decimal

import psycopg
import pytest
from ocpp.v16 import call
from ocpp.v201 import call as call201

from silkcharge.domain.clock import to_ocpp, utcnow
from silkcharge.domain.pseudonyms import is_pseudonym
from tests.e2e.network import add_token, register_station
from tests.e2e.peers import Peer16, connected_peer
from tests.e2e.test_reservations import WITH_FEES
from tests.store.residents import KZ_STATION, UZ_STATION, Resident, raw_url, rows
from tests.store.test_residency_reservations import PASSWORD, driver, online, reserve

pytestmark = pytest.mark.postgres


async def tariffs(resident: Resident) -> None:
    """Each operator prices its own stations: the same tariff, published in each database."""
    for operator in (resident.kz, resident.uz):
        published = await operator.post("/api/v1/tariffs", json={
            "code": "KZ-FEES", "operator": "KZ-TEST", "tariff": WITH_FEES})
        assert published.status_code == 201, published.text


async def authorize(peer: Peer16, token: str) -> str:
    return (await peer.call(call.Authorize(id_tag=token))).id_tag_info["status"]


async def start(peer: Peer16, token: str, reservation_id: int | None = None, *, minutes_ago: int = 0):
    started = utcnow() - timedelta(minutes=minutes_ago)
    reply = await peer.call(call.StartTransaction(
        connector_id=1, id_tag=token, meter_start=0, timestamp=to_ocpp(started), reservation_id=reservation_id))
    return reply.id_tag_info["status"], reply.transaction_id


async def charge(peer: Peer16, token: str, reservation_id: int | None = None, *, minutes_ago: int = 30) -> int:
    """10 kWh with `token`, started `minutes_ago` and ended now; our transaction id."""
    status, tx = await start(peer, token, reservation_id, minutes_ago=minutes_ago)
    assert status == "Accepted"
    stopped = await peer.call(call.StopTransaction(meter_stop=10000, timestamp=to_ocpp(utcnow()), transaction_id=tx))
    assert stopped.id_tag_info is None or stopped.id_tag_info["status"] == "Accepted"
    return tx


async def test_a_driver_reserves_arrives_and_charges_with_the_app_token_at_a_resident_station(resident):
    session, token = await driver(resident)
    await tariffs(resident)
    async with AsyncExitStack() as stack:
        kz_peer = await online(resident, stack, KZ_STATION)
        made = await reserve(resident, session, KZ_STATION)
        assert made.status_code == 201, made.text
        reservation = made.json()["id"]

        # The driver arrives: the resident station's authorization knows the app token.
        assert await authorize(kz_peer, token) == "Accepted"
        tx = await charge(kz_peer, token, reservation)

    # The session is the tenant's: in its database, with the driver's token, using the reservation.
    assert rows(resident.kz_url, "SELECT id, id_token, token_status, reservation_id, state FROM transactions") == [
        (tx, token, "Accepted", reservation, "Ended")]
    assert rows(resident.kz_url, "SELECT status, transaction_id FROM reservations") == [("Used", tx)]
    assert rows(resident.platform_url, "SELECT count(*) FROM transactions") == [(0,)]
    # Priced by the tenant's tariff, in its database.
    await resident.platform.billing.sweep()
    [(cdr_id, currency)] = rows(resident.kz_url, "SELECT id, currency FROM cdrs WHERE transaction_id = %s", tx)
    assert currency == "KZT"
    assert rows(resident.platform_url, "SELECT count(*) FROM cdrs") == [(0,)]

    # The driver's own list has it, with its charge and a receipt that opens.
    mine = await resident.driver.get("/api/v1/driver/sessions", headers=session)
    assert mine.status_code == 200, mine.text
    [listed] = mine.json()
    assert (listed["id"], listed["station_id"], listed["charge"]["cdr_id"]) == (tx, KZ_STATION, cdr_id)
    receipt = await resident.driver.get(listed["receipt"], headers=session)
    assert receipt.status_code == 200, receipt.text
    assert "KZT" in receipt.text or "₸" in receipt.text
    # The operator sees it in its own view, as a session at its station.
    theirs = await resident.kz.get(f"/api/v1/transactions?station_id={KZ_STATION}")
    assert [(t["id"], t["id_token"]) for t in theirs.json()] == [(tx, token)]


async def test_the_drivers_sessions_of_both_databases_are_listed_newest_first_with_their_receipts(resident):
    """Session ids are per database: the driver's session 1 at each operator's station, both
    listed by when they started, each receipt found with its station."""
    session, token = await driver(resident)
    await tariffs(resident)
    async with AsyncExitStack() as stack:
        kz_peer = await online(resident, stack, KZ_STATION)
        uz_peer = await online(resident, stack, UZ_STATION)
        at_kz = await charge(kz_peer, token, minutes_ago=120)
        at_uz = await charge(uz_peer, token, minutes_ago=60)
    assert at_kz == at_uz == 1
    await resident.platform.billing.sweep()

    mine = (await resident.driver.get("/api/v1/driver/sessions", headers=session)).json()
    assert [(s["id"], s["station_id"]) for s in mine] == [(1, UZ_STATION), (1, KZ_STATION)]
    assert all(s["charge"] is not None for s in mine)
    # Paging across databases goes by the start: the next page after the newest.
    older = await resident.driver.get("/api/v1/driver/sessions", headers=session,
                                      params={"started_before": mine[0]["started_at"]})
    assert [(s["id"], s["station_id"]) for s in older.json()] == [(1, KZ_STATION)]

    both = await resident.driver.get("/api/v1/driver/sessions/1/receipt", headers=session)
    assert both.status_code == 409 and "station_id" in both.json()["detail"], both.text
    for listed in mine:
        receipt = await resident.driver.get(listed["receipt"], headers=session)
        assert receipt.status_code == 200, receipt.text
        assert listed["station_id"] in receipt.text or listed["charge"]["cdr_id"] in receipt.text

    export = await resident.driver.get("/api/v1/driver/export", headers=session)
    assert export.status_code == 200, export.text
    exported = export.json()["charging_sessions"]
    assert sorted((s["id"], s["station_id"], s["charge"]["cdr_id"]) for s in exported) == sorted(
        (s["id"], s["station_id"], s["charge"]["cdr_id"]) for s in mine)


async def test_only_drivers_tokens_reach_a_resident_station_from_the_platforms_database(resident):
    """The tenant's own tokens come first; a token unknown anywhere, and another tenant's card
    (in the platform's database, but nobody's account), stay unknown there; a blocked app token
    is blocked there too."""
    _, token = await driver(resident)
    await add_token(resident.kz, "KZ-CARD")
    await add_token(resident.uz, "UZ-CARD")
    async with AsyncExitStack() as stack:
        kz_peer = await online(resident, stack, KZ_STATION)
        uz_peer = await online(resident, stack, UZ_STATION)
        assert await authorize(kz_peer, "KZ-CARD") == "Accepted"
        assert await authorize(kz_peer, "NOBODY") == "Invalid"
        assert await authorize(kz_peer, "UZ-CARD") == "Invalid"
        assert (await start(kz_peer, "UZ-CARD"))[0] == "Invalid"
        assert await authorize(uz_peer, "UZ-CARD") == "Accepted"  # at its own operator's station

        with psycopg.connect(raw_url(resident.platform_url), autocommit=True) as connection:
            connection.execute("UPDATE id_tokens SET status = 'Blocked' WHERE token = %s", (token,))
        assert await authorize(kz_peer, token) == "Blocked"
        assert (await start(kz_peer, token))[0] == "Blocked"
    assert rows(resident.kz_url, "SELECT id_token, token_status FROM transactions ORDER BY id") == [
        ("UZ-CARD", "Unknown"), (token, "Blocked")]


async def test_a_driver_charging_at_one_database_station_is_concurrent_at_the_other(resident):
    """One token charges in one place at a time, also when the places are in two databases."""
    _, token = await driver(resident)
    async with AsyncExitStack() as stack:
        kz_peer = await online(resident, stack, KZ_STATION)
        uz_peer = await online(resident, stack, UZ_STATION)
        assert (await start(uz_peer, token))[0] == "Accepted"
        assert (await start(kz_peer, token))[0] == "ConcurrentTx"
        assert rows(resident.kz_url, "SELECT token_status FROM transactions") == [("ConcurrentTx",)]


async def test_a_remote_start_with_the_app_token_at_a_resident_station_charges_at_the_tenants_price(resident):
    session, token = await driver(resident)
    await tariffs(resident)
    async with AsyncExitStack() as stack:
        kz_peer = await online(resident, stack, KZ_STATION)
        remote = await resident.kz.post(f"/api/v1/stations/{KZ_STATION}/commands/remote_start",
                                        json={"id_token": token, "evse_id": 1})
        assert remote.status_code == 200, remote.text
        [(_, asked)] = [(a, p) for a, p in kz_peer.received if a == "RemoteStartTransaction"]
        assert asked["id_tag"] == token
        tx = await charge(kz_peer, token)
    await resident.platform.billing.sweep()
    cdr = await resident.kz.get(f"/api/v1/transactions/{tx}/cdr")
    assert cdr.status_code == 200, cdr.text
    # 10 kWh at 80 and a flat 200, with 16 % VAT.
    assert (cdr.json()["currency"], Decimal(cdr.json()["total_incl_vat"])) == ("KZT", Decimal("1160"))
    mine = (await resident.driver.get("/api/v1/driver/sessions", headers=session)).json()
    assert [(s["id"], s["station_id"], Decimal(s["charge"]["total_incl_vat"])) for s in mine] == [
        (tx, KZ_STATION, Decimal("1160"))]


async def test_the_driver_starts_charging_from_the_app_at_a_resident_station(resident):
    """The app's remote start: sent to the resident station, which starts the session with the
    driver's token, stored in the tenant's database and priced by its tariff."""
    session, token = await driver(resident)
    await tariffs(resident)
    async with AsyncExitStack() as stack:
        kz_peer = await online(resident, stack, KZ_STATION)
        asked = await resident.driver.post("/api/v1/driver/start", headers=session,
                                           json={"station_id": KZ_STATION, "evse_id": 1})
        assert asked.status_code == 200, asked.text
        assert asked.json()["status"] == "Accepted"
        [(_, sent)] = [(a, p) for a, p in kz_peer.received if a == "RemoteStartTransaction"]
        assert (sent["id_tag"], sent["connector_id"]) == (token, 1)
        tx = await charge(kz_peer, token)
        unknown = await resident.driver.post("/api/v1/driver/start", headers=session,
                                             json={"station_id": "NOWHERE-1", "evse_id": 1})
        assert unknown.status_code == 404, unknown.text
        not_theirs = await resident.driver.post("/api/v1/driver/start", headers=session,
                                                json={"station_id": KZ_STATION, "id_token": "KZ-CARD"})
        assert not_theirs.status_code == 403, not_theirs.text
    assert rows(resident.kz_url, "SELECT id, id_token, token_status FROM transactions") == [(tx, token, "Accepted")]
    await resident.platform.billing.sweep()
    mine = (await resident.driver.get("/api/v1/driver/sessions", headers=session)).json()
    assert [(s["id"], s["station_id"], Decimal(s["charge"]["total_incl_vat"])) for s in mine] == [
        (tx, KZ_STATION, Decimal("1160"))]


async def test_a_start_sent_to_a_resident_2_0_1_station_names_the_drivers_card_type(resident):
    """2.0.1 sends the token's type with it, read where the token is: a card the driver linked
    to the account (an ISO 14443 card, in the platform's database) whether the driver asks from
    the app or the operator sends the start (an unregistered token would go as Central)."""
    session, _ = await driver(resident)
    await add_token(resident.uz, "UZ-LINKED", type="ISO14443")
    me = (await resident.driver.get("/api/v1/driver/me", headers=session)).json()
    assert "UZ-LINKED" in (await resident.platform.drivers.link_tokens(me["id"], ["UZ-LINKED"])).tokens
    await register_station(resident.kz, "KZ-RES-201")
    async with AsyncExitStack() as stack:
        peer = await stack.enter_async_context(connected_peer(resident.ocpp_url, "KZ-RES-201", "2.0.1"))
        boot = await peer.call(call201.BootNotification(
            charging_station={"model": "Terra 184", "vendor_name": "ABB"}, reason="PowerUp"))
        assert boot.status == "Accepted"
        from_app = await resident.driver.post("/api/v1/driver/start", headers=session, json={
            "station_id": "KZ-RES-201", "evse_id": 1, "id_token": "UZ-LINKED"})
        assert from_app.status_code == 200, from_app.text
        by_operator = await resident.kz.post("/api/v1/stations/KZ-RES-201/commands/remote_start",
                                             json={"id_token": "UZ-LINKED", "evse_id": 1})
        assert by_operator.status_code == 200, by_operator.text
        # The station starts with it: a card the driver owns is a driver's token there.
        started = await peer.call(call201.TransactionEvent(
            event_type="Started", timestamp=to_ocpp(utcnow()), trigger_reason="RemoteStart", seq_no=0,
            transaction_info={"transaction_id": "tx-linked"}, id_token={"id_token": "UZ-LINKED", "type": "ISO14443"},
            evse={"id": 1, "connector_id": 1}))
        assert started.id_token_info["status"] == "Accepted"
    sent = [p["id_token"] for a, p in peer.received if a == "RequestStartTransaction"]
    assert sent == [{"id_token": "UZ-LINKED", "type": "ISO14443"}] * 2


async def test_deleting_the_account_pseudonymises_its_sessions_in_the_resident_database(resident):
    session, token = await driver(resident)
    await tariffs(resident)
    async with AsyncExitStack() as stack:
        kz_peer = await online(resident, stack, KZ_STATION)
        status, tx = await start(kz_peer, token)
        assert status == "Accepted"
        still = await resident.driver.request("DELETE", "/api/v1/driver/me", headers=session,
                                              json={"password": PASSWORD})
        assert still.status_code == 409 and str(tx) in still.json()["detail"], still.text
        await kz_peer.call(call.StopTransaction(meter_stop=10000, timestamp=to_ocpp(utcnow()), transaction_id=tx))
        await resident.platform.billing.sweep()

        deleted = await resident.driver.request("DELETE", "/api/v1/driver/me", headers=session,
                                                json={"password": PASSWORD})
        assert deleted.status_code == 200, deleted.text
        assert deleted.json()["sessions_kept"] == 1
        [(kept,)] = rows(resident.kz_url, "SELECT id_token FROM transactions")
        assert kept != token and is_pseudonym(kept)
        assert rows(resident.kz_url, "SELECT count(*) FROM cdrs") == [(1,)]
        # The deleted account's app token is nobody's now: the resident station no longer knows it.
        assert await authorize(kz_peer, token) == "Invalid"
