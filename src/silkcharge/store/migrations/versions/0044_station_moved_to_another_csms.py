"""A station moved to another CSMS (OCPP 2.0.1 B10) is marked as moved

Revision ID: 0044
Revises: 0043

After a migration the station accepted up to its reset, it connects to the other CSMS and no
longer here: shown as offline, it raised alerts and counted against uptime for good.
`moved_to` keeps the other CSMS's URL and `moved_at` when the reset was accepted; both are
cleared when the station connects here again (it fell back, or was moved back).
"""

import sqlalchemy as sa
from alembic import op

revision = "0044"
down_revision = "0043"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("stations", sa.Column("moved_to", sa.String(512), nullable=True))
    op.add_column("stations", sa.Column("moved_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("stations") as batch:
        batch.drop_column("moved_at")
        batch.drop_column("moved_to")
