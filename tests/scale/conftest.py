"""Fixtures for multi-node tests: a fresh PostgreSQL database, a private Redis, node processes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import _pg_available, fresh_pg_database
from tests.scale.nodes import Node
from tests.scale.services import PrivateRedis


@pytest.fixture
def pg_url() -> Iterator[str]:
    if not _pg_available():
        pytest.fail("multi-node tests need PostgreSQL on 127.0.0.1:5432")
    with fresh_pg_database("silkcharge_scale") as url:
        yield url


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
