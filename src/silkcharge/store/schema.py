"""The relational schema: every durable fact of the CSMS. Alembic migrations mirror this file."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from silkcharge.domain.clock import utcnow
from silkcharge.store.tenancy import TenantOwned
from silkcharge.store.types import ExactDecimal, ExactRate, UtcDateTime

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL wants BIGINT for the busy tables.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    type_annotation_map = {
        datetime: UtcDateTime(),
        Decimal: ExactDecimal(),
        dict[str, Any]: JSON(),
        list[str]: JSON(),
    }


class Tenant(Base):
    """A customer of the platform: one operator, or a group of operators run by one team (an
    install from before tenancy is one tenant). What it owns carries its id (store/tenancy.py)."""

    __tablename__ = "tenants"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OperatorAccount(Base):
    """A person who works on the platform: email and password (scrypt), optionally a TOTP second
    factor, one role, in one tenant (or none, for the cross-tenant roles)."""

    __tablename__ = "operator_accounts"
    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    """Stored lower-case: the login name."""
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(24))
    password_hash: Mapped[str] = mapped_column(String(200))
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    """Base32; set once the person confirmed a code from their authenticator."""
    totp_pending: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    disabled_at: Mapped[datetime | None]
    last_login_at: Mapped[datetime | None]
    """When the person last signed in (none: not since migration 0025)."""


class OperatorSession(Base):
    """A console login of an operator account; only the token's SHA-256 is stored."""

    __tablename__ = "operator_sessions"
    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("operator_accounts.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]


class ApiKey(Base):
    """A key for programs: one role, in one tenant (or none, for the cross-tenant roles), with
    an optional expiry; revocable. Only its SHA-256 is stored, and its first characters to
    recognise it by."""

    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(24))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]


class AuditEntry(Base):
    """One operator action, as the API saw it (api/audit.py): who (the credential's label and
    role), in which tenant (None: a platform administrator acting across tenants), when, from
    which address, what (the route and its path's ids), the answer's status, and the row
    before and after where the route shows it. Append-only: no route changes it, and on
    PostgreSQL a trigger refuses updates and deletes (migration 0023)."""

    __tablename__ = "audit_entries"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id", ondelete="RESTRICT"), index=True)
    actor: Mapped[str] = mapped_column(String(300), index=True)
    role: Mapped[str] = mapped_column(String(24))
    action: Mapped[str] = mapped_column(String(300))
    """The method and the route's path template, e.g. `PATCH /api/v1/stations/{station_id}`."""
    target: Mapped[dict[str, Any]] = mapped_column(JSON)
    """The path's ids, e.g. {"station_id": "ALA-001"}."""
    status: Mapped[int] = mapped_column(Integer)
    address: Mapped[str | None] = mapped_column(String(64))
    before: Mapped[Any | None] = mapped_column(JSON)
    change: Mapped[Any | None] = mapped_column(JSON)
    """The request's body."""
    after: Mapped[Any | None] = mapped_column(JSON)


class Operator(TenantOwned, Base):
    """A network owner: one company in one country, billing in one currency."""

    __tablename__ = "operators"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    country: Mapped[str] = mapped_column(String(2))
    currency: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Site(TenantOwned, Base):
    """A place with chargers: a car park, a fuel station, a depot."""

    __tablename__ = "sites"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(48), unique=True)
    operator_id: Mapped[int] = mapped_column(ForeignKey("operators.id", ondelete="RESTRICT"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    city: Mapped[str | None] = mapped_column(String(100))
    country: Mapped[str] = mapped_column(String(2))
    address: Mapped[str | None] = mapped_column(String(300))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    timezone: Mapped[str] = mapped_column(String(64))
    corridor: Mapped[str | None] = mapped_column(String(100))
    provenance: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    tags: Mapped[list[str] | None] = mapped_column(JSON)
    """Labels rules attach to, e.g. 'almaty-2025-allocated-plot' for a regulated price cap."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, index=True)
    """Set on every change, so availability search reloads only what changed since its last look."""


class Station(TenantOwned, Base):
    """A charging station (OCPP 'charge point' / 'charging station'), identified as on its socket."""

    __tablename__ = "stations"
    id: Mapped[str] = mapped_column(String(48), primary_key=True)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id", ondelete="SET NULL"), index=True)
    password_hash: Mapped[str | None] = mapped_column(String(200))
    registration_status: Mapped[str] = mapped_column(String(16), default="Accepted")
    ocpp_version: Mapped[str | None] = mapped_column(String(8))
    vendor: Mapped[str | None] = mapped_column(String(50))
    model: Mapped[str | None] = mapped_column(String(50))
    serial_number: Mapped[str | None] = mapped_column(String(50))
    firmware_version: Mapped[str | None] = mapped_column(String(50))
    heartbeat_interval: Mapped[int | None] = mapped_column(Integer)
    online: Mapped[bool] = mapped_column(Boolean, default=False)
    planned: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    """On the network's map but not commissioned yet: no connection is expected from it, so it
    raises no alert and counts in no uptime (the demo marks the stations it does not simulate)."""
    # The socket that set `online`: only its own close may clear it (another node may hold a newer one).
    connection_id: Mapped[str | None] = mapped_column(String(32))
    last_seen_at: Mapped[datetime | None]
    last_boot_at: Mapped[datetime | None]
    boot_reason: Mapped[str | None] = mapped_column(String(40))
    status: Mapped[str | None] = mapped_column(String(24))
    error_code: Mapped[str | None] = mapped_column(String(50))
    firmware_status: Mapped[str | None] = mapped_column(String(40))
    diagnostics_status: Mapped[str | None] = mapped_column(String(40))
    local_list_version: Mapped[int | None] = mapped_column(Integer)
    configuration: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    configuration_overrides: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """Values an operator pinned: {key: {"value": pinned, "reported": what the station last said}};
    `configuration` holds the pinned value, and a report never replaces it (services/station_configuration.py)."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # -- transport security (issue 13; services/stations.py admits, services/station_security.py
    # rotates and upgrades) --
    security_profile: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))
    """OCPP security profile: 1 Basic auth, 2 TLS + Basic auth, 3 TLS with a client certificate.
    A handshake below it is refused."""
    security_profile_pending: Mapped[int | None] = mapped_column(Integer)
    """A higher profile the station accepted to switch to; stored as `security_profile` once it
    has come back on it."""
    password_hash_previous: Mapped[str | None] = mapped_column(String(200))
    """After a password rotation, the old password, accepted until the station connects with the new one."""
    moved_to: Mapped[str | None] = mapped_column(String(512))
    """The other CSMS's URL once the station accepted a move there (B10, its reset accepted): no
    connection is expected here any more, so it raises no alert and counts in no uptime. Cleared
    when it connects here again (services/stations.py presence)."""
    moved_at: Mapped[datetime | None]


class Evse(TenantOwned, Base):
    """An EVSE: one vehicle at a time. In OCPP 1.6 each connector id is its own EVSE."""

    __tablename__ = "evses"
    __table_args__ = (UniqueConstraint("station_id", "evse_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    station_id: Mapped[str] = mapped_column(ForeignKey("stations.id", ondelete="CASCADE"))
    evse_id: Mapped[int] = mapped_column(Integer)
    status: Mapped[str | None] = mapped_column(String(24))


class Connector(TenantOwned, Base):
    __tablename__ = "connectors"
    __table_args__ = (UniqueConstraint("station_id", "evse_id", "connector_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    station_id: Mapped[str] = mapped_column(ForeignKey("stations.id", ondelete="CASCADE"))
    evse_id: Mapped[int] = mapped_column(Integer)
    connector_id: Mapped[int] = mapped_column(Integer)
    standard: Mapped[str] = mapped_column(String(16))
    max_power_kw: Mapped[Decimal]
    status: Mapped[str] = mapped_column(String(24), default="Unknown")
    error_code: Mapped[str | None] = mapped_column(String(50))
    vendor_error_code: Mapped[str | None] = mapped_column(String(50))
    info: Mapped[str | None] = mapped_column(String(100))
    status_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, index=True)
    """Set on every change (status too), so availability search reloads only what changed."""


class IdToken(TenantOwned, Base):
    """An identifier a driver presents: an RFID card, an app account, a fleet card."""

    __tablename__ = "id_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    type: Mapped[str] = mapped_column(String(20), default="ISO14443")
    status: Mapped[str] = mapped_column(String(20), default="Accepted")
    expires_at: Mapped[datetime | None]
    group_id: Mapped[str | None] = mapped_column(String(64), index=True)
    category: Mapped[str | None] = mapped_column(String(32))
    """Driver category for concessions and caps ('regular', 'resident', ...); None is regular."""
    operator_id: Mapped[int | None] = mapped_column(ForeignKey("operators.id", ondelete="SET NULL"), index=True)
    label: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(default=utcnow, onupdate=utcnow)
    """When the token last changed: the OCPI Token's last_updated when it roams (None: never
    changed since before 0031; created_at stands in)."""


class Driver(Base):
    """A driver's account: anyone may browse without one; reserving needs one."""

    __tablename__ = "drivers"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    """Stored lower-case: the login name."""
    password_hash: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(8), default="en")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    deleted_at: Mapped[datetime | None]
    """Set when the driver deleted the account: the row stays only as a tombstone, its email,
    name and password erased (services/drivers.py, `delete_account`)."""


class PlatformSecret(Base):
    """A secret the platform made for itself on first start, shared by all its processes:
    the key of the pseudonyms (`pseudonym-key`). Never logged, never served by any route."""

    __tablename__ = "platform_secrets"
    name: Mapped[str] = mapped_column(String(48), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DriverToken(TenantOwned, Base):
    """An idToken that is a driver's own. A token belongs to at most one driver."""

    __tablename__ = "driver_tokens"
    id_token_id: Mapped[int] = mapped_column(
        ForeignKey("id_tokens.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    driver_id: Mapped[int] = mapped_column(ForeignKey("drivers.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DriverSession(Base):
    """A logged-in driver. Only a SHA-256 of the session token is stored."""

    __tablename__ = "driver_sessions"
    id: Mapped[int] = mapped_column(primary_key=True)
    driver_id: Mapped[int] = mapped_column(ForeignKey("drivers.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]


class DriverPasswordReset(Base):
    """A password-reset link sent by email: single use, short-lived, stored only as a SHA-256."""

    __tablename__ = "driver_password_resets"
    id: Mapped[int] = mapped_column(primary_key=True)
    driver_id: Mapped[int] = mapped_column(ForeignKey("drivers.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class AuthAttempt(Base):
    """One counted attempt (a password check, a reset request) under a limit's key.

    Kept in the database, not in process memory, so every API process sees the same count.
    The key (an email or a client address) is stored only as a SHA-256.
    """

    __tablename__ = "auth_attempts"
    __table_args__ = (Index("ix_auth_attempts_scope_key_at", "scope", "key_hash", "at"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    scope: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(index=True)


class Transaction(TenantOwned, Base):
    """A charging session. `id` is what OCPP 1.6 calls transactionId; 2.0.1 stations name their own."""

    __tablename__ = "transactions"
    __table_args__ = (
        UniqueConstraint("station_id", "station_tx_id"),
        Index("ix_transactions_station_state", "station_id", "state"),
        # A token's active sessions (one at a time): by the state alone it read every active
        # session of the network (0041).
        Index("ix_transactions_token_state", "id_token", "state"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(ForeignKey("stations.id", ondelete="CASCADE"))
    station_tx_id: Mapped[str] = mapped_column(String(64))
    evse_id: Mapped[int] = mapped_column(Integer)
    connector_id: Mapped[int] = mapped_column(Integer)
    id_token: Mapped[str | None] = mapped_column(String(64))
    token_status: Mapped[str | None] = mapped_column(String(20))
    reservation_id: Mapped[int | None] = mapped_column(Integer)
    remote_start_id: Mapped[int | None] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(12), default="Active")
    charging_state: Mapped[str | None] = mapped_column(String(20))
    started_at: Mapped[datetime]
    stopped_at: Mapped[datetime | None]
    meter_start_wh: Mapped[Decimal | None]
    meter_stop_wh: Mapped[Decimal | None]
    energy_wh: Mapped[Decimal | None]
    stop_reason: Mapped[str | None] = mapped_column(String(40))
    offline: Mapped[bool] = mapped_column(Boolean, default=False)
    last_seq_no: Mapped[int | None] = mapped_column(Integer)
    missing_seq_nos: Mapped[list[int] | None] = mapped_column(JSON)
    """2.0.1 seqNos skipped by the TransactionEvents received so far (E14): asked about with
    GetTransactionStatus; a late event fills its place."""
    messages_in_queue: Mapped[bool | None] = mapped_column(Boolean)
    """The station's last GetTransactionStatus answer: are messages of this transaction still queued?"""
    status_checked_at: Mapped[datetime | None]
    priced_readings: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """How many of its meter samples price it (billing.PRICED_MEASURANDS, phase ""): raised by
    a database trigger as each is stored (migration 0037), never written here."""
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class MeterSample(TenantOwned, Base):
    """One sampled value. The unique key (which includes the value: two different readings are
    never one) makes a replayed message store nothing twice; its second form covers readings
    taken outside a session, whose NULL transaction the first never finds equal (0038).

    The busiest table, and it only grows, so what each insert touches is chosen (0042): the
    unique key leads with the reading's time, so a batch's new readings land together at the
    end of its index, not in one page per station; the station is no foreign key, whose index
    would again take a page per station (a station's readings go when it is deleted all the
    same: with its sessions, and `delete_station` takes those outside a session). Only the
    index of a session's readings, which every running cost reads, is kept per session."""

    __tablename__ = "meter_samples"
    __table_args__ = (
        UniqueConstraint(
            "timestamp", "station_id", "evse_id", "transaction_id", "measurand", "phase",
            "location", "context", "value", name="uq_meter_sample",
        ),
        Index(
            "uq_meter_sample_outside_session", "station_id", "evse_id", "timestamp", "measurand", "phase",
            "location", "context", "value", unique=True,
            sqlite_where=text("transaction_id IS NULL"), postgresql_where=text("transaction_id IS NULL"),
        ),
        Index("ix_meter_samples_transaction", "transaction_id", "id"),  # a session's readings since an id
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(String(48))
    evse_id: Mapped[int] = mapped_column(Integer)
    transaction_id: Mapped[int | None] = mapped_column(
        ForeignKey("transactions.id", ondelete="CASCADE")
    )
    timestamp: Mapped[datetime]
    measurand: Mapped[str] = mapped_column(String(48))
    phase: Mapped[str] = mapped_column(String(8), default="")
    location: Mapped[str] = mapped_column(String(8), default="")
    context: Mapped[str] = mapped_column(String(24), default="")
    unit: Mapped[str | None] = mapped_column(String(16))
    value: Mapped[Decimal]


class OcppMessage(TenantOwned, Base):
    """Every OCPP frame in and out, for the station page, support and audits."""

    __tablename__ = "ocpp_messages"
    __table_args__ = (
        Index("ix_ocpp_messages_station", "station_id", "id"),
        Index("ix_ocpp_messages_at", "at"),  # retention deletes by age
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(String(48))
    direction: Mapped[str] = mapped_column(String(3))
    message_type: Mapped[int] = mapped_column(Integer)
    message_id: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str | None] = mapped_column(String(48))
    payload: Mapped[str] = mapped_column(Text)
    error_code: Mapped[str | None] = mapped_column(String(40))
    at: Mapped[datetime]


class TariffRecord(TenantOwned, Base):
    """A published tariff: the OCPI 2.2.1 body (with silkcharge's audience extensions), for an
    operator's whole network or one site."""

    __tablename__ = "tariffs"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(36), unique=True)
    operator_id: Mapped[int] = mapped_column(ForeignKey("operators.id", ondelete="CASCADE"), index=True)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ChargeDetailRecord(TenantOwned, Base):
    """What a finished session cost: the OCPI CDR, its totals, any cap applied, the receipt.
    A reservation nobody came for has a CDR of its own (its no-show fee): `reservation_id` set,
    `transaction_id` None."""

    __tablename__ = "cdrs"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    transaction_id: Mapped[int | None] = mapped_column(
        ForeignKey("transactions.id", ondelete="CASCADE"), unique=True
    )
    reservation_id: Mapped[int | None] = mapped_column(
        ForeignKey("reservations.id", ondelete="CASCADE"), unique=True
    )
    tariff_code: Mapped[str | None] = mapped_column(String(36))
    currency: Mapped[str] = mapped_column(String(3))
    total_excl_vat: Mapped[Decimal]
    total_incl_vat: Mapped[Decimal]
    capped: Mapped[bool] = mapped_column(Boolean, default=False)
    cap: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    flags: Mapped[list[str] | None] = mapped_column(JSON)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    receipts: Mapped[dict[str, Any]] = mapped_column(JSON)
    """Rendered HTML receipts by locale, fixed when the CDR is made."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Reservation(TenantOwned, Base):
    """A connector or EVSE held for one idToken until `expires_at`. `id` is the OCPP
    reservationId the station is given. `connector_id` is None for a 2.0.1 EVSE-level hold."""

    __tablename__ = "reservations"
    __table_args__ = (
        Index("ix_reservations_station_evse_status", "station_id", "evse_id", "status"),
        # Enforced by the database itself: one request in flight per EVSE (two concurrent
        # requests cannot both be sent), and one reservation the station holds per EVSE. A
        # request may be sent while a stored hold exists: the station decides, and if it
        # accepts, the stored hold was stale and is marked Superseded in the same transaction.
        Index(
            "uq_reservations_one_request_per_evse", "station_id", "evse_id", unique=True,
            postgresql_where=text("status = 'Requested'"),
            sqlite_where=text("status = 'Requested'"),
        ),
        Index(
            "uq_reservations_one_hold_per_evse", "station_id", "evse_id", unique=True,
            postgresql_where=text("status = 'Accepted'"),
            sqlite_where=text("status = 'Accepted'"),
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    station_id: Mapped[str] = mapped_column(ForeignKey("stations.id", ondelete="CASCADE"))
    evse_id: Mapped[int] = mapped_column(Integer)
    connector_id: Mapped[int | None] = mapped_column(Integer)
    id_token: Mapped[str] = mapped_column(String(64), index=True)
    expires_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(12), default="Requested")
    """Requested, then the station's answer (Accepted, Rejected, Faulted, Occupied,
    Unavailable), then Cancelled, Expired, Used or Superseded."""
    connector_type: Mapped[str | None] = mapped_column(String(20))
    """2.0.1 ConnectorEnumType: the station holds an EVSE with a connector of this type."""
    group_id_token: Mapped[str | None] = mapped_column(String(36))
    """A token of this group may use the reservation too (1.6 parentIdTag, 2.0.1 groupIdToken)."""
    transaction_id: Mapped[int | None] = mapped_column(ForeignKey("transactions.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


# -- smart charging (issue 5) -------------------------------------------------------------------


class SmartSite(TenantOwned, Base):
    """A site under load management: its grid connection (the root circuit) and optional inputs.

    Limits are amperes per phase (breakers are rated per phase); `voltage` is phase-to-neutral.
    """

    __tablename__ = "smart_sites"
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True)
    grid_limit_a: Mapped[Decimal]
    voltage: Mapped[Decimal]
    base_load_w: Mapped[Decimal | None]
    depot: Mapped[bool] = mapped_column(Boolean, default=False)
    solar: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """Panels for the clear-sky model: {"kwp", "tilt", "azimuth"}; location is the site's."""
    prices: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """Time-of-use prices: {"currency", "utc_offset_minutes", "demand_charge_per_kw", "bands":
    [{"starts": "HH:MM", "price_per_kwh": "0.20"}]}, amounts as decimal strings."""
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Circuit(TenantOwned, Base):
    """A feeder, cabinet or charger breaker under a site's connection; `parent_id` None hangs it
    from the connection itself."""

    __tablename__ = "circuits"
    __table_args__ = (UniqueConstraint("site_id", "code"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("smart_sites.site_id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(48))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("circuits.id", ondelete="CASCADE"), index=True)
    name: Mapped[str | None] = mapped_column(String(200))
    limit_a: Mapped[Decimal]
    phases: Mapped[int] = mapped_column(Integer, default=3)


class EvseCircuit(TenantOwned, Base):
    """Which circuit an EVSE hangs from, how much it counts, and what it can take."""

    __tablename__ = "evse_circuits"
    station_id: Mapped[str] = mapped_column(ForeignKey("stations.id", ondelete="CASCADE"), primary_key=True)
    evse_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    circuit_id: Mapped[int] = mapped_column(ForeignKey("circuits.id", ondelete="CASCADE"), index=True)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    max_current_a: Mapped[Decimal]
    min_current_a: Mapped[Decimal]
    phases: Mapped[int] = mapped_column(Integer, default=3)
    obeys_profiles: Mapped[bool] = mapped_column(Boolean, default=True)
    """False once the station was seen drawing over its limit (or the operator says so): it then
    gets headroom at its maximum instead of a share."""


class ChargingPriority(TenantOwned, Base):
    """Priority of every session started with a token of this group (e.g. a taxi fleet = 10)."""

    __tablename__ = "charging_priorities"
    group_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    priority: Mapped[int] = mapped_column(Integer)


class ChargingProfileRecord(TenantOwned, Base):
    """A charging profile silkcharge set on a station (and the station accepted), as neutral
    fields (smart/profiles.py `profile_fields`), so the composite can be computed here."""

    __tablename__ = "charging_profiles"
    __table_args__ = (UniqueConstraint("station_id", "profile_id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(ForeignKey("stations.id", ondelete="CASCADE"))
    evse_id: Mapped[int] = mapped_column(Integer)
    profile_id: Mapped[int] = mapped_column(Integer)
    purpose: Mapped[str] = mapped_column(String(40))
    stack_level: Mapped[int] = mapped_column(Integer)
    transaction_id: Mapped[str | None] = mapped_column(String(64))
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(String(16))
    """operator, load (real-time load management) or depot."""
    installed_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReportedChargingProfiles(TenantOwned, Base):
    """One part of a 2.0.1 ReportChargingProfiles (K09): what a station says it has installed
    on one EVSE, by whatever source, in its own OCPP shape."""

    __tablename__ = "reported_charging_profiles"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(ForeignKey("stations.id", ondelete="CASCADE"), index=True)
    request_id: Mapped[int] = mapped_column(Integer)
    evse_id: Mapped[int] = mapped_column(Integer)
    limit_source: Mapped[str] = mapped_column(String(20))
    """EMS, Other, SO or CSO: who set the profiles."""
    profiles: Mapped[list[Any]] = mapped_column(JSON)
    tbc: Mapped[bool] = mapped_column(Boolean)
    reported_at: Mapped[datetime] = mapped_column(default=utcnow)


class EvChargingNeeds(TenantOwned, Base):
    """What the EV on an EVSE last said it needs (2.0.1 NotifyEVChargingNeeds, K15-K17):
    energy, limits, departure time, as the station sent them."""

    __tablename__ = "ev_charging_needs"
    station_id: Mapped[str] = mapped_column(ForeignKey("stations.id", ondelete="CASCADE"), primary_key=True)
    evse_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    needs: Mapped[dict[str, Any]] = mapped_column(JSON)
    max_schedule_tuples: Mapped[int | None] = mapped_column(Integer)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class LocalControllerStation(TenantOwned, Base):
    """A station behind a local controller (2.0.1 K03, K14): the controller is a station too;
    a limit set on it (its own NotifyChargingLimit, or the profiles silkcharge sends it) holds
    for all its stations together."""

    __tablename__ = "local_controller_stations"
    station_id: Mapped[str] = mapped_column(ForeignKey("stations.id", ondelete="CASCADE"), primary_key=True)
    controller_id: Mapped[str] = mapped_column(ForeignKey("stations.id", ondelete="CASCADE"), index=True)


class SmartProblem(TenantOwned, Base):
    """What load management could not do, for the operator: a profile refused, a station over
    its limit, a limit below a car's minimum current, a departure that cannot be met."""

    __tablename__ = "smart_problems"
    __table_args__ = (Index("ix_smart_problems_site", "site_id", "id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    station_id: Mapped[str | None] = mapped_column(String(48))
    evse_id: Mapped[int | None] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class DepotVehicle(TenantOwned, Base):
    """A vehicle of a depot's plan: when it arrives and leaves, what it needs, where it charges."""

    __tablename__ = "depot_vehicles"
    __table_args__ = (UniqueConstraint("site_id", "code"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("smart_sites.site_id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(48))
    arrival: Mapped[datetime]
    departure: Mapped[datetime]
    max_power_kw: Mapped[Decimal]
    energy_kwh: Mapped[Decimal | None]
    battery_kwh: Mapped[Decimal | None]
    soc: Mapped[Decimal | None]
    target_soc: Mapped[Decimal | None]
    station_id: Mapped[str | None] = mapped_column(String(48))
    evse_id: Mapped[int | None] = mapped_column(Integer)
    id_token: Mapped[str | None] = mapped_column(String(64))
    # V2G (OCPP 2.1): the driver opted in, the most it discharges (kW), the SoC it keeps while parked
    v2g: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    max_discharge_kw: Mapped[Decimal | None]
    min_soc: Mapped[Decimal | None]


class SecurityEvent(TenantOwned, Base):
    """The security event list: what a station reported (2.0.1 and 1.6-security
    SecurityEventNotification) and what the CSMS decided about a station for security reasons
    (a refused handshake, certificate or downgrade), each with a reason an operator can read.
    `station_id` is not a foreign key: a refused caller may name a station that does not exist."""

    __tablename__ = "security_events"
    __table_args__ = (Index("ix_security_events_station", "station_id", "occurred_at"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    station_id: Mapped[str | None] = mapped_column(String(48))
    origin: Mapped[str] = mapped_column(String(8))  # "station" or "csms"
    type: Mapped[str] = mapped_column(String(50), index=True)
    reason: Mapped[str | None] = mapped_column(String(500))
    reason_code: Mapped[str | None] = mapped_column(String(48))
    """The reason as a code of domain/security_reasons.py, with `reason_values`: the console
    words it in the operator's language (None for a station's own event, and before 0043)."""
    reason_values: Mapped[dict[str, str] | None] = mapped_column(JSON)
    tech_info: Mapped[str | None] = mapped_column(String(255))
    source_address: Mapped[str | None] = mapped_column(String(64))
    occurred_at: Mapped[datetime] = mapped_column(index=True)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class NetworkProfileChange(TenantOwned, Base):
    """A network connection profile an operator had written to a station (2.0.1 B09,
    SetNetworkProfile) or a move of the station to another CSMS (B10: the profile, the
    NetworkConfigurationPriority and a reset), with each step the station answered."""

    __tablename__ = "network_profile_changes"
    __table_args__ = (Index("ix_network_profile_changes_station", "station_id", "id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(ForeignKey("stations.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(String(24))  # "SetNetworkProfile" or "MigrateToCsms"
    configuration_slot: Mapped[int] = mapped_column(Integer)
    connection_data: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str | None] = mapped_column(String(24))
    """The outcome: the station's answer to the last step sent, or Failed when none came."""
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    reason: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


# -- plausibility, CDR review and operator endings (issue 14) -------------------------------------


class PlausibilityFlag(TenantOwned, Base):
    """What a station sent that broke a plausibility rule (domain/plausibility.py): the rule,
    the reason an operator reads, the value as received and what was used instead (None: set
    aside), and the frame's message id, by which the message log finds the raw frame. A flag
    with a transaction holds that session's CDR for review; one without (a status report's
    wrong clock) is the station's own."""

    __tablename__ = "plausibility_flags"
    __table_args__ = (Index("ix_plausibility_flags_station", "station_id", "at"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(String(48))
    transaction_id: Mapped[int | None] = mapped_column(
        ForeignKey("transactions.id", ondelete="CASCADE"), index=True
    )
    rule: Mapped[str] = mapped_column(String(32), index=True)
    field: Mapped[str] = mapped_column(String(64))
    value: Mapped[str] = mapped_column(String(100))
    used: Mapped[str | None] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(String(500))
    message_id: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str | None] = mapped_column(String(48))
    at: Mapped[datetime] = mapped_column(index=True)


class CdrReview(TenantOwned, Base):
    """A CDR built on flagged input: held, not billed, until an operator approves, corrects
    (the price recomputed from corrected energy and times) or voids it."""

    __tablename__ = "cdr_reviews"
    cdr_id: Mapped[str] = mapped_column(ForeignKey("cdrs.id", ondelete="CASCADE"), primary_key=True)
    status: Mapped[str] = mapped_column(String(12), index=True)
    """held, approved, corrected or voided."""
    reasons: Mapped[list[str]] = mapped_column(JSON)
    held_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]
    note: Mapped[str | None] = mapped_column(String(500))
    """The operator's words with the decision."""
    correction: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """What the operator corrected: energy_wh, started_at, stopped_at as given."""
    held_totals: Mapped[dict[str, Any]] = mapped_column(JSON)
    """The CDR's totals when it was held, kept whatever the decision."""


class TransactionEnding(TenantOwned, Base):
    """An operator ended a transaction its station never stopped, and said why."""

    __tablename__ = "transaction_endings"
    transaction_id: Mapped[int] = mapped_column(
        ForeignKey("transactions.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    reason: Mapped[str] = mapped_column(String(500))
    ended_at: Mapped[datetime]
    """When the operator ended it (the transaction's stopped_at is when charging ended)."""

# -- regulated price caps: areas, caps, and the tariffs they suspend ------------------------------


class JurisdictionRecord(Base):
    """An area a regulated price cap binds (a city's administrative boundary): every site whose
    location lies inside the polygon ([lon, lat] rings, the first the outline) is bound."""

    __tablename__ = "jurisdictions"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(48), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    country: Mapped[str] = mapped_column(String(2))
    polygon: Mapped[list[Any]] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(Text)
    source_date: Mapped[str | None] = mapped_column(String(32))
    licence: Mapped[str] = mapped_column(String(200))
    confidence: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


# -- certificates (issue 13: certificate management) ---------------------------------------------


class StationCertificate(TenantOwned, Base):
    """A certificate on a station, as silkcharge knows it: one its CA signed from the station's
    CSR (source "csr"), a chain an operator delivered ("delivered"), a root installed by command
    ("install"), or one only seen in the station's GetInstalledCertificateIds report ("report",
    known by its hash data alone, without PEM). `certificate_type` is spelled as OCPP 2.0.1
    spells it (the 1.6 security extension's names are mapped by its adapter). `status`: Issued
    (signed, not yet confirmed by the station), Installed, Rejected (the station refused it) or
    Deleted (deleted by command, or missing from the station's last report)."""

    __tablename__ = "station_certificates"
    __table_args__ = (Index("ix_station_certificates_station", "station_id", "certificate_type"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(ForeignKey("stations.id", ondelete="CASCADE"))
    certificate_type: Mapped[str] = mapped_column(String(40))
    source: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    hash_algorithm: Mapped[str] = mapped_column(String(8))
    issuer_name_hash: Mapped[str] = mapped_column(String(128))
    issuer_key_hash: Mapped[str] = mapped_column(String(128))
    serial_number: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str | None] = mapped_column(String(300))
    issuer: Mapped[str | None] = mapped_column(String(300))
    not_before: Mapped[datetime | None]
    not_after: Mapped[datetime | None] = mapped_column(index=True)
    pem: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class PriceCapRecord(Base):
    """A regulated price cap with its legal source (`body`: the rule as `caps.PriceCapRule`
    reads it). A withdrawn cap is kept, with the tariffs it suspended, as the record of what
    bound the network when."""

    __tablename__ = "price_caps"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    jurisdiction_id: Mapped[int] = mapped_column(ForeignKey("jurisdictions.id", ondelete="RESTRICT"), index=True)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    withdrawn_at: Mapped[datetime | None]


class TariffSuspension(TenantOwned, Base):
    """A tariff that breaks a cap at a site: an alert for its operator. While it is open
    (`resolved_at` None) sessions there are charged the tariff's capped price. It is resolved,
    not deleted, when the tariff, the site, the area or the cap changes so that it holds again."""

    __tablename__ = "tariff_suspensions"
    __table_args__ = (Index("ix_tariff_suspensions_site", "site_id", "resolved_at"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tariff_id: Mapped[int] = mapped_column(ForeignKey("tariffs.id", ondelete="CASCADE"), index=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    cap_id: Mapped[int] = mapped_column(ForeignKey("price_caps.id", ondelete="CASCADE"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    effective_from: Mapped[date] = mapped_column(Date)
    """The first local day the tariff breaks the cap (a later VAT change can be the cause)."""
    since: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None]
    resolution: Mapped[str | None] = mapped_column(String(200))


# -- analytics roll-ups (planning/rollups.py, issue 14) ---------------------------------------


class AnalyticsStationDay(TenantOwned, Base):
    """One station's operations totals for one UTC day (`planning.analytics.StationTotals`), so
    a year of analytics reads one row per station and day instead of every frame of the year.
    Durations are whole microseconds; money and energy exact decimals (in JSON as strings)."""

    __tablename__ = "analytics_station_days"
    station_id: Mapped[str] = mapped_column(ForeignKey("stations.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True, index=True)
    sessions: Mapped[int] = mapped_column(Integer)
    energy_wh: Mapped[Decimal]
    short_sessions: Mapped[int] = mapped_column(Integer)
    refused: Mapped[int] = mapped_column(Integer)
    revenue: Mapped[dict[str, Any]] = mapped_column(JSON)
    """Currency -> [CDRs, total excl. VAT, total incl. VAT]."""
    occupied: Mapped[dict[str, Any]] = mapped_column(JSON)
    """"evse/connector" -> [microseconds in transactions, [24 microseconds by local hour]]."""
    present_us: Mapped[int] = mapped_column(BigInteger)
    faulted_us: Mapped[int] = mapped_column(BigInteger)
    available_us: Mapped[int] = mapped_column(BigInteger)
    connector_faulted: Mapped[dict[str, Any]] = mapped_column(JSON)
    """"evse/connector" -> microseconds Faulted."""
    down_periods: Mapped[int] = mapped_column(Integer)
    absent_at_start: Mapped[bool] = mapped_column(Boolean)
    absent_at_end: Mapped[bool] = mapped_column(Boolean)
    statuses: Mapped[dict[str, Any]] = mapped_column(JSON)
    """"evse/connector" -> last reported status at the day's end."""


class AnalyticsDay(Base):
    """A UTC day whose totals are in `analytics_station_days` for every station (a station
    without a row was not registered yet: nothing was heard of it that day)."""

    __tablename__ = "analytics_days"
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    rolled_at: Mapped[datetime]
    checked_until: Mapped[datetime]
    """Transactions and CDRs changed up to this time are in the day's totals; the roll-up job
    moves it on after folding in later changes, and a query reads those still newer itself."""


# What the roll-up job and an analytics query read to find totals that changed after a day was
# rolled up: transactions by their change stamp, the running ones, and CDRs by when made.
Index("ix_transactions_updated_at", Transaction.updated_at)
Index("ix_transactions_state", Transaction.state)
Index("ix_cdrs_created_at", ChargeDetailRecord.created_at)


class CertificateAuthorityRecord(Base):
    """The CSMS-managed CA that signs station CSRs when no external CA is configured
    (settings ca_cert_file / ca_key_file). One row, made by the first process that needs it, so
    every gateway process of a deployment signs with the same CA. The key is PEM in the database:
    protect the database accordingly, or configure an external CA (docs/operations.md)."""

    __tablename__ = "certificate_authority"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    certificate_pem: Mapped[str] = mapped_column(Text)
    key_pem: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# -- device model, display messages, customer information, external limits (issue 13) ----------


class VariableMonitor(TenantOwned, Base):
    """A monitor on a station's device-model variable (2.0.1 N02-N08): one silkcharge set
    (SetVariableMonitoring, kept with the id the station gave it) or one the station reported
    (NotifyMonitoringReport: hard-wired and preconfigured monitors too)."""

    __tablename__ = "variable_monitors"
    __table_args__ = (UniqueConstraint("station_id", "monitor_id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(ForeignKey("stations.id", ondelete="CASCADE"))
    monitor_id: Mapped[int] = mapped_column(Integer)
    component: Mapped[str] = mapped_column(String(50))
    component_instance: Mapped[str | None] = mapped_column(String(50))
    evse_id: Mapped[int | None] = mapped_column(Integer)
    connector_id: Mapped[int | None] = mapped_column(Integer)
    variable: Mapped[str] = mapped_column(String(50))
    variable_instance: Mapped[str | None] = mapped_column(String(50))
    type: Mapped[str] = mapped_column(String(24))
    """UpperThreshold, LowerThreshold, Delta, Periodic or PeriodicClockAligned."""
    value: Mapped[Decimal]
    severity: Mapped[int] = mapped_column(Integer)
    """0 (Danger) to 9 (Debug), as OCPP 2.0.1 numbers them."""
    transaction: Mapped[bool] = mapped_column(Boolean, default=False)
    source: Mapped[str] = mapped_column(String(8))
    """csms (silkcharge set it) or station (learned from a monitoring report)."""
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class DeviceEvent(TenantOwned, Base):
    """One NotifyEvent entry: a hard-wired notification (a Problem, say) or what a monitor saw.
    `variable_monitoring_id` is the station's monitor id, joined to `variable_monitors` when
    read: a preconfigured monitor silkcharge never heard of keeps its events all the same."""

    __tablename__ = "device_events"
    __table_args__ = (
        UniqueConstraint("station_id", "event_id", "occurred_at", name="uq_device_event"),
        Index("ix_device_events_station", "station_id", "id"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(ForeignKey("stations.id", ondelete="CASCADE"))
    event_id: Mapped[int] = mapped_column(Integer)
    occurred_at: Mapped[datetime]
    trigger: Mapped[str] = mapped_column(String(16))
    cause: Mapped[int | None] = mapped_column(Integer)
    actual_value: Mapped[str] = mapped_column(Text)
    tech_code: Mapped[str | None] = mapped_column(String(50))
    tech_info: Mapped[str | None] = mapped_column(Text)
    cleared: Mapped[bool | None] = mapped_column(Boolean)
    transaction_id: Mapped[str | None] = mapped_column(String(36))
    component: Mapped[str] = mapped_column(String(50))
    component_instance: Mapped[str | None] = mapped_column(String(50))
    evse_id: Mapped[int | None] = mapped_column(Integer)
    connector_id: Mapped[int | None] = mapped_column(Integer)
    variable: Mapped[str] = mapped_column(String(50))
    variable_instance: Mapped[str | None] = mapped_column(String(50))
    variable_monitoring_id: Mapped[int | None] = mapped_column(Integer)
    notification_type: Mapped[str] = mapped_column(String(24))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class DisplayMessage(TenantOwned, Base):
    """A message on a station's screen (2.0.1 O01-O06), as the station holds it: one language
    each. Translations silkcharge sent together share `group_id`, the first one's message id."""

    __tablename__ = "display_messages"
    __table_args__ = (UniqueConstraint("station_id", "message_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    station_id: Mapped[str] = mapped_column(ForeignKey("stations.id", ondelete="CASCADE"))
    message_id: Mapped[int] = mapped_column(Integer)
    group_id: Mapped[int | None] = mapped_column(Integer)
    priority: Mapped[str] = mapped_column(String(16))
    state: Mapped[str | None] = mapped_column(String(16))
    starts_at: Mapped[datetime | None]
    ends_at: Mapped[datetime | None]
    transaction_id: Mapped[str | None] = mapped_column(String(36))
    """The station's own transaction id, for a message shown only during that session."""
    display: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    format: Mapped[str] = mapped_column(String(8))
    language: Mapped[str | None] = mapped_column(String(8))
    content: Mapped[str] = mapped_column(String(512))
    source: Mapped[str] = mapped_column(String(8))
    """csms (silkcharge set it) or station (learned from NotifyDisplayMessages)."""
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class StationRequest(TenantOwned, Base):
    """A request whose answer comes back in numbered parts (CustomerInformation,
    GetMonitoringReport, GetDisplayMessages), stored before it is sent so no part can arrive
    first. `request_id` is what the station is given; parts for a request silkcharge never
    made are kept under a row of status Unsolicited."""

    __tablename__ = "station_requests"
    __table_args__ = (Index("ix_station_requests_lookup", "station_id", "kind", "request_id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(ForeignKey("stations.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    request_id: Mapped[int | None] = mapped_column(Integer)
    asked: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    status: Mapped[str | None] = mapped_column(String(24))
    parts: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """Customer information: {seqNo: data} as the parts arrived, joined in order into `data`."""
    data: Mapped[str | None] = mapped_column(Text)
    complete: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class FirmwarePublication(TenantOwned, Base):
    """A firmware file a local controller publishes to the stations behind it (2.0.1 L03/L04)."""

    __tablename__ = "firmware_publications"
    __table_args__ = (UniqueConstraint("station_id", "checksum"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    station_id: Mapped[str] = mapped_column(ForeignKey("stations.id", ondelete="CASCADE"))
    request_id: Mapped[int | None] = mapped_column(Integer)
    location: Mapped[str | None] = mapped_column(String(512))
    """None for a status about a publication silkcharge never asked for (kept all the same)."""
    checksum: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(24))
    published_locations: Mapped[list[str] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ExternalChargingLimit(TenantOwned, Base):
    """A limit an energy management system or grid operator set on a station (2.0.1 K11-K14,
    NotifyChargingLimit), until ClearedChargingLimit. `evse_id` 0 limits the whole station."""

    __tablename__ = "external_charging_limits"
    __table_args__ = (UniqueConstraint("station_id", "evse_id", "source"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    station_id: Mapped[str] = mapped_column(ForeignKey("stations.id", ondelete="CASCADE"))
    evse_id: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(8))
    grid_critical: Mapped[bool | None] = mapped_column(Boolean)
    schedules: Mapped[list[Any] | None] = mapped_column(JSON)
    """The chargingSchedule list as the station sent it (camelCase); None when it named none."""
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class EvChargingSchedule(TenantOwned, Base):
    """The charging schedule an ISO 15118 vehicle planned (2.0.1 K15-K17), with its transaction."""

    __tablename__ = "ev_charging_schedules"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(ForeignKey("stations.id", ondelete="CASCADE"), index=True)
    evse_id: Mapped[int] = mapped_column(Integer)
    transaction_id: Mapped[int | None] = mapped_column(
        ForeignKey("transactions.id", ondelete="SET NULL"), index=True
    )
    time_base: Mapped[datetime]
    schedule: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))
    """What silkcharge answered: Accepted, or Rejected when it exceeds the limits installed."""
    reason: Mapped[str | None] = mapped_column(String(500))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


# -- station profiles (issue 13) ------------------------------------------------------------------


class StationProfileRecord(Base):
    """A station profile an operator stored (domain/station_profiles.py): what stations matching
    it support and need. One with the name of a profile shipped in the package replaces it."""

    __tablename__ = "station_profiles"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    match: Mapped[dict[str, Any]] = mapped_column(JSON)
    facts: Mapped[dict[str, Any]] = mapped_column(JSON)
    note: Mapped[str | None] = mapped_column(Text)
    sources: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


# -- OCPP 2.1 local cost and ad-hoc payment (issue 17) ---------------------------------------------


class StationTariff(TenantOwned, Base):
    """A tariff a 2.1 station was sent (SetDefaultTariff for an EVSE, 0 for all; or
    ChangeTransactionTariff for one transaction), with the station's answer; `cleared_at` once
    ClearTariffs took it off."""

    __tablename__ = "station_tariffs"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(ForeignKey("stations.id", ondelete="CASCADE"), index=True)
    evse_id: Mapped[int] = mapped_column(Integer)
    tariff_code: Mapped[str] = mapped_column(String(36))
    transaction_id: Mapped[int | None] = mapped_column(ForeignKey("transactions.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(String(500))
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)
    cleared_at: Mapped[datetime | None]


class StationCostRecord(TenantOwned, Base):
    """A cost a 2.1 station calculated itself (TransactionEvent costDetails): kept to compare
    with the platform's price, never billed."""

    __tablename__ = "station_costs"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    transaction_id: Mapped[int] = mapped_column(ForeignKey("transactions.id", ondelete="CASCADE"), index=True)
    event: Mapped[str] = mapped_column(String(8))
    reported_at: Mapped[datetime]
    currency: Mapped[str | None] = mapped_column(String(3))
    total_excl_vat: Mapped[Decimal | None]
    total_incl_vat: Mapped[Decimal | None]
    type_of_cost: Mapped[str | None] = mapped_column(String(16))
    tariff_id: Mapped[str | None] = mapped_column(String(60))
    energy_wh: Mapped[Decimal | None]
    charging_seconds: Mapped[int | None] = mapped_column(Integer)
    idle_seconds: Mapped[int | None] = mapped_column(Integer)
    failure_reason: Mapped[str | None] = mapped_column(String(500))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class CardSettlement(TenantOwned, Base):
    """A bank card payment at the charger, as the station reported its settlement
    (NotifySettlement): the amount in the currency of the station's operator, and the receipt
    the driver was given (`receipt_id`, unguessable: the receipt's address is public)."""

    __tablename__ = "card_settlements"
    __table_args__ = (UniqueConstraint("station_id", "psp_ref", "status", "settled_at"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(ForeignKey("stations.id", ondelete="CASCADE"), index=True)
    transaction_id: Mapped[int | None] = mapped_column(ForeignKey("transactions.id", ondelete="SET NULL"), index=True)
    psp_ref: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16))
    amount: Mapped[Decimal]
    currency: Mapped[str | None] = mapped_column(String(3))
    """The station's operator's currency (2.1 names none); None for a station in no site."""
    settled_at: Mapped[datetime]
    status_info: Mapped[str | None] = mapped_column(String(500))
    vat_number: Mapped[str | None] = mapped_column(String(20))
    vat_company: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    receipt_id: Mapped[str | None] = mapped_column(String(50), unique=True)
    terminal_receipt_url: Mapped[str | None] = mapped_column(String(2000))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class DerControlRecord(TenantOwned, Base):
    """A DER control (OCPP 2.1 R04) on a station: one an operator set (SetDERControl, with the
    station's answer), or one the station listed in a ReportDERControl. `settings` holds the
    control's parameters in the neutral vocabulary (domain/commands.py `DerControlSettings`);
    `active` what NotifyDERStartStop said last (None: never told); `cleared_at` once
    ClearDERControl took it off; `superseded` once a newer control of the same type replaced it."""

    __tablename__ = "der_controls"
    __table_args__ = (Index("ix_der_controls_lookup", "station_id", "control_id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(ForeignKey("stations.id", ondelete="CASCADE"), index=True)
    control_id: Mapped[str] = mapped_column(String(36))
    control_type: Mapped[str] = mapped_column(String(32))
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    settings: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(String(8))  # "set" or "report"
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(500))
    superseded: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool | None] = mapped_column(Boolean)
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    cleared_at: Mapped[datetime | None]


class DerAlarm(TenantOwned, Base):
    """A DER alarm a 2.1 station raised or ended (NotifyDERAlarm): the control it concerns, the
    grid event that caused it, and whether it ended."""

    __tablename__ = "der_alarms"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(ForeignKey("stations.id", ondelete="CASCADE"), index=True)
    control_type: Mapped[str] = mapped_column(String(32))
    grid_event_fault: Mapped[str | None] = mapped_column(String(32))
    alarm_ended: Mapped[bool] = mapped_column(Boolean, default=False)
    raised_at: Mapped[datetime]
    extra_info: Mapped[str | None] = mapped_column(String(200))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class RoamingLocation(TenantOwned, Base):
    """A partner CPO's OCPI 2.2.1 Location as it pushed it to us (our eMSP role): the whole body,
    EVSEs and connectors inside, as we serve it back; `stamps` the last_updated each object
    (the location's own fields, each EVSE's, each connector's) was written at, so an update that
    arrives out of order changes nothing newer (roaming/locations.py). Coordinates are numbers
    here, for the search near a point."""

    __tablename__ = "roaming_locations"
    __table_args__ = (
        UniqueConstraint("tenant_id", "country_code", "party_id", "location_id"),
        Index("ix_roaming_locations_position", "lat", "lon"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    partner_id: Mapped[int] = mapped_column(Integer, index=True)
    """The roaming partner that sent it (roaming_partners.id, ocpi-core's table)."""
    country_code: Mapped[str] = mapped_column(String(2))
    party_id: Mapped[str] = mapped_column(String(3))
    location_id: Mapped[str] = mapped_column(String(36))
    publish: Mapped[bool] = mapped_column(Boolean)
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    stamps: Mapped[dict[str, Any]] = mapped_column(JSON)
    last_updated: Mapped[datetime] = mapped_column(index=True)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class RoamingTariff(TenantOwned, Base):
    """A partner CPO's OCPI 2.2.1 Tariff as it pushed it to us (our eMSP role), whole."""

    __tablename__ = "roaming_tariffs"
    __table_args__ = (UniqueConstraint("tenant_id", "country_code", "party_id", "tariff_id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    partner_id: Mapped[int] = mapped_column(Integer, index=True)
    country_code: Mapped[str] = mapped_column(String(2))
    party_id: Mapped[str] = mapped_column(String(3))
    tariff_id: Mapped[str] = mapped_column(String(36))
    currency: Mapped[str] = mapped_column(String(3))
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    last_updated: Mapped[datetime] = mapped_column(index=True)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class RoamingIdentity(TenantOwned, Base):
    """Who the tenant is in OCPI roaming: a party (country code, party id) in a role (CPO or
    EMSP), with the business details sent to partners in the credentials exchange."""

    __tablename__ = "roaming_identities"
    __table_args__ = (UniqueConstraint("tenant_id", "country_code", "party_id", "role"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    country_code: Mapped[str] = mapped_column(String(2))
    party_id: Mapped[str] = mapped_column(String(3))
    role: Mapped[str] = mapped_column(String(8))  # "CPO" or "EMSP"
    business_name: Mapped[str] = mapped_column(String(100))
    website: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class RoamingPartner(TenantOwned, Base):
    """An OCPI platform the tenant roams with (roaming/partners.py). `state`: invited (our
    token A given out, or our registration with them under way), registered, unregistered.
    `endpoints` are their version details' endpoints, `roles` their parties. Of the token
    they call us with only its SHA-256 is kept (`token_to_us_digest`, unique: it names the
    partner); the token we call them with (`token_to_them`) has to be kept as it is, and
    is a secret: no API answer or log line shows it."""

    __tablename__ = "roaming_partners"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(16))
    versions_url: Mapped[str | None] = mapped_column(String(255))
    version: Mapped[str | None] = mapped_column(String(8))
    endpoints: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    roles: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    token_to_us_digest: Mapped[str | None] = mapped_column(String(64), unique=True)
    token_to_them: Mapped[str | None] = mapped_column(String(64))
    last_push_at: Mapped[datetime | None]
    last_pull_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ExchangeRateRecord(TenantOwned, Base):
    """An exchange rate an operator entered (domain/exchange.py): 1 `from_currency` =
    `rate` `to_currency` on `valid_on`, with where it comes from and who entered it; one per
    pair and day in a tenant. `inverse_allowed`: the operator allows 1 / rate the other way."""

    __tablename__ = "exchange_rates"
    __table_args__ = (
        UniqueConstraint("tenant_id", "from_currency", "to_currency", "valid_on", name="uq_exchange_rate_day"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    from_currency: Mapped[str] = mapped_column(String(3))
    to_currency: Mapped[str] = mapped_column(String(3))
    rate: Mapped[Decimal] = mapped_column(ExactRate())
    valid_on: Mapped[date] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(200))
    inverse_allowed: Mapped[bool] = mapped_column(Boolean, default=False)
    entered_by: Mapped[str] = mapped_column(String(200))
    entered_at: Mapped[datetime] = mapped_column(default=utcnow)


# -- OCPI roaming: what is pushed to partners (issue 16; roaming/outbox.py) ----------------------


class RoamingOutboxRow(TenantOwned, Base):
    """One push to one roaming partner, kept until the partner took it: a change of one OCPI
    object (`object_key`, e.g. "KZ/SLK/ALA-001/ST-7*1" for EVSE 1 of station ST-7) sent as
    `method` to `path` below the partner's `module` RECEIVER endpoint. `sequence` grows per (partner, object), so an object's
    later change never overtakes an earlier one. `state`: pending (to send, from
    `next_attempt_at`), sent, parked (the partner refused it in a way no retry fixes; an
    operator may re-queue it) or superseded (a later PUT of the same object carries it).
    `locked_until`: a sender holds the row while its request is in flight."""

    __tablename__ = "roaming_outbox"
    __table_args__ = (
        UniqueConstraint("partner_id", "object_key", "sequence"),
        Index("ix_roaming_outbox_due", "partner_id", "state", "next_attempt_at"),
        # An object's pending pushes, which the sender's look for what may go asks about
        # (`outbox._due_heads`): without it, it read every push of the object ever sent (0040).
        Index("ix_roaming_outbox_pending", "partner_id", "object_key", "sequence",
              sqlite_where=text("state = 'pending'"), postgresql_where=text("state = 'pending'")),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("roaming_partners.id", ondelete="CASCADE"), index=True)
    module: Mapped[str] = mapped_column(String(16))
    object_key: Mapped[str] = mapped_column(String(160))
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(300))
    body: Mapped[Any | None] = mapped_column(JSON)
    sequence: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(12), default="pending")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    locked_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
    sent_at: Mapped[datetime | None]


class RoamingOutboxSequence(TenantOwned, Base):
    """The last sequence given to an object's pushes to one partner. Taking the next one updates
    this row, which holds concurrent enqueuers of the same object in line until the first
    commits, so sequence order is commit order."""

    __tablename__ = "roaming_outbox_sequences"
    partner_id: Mapped[int] = mapped_column(ForeignKey("roaming_partners.id", ondelete="CASCADE"), primary_key=True)
    object_key: Mapped[str] = mapped_column(String(160), primary_key=True)
    last: Mapped[int] = mapped_column(BigInteger)



class RoamingSession(TenantOwned, Base):
    """A charging session of one of our drivers at a roaming partner's station (our eMSP role),
    as the CPO pushed it: the OCPI Session object (`body`, merged PUT and PATCHes) with the fields
    we search by. `last_updated` is the CPO's: an older PATCH arriving late is not applied."""

    __tablename__ = "roaming_sessions"
    __table_args__ = (UniqueConstraint("partner_id", "country_code", "party_id", "session_id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("roaming_partners.id", ondelete="CASCADE"), index=True)
    country_code: Mapped[str] = mapped_column(String(2))
    party_id: Mapped[str] = mapped_column(String(3))
    session_id: Mapped[str] = mapped_column(String(36))
    token_uid: Mapped[str | None] = mapped_column(String(36), index=True)
    status: Mapped[str] = mapped_column(String(12))
    last_updated: Mapped[datetime]
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class RoamingCdr(TenantOwned, Base):
    """A CDR a roaming partner (a CPO) sent us (our eMSP role), priced in its currency, and
    the driver's charge in ours. A replay of the same CDR is not stored twice (`digest` of the
    body); a CDR with a known id but other content is kept with `conflict` set, for review,
    and the first one stands. `charge_state`: "converted" (both amounts and the rate used) or
    "held" (`hold_reason`: no rate, or only a stale one; nothing guessed)."""

    __tablename__ = "roaming_cdrs"
    __table_args__ = (UniqueConstraint("partner_id", "country_code", "party_id", "cdr_id", "digest"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("roaming_partners.id", ondelete="CASCADE"), index=True)
    country_code: Mapped[str] = mapped_column(String(2))
    party_id: Mapped[str] = mapped_column(String(3))
    cdr_id: Mapped[str] = mapped_column(String(39))
    digest: Mapped[str] = mapped_column(String(64))
    conflict: Mapped[bool] = mapped_column(Boolean, default=False)
    session_id: Mapped[str | None] = mapped_column(String(36))
    token_uid: Mapped[str | None] = mapped_column(String(36), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    total_excl_vat: Mapped[Decimal]
    total_incl_vat: Mapped[Decimal | None]
    driver_currency: Mapped[str | None] = mapped_column(String(3))
    driver_excl_vat: Mapped[Decimal | None]
    driver_incl_vat: Mapped[Decimal | None]
    rate: Mapped[Decimal | None] = mapped_column(ExactRate())
    """The rate used, as the operator entered it: 1 `currency` = rate `driver_currency`, or the
    other way round when `rate_inverted` (its inverse was applied)."""
    rate_valid_on: Mapped[date | None] = mapped_column(Date)
    rate_source: Mapped[str | None] = mapped_column(String(200))
    rate_inverted: Mapped[bool | None] = mapped_column(Boolean)
    charge_state: Mapped[str] = mapped_column(String(12))
    hold_reason: Mapped[str | None] = mapped_column(String(300))
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


# -- OCPI roaming: tokens of partners' drivers, and who a session's token belongs to ------------


class RoamingToken(TenantOwned, Base):
    """A token an eMSP partner pushed to us as a CPO (roaming/tokens.py): OCPI's Token object,
    kept so a foreign driver's card is recognised at our chargers. `uid_key` is the uid
    upper-cased (OCPI compares CiStrings case-insensitively), the one the chargers' idTags are
    matched against. Tokens are never deleted by the eMSP, only made invalid."""

    __tablename__ = "roaming_tokens"
    __table_args__ = (UniqueConstraint("tenant_id", "country_code", "party_id", "uid_key", "type"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("roaming_partners.id", ondelete="CASCADE"), index=True)
    country_code: Mapped[str] = mapped_column(String(2))
    party_id: Mapped[str] = mapped_column(String(3))
    uid: Mapped[str] = mapped_column(String(36))
    uid_key: Mapped[str] = mapped_column(String(36), index=True)
    type: Mapped[str] = mapped_column(String(12))
    contract_id: Mapped[str] = mapped_column(String(36))
    visual_number: Mapped[str | None] = mapped_column(String(64))
    issuer: Mapped[str] = mapped_column(String(64))
    group_id: Mapped[str | None] = mapped_column(String(36))
    valid: Mapped[bool] = mapped_column(Boolean)
    whitelist: Mapped[str] = mapped_column(String(16))
    language: Mapped[str | None] = mapped_column(String(2))
    default_profile_type: Mapped[str | None] = mapped_column(String(8))
    energy_contract: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    last_updated: Mapped[datetime]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class RoamingTransaction(TenantOwned, Base):
    """A transaction at our charger started with a roaming partner's token: whose token it was
    (the eMSP partner, the token as it was then) and the eMSP's authorization reference, so the
    session and CDR go to the right partner with the right cdr_token."""

    __tablename__ = "roaming_transactions"
    transaction_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("transactions.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("roaming_partners.id", ondelete="SET NULL"), index=True)
    roaming_token_id: Mapped[int | None] = mapped_column(ForeignKey("roaming_tokens.id", ondelete="SET NULL"), index=True)
    country_code: Mapped[str] = mapped_column(String(2))
    party_id: Mapped[str] = mapped_column(String(3))
    token_uid: Mapped[str] = mapped_column(String(36))
    token_type: Mapped[str] = mapped_column(String(12))
    contract_id: Mapped[str] = mapped_column(String(36))
    authorization_reference: Mapped[str | None] = mapped_column(String(36))
    decided_by: Mapped[str] = mapped_column(String(12))
    """"whitelist" (the stored token), "realtime" (the eMSP answered) or "offline" (the eMSP did
    not answer; the stored token's whitelist allowed it)."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RoamingCommand(TenantOwned, Base):
    """One OCPI 2.2.1 command (roaming/commands.py), in either direction: `direction` "sent" is
    one we sent a partner CPO for a driver of ours (eMSP role; `uid` is the last part of the
    response_url we gave, where its result arrives), "received" one a partner eMSP sent us
    (CPO role; `uid` our own id of it, `response_url` where we send its result). `response` is
    the CommandResponse's result (ACCEPTED, REJECTED, ...), `result` the CommandResult's, each
    with its message; `delivered_at` is when a received command's result reached the partner."""

    __tablename__ = "roaming_commands"
    __table_args__ = (UniqueConstraint("direction", "uid"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    partner_id: Mapped[int] = mapped_column(Integer, index=True)
    direction: Mapped[str] = mapped_column(String(8))
    command: Mapped[str] = mapped_column(String(20))
    uid: Mapped[str] = mapped_column(String(36))
    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    response_url: Mapped[str | None] = mapped_column(String(255))
    station_id: Mapped[str | None] = mapped_column(String(64))
    evse_id: Mapped[int | None] = mapped_column(Integer)
    token_uid: Mapped[str | None] = mapped_column(String(36), index=True)
    reservation_id: Mapped[str | None] = mapped_column(String(36))
    """The OCPI reservation id (RESERVE_NOW, CANCEL_RESERVATION)."""
    local_reservation_id: Mapped[int | None] = mapped_column(Integer)
    """Our reservation (reservations.id) that a received RESERVE_NOW made."""
    response: Mapped[str | None] = mapped_column(String(16))
    response_message: Mapped[str | None] = mapped_column(String(500))
    result: Mapped[str | None] = mapped_column(String(24))
    result_message: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    result_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    delivery_error: Mapped[str | None] = mapped_column(String(500))
    """Why a received command's result has not reached the partner (the last try's failure)."""


class RoamingPushedObject(TenantOwned, Base):
    """Which version of one of our OCPI objects (`module` "locations" or "tariffs", `object_id`
    the Location or Tariff id) a partner was sent (roaming/object_push.py): `digest` is a hash of
    its content apart from timestamps and live status, recorded in the transaction that put the
    PUT in the outbox, so each change is pushed once and none is skipped; `seen_until` the
    object's last_updated when it was last compared, so an object that has not changed since is
    not built again."""

    __tablename__ = "roaming_pushed_objects"
    __table_args__ = (UniqueConstraint("partner_id", "module", "object_id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    partner_id: Mapped[int] = mapped_column(Integer)
    module: Mapped[str] = mapped_column(String(16))
    object_id: Mapped[str] = mapped_column(String(36))
    digest: Mapped[str] = mapped_column(String(64))
    seen_until: Mapped[datetime]
    pushed_at: Mapped[datetime] = mapped_column(default=utcnow)


class RoamingClientInfo(TenantOwned, Base):
    """The connection status of a party as a roaming partner (typically a hub) reported it to us
    in an OCPI 2.2.1 ClientInfo (roaming/hubclientinfo.py): one row per reporting partner and
    party, since what a partner says is only about the parties we reach through it. `status` is
    CONNECTED, OFFLINE, PLANNED or SUSPENDED; `last_updated` the ClientInfo's own, which decides
    whether a later write is newer."""

    __tablename__ = "roaming_client_info"
    __table_args__ = (UniqueConstraint("partner_id", "country_code", "party_id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    partner_id: Mapped[int] = mapped_column(Integer, index=True)
    country_code: Mapped[str] = mapped_column(String(2))
    party_id: Mapped[str] = mapped_column(String(3))
    role: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16))
    last_updated: Mapped[datetime]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class RoamingChargingProfile(TenantOwned, Base):
    """One OCPI 2.2.1 charging profile request (roaming/charging_profiles.py), in either
    direction: "sent" one we sent a partner CPO for a session of our driver (eMSP role; `uid`
    is the last part of the response_url we gave), "received" one a partner eMSP sent us for a
    session at our charger (CPO role; `response_url` is where its result goes), or "pushed":
    an ActiveChargingProfile we pushed, unasked, to the eMSP of a session at our charger whose
    profile changed (kind ACTIVE, roaming/profile_push.py; `result` says whether the station's
    plan was pushed). `kind` says which request: SET (PUT, a SetChargingProfile), ACTIVE (GET,
    the ActiveChargingProfile) or CLEAR (DELETE). `response` is the ChargingProfileResponse's
    result, `result` the asynchronous result's, and `profile` the ActiveChargingProfile an
    ACTIVE result carries."""

    __tablename__ = "roaming_charging_profiles"
    __table_args__ = (UniqueConstraint("direction", "uid"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    partner_id: Mapped[int] = mapped_column(Integer, index=True)
    direction: Mapped[str] = mapped_column(String(8))
    kind: Mapped[str] = mapped_column(String(8))
    uid: Mapped[str] = mapped_column(String(36))
    session_id: Mapped[str] = mapped_column(String(36), index=True)
    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    response_url: Mapped[str | None] = mapped_column(String(255))
    station_id: Mapped[str | None] = mapped_column(String(64))
    evse_id: Mapped[int | None] = mapped_column(Integer)
    response: Mapped[str | None] = mapped_column(String(16))
    response_message: Mapped[str | None] = mapped_column(String(500))
    timeout: Mapped[int | None] = mapped_column(Integer)
    """The ChargingProfileResponse's timeout in seconds: how long the result may take."""
    result: Mapped[str | None] = mapped_column(String(16))
    result_message: Mapped[str | None] = mapped_column(String(500))
    profile: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    result_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    delivery_error: Mapped[str | None] = mapped_column(String(500))
    """Why a received request's result has not reached the partner (the last try's failure)."""


class RoamingActiveProfile(TenantOwned, Base):
    """The latest ActiveChargingProfile a partner CPO pushed us, unasked, for a session of our
    driver (PUT on our chargingprofiles SENDER interface): one row per partner and session,
    replaced by each push."""

    __tablename__ = "roaming_active_profiles"
    __table_args__ = (UniqueConstraint("partner_id", "session_id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    partner_id: Mapped[int] = mapped_column(Integer)
    session_id: Mapped[str] = mapped_column(String(36))
    profile: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
