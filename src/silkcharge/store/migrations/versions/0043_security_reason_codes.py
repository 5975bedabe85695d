"""Security events keep their reason as a code and values too, for the console to word

Revision ID: 0043
Revises: 0042

The reason of a CSMS decision (a handshake refused, a certificate request turned down, a
security profile raised) was stored as an English sentence only, so an operator reading the
console in Russian, Kazakh or Chinese read it in English. `reason_code` names the reason
(domain/security_reasons.py) and `reason_values` holds what fills it in; the sentence stays
in `reason` for the API, the log and rows written before this revision, which have no code
and are shown as they were.
"""

import sqlalchemy as sa
from alembic import op

revision = "0043"
down_revision = "0042"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("security_events", sa.Column("reason_code", sa.String(48), nullable=True))
    op.add_column("security_events", sa.Column("reason_values", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("security_events") as batch:
        batch.drop_column("reason_values")
        batch.drop_column("reason_code")
