"""OCPI roaming commands: the commands we send partner CPOs for our drivers and those partner
eMSPs send us, each with its immediate response and its asynchronous result

Revision ID: 0033
Revises: 0032 (the roaming objects on this branch; the merger re-chains after the other roaming revisions)

The table belongs to the tenant of the partner, with the same row-level security as the tables
of 0023 on PostgreSQL. `partner_id` names the roaming partner (0027) without a foreign key, as
0028 does, so this revision needs nothing of 0027 to apply.
"""

from importlib import import_module

import sqlalchemy as sa
from alembic import op

revision = "0033"
down_revision = "0032"
branch_labels = None
depends_on = None

TIME = sa.DateTime(timezone=True)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
tenants = import_module("silkcharge.store.migrations.versions.0023_tenants")


OWNED = ("roaming_commands",)  # tenant-owned, with row-level security below (tests/security/test_tenant_matrix.py)

def upgrade() -> None:
    op.create_table(
        "roaming_commands",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("tenant_id", sa.Integer, sa.ForeignKey("tenants.id", ondelete="RESTRICT"), nullable=False),
        sa.Column("partner_id", sa.Integer, nullable=False),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("command", sa.String(20), nullable=False),
        sa.Column("uid", sa.String(36), nullable=False),
        sa.Column("request", sa.JSON, nullable=False),
        sa.Column("response_url", sa.String(255), nullable=True),
        sa.Column("station_id", sa.String(64), nullable=True),
        sa.Column("evse_id", sa.Integer, nullable=True),
        sa.Column("token_uid", sa.String(36), nullable=True),
        sa.Column("reservation_id", sa.String(36), nullable=True),
        sa.Column("local_reservation_id", sa.Integer, nullable=True),
        sa.Column("response", sa.String(16), nullable=True),
        sa.Column("response_message", sa.String(500), nullable=True),
        sa.Column("result", sa.String(24), nullable=True),
        sa.Column("result_message", sa.String(500), nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("result_at", TIME, nullable=True),
        sa.Column("delivered_at", TIME, nullable=True),
        sa.Column("delivery_error", sa.String(500), nullable=True),
        sa.UniqueConstraint("direction", "uid"),
    )
    op.create_index("ix_roaming_commands_partner_id", "roaming_commands", ["partner_id"])
    op.create_index("ix_roaming_commands_token_uid", "roaming_commands", ["token_uid"])
    op.create_index("ix_roaming_commands_tenant_id", "roaming_commands", ["tenant_id"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE roaming_commands ENABLE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY {tenants.POLICY} ON roaming_commands USING ({tenants.SCOPE}) "
                   f"WITH CHECK ({tenants.SCOPE})")


def downgrade() -> None:
    op.drop_table("roaming_commands")
