"""driver account recovery: password-reset links and limits on login attempts (issue 6)

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "driver_password_resets",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("driver_id", sa.Integer(), sa.ForeignKey("drivers.id", ondelete="CASCADE"),
                  nullable=False, index=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "auth_attempts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_auth_attempts_scope_key_at", "auth_attempts", ["scope", "key_hash", "at"])
    op.create_index("ix_auth_attempts_at", "auth_attempts", ["at"])


def downgrade() -> None:
    op.drop_index("ix_auth_attempts_at", table_name="auth_attempts")
    op.drop_index("ix_auth_attempts_scope_key_at", table_name="auth_attempts")
    op.drop_table("auth_attempts")
    op.drop_table("driver_password_resets")
