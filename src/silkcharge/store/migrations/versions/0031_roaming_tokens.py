"""OCPI roaming tokens: the tokens eMSP partners push to us as a CPO, the transactions started
with them (whose token, which authorization), and when our own tokens last changed

Revision ID: 0031
Revises: 0029 (the roaming outbox on this branch; the merger re-chains after 0030)

Both new tables belong to the tenant of the partner (or of the transaction), with the same
row-level security as the tables of 0023 on PostgreSQL. `id_tokens.updated_at` is the OCPI
Token's last_updated of our own drivers' tokens; rows from before stay NULL (created_at stands in).
"""

from importlib import import_module

import sqlalchemy as sa
from alembic import op

revision = "0031"
down_revision = "0029"
branch_labels = None
depends_on = None

TIME = sa.DateTime(timezone=True)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
OWNED = ("roaming_tokens", "roaming_transactions")
tenants = import_module("silkcharge.store.migrations.versions.0023_tenants")


def _tenant() -> sa.Column:
    return sa.Column("tenant_id", sa.Integer, sa.ForeignKey("tenants.id", ondelete="RESTRICT"), nullable=False)


def upgrade() -> None:
    op.add_column("id_tokens", sa.Column("updated_at", TIME, nullable=True))
    op.create_table(
        "roaming_tokens",
        sa.Column("id", sa.Integer, primary_key=True),
        _tenant(),
        sa.Column("partner_id", sa.Integer, sa.ForeignKey("roaming_partners.id", ondelete="CASCADE"), nullable=False),
        sa.Column("country_code", sa.String(2), nullable=False),
        sa.Column("party_id", sa.String(3), nullable=False),
        sa.Column("uid", sa.String(36), nullable=False),
        sa.Column("uid_key", sa.String(36), nullable=False),
        sa.Column("type", sa.String(12), nullable=False),
        sa.Column("contract_id", sa.String(36), nullable=False),
        sa.Column("visual_number", sa.String(64), nullable=True),
        sa.Column("issuer", sa.String(64), nullable=False),
        sa.Column("group_id", sa.String(36), nullable=True),
        sa.Column("valid", sa.Boolean, nullable=False),
        sa.Column("whitelist", sa.String(16), nullable=False),
        sa.Column("language", sa.String(2), nullable=True),
        sa.Column("default_profile_type", sa.String(8), nullable=True),
        sa.Column("energy_contract", sa.JSON, nullable=True),
        sa.Column("last_updated", TIME, nullable=False),
        sa.Column("received_at", TIME, nullable=False),
        sa.UniqueConstraint("tenant_id", "country_code", "party_id", "uid_key", "type"),
    )
    op.create_index("ix_roaming_tokens_partner_id", "roaming_tokens", ["partner_id"])
    op.create_index("ix_roaming_tokens_uid_key", "roaming_tokens", ["uid_key"])
    op.create_table(
        "roaming_transactions",
        sa.Column("transaction_id", BIG_ID, sa.ForeignKey("transactions.id", ondelete="CASCADE"), primary_key=True,
                  autoincrement=False),
        _tenant(),
        sa.Column("partner_id", sa.Integer, sa.ForeignKey("roaming_partners.id", ondelete="SET NULL"), nullable=True),
        sa.Column("roaming_token_id", sa.Integer, sa.ForeignKey("roaming_tokens.id", ondelete="SET NULL"),
                  nullable=True),
        sa.Column("country_code", sa.String(2), nullable=False),
        sa.Column("party_id", sa.String(3), nullable=False),
        sa.Column("token_uid", sa.String(36), nullable=False),
        sa.Column("token_type", sa.String(12), nullable=False),
        sa.Column("contract_id", sa.String(36), nullable=False),
        sa.Column("authorization_reference", sa.String(36), nullable=True),
        sa.Column("decided_by", sa.String(12), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
    )
    op.create_index("ix_roaming_transactions_partner_id", "roaming_transactions", ["partner_id"])
    for table in OWNED:
        op.create_index(f"ix_{table}_tenant_id", table, ["tenant_id"])
        if op.get_bind().dialect.name == "postgresql":
            op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
            op.execute(f"CREATE POLICY {tenants.POLICY} ON {table} USING ({tenants.SCOPE}) WITH CHECK ({tenants.SCOPE})")


def downgrade() -> None:
    op.drop_table("roaming_transactions")
    op.drop_table("roaming_tokens")
    with op.batch_alter_table("id_tokens") as batch:
        batch.drop_column("updated_at")
