"""Live events between nodes through Redis (bus/redis.py): a node's burst of events is one
message on the channel, every other node hears each event once and in order, and a node never
hears its own twice. On a Redis server of the test's own."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from redis.asyncio import Redis

from silkcharge.bus.redis import EVENTS, RedisEventBus
from silkcharge.domain.events import ConnectorStatusChanged, Event, StationBooted
from tests.scale.services import PrivateRedis

START = datetime(2026, 12, 6, 5, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    server = PrivateRedis()
    server.start()
    try:
        yield server.url
    finally:
        server.kill()


@pytest.fixture
async def two_nodes(redis_url) -> AsyncIterator[tuple[RedisEventBus, RedisEventBus]]:
    clients = [Redis.from_url(redis_url), Redis.from_url(redis_url)]
    buses = [RedisEventBus(clients[0], "node-a"), RedisEventBus(clients[1], "node-b")]
    for bus in buses:
        bus.start()
    await asyncio.gather(*(bus.listening.wait() for bus in buses))
    yield buses[0], buses[1]
    for bus in buses:
        await bus.stop()
    for client in clients:
        await client.aclose()


def status(n: int, error_code: object = "NoError") -> ConnectorStatusChanged:
    return ConnectorStatusChanged(f"EV-{n % 7}", START + timedelta(milliseconds=n), 1, 1, "Charging", error_code)


async def taken(queue: asyncio.Queue[Event], count: int) -> list[Event]:
    return [await queue.get() for _ in range(count)]


async def test_a_burst_is_one_message_and_the_other_node_hears_each_event_once_in_order(two_nodes, redis_url):
    a, b = two_nodes
    watcher = Redis.from_url(redis_url).pubsub()
    await watcher.subscribe(EVENTS)
    await watcher.get_message(timeout=5)  # the subscription's confirmation
    sent = [status(n) for n in range(300)]
    async with a.subscribe() as on_a, b.subscribe() as on_b:
        for event in sent:  # all at once: one burst
            a.publish(event)
        assert await taken(on_b, 300) == sent, "every field, the times included, as sent and in order"
        message = await watcher.get_message(ignore_subscribe_messages=True, timeout=5)
        assert len(orjson.loads(message["data"])["events"]) == 300
        # Node b answers; by the time a hears it, a has heard its own burst back from Redis
        # (one channel, one order) and must have dropped it, keeping only its local copies.
        answer = StationBooted("EV-1", START, "Accepted")
        b.publish(answer)
        assert await taken(on_a, 301) == [*sent, answer]
        assert on_a.empty()
    await watcher.aclose()


async def test_an_event_from_a_node_of_the_version_before_one_a_message_is_heard(two_nodes, redis_url):
    _, b = two_nodes
    older = {"node": "node-old", "event": "ConnectorStatusChanged", "fields": {
        "station_id": "EV-9", "at": {"$dt": START.isoformat()}, "evse_id": 2, "connector_id": 1,
        "status": "Faulted", "error_code": "GroundFailure"}}
    async with b.subscribe() as on_b:
        async with Redis.from_url(redis_url) as client:
            await client.publish(EVENTS, orjson.dumps(older))
        assert await on_b.get() == ConnectorStatusChanged("EV-9", START, 2, 1, "Faulted", "GroundFailure")


async def test_an_event_json_cannot_write_is_left_out_and_the_rest_of_its_burst_shared(two_nodes, caplog):
    a, b = two_nodes
    good = [status(1), status(2)]
    async with b.subscribe() as on_b:
        a.publish(good[0])
        a.publish(status(99, error_code=object()))  # nothing JSON can write
        a.publish(good[1])
        assert await taken(on_b, 2) == good
    assert a.dropped == 1
    assert "could not be written for the other nodes: ConnectorStatusChanged" in caplog.text


async def test_a_burst_of_nothing_json_can_write_sends_nothing_and_the_next_burst_goes_out(two_nodes, redis_url):
    a, b = two_nodes
    watcher = Redis.from_url(redis_url).pubsub()
    await watcher.subscribe(EVENTS)
    await watcher.get_message(timeout=5)  # the subscription's confirmation
    async with b.subscribe() as on_b:
        a.publish(status(7, error_code=object()))  # a burst of one that cannot be written
        await asyncio.sleep(0)  # one turn of the loop: the send loop takes it as a burst alone
        a.publish(status(8))
        assert await on_b.get() == status(8)
    message = await watcher.get_message(ignore_subscribe_messages=True, timeout=5)
    assert [e["fields"]["station_id"] for e in orjson.loads(message["data"])["events"]] == ["EV-1"]
    assert a.dropped == 1
    await watcher.aclose()
