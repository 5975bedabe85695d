"""For tests of one migration: the test's database taken back to the revision before it, with a
station stored there, and a plain engine to write the rows the migration will meet."""

from __future__ import annotations

from alembic import command
from sqlalchemy import Engine, create_engine, text

from silkcharge.store.db import alembic_config, sync_url


def downgraded_with_station(database_url: str, revision: str, station_id: str) -> Engine:
    command.downgrade(alembic_config(database_url), revision)
    engine = create_engine(sync_url(database_url))
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO stations (id, tenant_id, registration_status, online, created_at) "
                                "VALUES (:id, 1, 'Accepted', false, CURRENT_TIMESTAMP)"), {"id": station_id})
    return engine


def active_session(engine: Engine, station_id: str) -> int:
    """An active session of the station, with the columns every revision since 0037 has; its id."""
    with engine.begin() as connection:
        return connection.execute(text(
            "INSERT INTO transactions (station_id, station_tx_id, evse_id, connector_id, state, started_at, offline, "
            "updated_at, tenant_id) VALUES (:id, 'T', 1, 1, 'Active', CURRENT_TIMESTAMP, false, "
            "CURRENT_TIMESTAMP, 1) RETURNING id"), {"id": station_id}).scalar()
