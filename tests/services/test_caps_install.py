"""The shipped price caps are installed before anything reads them: reading the caps in force
must never open a second database session inside the caller's. On SQLite the platform has one
connection, so a nested session waited out the pool's 30 s and failed the request (a station
page answered HTTP 500 right after a start under load)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from silkcharge.services.caps import CapService
from silkcharge.store.db import create_engine_for, sessionmaker_for
from silkcharge.store.schema import PriceCapRecord


@pytest.fixture
async def sessions(database_url):
    engine = create_engine_for(database_url)
    try:
        yield sessionmaker_for(engine)
    finally:
        await engine.dispose()


async def test_the_caps_in_force_are_read_inside_a_busy_transaction_without_a_second_session(sessions):
    caps = CapService(sessions)
    await caps.install_shipped()
    async with sessions() as session:
        await session.execute(select(1))  # the session holds the (on SQLite: only) connection
        in_force = await asyncio.wait_for(caps.current(session), 10)
    assert in_force, "the shipped caps (Almaty's 100 KZT/kWh) are in force"
    async with sessions() as session:
        assert await session.scalar(select(func.count(PriceCapRecord.id))) == len(in_force)


async def test_reading_the_caps_before_they_are_installed_is_a_clear_error_not_a_wait(sessions):
    caps = CapService(sessions)
    async with sessions() as session:
        await session.execute(select(1))
        with pytest.raises(RuntimeError, match="install_shipped"):
            await asyncio.wait_for(caps.current(session), 10)
