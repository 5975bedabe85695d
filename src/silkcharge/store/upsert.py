"""Statements the hot path shares on whichever engine the store runs: INSERT ... ON CONFLICT DO
NOTHING, and membership in a list of values."""

from __future__ import annotations

from sqlalchemy import any_, bindparam
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession


async def insert_ignoring_duplicates(session: AsyncSession, model, rows: list[dict]) -> int | None:
    """Insert the rows that are new. For a single row, returns how many were inserted (0 or 1);
    for several, the driver's count, which executemany may not report (None)."""
    if not rows:
        return 0
    dialect = session.bind.dialect.name
    builder = postgresql.insert if dialect == "postgresql" else sqlite.insert
    # The table, not the ORM class: a Core executemany, without the ORM's bulk-insert work per row
    # (a fifth of the gateway's time on MeterValues when it went through the ORM).
    statement = builder(model.__table__).on_conflict_do_nothing()
    if len(rows) == 1:
        result = await session.execute(statement.values(**rows[0]))
        return result.rowcount
    await session.execute(statement, rows)
    return None


def one_of(session: AsyncSession, column, values):
    """`column IN (values)`, written on PostgreSQL as `column = ANY(:array)`: one statement text
    for any number of values. An IN list of a new length is a new statement to asyncpg, which
    prepares it again (a round-trip) and churns its statement cache; the bulk writers ask for
    a different number of stations in every batch."""
    values = list(values)
    if session.bind.dialect.name == "postgresql":
        return column == any_(bindparam(None, values, type_=ARRAY(column.type)))
    return column.in_(values)
