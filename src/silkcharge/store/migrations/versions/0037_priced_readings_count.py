"""Each transaction counts its priced meter readings as they are stored, and meter samples are
indexed by transaction and id

Revision ID: 0037
Revises: 0036

A running cost (`BillingService.running_cost`, asked with every 2.0.1 meter message) compared
its kept timeline with a count of the session's priced readings, made by reading every sample of
the session: 270 µs a message on SQLite after 600 messages, and growing with the session. The
count is now a column of the transaction, raised by a trigger in the transaction that stores the
reading (a replayed reading, ignored as a duplicate, raises nothing), so the ask reads one row.
The new index serves `id > :after` for a transaction (the readings since the last ask) on
PostgreSQL, whose index on `transaction_id` alone returns a session's every sample; SQLite's
index already ended with the rowid, and the new one replaces it on both.

A reading deleted later is not counted down: the count then exceeds the readings, and an ask
reads the session's readings whole every time, as it did before this revision (retention
deletes the samples of ended sessions, which are never asked about).
"""

import sqlalchemy as sa
from alembic import op

revision = "0037"
down_revision = "0036"
branch_labels = None
depends_on = None

PRICED = "('Energy.Active.Import.Register', 'Power.Active.Import')"
"""billing.PRICED_MEASURANDS, of the whole meter (phase '')."""

COUNTED = f"NEW.transaction_id IS NOT NULL AND NEW.phase = '' AND NEW.measurand IN {PRICED}"


def upgrade() -> None:
    op.add_column("transactions", sa.Column("priced_readings", sa.Integer, nullable=False, server_default="0"))
    op.execute(f"""
        UPDATE transactions SET priced_readings = (
            SELECT count(*) FROM meter_samples
            WHERE meter_samples.transaction_id = transactions.id
              AND meter_samples.phase = '' AND meter_samples.measurand IN {PRICED})
    """)
    op.create_index("ix_meter_samples_transaction", "meter_samples", ["transaction_id", "id"])
    op.drop_index("ix_meter_samples_transaction_id", table_name="meter_samples")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("""
            CREATE FUNCTION meter_samples_count_priced() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                UPDATE transactions SET priced_readings = priced_readings + 1 WHERE id = NEW.transaction_id;
                RETURN NULL;
            END $$
        """)
        op.execute(f"CREATE TRIGGER meter_samples_priced_count AFTER INSERT ON meter_samples "
                   f"FOR EACH ROW WHEN ({COUNTED}) EXECUTE FUNCTION meter_samples_count_priced()")
    else:
        op.execute(f"""
            CREATE TRIGGER meter_samples_priced_count AFTER INSERT ON meter_samples WHEN {COUNTED}
            BEGIN
                UPDATE transactions SET priced_readings = priced_readings + 1 WHERE id = NEW.transaction_id;
            END
        """)


def downgrade() -> None:
    op.execute("DROP TRIGGER meter_samples_priced_count" + (
        " ON meter_samples" if op.get_bind().dialect.name == "postgresql" else ""))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION meter_samples_count_priced()")
    op.create_index("ix_meter_samples_transaction_id", "meter_samples", ["transaction_id"])
    op.drop_index("ix_meter_samples_transaction", table_name="meter_samples")
    op.drop_column("transactions", "priced_readings")
