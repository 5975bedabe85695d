"""The store's column types: what they write and what they give back."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, select, text
from sqlalchemy.dialects.sqlite.base import DATETIME
from sqlalchemy.exc import StatementError

from silkcharge.store.db import create_engine_for
from silkcharge.store.types import UtcDateTime

_metadata = MetaData()
_times = Table("times", _metadata, Column("id", Integer, primary_key=True), Column("at", UtcDateTime))

ALMATY = timezone(timedelta(hours=5))


@pytest.fixture
async def engine(tmp_path):
    engine = create_engine_for(f"sqlite+aiosqlite:///{tmp_path / 'types.sqlite3'}")
    async with engine.begin() as connection:
        await connection.run_sync(_metadata.create_all)
    yield engine
    await engine.dispose()


@pytest.mark.parametrize("at", [
    datetime(2026, 12, 5, 9, 1, 2, tzinfo=timezone.utc),
    datetime(2026, 12, 5, 9, 1, 2, 345678, tzinfo=timezone.utc),
    datetime(999, 1, 2, 3, 4, 5, 6, tzinfo=timezone.utc),
    datetime(2026, 12, 5, 14, 1, 2, 500, tzinfo=ALMATY),
])
async def test_sqlite_stores_utc_text_in_sqlalchemys_datetime_format_and_reads_it_back_aware(engine, at):
    async with engine.begin() as connection:
        await connection.execute(_times.insert(), [{"id": 1, "at": at}])
        stored = (await connection.execute(text("SELECT at FROM times"))).scalar_one()
        read = (await connection.execute(select(_times.c.at))).scalar_one()
    # The text SQLAlchemy's own SQLite DATETIME writes for the same instant in UTC: rows written
    # before and after agree, and compare as text in SQL.
    expected = DATETIME().bind_processor(engine.dialect)(at.astimezone(timezone.utc).replace(tzinfo=None))
    assert stored == expected
    assert read == at and read.tzinfo is timezone.utc


async def test_sqlite_orders_times_given_in_other_offsets_as_instants(engine):
    early = datetime(2026, 12, 5, 13, 0, tzinfo=ALMATY)  # 08:00 UTC
    late = datetime(2026, 12, 5, 9, 0, tzinfo=timezone.utc)
    async with engine.begin() as connection:
        await connection.execute(_times.insert(), [{"id": 1, "at": late}, {"id": 2, "at": early}])
        before_nine = (await connection.execute(
            select(_times.c.id).where(_times.c.at < datetime(2026, 12, 5, 8, 30, tzinfo=timezone.utc))
        )).scalars().all()
    assert before_nine == [2]


async def test_a_naive_time_is_refused_by_the_store(engine):
    async with engine.begin() as connection:
        with pytest.raises(StatementError, match="naive datetime"):
            await connection.execute(_times.insert(), [{"id": 1, "at": datetime(2026, 12, 5, 9, 0)}])


async def test_an_instant_bound_again_in_another_zone_is_stored_as_the_same_utc_text_and_a_naive_twin_is_refused(
    engine
):
    # The bind keeps the text of the datetime it bound last; what it keeps must not change what is
    # stored: the same object twice in a row, then the same instant as another object in another zone.
    utc = datetime(2026, 12, 5, 9, 1, 2, 345678, tzinfo=timezone.utc)
    almaty = utc.astimezone(ALMATY)
    async with engine.begin() as connection:
        await connection.execute(_times.insert(), [
            {"id": 1, "at": utc}, {"id": 2, "at": utc}, {"id": 3, "at": almaty}, {"id": 4, "at": almaty}])
        stored = (await connection.execute(text("SELECT at FROM times ORDER BY id"))).scalars().all()
        assert stored == ["2026-12-05 09:01:02.345678"] * 4
        # the same wall time without a zone is no instant: refused right after its aware twin
        await connection.execute(_times.insert(), [{"id": 5, "at": utc}])
        with pytest.raises(StatementError, match="naive datetime"):
            await connection.execute(_times.insert(), [{"id": 6, "at": utc.replace(tzinfo=None)}])
