"""Indexes for what a session's start, stop and running cost look up by its token or its id

Revision ID: 0041
Revises: 0040

Found by explaining every statement a demo run sent (SQLite, a week of history): three lookups
made for each session read a whole table instead of its own rows.

- A token's active sessions (a token holds one at a time), asked at each start: SQLite took the
  index on the state alone, so every active session of the network was read. An index on
  (id_token, state) replaces the one on id_token, which is its prefix.
- The reservation a session used, asked at each stop, and the tariffs a 2.1 station was sent
  for a session, asked at each stop and by the running cost of every TransactionEvent reply:
  no index on `transaction_id` at all, so every reservation and every sent tariff ever stored.
  They also serve the foreign keys when a session is deleted.

Four other foreign keys had no index either (a token's operator, a circuit's parent, a
vehicle's charging schedule's station, a roaming session's token): deleting the row they point
to read the whole table. tests/store/test_schema_indexes.py now holds every foreign key to an
index.
"""

from alembic import op

revision = "0041"
down_revision = "0040"
branch_labels = None
depends_on = None

FOREIGN_KEYS = (
    ("id_tokens", "operator_id"), ("circuits", "parent_id"), ("ev_charging_schedules", "station_id"),
    ("roaming_transactions", "roaming_token_id"),
)


def upgrade() -> None:
    op.create_index("ix_transactions_token_state", "transactions", ["id_token", "state"])
    op.drop_index("ix_transactions_id_token", table_name="transactions")
    op.create_index("ix_reservations_transaction_id", "reservations", ["transaction_id"])
    op.create_index("ix_station_tariffs_transaction_id", "station_tariffs", ["transaction_id"])
    for table, column in FOREIGN_KEYS:
        op.create_index(f"ix_{table}_{column}", table, [column])


def downgrade() -> None:
    for table, column in FOREIGN_KEYS:
        op.drop_index(f"ix_{table}_{column}", table_name=table)
    op.drop_index("ix_station_tariffs_transaction_id", table_name="station_tariffs")
    op.drop_index("ix_reservations_transaction_id", table_name="reservations")
    op.create_index("ix_transactions_id_token", "transactions", ["id_token"])
    op.drop_index("ix_transactions_token_state", table_name="transactions")
