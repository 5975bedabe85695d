"""Worker threads for heavy work: a job runs on its own thread and loop with its own engine;
at most `threads` jobs run at once; a request's job is refused when the queue is full, the
platform's own jobs wait; a cancelled caller does not free its worker before the job ends."""

from __future__ import annotations

import asyncio
import contextlib
import threading

import pytest
from sqlalchemy import select, text

from silkcharge.store import workers as workers_module
from silkcharge.store.schema import Operator
from silkcharge.store.workers import Workers, WorkersBusy
from tests.e2e.peers import eventually
from tests.guards import HANG_GUARD


@pytest.fixture
async def workers(database_url):
    running = Workers(database_url, threads=1, queue=1)
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


def blocking(release: threading.Event, started: threading.Event | None = None):
    """A job that holds its worker's thread until released, as CPU-bound work does."""
    async def job(_sessions) -> str:
        if started is not None:
            started.set()
        release.wait(timeout=60)
        return threading.current_thread().name
    return job


async def test_a_job_reads_the_store_on_its_own_thread(workers):
    async def job(sessions) -> tuple[str, list]:
        async with sessions() as session:
            rows = (await session.scalars(select(Operator.code))).all()
        return threading.current_thread().name, rows

    name, rows = await workers.run(job)
    assert name.startswith("heavy-work-") and name != threading.current_thread().name
    assert rows == []


async def test_a_burst_beyond_the_queue_is_refused_and_platform_jobs_wait(workers):
    release, started = threading.Event(), threading.Event()
    running = asyncio.create_task(workers.run(blocking(release, started)))
    await asyncio.to_thread(started.wait)
    queued = asyncio.create_task(workers.run(blocking(release)))
    await eventually(lambda: _async(workers.waiting == 1))
    with pytest.raises(WorkersBusy, match="try again in 5 s"):
        await workers.run(blocking(release))
    platform_job = asyncio.create_task(workers.run(blocking(release), refuse_when_busy=False))
    await eventually(lambda: _async(workers.waiting == 2))
    release.set()
    assert {await running, await queued, await platform_job} == {"heavy-work-1"}


async def test_a_cancelled_caller_frees_its_worker_only_when_the_job_ends(workers):
    release, started = threading.Event(), threading.Event()
    caller = asyncio.create_task(workers.run(blocking(release, started)))
    await asyncio.to_thread(started.wait)
    caller.cancel()
    next_started = threading.Event()
    following = asyncio.create_task(workers.run(blocking(release, next_started)))
    await eventually(lambda: _async(workers.waiting == 1))
    assert not next_started.is_set(), "the worker is still busy with the cancelled caller's job"
    release.set()
    assert await following == "heavy-work-1"
    assert next_started.is_set() and caller.cancelled()


async def _async(value):
    return value or None


async def test_a_stop_ends_every_worker_thread_even_when_a_cancelled_job_never_finishes_cleaning_up(database_url):
    """A stop used to wait 10 s for a worker whose cancelled job would not end and then leave its
    thread and loop behind; now it waits out CLEANUP_GRACE_SECONDS and ends the thread."""
    workers = Workers(database_url, threads=1, queue=1)
    await workers.start()
    (thread,) = [w.thread for w in workers._workers]
    started = threading.Event()

    async def job(_sessions) -> None:
        try:
            started.set()
            await asyncio.Event().wait()
        finally:
            while True:  # a cleanup that never ends, however often it is cancelled
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.get_running_loop().create_future()

    caller = asyncio.create_task(workers.run(job))
    await asyncio.to_thread(started.wait)
    await workers.stop()
    assert not thread.is_alive()
    with pytest.raises(asyncio.CancelledError):
        await caller


async def test_a_cleanup_waiting_on_what_never_comes_ends_at_the_second_cancellation(database_url, monkeypatch):
    """aiosqlite's close, cancelled while it closes, then waits for an answer from its thread,
    which has already ended: only a second cancellation ends it. The stop cancels again rather
    than wait out the grace (here so long that the stop's 10 s join would give up first)."""
    monkeypatch.setattr(workers_module, "CLEANUP_GRACE_SECONDS", 3600)
    workers = Workers(database_url, threads=1, queue=1)
    await workers.start()
    (thread,) = [w.thread for w in workers._workers]
    started = threading.Event()
    cleaned_up = threading.Event()

    async def job(_sessions) -> None:
        try:
            started.set()
            await asyncio.Event().wait()
        finally:
            try:
                await asyncio.get_running_loop().create_future()  # an answer that never comes
            finally:
                cleaned_up.set()

    caller = asyncio.create_task(workers.run(job))
    await asyncio.to_thread(started.wait)
    await workers.stop()
    assert cleaned_up.is_set()
    assert not thread.is_alive()
    with pytest.raises(asyncio.CancelledError):
        await caller


async def test_a_stop_interrupts_a_cancelled_jobs_sqlite_query_and_ends_its_connection_thread(tmp_path):
    """A job cancelled while SQLite ran its query left the query running in aiosqlite's thread
    after the worker's loop had closed; when it ended, the thread failed to hand over the result
    ("Event loop is closed") and died with its connection open. The stop now interrupts the
    query and waits for the thread to close its connection. Here the query would never end."""
    workers = Workers(f"sqlite+aiosqlite:///{tmp_path}/jobs.sqlite3", threads=1, queue=1)
    await workers.start()
    started = threading.Event()
    connections = []
    failures = []
    hook, threading.excepthook = threading.excepthook, failures.append

    async def job(sessions) -> None:
        async with sessions() as session:
            connection = (await (await session.connection()).get_raw_connection()).driver_connection
            connections.append(connection)
            await connection.create_function("started", 0, lambda: started.set() or 1)
            await session.execute(text(
                "WITH RECURSIVE c(n) AS (SELECT started() UNION ALL SELECT n + 1 FROM c) SELECT count(*) FROM c"))

    caller = asyncio.create_task(workers.run(job))
    try:
        assert await asyncio.to_thread(started.wait, HANG_GUARD)
        await workers.stop()
        (connection,) = connections
        assert not connection._thread.is_alive()
        assert failures == []
    finally:
        for connection in connections:  # the old way: end the query that would run for ever
            with contextlib.suppress(Exception):
                connection._connection.interrupt()
            connection._thread.join(HANG_GUARD)
        threading.excepthook = hook
    with pytest.raises(asyncio.CancelledError):
        await caller
