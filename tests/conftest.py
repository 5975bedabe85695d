"""Shared fixtures: a database per test on SQLite and on the local PostgreSQL, and a running
platform (OCPP gateway on a real socket, API in-process)."""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import psycopg
import pytest

from silkcharge.api.app import create_api
from silkcharge.app import Platform, build_platform
from silkcharge.settings import Settings
from silkcharge.store.db import migrate

PG_ADMIN = os.environ.get("SILKCHARGE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
API_KEY = "test-key"


def _pg_available() -> bool:
    try:
        with psycopg.connect(PG_ADMIN, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request, tmp_path) -> Iterator[str]:
    """A fresh, migrated database: an SQLite file, or a new database on the local PostgreSQL."""
    if request.param == "sqlite":
        target = tmp_path / "silkcharge.sqlite3"
        shutil.copyfile(_sqlite_template(), target)
        yield f"sqlite+aiosqlite:///{target}"
        return
    if not _pg_available():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL on 127.0.0.1:5432 is required in CI")
        pytest.skip("PostgreSQL on 127.0.0.1:5432 is not running")
    with fresh_pg_database("silkcharge_test") as url:
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
    }
    marker = request.node.get_closest_marker("settings")
    if marker is not None:
        values.update(marker.kwargs)
    return Settings(**values)


@pytest.fixture
async def platform(settings) -> AsyncIterator[Platform]:
    running = build_platform(settings)
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


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
