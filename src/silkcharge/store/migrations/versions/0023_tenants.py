"""tenants, operator accounts and API keys: every operator's rows carry their tenant; an
install from before becomes tenant 1

Everything already stored belongs to tenant 1 ("default"), so the old install keeps working as
one tenant (its shared API key is that tenant's admin key: api/principals.py).

On PostgreSQL, row-level security is a second wall behind the ORM's scoping (store/tenancy.py):
each tenant-owned table lets a transaction that names a tenant (the `silkcharge.tenant` setting)
see and write only that tenant's rows. Superusers and table owners are not bound by such
policies, so a scoped transaction also switches to the role `silkcharge_tenant`, which is; the
role is created here when the migrating user may create roles, and granted to that user.

Tables added since 0019: depot_vehicles' V2G columns (0020) and stations.planned (0021) are
columns of tenant-owned tables; drivers (0022) are the platform's (a driver charges on every
operator's network; the tokens they charge with belong to a tenant), and platform_secrets is
the platform's own.

Revision ID: 0023
Revises: 0022
"""

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

OWNED = (
    "operators", "sites", "stations", "evses", "connectors", "id_tokens", "driver_tokens", "transactions",
    "meter_samples", "ocpp_messages", "tariffs", "cdrs", "reservations", "smart_sites", "circuits",
    "evse_circuits", "charging_priorities", "charging_profiles", "reported_charging_profiles",
    "ev_charging_needs", "local_controller_stations", "smart_problems", "depot_vehicles", "security_events",
    "network_profile_changes", "plausibility_flags", "cdr_reviews", "transaction_endings",
    "station_certificates", "tariff_suspensions", "analytics_station_days", "variable_monitors",
    "device_events", "display_messages", "station_requests", "firmware_publications",
    "external_charging_limits", "ev_charging_schedules",
)
ROLE = "silkcharge_tenant"
POLICY = "tenant_isolation"
# An unset or empty setting is the platform's own work (sweeps, jobs): no tenant to bind to.
SCOPE = (
    "coalesce(current_setting('silkcharge.tenant', true), '') = '' "
    "OR tenant_id = current_setting('silkcharge.tenant', true)::integer"
)


def upgrade() -> None:
    tenants = op.create_table(
        "tenants",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code", sa.String(32), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.bulk_insert(tenants, [{"id": 1, "code": "default", "name": "Default tenant"}])
    if op.get_bind().dialect.name == "postgresql":  # an explicit id does not move the sequence
        op.execute("SELECT setval(pg_get_serial_sequence('tenants', 'id'), 1)")
    TIME = sa.DateTime(timezone=True)
    op.create_table(
        "operator_accounts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("tenant_id", sa.Integer(), sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=True),
        sa.Column("email", sa.String(254), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(24), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("totp_secret", sa.String(64), nullable=True),
        sa.Column("totp_pending", sa.String(64), nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("disabled_at", TIME, nullable=True),
    )
    op.create_index("ix_operator_accounts_tenant_id", "operator_accounts", ["tenant_id"])
    op.create_table(
        "operator_sessions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("operator_accounts.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("expires_at", TIME, nullable=False),
    )
    op.create_index("ix_operator_sessions_account_id", "operator_sessions", ["account_id"])
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("tenant_id", sa.Integer(), sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(24), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_by", sa.String(300), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("expires_at", TIME, nullable=True),
        sa.Column("revoked_at", TIME, nullable=True),
        sa.Column("last_used_at", TIME, nullable=True),
    )
    op.create_index("ix_api_keys_tenant_id", "api_keys", ["tenant_id"])
    op.create_table(
        "audit_entries",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("at", TIME, nullable=False),
        sa.Column("tenant_id", sa.Integer(), sa.ForeignKey("tenants.id", ondelete="RESTRICT"), nullable=True),
        sa.Column("actor", sa.String(300), nullable=False),
        sa.Column("role", sa.String(24), nullable=False),
        sa.Column("action", sa.String(300), nullable=False),
        sa.Column("target", sa.JSON(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(64), nullable=True),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("change", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
    )
    for column in ("at", "tenant_id", "actor"):
        op.create_index(f"ix_audit_entries_{column}", "audit_entries", [column])
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in OWNED:
        # Existing rows are tenant 1's. SQLite adds a referencing column only by rebuilding the
        # table (batch mode), and would need a second rebuild to drop the default, so there the
        # default stays; the ORM always names the tenant (store/tenancy.py).
        column = sa.Column("tenant_id", sa.Integer(), nullable=False, server_default="1")
        if postgres:
            op.add_column(table, column)
            op.alter_column(table, "tenant_id", server_default=None)
            op.create_foreign_key(f"fk_{table}_tenant", table, "tenants", ["tenant_id"], ["id"], ondelete="RESTRICT")
        else:
            with op.batch_alter_table(table) as batch:
                batch.add_column(column)
                batch.create_foreign_key(f"fk_{table}_tenant", "tenants", ["tenant_id"], ["id"], ondelete="RESTRICT")
        op.create_index(f"ix_{table}_tenant_id", table, ["tenant_id"])
    if postgres:
        _row_level_security()
        _append_only()


def _append_only() -> None:
    """The audit trail refuses updates, deletes and truncation, whoever asks."""
    op.execute("""
        CREATE FUNCTION audit_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'the audit trail is append-only: % refused', TG_OP;
        END $$
    """)
    op.execute("CREATE TRIGGER audit_entries_no_change BEFORE UPDATE OR DELETE ON audit_entries "
               "FOR EACH ROW EXECUTE FUNCTION audit_entries_append_only()")
    op.execute("CREATE TRIGGER audit_entries_no_truncate BEFORE TRUNCATE ON audit_entries "
               "FOR EACH STATEMENT EXECUTE FUNCTION audit_entries_append_only()")


def _row_level_security() -> None:
    # Roles belong to the whole PostgreSQL cluster: another database may have made it already.
    op.execute(f"""
        DO $$ BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{ROLE}') THEN
                CREATE ROLE {ROLE} NOLOGIN NOBYPASSRLS;
            END IF;
        EXCEPTION
            WHEN duplicate_object OR unique_violation THEN NULL;
            WHEN insufficient_privilege THEN
                RAISE NOTICE 'no role {ROLE}: row-level security binds only non-owner users';
        END $$;
    """)
    # The application's user takes the role in each scoped transaction (store/tenancy.py).
    op.execute(f"""
        DO $$ BEGIN
            IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{ROLE}')
               AND NOT pg_has_role(current_user, '{ROLE}', 'MEMBER') THEN
                EXECUTE format('GRANT {ROLE} TO %I', current_user);
            END IF;
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE NOTICE 'cannot grant {ROLE}: scoped transactions keep the connecting user';
        END $$;
    """)
    has_role = op.get_bind().exec_driver_sql(f"SELECT 1 FROM pg_roles WHERE rolname = '{ROLE}'").scalar()
    for table in OWNED:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY {POLICY} ON {table} USING ({SCOPE}) WITH CHECK ({SCOPE})")
    if has_role:
        op.execute(f"GRANT USAGE ON SCHEMA public TO {ROLE}")
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {ROLE}")
        op.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {ROLE}")
        # Tables of later migrations too.
        op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {ROLE}")
        op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {ROLE}")


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in OWNED:
        if postgres:
            op.execute(f"DROP POLICY IF EXISTS {POLICY} ON {table}")
            op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
        op.drop_index(f"ix_{table}_tenant_id", table_name=table)
        with op.batch_alter_table(table) as batch:
            batch.drop_column("tenant_id")
    op.drop_table("audit_entries")
    if postgres:
        op.execute("DROP FUNCTION IF EXISTS audit_entries_append_only()")
    op.drop_table("api_keys")
    op.drop_table("operator_sessions")
    op.drop_table("operator_accounts")
    op.drop_table("tenants")
