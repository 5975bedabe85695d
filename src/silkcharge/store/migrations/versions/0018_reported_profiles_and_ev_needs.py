"""smart charging: the charging profiles stations report (K09 ReportChargingProfiles), the
charging needs EVs send (K15-K17 NotifyEVChargingNeeds), kept across restarts, and which
stations sit behind a local controller (K03, K14)

Revision ID: 0018
Revises: 0017
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "reported_charging_profiles",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("station_id", sa.String(48), sa.ForeignKey("stations.id", ondelete="CASCADE"), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("evse_id", sa.Integer(), nullable=False),
        sa.Column("limit_source", sa.String(20), nullable=False),
        sa.Column("profiles", sa.JSON(), nullable=False),
        sa.Column("tbc", sa.Boolean(), nullable=False),
        sa.Column("reported_at", TIME, nullable=False),
    )
    op.create_index("ix_reported_charging_profiles_station_id", "reported_charging_profiles", ["station_id"])
    op.create_table(
        "ev_charging_needs",
        sa.Column("station_id", sa.String(48), sa.ForeignKey("stations.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("evse_id", sa.Integer(), primary_key=True),
        sa.Column("needs", sa.JSON(), nullable=False),
        sa.Column("max_schedule_tuples", sa.Integer(), nullable=True),
        sa.Column("received_at", TIME, nullable=False),
    )
    op.create_table(
        "local_controller_stations",
        sa.Column("station_id", sa.String(48), sa.ForeignKey("stations.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("controller_id", sa.String(48), sa.ForeignKey("stations.id", ondelete="CASCADE"),
                  nullable=False),
    )
    op.create_index("ix_local_controller_stations_controller_id", "local_controller_stations", ["controller_id"])


def downgrade() -> None:
    op.drop_index("ix_local_controller_stations_controller_id", table_name="local_controller_stations")
    op.drop_table("local_controller_stations")
    op.drop_table("ev_charging_needs")
    op.drop_index("ix_reported_charging_profiles_station_id", table_name="reported_charging_profiles")
    op.drop_table("reported_charging_profiles")
