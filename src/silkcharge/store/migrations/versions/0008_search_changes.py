"""change times on sites and connectors, for incremental availability search (issue 3)

Existing rows get a fixed time long past: availability search loads everything at start, so a
row's change time only has to be correct from then on.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

TABLES = ("sites", "connectors")
LONG_AGO = "2000-01-01 00:00:00"


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in TABLES:
        # SQLite adds a NOT NULL column only with a constant default; PostgreSQL then drops it,
        # since the application always sets the time.
        op.add_column(table, sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False,
            server_default=sa.text(f"'{LONG_AGO}+00'" if postgres else f"'{LONG_AGO}'"),
        ))
        if postgres:
            op.alter_column(table, "updated_at", server_default=None)
        op.create_index(f"ix_{table}_updated_at", table, ["updated_at"])


def downgrade() -> None:
    for table in TABLES:
        op.drop_index(f"ix_{table}_updated_at", table_name=table)
        op.drop_column(table, "updated_at")  # SQLite 3.35+ drops a column in place
