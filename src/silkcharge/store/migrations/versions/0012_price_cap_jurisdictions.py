"""regulated price caps belong to a jurisdiction: areas, caps, tariff suspensions (issue 14)

Also gives every stored tariff a country_code (its operator's country) where it has none: an
OCPI price without vat now pays the statutory VAT of that country, which needs it.

Revision ID: 0012
Revises: 0011
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "jurisdictions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code", sa.String(48), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("polygon", sa.JSON(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("source_date", sa.String(32), nullable=True),
        sa.Column("licence", sa.String(200), nullable=False),
        sa.Column("confidence", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "price_caps",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code", sa.String(64), nullable=False, unique=True),
        sa.Column("jurisdiction_id", sa.Integer(), sa.ForeignKey("jurisdictions.id", ondelete="RESTRICT"),
                  nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_price_caps_jurisdiction_id", "price_caps", ["jurisdiction_id"])
    op.create_table(
        "tariff_suspensions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column("tariff_id", sa.Integer(), sa.ForeignKey("tariffs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("site_id", sa.Integer(), sa.ForeignKey("sites.id", ondelete="CASCADE"), nullable=False),
        sa.Column("cap_id", sa.Integer(), sa.ForeignKey("price_caps.id", ondelete="CASCADE"), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolution", sa.String(200), nullable=True),
    )
    op.create_index("ix_tariff_suspensions_site", "tariff_suspensions", ["site_id", "resolved_at"])
    op.create_index("ix_tariff_suspensions_tariff_id", "tariff_suspensions", ["tariff_id"])
    op.create_index("ix_tariff_suspensions_cap_id", "tariff_suspensions", ["cap_id"])

    connection = op.get_bind()
    tariffs = sa.table("tariffs", sa.column("id", sa.Integer()), sa.column("body", sa.JSON()))
    rows = connection.execute(sa.text(
        "SELECT tariffs.id, tariffs.body, operators.country FROM tariffs "
        "JOIN operators ON operators.id = tariffs.operator_id"
    )).all()
    for tariff_id, body, country in rows:
        body = json.loads(body) if isinstance(body, str) else body
        if body.get("country_code"):
            continue
        body["country_code"] = country
        connection.execute(tariffs.update().where(tariffs.c.id == tariff_id).values(body=body))


def downgrade() -> None:
    op.drop_table("tariff_suspensions")
    op.drop_table("price_caps")
    op.drop_table("jurisdictions")
