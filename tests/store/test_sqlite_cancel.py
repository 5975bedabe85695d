"""SQLite: a write cancelled while it runs (a service stopping, a caller giving up) must not
keep the database's write lock. It did: the demo sometimes took 30 s to stop, its last log
flush waiting out the busy timeout behind a connection closed without a rollback."""

from __future__ import annotations

import asyncio
import threading

from sqlalchemy import Column, Integer, MetaData, String, Table, event, text

from silkcharge.store.db import create_engine_for, sessionmaker_for
from tests.guards import HANG_GUARD

ROWS = Table("rows", MetaData(), Column("id", Integer, primary_key=True), Column("v", String))


async def test_a_write_cancelled_mid_statement_leaves_the_database_writable(tmp_path):
    engine = create_engine_for(f"sqlite+aiosqlite:///{tmp_path}/cancel.sqlite3")
    started, release = threading.Event(), threading.Event()

    def slow(value: str) -> str:  # runs in the connection's thread, inside the INSERT
        started.set()
        release.wait(HANG_GUARD)
        return value

    event.listen(engine.sync_engine, "connect", lambda conn, _: conn.create_function("slow", 1, slow))
    async with engine.begin() as connection:
        await connection.run_sync(ROWS.metadata.create_all)
    sessions = sessionmaker_for(engine)

    async def write(value: str) -> None:
        async with sessions.begin() as session:
            await session.execute(text("INSERT INTO rows (v) VALUES (slow(:v))"), [{"v": value}] * 2)

    stopped = asyncio.create_task(write("cancelled"))
    assert await asyncio.to_thread(started.wait, HANG_GUARD)
    stopped.cancel()
    release.set()
    try:
        await stopped
    except asyncio.CancelledError:
        pass
    try:
        # the busy timeout (30 s) is below the guard: a held lock fails this with "database is locked"
        await asyncio.wait_for(write("after"), HANG_GUARD)
        async with sessions() as session:
            kept = (await session.execute(text("SELECT v FROM rows"))).scalars().all()
        assert kept == ["after", "after"]  # and nothing of the cancelled write
    finally:
        await engine.dispose()
