"""Writes that need not hold up a reply, batched: the OCPP message log and station presence.

A station's transaction data is committed before its reply (see TransactionService); the log of
frames and the 'last seen' times are kept too, but a crash may lose the last fraction of a
second of them, which is the price of not paying one database round-trip per frame.

Where the platform has one database, a flush goes straight to the driver (store/direct.py), in
chunks of `CHUNK` frames, each its own transaction: at a few thousand frames a second, a
flush through a session spent more of the event loop's time in SQLAlchemy's per-row work
than in anything else it did for those frames, and on SQLite it held the one connection, and
so every station's group commit, for the whole flush (docs/benchmarks.md, issue 20).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.ext.asyncio import async_sessionmaker

from silkcharge.domain.clock import utcnow
from silkcharge.store.direct import Direct, DirectConnection, arrays, as_arrays, is_database_error
from silkcharge.store.group_commit import is_unavailable
from silkcharge.store.residency import Residency, database_scope
from silkcharge.store.schema import OcppMessage, Station
from silkcharge.store.tenancy import DEFAULT_TENANT, current_tenant, give_tenants

log = logging.getLogger(__name__)

MAX_HELD = 500_000  # frames held in memory while the database is unavailable
CHUNK = 1_000  # frames a direct flush writes per transaction; the group commit's batches go between
_stations = Station.__table__
_TOUCH = (
    update(_stations)
    .where(_stations.c.id == bindparam("sid"))
    .values(last_seen_at=bindparam("seen"))
)
_LOG = insert(OcppMessage.__table__)
_LOG_COLUMNS = ("station_id", "direction", "message_type", "message_id", "action", "payload", "error_code", "at",
                "tenant_id")
_frames = arrays("m", OcppMessage.__table__, _LOG_COLUMNS)
_LOG_ARRAYS = insert(OcppMessage.__table__).from_select(
    list(_LOG_COLUMNS), select(*[_frames.c[c] for c in _LOG_COLUMNS])
)
"""PostgreSQL: a large chunk of frames in one execution, bound as one array per column (one
execution per frame cost PostgreSQL 16 to 19 µs of CPU a frame, this 11 to 12, at 1,000 frames;
docs/benchmarks.md)."""


class BatchWriter:
    def __init__(
        self,
        sessions: async_sessionmaker,
        flush_seconds: float = 0.25,
        *,
        keep: timedelta = timedelta(days=90),
        prune_every: float = 3600.0,
        direct: Direct | None = None,
    ) -> None:
        self._sessions = sessions
        self._direct = direct  # where set, flushes skip the session (see the module's text)
        self.direct_flushes = 0  # transactions written directly, for the tests
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
        if self._direct is not None and current_tenant() is None:
            written, complete = await self._flush_directly(self._direct, messages, seen)
            if complete:
                return
            if written:
                messages, seen = messages[written:], {}
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

    async def _flush_directly(
        self, direct: Direct, messages: list[dict], seen: dict[str, datetime]
    ) -> tuple[int, bool]:
        """Write `messages` (and `seen` with the first chunk) straight to the driver, a chunk per
        transaction: (how many frames were written, whether everything was). Short of
        everything, the rest goes through a session, which tells a database that is away from a
        bad row and keeps what it could not write for later."""
        written = 0
        touch = seen
        try:
            while True:
                chunk = messages[written : written + CHUNK]
                await direct.run(lambda db, chunk=chunk, touch=touch: _write_log(db, chunk, touch))
                self.direct_flushes += 1
                written += len(chunk)
                touch = {}
                if written >= len(messages):
                    return written, True
        except Exception as error:
            if not is_database_error(error):
                log.exception("a direct flush of the message log failed; writing it through a session")
            return written, False

    def for_database(self, _key: str | None) -> BatchWriter:
        """The writer of a database: this one, which writes to its sessions' database."""
        return self


async def _write_log(db: DirectConnection, messages: list[dict], seen: dict[str, datetime]) -> None:
    if messages:
        if any(m.get("tenant_id") is None for m in messages):
            # As the column's default would: a frame takes its station's tenant, the install's
            # first where the station is not stored (a rejected or deleted one).
            tenants = await db.station_tenants({m["station_id"] for m in messages})
            for message in messages:
                if message.get("tenant_id") is None:
                    message["tenant_id"] = tenants.get(message["station_id"], DEFAULT_TENANT)
        if db.dialect == "postgresql" and as_arrays(len(messages)):
            await db.execute_many(_LOG_ARRAYS, [{f"m_{c}": [m[c] for m in messages] for c in _LOG_COLUMNS}])
        else:
            await db.execute_many(_LOG, messages)
    if seen:
        await db.execute_many(_TOUCH, [{"sid": sid, "seen": at} for sid, at in seen.items()])


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
