"""The PostgreSQL pool: connections that rested are tested before use, busy ones are not."""

from __future__ import annotations

import asyncio

import psycopg
import pytest
from sqlalchemy import text

from silkcharge.store import db
from tests.conftest import PG_ADMIN, _pg_available, fresh_pg_database

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_url():
    if not _pg_available():
        pytest.skip("PostgreSQL on 127.0.0.1:5432 is not running")
    with fresh_pg_database("silkcharge_pool") as url:
        yield url


def _kill_backends(database: str) -> int:
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()", (database,),
        ).fetchall()
    return len(rows)


async def _backend_pid(engine) -> int:
    async with engine.connect() as connection:
        return await connection.scalar(text("SELECT pg_backend_pid()"))


async def test_a_connection_killed_while_resting_is_replaced_before_use(pg_url, monkeypatch):
    monkeypatch.setattr(db, "PING_AFTER_IDLE", 0.2)
    engine = db.create_engine_for(pg_url, pool_size=1)
    try:
        first = await _backend_pid(engine)
        assert _kill_backends(pg_url.rsplit("/", 1)[1]) == 1
        await asyncio.sleep(0.3)
        second = await _backend_pid(engine)  # would raise "connection is closed" without the ping
        assert second != first
    finally:
        await engine.dispose()


async def test_a_connection_used_a_moment_ago_is_not_pinged(pg_url, monkeypatch):
    monkeypatch.setattr(db, "PING_AFTER_IDLE", 60)
    pings = 0
    engine = db.create_engine_for(pg_url, pool_size=1)
    real_ping = engine.sync_engine.dialect.do_ping

    def counting_ping(connection):
        nonlocal pings
        pings += 1
        return real_ping(connection)

    monkeypatch.setattr(engine.sync_engine.dialect, "do_ping", counting_ping)
    try:
        for _ in range(5):
            await _backend_pid(engine)
        assert pings == 0
        monkeypatch.setattr(db, "PING_AFTER_IDLE", 0)
        await _backend_pid(engine)
        assert pings == 1
    finally:
        await engine.dispose()
