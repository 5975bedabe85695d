"""depot V2G: a depot vehicle's opt-in to discharging (OCPP 2.1 bidirectional), how fast it
discharges and the state of charge it keeps while parked

Revision ID: 0020
Revises: 0019
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

EXACT_DECIMAL = sa.Numeric(20, 6).with_variant(sa.String(40), "sqlite")  # as in 0004


def upgrade() -> None:
    with op.batch_alter_table("depot_vehicles") as batch:
        batch.add_column(sa.Column("v2g", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("max_discharge_kw", EXACT_DECIMAL, nullable=True))
        batch.add_column(sa.Column("min_soc", EXACT_DECIMAL, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("depot_vehicles") as batch:
        batch.drop_column("min_soc")
        batch.drop_column("max_discharge_kw")
        batch.drop_column("v2g")
