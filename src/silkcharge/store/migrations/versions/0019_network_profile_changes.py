"""network profile changes: each SetNetworkProfile an operator sent (B09) and each move of a
station to another CSMS (B10), with the station's answers

Revision ID: 0019
Revises: 0018
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

TIME = sa.DateTime(timezone=True)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "network_profile_changes",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("station_id", sa.String(48), sa.ForeignKey("stations.id", ondelete="CASCADE"), nullable=False),
        sa.Column("action", sa.String(24), nullable=False),
        sa.Column("configuration_slot", sa.Integer(), nullable=False),
        sa.Column("connection_data", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(24), nullable=True),
        sa.Column("steps", sa.JSON(), nullable=False),
        sa.Column("reason", sa.String(500), nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
    )
    op.create_index("ix_network_profile_changes_station", "network_profile_changes", ["station_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_network_profile_changes_station", table_name="network_profile_changes")
    op.drop_table("network_profile_changes")
