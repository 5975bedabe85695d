"""OCPI roaming: the tenant's own OCPI identities and its roaming partners

Revision ID: 0027
Revises: 0026

Both tables belong to a tenant, with the same row-level security as the tables of 0023 on
PostgreSQL. A partner's token to us is kept as its SHA-256 only (unique: it names the partner
when it calls).
"""

from importlib import import_module

import sqlalchemy as sa
from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None

TIME = sa.DateTime(timezone=True)
OWNED = ("roaming_identities", "roaming_partners")
tenants = import_module("silkcharge.store.migrations.versions.0023_tenants")


def _tenant() -> sa.Column:
    return sa.Column("tenant_id", sa.Integer, sa.ForeignKey("tenants.id", ondelete="RESTRICT"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "roaming_identities",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _tenant(),
        sa.Column("country_code", sa.String(2), nullable=False),
        sa.Column("party_id", sa.String(3), nullable=False),
        sa.Column("role", sa.String(8), nullable=False),
        sa.Column("business_name", sa.String(100), nullable=False),
        sa.Column("website", sa.String(255), nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.UniqueConstraint("tenant_id", "country_code", "party_id", "role"),
    )
    op.create_table(
        "roaming_partners",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _tenant(),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("versions_url", sa.String(255), nullable=True),
        sa.Column("version", sa.String(8), nullable=True),
        sa.Column("endpoints", sa.JSON, nullable=True),
        sa.Column("roles", sa.JSON, nullable=True),
        sa.Column("token_to_us_digest", sa.String(64), nullable=True, unique=True),
        sa.Column("token_to_them", sa.String(64), nullable=True),
        sa.Column("last_push_at", TIME, nullable=True),
        sa.Column("last_pull_at", TIME, nullable=True),
        sa.Column("last_error", sa.String(500), nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
    )
    for table in OWNED:
        op.create_index(f"ix_{table}_tenant_id", table, ["tenant_id"])
        if op.get_bind().dialect.name == "postgresql":
            op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
            op.execute(f"CREATE POLICY {tenants.POLICY} ON {table} USING ({tenants.SCOPE}) WITH CHECK ({tenants.SCOPE})")


def downgrade() -> None:
    op.drop_table("roaming_partners")
    op.drop_table("roaming_identities")
