"""reservation fees, cost on the charger (issue 3)

- cdrs.reservation_id: a reservation nobody came for gets a CDR of its own (its no-show fee),
  so cdrs.transaction_id may now be empty.
- reservations: at most one holding (Requested or Accepted) reservation per EVSE, as a partial
  unique index, so two concurrent requests for the same EVSE cannot both succeed.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_HOLDING = sa.text("status IN ('Requested', 'Accepted')")


def upgrade() -> None:
    with op.batch_alter_table("cdrs") as batch:
        batch.alter_column("transaction_id", existing_type=sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                           nullable=True)
        batch.add_column(sa.Column("reservation_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_cdrs_reservation_id", "reservations", ["reservation_id"], ["id"],
                                 ondelete="CASCADE")
        batch.create_unique_constraint("uq_cdrs_reservation_id", ["reservation_id"])
    # Reservations left holding the same EVSE twice by the race this index closes: keep the newest.
    op.execute(
        "UPDATE reservations SET status = 'Cancelled' WHERE status IN ('Requested', 'Accepted') "
        "AND id NOT IN (SELECT MAX(id) FROM reservations WHERE status IN ('Requested', 'Accepted') "
        "GROUP BY station_id, evse_id)"
    )
    op.create_index(
        "uq_reservations_one_holding_per_evse", "reservations", ["station_id", "evse_id"], unique=True,
        postgresql_where=_HOLDING, sqlite_where=_HOLDING,
    )


def downgrade() -> None:
    op.drop_index("uq_reservations_one_holding_per_evse", table_name="reservations")
    op.execute("DELETE FROM cdrs WHERE transaction_id IS NULL")
    with op.batch_alter_table("cdrs") as batch:
        batch.drop_constraint("uq_cdrs_reservation_id", type_="unique")
        batch.drop_constraint("fk_cdrs_reservation_id", type_="foreignkey")
        batch.drop_column("reservation_id")
        batch.alter_column("transaction_id", existing_type=sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                           nullable=False)
