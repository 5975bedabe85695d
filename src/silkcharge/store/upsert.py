"""INSERT ... ON CONFLICT DO NOTHING on whichever engine the store runs."""

from __future__ import annotations

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


async def insert_ignoring_duplicates(session: AsyncSession, model, rows: list[dict]) -> int | None:
    """Insert the rows that are new. For a single row, returns how many were inserted (0 or 1);
    for several, the driver's count, which executemany may not report (None)."""
    if not rows:
        return 0
    dialect = session.bind.dialect.name
    builder = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = builder(model).on_conflict_do_nothing()
    if len(rows) == 1:
        result = await session.execute(statement.values(**rows[0]))
        return result.rowcount
    await session.execute(statement, rows)
    return None
