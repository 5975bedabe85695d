"""Failures with two gateways on PostgreSQL and Redis: a gateway killed with -9, PostgreSQL and
Redis restarted under load, boot storms and reconnect races. In each, nothing a station was
told is stored may be missing or stored twice."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
import psycopg
import pytest

from silkcharge.domain.clock import to_ocpp
from tests.conftest import API_KEY
from tests.guards import HANG_GUARD
from tests.scale.conftest import sync_db
from tests.scale.nodes import Node
from tests.scale.services import PrivatePostgres
from tests.scale.station import Station
from tests.scale.test_multinode import command, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.postgres]



def now() -> str:
    return to_ocpp(datetime.now(UTC))


async def charge(station: Station, token: str, samples: int, *, pause: float = 0.05) -> int:
    """One whole 1.6 session delivered reliably: start, `samples` meter values, stop."""
    start = await station.deliver(
        "StartTransaction", {"connectorId": 1, "idTag": token, "meterStart": 0, "timestamp": now()}
    )
    tx = start["transactionId"]
    for n in range(1, samples + 1):
        await station.deliver(
            "MeterValues",
            {"connectorId": 1, "transactionId": tx,
             "meterValue": [{"timestamp": now(), "sampledValue": [{"value": str(n * 100)}]}]},
        )
        await asyncio.sleep(pause)
    await station.deliver("StopTransaction", {"transactionId": tx, "meterStop": samples * 100, "timestamp": now()})
    return tx


def check_nothing_lost_or_doubled(db_url: str, stations: list[Station]) -> None:
    """Every acknowledged start, meter value and stop is stored exactly once."""
    with psycopg.connect(sync_db(db_url)) as db:
        for station in stations:
            starts = [r for a, _, r in station.tally.acknowledged if a == "StartTransaction"]
            txs = db.execute(
                "SELECT id, state, energy_wh FROM transactions WHERE station_id = %s", (station.id,)
            ).fetchall()
            assert len(txs) == len(starts) == 1, f"{station.id}: {txs} for {starts}"
            tx_id, state, energy = txs[0]
            assert tx_id == starts[0]["transactionId"]
            acked_values = sorted(
                int(p["meterValue"][0]["sampledValue"][0]["value"])
                for a, p, _ in station.tally.acknowledged if a == "MeterValues"
            )
            stored = sorted(
                int(v) for (v,) in db.execute(
                    "SELECT value FROM meter_samples WHERE transaction_id = %s", (tx_id,)
                ).fetchall()
            )
            assert stored == acked_values, f"{station.id}: stored {stored}, acknowledged {acked_values}"
            assert state == "Ended" and energy == acked_values[-1]


async def connect_all(stations: list[Station]) -> None:
    await asyncio.gather(*(s.connect() for s in stations))
    await asyncio.gather(*(s.boot() for s in stations))


async def test_kill_9_of_a_gateway_mid_sessions_loses_and_doubles_nothing(pg_url, private_redis, nodes):
    quick = {"heartbeat_interval": 4, "offline_grace": 2, "offline_check_every": 1}
    a = Node("node-a", pg_url, private_redis.url, **quick).start()
    b = Node("node-b", pg_url, private_redis.url, role="gateway", **quick).start()
    nodes += [a, b]
    stations = [Station(f"K9-{n:03d}", [b.ocpp_url, a.ocpp_url]) for n in range(150)]
    quiet = Station("K9-QUIET", [b.ocpp_url])  # dies with node B and never comes back
    await connect_all(stations + [quiet])
    sessions = asyncio.gather(*(charge(s, f"TOK-{s.id}", samples=30) for s in stations))
    await asyncio.sleep(1.5)
    b.kill_hard()  # every station on B loses its socket mid-session, replies in flight
    await asyncio.wait_for(sessions, 180)
    assert sum(s.tally.disconnects for s in stations) >= len(stations), "each station lost node B"
    check_nothing_lost_or_doubled(pg_url, stations)
    async with httpx.AsyncClient(timeout=HANG_GUARD, base_url=a.api_url, headers={"X-API-Key": API_KEY}) as api:
        reply = await command(api, stations[0].id, "clear_cache")
        assert reply.status_code == 200, "the station is reachable again through node A"

        async def quiet_offline():
            return (await api.get("/api/v1/stations/K9-QUIET")).json()["online"] is False

        await wait_for(quiet_offline, timeout=30)  # node A notices a station nobody holds
    for s in stations:
        await s.close()


async def test_postgresql_restart_under_load_keeps_sockets_open_and_loses_nothing(private_redis, nodes):
    pg = PrivatePostgres()
    pg.start()
    try:
        db_url = pg.create_database("silkcharge")
        from silkcharge.store.db import migrate

        await asyncio.to_thread(migrate, db_url)
        a = Node("node-a", db_url, private_redis.url, database_pool_size=10).start()
        b = Node("node-b", db_url, private_redis.url, role="gateway", database_pool_size=10).start()
        nodes += [a, b]
        stations = [Station(f"PG-{n:03d}", [a.ocpp_url if n % 2 else b.ocpp_url]) for n in range(60)]
        await connect_all(stations)
        sessions = asyncio.gather(*(charge(s, f"TOK-{s.id}", samples=40, pause=0.25) for s in stations))
        await asyncio.sleep(2)
        pg.stop()
        await asyncio.sleep(15)  # PostgreSQL is down while every station keeps sending
        pg.start()
        await asyncio.wait_for(sessions, 180)
        refused = [code for s in stations for code in s.tally.callerrors]
        assert refused and set(refused) == {"InternalError"}, "work was refused with a retryable CALLERROR"
        assert sum(s.tally.disconnects for s in stations) == 0, "no socket was closed by the outage"
        check_nothing_lost_or_doubled(db_url, stations)
        for s in stations:
            await s.close()
    finally:
        for node in nodes:
            node.stop()
        pg.destroy()


async def test_redis_outage_fails_commands_clearly_while_charging_goes_on_and_routing_recovers(
    pg_url, private_redis, nodes
):
    a = Node("node-a", pg_url, private_redis.url).start()
    b = Node("node-b", pg_url, private_redis.url, role="gateway").start()
    nodes += [a, b]
    station = Station("RD-1", [b.ocpp_url])
    await station.connect()
    await station.boot()
    async with httpx.AsyncClient(timeout=HANG_GUARD, base_url=a.api_url, headers={"X-API-Key": API_KEY}) as api:
        async def routed():
            reply = await command(api, "RD-1", "clear_cache")
            return reply if reply.status_code == 200 else None

        await wait_for(routed)
        private_redis.kill()
        reply = await command(api, "RD-1", "clear_cache")
        assert reply.status_code == 503
        assert "Redis" in reply.json()["detail"]
        await charge(station, "TOK-RD", samples=5)  # charging goes on without Redis
        assert station.tally.callerrors == []
        private_redis.start()  # same port, empty: routes must be written again by the gateways
        reply = await wait_for(routed, timeout=40)
        assert reply.json()["status"] == "Accepted"
    check_nothing_lost_or_doubled(pg_url, [station])
    await station.close()


async def test_boot_storm_is_absorbed_with_pending_back_pressure_and_no_timeouts(pg_url, private_redis, nodes):
    a = Node("node-a", pg_url, private_redis.url, boot_pending_above=5).start()
    b = Node("node-b", pg_url, private_redis.url, role="gateway", boot_pending_above=5).start()
    nodes += [a, b]
    stations = [Station(f"BS-{n:04d}", [a.ocpp_url if n % 2 else b.ocpp_url]) for n in range(600)]
    await asyncio.gather(*(s.connect() for s in stations))
    intervals = await asyncio.gather(*(s.boot(max_wait=120) for s in stations))
    assert all(i > 0 for i in intervals), "every station ends Accepted"
    assert sum(s.tally.disconnects for s in stations) == 0, "no boot timed out"
    assert sum(s.tally.pending_boots for s in stations) > 0, "the storm met back-pressure"
    with psycopg.connect(sync_db(pg_url)) as db:
        booted = db.execute("SELECT count(*) FROM stations WHERE last_boot_at IS NOT NULL").fetchone()[0]
    assert booted == len(stations)
    for s in stations:
        await s.close()


async def test_a_station_reconnecting_while_its_old_socket_closes_ends_with_one_live_route(
    pg_url, private_redis, nodes
):
    a = Node("node-a", pg_url, private_redis.url).start()
    b = Node("node-b", pg_url, private_redis.url, role="gateway").start()
    nodes += [a, b]
    urls = [a.ocpp_url, b.ocpp_url]
    old: Station | None = None
    for n in range(1000):
        fresh = Station("RC-1", [urls[n % 2]])
        await fresh.connect()  # the previous socket is still open: the new one replaces it
        if old is not None:
            asyncio.create_task(old.close())
        old = fresh
    await old.deliver("Heartbeat", {})
    async with httpx.AsyncClient(timeout=HANG_GUARD, base_url=a.api_url, headers={"X-API-Key": API_KEY}) as api:
        async def routed():
            reply = await command(api, "RC-1", "clear_cache")
            return reply if reply.status_code == 200 else None

        await wait_for(routed, timeout=40)
        station = (await api.get("/api/v1/stations/RC-1")).json()
        assert station["online"] is True
    await old.close()
