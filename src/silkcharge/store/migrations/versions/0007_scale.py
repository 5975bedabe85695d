"""scale-out: the socket that owns a station's presence; message log retention index (issue 8)

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_ocpp_messages_at", "ocpp_messages", ["at"])
    with op.batch_alter_table("stations") as batch:
        batch.add_column(sa.Column("connection_id", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("stations") as batch:
        batch.drop_column("connection_id")
    op.drop_index("ix_ocpp_messages_at", table_name="ocpp_messages")
