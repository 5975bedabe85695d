"""The in-process bus: live events fanned out to subscribers, commands routed to local sockets."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any, Protocol

from silkcharge.domain.events import Event


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


class EventBus:
    """Publish domain events to any number of subscribers; a slow subscriber loses old events,
    never blocks the gateway."""

    def __init__(self, queue_size: int = 1000) -> None:
        self._queues: set[asyncio.Queue[Event]] = set()
        self._local_only: set[asyncio.Queue[Event]] = set()
        self._queue_size = queue_size

    def start(self) -> None:
        """Nothing to start in one process; the Redis bus starts its loops here."""

    async def stop(self) -> None:
        """Nothing to stop in one process."""

    def publish(self, event: Event) -> None:
        for queue in self._queues:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(event)

    @contextlib.asynccontextmanager
    async def subscribe(self, *, local_only: bool = False) -> AsyncIterator[asyncio.Queue[Event]]:
        """A queue of events. Services that *act* on an event (price it, send a command)
        subscribe `local_only`: with several nodes each event is acted on once, by the node
        where it happened; views (live map, search, the event stream) see every node's."""
        queue: asyncio.Queue[Event] = asyncio.Queue(self._queue_size)
        self._queues.add(queue)
        if local_only:
            self._local_only.add(queue)
        try:
            yield queue
        finally:
            self._queues.discard(queue)
            self._local_only.discard(queue)

    def publish_remote(self, event: Event) -> None:
        """An event that happened on another node: to every subscriber but the local-only ones."""
        for queue in self._queues - self._local_only:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(event)


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
