"""A transaction's count of the meter readings that price it (migration 0037), kept by the
database as readings are stored: what a running cost compares its kept timeline with, read from
the transaction's row instead of counted from every sample of the session."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from importlib import import_module

import pytest
from sqlalchemy import select

from silkcharge.domain.clock import utcnow
from silkcharge.services.billing import PRICED_MEASURANDS
from silkcharge.store.db import create_engine_for, dispose_engine, sessionmaker_for
from silkcharge.store.schema import MeterSample, Station, Transaction
from silkcharge.store.upsert import insert_ignoring_duplicates

migration = import_module("silkcharge.store.migrations.versions.0037_priced_readings_count")


@pytest.fixture
async def sessions(database_url):
    engine = create_engine_for(database_url, 2)
    yield sessionmaker_for(engine)
    await dispose_engine(engine)


def sample(tx: Transaction, at, measurand: str, value: str, phase: str = "") -> dict:
    return {"station_id": tx.station_id, "evse_id": 1, "transaction_id": tx.id, "timestamp": at,
            "measurand": measurand, "phase": phase, "location": "Outlet", "context": "Sample.Periodic",
            "unit": None, "value": Decimal(value)}


async def active_sessions(sessions, station_id: str, how_many: int, start) -> list[Transaction]:
    """A station with `how_many` transactions under way since `start`."""
    async with sessions.begin() as session:
        session.add(Station(id=station_id))
        await session.flush()
        made = [Transaction(station_id=station_id, station_tx_id=f"t{n}", evse_id=1, connector_id=1, started_at=start)
                for n in range(1, how_many + 1)]
        session.add_all(made)
    return made


async def count_of(sessions, transaction_id: int) -> int:
    async with sessions() as session:
        return await session.scalar(select(Transaction.priced_readings).where(Transaction.id == transaction_id))


def test_the_trigger_counts_the_measurands_billing_prices():
    assert migration.PRICED == "(" + ", ".join(f"'{m}'" for m in PRICED_MEASURANDS) + ")"


async def test_only_whole_meter_energy_and_power_readings_count_and_a_replayed_one_counts_once(sessions):
    start = utcnow()
    tx, other = await active_sessions(sessions, "PR-1", 2, start)
    assert await count_of(sessions, tx.id) == 0
    first = [
        sample(tx, start, "Energy.Active.Import.Register", "100"),
        sample(tx, start, "Power.Active.Import", "7200"),
        sample(tx, start, "Power.Active.Import", "2400", phase="L1"),  # a phase: not priced
        sample(tx, start, "Voltage", "230"),
        sample(other, start, "Energy.Active.Import.Register", "5"),
    ]
    async with sessions.begin() as session:
        await insert_ignoring_duplicates(session, MeterSample, first)
    assert await count_of(sessions, tx.id) == 2
    later = start + timedelta(minutes=1)
    async with sessions.begin() as session:  # the first message replayed, and a new one
        await insert_ignoring_duplicates(session, MeterSample, [
            *first, sample(tx, later, "Energy.Active.Import.Register", "220"),
        ])
    assert await count_of(sessions, tx.id) == 3
    assert await count_of(sessions, other.id) == 1
    async with sessions() as session:  # the count is the readings' count
        stored = await session.scalars(select(MeterSample).where(
            MeterSample.transaction_id == tx.id, MeterSample.measurand.in_(PRICED_MEASURANDS),
            MeterSample.phase == ""))
        assert len(stored.all()) == 3


async def test_a_rolled_back_reading_leaves_the_count_as_it_was(sessions):
    start = utcnow()
    (tx,) = await active_sessions(sessions, "PR-2", 1, start)
    with pytest.raises(RuntimeError):
        async with sessions.begin() as session:
            await insert_ignoring_duplicates(session, MeterSample, [
                sample(tx, start, "Energy.Active.Import.Register", "100")])
            raise RuntimeError("the batch failed after the reading was stored")
    assert await count_of(sessions, tx.id) == 0
