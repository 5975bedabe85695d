"""Alembic environment: migrations run on the blocking driver of the configured database."""

from __future__ import annotations

from alembic import context

from silkcharge.store.db import create_sync_engine_for
from silkcharge.store.schema import Base

config = context.config
url = config.get_main_option("sqlalchemy.url")
engine = create_sync_engine_for(url)

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
