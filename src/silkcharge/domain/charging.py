"""The CSMS vocabulary shared by both OCPP versions: what a station reports and what we decide.

Adapters translate OCPP 1.6 and 2.0.1 payloads into these types and back; services accept and
return only these, so no business rule ever asks which protocol version a station speaks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any


class RegistrationStatus(StrEnum):
    ACCEPTED = "Accepted"
    PENDING = "Pending"
    REJECTED = "Rejected"


class ConnectorStatus(StrEnum):
    """What a driver needs to know about a connector, whatever the protocol's finer states."""

    AVAILABLE = "Available"
    OCCUPIED = "Occupied"
    CHARGING = "Charging"
    RESERVED = "Reserved"
    UNAVAILABLE = "Unavailable"
    FAULTED = "Faulted"
    UNKNOWN = "Unknown"


class AuthorizationStatus(StrEnum):
    ACCEPTED = "Accepted"
    BLOCKED = "Blocked"
    EXPIRED = "Expired"
    INVALID = "Invalid"
    UNKNOWN = "Unknown"
    CONCURRENT_TX = "ConcurrentTx"


@dataclass(frozen=True, slots=True)
class BootInfo:
    vendor: str
    model: str
    serial_number: str | None = None
    firmware_version: str | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class BootDecision:
    status: RegistrationStatus
    interval: int
    current_time: datetime


@dataclass(frozen=True, slots=True)
class StatusReport:
    evse_id: int  # 0 means the station as a whole
    connector_id: int
    status: ConnectorStatus
    protocol_status: str
    timestamp: datetime
    error_code: str | None = None
    vendor_error_code: str | None = None
    info: str | None = None


@dataclass(frozen=True, slots=True)
class TokenInfo:
    status: AuthorizationStatus
    expires_at: datetime | None = None
    group_id: str | None = None
    group_type: str | None = None
    """The group's own idToken type when the group is a registered token (2.0.1 groupIdToken)."""


@dataclass(frozen=True, slots=True)
class MeterSample:
    timestamp: datetime
    measurand: str
    value: Decimal
    unit: str | None = None
    phase: str = ""
    location: str = ""
    context: str = ""
    raw: str | None = None
    """The text as sent, when it was no number (`value` is then NaN; plausibility says so)."""

    @property
    def is_energy_register(self) -> bool:
        return self.measurand == "Energy.Active.Import.Register" and not self.phase

    @property
    def energy_wh(self) -> Decimal:
        """The sample as watt-hours (stations may report kWh)."""
        return self.value * 1000 if (self.unit or "Wh") == "kWh" else self.value


@dataclass(frozen=True, slots=True)
class TransactionStart:
    """A transaction began: 1.6 StartTransaction, or 2.0.1 TransactionEvent(Started)."""

    evse_id: int
    connector_id: int
    timestamp: datetime
    station_tx_id: str | None = None  # None: the CSMS assigns one (OCPP 1.6)
    id_token: str | None = None
    meter_start_wh: Decimal | None = None
    reservation_id: int | None = None
    remote_start_id: int | None = None
    offline: bool = False
    seq_no: int | None = None
    charging_state: str | None = None
    samples: tuple[MeterSample, ...] = ()


@dataclass(frozen=True, slots=True)
class TransactionUpdate:
    station_tx_id: str
    timestamp: datetime
    trigger: str | None = None
    id_token: str | None = None
    charging_state: str | None = None
    offline: bool = False
    seq_no: int | None = None
    samples: tuple[MeterSample, ...] = ()
    evse_id: int | None = None
    connector_id: int | None = None
    remote_start_id: int | None = None


@dataclass(frozen=True, slots=True)
class TransactionStop:
    station_tx_id: str
    timestamp: datetime
    reason: str | None = None
    id_token: str | None = None
    meter_stop_wh: Decimal | None = None
    offline: bool = False
    seq_no: int | None = None
    samples: tuple[MeterSample, ...] = ()


@dataclass(frozen=True, slots=True)
class TransactionRecord:
    """What the CSMS answers about a transaction it has stored."""

    id: int
    station_tx_id: str
    token: TokenInfo | None = None
    read: Any = field(default=None, compare=False)
    """What was read about the session in the transaction that stored the message, for its
    reply (services/transactions.py `TransactionService.read_with_updates`); None if nothing."""


@dataclass(slots=True)
class StationEvent:
    """A note from a station worth keeping: firmware/diagnostics/log status, security events."""

    kind: str
    status: str
    timestamp: datetime
    details: dict = field(default_factory=dict)
