"""A node never sends a command to another node while it cannot hear the reply: replies come
by Redis pub/sub, which keeps nothing for a node that is not subscribed, so a command sent then
was carried out by the station and its answer lost (the API waited out the whole timeout).
Against a real, private Redis, in one process."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from redis.asyncio import Redis

from silkcharge.bus.redis import ROUTES, RedisRouter, RoutingUnavailable
from tests.guards import HANG_GUARD

pytestmark = [pytest.mark.slow]


async def test_a_command_waits_for_nothing_until_this_node_hears_replies_then_goes_through(private_redis):
    client = Redis.from_url(private_redis.url)
    router = RedisRouter(client, "node-a", serves_stations=False)
    await client.hset(ROUTES, "RR-1", "node-b")  # the station is on node b, which is alive
    await client.set("silkcharge:node:node-b", "1", ex=60)
    try:
        with pytest.raises(RoutingUnavailable, match="replies"):
            await router.send("RR-1", "ClearCache", {}, timeout=30)
        assert await client.llen("silkcharge:cmd:node-b") == 0, "a command went out that no one would answer"

        router.start()
        await asyncio.wait_for(router.hearing_replies(), HANG_GUARD)
        sent = asyncio.create_task(router.send("RR-1", "ClearCache", {}, timeout=30))
        _, raw = await client.blpop(["silkcharge:cmd:node-b"], timeout=HANG_GUARD)
        request = orjson.loads(raw)
        await client.publish(f"silkcharge:reply:{request['reply_to']}",
                             orjson.dumps({"id": request["id"], "payload": {"status": "Accepted"}}))
        assert await asyncio.wait_for(sent, HANG_GUARD) == {"status": "Accepted"}
    finally:
        await router.stop()
        await client.aclose()
