"""A replayed meter reading taken outside a session is stored once

Revision ID: 0038
Revises: 0037

`uq_meter_sample` makes a replayed MeterValues store nothing twice, but its key includes the
transaction, and two NULLs are never equal in a unique key (SQLite and PostgreSQL alike): the
readings of an EVSE with no session (1.6 MeterValues between sessions, 2.0.1 MeterValues)
were stored again each time a station sent them again. A second unique index covers those rows,
partial, so that nothing about the rows of a session changes: the inserts that ignore a
duplicate (`ON CONFLICT DO NOTHING` with no target, SQLite's as PostgreSQL's) ignore a duplicate
of either key. Duplicates stored before this revision are deleted first, the oldest row kept.
"""

import sqlalchemy as sa
from alembic import op

revision = "0038"
down_revision = "0037"
branch_labels = None
depends_on = None

KEY = ["station_id", "evse_id", "timestamp", "measurand", "phase", "location", "context", "value"]
OUTSIDE = "transaction_id IS NULL"


def upgrade() -> None:
    columns = ", ".join(KEY)
    op.execute(f"""
        DELETE FROM meter_samples WHERE {OUTSIDE} AND id NOT IN (
            SELECT min(id) FROM meter_samples WHERE {OUTSIDE} GROUP BY {columns})
    """)
    op.create_index(
        "uq_meter_sample_outside_session", "meter_samples", KEY, unique=True,
        sqlite_where=sa.text(OUTSIDE), postgresql_where=sa.text(OUTSIDE),
    )


def downgrade() -> None:
    op.drop_index("uq_meter_sample_outside_session", table_name="meter_samples")
