"""OCPP 2.1 DER control: the controls set on (or reported by) stations and the DER alarms they
raise

Revision ID: 0026
Revises: 0025

Both tables belong to the station's operator's tenant, with the same row-level security as the
tables of 0023 on PostgreSQL.
"""

from importlib import import_module

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

TIME = sa.DateTime(timezone=True)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
OWNED = ("der_controls", "der_alarms")
tenants = import_module("silkcharge.store.migrations.versions.0023_tenants")


def _tenant() -> sa.Column:
    return sa.Column("tenant_id", sa.Integer, sa.ForeignKey("tenants.id", ondelete="RESTRICT"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "der_controls",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        _tenant(),
        sa.Column("station_id", sa.String(48), sa.ForeignKey("stations.id", ondelete="CASCADE"), nullable=False),
        sa.Column("control_id", sa.String(36), nullable=False),
        sa.Column("control_type", sa.String(32), nullable=False),
        sa.Column("is_default", sa.Boolean, nullable=False),
        sa.Column("settings", sa.JSON, nullable=True),
        sa.Column("source", sa.String(8), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(500), nullable=True),
        sa.Column("superseded", sa.Boolean, nullable=False),
        sa.Column("active", sa.Boolean, nullable=True),
        sa.Column("sent_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.Column("cleared_at", TIME, nullable=True),
    )
    op.create_index("ix_der_controls_station_id", "der_controls", ["station_id"])
    op.create_index("ix_der_controls_lookup", "der_controls", ["station_id", "control_id"])
    op.create_table(
        "der_alarms",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        _tenant(),
        sa.Column("station_id", sa.String(48), sa.ForeignKey("stations.id", ondelete="CASCADE"), nullable=False),
        sa.Column("control_type", sa.String(32), nullable=False),
        sa.Column("grid_event_fault", sa.String(32), nullable=True),
        sa.Column("alarm_ended", sa.Boolean, nullable=False),
        sa.Column("raised_at", TIME, nullable=False),
        sa.Column("extra_info", sa.String(200), nullable=True),
        sa.Column("received_at", TIME, nullable=False),
    )
    op.create_index("ix_der_alarms_station_id", "der_alarms", ["station_id"])
    for table in OWNED:
        op.create_index(f"ix_{table}_tenant_id", table, ["tenant_id"])
        if op.get_bind().dialect.name == "postgresql":
            op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
            op.execute(f"CREATE POLICY {tenants.POLICY} ON {table} USING ({tenants.SCOPE}) WITH CHECK ({tenants.SCOPE})")


def downgrade() -> None:
    op.drop_table("der_alarms")
    op.drop_table("der_controls")
