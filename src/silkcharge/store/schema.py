"""The relational schema: every durable fact of the CSMS. Alembic migrations mirror this file."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from silkcharge.domain.clock import utcnow
from silkcharge.store.types import ExactDecimal, UtcDateTime

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL wants BIGINT for the busy tables.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    type_annotation_map = {
        datetime: UtcDateTime(),
        Decimal: ExactDecimal(),
        dict[str, Any]: JSON(),
        list[str]: JSON(),
    }


class Operator(Base):
    """A network owner: one company in one country, billing in one currency."""

    __tablename__ = "operators"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    country: Mapped[str] = mapped_column(String(2))
    currency: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Site(Base):
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


class Station(Base):
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
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Evse(Base):
    """An EVSE: one vehicle at a time. In OCPP 1.6 each connector id is its own EVSE."""

    __tablename__ = "evses"
    __table_args__ = (UniqueConstraint("station_id", "evse_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    station_id: Mapped[str] = mapped_column(ForeignKey("stations.id", ondelete="CASCADE"))
    evse_id: Mapped[int] = mapped_column(Integer)
    status: Mapped[str | None] = mapped_column(String(24))


class Connector(Base):
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


class IdToken(Base):
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
    operator_id: Mapped[int | None] = mapped_column(ForeignKey("operators.id", ondelete="SET NULL"))
    label: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


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


class DriverToken(Base):
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


class Transaction(Base):
    """A charging session. `id` is what OCPP 1.6 calls transactionId; 2.0.1 stations name their own."""

    __tablename__ = "transactions"
    __table_args__ = (
        UniqueConstraint("station_id", "station_tx_id"),
        Index("ix_transactions_station_state", "station_id", "state"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(ForeignKey("stations.id", ondelete="CASCADE"))
    station_tx_id: Mapped[str] = mapped_column(String(64))
    evse_id: Mapped[int] = mapped_column(Integer)
    connector_id: Mapped[int] = mapped_column(Integer)
    id_token: Mapped[str | None] = mapped_column(String(64), index=True)
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
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class MeterSample(Base):
    """One sampled value. The unique key (which includes the value: two different readings are
    never one) makes a replayed message store nothing twice."""

    __tablename__ = "meter_samples"
    __table_args__ = (
        UniqueConstraint(
            "station_id", "evse_id", "transaction_id", "timestamp", "measurand", "phase",
            "location", "context", "value", name="uq_meter_sample",
        ),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(ForeignKey("stations.id", ondelete="CASCADE"))
    evse_id: Mapped[int] = mapped_column(Integer)
    transaction_id: Mapped[int | None] = mapped_column(
        ForeignKey("transactions.id", ondelete="CASCADE"), index=True
    )
    timestamp: Mapped[datetime]
    measurand: Mapped[str] = mapped_column(String(48))
    phase: Mapped[str] = mapped_column(String(8), default="")
    location: Mapped[str] = mapped_column(String(8), default="")
    context: Mapped[str] = mapped_column(String(24), default="")
    unit: Mapped[str | None] = mapped_column(String(16))
    value: Mapped[Decimal]


class OcppMessage(Base):
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


class TariffRecord(Base):
    """A published tariff: the OCPI 2.2.1 body (with silkcharge's audience extensions), for an
    operator's whole network or one site."""

    __tablename__ = "tariffs"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(36), unique=True)
    operator_id: Mapped[int] = mapped_column(ForeignKey("operators.id", ondelete="CASCADE"), index=True)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ChargeDetailRecord(Base):
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


class Reservation(Base):
    """A connector or EVSE held for one idToken until `expires_at`. `id` is the OCPP
    reservationId the station is given. `connector_id` is None for a 2.0.1 EVSE-level hold."""

    __tablename__ = "reservations"
    __table_args__ = (
        Index("ix_reservations_station_evse_status", "station_id", "evse_id", "status"),
        # At most one holding reservation per EVSE, enforced by the database itself, so two
        # concurrent requests cannot both succeed (the service also checks, with a clear reason).
        Index(
            "uq_reservations_one_holding_per_evse", "station_id", "evse_id", unique=True,
            postgresql_where=text("status IN ('Requested', 'Accepted')"),
            sqlite_where=text("status IN ('Requested', 'Accepted')"),
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
    Unavailable), then Cancelled, Expired or Used."""
    transaction_id: Mapped[int | None] = mapped_column(ForeignKey("transactions.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


# -- smart charging (issue 5) -------------------------------------------------------------------


class SmartSite(Base):
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


class Circuit(Base):
    """A feeder, cabinet or charger breaker under a site's connection; `parent_id` None hangs it
    from the connection itself."""

    __tablename__ = "circuits"
    __table_args__ = (UniqueConstraint("site_id", "code"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("smart_sites.site_id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(48))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("circuits.id", ondelete="CASCADE"))
    name: Mapped[str | None] = mapped_column(String(200))
    limit_a: Mapped[Decimal]
    phases: Mapped[int] = mapped_column(Integer, default=3)


class EvseCircuit(Base):
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


class ChargingPriority(Base):
    """Priority of every session started with a token of this group (e.g. a taxi fleet = 10)."""

    __tablename__ = "charging_priorities"
    group_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    priority: Mapped[int] = mapped_column(Integer)


class ChargingProfileRecord(Base):
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


class SmartProblem(Base):
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


class DepotVehicle(Base):
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
