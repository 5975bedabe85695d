"""station certificates and the CSMS-managed CA (issue 13: certificate management)

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "station_certificates",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column("station_id", sa.String(48), sa.ForeignKey("stations.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("certificate_type", sa.String(40), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("hash_algorithm", sa.String(8), nullable=False),
        sa.Column("issuer_name_hash", sa.String(128), nullable=False),
        sa.Column("issuer_key_hash", sa.String(128), nullable=False),
        sa.Column("serial_number", sa.String(40), nullable=False),
        sa.Column("subject", sa.String(300), nullable=True),
        sa.Column("issuer", sa.String(300), nullable=True),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=True),
        sa.Column("not_after", sa.DateTime(timezone=True), nullable=True),
        sa.Column("pem", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_station_certificates_station", "station_certificates", ["station_id", "certificate_type"])
    op.create_index("ix_station_certificates_not_after", "station_certificates", ["not_after"])
    op.create_table(
        "certificate_authority",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("certificate_pem", sa.Text(), nullable=False),
        sa.Column("key_pem", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("certificate_authority")
    op.drop_table("station_certificates")
