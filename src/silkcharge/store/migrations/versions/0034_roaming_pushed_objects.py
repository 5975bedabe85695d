"""OCPI roaming: which version of each of our Locations and Tariffs each partner was sent, so a
change is pushed once and a partner registered later gets them all (roaming/object_push.py)

Revision ID: 0034
Revises: 0033

The table belongs to the tenant of the partner, with the same row-level security as the tables
of 0023 on PostgreSQL; `partner_id` names the roaming partner (0027) without a foreign key, as
0028 does.
"""

from importlib import import_module

import sqlalchemy as sa
from alembic import op

revision = "0034"
down_revision = "0033"
branch_labels = None
depends_on = None

TIME = sa.DateTime(timezone=True)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
tenants = import_module("silkcharge.store.migrations.versions.0023_tenants")

OWNED = ("roaming_pushed_objects",)  # tenant-owned, with row-level security below


def upgrade() -> None:
    op.create_table(
        "roaming_pushed_objects",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("tenant_id", sa.Integer, sa.ForeignKey("tenants.id", ondelete="RESTRICT"), nullable=False),
        sa.Column("partner_id", sa.Integer, nullable=False),
        sa.Column("module", sa.String(16), nullable=False),
        sa.Column("object_id", sa.String(36), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("seen_until", TIME, nullable=False),
        sa.Column("pushed_at", TIME, nullable=False),
        sa.UniqueConstraint("partner_id", "module", "object_id"),
    )
    op.create_index("ix_roaming_pushed_objects_tenant_id", "roaming_pushed_objects", ["tenant_id"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE roaming_pushed_objects ENABLE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY {tenants.POLICY} ON roaming_pushed_objects USING ({tenants.SCOPE}) "
                   f"WITH CHECK ({tenants.SCOPE})")


def downgrade() -> None:
    op.drop_table("roaming_pushed_objects")
