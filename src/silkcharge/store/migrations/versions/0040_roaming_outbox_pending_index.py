"""An index of the roaming outbox's pending pushes by object

Revision ID: 0040
Revises: 0039

The outbox keeps what it sent for 30 days (audits), and every look of the sender for what may
go now asked, of each due push, whether an earlier push of its object is still pending or one is
in flight. Through the unique index (partner, object, sequence) that read every push of the
object ever kept: an EVSE's status object gains one a status change, so a busy EVSE's thousands.
A partial index of the pending rows answers both questions from the pending rows alone
(tests/roaming/test_outbox_scale.py).
"""

from alembic import op
from sqlalchemy import text

revision = "0040"
down_revision = "0039"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_roaming_outbox_pending", "roaming_outbox", ["partner_id", "object_key", "sequence"],
        sqlite_where=text("state = 'pending'"), postgresql_where=text("state = 'pending'"),
    )


def downgrade() -> None:
    op.drop_index("ix_roaming_outbox_pending", table_name="roaming_outbox")
