"""Shared fixtures: a database per test on SQLite and on the local PostgreSQL, and a running
platform (OCPP gateway on a real socket, API in-process)."""

from __future__ import annotations

import contextlib
import os
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
        url = f"sqlite+aiosqlite:///{tmp_path}/silkcharge.sqlite3"
        migrate(url)
        yield url
        return
    if not _pg_available():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL on 127.0.0.1:5432 is required in CI")
        pytest.skip("PostgreSQL on 127.0.0.1:5432 is not running")
    with fresh_pg_database("silkcharge_test") as url:
        yield url


@contextlib.contextmanager
def fresh_pg_database(prefix: str) -> Iterator[str]:
    """A new, migrated database on the local PostgreSQL, dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + f"/{name}"
    try:
        migrate(url)
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
        "call_timeout": 5,
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
