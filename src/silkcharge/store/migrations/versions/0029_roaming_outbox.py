"""OCPI roaming outbox: every push to a roaming partner, kept until the partner took it, and the
per-object sequence that keeps each object's changes in order

Revision ID: 0029
Revises: 0027 (roaming partners; the merger puts 0028, OCPI objects, in between)

Both tables belong to the tenant of the partner, with the same row-level security as the tables
of 0023 on PostgreSQL. A partner's pushes go with the partner (ON DELETE CASCADE).
"""

from importlib import import_module

import sqlalchemy as sa
from alembic import op

revision = "0029"
down_revision = "0027"
branch_labels = None
depends_on = None

TIME = sa.DateTime(timezone=True)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
OWNED = ("roaming_outbox", "roaming_outbox_sequences")
tenants = import_module("silkcharge.store.migrations.versions.0023_tenants")


def _tenant() -> sa.Column:
    return sa.Column("tenant_id", sa.Integer, sa.ForeignKey("tenants.id", ondelete="RESTRICT"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "roaming_outbox",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        _tenant(),
        sa.Column("partner_id", sa.Integer, sa.ForeignKey("roaming_partners.id", ondelete="CASCADE"), nullable=False),
        sa.Column("module", sa.String(16), nullable=False),
        sa.Column("object_key", sa.String(160), nullable=False),
        sa.Column("method", sa.String(8), nullable=False),
        sa.Column("path", sa.String(300), nullable=False),
        sa.Column("body", sa.JSON, nullable=True),
        sa.Column("sequence", sa.BigInteger, nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", TIME, nullable=False),
        sa.Column("locked_until", TIME, nullable=True),
        sa.Column("last_error", sa.String(500), nullable=True),
        sa.Column("sent_at", TIME, nullable=True),
        sa.UniqueConstraint("partner_id", "object_key", "sequence"),
    )
    op.create_index("ix_roaming_outbox_partner_id", "roaming_outbox", ["partner_id"])
    op.create_index("ix_roaming_outbox_due", "roaming_outbox", ["partner_id", "state", "next_attempt_at"])
    op.create_table(
        "roaming_outbox_sequences",
        _tenant(),
        sa.Column("partner_id", sa.Integer, sa.ForeignKey("roaming_partners.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("object_key", sa.String(160), primary_key=True),
        sa.Column("last", sa.BigInteger, nullable=False),
    )
    for table in OWNED:
        op.create_index(f"ix_{table}_tenant_id", table, ["tenant_id"])
        if op.get_bind().dialect.name == "postgresql":
            op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
            op.execute(f"CREATE POLICY {tenants.POLICY} ON {table} USING ({tenants.SCOPE}) WITH CHECK ({tenants.SCOPE})")


def downgrade() -> None:
    op.drop_table("roaming_outbox_sequences")
    op.drop_table("roaming_outbox")
