"""Migration 0039: PostgreSQL counts a statement's priced readings once per statement. A count
kept by 0037's row trigger goes on from where it was, in both directions of the migration."""

from __future__ import annotations

from alembic import command
from sqlalchemy import text

from silkcharge.store.db import alembic_config, migrate
from tests.store.downgraded import active_session, downgraded_with_station

READING = (
    "INSERT INTO meter_samples (station_id, evse_id, transaction_id, timestamp, measurand, phase, location, "
    "context, unit, value, tenant_id) VALUES ('MIG-2', 1, :tx, :at, :measurand, '', '', '', 'Wh', :value, 1) "
    "ON CONFLICT DO NOTHING"
)


def store(engine, tx: int, minute: int, *measurands: str) -> None:
    with engine.begin() as connection:
        for n, measurand in enumerate(measurands):
            connection.execute(text(READING), {"tx": tx, "at": f"2026-12-06 01:{minute:02d}:00+00",
                                               "measurand": measurand, "value": 100 * minute + n})


def counted(engine, tx: int) -> int:
    with engine.begin() as connection:
        return connection.execute(text("SELECT priced_readings FROM transactions WHERE id = :tx"), {"tx": tx}).scalar()


def test_the_count_goes_on_across_the_migration_up_and_down(database_url):
    engine = downgraded_with_station(database_url, "0038", "MIG-2")
    tx = active_session(engine, "MIG-2")
    store(engine, tx, 1, "Energy.Active.Import.Register", "Voltage")
    assert counted(engine, tx) == 1
    migrate(database_url)
    store(engine, tx, 2, "Energy.Active.Import.Register", "Power.Active.Import")
    store(engine, tx, 2, "Energy.Active.Import.Register")  # sent again: ignored, not counted
    assert counted(engine, tx) == 3
    command.downgrade(alembic_config(database_url), "0038")
    store(engine, tx, 3, "Power.Active.Import", "Current.Import")
    assert counted(engine, tx) == 4
    engine.dispose()
