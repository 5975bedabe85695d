"""Statements the hot path shares on whichever engine the store runs: INSERT ... ON CONFLICT DO
NOTHING, and membership in a list of values."""

from __future__ import annotations

import functools

from sqlalchemy import Table, any_, bindparam
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession


async def insert_ignoring_duplicates(session: AsyncSession, model, rows: list[dict]) -> int | None:
    """Insert the rows that are new. For a single row, returns how many were inserted (0 or 1);
    for several, the driver's count, which executemany may not report (None)."""
    if not rows:
        return 0
    statement = insert_ignoring(session.bind.dialect.name, model.__table__)
    if len(rows) == 1:
        result = await session.execute(statement, rows[0])
        return result.rowcount
    await session.execute(statement, rows)
    return None


@functools.cache
def insert_ignoring(dialect: str, table: Table):
    """Built once per table: building a statement costs more than SQLAlchemy's cached compile of
    it, on a path that runs for every batch. The table, not the ORM class: a Core executemany,
    without the ORM's bulk-insert work per row (a fifth of the gateway's time on MeterValues when
    it went through the ORM)."""
    builder = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return builder(table).on_conflict_do_nothing()


def one_of(session: AsyncSession, column, values):
    """`column IN (values)`, written on PostgreSQL as `column = ANY(:array)`: one statement text
    for any number of values. An IN list of a new length is a new statement to asyncpg, which
    prepares it again (a round-trip) and churns its statement cache; the bulk writers ask for
    a different number of stations in every batch."""
    values = list(values)
    if session.bind.dialect.name == "postgresql":
        return column == any_(bindparam(None, values, type_=ARRAY(column.type)))
    return column.in_(values)


def one_of_named(dialect: str, column, name: str):
    """`one_of` for a statement built once and run many times: the values are bound to the
    parameter `name` (a list) at each execution."""
    if dialect == "postgresql":
        return column == any_(bindparam(name, type_=ARRAY(column.type)))
    return column.in_(bindparam(name, expanding=True))
