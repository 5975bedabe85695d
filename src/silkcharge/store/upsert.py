"""INSERT ... ON CONFLICT DO NOTHING on whichever engine the store runs."""

from __future__ import annotations

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


async def insert_ignoring_duplicates(session: AsyncSession, model, rows: list[dict]) -> None:
    if not rows:
        return
    dialect = session.bind.dialect.name
    builder = postgresql.insert if dialect == "postgresql" else sqlite.insert
    await session.execute(builder(model).on_conflict_do_nothing(), rows)
