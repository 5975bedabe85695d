"""Alembic environment: migrations run on the blocking driver of the configured database."""

from __future__ import annotations

from alembic import context

from silkcharge.store.db import create_sync_engine_for
from silkcharge.store.schema import Base

config = context.config
url = config.get_main_option("sqlalchemy.url")
engine = create_sync_engine_for(url)

with engine.connect() as connection:
    if connection.dialect.name == "sqlite":
        # Batch mode rebuilds a table (copy, drop, rename); with foreign keys enforced, dropping
        # a table other rows reference fails on a database that holds data. Off for the
        # migration (the pragma only takes effect outside a transaction), checked after it.
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        connection.commit()
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
    if connection.dialect.name == "sqlite":
        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
        if broken:
            raise RuntimeError(f"the migration left rows whose references do not hold: {broken[:10]}")
engine.dispose()
