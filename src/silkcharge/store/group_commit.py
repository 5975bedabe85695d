"""Group commit: many stations' writes made durable by one database commit.

A station's transaction message must be durable before it is answered. Committing each one
alone costs one round-trip and one fsync per message, and on SQLite (one writer) every
message queues for that fsync. The committer instead collects the units of work that arrive
while the previous batch is being written, runs them one after another inside a single
database transaction, commits once, and only then releases every caller with its own result.
The replies still leave after their effect is durable; they just share the fsync.

A unit of work is a coroutine function taking the batch's `AsyncSession`. The messages most
stations send most often (meter values, status, presence) are instead *bulk items*: plain data
that a `Bulk` applies for the whole batch at once, with a few statements in all (one SELECT,
one executemany) instead of a few round-trips each. Items carry the station they belong to, so
a station's writes still happen in the order it sent them (see `_execute`).

If a unit or a bulk apply raises, the
batch is rolled back and every unit in it is run again alone, so one bad message never costs
the others their write, and its caller gets its own exception. If the commit itself fails
(the database is down), every caller gets `StoreUnavailable`, which the gateway answers with
a retryable CALLERROR; nothing was acknowledged, so nothing is lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from silkcharge.store.direct import Direct, DirectConnection, NeedsSession, is_database_error
from silkcharge.store.tenancy import current_tenant

log = logging.getLogger(__name__)

T = TypeVar("T")
I = TypeVar("I")
Work = Callable[[AsyncSession], Awaitable[Any]]


class Bulk(Protocol, Generic[I]):
    """A kind of write that many stations make: applied to all of a batch's items together.

    A bulk may also write without a session: `async def apply_direct(self, db, items)`, with
    the same results, awaiting only `db` (a `store.direct.DirectConnection`). A batch made only
    of such items is then written in one hand-over to the driver (see store/direct.py)."""

    async def apply(self, session: AsyncSession, items: list[I]) -> list[Any]:
        """Store every item; return one result per item, in order."""


def after_commit(session: AsyncSession, callback: Callable[[], None]) -> None:
    """Run `callback` once the work's transaction is committed (never if it is rolled back):
    how a unit of work publishes its events without announcing what was not stored."""
    session.info.setdefault("after_commit", []).append(callback)


def _run_callbacks(session: AsyncSession) -> None:
    for callback in session.info.pop("after_commit", []):
        try:
            callback()
        except Exception:
            log.exception("an after-commit callback failed")


class StoreUnavailable(Exception):
    """The database could not be reached or could not commit; the work may be retried."""


def is_unavailable(error: BaseException) -> bool:
    """A connection-level failure (server down, restarting, connection lost), not a bug."""
    if isinstance(error, StoreUnavailable):
        return True
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    if isinstance(error, (OperationalError, PoolTimeout)):  # PoolTimeout: every connection busy
        return True
    if isinstance(error, (ConnectionError, OSError, asyncio.TimeoutError)):
        return True
    name = type(error).__name__
    # asyncpg's own connection errors, when they escape SQLAlchemy's wrapping.
    return name in {"ConnectionDoesNotExistError", "CannotConnectNowError", "InterfaceError"}


@dataclass
class _Item:
    future: asyncio.Future = field(repr=False)
    work: Work | None = None
    bulk: Bulk | None = None
    payload: Any = None
    key: Any = None  # the station whose writes these are; None: order against everything


class GroupCommitter:
    """Runs units of work in shared transactions: one commit per batch, not per message."""

    def __init__(
        self,
        sessions: async_sessionmaker,
        *,
        max_batch: int = 256,
        max_queue: int = 20_000,
        lanes: int = 1,
        direct: Direct | None = None,
    ) -> None:
        self._sessions = sessions
        # Where set, batches of bulk items that can write directly skip the session.
        self._direct = direct
        self.direct_batches = 0  # of `batches`, those written directly
        self._max_batch = max_batch
        self._max_queue = max_queue
        # Batches committed at the same time: 1 for SQLite (one writer); a few on PostgreSQL,
        # where one batch's round-trips would otherwise leave the server idle.
        self._free_lanes = lanes
        self._starting: asyncio.Task | None = None  # a lane made that has not taken its batch yet
        self._in_flight: set[asyncio.Task] = set()
        self._queue: list[_Item] = []
        self._started = False
        self.batches = 0  # commits made, for the benchmark and the operations page
        self.units = 0  # units of work committed

    @property
    def depth(self) -> int:
        """Units waiting for a batch: the back-pressure signal for boot admission."""
        return len(self._queue)

    def start(self) -> None:
        self._started = True

    async def stop(self) -> None:
        """Commit what callers are waiting on, then stop batching (later work commits alone)."""
        self._started = False
        while self._in_flight:  # a lane takes batches until the queue is empty
            await asyncio.wait(set(self._in_flight))
        while self._queue:
            await self._commit_batch(self._take())

    async def run(self, work: Callable[[AsyncSession], Awaitable[T]], *, key: Any = None) -> T:
        """Run `work` in the next batch and return its result once the batch is committed.
        `key` names the station the work writes for, so that bulk items of other stations
        need not be applied before it."""
        return await self._submit(_Item(self._future(), work=work, key=key))

    async def run_bulk(self, bulk: Bulk[I], key: Any, payload: I) -> Any:
        """Have `bulk` store `payload` with the batch's other items of its kind; return its
        result once the batch is committed."""
        return await self._submit(_Item(self._future(), bulk=bulk, payload=payload, key=key))

    @staticmethod
    def _future() -> asyncio.Future:
        return asyncio.get_running_loop().create_future()

    async def _submit(self, item: _Item) -> Any:
        if not self._started:  # not started (tests of a service alone, CLI tools): no batching
            async with self._sessions.begin() as session:
                (result,) = await self._in_session(session, [item])
            _run_callbacks(session)
            return result
        if len(self._queue) >= self._max_queue:
            raise StoreUnavailable(f"{len(self._queue)} writes already waiting for the database")
        self._queue.append(item)
        self._dispatch()
        return await item.future

    def _take(self) -> list[_Item]:
        batch, self._queue = self._queue[: self._max_batch], self._queue[self._max_batch :]
        return batch

    def _dispatch(self) -> None:
        """Start a lane for what is queued, if one is free and none is about to start. The lane
        takes its batch when it first runs, so the work submitted until then joins it. (The
        lane is started here, by the submitter, not by a task woken for the purpose: at light
        load, where each batch holds one message, that task was one more turn of the event loop
        per message.)"""
        if self._free_lanes and self._queue and self._starting is None:
            self._free_lanes -= 1
            lane = self._starting = asyncio.create_task(self._lane(), name="group-commit")
            self._in_flight.add(lane)
            lane.add_done_callback(self._lane_ended)

    def _lane_ended(self, lane: asyncio.Task) -> None:
        self._in_flight.discard(lane)
        if self._starting is lane:
            # Cancelled before its first step: its body, which frees the lane and takes what
            # is queued, never ran. Free it here, for what is queued or comes next.
            self._starting = None
            self._free_lanes += 1
            self._dispatch()

    async def _lane(self) -> None:
        """Commit batches until the queue is empty, then free the lane."""
        try:
            self._starting = None
            while batch := self._take():
                # More than a batch waiting: the rest may take another free lane meanwhile.
                self._dispatch()
                try:
                    await self._commit_batch(batch)
                except Exception as error:  # never let a lane lose its callers
                    log.exception("group commit failed unexpectedly")
                    self._fail(batch, error)
                except asyncio.CancelledError:
                    self._fail(batch, StoreUnavailable("the server is stopping"))
                    raise
        finally:
            self._free_lanes += 1
            self._dispatch()

    async def _commit_batch(self, batch: list[_Item]) -> None:
        if self._direct is not None and self._directly_writable(batch):
            if await self._commit_directly(self._direct, batch):
                return
        if len(batch) == 1:
            await self._alone(batch[0])
            return
        try:
            async with self._sessions.begin() as session:
                results = await self._in_session(session, batch)
        except Exception as error:
            if is_unavailable(error):
                log.warning("database unavailable for a batch of %d: %s", len(batch), error)
                self._fail(batch, StoreUnavailable(f"database unavailable: {type(error).__name__}"))
                return
            # One unit failed (a bug or a constraint): give each its own transaction.
            for item in batch:
                await self._alone(item)
            return
        self.batches += 1
        self.units += len(batch)
        _run_callbacks(session)
        for item, result in zip(batch, results, strict=True):
            if not item.future.done():
                item.future.set_result(result)

    @staticmethod
    def _directly_writable(batch: list[_Item]) -> bool:
        return current_tenant() is None and all(
            item.bulk is not None and hasattr(item.bulk, "apply_direct") for item in batch
        )

    async def _commit_directly(self, direct: Direct, batch: list[_Item]) -> bool:
        """Write `batch` in one hand-over to the driver; False if it must go through a session
        instead (nothing of it was written then)."""

        async def write(db: DirectConnection) -> list[Any]:
            return await self._execute(batch, None, lambda bulk, items: bulk.apply_direct(db, items))

        try:
            results = await direct.run(write)
        except NeedsSession as why:
            log.debug("a batch of %d goes through a session: %s", len(batch), why)
            return False
        except Exception as error:
            # The session path tells a bad item from a database that is away, and says so;
            # anything but a database's error is a bug of the direct path, said here too.
            if not is_database_error(error):
                log.exception("a direct batch of %d failed; writing it through a session", len(batch))
            return False
        self.batches += 1
        self.direct_batches += 1
        self.units += len(batch)
        for item, result in zip(batch, results, strict=True):
            if not item.future.done():
                item.future.set_result(result)
        return True

    async def _alone(self, item: _Item) -> None:
        try:
            async with self._sessions.begin() as session:
                (result,) = await self._in_session(session, [item])
        except Exception as error:
            if is_unavailable(error):
                error = StoreUnavailable(f"database unavailable: {type(error).__name__}")
            if not item.future.done():
                item.future.set_exception(error)
            return
        self.batches += 1
        self.units += 1
        _run_callbacks(session)
        if not item.future.done():
            item.future.set_result(result)

    @classmethod
    async def _in_session(cls, session: AsyncSession, batch: list[_Item]) -> list[Any]:
        return await cls._execute(
            batch, lambda work: work(session), lambda bulk, items: bulk.apply(session, items)
        )

    @staticmethod
    async def _execute(
        batch: list[_Item],
        run_unit: Callable[[Work], Awaitable[Any]] | None,
        apply: Callable[[Bulk, list[Any]], Awaitable[list[Any]]],
    ) -> list[Any]:
        """Run a batch's units in order, collecting bulk items by kind and applying each kind
        once. A station's writes keep their order: before a unit or item of a station that
        already has an item waiting, and before a unit that names no station, what is
        waiting is applied first. (`run_unit` is None for a batch of bulk items only.)"""
        results: list[Any] = [None] * len(batch)
        waiting: dict[Bulk, list[int]] = {}
        keys: set[Any] = set()

        async def apply_waiting() -> None:
            for bulk, positions in waiting.items():
                done = await apply(bulk, [batch[i].payload for i in positions])
                for i, result in zip(positions, done, strict=True):
                    results[i] = result
            waiting.clear()
            keys.clear()

        for i, item in enumerate(batch):
            if waiting and (item.key is None or item.key in keys):
                await apply_waiting()
            if item.bulk is None:
                assert item.work is not None and run_unit is not None
                results[i] = await run_unit(item.work)
            else:
                waiting.setdefault(item.bulk, []).append(i)
                keys.add(item.key)
        if waiting:
            await apply_waiting()
        return results

    @staticmethod
    def _fail(batch: list[_Item], error: Exception) -> None:
        for item in batch:
            if not item.future.done():
                item.future.set_exception(error)
