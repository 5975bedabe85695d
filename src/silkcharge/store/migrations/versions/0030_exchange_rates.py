"""Exchange rates an operator enters, to bill a roaming driver in their own currency

Revision ID: 0030
Revises: 0026

One row per tenant, currency pair and day (domain/exchange.py says how a rate is chosen and
applied). The table belongs to a tenant, with the same row-level security as the tables of
0023 on PostgreSQL.
"""

from importlib import import_module

import sqlalchemy as sa
from alembic import op

revision = "0030"
down_revision = "0026"
branch_labels = None
depends_on = None

TIME = sa.DateTime(timezone=True)
# An exchange rate: NUMERIC(22, 12) on PostgreSQL, text on SQLite (silkcharge.store.types.ExactRate).
OWNED = ("exchange_rates",)
RATE = sa.Numeric(22, 12).with_variant(sa.String(40), "sqlite")
tenants = import_module("silkcharge.store.migrations.versions.0023_tenants")


def upgrade() -> None:
    op.create_table(
        "exchange_rates",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("tenant_id", sa.Integer, sa.ForeignKey("tenants.id", ondelete="RESTRICT"), nullable=False),
        sa.Column("from_currency", sa.String(3), nullable=False),
        sa.Column("to_currency", sa.String(3), nullable=False),
        sa.Column("rate", RATE, nullable=False),
        sa.Column("valid_on", sa.Date(), nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("inverse_allowed", sa.Boolean, nullable=False),
        sa.Column("entered_by", sa.String(200), nullable=False),
        sa.Column("entered_at", TIME, nullable=False),
        sa.UniqueConstraint("tenant_id", "from_currency", "to_currency", "valid_on", name="uq_exchange_rate_day"),
    )
    for table in OWNED:
        op.create_index(f"ix_{table}_tenant_id", table, ["tenant_id"])
        if op.get_bind().dialect.name == "postgresql":
            op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
            op.execute(f"CREATE POLICY {tenants.POLICY} ON {table} USING ({tenants.SCOPE}) WITH CHECK ({tenants.SCOPE})")


def downgrade() -> None:
    op.drop_table("exchange_rates")
