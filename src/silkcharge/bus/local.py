"""The in-process bus: live events fanned out to subscribers, commands routed to local sockets."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

from silkcharge.domain.events import Event

Kinds = tuple[type[Event], ...]
"""The event classes a subscriber takes (subclasses included)."""


class StationOffline(Exception):
    """The station has no open socket, so a command cannot reach it."""


class StationCallError(Exception):
    """The station answered our CALL with a CALLERROR."""

    def __init__(self, code: str, description: str, details: dict[str, Any]) -> None:
        super().__init__(f"{code}: {description}")
        self.code, self.description, self.details = code, description, details


class StationReplyInvalid(Exception):
    """The station's CALLRESULT does not match the schema of the action we sent."""


class StationTimeout(Exception):
    """The station did not answer our CALL in time."""


class CommandTarget(Protocol):
    async def call(self, action: str, payload: dict[str, Any], timeout: float) -> dict[str, Any]: ...


class _Delivery(asyncio.Queue):
    """A subscriber's queue when events carry where they happened (data residency, see
    `EventBus`): taking an event, with `get` or `get_nowait`, puts the taker in that place's
    scope."""

    def __init__(self, maxsize: int, enter: Callable[[Any], None]) -> None:
        super().__init__(maxsize)
        self._enter = enter

    def get_nowait(self) -> Event:  # type: ignore[override]
        # asyncio.Queue.get ends in get_nowait, so both ways of taking come through here, in
        # the subscriber's own task: the scope entered is that task's, until its next event.
        event, origin = super().get_nowait()
        self._enter(origin)
        return event


def _put_dropping_oldest(queue: asyncio.Queue, item: object) -> None:
    """Put `item`; a full queue loses its oldest (asyncio.Queue's own get_nowait: the
    publisher enters no scope of the event it drops)."""
    if queue.full():
        asyncio.Queue.get_nowait(queue)
    queue.put_nowait(item)


class EventBus:
    """Publish domain events to any number of subscribers; a slow subscriber loses old events,
    never blocks the gateway.

    A subscriber that names the `kinds` of event it acts on is handed only those. Most events
    are a connector's status, which most subscribers ignore, and a queue given an event wakes
    its task: at light load, where every event is a burst of one, each status woke eight
    tasks, six of them only to drop it (docs/benchmarks.md, issue 20).

    With `origin` and `enter` (data residency, store/residency.py: the database the publisher
    works in, and how to enter it), each event carries where it happened, and the subscriber
    that takes it acts on it there: a session priced in the database its station lives in."""

    def __init__(self, queue_size: int = 1000, *, origin: Callable[[], Any] | None = None,
                 enter: Callable[[Any], None] | None = None) -> None:
        self._queues: dict[asyncio.Queue[Event], Kinds | None] = {}
        self._local_only: set[asyncio.Queue[Event]] = set()
        # The queues an event of a class goes to, from here or (True) from another node:
        # worked out at the first event of each class after the subscribers last changed.
        self._routes: dict[tuple[type[Event], bool], tuple[asyncio.Queue[Event], ...]] = {}
        self._queue_size = queue_size
        self._origin = origin
        self._enter = enter

    def start(self) -> None:
        """Nothing to start in one process; the Redis bus starts its loops here."""

    async def stop(self) -> None:
        """Nothing to stop in one process."""

    def publish(self, event: Event) -> None:
        queues = self._routes.get((type(event), False))
        if queues is None:
            queues = self._route(type(event), remote=False)
        if not queues:
            return
        item = event if self._origin is None else (event, self._origin())
        for queue in queues:
            _put_dropping_oldest(queue, item)

    @contextlib.asynccontextmanager
    async def subscribe(
        self, *, local_only: bool = False, kinds: Kinds | None = None
    ) -> AsyncIterator[asyncio.Queue[Event]]:
        """A queue of events: of the classes in `kinds` (and their subclasses) where given,
        else of every class. Services that *act* on an event (price it, send a command)
        subscribe `local_only`: with several nodes each event is acted on once, by the node
        where it happened; views (live map, search, the event stream) see every node's."""
        if kinds is not None and not all(isinstance(kind, type) and issubclass(kind, Event) for kind in kinds):
            raise TypeError(f"kinds must be Event classes, not {kinds!r}")
        queue: asyncio.Queue[Event] = (
            asyncio.Queue(self._queue_size) if self._enter is None else _Delivery(self._queue_size, self._enter)
        )
        self._queues[queue] = kinds
        if local_only:
            self._local_only.add(queue)
        self._routes.clear()
        try:
            yield queue
        finally:
            self._queues.pop(queue, None)
            self._local_only.discard(queue)
            self._routes.clear()

    def publish_remote(self, event: Event) -> None:
        """An event that happened on another node: to every subscriber but the local-only ones
        (only views take them; where it happened is not carried across nodes)."""
        queues = self._routes.get((type(event), True))
        if queues is None:
            queues = self._route(type(event), remote=True)
        item = event if self._origin is None else (event, None)
        for queue in queues:
            _put_dropping_oldest(queue, item)

    def _route(self, kind: type[Event], *, remote: bool) -> tuple[asyncio.Queue[Event], ...]:
        queues = tuple(
            queue for queue, kinds in self._queues.items()
            if (kinds is None or issubclass(kind, kinds)) and not (remote and queue in self._local_only)
        )
        self._routes[kind, remote] = queues
        return queues


class LocalRouter:
    """Which station's socket this process holds; commands go straight to it."""

    def __init__(self) -> None:
        self._targets: dict[str, CommandTarget] = {}

    def start(self) -> None:
        """Nothing to start in one process; the Redis router starts its loops here."""

    async def stop(self) -> None:
        """Nothing to stop in one process."""

    def attach(self, station_id: str, target: CommandTarget) -> CommandTarget | None:
        """Register the socket for a station; returns the one it replaces, if any."""
        previous = self._targets.get(station_id)
        self._targets[station_id] = target
        return previous

    def detach(self, station_id: str, target: CommandTarget) -> None:
        if self._targets.get(station_id) is target:
            del self._targets[station_id]

    def get(self, station_id: str) -> CommandTarget | None:
        return self._targets.get(station_id)

    def connected(self) -> list[str]:
        return list(self._targets)

    async def send(
        self, station_id: str, action: str, payload: dict[str, Any], timeout: float
    ) -> dict[str, Any]:
        target = self._targets.get(station_id)
        if target is None:
            raise StationOffline(f"station {station_id} is not connected")
        return await target.call(action, payload, timeout)
