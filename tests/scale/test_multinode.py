"""Several nodes sharing PostgreSQL and Redis: commands find the station's gateway wherever
it is, live events reach every API process, and stations may move between gateways."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path

import httpx
import pytest
import redis

from tests.conftest import API_KEY
from tests.guards import HANG_GUARD
from tests.scale.nodes import Node
from tests.scale.station import Station

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def two_nodes(pg_url, redis_url, nodes) -> tuple[Node, Node]:
    """Node A serves the API and a gateway; node B is a gateway only (another machine)."""
    a = Node("node-a", pg_url, redis_url).start()
    nodes.append(a)
    b = Node("node-b", pg_url, redis_url, role="gateway").start()
    nodes.append(b)
    return a, b


async def wait_for(predicate, timeout: float = HANG_GUARD, every: float = 0.2):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = await predicate()
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(every)


async def command(api: httpx.AsyncClient, station_id: str, name: str, params: dict | None = None):
    return await api.post(f"/api/v1/stations/{station_id}/commands/{name}", json=params or {})


async def test_command_from_the_api_node_reaches_a_station_on_another_gateway_and_returns_its_reply(
    pg_url, private_redis, nodes
):
    a, b = two_nodes(pg_url, private_redis.url, nodes)
    station = Station("MN-1", [b.ocpp_url])
    await station.connect()
    await station.boot()
    async with httpx.AsyncClient(timeout=HANG_GUARD, base_url=a.api_url, headers={"X-API-Key": API_KEY}) as api:
        async def routed():
            reply = await command(api, "MN-1", "clear_cache")
            return reply if reply.status_code == 200 else None

        reply = await wait_for(routed)
        assert reply.json()["status"] == "Accepted"
        assert reply.json()["action"] == "ClearCache"
    assert redis.Redis.from_url(private_redis.url).hget("silkcharge:route", "MN-1") == b"node-b"
    await station.close()


async def test_live_events_from_another_gateway_reach_the_api_nodes_event_stream(pg_url, private_redis, nodes):
    a, b = two_nodes(pg_url, private_redis.url, nodes)
    seen: list[dict] = []

    async def listen():
        async with httpx.AsyncClient(base_url=a.api_url, headers={"X-API-Key": API_KEY}, timeout=None) as api:
            async with api.stream("GET", "/api/v1/events") as stream:
                async for line in stream.aiter_lines():
                    if line.startswith("data: "):
                        seen.append(json.loads(line[6:]))

    listener = asyncio.create_task(listen())
    await asyncio.sleep(1.0)
    station = Station("MN-EV", [b.ocpp_url])
    await station.connect()
    await station.boot()
    await station.deliver(
        "StatusNotification", {"connectorId": 1, "errorCode": "GroundFailure", "status": "Faulted"}
    )

    async def faulted():
        return any(e["event"] == "ConnectorStatusChanged" and e["station_id"] == "MN-EV"
                   and e["status"] == "Faulted" for e in seen)

    await wait_for(faulted)
    assert any(e["event"] == "StationBooted" and e["station_id"] == "MN-EV" for e in seen)
    listener.cancel()
    await station.close()


async def test_a_station_that_moves_to_another_gateway_takes_its_commands_with_it(pg_url, private_redis, nodes):
    a, b = two_nodes(pg_url, private_redis.url, nodes)
    station = Station("MN-MOVE", [b.ocpp_url, a.ocpp_url])
    await station.connect()
    await station.boot()
    async with httpx.AsyncClient(timeout=HANG_GUARD, base_url=a.api_url, headers={"X-API-Key": API_KEY}) as api:
        async def routed_via(node: bytes):
            async def check():
                holder = redis.Redis.from_url(private_redis.url).hget("silkcharge:route", "MN-MOVE")
                if holder != node:
                    return None
                reply = await command(api, "MN-MOVE", "clear_cache")
                return reply if reply.status_code == 200 else None
            return check

        await wait_for(await routed_via(b"node-b"))
        await station.close()
        await station.connect(next_gateway=True)  # now on node A
        await station.deliver("Heartbeat", {})
        reply = await wait_for(await routed_via(b"node-a"))
        assert reply.json()["status"] == "Accepted"
    await station.close()


async def test_two_gateway_processes_share_one_port_and_both_carry_commands(pg_url, private_redis, nodes):
    a = Node("node-r", pg_url, private_redis.url, gateway_processes=2).start()
    nodes.append(a)
    await asyncio.sleep(2.0)  # the second gateway process starts beside the first
    stations = [Station(f"RP-{n}", [a.ocpp_url]) for n in range(40)]
    for s in stations:
        await s.connect()
    await asyncio.gather(*(s.boot() for s in stations))
    client = redis.Redis.from_url(private_redis.url)

    async def all_routed():
        holders = client.hmget("silkcharge:route", [s.id for s in stations])
        return holders if all(holders) else None

    holders = await wait_for(all_routed)
    assert {h.decode() for h in holders} == {"node-r", "node-r/gw1"}, "the kernel spreads sockets over both"
    async with httpx.AsyncClient(timeout=HANG_GUARD, base_url=a.api_url, headers={"X-API-Key": API_KEY}) as api:
        replies = await asyncio.gather(*(command(api, s.id, "clear_cache") for s in stations))
    assert [r.status_code for r in replies] == [200] * len(stations)
    for s in stations:
        await s.close()


def _gateway_children(parent_pid: int) -> list[int]:
    children = Path(f"/proc/{parent_pid}/task/{parent_pid}/children").read_text().split()
    return [int(pid) for pid in children]


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


async def test_a_gateway_process_whose_parent_was_killed_with_9_stops_by_itself(pg_url, private_redis, nodes):
    a = Node("node-o", pg_url, private_redis.url, gateway_processes=2).start()
    nodes.append(a)
    await asyncio.sleep(2.0)
    (child,) = _gateway_children(a.process.pid)
    a.kill_hard()  # kill -9: the parent cannot terminate its children itself
    for _ in range(100):
        if not _alive(child):
            break
        await asyncio.sleep(0.1)
    else:
        os.kill(child, signal.SIGKILL)
        raise AssertionError("the orphaned gateway process kept running")
