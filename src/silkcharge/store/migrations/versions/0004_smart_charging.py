"""sites, circuits and charging profiles for smart charging (issue 5)

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

EXACT_DECIMAL = sa.Numeric(20, 6).with_variant(sa.String(40), "sqlite")
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "smart_sites",
        sa.Column("site_id", sa.Integer(), sa.ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("grid_limit_a", EXACT_DECIMAL, nullable=False),
        sa.Column("voltage", EXACT_DECIMAL, nullable=False),
        sa.Column("base_load_w", EXACT_DECIMAL, nullable=True),
        sa.Column("depot", sa.Boolean(), nullable=False),
        sa.Column("solar", sa.JSON(), nullable=True),
        sa.Column("prices", sa.JSON(), nullable=True),
        sa.Column("updated_at", TIME, nullable=False),
    )
    op.create_table(
        "circuits",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("site_id", sa.Integer(), sa.ForeignKey("smart_sites.site_id", ondelete="CASCADE"),
                  nullable=False, index=True),
        sa.Column("code", sa.String(48), nullable=False),
        sa.Column("parent_id", sa.Integer(), sa.ForeignKey("circuits.id", ondelete="CASCADE"), nullable=True),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("limit_a", EXACT_DECIMAL, nullable=False),
        sa.Column("phases", sa.Integer(), nullable=False),
        sa.UniqueConstraint("site_id", "code"),
    )
    op.create_table(
        "evse_circuits",
        sa.Column("station_id", sa.String(48), sa.ForeignKey("stations.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("evse_id", sa.Integer(), primary_key=True),
        sa.Column("circuit_id", sa.Integer(), sa.ForeignKey("circuits.id", ondelete="CASCADE"),
                  nullable=False, index=True),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("max_current_a", EXACT_DECIMAL, nullable=False),
        sa.Column("min_current_a", EXACT_DECIMAL, nullable=False),
        sa.Column("phases", sa.Integer(), nullable=False),
        sa.Column("obeys_profiles", sa.Boolean(), nullable=False),
    )
    op.create_table(
        "charging_priorities",
        sa.Column("group_id", sa.String(64), primary_key=True),
        sa.Column("priority", sa.Integer(), nullable=False),
    )
    op.create_table(
        "charging_profiles",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("station_id", sa.String(48), sa.ForeignKey("stations.id", ondelete="CASCADE"), nullable=False),
        sa.Column("evse_id", sa.Integer(), nullable=False),
        sa.Column("profile_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(40), nullable=False),
        sa.Column("stack_level", sa.Integer(), nullable=False),
        sa.Column("transaction_id", sa.String(64), nullable=True),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("installed_at", TIME, nullable=False),
        sa.UniqueConstraint("station_id", "profile_id"),
    )
    op.create_table(
        "smart_problems",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("site_id", sa.Integer(), sa.ForeignKey("sites.id", ondelete="CASCADE"), nullable=True),
        sa.Column("station_id", sa.String(48), nullable=True),
        sa.Column("evse_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=True),
        sa.Column("at", TIME, nullable=False),
    )
    op.create_index("ix_smart_problems_site", "smart_problems", ["site_id", "id"])
    op.create_table(
        "depot_vehicles",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("site_id", sa.Integer(), sa.ForeignKey("smart_sites.site_id", ondelete="CASCADE"),
                  nullable=False, index=True),
        sa.Column("code", sa.String(48), nullable=False),
        sa.Column("arrival", TIME, nullable=False),
        sa.Column("departure", TIME, nullable=False),
        sa.Column("max_power_kw", EXACT_DECIMAL, nullable=False),
        sa.Column("energy_kwh", EXACT_DECIMAL, nullable=True),
        sa.Column("battery_kwh", EXACT_DECIMAL, nullable=True),
        sa.Column("soc", EXACT_DECIMAL, nullable=True),
        sa.Column("target_soc", EXACT_DECIMAL, nullable=True),
        sa.Column("station_id", sa.String(48), nullable=True),
        sa.Column("evse_id", sa.Integer(), nullable=True),
        sa.Column("id_token", sa.String(64), nullable=True),
        sa.UniqueConstraint("site_id", "code"),
    )


def downgrade() -> None:
    op.drop_table("depot_vehicles")
    op.drop_index("ix_smart_problems_site", table_name="smart_problems")
    op.drop_table("smart_problems")
    op.drop_table("charging_profiles")
    op.drop_table("charging_priorities")
    op.drop_table("evse_circuits")
    op.drop_table("circuits")
    op.drop_table("smart_sites")
