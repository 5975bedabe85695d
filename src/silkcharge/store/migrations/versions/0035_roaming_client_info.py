"""OCPI roaming hub client info: the connection status of parties as a partner (a hub) reports
them to us

Revision ID: 0035
Revises: 0034 (the pushed-objects marks; this branch first chained on 0033)

The table belongs to the tenant of the partner, with the same row-level security as the tables
of 0023 on PostgreSQL. `partner_id` names the roaming partner (0027) without a foreign key, as
0028 does, so this revision needs nothing of 0027 to apply.
"""

from importlib import import_module

import sqlalchemy as sa
from alembic import op

revision = "0035"
down_revision = "0034"
branch_labels = None
depends_on = None

TIME = sa.DateTime(timezone=True)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
tenants = import_module("silkcharge.store.migrations.versions.0023_tenants")


OWNED = ("roaming_client_info",)  # tenant-owned, with row-level security below (tests/security/test_tenant_matrix.py)


def upgrade() -> None:
    op.create_table(
        "roaming_client_info",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("tenant_id", sa.Integer, sa.ForeignKey("tenants.id", ondelete="RESTRICT"), nullable=False),
        sa.Column("partner_id", sa.Integer, nullable=False),
        sa.Column("country_code", sa.String(2), nullable=False),
        sa.Column("party_id", sa.String(3), nullable=False),
        sa.Column("role", sa.String(8), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("last_updated", TIME, nullable=False),
        sa.Column("received_at", TIME, nullable=False),
        sa.UniqueConstraint("partner_id", "country_code", "party_id"),
    )
    op.create_index("ix_roaming_client_info_partner_id", "roaming_client_info", ["partner_id"])
    op.create_index("ix_roaming_client_info_tenant_id", "roaming_client_info", ["tenant_id"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE roaming_client_info ENABLE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY {tenants.POLICY} ON roaming_client_info USING ({tenants.SCOPE}) "
                   f"WITH CHECK ({tenants.SCOPE})")


def downgrade() -> None:
    op.drop_table("roaming_client_info")
