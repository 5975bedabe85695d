"""The Alembic migrations build exactly the schema the code declares, on both engines."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from silkcharge.store.db import sync_url
from silkcharge.store.schema import Base


def test_migrated_database_matches_the_models(database_url):
    engine = create_engine(sync_url(database_url))
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    # Column types are declared per engine in the migrations (exact decimals as text on SQLite),
    # so only structural differences count: tables, columns, indexes, constraints.
    structural = [d for d in differences if not (isinstance(d, list) and d and d[0][0] == "modify_type")]
    assert structural == []
