"""OCPI sessions and CDRs received from roaming partners (our eMSP role): the sessions of our
drivers at their stations, and their CDRs with the driver's charge in our currency

Revision ID: 0032
Revises: 0031

Both tables belong to the tenant of the partner that sent them, with the same row-level
security as the tables of 0023 on PostgreSQL, and go with the partner (ON DELETE CASCADE).
"""

from importlib import import_module

import sqlalchemy as sa
from alembic import op

revision = "0032"
down_revision = "0031"
branch_labels = None
depends_on = None

TIME = sa.DateTime(timezone=True)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
EXACT_DECIMAL = sa.Numeric(20, 6).with_variant(sa.String(40), "sqlite")
RATE = sa.Numeric(22, 12).with_variant(sa.String(40), "sqlite")
OWNED = ("roaming_sessions", "roaming_cdrs")
tenants = import_module("silkcharge.store.migrations.versions.0023_tenants")


def _common() -> list[sa.Column]:
    return [
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("tenant_id", sa.Integer, sa.ForeignKey("tenants.id", ondelete="RESTRICT"), nullable=False),
        sa.Column("partner_id", sa.Integer, sa.ForeignKey("roaming_partners.id", ondelete="CASCADE"), nullable=False),
        sa.Column("country_code", sa.String(2), nullable=False),
        sa.Column("party_id", sa.String(3), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "roaming_sessions",
        *_common(),
        sa.Column("session_id", sa.String(36), nullable=False),
        sa.Column("token_uid", sa.String(36), nullable=True),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("last_updated", TIME, nullable=False),
        sa.Column("body", sa.JSON, nullable=False),
        sa.Column("received_at", TIME, nullable=False),
        sa.UniqueConstraint("partner_id", "country_code", "party_id", "session_id"),
    )
    op.create_table(
        "roaming_cdrs",
        *_common(),
        sa.Column("cdr_id", sa.String(39), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("conflict", sa.Boolean, nullable=False),
        sa.Column("session_id", sa.String(36), nullable=True),
        sa.Column("token_uid", sa.String(36), nullable=True),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("total_excl_vat", EXACT_DECIMAL, nullable=False),
        sa.Column("total_incl_vat", EXACT_DECIMAL, nullable=True),
        sa.Column("driver_currency", sa.String(3), nullable=True),
        sa.Column("driver_excl_vat", EXACT_DECIMAL, nullable=True),
        sa.Column("driver_incl_vat", EXACT_DECIMAL, nullable=True),
        sa.Column("rate", RATE, nullable=True),
        sa.Column("rate_valid_on", sa.Date(), nullable=True),
        sa.Column("rate_source", sa.String(200), nullable=True),
        sa.Column("rate_inverted", sa.Boolean, nullable=True),
        sa.Column("charge_state", sa.String(12), nullable=False),
        sa.Column("hold_reason", sa.String(300), nullable=True),
        sa.Column("body", sa.JSON, nullable=False),
        sa.Column("received_at", TIME, nullable=False),
        sa.UniqueConstraint("partner_id", "country_code", "party_id", "cdr_id", "digest"),
    )
    for table in OWNED:
        op.create_index(f"ix_{table}_tenant_id", table, ["tenant_id"])
        op.create_index(f"ix_{table}_partner_id", table, ["partner_id"])
        op.create_index(f"ix_{table}_token_uid", table, ["token_uid"])
        if op.get_bind().dialect.name == "postgresql":
            op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
            op.execute(f"CREATE POLICY {tenants.POLICY} ON {table} USING ({tenants.SCOPE}) WITH CHECK ({tenants.SCOPE})")


def downgrade() -> None:
    op.drop_table("roaming_cdrs")
    op.drop_table("roaming_sessions")
