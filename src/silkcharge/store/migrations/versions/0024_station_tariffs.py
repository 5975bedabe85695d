"""OCPP 2.1 local cost and ad-hoc payment: tariffs sent to stations, the costs stations
calculate, and bank card settlements at the charger with their receipts

Revision ID: 0024
Revises: 0023

The three tables belong to the station's operator's tenant, with the same row-level security
as the tables of 0023 on PostgreSQL.
"""

from importlib import import_module

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

TIME = sa.DateTime(timezone=True)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
EXACT_DECIMAL = sa.Numeric(20, 6).with_variant(sa.String(40), "sqlite")
OWNED = ("station_tariffs", "station_costs", "card_settlements")
tenants = import_module("silkcharge.store.migrations.versions.0023_tenants")


def _tenant() -> sa.Column:
    return sa.Column("tenant_id", sa.Integer, sa.ForeignKey("tenants.id", ondelete="RESTRICT"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "station_tariffs",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        _tenant(),
        sa.Column("station_id", sa.String(48), sa.ForeignKey("stations.id", ondelete="CASCADE"), nullable=False),
        sa.Column("evse_id", sa.Integer, nullable=False),
        sa.Column("tariff_code", sa.String(36), nullable=False),
        sa.Column("transaction_id", BIG_ID, sa.ForeignKey("transactions.id", ondelete="CASCADE"), nullable=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("reason", sa.String(500), nullable=True),
        sa.Column("sent_at", TIME, nullable=False),
        sa.Column("cleared_at", TIME, nullable=True),
    )
    op.create_index("ix_station_tariffs_station_id", "station_tariffs", ["station_id"])
    op.create_table(
        "station_costs",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        _tenant(),
        sa.Column("transaction_id", BIG_ID, sa.ForeignKey("transactions.id", ondelete="CASCADE"), nullable=False),
        sa.Column("event", sa.String(8), nullable=False),
        sa.Column("reported_at", TIME, nullable=False),
        sa.Column("currency", sa.String(3), nullable=True),
        sa.Column("total_excl_vat", EXACT_DECIMAL, nullable=True),
        sa.Column("total_incl_vat", EXACT_DECIMAL, nullable=True),
        sa.Column("type_of_cost", sa.String(16), nullable=True),
        sa.Column("tariff_id", sa.String(60), nullable=True),
        sa.Column("energy_wh", EXACT_DECIMAL, nullable=True),
        sa.Column("charging_seconds", sa.Integer, nullable=True),
        sa.Column("idle_seconds", sa.Integer, nullable=True),
        sa.Column("failure_reason", sa.String(500), nullable=True),
        sa.Column("received_at", TIME, nullable=False),
    )
    op.create_index("ix_station_costs_transaction_id", "station_costs", ["transaction_id"])
    op.create_table(
        "card_settlements",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        _tenant(),
        sa.Column("station_id", sa.String(48), sa.ForeignKey("stations.id", ondelete="CASCADE"), nullable=False),
        sa.Column("transaction_id", BIG_ID, sa.ForeignKey("transactions.id", ondelete="SET NULL"), nullable=True),
        sa.Column("psp_ref", sa.String(255), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("amount", EXACT_DECIMAL, nullable=False),
        sa.Column("currency", sa.String(3), nullable=True),
        sa.Column("settled_at", TIME, nullable=False),
        sa.Column("status_info", sa.String(500), nullable=True),
        sa.Column("vat_number", sa.String(20), nullable=True),
        sa.Column("vat_company", sa.JSON, nullable=True),
        sa.Column("receipt_id", sa.String(50), nullable=True, unique=True),
        sa.Column("terminal_receipt_url", sa.String(2000), nullable=True),
        sa.Column("received_at", TIME, nullable=False),
        sa.UniqueConstraint("station_id", "psp_ref", "status", "settled_at"),
    )
    op.create_index("ix_card_settlements_station_id", "card_settlements", ["station_id"])
    op.create_index("ix_card_settlements_transaction_id", "card_settlements", ["transaction_id"])
    for table in OWNED:
        op.create_index(f"ix_{table}_tenant_id", table, ["tenant_id"])
        if op.get_bind().dialect.name == "postgresql":
            op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
            op.execute(f"CREATE POLICY {tenants.POLICY} ON {table} USING ({tenants.SCOPE}) WITH CHECK ({tenants.SCOPE})")


def downgrade() -> None:
    op.drop_table("card_settlements")
    op.drop_table("station_costs")
    op.drop_table("station_tariffs")
