"""per-station security profile, a pending upgrade, and the previous password during a rotation (issue 13)

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("stations") as stations:
        stations.add_column(sa.Column("security_profile", sa.Integer(), nullable=False, server_default=sa.text("1")))
        stations.add_column(sa.Column("security_profile_pending", sa.Integer(), nullable=True))
        stations.add_column(sa.Column("password_hash_previous", sa.String(200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("stations") as stations:
        stations.drop_column("password_hash_previous")
        stations.drop_column("security_profile_pending")
        stations.drop_column("security_profile")
