"""PostgreSQL counts a statement's priced readings once per statement, not once per reading

Revision ID: 0039
Revises: 0038

0037 made every stored priced reading raise its transaction's `priced_readings` through a row
trigger: on PostgreSQL a PL/pgSQL call and an UPDATE of the transaction per reading, two for each
meter message (energy and power), each a new version of the transaction's row. Measured on the
migrated schema with the gateway's own statement (bench/pg_meter_write.py), that was a third of
the backend's CPU for a message's write. PostgreSQL's statement triggers see the rows a
statement inserted as a transition table: one trigger call per statement now adds each
transaction's count of them in one UPDATE. A replayed reading ignored as a duplicate
(`ON CONFLICT DO NOTHING`) is not in the transition table, so it still counts nothing.

SQLite has no statement triggers, and its row trigger runs in-process at a fraction of the
cost: it keeps 0037's.
"""

from alembic import op

revision = "0039"
down_revision = "0038"
branch_labels = None
depends_on = None

PRICED = "('Energy.Active.Import.Register', 'Power.Active.Import')"
"""billing.PRICED_MEASURANDS, of the whole meter (phase ''), as in 0037."""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER meter_samples_priced_count ON meter_samples")
    op.execute("DROP FUNCTION meter_samples_count_priced()")
    op.execute(f"""
        CREATE FUNCTION meter_samples_count_priced() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE transactions SET priced_readings = priced_readings + counted.readings
            FROM (SELECT transaction_id, count(*) AS readings FROM stored_samples
                  WHERE transaction_id IS NOT NULL AND phase = '' AND measurand IN {PRICED}
                  GROUP BY transaction_id) AS counted
            WHERE transactions.id = counted.transaction_id;
            RETURN NULL;
        END $$
    """)
    op.execute("CREATE TRIGGER meter_samples_priced_count AFTER INSERT ON meter_samples "
               "REFERENCING NEW TABLE AS stored_samples FOR EACH STATEMENT "
               "EXECUTE FUNCTION meter_samples_count_priced()")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER meter_samples_priced_count ON meter_samples")
    op.execute("DROP FUNCTION meter_samples_count_priced()")
    op.execute("""
        CREATE FUNCTION meter_samples_count_priced() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE transactions SET priced_readings = priced_readings + 1 WHERE id = NEW.transaction_id;
            RETURN NULL;
        END $$
    """)
    op.execute(f"CREATE TRIGGER meter_samples_priced_count AFTER INSERT ON meter_samples "
               f"FOR EACH ROW WHEN (NEW.transaction_id IS NOT NULL AND NEW.phase = '' "
               f"AND NEW.measurand IN {PRICED}) EXECUTE FUNCTION meter_samples_count_priced()")
