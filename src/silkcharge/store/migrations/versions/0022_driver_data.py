"""drivers' data: a deleted account's tombstone time, and the platform's own secrets (the key
of the pseudonyms shown instead of idTokens and emails)

Revision ID: 0022
Revises: 0021
"""

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("drivers") as batch:
        batch.add_column(sa.Column("deleted_at", TIME, nullable=True))
    op.create_table(
        "platform_secrets",
        sa.Column("name", sa.String(48), primary_key=True),
        sa.Column("value", sa.String(200), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("platform_secrets")
    with op.batch_alter_table("drivers") as batch:
        batch.drop_column("deleted_at")
