"""Fixtures for multi-node tests: a fresh PostgreSQL database, a private Redis, node processes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest

from silkcharge.store.db import migrate
from tests.conftest import PG_ADMIN, _pg_available
from tests.scale.nodes import Node
from tests.scale.services import PrivateRedis

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


@pytest.fixture
def pg_url() -> Iterator[str]:
    if not _pg_available():
        pytest.fail("multi-node tests need PostgreSQL on 127.0.0.1:5432")
    name = f"silkcharge_scale_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + f"/{name}"
    migrate(url)
    try:
        yield url
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    server = PrivateRedis()
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def nodes() -> Iterator[list[Node]]:
    """Nodes a test starts are stopped after it, whatever happened."""
    started: list[Node] = []
    yield started
    for node in started:
        node.stop()


def sync_db(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")
