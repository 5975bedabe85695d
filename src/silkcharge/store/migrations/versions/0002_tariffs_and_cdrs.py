"""tariffs and charge detail records; site tags and driver categories

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

EXACT_DECIMAL = sa.Numeric(20, 6).with_variant(sa.String(40), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("sites") as batch:
        batch.add_column(sa.Column("tags", sa.JSON(), nullable=True))
    with op.batch_alter_table("id_tokens") as batch:
        batch.add_column(sa.Column("category", sa.String(32), nullable=True))
    op.create_table(
        "tariffs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code", sa.String(36), nullable=False, unique=True),
        sa.Column("operator_id", sa.Integer(), sa.ForeignKey("operators.id", ondelete="CASCADE"),
                  nullable=False, index=True),
        sa.Column("site_id", sa.Integer(), sa.ForeignKey("sites.id", ondelete="CASCADE"),
                  nullable=True, index=True),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "cdrs",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("transaction_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  sa.ForeignKey("transactions.id", ondelete="CASCADE"), nullable=False, unique=True),
        sa.Column("tariff_code", sa.String(36), nullable=True),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("total_excl_vat", EXACT_DECIMAL, nullable=False),
        sa.Column("total_incl_vat", EXACT_DECIMAL, nullable=False),
        sa.Column("capped", sa.Boolean(), nullable=False),
        sa.Column("cap", sa.JSON(), nullable=True),
        sa.Column("flags", sa.JSON(), nullable=True),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("receipts", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("cdrs")
    op.drop_table("tariffs")
    with op.batch_alter_table("id_tokens") as batch:
        batch.drop_column("category")
    with op.batch_alter_table("sites") as batch:
        batch.drop_column("tags")
