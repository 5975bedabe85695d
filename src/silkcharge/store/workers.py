"""Worker threads for heavy work, each with its own event loop and its own engine, so that a job
can read many rows and compute on them without holding the gateway's event loop (issue 14).

A job is `async def job(sessions) -> result`; `Workers.run(job)` runs it on an idle worker and
awaits the result from the caller's loop. Where a query's rows are turned into Python objects
(by SQLAlchemy and the driver, on the loop that awaits the query) and where the job computes is
then the worker's thread; the gateway's loop only waits for the GIL, which CPython hands over
every switch interval (`serve` sets it to 1 ms: `gil_switch_interval_ms`).

Concurrency is bounded: at most `threads` jobs run at once. A job a request asked for is
refused with `WorkersBusy` (the API answers 503 with Retry-After) when `queue` others already
wait, so a burst of trip plans costs the server a bounded amount of work; the platform's own
periodic jobs (the search refresh, the analytics roll-up) always wait their turn.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from silkcharge.store.db import create_engine_for, dispose_engine, sessionmaker_for
from silkcharge.store.residency import Residency

log = logging.getLogger(__name__)

T = TypeVar("T")
Job = Callable[[async_sessionmaker], Awaitable[T]]

POOL_PER_WORKER = 2
"""PostgreSQL connections each worker keeps (SQLite always uses one)."""

CLEANUP_GRACE_SECONDS = 1.0
"""How long a stopping worker waits, at most, for the jobs it cancelled to clean up. A stop must
end the thread regardless of what a cleanup waits for."""

CANCEL_AGAIN_SECONDS = 0.1
"""A cancelled job still cleaning up after this long is cancelled again. aiosqlite's close,
cancelled while it closes (SQLAlchemy's graceful close of a connection whose rollback a stop
interrupted), then waits for its own thread to answer a stop request queued after that thread
had already ended: it waits forever, and only a second cancellation ends it. Without this every
twentieth or so platform stop waited out the whole grace (measured: 5 of 114 stops took 0.6 to
1 s instead of 5 ms)."""


class WorkersBusy(Exception):
    """Every worker is busy and the queue of waiting requests is full: try again later."""

    retry_after_seconds = 5

    def __init__(self, waiting: int) -> None:
        super().__init__(f"the server is busy with {waiting} heavy requests waiting; "
                         f"try again in {self.retry_after_seconds} s")


class _Worker:
    def __init__(self, name: str, database_url: str, residency: Residency | None = None) -> None:
        self.name = name
        self._database_url = database_url
        self._residency = residency
        self.loop = asyncio.new_event_loop()
        self.engine: AsyncEngine | None = None
        self.sessions: async_sessionmaker | None = None
        self._ready = threading.Event()
        self.thread = threading.Thread(target=self._main, name=name, daemon=True)

    def start(self) -> None:
        self.thread.start()
        self._ready.wait()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.engine = create_engine_for(self._database_url, POOL_PER_WORKER)
        residency = None
        if self._residency is None:
            self.sessions = sessionmaker_for(self.engine)
        else:  # data residency: a job routes like the code that asked for it (its context is copied)
            residency = self._residency.sibling(self.engine, lambda url: create_engine_for(url, POOL_PER_WORKER))
            self.sessions = residency.sessionmaker()
        self._ready.set()
        try:
            self.loop.run_forever()
            self.loop.run_until_complete(self._end_tasks())
            if residency is not None:
                self.loop.run_until_complete(residency.dispose())
            self.loop.run_until_complete(dispose_engine(self.engine))
        finally:
            self.loop.close()

    async def _end_tasks(self) -> None:
        """Cancel what still runs on this loop, again every CANCEL_AGAIN_SECONDS while it cleans
        up (with the tasks its cleanup started), for at most CLEANUP_GRACE_SECONDS."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + CLEANUP_GRACE_SECONDS
        while tasks := asyncio.all_tasks() - {asyncio.current_task()}:
            left = deadline - loop.time()
            if left <= 0:
                log.warning("worker %s left %d cancelled jobs that did not clean up in %.1f s",
                            self.name, len(tasks), CLEANUP_GRACE_SECONDS)
                return
            for task in tasks:
                task.cancel()
            await asyncio.wait(tasks, timeout=min(CANCEL_AGAIN_SECONDS, left))

    def stop(self) -> None:
        if not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.loop.stop)


class Workers:
    """A fixed set of worker threads (see the module); start and stop with the platform."""

    def __init__(self, database_url: str, threads: int, queue: int, residency: Residency | None = None) -> None:
        self._database_url = database_url
        self._residency = residency
        self._size = threads
        self._queue_limit = queue
        self._workers: list[_Worker] = []
        self._idle: asyncio.Queue[_Worker] | None = None
        self._home: asyncio.AbstractEventLoop | None = None
        self._waiting = 0
        self._running: set[concurrent.futures.Future] = set()
        """Jobs handed to a worker and not yet ended."""

    @property
    def databases(self) -> list[str | None]:
        """The keys of the databases a platform job runs in, one after another (store/residency.py)."""
        return [None] if self._residency is None else self._residency.keys

    @property
    def waiting(self) -> int:
        """Jobs waiting for a worker now."""
        return self._waiting

    async def start(self) -> None:
        self._home = asyncio.get_running_loop()
        self._idle = asyncio.Queue()
        for n in range(self._size):
            worker = _Worker(f"heavy-work-{n + 1}", self._database_url, self._residency)
            await asyncio.to_thread(worker.start)
            self._workers.append(worker)
            self._idle.put_nowait(worker)

    async def stop(self) -> None:
        for job in list(self._running):  # their callers get CancelledError now, not never
            job.cancel()
        for worker in self._workers:
            worker.stop()
        for worker in self._workers:
            await asyncio.to_thread(worker.thread.join, 10)
            if worker.thread.is_alive():
                log.warning("worker %s is still busy; it ends with the process", worker.name)
        self._workers = []

    async def run(self, job: Job[T], *, refuse_when_busy: bool = True) -> T:
        """Run `job(sessions)` on a worker and return what it returns (or raise what it raises).
        A request's job (`refuse_when_busy`) raises WorkersBusy rather than join a full queue."""
        assert self._idle is not None, "Workers.start() first"
        if refuse_when_busy and self._idle.empty() and self._waiting >= self._queue_limit:
            raise WorkersBusy(self._waiting)
        self._waiting += 1
        try:
            worker = await self._idle.get()
        finally:
            self._waiting -= 1
        future = asyncio.run_coroutine_threadsafe(self._on(worker, job), worker.loop)
        self._running.add(future)
        try:
            return await asyncio.wrap_future(future)
        finally:
            self._running.discard(future)

    async def _on(self, worker: _Worker, job: Job[T]) -> T:
        """In the worker's loop. The worker is idle again when the job has really ended (a
        cancelled caller does not free it early), so the bound holds."""
        try:
            return await job(worker.sessions)
        finally:
            assert self._home is not None and self._idle is not None
            if not self._home.is_closed():
                self._home.call_soon_threadsafe(self._idle.put_nowait, worker)
