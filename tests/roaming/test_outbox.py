"""The roaming outbox end to end: pushes reach a partner over real HTTP, in order per object,
through outages, refusals and restarts (roaming/outbox.py, roaming/push.py).

The partner is the one stand-in (tests/roaming/fake_partner.py): another company's platform is
the true external boundary. The platform, its database and the sockets are real; the partner
row is written as a completed registration would leave it (ocpi-core's tests do the handshake).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator

import pytest
from ocpp.v16 import call
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from silkcharge.app import Platform, build_platform
from silkcharge.domain.clock import utcnow
from silkcharge.domain.events import ConnectorStatusChanged
from silkcharge.roaming.client import authorization
from silkcharge.roaming.outbox import Backoff, Push, PushFailed, PushRefused, verdict
from silkcharge.store.schema import RoamingIdentity, RoamingOutboxRow, RoamingPartner
from silkcharge.store.tenancy import DEFAULT_TENANT
from tests.e2e.network import register_station
from tests.e2e.peers import connected_peer, eventually
from tests.roaming.fake_partner import FakePartner

TOKEN_TO_THEM = "token-c-given-by-the-partner"
FAST = {"roaming_push_backoff_base": 0.05, "roaming_push_backoff_cap": 0.4, "roaming_push_poll_seconds": 0.5}


@pytest.fixture
async def partner() -> AsyncIterator[FakePartner]:
    running = FakePartner()
    await running.start()
    try:
        yield running
    finally:
        running.hold = False
        await running.stop()


async def add_partner(platform: Platform, endpoint: str | None, *, name: str = "Steppe eMSP") -> int:
    """A partner as a finished credentials exchange leaves it: registered, its endpoints known."""
    return await add_partner_to(platform.sessions, endpoint, name=name)


async def add_partner_to(sessions: async_sessionmaker, endpoint: str | None, *, name: str = "Steppe eMSP") -> int:
    async with sessions.begin() as session:
        if await session.scalar(select(RoamingIdentity.id).where(RoamingIdentity.tenant_id == DEFAULT_TENANT)) is None:
            session.add(RoamingIdentity(tenant_id=DEFAULT_TENANT, country_code="KZ", party_id="SLK", role="CPO",
                                        business_name="Silk Charge"))
        endpoints = [{"identifier": "locations", "role": "RECEIVER", "url": endpoint}] if endpoint else [
            {"identifier": "cdrs", "role": "RECEIVER", "url": "http://127.0.0.1:9/cdrs"}]
        row = RoamingPartner(
            tenant_id=DEFAULT_TENANT, name=name, state="registered", version="2.2.1", endpoints=endpoints,
            roles=[{"country_code": "KZ", "party_id": "EMP", "role": "EMSP"}], token_to_them=TOKEN_TO_THEM,
        )
        session.add(row)
        await session.flush()
        return row.id


def patch(partner_id: int, evse: str, status: str, n: int) -> Push:
    key = f"KZ/SLK/ALA-001/{evse}"
    return Push(partner_id, "locations", key, "PATCH", key, {"status": status, "n": n})


def put(partner_id: int, evse: str, n: int) -> Push:
    key = f"KZ/SLK/ALA-001/{evse}"
    return Push(partner_id, "locations", key, "PUT", key, {"uid": evse, "status": "AVAILABLE", "n": n})


async def rows(platform: Platform, partner_id: int) -> list[RoamingOutboxRow]:
    async with platform.sessions() as session:
        return list((await session.scalars(select(RoamingOutboxRow).where(
            RoamingOutboxRow.partner_id == partner_id).order_by(RoamingOutboxRow.id))).all())


async def all_sent(platform: Platform, partner_id: int) -> list[RoamingOutboxRow] | None:
    """The partner's rows once all are recorded sent (the partner has them a moment before)."""
    found = await rows(platform, partner_id)
    return found if found and all(row.state == "sent" for row in found) else None


async def partner_row(platform: Platform, partner_id: int) -> RoamingPartner:
    async with platform.sessions() as session:
        return await session.get(RoamingPartner, partner_id)


# -- ordering, outages, catch-up ------------------------------------------------------------------


@pytest.mark.settings(**FAST)
async def test_an_objects_changes_arrive_in_order_across_failures_and_retries(platform, partner):
    partner_id = await add_partner(platform, partner.endpoint)
    partner.unavailable = True
    outbox = platform.roaming_push.outbox
    for n in range(6):  # two objects, interleaved
        await outbox.enqueue_after_commit([patch(partner_id, "E1", f"S{n}", n), patch(partner_id, "E2", f"S{n}", n)],
                                          tenant_id=DEFAULT_TENANT)
    attempts = await partner.until_attempted(4)  # refused four times with 503, backing off
    partner.unavailable = False
    await partner.until_taken(12)
    assert [body["n"] for body in partner.of("KZ/SLK/ALA-001/E1")] == list(range(6))
    assert [body["n"] for body in partner.of("KZ/SLK/ALA-001/E2")] == list(range(6))
    # One probe per backoff while the partner fails, not one request per row.
    gaps = [later - earlier for (earlier, _), (later, _) in zip(attempts, attempts[1:])]
    assert all(gap >= 0.05 / 2 * 0.9 for gap in gaps)
    assert partner.taken[0].authorization == authorization(TOKEN_TO_THEM)
    assert partner.taken[0].headers.get("ocpi-from-party-id") == "SLK"
    assert partner.taken[0].headers.get("ocpi-to-party-id") == "EMP"
    stored = await eventually(lambda: all_sent(platform, partner_id))
    assert max(row.attempts for row in stored) >= 2


@pytest.mark.settings(**FAST)
async def test_a_partner_down_then_back_catches_up_everything_in_order(platform, partner):
    partner_id = await add_partner(platform, partner.endpoint)
    await partner.stop()  # connections refused from now on
    outbox = platform.roaming_push.outbox
    pushes = [patch(partner_id, f"E{n % 7}", "CHARGING", n) for n in range(40)]
    await outbox.enqueue_after_commit(pushes, tenant_id=DEFAULT_TENANT)

    async def failed_twice() -> bool:
        return max(row.attempts for row in await rows(platform, partner_id)) >= 2

    await eventually(failed_twice)
    down = await partner_row(platform, partner_id)
    assert down.last_error and "could not connect" in down.last_error and down.last_push_at is None
    await partner.start()
    await partner.until_taken(40)
    for evse in range(7):
        assert [body["n"] for body in partner.of(f"KZ/SLK/ALA-001/E{evse}")] == list(range(evse, 40, 7))
    await eventually(lambda: all_sent(platform, partner_id))
    back = await eventually(lambda: _noted_ok(platform, partner_id))
    assert back.last_push_at is not None and back.last_error is None


@pytest.mark.settings(**FAST)
async def test_a_put_supersedes_the_pending_changes_of_its_object_only(platform, partner):
    partner_id = await add_partner(platform, partner.endpoint)
    await partner.stop()
    outbox = platform.roaming_push.outbox
    await outbox.enqueue_after_commit([patch(partner_id, "E1", "CHARGING", 1), patch(partner_id, "E2", "CHARGING", 2),
                                       patch(partner_id, "E1", "AVAILABLE", 3)], tenant_id=DEFAULT_TENANT)
    await eventually(lambda: _attempted(platform, partner_id))  # the sender holds no row now: it waits to retry
    await outbox.enqueue_after_commit([put(partner_id, "E1", 4), patch(partner_id, "E1", "RESERVED", 5)],
                                      tenant_id=DEFAULT_TENANT)
    states = {(row.object_key[-2:], row.body["n"]): row.state for row in await rows(platform, partner_id)}
    assert states[("E1", 3)] == "superseded"
    assert states[("E2", 2)] == "pending" and states[("E1", 4)] == "pending" and states[("E1", 5)] == "pending"
    await partner.start()
    await partner.until_taken(3)
    assert [body["n"] for body in partner.of("KZ/SLK/ALA-001/E2")] == [2]
    e1 = [body["n"] for body in partner.of("KZ/SLK/ALA-001/E1")]
    assert e1[-2:] == [4, 5] and 3 not in e1  # 1 may have gone out before the PUT arrived


async def _noted_ok(platform: Platform, partner_id: int) -> RoamingPartner | None:
    found = await partner_row(platform, partner_id)
    return found if found.last_error is None else None


async def _attempted(platform: Platform, partner_id: int) -> bool:
    return any(row.attempts for row in await rows(platform, partner_id))


@pytest.mark.settings(**{**FAST, "roaming_push_poll_seconds": 3600})
async def test_a_push_goes_with_its_transaction_and_its_commit_wakes_the_sender(platform, partner):
    partner_id = await add_partner(platform, partner.endpoint)
    outbox = platform.roaming_push.outbox
    with pytest.raises(RuntimeError):
        async with platform.sessions.begin() as session:
            await outbox.enqueue(session, put(partner_id, "E1", 1), tenant_id=DEFAULT_TENANT)
            raise RuntimeError("the change failed: its push must go with it")
    async with platform.sessions.begin() as session:
        await outbox.enqueue(session, put(partner_id, "E2", 2), tenant_id=DEFAULT_TENANT)
    (taken,) = await partner.until_taken(1)  # woken by the commit: the next poll is an hour away
    assert taken.path == "KZ/SLK/ALA-001/E2"
    assert [row.object_key for row in await rows(platform, partner_id)] == ["KZ/SLK/ALA-001/E2"]


# -- refusals ---------------------------------------------------------------------------------------


@pytest.mark.settings(**FAST)
async def test_a_push_refused_with_2001_is_parked_and_blocks_no_other_object(platform, partner, api):
    partner_id = await add_partner(platform, partner.endpoint)
    partner.refused.add("KZ/SLK/ALA-001/E1")
    outbox = platform.roaming_push.outbox
    await outbox.enqueue_after_commit([patch(partner_id, "E1", "CHARGING", 1), patch(partner_id, "E2", "CHARGING", 2),
                                       patch(partner_id, "E2", "AVAILABLE", 3)], tenant_id=DEFAULT_TENANT)
    await partner.until_taken(2)
    assert [body["n"] for body in partner.of("KZ/SLK/ALA-001/E2")] == [2, 3]

    async def recorded() -> dict | None:
        found = (await api.get("/api/v1/roaming/outbox", params={"partner_id": partner_id, "state": "parked"})).json()
        return found if found["counts"]["sent"] == 2 else None

    listed = await eventually(recorded)
    assert listed["counts"]["parked"] == 1 and listed["counts"]["pending"] == 0
    (parked,) = listed["rows"]
    assert parked["object_key"] == "KZ/SLK/ALA-001/E1" and "OCPI 2001" in parked["last_error"]
    assert parked["attempts"] == 1  # not retried: no retry makes a 2001 go away

    # The object's later change is not held back by the parked one.
    partner.refused.clear()  # the partner fixed its side
    await outbox.enqueue_after_commit([patch(partner_id, "E1", "AVAILABLE", 4)], tenant_id=DEFAULT_TENANT)
    await partner.until_taken(3)
    assert [body["n"] for body in partner.of("KZ/SLK/ALA-001/E1")] == [4]

    # Re-sending the parked change now would undo the later one: refused unless forced.
    conflict = await api.post(f"/api/v1/roaming/outbox/{parked['id']}/retry")
    assert conflict.status_code == 409, conflict.text
    forced = await api.post(f"/api/v1/roaming/outbox/{parked['id']}/retry", params={"force": "true"})
    assert forced.status_code == 200 and forced.json()["state"] == "pending", forced.text
    await partner.until_taken(4)
    assert [body["n"] for body in partner.of("KZ/SLK/ALA-001/E1")] == [4, 1]
    again = await api.post(f"/api/v1/roaming/outbox/{parked['id']}/retry")
    assert again.status_code == 404  # sent now: nothing parked to retry


async def test_an_operator_requeues_a_parked_push_that_nothing_overtook(platform, partner, api):
    partner_id = await add_partner(platform, partner.endpoint)
    partner.refused.add("KZ/SLK/ALA-001/E9")
    await platform.roaming_push.outbox.enqueue_after_commit([put(partner_id, "E9", 1)], tenant_id=DEFAULT_TENANT)

    async def parked() -> list:
        return (await api.get("/api/v1/roaming/outbox", params={"state": "parked"})).json()["rows"]

    (row,) = await eventually(parked)
    partner.refused.clear()
    retried = await api.post(f"/api/v1/roaming/outbox/{row['id']}/retry")
    assert retried.status_code == 200, retried.text
    assert retried.json()["sequence"] > row["sequence"]
    (taken,) = await partner.until_taken(1)
    assert taken.method == "PUT" and taken.body["n"] == 1


def test_which_refusals_park_and_which_are_retried():
    assert verdict(2001, 400) is PushRefused
    assert verdict(2003, 404) is PushRefused
    assert verdict(2000, 400) is PushRefused
    assert verdict(2000, 401) is PushFailed  # our token: the registration, not the object
    assert verdict(3000, 503) is PushFailed
    assert verdict(3001, 404) is PushFailed  # no envelope: a proxy's answer says nothing of the object
    assert verdict(4001, 200) is PushFailed


def test_backoff_doubles_with_jitter_up_to_its_cap():
    backoff, rng = Backoff(base=2.0, cap=300.0), random.Random(16)
    for failures in range(1, 30):
        ceiling = min(300.0, 2.0 * 2 ** (failures - 1))
        delays = [backoff.delay(failures, rng) for _ in range(50)]
        assert all(ceiling / 2 <= delay <= ceiling for delay in delays)
        assert max(delays) - min(delays) > 0  # jittered: partners that failed together spread out
    assert backoff.delay(10_000, rng) <= 300.0


# -- durability and shutdown ------------------------------------------------------------------------


@pytest.mark.settings(**FAST, roaming_push_lock_seconds=0.5)
async def test_pushes_enqueued_before_a_stop_are_sent_by_the_next_platform(settings, partner):
    first = build_platform(settings)
    await first.start()
    try:
        partner_id = await add_partner(first, partner.endpoint)
        partner.hold = True  # the first request never gets its answer
        await first.roaming_push.outbox.enqueue_after_commit(
            [patch(partner_id, "E1", "CHARGING", n) for n in range(3)]
            + [patch(partner_id, "E2", "CHARGING", n) for n in range(3)], tenant_id=DEFAULT_TENANT)
        await partner.until_attempted(1)
    finally:
        async with asyncio.timeout(settings.stop_grace_seconds):  # SIGTERM's grace holds with a push in flight
            await first.stop()
    assert partner.taken == []
    partner.hold = False
    # The next instance: its own engine, nothing in memory from the first, the rows in the database.
    second = build_platform(settings)
    await second.start()
    try:
        await partner.until_taken(6)
        assert [body["n"] for body in partner.of("KZ/SLK/ALA-001/E1")] == [0, 1, 2]
        assert [body["n"] for body in partner.of("KZ/SLK/ALA-001/E2")] == [0, 1, 2]
    finally:
        await second.stop()


# -- connector status from the bus ------------------------------------------------------------------


@pytest.mark.settings(**FAST)
async def test_station_and_connector_status_reach_each_partner_that_takes_locations(platform, partner, api, ocpp_url):
    await register_station(api, "RM-1", connectors=2)
    taker = await add_partner(platform, partner.endpoint)
    other = await add_partner(platform, None, name="A CDR-only partner")
    async with connected_peer(ocpp_url, "RM-1", "1.6") as peer:
        await partner.until_taken(2)  # online: each EVSE's status as it stands
        await peer.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
        await peer.call(call.StatusNotification(connector_id=1, error_code="GroundFailure", status="Faulted"))
        await partner.until_taken(3)
        await peer.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Charging"))
        await partner.until_taken(4)
    await partner.until_taken(6)  # the socket closed: the station is offline, its EVSEs UNKNOWN
    assert {t.method for t in partner.taken} == {"PATCH"}
    first, second = partner.of("KZ/SLK/ALA-TEST/RM-1*1"), partner.of("KZ/SLK/ALA-TEST/RM-1*2")
    assert [body["status"] for body in first] == ["UNKNOWN", "OUTOFORDER", "CHARGING", "UNKNOWN"]
    assert [body["status"] for body in second] == ["UNKNOWN", "UNKNOWN"]
    assert all(body["last_updated"].endswith("Z") and set(body) == {"status", "last_updated"} for body in first)
    assert await rows(platform, other) == []
    assert {row.partner_id for row in await rows(platform, taker)} == {taker}


@pytest.mark.settings(**FAST)
async def test_a_burst_of_status_changes_is_looked_up_at_once_and_each_change_is_still_pushed_in_order(
    platform, partner, api, ocpp_url
):
    """Issue 20: the status follower opened a session and ran its lookups for every event (a
    fifth of the gateway's CPU at 200 status changes a second). A burst is now gathered and its
    stations looked up together, while every change still becomes its own PATCH, in order."""
    stations = ["RM-B1", "RM-B2", "RM-B3"]
    for station in stations:
        await register_station(api, station, connectors=2)
    await add_partner(platform, partner.endpoint)
    lookups: list[str] = []

    def note(_conn, _cursor, statement, *_rest) -> None:
        if "JOIN sites" in statement and "FROM stations" in statement:
            lookups.append(statement)

    async with contextlib.AsyncExitStack() as stack:
        for station in stations:
            await stack.enter_async_context(connected_peer(ocpp_url, station, "1.6"))
        await partner.until_taken(6)  # online: each EVSE of each station
        event.listen(platform.engine.sync_engine, "before_cursor_execute", note)
        sent = {}
        for status, ocpi in (("Faulted", "OUTOFORDER"), ("Charging", "CHARGING"), ("Available", "AVAILABLE")):
            for station in stations:
                for connector in (1, 2):
                    platform.bus.publish(ConnectorStatusChanged(station, utcnow(), connector, connector, status, None))
                    sent.setdefault(f"KZ/SLK/ALA-TEST/{station}*{connector}", []).append(ocpi)
        await partner.until_taken(6 + 18)
        event.remove(platform.engine.sync_engine, "before_cursor_execute", note)
    assert len(lookups) == 1
    for key, statuses in sent.items():
        assert [body["status"] for body in partner.of(key)][1:] == statuses
