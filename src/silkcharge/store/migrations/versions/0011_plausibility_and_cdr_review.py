"""plausibility flags, CDRs held for review, transactions ended by an operator (issue 14)

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "plausibility_flags",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("station_id", sa.String(48), nullable=False),
        sa.Column("transaction_id", BIG_ID, sa.ForeignKey("transactions.id", ondelete="CASCADE"),
                  nullable=True),
        sa.Column("rule", sa.String(32), nullable=False),
        sa.Column("field", sa.String(64), nullable=False),
        sa.Column("value", sa.String(100), nullable=False),
        sa.Column("used", sa.String(100), nullable=True),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("message_id", sa.String(64), nullable=True),
        sa.Column("action", sa.String(48), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_plausibility_flags_station", "plausibility_flags", ["station_id", "at"])
    op.create_index("ix_plausibility_flags_transaction_id", "plausibility_flags", ["transaction_id"])
    op.create_index("ix_plausibility_flags_rule", "plausibility_flags", ["rule"])
    op.create_index("ix_plausibility_flags_at", "plausibility_flags", ["at"])
    op.create_table(
        "cdr_reviews",
        sa.Column("cdr_id", sa.String(36), sa.ForeignKey("cdrs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("held_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("note", sa.String(500), nullable=True),
        sa.Column("correction", sa.JSON(), nullable=True),
        sa.Column("held_totals", sa.JSON(), nullable=False),
    )
    op.create_index("ix_cdr_reviews_status", "cdr_reviews", ["status"])
    op.create_table(
        "transaction_endings",
        sa.Column("transaction_id", BIG_ID, sa.ForeignKey("transactions.id", ondelete="CASCADE"),
                  primary_key=True, autoincrement=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("transaction_endings")
    op.drop_table("cdr_reviews")
    op.drop_table("plausibility_flags")
