"""When each operator account last signed in, for the console's people page

Revision ID: 0025
Revises: 0024

One nullable column: accounts from before it show no last login until they sign in again.
"""

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("operator_accounts") as batch:
        batch.add_column(sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("operator_accounts") as batch:
        batch.drop_column("last_login_at")
