"""Migration 0042: the meter readings' unique key leads with their time and the station is no
longer a foreign key. Every reading stays with its id, a reading sent again is still ignored
(in a session and outside one), the priced readings are still counted, and the migration goes
back down with the station's key restored."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect, text

from silkcharge.store.db import alembic_config, migrate
from tests.store.downgraded import active_session, downgraded_with_station

READING = (
    "INSERT INTO meter_samples (station_id, evse_id, transaction_id, timestamp, measurand, phase, location, "
    "context, unit, value, tenant_id) VALUES ('MIG-3', 1, :tx, :at, :measurand, '', '', '', 'Wh', :value, 1) "
    "ON CONFLICT DO NOTHING"
)


def store(engine, tx: int | None, minute: int, measurand: str, value: int) -> None:
    with engine.begin() as connection:
        connection.execute(text(READING), {
            "tx": tx, "at": f"2026-12-06 01:{minute:02d}:00+00", "measurand": measurand, "value": value})


def readings(engine) -> list[tuple]:
    with engine.begin() as connection:
        return [tuple(row) for row in connection.execute(text(
            "SELECT id, transaction_id, measurand, value FROM meter_samples ORDER BY id"))]


def keys(engine) -> tuple[list[str], list[str]]:
    """The unique key's columns and the tables the foreign keys point to."""
    found = inspect(engine)
    (unique,) = [u["column_names"] for u in found.get_unique_constraints("meter_samples")
                 if u["name"] == "uq_meter_sample"]
    return unique, sorted(k["referred_table"] for k in found.get_foreign_keys("meter_samples"))


OLD_KEYS = (["station_id", "evse_id", "transaction_id", "timestamp", "measurand", "phase", "location", "context",
             "value"], ["stations", "tenants", "transactions"])


def test_readings_and_their_duplicates_count_the_same_across_the_migration_up_and_down(database_url):
    engine = downgraded_with_station(database_url, "0041", "MIG-3")
    tx = active_session(engine, "MIG-3")
    store(engine, tx, 1, "Energy.Active.Import.Register", 1000)
    store(engine, None, 1, "Energy.Active.Import.Register", 500)
    before = readings(engine)
    assert keys(engine) == OLD_KEYS

    migrate(database_url)
    assert keys(engine) == (["timestamp", "station_id", "evse_id", "transaction_id", "measurand", "phase",
                             "location", "context", "value"], ["tenants", "transactions"])
    assert readings(engine) == before
    store(engine, tx, 1, "Energy.Active.Import.Register", 1000)  # sent again, in a session
    store(engine, None, 1, "Energy.Active.Import.Register", 500)  # and outside one
    store(engine, tx, 2, "Power.Active.Import", 7000)
    after = readings(engine)
    assert after[:2] == before and [(tx, "Power.Active.Import")] == [row[1:3] for row in after[2:]]
    with engine.begin() as connection:
        counted = connection.execute(text("SELECT priced_readings FROM transactions WHERE id = :tx"), {"tx": tx})
        assert counted.scalar() == 2, "the trigger made again still counts a session's priced readings"

    command.downgrade(alembic_config(database_url), "0041")
    assert keys(engine) == OLD_KEYS
    assert readings(engine) == after
    engine.dispose()
