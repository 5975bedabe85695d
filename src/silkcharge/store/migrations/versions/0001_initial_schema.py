"""initial schema: operators, sites, stations, EVSEs, connectors, tokens, transactions, meter samples, OCPP log

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-21 16:37:05.506556
"""

import sqlalchemy as sa
from alembic import op

# Exact decimals: NUMERIC on PostgreSQL, text on SQLite (see silkcharge.store.types.ExactDecimal).
EXACT_DECIMAL = sa.Numeric(20, 6).with_variant(sa.String(40), "sqlite")


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('ocpp_messages',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('station_id', sa.String(length=48), nullable=False),
    sa.Column('direction', sa.String(length=3), nullable=False),
    sa.Column('message_type', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.String(length=64), nullable=True),
    sa.Column('action', sa.String(length=48), nullable=True),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('error_code', sa.String(length=40), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('ocpp_messages', schema=None) as batch_op:
        batch_op.create_index('ix_ocpp_messages_station', ['station_id', 'id'], unique=False)

    op.create_table('operators',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('country', sa.String(length=2), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code')
    )
    op.create_table('id_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token', sa.String(length=64), nullable=False),
    sa.Column('type', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('group_id', sa.String(length=64), nullable=True),
    sa.Column('operator_id', sa.Integer(), nullable=True),
    sa.Column('label', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['operator_id'], ['operators.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token')
    )
    with op.batch_alter_table('id_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_id_tokens_group_id'), ['group_id'], unique=False)

    op.create_table('sites',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=48), nullable=False),
    sa.Column('operator_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('city', sa.String(length=100), nullable=True),
    sa.Column('country', sa.String(length=2), nullable=False),
    sa.Column('address', sa.String(length=300), nullable=True),
    sa.Column('lat', sa.Float(), nullable=False),
    sa.Column('lon', sa.Float(), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('corridor', sa.String(length=100), nullable=True),
    sa.Column('provenance', sa.JSON(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['operator_id'], ['operators.id'], ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code')
    )
    with op.batch_alter_table('sites', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sites_operator_id'), ['operator_id'], unique=False)

    op.create_table('stations',
    sa.Column('id', sa.String(length=48), nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=True),
    sa.Column('password_hash', sa.String(length=200), nullable=True),
    sa.Column('registration_status', sa.String(length=16), nullable=False),
    sa.Column('ocpp_version', sa.String(length=8), nullable=True),
    sa.Column('vendor', sa.String(length=50), nullable=True),
    sa.Column('model', sa.String(length=50), nullable=True),
    sa.Column('serial_number', sa.String(length=50), nullable=True),
    sa.Column('firmware_version', sa.String(length=50), nullable=True),
    sa.Column('heartbeat_interval', sa.Integer(), nullable=True),
    sa.Column('online', sa.Boolean(), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_boot_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('boot_reason', sa.String(length=40), nullable=True),
    sa.Column('status', sa.String(length=24), nullable=True),
    sa.Column('error_code', sa.String(length=50), nullable=True),
    sa.Column('firmware_status', sa.String(length=40), nullable=True),
    sa.Column('diagnostics_status', sa.String(length=40), nullable=True),
    sa.Column('local_list_version', sa.Integer(), nullable=True),
    sa.Column('configuration', sa.JSON(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('stations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stations_site_id'), ['site_id'], unique=False)

    op.create_table('connectors',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('station_id', sa.String(length=48), nullable=False),
    sa.Column('evse_id', sa.Integer(), nullable=False),
    sa.Column('connector_id', sa.Integer(), nullable=False),
    sa.Column('standard', sa.String(length=16), nullable=False),
    sa.Column('max_power_kw', EXACT_DECIMAL, nullable=False),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('error_code', sa.String(length=50), nullable=True),
    sa.Column('vendor_error_code', sa.String(length=50), nullable=True),
    sa.Column('info', sa.String(length=100), nullable=True),
    sa.Column('status_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['station_id'], ['stations.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('station_id', 'evse_id', 'connector_id')
    )
    op.create_table('evses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('station_id', sa.String(length=48), nullable=False),
    sa.Column('evse_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=24), nullable=True),
    sa.ForeignKeyConstraint(['station_id'], ['stations.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('station_id', 'evse_id')
    )
    op.create_table('transactions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('station_id', sa.String(length=48), nullable=False),
    sa.Column('station_tx_id', sa.String(length=64), nullable=False),
    sa.Column('evse_id', sa.Integer(), nullable=False),
    sa.Column('connector_id', sa.Integer(), nullable=False),
    sa.Column('id_token', sa.String(length=64), nullable=True),
    sa.Column('token_status', sa.String(length=20), nullable=True),
    sa.Column('reservation_id', sa.Integer(), nullable=True),
    sa.Column('remote_start_id', sa.Integer(), nullable=True),
    sa.Column('state', sa.String(length=12), nullable=False),
    sa.Column('charging_state', sa.String(length=20), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('stopped_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('meter_start_wh', EXACT_DECIMAL, nullable=True),
    sa.Column('meter_stop_wh', EXACT_DECIMAL, nullable=True),
    sa.Column('energy_wh', EXACT_DECIMAL, nullable=True),
    sa.Column('stop_reason', sa.String(length=40), nullable=True),
    sa.Column('offline', sa.Boolean(), nullable=False),
    sa.Column('last_seq_no', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['station_id'], ['stations.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('station_id', 'station_tx_id')
    )
    with op.batch_alter_table('transactions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_transactions_id_token'), ['id_token'], unique=False)
        batch_op.create_index('ix_transactions_station_state', ['station_id', 'state'], unique=False)

    op.create_table('meter_samples',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('station_id', sa.String(length=48), nullable=False),
    sa.Column('evse_id', sa.Integer(), nullable=False),
    sa.Column('transaction_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('timestamp', sa.DateTime(timezone=True), nullable=False),
    sa.Column('measurand', sa.String(length=48), nullable=False),
    sa.Column('phase', sa.String(length=8), nullable=False),
    sa.Column('location', sa.String(length=8), nullable=False),
    sa.Column('context', sa.String(length=24), nullable=False),
    sa.Column('unit', sa.String(length=16), nullable=True),
    sa.Column('value', EXACT_DECIMAL, nullable=False),
    sa.ForeignKeyConstraint(['station_id'], ['stations.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['transaction_id'], ['transactions.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('station_id', 'evse_id', 'transaction_id', 'timestamp', 'measurand', 'phase', 'location', 'context', 'value', name='uq_meter_sample')
    )
    with op.batch_alter_table('meter_samples', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_meter_samples_transaction_id'), ['transaction_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('meter_samples', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_meter_samples_transaction_id'))

    op.drop_table('meter_samples')
    with op.batch_alter_table('transactions', schema=None) as batch_op:
        batch_op.drop_index('ix_transactions_station_state')
        batch_op.drop_index(batch_op.f('ix_transactions_id_token'))

    op.drop_table('transactions')
    op.drop_table('evses')
    op.drop_table('connectors')
    with op.batch_alter_table('stations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stations_site_id'))

    op.drop_table('stations')
    with op.batch_alter_table('sites', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sites_operator_id'))

    op.drop_table('sites')
    with op.batch_alter_table('id_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_id_tokens_group_id'))

    op.drop_table('id_tokens')
    op.drop_table('operators')
    with op.batch_alter_table('ocpp_messages', schema=None) as batch_op:
        batch_op.drop_index('ix_ocpp_messages_station')

    op.drop_table('ocpp_messages')
