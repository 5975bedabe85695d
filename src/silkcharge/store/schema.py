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
    __table_args__ = (Index("ix_ocpp_messages_station", "station_id", "id"),)
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
    """What a finished session cost: the OCPI CDR, its totals, any cap applied, the receipt."""

    __tablename__ = "cdrs"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    transaction_id: Mapped[int] = mapped_column(
        ForeignKey("transactions.id", ondelete="CASCADE"), unique=True
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
    __table_args__ = (Index("ix_reservations_station_evse_status", "station_id", "evse_id", "status"),)
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
