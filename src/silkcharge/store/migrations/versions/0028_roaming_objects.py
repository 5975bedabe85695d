"""OCPI roaming objects received from partner CPOs: their locations and tariffs

Revision ID: 0028
Revises: 0027

Both tables belong to the tenant whose roaming partner sent them, with the same row-level
security as the tables of 0023 on PostgreSQL. `partner_id` names ocpi-core's roaming partner
(0027) without a foreign key: a partner row is never deleted while its objects matter, and
the objects stay readable if it is.
"""

from importlib import import_module

import sqlalchemy as sa
from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None

TIME = sa.DateTime(timezone=True)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
OWNED = ("roaming_locations", "roaming_tariffs")
tenants = import_module("silkcharge.store.migrations.versions.0023_tenants")


def _tenant() -> sa.Column:
    return sa.Column("tenant_id", sa.Integer, sa.ForeignKey("tenants.id", ondelete="RESTRICT"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "roaming_locations",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        _tenant(),
        sa.Column("partner_id", sa.Integer, nullable=False),
        sa.Column("country_code", sa.String(2), nullable=False),
        sa.Column("party_id", sa.String(3), nullable=False),
        sa.Column("location_id", sa.String(36), nullable=False),
        sa.Column("publish", sa.Boolean, nullable=False),
        sa.Column("lat", sa.Float, nullable=False),
        sa.Column("lon", sa.Float, nullable=False),
        sa.Column("body", sa.JSON, nullable=False),
        sa.Column("stamps", sa.JSON, nullable=False),
        sa.Column("last_updated", TIME, nullable=False),
        sa.Column("received_at", TIME, nullable=False),
        sa.UniqueConstraint("tenant_id", "country_code", "party_id", "location_id"),
    )
    op.create_index("ix_roaming_locations_partner_id", "roaming_locations", ["partner_id"])
    op.create_index("ix_roaming_locations_last_updated", "roaming_locations", ["last_updated"])
    op.create_index("ix_roaming_locations_position", "roaming_locations", ["lat", "lon"])
    op.create_table(
        "roaming_tariffs",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        _tenant(),
        sa.Column("partner_id", sa.Integer, nullable=False),
        sa.Column("country_code", sa.String(2), nullable=False),
        sa.Column("party_id", sa.String(3), nullable=False),
        sa.Column("tariff_id", sa.String(36), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("body", sa.JSON, nullable=False),
        sa.Column("last_updated", TIME, nullable=False),
        sa.Column("received_at", TIME, nullable=False),
        sa.UniqueConstraint("tenant_id", "country_code", "party_id", "tariff_id"),
    )
    op.create_index("ix_roaming_tariffs_partner_id", "roaming_tariffs", ["partner_id"])
    op.create_index("ix_roaming_tariffs_last_updated", "roaming_tariffs", ["last_updated"])
    for table in OWNED:
        op.create_index(f"ix_{table}_tenant_id", table, ["tenant_id"])
        if op.get_bind().dialect.name == "postgresql":
            op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
            op.execute(f"CREATE POLICY {tenants.POLICY} ON {table} USING ({tenants.SCOPE}) WITH CHECK ({tenants.SCOPE})")


def downgrade() -> None:
    op.drop_table("roaming_tariffs")
    op.drop_table("roaming_locations")
