"""Drivers' reservations with data residency (issue 15, item 6): a driver (the platform's)
reserves at a station of a resident tenant; the reservation is that tenant's data, made, stored,
listed, cancelled and expired in its database. Two real databases (tests/store/residents.py),
real OCPP 1.6 chargers (the `ocpp` package) over real sockets, raw SQL on both databases."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from datetime import timedelta

import psycopg
import pytest
from ocpp.v16 import call
from ocpp.v16 import call_result as r16

from silkcharge.domain.clock import utcnow
from silkcharge.domain.pseudonyms import is_pseudonym
from tests.e2e.peers import Peer16, connected_peer, eventually
from tests.e2e.test_reservations import WITH_FEES
from tests.store.residents import KZ_STATION, UZ_STATION, Resident, raw_url, rows

pytestmark = pytest.mark.postgres

EMAIL, PASSWORD = "aigerim@example.kz", "correct horse battery"


async def driver(resident: Resident) -> tuple[dict[str, str], str]:
    """A registered, logged-in driver: the session's headers and the driver's app token."""
    account = await resident.platform.drivers.register(EMAIL, PASSWORD, "Aigerim")
    session = await resident.driver.post("/api/v1/driver/login", json={"email": EMAIL, "password": PASSWORD})
    assert session.status_code == 200, session.text
    resident.driver.cookies.clear()
    return {"Authorization": f"Bearer {session.json()['token']}"}, account.tokens[0]


async def online(resident: Resident, stack: AsyncExitStack, station_id: str) -> Peer16:
    peer = await stack.enter_async_context(connected_peer(resident.ocpp_url, station_id, "1.6"))
    boot = await peer.call(call.BootNotification(charge_point_vendor="Zhida", charge_point_model="AC-22"))
    assert boot.status == "Accepted"
    return peer


def reserve(resident: Resident, session: dict[str, str], station_id: str):
    return resident.driver.post("/api/v1/driver/reservations", headers=session, json={
        "station_id": station_id, "evse_id": 1, "expires_at": (utcnow() + timedelta(hours=1)).isoformat()})


async def test_a_driver_reserves_lists_and_cancels_at_stations_of_both_databases(resident):
    session, token = await driver(resident)
    async with AsyncExitStack() as stack:
        kz_peer = await online(resident, stack, KZ_STATION)
        uz_peer = await online(resident, stack, UZ_STATION)

        at_kz = await reserve(resident, session, KZ_STATION)
        assert at_kz.status_code == 201, at_kz.text
        assert (at_kz.json()["station_id"], at_kz.json()["status"]) == (KZ_STATION, "Accepted")
        # The station was asked over OCPP, with the id the resident database gave the reservation.
        [(_, asked)] = [(a, p) for a, p in kz_peer.received if a == "ReserveNow"]
        assert (asked["reservation_id"], asked["id_tag"]) == (at_kz.json()["id"], token)
        assert rows(resident.kz_url, "SELECT id, station_id, id_token, status, tenant_id FROM reservations") == [
            (at_kz.json()["id"], KZ_STATION, token, "Accepted", resident.kz_id)]
        assert rows(resident.platform_url, "SELECT count(*) FROM reservations") == [(0,)]

        # The same driver at the platform database's station: its first reservation has the same id.
        at_uz = await reserve(resident, session, UZ_STATION)
        assert at_uz.status_code == 201, at_uz.text
        assert at_uz.json()["id"] == at_kz.json()["id"] == 1

        mine = await resident.driver.get("/api/v1/driver/reservations", headers=session)
        assert mine.status_code == 200, mine.text
        assert [(r["id"], r["station_id"]) for r in mine.json()] == [(1, UZ_STATION), (1, KZ_STATION)]

        # Two of the driver's active reservations have id 1: which one to cancel is asked for.
        ambiguous = await resident.driver.delete("/api/v1/driver/reservations/1", headers=session)
        assert ambiguous.status_code == 409, ambiguous.text
        assert KZ_STATION in ambiguous.json()["detail"] and UZ_STATION in ambiguous.json()["detail"]
        cancelled = await resident.driver.delete(
            "/api/v1/driver/reservations/1", headers=session, params={"station_id": KZ_STATION})
        assert cancelled.status_code == 200, cancelled.text
        assert (cancelled.json()["station_id"], cancelled.json()["status"]) == (KZ_STATION, "Cancelled")
        assert ("CancelReservation", {"reservation_id": 1}) in kz_peer.received
        assert "CancelReservation" not in uz_peer.actions()
        assert rows(resident.kz_url, "SELECT status FROM reservations") == [("Cancelled",)]
        assert rows(resident.platform_url, "SELECT status FROM reservations") == [("Accepted",)]
        # Now the only active one with that id is the other database's.
        again = await resident.driver.delete("/api/v1/driver/reservations/1", headers=session)
        assert (again.status_code, again.json()["station_id"]) == (200, UZ_STATION)
        assert rows(resident.platform_url, "SELECT status FROM reservations") == [("Cancelled",)]

    # Another driver knows nothing of them, in either database.
    await resident.platform.drivers.register("bek@example.uz", PASSWORD, "Bek")
    other = await resident.driver.post("/api/v1/driver/login", json={"email": "bek@example.uz", "password": PASSWORD})
    resident.driver.cookies.clear()
    theirs = {"Authorization": f"Bearer {other.json()['token']}"}
    assert (await resident.driver.get("/api/v1/driver/reservations", headers=theirs)).json() == []
    gone = await resident.driver.delete("/api/v1/driver/reservations/1", headers=theirs)
    assert gone.status_code == 404, gone.text


async def test_the_expiry_sweep_ends_reservations_in_each_database_apart(resident):
    """Past its time, a resident station's reservation expires in its database; a request left
    unanswered there is Rejected even while this process awaits the answer to a request with
    the same id in the platform's database (what is in flight is kept per database)."""
    session, _ = await driver(resident)
    assert (await resident.kz.post("/api/v1/tariffs", json={
        "code": "KZ-FEES", "operator": "KZ-TEST", "tariff": WITH_FEES})).status_code == 201
    async with AsyncExitStack() as stack:
        await online(resident, stack, KZ_STATION)
        uz_peer = await online(resident, stack, UZ_STATION)
        assert (await reserve(resident, session, KZ_STATION)).status_code == 201
        with psycopg.connect(raw_url(resident.kz_url), autocommit=True) as connection:
            connection.execute("UPDATE reservations SET expires_at = now() - interval '1 minute'")
        assert await resident.platform.reservations.expire_due() == 1
        assert rows(resident.kz_url, "SELECT id, status FROM reservations") == [(1, "Expired")]
        # Nobody came: the no-show fee is charged where the reservation is, and the driver's
        # receipt of it is found there.
        await resident.platform.billing.sweep()
        assert rows(resident.kz_url, "SELECT reservation_id FROM cdrs") == [(1,)]
        receipt = await resident.driver.get("/api/v1/driver/reservations/1/receipt", headers=session)
        assert receipt.status_code == 200, receipt.text
        assert "696.00" in receipt.text and "no-show fee" in receipt.text

        # The resident database's reservation 1 becomes a request whose answer was never stored...
        with psycopg.connect(raw_url(resident.kz_url), autocommit=True) as connection:
            connection.execute("UPDATE reservations SET status = 'Requested', expires_at = now() + interval '1 hour',"
                               " created_at = now() - interval '1 day'")
        # ...while the platform database's reservation 1 is being asked of its station right now.
        asked, answer = asyncio.Event(), asyncio.Event()

        async def answer_later(**p):
            asked.set()
            await answer.wait()
            return r16.ReserveNow(status="Accepted")

        uz_peer.route_map["ReserveNow"]["_on_action"] = answer_later
        in_flight = asyncio.create_task(reserve(resident, session, UZ_STATION))
        await asyncio.wait_for(asked.wait(), 30)
        assert rows(resident.platform_url, "SELECT id, status FROM reservations") == [(1, "Requested")]

        assert await resident.platform.reservations.expire_due() == 1
        assert rows(resident.kz_url, "SELECT status FROM reservations") == [("Rejected",)]
        answer.set()
        made = await asyncio.wait_for(in_flight, 30)
        assert (made.status_code, made.json()["status"]) == (201, "Accepted"), made.text
        assert rows(resident.platform_url, "SELECT id, status FROM reservations") == [(1, "Accepted")]


async def test_the_export_and_the_deletion_of_an_account_reach_the_resident_database(resident):
    """The driver's reservation at a resident station, and the frame that carried it, are in
    that tenant's database: the driver's export shows it, and the account's deletion puts the
    pseudonyms there."""
    session, token = await driver(resident)
    async with AsyncExitStack() as stack:
        await online(resident, stack, KZ_STATION)
        made = await reserve(resident, session, KZ_STATION)
        assert made.status_code == 201, made.text
    carrying = "SELECT count(*) FROM ocpp_messages WHERE payload LIKE %s"
    await eventually(lambda: _async(rows(resident.kz_url, carrying, f'%"{token}"%') == [(1,)]))
    # The driver's export has it, from the resident database.
    export = await resident.driver.get("/api/v1/driver/export", headers=session)
    assert export.status_code == 200, export.text
    assert [(r["id"], r["station_id"], r["status"]) for r in export.json()["reservations"]] == [
        (made.json()["id"], KZ_STATION, "Accepted")]

    deleted = await resident.driver.request("DELETE", "/api/v1/driver/me", headers=session,
                                            json={"password": PASSWORD})
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["reservations_kept"] == 1
    [(kept,)] = rows(resident.kz_url, "SELECT id_token FROM reservations")
    assert kept != token and is_pseudonym(kept)
    assert rows(resident.kz_url, carrying, f'%"{token}"%') == [(0,)]
    assert rows(resident.kz_url, carrying, f'%"{kept}"%') == [(1,)]


async def _async(value):
    return value
