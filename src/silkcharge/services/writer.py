"""Writes that need not hold up a reply, batched: the OCPP message log and station presence.

A station's transaction data is committed before its reply (see TransactionService); the log of
frames and the 'last seen' times are kept too, but a crash may lose the last fraction of a
second of them, which is the price of not paying one database round-trip per frame.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.ext.asyncio import async_sessionmaker

from silkcharge.domain.clock import utcnow
from silkcharge.store.group_commit import is_unavailable
from silkcharge.store.residency import Residency, database_scope
from silkcharge.store.schema import OcppMessage, Station
from silkcharge.store.tenancy import give_tenants

log = logging.getLogger(__name__)

MAX_HELD = 500_000  # frames held in memory while the database is unavailable
_stations = Station.__table__
_TOUCH = (
    update(_stations)
    .where(_stations.c.id == bindparam("sid"))
    .values(last_seen_at=bindparam("seen"))
)


class BatchWriter:
    def __init__(
        self,
        sessions: async_sessionmaker,
        flush_seconds: float = 0.25,
        *,
        keep: timedelta = timedelta(days=90),
        prune_every: float = 3600.0,
    ) -> None:
        self._sessions = sessions
        self._flush_seconds = flush_seconds
        self._keep = keep
        self.dropped = 0  # frames not logged because the database was away too long
        self._prune_every = prune_every
        self._messages: list[dict] = []
        self._seen: dict[str, datetime] = {}
        self._task: asyncio.Task | None = None
        self._wake = asyncio.Event()

    def log_message(
        self,
        station_id: str,
        direction: str,
        message_type: int,
        message_id: str | None,
        action: str | None,
        payload: str,
        at: datetime,
        error_code: str | None = None,
    ) -> None:
        self._messages.append(
            {
                "station_id": station_id,
                "direction": direction,
                "message_type": message_type,
                "message_id": message_id,
                "action": action,
                "payload": payload,
                "error_code": error_code,
                "at": at,
            }
        )

    def seen(self, station_id: str, at: datetime) -> None:
        self._seen[station_id] = at

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="batch-writer")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        await self.flush()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_prune = loop.time() + self._prune_every
        while True:
            await asyncio.sleep(self._flush_seconds)
            try:
                await self.flush()
            except Exception as error:  # the log must never take the gateway down; retry next round
                if is_unavailable(error):
                    log.warning("message log waits for the database (%d frames held)", len(self._messages))
                else:
                    log.exception("could not write the message log batch; will retry")
            if loop.time() >= next_prune:
                next_prune = loop.time() + self._prune_every
                try:
                    await self.prune()
                except Exception:
                    log.exception("could not prune the message log; will try again")

    async def prune(self, chunk: int = 10_000) -> int:
        """Delete frames older than the retention period, a chunk per transaction so that the
        gateway's writes never wait long behind it. Returns how many were deleted."""
        cutoff = utcnow() - self._keep
        deleted = 0
        while True:
            async with self._sessions.begin() as session:
                ids = select(OcppMessage.id).where(OcppMessage.at < cutoff).limit(chunk).scalar_subquery()
                result = await session.execute(delete(OcppMessage).where(OcppMessage.id.in_(ids)))
            deleted += result.rowcount or 0
            if not result.rowcount or result.rowcount < chunk:
                return deleted
            await asyncio.sleep(0)  # let replies through between chunks

    async def flush(self) -> None:
        messages, self._messages = self._messages, []
        seen, self._seen = self._seen, {}
        if not messages and not seen:
            return
        try:
            async with self._sessions.begin() as session:
                if messages:
                    await session.run_sync(lambda sync: give_tenants(sync.connection(), messages))
                    await session.execute(insert(OcppMessage.__table__), messages)  # Core: no ORM work per row
                if seen:
                    await session.execute(
                        _TOUCH, [{"sid": sid, "seen": at} for sid, at in seen.items()]
                    )
        except Exception:
            self._messages[:0] = messages
            if len(self._messages) > MAX_HELD:
                # A long outage: keep the newest frames, count what the log had to give up.
                self.dropped += len(self._messages) - MAX_HELD
                del self._messages[: len(self._messages) - MAX_HELD]
            for sid, at in seen.items():
                self._seen.setdefault(sid, at)
            raise

    def for_database(self, _key: str | None) -> BatchWriter:
        """The writer of a database: this one, which writes to its sessions' database."""
        return self


class WriterPerDatabase:
    """With data residency (store/residency.py): a BatchWriter per database. A station's
    connection is handed its database's writer (`for_database`), so its frames never land in
    another; `seen` follows the caller's scope, which for a station's frames is its database."""

    def __init__(self, residency: Residency, make: Callable[[], BatchWriter]) -> None:
        self._residency = residency
        self._each = {key: make() for key in residency.keys}

    def for_database(self, key: str | None) -> BatchWriter:
        return self._each[key]

    @property
    def dropped(self) -> int:
        return sum(writer.dropped for writer in self._each.values())

    def log_message(self, *args, **kwargs) -> None:
        self._each[self._residency.current()].log_message(*args, **kwargs)

    def seen(self, station_id: str, at: datetime) -> None:
        self._each[self._residency.current()].seen(station_id, at)

    def start(self) -> None:
        for key, writer in self._each.items():
            with database_scope(key):  # the writer's task flushes and prunes in its database
                writer.start()

    async def stop(self) -> None:
        for key, writer in self._each.items():
            with database_scope(key):
                await writer.stop()

    async def flush(self) -> None:
        for key, writer in self._each.items():
            with database_scope(key):
                await writer.flush()

    async def prune(self, chunk: int = 10_000) -> int:
        deleted = 0
        for key, writer in self._each.items():
            with database_scope(key):
                deleted += await writer.prune(chunk)
        return deleted
