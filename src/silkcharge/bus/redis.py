"""The bus across processes: Redis carries routing, commands and live events between nodes.

A *node* is one silkcharge process: a gateway (holding station sockets), an API process, or
both. With `SILKCHARGE_REDIS_URL` set, each node

- records which stations it holds in the hash `silkcharge:route` (station -> node) and proves
  it is alive with a key `silkcharge:node:{node}` that expires unless renewed;
- takes commands for its stations from its own list `silkcharge:cmd:{node}` and publishes each
  reply on the asking node's channel `silkcharge:reply:{node}`;
- publishes every domain event on `silkcharge:events`, and republishes locally the events
  of other nodes, so a live map served by any API process sees every gateway.

What Redis does not do: hold durable state. Stations, transactions and everything that costs
money live in the database. If Redis goes away, stations keep charging and their messages are
stored; only commands to stations on *other* nodes fail (`RoutingUnavailable`, an HTTP 503)
and live views miss other nodes' events. When Redis returns, every node writes its routes
again and carries on; nothing needs a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import uuid
from datetime import datetime
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from silkcharge.bus.local import (
    CommandTarget,
    EventBus,
    LocalRouter,
    StationCallError,
    StationOffline,
    StationReplyInvalid,
    StationTimeout,
)
from silkcharge.domain import events as domain_events
from silkcharge.domain.events import Event

log = logging.getLogger(__name__)

ROUTES = "silkcharge:route"
EVENTS = "silkcharge:events"
NODE_TTL = 15  # seconds a node counts as alive after its last renewal
RENEW_EVERY = 5.0
REWRITE_EVERY_ROUNDS = 6  # every 30 s all routes are written again (heals races)


class RoutingUnavailable(Exception):
    """Redis cannot be reached, so a command cannot be routed to the node holding the station."""


# -- events on the wire -----------------------------------------------------------------------


def _event_classes() -> dict[str, type[Event]]:
    found: dict[str, type[Event]] = {}
    pending = [Event]
    while pending:
        cls = pending.pop()
        for sub in cls.__subclasses__():
            found[sub.__name__] = sub
            pending.append(sub)
    return found


@functools.cache
def _field_names(cls: type[Event]) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


def _fields(event: Event) -> dict[str, Any]:
    fields = {}
    for name in _field_names(type(event)):
        value = getattr(event, name)
        fields[name] = {"$dt": value.isoformat()} if isinstance(value, datetime) else value
    return {"event": type(event).__name__, "fields": fields}


def encode_events(events: list[Event], node: str) -> bytes:
    """One message for a burst of a node's events (the node first: see `RedisEventBus`)."""
    return orjson.dumps({"node": node, "events": [_fields(event) for event in events]})


def decode_events(raw: bytes) -> tuple[str, list[Event]]:
    """The node that sent them and its events, leaving out those of a class this version lacks.
    A message of one event (`{"node", "event", "fields"}`), as versions before 2026-12-06 send
    them, is read too, so nodes of both versions share events during a rolling upgrade."""
    data = orjson.loads(raw)
    events = []
    for item in data["events"] if "events" in data else [data]:
        cls = _event_classes().get(item["event"]) or getattr(domain_events, item["event"], None)
        if cls is None:
            continue
        events.append(cls(**{
            k: datetime.fromisoformat(v["$dt"]) if isinstance(v, dict) and "$dt" in v else v
            for k, v in item["fields"].items()
        }))
    return data["node"], events


class RedisEventBus(EventBus):
    """Local fan-out, plus every event published to and received from the other nodes.

    Events go out in bursts: whatever was published while the last burst was being sent is one
    message on the channel (up to `BURST` events), so a node pays Redis's and the subscription's
    work per burst, not per event: under load most events are connectors' status, thousands a
    second. Every node hears its own messages too; it recognises them by their first bytes
    (the node's name comes first) and drops them unread."""

    BURST = 500

    def __init__(self, redis: Redis, node: str, queue_size: int = 1000, **where) -> None:
        super().__init__(queue_size, **where)
        self._redis = redis
        self._node = node
        self._own = orjson.dumps({"node": node})[:-1] + b","  # how this node's messages start
        self._outbox: asyncio.Queue[Event] = asyncio.Queue(10_000)
        self._tasks: list[asyncio.Task] = []
        self.dropped = 0  # events not shared because Redis was away or too slow
        self.listening = asyncio.Event()  # set while the other nodes' events are heard

    def publish(self, event: Event) -> None:
        super().publish(event)
        try:
            self._outbox.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped += 1

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._send_loop(), name="redis-events-out"),
            asyncio.create_task(self._receive_loop(), name="redis-events-in"),
        ]

    async def stop(self) -> None:
        await _cancel(self._tasks)

    async def _send_loop(self) -> None:
        while True:
            burst = [await self._outbox.get()]
            while not self._outbox.empty() and len(burst) < self.BURST:
                burst.append(self._outbox.get_nowait())
            try:
                raw = encode_events(burst, self._node)
            except TypeError:  # an event holding what JSON cannot write: the burst without it
                burst = [event for event in burst if self._encodable(event)]
                if not burst:
                    continue
                raw = encode_events(burst, self._node)
            try:
                await self._redis.publish(EVENTS, raw)
            except (RedisError, OSError) as error:
                self.dropped += len(burst)
                log.warning("live events not shared (Redis: %s)", error)
                await asyncio.sleep(1.0)

    def _encodable(self, event: Event) -> bool:
        try:
            orjson.dumps(_fields(event))
            return True
        except TypeError:
            log.exception("a live event could not be written for the other nodes: %s", type(event).__name__)
            self.dropped += 1
            return False

    async def _receive_loop(self) -> None:
        await _subscribed(self._redis, EVENTS, self._received, "live events from other nodes", self.listening)

    def _received(self, raw: bytes) -> None:
        if raw.startswith(self._own):
            return
        try:
            node, events = decode_events(raw)
        except Exception:
            log.warning("ignored events from Redis that could not be read")
            return
        if node != self._node:
            for event in events:
                self.publish_remote(event)


# -- command routing --------------------------------------------------------------------------


class RedisRouter(LocalRouter):
    """Routes a command to whichever node holds the station's socket, through Redis."""

    def __init__(self, redis: Redis, node: str, *, serves_stations: bool = True) -> None:
        super().__init__()
        self._redis = redis
        self.node = node
        self._serves_stations = serves_stations
        self._waiting: dict[str, asyncio.Future] = {}
        self._tasks: list[asyncio.Task] = []
        self._dirty: set[str] = set()  # routes to (re)write: Redis was away, or not yet written
        self._gone: set[str] = set()  # routes to delete when Redis allows
        self._route_wake = asyncio.Event()
        self._carrying: set[asyncio.Task] = set()
        # Replies come by pub/sub, which keeps nothing for a node that is not subscribed: a
        # command sent while this node's subscription is down (Redis just came back, or this
        # node just started) would be carried out and its reply lost.
        self._hearing_replies = asyncio.Event()
        self.reconnects = 0

    # Local bookkeeping first (never waits on Redis), then the route is written in the background.

    def attach(self, station_id: str, target: CommandTarget) -> CommandTarget | None:
        previous = super().attach(station_id, target)
        self._gone.discard(station_id)
        self._dirty.add(station_id)
        self._route_wake.set()
        return previous

    def detach(self, station_id: str, target: CommandTarget) -> None:
        super().detach(station_id, target)
        if self.get(station_id) is None:
            self._dirty.discard(station_id)
            self._gone.add(station_id)
            self._route_wake.set()

    async def hearing_replies(self) -> None:
        """Return once Redis has confirmed this node's subscription to its replies."""
        await self._hearing_replies.wait()

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._reply_loop(), name="redis-replies")]
        if self._serves_stations:
            self._tasks += [
                asyncio.create_task(self._command_loop(), name="redis-commands"),
                asyncio.create_task(self._route_loop(), name="redis-routes"),
                asyncio.create_task(self._alive_loop(), name="redis-alive"),
            ]

    async def stop(self) -> None:
        await _cancel(self._tasks)
        if self._serves_stations:
            with contextlib.suppress(RedisError, OSError):
                await self._drop_my_routes(self.connected())
                await self._redis.delete(f"silkcharge:node:{self.node}")

    async def alive(self, nodes: list[str]) -> bool:
        """Whether every one of these nodes has announced itself and not expired."""
        try:
            return await self._redis.exists(*(f"silkcharge:node:{n}" for n in nodes)) == len(nodes)
        except (RedisError, OSError):
            return False

    async def holder(self, station_id: str) -> str | None:
        """The node holding the station's socket, if that node is alive."""
        try:
            node = await self._redis.hget(ROUTES, station_id)
            if node is None:
                return None
            node = node.decode()
            alive = await self._redis.exists(f"silkcharge:node:{node}")
        except (RedisError, OSError) as error:
            raise RoutingUnavailable(f"command routing is unavailable (Redis: {error})") from None
        return node if alive else None

    async def send(
        self, station_id: str, action: str, payload: dict[str, Any], timeout: float
    ) -> dict[str, Any]:
        if self.get(station_id) is not None:
            return await super().send(station_id, action, payload, timeout)
        node = await self.holder(station_id)
        if node is None or node == self.node:
            raise StationOffline(f"station {station_id} is not connected to any gateway")
        if not self._hearing_replies.is_set():
            raise RoutingUnavailable("command routing is unavailable (Redis: not yet subscribed to replies); "
                                     "try again in a moment")
        request_id = uuid.uuid4().hex
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        request = orjson.dumps(
            {
                "id": request_id, "reply_to": self.node, "station": station_id,
                "action": action, "payload": payload, "timeout": timeout,
            }
        )
        try:
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    pipe.rpush(f"silkcharge:cmd:{node}", request)
                    pipe.expire(f"silkcharge:cmd:{node}", int(timeout) + 30)
                    await pipe.execute()
            except (RedisError, OSError) as error:
                raise RoutingUnavailable(f"command routing is unavailable (Redis: {error})") from None
            try:
                async with asyncio.timeout(timeout + 5):
                    reply = await future
            except TimeoutError:
                raise StationTimeout(
                    f"no answer from {station_id} (on node {node}) within {timeout:g} s"
                ) from None
        finally:
            self._waiting.pop(request_id, None)
        return _unpack_reply(reply)

    # -- loops --------------------------------------------------------------------------------

    async def _reply_loop(self) -> None:
        await _subscribed(self._redis, f"silkcharge:reply:{self.node}", self._replied, "command replies",
                          listening=self._hearing_replies)

    def _replied(self, raw: bytes) -> None:
        reply = orjson.loads(raw)
        future = self._waiting.get(reply.get("id"))
        if future is not None and not future.done():
            future.set_result(reply)

    async def _command_loop(self) -> None:
        queue = f"silkcharge:cmd:{self.node}"
        while True:
            try:
                item = await self._redis.blpop([queue], timeout=5)
            except (RedisError, OSError) as error:
                log.warning("commands from other nodes paused (Redis: %s); retrying", error)
                await asyncio.sleep(1.0)
                continue
            if item is None:
                continue
            task = asyncio.create_task(self._carry(orjson.loads(item[1])))
            self._carrying.add(task)
            task.add_done_callback(self._carrying.discard)

    async def _carry(self, request: dict[str, Any]) -> None:
        reply: dict[str, Any] = {"id": request["id"]}
        try:
            reply["payload"] = await LocalRouter.send(
                self, request["station"], request["action"], request["payload"], request["timeout"]
            )
        except StationOffline as error:
            reply["error"] = {"kind": "offline", "message": str(error)}
        except StationCallError as error:
            reply["error"] = {
                "kind": "callerror", "code": error.code, "description": error.description,
                "details": error.details,
            }
        except StationTimeout as error:
            reply["error"] = {"kind": "timeout", "message": str(error)}
        except StationReplyInvalid as error:
            reply["error"] = {"kind": "invalid", "message": str(error)}
        except Exception as error:  # a command must never take the gateway down
            log.exception("command %s to %s failed", request.get("action"), request.get("station"))
            reply["error"] = {"kind": "failed", "message": f"{type(error).__name__}: {error}"}
        try:
            await self._redis.publish(f"silkcharge:reply:{request['reply_to']}", orjson.dumps(reply))
        except (RedisError, OSError) as error:
            log.warning("could not return a command reply (Redis: %s)", error)

    async def _route_loop(self) -> None:
        """Write routes as stations come and go, in batches; rewrite them all after an outage."""
        while True:
            await self._route_wake.wait()
            self._route_wake.clear()
            dirty, self._dirty = self._dirty, set()
            gone, self._gone = self._gone, set()
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    if dirty:
                        pipe.hset(ROUTES, mapping={station: self.node for station in dirty})
                    await pipe.execute()
                await self._drop_my_routes(gone)
            except (RedisError, OSError) as error:
                log.warning("station routes not written (Redis: %s); retrying", error)
                self._dirty |= {s for s in dirty if self.get(s) is not None}
                self._gone |= gone
                await asyncio.sleep(1.0)
                self._route_wake.set()

    async def _drop_my_routes(self, stations: set[str] | list[str]) -> None:
        """Delete routes that still name this node (another node may have taken the station)."""
        if not stations:
            return
        stations = list(stations)
        holders = await self._redis.hmget(ROUTES, stations)
        mine = [s for s, h in zip(stations, holders, strict=True) if h is not None and h.decode() == self.node]
        if mine:
            await self._redis.hdel(ROUTES, *mine)

    async def _alive_loop(self) -> None:
        rounds = 0
        while True:
            try:
                previous = await self._redis.set(f"silkcharge:node:{self.node}", "1", ex=NODE_TTL, get=True)
                rounds += 1
                if previous is None or rounds % REWRITE_EVERY_ROUNDS == 0:
                    # Our key was gone (first start, an outage, Redis restarted empty) or it is
                    # time for the periodic rewrite that heals any route lost in a race.
                    if previous is None and rounds > 1:
                        self.reconnects += 1
                        log.info("Redis is back; rewriting %d station routes", len(self.connected()))
                    self._dirty |= set(self.connected())
                    self._route_wake.set()
            except (RedisError, OSError) as error:
                log.warning("Redis unreachable (%s): commands across nodes fail until it returns", error)
            await asyncio.sleep(RENEW_EVERY)


async def _subscribed(redis: Redis, channel: str, handle, what: str, listening: asyncio.Event | None = None) -> None:
    """Hand every message on `channel` to `handle`, subscribing again after Redis comes back;
    `listening` is set while Redis has confirmed the subscription."""
    listening = listening or asyncio.Event()
    while True:
        try:
            async with redis.pubsub() as pubsub:
                await pubsub.subscribe(channel)
                async for message in pubsub.listen():
                    if message.get("type") == "subscribe":
                        listening.set()
                    if message.get("type") != "message":
                        continue
                    try:
                        handle(message["data"])
                    except Exception:  # one bad message must not stop the subscription
                        log.exception("could not handle a message on %s", channel)
        except (RedisError, OSError) as error:
            listening.clear()
            log.warning("%s paused (Redis: %s); retrying", what, error)
            await asyncio.sleep(1.0)


async def _cancel(tasks: list[asyncio.Task]) -> None:
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _unpack_reply(reply: dict[str, Any]) -> dict[str, Any]:
    error = reply.get("error")
    if error is None:
        return reply["payload"]
    kind = error["kind"]
    if kind == "offline":
        raise StationOffline(error["message"])
    if kind == "callerror":
        raise StationCallError(error["code"], error["description"], error.get("details") or {})
    if kind == "timeout":
        raise StationTimeout(error["message"])
    if kind == "invalid":
        raise StationReplyInvalid(error["message"])
    raise RoutingUnavailable(f"the gateway holding the station failed: {error['message']}")
