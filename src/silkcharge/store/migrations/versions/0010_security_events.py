"""the security event list: station-reported events and the CSMS's security decisions (issue 13)

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "security_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column("station_id", sa.String(48), nullable=True),
        sa.Column("origin", sa.String(8), nullable=False),
        sa.Column("type", sa.String(50), nullable=False),
        sa.Column("reason", sa.String(500), nullable=True),
        sa.Column("tech_info", sa.String(255), nullable=True),
        sa.Column("source_address", sa.String(64), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_security_events_station", "security_events", ["station_id", "occurred_at"])
    op.create_index("ix_security_events_type", "security_events", ["type"])
    op.create_index("ix_security_events_occurred_at", "security_events", ["occurred_at"])


def downgrade() -> None:
    op.drop_table("security_events")
