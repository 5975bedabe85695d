"""Engines and migrations. The same code path serves SQLite (default) and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import threading
import time
import weakref
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiosqlite
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event, exc
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from silkcharge.store.pool import InTurnPool

MIGRATIONS = Path(__file__).parent / "migrations"
SQLITE_CACHE_KIB = 64 * 1024  # each connection's page cache, filled only as pages are read
SQLITE_CHECKPOINT_PAGES = 10_000  # WAL pages written before a commit checkpoints them
SQLITE_WAL_KEEP_BYTES = 64 * 1024 * 1024  # the WAL file is cut back to this after a checkpoint


def sync_url(url: str) -> str:
    """The blocking driver for the same database, which Alembic uses."""
    return url.replace("+aiosqlite", "").replace("+asyncpg", "+psycopg")


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    driver = getattr(dbapi_connection, "_connection", None)  # the aiosqlite connection
    if driver is not None and getattr(driver, "_connection", None) is not None:
        _sqlite3_of[driver] = driver._connection
    cursor = dbapi_connection.cursor()
    # First the busy timeout, so that every later statement (the journal-mode switch included)
    # waits for a concurrent writer instead of failing at once with "database is locked".
    cursor.execute("PRAGMA busy_timeout=30000")
    # WAL lets the API read while the gateway writes; FULL makes every commit survive power loss,
    # which is what "durable before acknowledged" promises.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # SQLite's default page cache is 2 MiB and it checkpoints the WAL into the database every
    # 1,000 pages. A batch of meter values touched a few hundred index pages spread over every
    # station's range (fewer since 0042, but its sessions' index still spreads so), so with those defaults each batch read pages back from the OS and every
    # second or third commit also copied a checkpoint: 22 µs of CPU per stored reading, 13 µs
    # with a 64 MiB cache and a checkpoint every 10,000 pages (40 MiB of WAL; a hot page is
    # copied once per checkpoint, however often it was rewritten). Durability is the WAL's
    # fsync at every commit, which neither changes (docs/benchmarks.md, issue 20).
    cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    cursor.execute(f"PRAGMA wal_autocheckpoint={SQLITE_CHECKPOINT_PAGES}")
    cursor.execute(f"PRAGMA journal_size_limit={SQLITE_WAL_KEEP_BYTES}")
    cursor.close()


class _SQLiteConnection(sqlite3.Connection):
    """Rolls back before it closes. A statement cancelled while it wrote (a task stopped, a
    caller that gave up) leaves SQLAlchemy to close the connection without a rollback; sqlite3
    then only marks it closed while a cursor still refers to one of its statements, and the
    open transaction kept the database's write lock until the garbage collector came by: every
    other writer waited out its 30 s busy timeout (seen as a demo that took 30 s to stop)."""

    def close(self) -> None:
        try:
            if self.in_transaction:
                self.rollback()
        except sqlite3.Error:
            pass  # closing is what matters; close() says what is wrong, if anything
        super().close()


def _json_default(value: object) -> str:
    """JSON columns keep money exact: a Decimal is written as its exact decimal string."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    raise TypeError(f"cannot store {type(value).__name__} in a JSON column")


def _json_dumps(value: object) -> str:
    return json.dumps(value, default=_json_default, ensure_ascii=False)


def _prepare_sqlite_dir(url: str) -> None:
    if url.startswith("sqlite") and ":memory:" not in url:
        Path(url.split(":///", 1)[1]).parent.mkdir(parents=True, exist_ok=True)


def create_engine_for(url: str, pool_size: int = 30) -> AsyncEngine:
    """The engine for `url`. SQLite gets one connection: it has a single write lock, and many
    pooled connections only queue inside SQLite's busy-wait (measured: p99 653 ms against
    108 ms with one). PostgreSQL gets a fixed pool with no overflow, because overflow
    connections were opened and closed again under load (see docs/benchmarks.md). Both pools
    serve the tasks waiting for a connection in turn (store/pool.py)."""
    _prepare_sqlite_dir(url)
    if url.startswith("sqlite"):
        engine = create_async_engine(url, json_serializer=_json_dumps, pool_size=1, max_overflow=0,
                                     poolclass=InTurnPool, connect_args={"factory": _SQLiteConnection})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        _remember_connections(engine)
        return engine
    engine = create_async_engine(url, json_serializer=_json_dumps, pool_size=pool_size, max_overflow=0,
                                 poolclass=InTurnPool)
    _ping_when_idle(engine)
    return engine


# -- closing SQLite's connection threads -------------------------------------------------------
# aiosqlite runs each connection's statements on a thread of its own and hands each result to
# the event loop that asked. A task cancelled while its statement runs (a stop that cancels a
# job) leaves the statement running; SQLAlchemy then ends the connection with aiosqlite's
# `stop()`, queued behind that statement. If the loop is closed before the statement ends, the
# thread fails handing over the result ("Event loop is closed") and ends without closing its
# connection: a SQLite connection left open for the rest of the process (and a warning in the
# tests, 10 to 15 a run). So a disposal waits for those threads: it interrupts what still runs
# and lets each thread close its connection while the loop can still hear it.

_sqlite_connections: weakref.WeakKeyDictionary[Engine, weakref.WeakSet] = weakref.WeakKeyDictionary()
# Each aiosqlite connection's sqlite3 connection, kept from its opening: a close that was
# cancelled clears aiosqlite's own reference while its statement still runs, and
# `aiosqlite.Connection.interrupt` can then no longer reach it (seen in a loaded run: a
# disposal waited out its deadline behind a statement that would never end).
_sqlite3_of: weakref.WeakKeyDictionary[Any, sqlite3.Connection] = weakref.WeakKeyDictionary()


def _interrupt(connection) -> None:
    """Interrupt what `connection` runs now (sqlite3's interrupt may be called from any thread;
    where nothing runs it does nothing)."""
    raw = _sqlite3_of.get(connection)
    if raw is not None:
        with contextlib.suppress(sqlite3.Error):  # ProgrammingError: already closed
            raw.interrupt()


def _remember_connections(engine: AsyncEngine) -> None:
    """Keep each aiosqlite connection the engine makes from the moment it exists: a task
    cancelled while its connection was still opening (or setting its pragmas) leaves one that
    the pool never saw."""
    connections: weakref.WeakSet = weakref.WeakSet()
    _sqlite_connections[engine.sync_engine] = connections

    def remembered(*args, **kwargs):
        connection = aiosqlite.connect(*args, **kwargs)
        connections.add(connection)
        if (thread := _thread_of(connection)) is not None:
            thread.daemon = True  # as SQLAlchemy's own connect does
        return connection

    @event.listens_for(engine.sync_engine, "do_connect")
    def _connect(dialect, _record, cargs, cparams):
        # SQLAlchemy's aiosqlite adapter makes the connection with `async_creator_fn` when given
        return dialect.loaded_dbapi.connect(*cargs, async_creator_fn=remembered, **cparams)


def _thread_of(connection) -> threading.Thread | None:
    return getattr(connection, "_thread", None)  # aiosqlite keeps it there (0.20 to 0.22)


async def dispose_engine(engine: AsyncEngine, wait_seconds: float = 5.0) -> None:
    """Close the engine's pooled connections; on SQLite, also end the thread of every connection
    a cancelled statement left running (interrupted), waiting for it at most `wait_seconds`.

    The statements are interrupted first: a connection whose cancelled statement still runs
    may already be back in the pool, and closing it queues behind that statement, which may
    never end (seen once in a loaded run: the disposal waited for ever)."""
    remembered = list(_sqlite_connections.get(engine.sync_engine, ()))
    for connection in remembered:
        if (thread := _thread_of(connection)) is not None and thread.is_alive():
            _interrupt(connection)
    await engine.dispose()
    running = [c for c in remembered if (thread := _thread_of(c)) is not None and thread.is_alive()]
    if not running:
        return
    for connection in running:
        _interrupt(connection)
        connection.stop()  # after what it runs now: close the connection, end the thread
    deadline = time.monotonic() + wait_seconds

    def join() -> None:
        for connection in running:
            _thread_of(connection).join(max(0.0, deadline - time.monotonic()))

    await asyncio.to_thread(join)


PING_AFTER_IDLE = 2.0
"""Seconds a pooled connection may rest before its next checkout tests it with a ping."""


def _ping_when_idle(engine: AsyncEngine) -> None:
    """Test a pooled connection before use only if it has rested: one that served a moment ago
    is alive or fails its statement, which invalidates the pool just as a failed ping would.
    SQLAlchemy's own `pool_pre_ping` pings at every checkout; under load that was a round-trip
    per group commit, 8 % of the gateway's CPU (docs/benchmarks.md)."""
    pool = engine.sync_engine.pool
    dialect = engine.sync_engine.dialect

    @event.listens_for(pool, "checkin")
    def _resting(_dbapi_connection, record) -> None:
        record.info["resting_since"] = time.monotonic()

    @event.listens_for(pool, "checkout")
    def _ping_if_rested(dbapi_connection, record, _proxy) -> None:
        since = record.info.get("resting_since")
        if since is None or time.monotonic() - since < PING_AFTER_IDLE:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as error:
            if dialect.is_disconnect(error, dbapi_connection, None):
                raise exc.InvalidatePoolError() from error  # the pool retries with a new one
            raise


def create_sync_engine_for(url: str) -> Engine:
    _prepare_sqlite_dir(url)
    engine = create_engine(sync_url(url))
    if url.startswith("sqlite"):
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def sessionmaker_for(engine: AsyncEngine) -> async_sessionmaker:
    return async_sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", sync_url(url).replace("%", "%%"))
    return config


def migrate(url: str, revision: str = "head") -> None:
    """Bring the database at `url` to `revision` (creating the SQLite file if needed)."""
    _prepare_sqlite_dir(url)
    command.upgrade(alembic_config(url), revision)
