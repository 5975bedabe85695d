"""Shared fixtures: a database per test on SQLite and on the local PostgreSQL, and a running
platform (OCPP gateway on a real socket, API in-process)."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import shutil
import sqlite3
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import psycopg
import pytest
from fastapi.dependencies import models as fastapi_models
from sqlalchemy.ext.asyncio import AsyncEngine

from silkcharge.api.app import create_api
from silkcharge.app import Platform, build_platform
from silkcharge.settings import Settings
from silkcharge.store.db import create_engine_for, migrate
from silkcharge.store.tenancy import forget_database


def pytest_asyncio_loop_factories(config, item):
    """Tests marked `both_event_loops` run on asyncio's own loop and again on uvloop's, which
    `serve` runs on (SILKCHARGE_EVENT_LOOP); the rest on asyncio's."""
    if item.get_closest_marker("both_event_loops") is None:
        return {"asyncio": asyncio.new_event_loop}  # one loop: the test's id does not change
    import uvloop

    return {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}


PG_ADMIN = os.environ.get("SILKCHARGE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
API_KEY = "test-key"


def _pg_available() -> bool:
    try:
        with psycopg.connect(PG_ADMIN, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request) -> Iterator[str]:
    """A fresh, migrated database: an SQLite file, or a new database on the local PostgreSQL."""
    if request.param == "sqlite":
        with recycled_sqlite_database() as url:
            yield url
        return
    if not _pg_available():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL on 127.0.0.1:5432 is required in CI")
        pytest.skip("PostgreSQL on 127.0.0.1:5432 is not running")
    with recycled_pg_database() as url:
        yield url


# Each test gets its own database, copied from one migrated once per test process: running
# every migration for every test would cost seconds each.
_templates: dict[str, str] = {}


def _sqlite_template() -> str:
    if "sqlite" not in _templates:
        folder = tempfile.mkdtemp(prefix="silkcharge-template-")
        path = os.path.join(folder, "template.sqlite3")
        migrate(f"sqlite+aiosqlite:///{path}")
        _templates["sqlite"] = path
        atexit.register(shutil.rmtree, folder, True)
    return _templates["sqlite"]


def _pg_template() -> str:
    if "postgres" not in _templates:
        name = f"silkcharge_template_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        migrate(_pg_url(name))
        _pg_capture(name)
        _templates["postgres"] = name
        atexit.register(_drop_pg, name)
    return _templates["postgres"]


def _pg_url(name: str) -> str:
    return PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + f"/{name}"


def _drop_pg(name: str) -> None:
    with contextlib.suppress(psycopg.Error), psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def fresh_pg_database(prefix: str) -> Iterator[str]:
    """A new, migrated database on the local PostgreSQL, dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    template = _pg_template()
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    url = _pg_url(name)
    try:
        yield url
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# Creating a PostgreSQL database from the template and dropping it costs one to two seconds of
# disk writes (the copy goes through the WAL), and over 600 tests run on PostgreSQL. So each test
# process keeps the databases it made and gives each back clean: every row deleted, the
# template's rows and sequence positions put back. A database whose schema a test changed (a
# migration test that went down and back up and failed halfway) is dropped instead.
_free_pg: list[str] = []
_pg_clean_state: dict[str, object] = {}


def _pg_fingerprint(conn: psycopg.Connection) -> tuple:
    """What a test must not have changed: the migration, the columns, policies and triggers."""
    return (
        conn.execute("SELECT version_num FROM alembic_version").fetchall(),
        # from the catalog itself: information_schema.columns costs PostgreSQL ~25 ms a test
        conn.execute(
            "SELECT md5(string_agg(c.relname || '.' || a.attname || ':' "
            "|| format_type(a.atttypid, a.atttypmod) || ':' || coalesce(pg_get_expr(d.adbin, d.adrelid), ''), "
            "',' ORDER BY c.relname, a.attname)) "
            "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
            "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
            "WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v') "
            "AND a.attnum > 0 AND NOT a.attisdropped").fetchone(),
        conn.execute("SELECT count(*) FROM pg_policies").fetchone(),
        conn.execute("SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal").fetchone(),
        conn.execute("SELECT count(*) FROM pg_indexes WHERE schemaname = 'public'").fetchone(),
    )


def _pg_capture(name: str) -> None:
    """Remember the template's rows, sequence positions and schema fingerprint."""
    with psycopg.connect(_pg_admin_url(name), autocommit=True) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'")]
        rows = {}
        for table in tables:
            cursor = conn.execute(f'SELECT * FROM "{table}"')
            found = cursor.fetchall()
            if found:
                rows[table] = ([c.name for c in cursor.description], found)
        sequences = conn.execute(
            "SELECT sequencename, coalesce(last_value, 1), last_value IS NOT NULL "
            "FROM pg_sequences WHERE schemaname = 'public'").fetchall()
        _pg_clean_state.update(tables=tables, rows=rows, sequences=sequences,
                               fingerprint=_pg_fingerprint(conn))


def _pg_admin_url(name: str) -> str:
    return PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"


def _pg_give_back(name: str) -> bool:
    """Empty a used database back to the template's state; False if it cannot be reused."""
    try:
        with psycopg.connect(_pg_admin_url(name)) as conn:
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         "WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
            if _pg_fingerprint(conn) != _pg_clean_state["fingerprint"]:
                return False
            # as the superuser, without triggers: the audit trail refuses deletes, and foreign
            # keys need no order when every table is emptied
            conn.execute("SET LOCAL session_replication_role = replica")
            for table in _pg_clean_state["tables"]:
                conn.execute(f'DELETE FROM "{table}"')
            for table, (columns, rows) in _pg_clean_state["rows"].items():
                listed = ", ".join(f'"{c}"' for c in columns)
                marks = ", ".join(["%s"] * len(columns))
                with conn.cursor() as cursor:
                    cursor.executemany(f'INSERT INTO "{table}" ({listed}) VALUES ({marks})', rows)
            for sequence, value, called in _pg_clean_state["sequences"]:
                conn.execute("SELECT setval(%s, %s, %s)", (f'"{sequence}"', value, called))
        return True
    except psycopg.Error:
        return False


@contextlib.contextmanager
def recycled_pg_database() -> Iterator[str]:
    """A migrated database on the local PostgreSQL in the template's state, for one test."""
    _pg_template()
    if _free_pg:
        name = _free_pg.pop()
    else:
        name = f"silkcharge_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{_templates["postgres"]}"')
        atexit.register(_drop_pg, name)
    forget_database(_pg_url(name))  # what the platform learnt of the rows an earlier test had there
    try:
        yield _pg_url(name)
    finally:
        if _pg_give_back(name):
            _free_pg.append(name)
        else:
            _drop_pg(name)


# SQLite files are recycled too, like the PostgreSQL databases above: not for the copy, which is
# cheap, but so that a test gets a database URL an earlier test of its process had, and with it
# that test's engine (`leased_engine`).
_free_sqlite: list[str] = []


@contextlib.contextmanager
def recycled_sqlite_database(source: str | None = None) -> Iterator[str]:
    """A database holding a copy of `source` (default: the migrated template) for one test, at a
    path an earlier test of this process may have used."""
    source = source or _sqlite_template()
    path = None
    while _free_sqlite and path is None:
        path = _free_sqlite.pop()
        if not _sqlite_restored(path, source):
            path = None  # held by what an earlier test left behind: left to it
    if path is None:
        path = os.path.join(os.path.dirname(_sqlite_template()), f"test-{uuid.uuid4().hex[:12]}.sqlite3")
        shutil.copyfile(source, path)
    url = f"sqlite+aiosqlite:///{path}"
    forget_database(url)  # what the platform learnt of the rows an earlier test had there
    try:
        yield url
    finally:
        _free_sqlite.append(path)


def _sqlite_restored(path: str, source: str) -> bool:
    """Write `source` into the database at `path` with SQLite's backup, as one transaction of
    that database. Not by replacing the file: its -wal and -shm files go by the path's name, so
    a connection an earlier test left open on the old file (a thread that died with its event
    loop, a server process still ending) could write its own log beside the new file, and a new
    connection read it as the new file's (seen as another test's roaming partners appearing).
    False if the database stays locked (such a connection holds its write lock)."""
    try:
        with contextlib.closing(sqlite3.connect(source)) as copy, \
                contextlib.closing(sqlite3.connect(path, timeout=2, isolation_level=None)) as target:
            target.execute("BEGIN IMMEDIATE")  # fails after the timeout if the lock is held
            target.execute("ROLLBACK")
            copy.backup(target)
        return True
    except sqlite3.Error:
        return False


# SQLAlchemy keeps the statements it compiled per engine, and a platform makes its own engine:
# each test compiled its statements again, a fifth of a test process's CPU (about 90 statements
# a test, a millisecond each). The platforms the fixtures build take their engine from here
# instead, one per database URL and pool size, kept for the test process and lent to one
# platform at a time; stopping a platform closes the engine's connections, and the next
# platform on that URL (the database recycled) opens new ones in its own event loop.
_idle_engines: dict[tuple[str, int], list[AsyncEngine]] = {}


@contextlib.contextmanager
def leased_engine(settings: Settings) -> Iterator[AsyncEngine]:
    """An engine for `settings`' database that no other platform holds, for one platform."""
    idle = _idle_engines.setdefault((settings.database_url, settings.database_pool_size), [])
    engine = idle.pop() if idle else create_engine_for(settings.database_url, settings.database_pool_size)
    if engine.sync_engine.pool.checkedin():
        # Something of an earlier test used the engine after its lease ended (see `prompt`
        # in tests/e2e/server_process.py for the one found): its connections belong to an
        # event loop that is gone and would fail this test. Left, not reused.
        engine.sync_engine.dispose(close=False)
    try:
        yield engine
    finally:
        # The platform closed its connections as it stopped; a connection still pooled (a
        # platform that never stopped) belongs to an event loop that is gone: left, not reused.
        engine.sync_engine.dispose(close=False)
        idle.append(engine)


@pytest.fixture(autouse=True)
def _forget_finished_apps() -> Iterator[None]:
    """FastAPI remembers, per endpoint and dependency function, whether it is a coroutine or
    a generator (`functools.lru_cache`, 4,096 entries). Our endpoints close over their
    platform, so those caches kept the last two hundred or so platforms of a test process
    alive: 10 million objects after 400 tests, and a full garbage collection held the event
    loop for 8 to 12 s, longer than a charger waits for an answer on a loaded machine. A real
    process builds one app; a test process builds one per test, so it forgets them after each."""
    yield
    caches = [cached for cached in vars(fastapi_models).values() if hasattr(cached, "cache_clear")]
    assert caches, "FastAPI's function caches moved: find them, or finished platforms stay alive"
    for cached in caches:
        cached.cache_clear()


@pytest.fixture
def settings(request, database_url) -> Settings:
    """Test settings; a test changes them with @pytest.mark.settings(name=value, ...)."""
    values = {
        "database_url": database_url,
        "ocpp_host": "127.0.0.1",
        "ocpp_port": 0,
        "api_key": API_KEY,
        "heartbeat_interval": 30,
        # A peer shares the test's event loop: on a loaded machine its answer can take seconds.
        # Tests about stations that never answer pass their own timeout per request.
        "call_timeout": 30,
        "message_log_flush_seconds": 0.05,
        "roaming_pull_minutes": None,  # a test pulls roaming partners when it means to
        "roaming_object_push_seconds": None,  # and pushes our changed sites and tariffs when it means to
    }
    marker = request.node.get_closest_marker("settings")
    if marker is not None:
        values.update(marker.kwargs)
    return Settings(**values)


@contextlib.asynccontextmanager
async def running_platform(settings: Settings) -> AsyncIterator[Platform]:
    """A platform for `settings` on a leased engine, started, and stopped when the block ends."""
    with leased_engine(settings) as engine:
        running = build_platform(settings, engine)
        await running.start()
        try:
            yield running
        finally:
            await running.stop()


@pytest.fixture
async def platform(settings) -> AsyncIterator[Platform]:
    async with running_platform(settings) as running:
        yield running


@pytest.fixture
async def api(platform) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_api(platform))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://silkcharge", headers={"X-API-Key": API_KEY}
    ) as client:
        yield client


@pytest.fixture
def ocpp_url(platform) -> str:
    return f"ws://127.0.0.1:{platform.gateway.port}/ocpp"
