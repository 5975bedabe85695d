"""analytics roll-ups: per station and UTC day totals, the days rolled up, and the indexes that
find what changed after (issue 14)

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

TIME = sa.DateTime(timezone=True)
EXACT_DECIMAL = sa.Numeric(20, 6).with_variant(sa.String(40), "sqlite")


def upgrade() -> None:
    op.create_table(
        "analytics_station_days",
        sa.Column("station_id", sa.String(48), sa.ForeignKey("stations.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("sessions", sa.Integer(), nullable=False),
        sa.Column("energy_wh", EXACT_DECIMAL, nullable=False),
        sa.Column("short_sessions", sa.Integer(), nullable=False),
        sa.Column("refused", sa.Integer(), nullable=False),
        sa.Column("revenue", sa.JSON(), nullable=False),
        sa.Column("occupied", sa.JSON(), nullable=False),
        sa.Column("present_us", sa.BigInteger(), nullable=False),
        sa.Column("faulted_us", sa.BigInteger(), nullable=False),
        sa.Column("available_us", sa.BigInteger(), nullable=False),
        sa.Column("connector_faulted", sa.JSON(), nullable=False),
        sa.Column("down_periods", sa.Integer(), nullable=False),
        sa.Column("absent_at_start", sa.Boolean(), nullable=False),
        sa.Column("absent_at_end", sa.Boolean(), nullable=False),
        sa.Column("statuses", sa.JSON(), nullable=False),
    )
    op.create_index("ix_analytics_station_days_day", "analytics_station_days", ["day"])
    op.create_table(
        "analytics_days",
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("rolled_at", TIME, nullable=False),
        sa.Column("checked_until", TIME, nullable=False),
    )
    op.create_index("ix_transactions_updated_at", "transactions", ["updated_at"])
    op.create_index("ix_transactions_state", "transactions", ["state"])
    op.create_index("ix_cdrs_created_at", "cdrs", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_cdrs_created_at", table_name="cdrs")
    op.drop_index("ix_transactions_state", table_name="transactions")
    op.drop_index("ix_transactions_updated_at", table_name="transactions")
    op.drop_table("analytics_days")
    op.drop_table("analytics_station_days")
