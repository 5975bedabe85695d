"""OCPI roaming charging profiles: the profile requests we send partner CPOs for our drivers'
sessions and those partner eMSPs send us for sessions at our chargers, each with its immediate
response and its asynchronous result; and the latest ActiveChargingProfile a CPO pushed us per
session

Revision ID: 0036
Revises: 0035 (the hub client info; this branch first chained on 0033)

Both tables belong to the tenant of the partner, with the same row-level security as the
tables of 0023 on PostgreSQL. `partner_id` names the roaming partner (0027) without a foreign
key, as 0028 and 0033 do.
"""

from importlib import import_module

import sqlalchemy as sa
from alembic import op

revision = "0036"
down_revision = "0035"
branch_labels = None
depends_on = None

TIME = sa.DateTime(timezone=True)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
tenants = import_module("silkcharge.store.migrations.versions.0023_tenants")


OWNED = ("roaming_charging_profiles", "roaming_active_profiles")
"""Tenant-owned, with row-level security below (tests/security/test_tenant_matrix.py)."""


def upgrade() -> None:
    op.create_table(
        "roaming_charging_profiles",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("tenant_id", sa.Integer, sa.ForeignKey("tenants.id", ondelete="RESTRICT"), nullable=False),
        sa.Column("partner_id", sa.Integer, nullable=False),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("uid", sa.String(36), nullable=False),
        sa.Column("session_id", sa.String(36), nullable=False),
        sa.Column("request", sa.JSON, nullable=False),
        sa.Column("response_url", sa.String(255), nullable=True),
        sa.Column("station_id", sa.String(64), nullable=True),
        sa.Column("evse_id", sa.Integer, nullable=True),
        sa.Column("response", sa.String(16), nullable=True),
        sa.Column("response_message", sa.String(500), nullable=True),
        sa.Column("timeout", sa.Integer, nullable=True),
        sa.Column("result", sa.String(16), nullable=True),
        sa.Column("result_message", sa.String(500), nullable=True),
        sa.Column("profile", sa.JSON, nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("result_at", TIME, nullable=True),
        sa.Column("delivered_at", TIME, nullable=True),
        sa.Column("delivery_error", sa.String(500), nullable=True),
        sa.UniqueConstraint("direction", "uid"),
    )
    op.create_index("ix_roaming_charging_profiles_partner_id", "roaming_charging_profiles", ["partner_id"])
    op.create_index("ix_roaming_charging_profiles_session_id", "roaming_charging_profiles", ["session_id"])
    op.create_index("ix_roaming_charging_profiles_tenant_id", "roaming_charging_profiles", ["tenant_id"])
    op.create_table(
        "roaming_active_profiles",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("tenant_id", sa.Integer, sa.ForeignKey("tenants.id", ondelete="RESTRICT"), nullable=False),
        sa.Column("partner_id", sa.Integer, nullable=False),
        sa.Column("session_id", sa.String(36), nullable=False),
        sa.Column("profile", sa.JSON, nullable=False),
        sa.Column("received_at", TIME, nullable=False),
        sa.UniqueConstraint("partner_id", "session_id"),
    )
    op.create_index("ix_roaming_active_profiles_tenant_id", "roaming_active_profiles", ["tenant_id"])
    if op.get_bind().dialect.name == "postgresql":
        for table in OWNED:
            op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
            op.execute(f"CREATE POLICY {tenants.POLICY} ON {table} USING ({tenants.SCOPE}) "
                       f"WITH CHECK ({tenants.SCOPE})")


def downgrade() -> None:
    op.drop_table("roaming_active_profiles")
    op.drop_table("roaming_charging_profiles")
