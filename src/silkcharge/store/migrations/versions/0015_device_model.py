"""monitors, device events, display messages, multi-part requests, firmware publishing, external
limits, EV schedules, pinned configuration and seqNo gaps (issue 13, OCPP 2.0.1 blocks N, O, K, L, E14)

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

EXACT_DECIMAL = sa.Numeric(20, 6).with_variant(sa.String(40), "sqlite")
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIME = sa.DateTime(timezone=True)


def _station() -> sa.Column:
    return sa.Column("station_id", sa.String(48), sa.ForeignKey("stations.id", ondelete="CASCADE"),
                     nullable=False)


def _component_variable() -> list[sa.Column]:
    return [
        sa.Column("component", sa.String(50), nullable=False),
        sa.Column("component_instance", sa.String(50), nullable=True),
        sa.Column("evse_id", sa.Integer(), nullable=True),
        sa.Column("connector_id", sa.Integer(), nullable=True),
        sa.Column("variable", sa.String(50), nullable=False),
        sa.Column("variable_instance", sa.String(50), nullable=True),
    ]


def upgrade() -> None:
    with op.batch_alter_table("stations") as batch:
        batch.add_column(sa.Column("configuration_overrides", sa.JSON(), nullable=True))
    with op.batch_alter_table("transactions") as batch:
        batch.add_column(sa.Column("missing_seq_nos", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("messages_in_queue", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("status_checked_at", TIME, nullable=True))
    op.create_table(
        "variable_monitors",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        _station(),
        sa.Column("monitor_id", sa.Integer(), nullable=False),
        *_component_variable(),
        sa.Column("type", sa.String(24), nullable=False),
        sa.Column("value", EXACT_DECIMAL, nullable=False),
        sa.Column("severity", sa.Integer(), nullable=False),
        sa.Column("transaction", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(8), nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.UniqueConstraint("station_id", "monitor_id"),
    )
    op.create_table(
        "device_events",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        _station(),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("occurred_at", TIME, nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("cause", sa.Integer(), nullable=True),
        sa.Column("actual_value", sa.Text(), nullable=False),
        sa.Column("tech_code", sa.String(50), nullable=True),
        sa.Column("tech_info", sa.Text(), nullable=True),
        sa.Column("cleared", sa.Boolean(), nullable=True),
        sa.Column("transaction_id", sa.String(36), nullable=True),
        *_component_variable(),
        sa.Column("variable_monitoring_id", sa.Integer(), nullable=True),
        sa.Column("notification_type", sa.String(24), nullable=False),
        sa.Column("received_at", TIME, nullable=False),
        sa.UniqueConstraint("station_id", "event_id", "occurred_at", name="uq_device_event"),
    )
    op.create_index("ix_device_events_station", "device_events", ["station_id", "id"])
    op.create_table(
        "display_messages",
        sa.Column("id", sa.Integer(), primary_key=True),
        _station(),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=True),
        sa.Column("priority", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=True),
        sa.Column("starts_at", TIME, nullable=True),
        sa.Column("ends_at", TIME, nullable=True),
        sa.Column("transaction_id", sa.String(36), nullable=True),
        sa.Column("display", sa.JSON(), nullable=True),
        sa.Column("format", sa.String(8), nullable=False),
        sa.Column("language", sa.String(8), nullable=True),
        sa.Column("content", sa.String(512), nullable=False),
        sa.Column("source", sa.String(8), nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.UniqueConstraint("station_id", "message_id"),
    )
    op.create_table(
        "station_requests",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        _station(),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column("asked", sa.JSON(), nullable=True),
        sa.Column("status", sa.String(24), nullable=True),
        sa.Column("parts", sa.JSON(), nullable=True),
        sa.Column("data", sa.Text(), nullable=True),
        sa.Column("complete", sa.Boolean(), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
    )
    op.create_index("ix_station_requests_lookup", "station_requests", ["station_id", "kind", "request_id"])
    op.create_table(
        "firmware_publications",
        sa.Column("id", sa.Integer(), primary_key=True),
        _station(),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column("location", sa.String(512), nullable=True),
        sa.Column("checksum", sa.String(32), nullable=True),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("published_locations", sa.JSON(), nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.UniqueConstraint("station_id", "checksum"),
    )
    op.create_table(
        "external_charging_limits",
        sa.Column("id", sa.Integer(), primary_key=True),
        _station(),
        sa.Column("evse_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(8), nullable=False),
        sa.Column("grid_critical", sa.Boolean(), nullable=True),
        sa.Column("schedules", sa.JSON(), nullable=True),
        sa.Column("received_at", TIME, nullable=False),
        sa.UniqueConstraint("station_id", "evse_id", "source"),
    )
    op.create_table(
        "ev_charging_schedules",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        _station(),
        sa.Column("evse_id", sa.Integer(), nullable=False),
        sa.Column("transaction_id", BIG_ID, sa.ForeignKey("transactions.id", ondelete="SET NULL"),
                  nullable=True),
        sa.Column("time_base", TIME, nullable=False),
        sa.Column("schedule", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(500), nullable=True),
        sa.Column("received_at", TIME, nullable=False),
    )
    op.create_index("ix_ev_charging_schedules_transaction_id", "ev_charging_schedules", ["transaction_id"])


def downgrade() -> None:
    for table in ("ev_charging_schedules", "external_charging_limits", "firmware_publications",
                  "station_requests", "display_messages", "device_events", "variable_monitors"):
        op.drop_table(table)
    with op.batch_alter_table("transactions") as batch:
        batch.drop_column("status_checked_at")
        batch.drop_column("messages_in_queue")
        batch.drop_column("missing_seq_nos")
    with op.batch_alter_table("stations") as batch:
        batch.drop_column("configuration_overrides")
