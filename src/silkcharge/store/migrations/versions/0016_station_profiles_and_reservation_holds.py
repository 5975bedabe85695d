"""station profiles; reservations carry a connector type and a group, and hold an EVSE only
while the station holds it (issue 13)

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "station_profiles",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("match", sa.JSON(), nullable=False),
        sa.Column("facts", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("sources", sa.JSON(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    with op.batch_alter_table("reservations") as table:
        table.add_column(sa.Column("connector_type", sa.String(20), nullable=True))
        table.add_column(sa.Column("group_id_token", sa.String(36), nullable=True))
    # A request in flight and a hold are two things now: a request may be sent while a stale
    # hold is stored (the station decides), so each gets its own one-per-EVSE index.
    op.drop_index("uq_reservations_one_holding_per_evse", table_name="reservations")
    for name, status in (("uq_reservations_one_request_per_evse", "Requested"),
                         ("uq_reservations_one_hold_per_evse", "Accepted")):
        where = sa.text(f"status = '{status}'")
        op.create_index(name, "reservations", ["station_id", "evse_id"], unique=True,
                        postgresql_where=where, sqlite_where=where)


def downgrade() -> None:
    op.drop_index("uq_reservations_one_hold_per_evse", table_name="reservations")
    op.drop_index("uq_reservations_one_request_per_evse", table_name="reservations")
    where = sa.text("status IN ('Requested', 'Accepted')")
    op.create_index("uq_reservations_one_holding_per_evse", "reservations", ["station_id", "evse_id"],
                    unique=True, postgresql_where=where, sqlite_where=where)
    with op.batch_alter_table("reservations") as table:
        table.drop_column("group_id_token")
        table.drop_column("connector_type")
    op.drop_table("station_profiles")
