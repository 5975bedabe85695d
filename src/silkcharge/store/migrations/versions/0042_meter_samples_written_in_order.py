"""A meter reading's insert touches the pages of its time, not one page per station

Revision ID: 0042
Revises: 0041

`meter_samples` takes four to eight rows for every meter message of every station, and it only
grows. Its unique key, which keeps a replayed reading from being stored twice, led with the
station, and so also served the station's foreign key (a deleted station's readings are found
through an index that leads with it). A batch of readings from two hundred stations therefore dirtied a leaf page of
each of them at two hundred places, and every commit wrote each such page out again (to the
write-ahead log on both engines). Measured with the gateway's own write on SQLite
(bench/sqlite_meter_write.py: 1.6 MeterValues of four readings, 60 messages a commit, fsync on),
the writing thread's CPU per message fell from 93 to 127 us (35 to 48 in the commit) to 65 to
91 (14 to 20 in the commit), on a table of 200,000 readings as on one of a million; with an
index on the station kept beside the new key, 79 to 106.

- The unique key holds the same columns, so the same readings count as one; only their order
  changes: the time leads, and new readings land together at the end of the index.
- The station is no longer a foreign key. A station's readings in a session went with its
  sessions (their foreign key cascades, served by `ix_meter_samples_transaction`) and still do;
  its readings outside any session are deleted with it by the API (`delete_station`), through
  the partial index `uq_meter_sample_outside_session`, which leads with the station. The
  message log's station column was never one, for the same reason.

SQLite cannot change a table's constraints in place: the table is rebuilt (its rows copied,
its indexes and its trigger made again), which on a large table takes a while, once. PostgreSQL
swaps the constraints in place, building the new unique index under the table's lock.
"""

import sqlalchemy as sa
from alembic import op

revision = "0042"
down_revision = "0041"
branch_labels = None
depends_on = None

BEFORE = "station_id, evse_id, transaction_id, timestamp, measurand, phase, location, context, value"
AFTER = "timestamp, station_id, evse_id, transaction_id, measurand, phase, location, context, value"
COLUMNS = ("id, station_id, evse_id, transaction_id, timestamp, measurand, phase, location, context, unit, "
           "value, tenant_id")

# SQLite's table as this revision finds it (columns, their types and the other keys unchanged here).
SQLITE_TABLE = """
    CREATE TABLE {name} (
        id INTEGER NOT NULL,
        station_id VARCHAR(48) NOT NULL,
        evse_id INTEGER NOT NULL,
        transaction_id INTEGER,
        timestamp DATETIME NOT NULL,
        measurand VARCHAR(48) NOT NULL,
        phase VARCHAR(8) NOT NULL,
        location VARCHAR(8) NOT NULL,
        context VARCHAR(24) NOT NULL,
        unit VARCHAR(16),
        value VARCHAR(40) NOT NULL,
        tenant_id INTEGER DEFAULT '1' NOT NULL,
        PRIMARY KEY (id),
        CONSTRAINT uq_meter_sample UNIQUE ({unique}),
        CONSTRAINT fk_meter_samples_tenant FOREIGN KEY(tenant_id) REFERENCES tenants (id) ON DELETE RESTRICT,
        FOREIGN KEY(transaction_id) REFERENCES transactions (id) ON DELETE CASCADE{station}
    )
"""
SQLITE_STATION_KEY = ",\n        FOREIGN KEY(station_id) REFERENCES stations (id) ON DELETE CASCADE"

# What dropping the old table drops with it, as 0037 and 0038 made them.
SQLITE_REMADE = (
    "CREATE INDEX ix_meter_samples_tenant_id ON meter_samples (tenant_id)",
    "CREATE INDEX ix_meter_samples_transaction ON meter_samples (transaction_id, id)",
    "CREATE UNIQUE INDEX uq_meter_sample_outside_session ON meter_samples "
    "(station_id, evse_id, timestamp, measurand, phase, location, context, value) WHERE transaction_id IS NULL",
    """CREATE TRIGGER meter_samples_priced_count AFTER INSERT ON meter_samples
        WHEN NEW.transaction_id IS NOT NULL AND NEW.phase = ''
            AND NEW.measurand IN ('Energy.Active.Import.Register', 'Power.Active.Import')
        BEGIN
            UPDATE transactions SET priced_readings = priced_readings + 1 WHERE id = NEW.transaction_id;
        END""",
)


def _sqlite_rebuild(unique: str, station_key: bool) -> None:
    """The table made again with another unique key (and with or without the station's foreign
    key), its rows and ids kept. The migration runs with foreign keys off (env.py)."""
    op.execute(SQLITE_TABLE.format(
        name="meter_samples_0042", unique=unique, station=SQLITE_STATION_KEY if station_key else ""))
    op.execute(f"INSERT INTO meter_samples_0042 ({COLUMNS}) SELECT {COLUMNS} FROM meter_samples")
    op.execute("DROP TABLE meter_samples")
    op.execute("ALTER TABLE meter_samples_0042 RENAME TO meter_samples")
    for statement in SQLITE_REMADE:
        op.execute(statement)


def _station_key_name() -> str | None:
    for key in sa.inspect(op.get_bind()).get_foreign_keys("meter_samples"):
        if key["referred_table"] == "stations":
            return key["name"]
    return None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        _sqlite_rebuild(AFTER, station_key=False)
        return
    name = _station_key_name()
    if name is not None:
        op.drop_constraint(name, "meter_samples", type_="foreignkey")
    op.drop_constraint("uq_meter_sample", "meter_samples", type_="unique")
    op.execute(f"ALTER TABLE meter_samples ADD CONSTRAINT uq_meter_sample UNIQUE ({AFTER})")


def downgrade() -> None:
    # Readings of stations deleted since would break the foreign key restored: they go.
    op.execute("DELETE FROM meter_samples WHERE station_id NOT IN (SELECT id FROM stations)")
    if op.get_bind().dialect.name != "postgresql":
        _sqlite_rebuild(BEFORE, station_key=True)
        return
    op.drop_constraint("uq_meter_sample", "meter_samples", type_="unique")
    op.execute(f"ALTER TABLE meter_samples ADD CONSTRAINT uq_meter_sample UNIQUE ({BEFORE})")
    op.create_foreign_key(
        "meter_samples_station_id_fkey", "meter_samples", "stations", ["station_id"], ["id"], ondelete="CASCADE")
