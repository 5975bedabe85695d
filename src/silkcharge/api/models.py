"""Request and response bodies of the operator API."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from silkcharge.domain.connectors import ConnectorStandard, parse_standard

CURRENCIES = {"KZT", "KGS", "UZS", "TJS", "TMT", "CNY", "RUB", "USD", "EUR", "AFN", "MNT", "TRY", "GEL", "AZN"}


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", from_attributes=True)


class OperatorIn(Body):
    code: str = Field(min_length=2, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")
    name: str = Field(min_length=1, max_length=200)
    country: str = Field(min_length=2, max_length=2, pattern=r"^[A-Z]{2}$")
    currency: str = Field(min_length=3, max_length=3)

    @field_validator("currency")
    @classmethod
    def known_currency(cls, value: str) -> str:
        if value not in CURRENCIES:
            raise ValueError(f"unknown currency {value!r}; use an ISO 4217 code such as KZT, UZS, KGS, TJS")
        return value


class OperatorPatch(Body):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    currency: str | None = None


class OperatorOut(Body):
    id: int
    code: str
    name: str
    country: str
    currency: str


class SiteIn(Body):
    code: str = Field(min_length=2, max_length=48, pattern=r"^[A-Za-z0-9_.-]+$")
    operator: str = Field(description="operator code")
    name: str = Field(min_length=1, max_length=200)
    city: str | None = None
    country: str = Field(pattern=r"^[A-Z]{2}$")
    address: str | None = None
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    timezone: str = Field(min_length=3, max_length=64)
    corridor: str | None = None
    provenance: dict[str, Any] | None = None
    tags: list[str] = Field(default_factory=list, description="e.g. almaty-2025-allocated-plot")

    @field_validator("timezone")
    @classmethod
    def known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}; use an IANA name such as Asia/Almaty") from None
        return value


class SitePatch(Body):
    name: str | None = None
    city: str | None = None
    address: str | None = None
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    corridor: str | None = None
    tags: list[str] | None = None


class SiteOut(Body):
    id: int
    code: str
    operator_id: int
    name: str
    city: str | None
    country: str
    address: str | None
    lat: float
    lon: float
    timezone: str
    corridor: str | None
    provenance: dict[str, Any] | None


def _standard(value: object) -> object:
    """Accept 'gbt_dc', 'GB/T DC' or the OCPI name 'GBT_DC' alike."""
    return parse_standard(value) if isinstance(value, str) else value


class ConnectorIn(Body):
    evse_id: int = Field(ge=1)
    connector_id: int = Field(default=1, ge=1)
    standard: ConnectorStandard
    max_power_kw: Decimal = Field(gt=0, le=2000)

    _parse_standard = field_validator("standard", mode="before")(_standard)


class ConnectorPatch(Body):
    standard: ConnectorStandard | None = None
    max_power_kw: Decimal | None = Field(default=None, gt=0, le=2000)

    _parse_standard = field_validator("standard", mode="before")(_standard)


class ConnectorOut(Body):
    evse_id: int
    connector_id: int
    standard: str
    max_power_kw: Decimal
    status: str
    error_code: str | None
    vendor_error_code: str | None
    info: str | None
    status_at: datetime | None


class StationIn(Body):
    id: str = Field(min_length=1, max_length=48, pattern=r"^[A-Za-z0-9*\-_=+|@.]+$")
    site: str | None = Field(default=None, description="site code")
    password: str | None = Field(
        default=None, min_length=8, max_length=64, description="Basic-auth password (stored hashed)"
    )
    registration_status: Literal["Accepted", "Pending", "Rejected"] = "Accepted"
    connectors: list[ConnectorIn] = Field(default_factory=list)


class StationPatch(Body):
    site: str | None = None
    password: str | None = Field(default=None, min_length=8, max_length=64)
    registration_status: Literal["Accepted", "Pending", "Rejected"] | None = None


class StationOut(Body):
    id: str
    site_id: int | None
    registration_status: str
    ocpp_version: str | None
    vendor: str | None
    model: str | None
    serial_number: str | None
    firmware_version: str | None
    online: bool
    last_seen_at: datetime | None
    last_boot_at: datetime | None
    status: str | None
    error_code: str | None
    firmware_status: str | None
    diagnostics_status: str | None
    local_list_version: int | None
    heartbeat_interval: int | None
    configuration: dict[str, Any] | None = None
    connectors: list[ConnectorOut] = Field(default_factory=list)


class TokenIn(Body):
    token: str = Field(min_length=1, max_length=20, description="idTag / idToken as the station reads it")
    type: Literal["ISO14443", "ISO15693", "eMAID", "Central", "KeyCode", "Local", "MacAddress"] = "ISO14443"
    status: Literal["Accepted", "Blocked", "Expired", "Invalid"] = "Accepted"
    expires_at: datetime | None = None
    group_id: str | None = Field(default=None, max_length=64)
    category: str | None = Field(default=None, max_length=32, description="driver category, e.g. resident")
    operator: str | None = None
    label: str | None = Field(default=None, max_length=200)

    @field_validator("expires_at")
    @classmethod
    def aware(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("expires_at needs a time zone, e.g. 2027-01-01T00:00:00Z")
        return value.astimezone(timezone.utc)


class TokenPatch(Body):
    status: Literal["Accepted", "Blocked", "Expired", "Invalid"] | None = None
    expires_at: datetime | None = None
    group_id: str | None = None
    category: str | None = None
    label: str | None = None

    _aware = field_validator("expires_at")(TokenIn.aware.__func__)


class TokenOut(Body):
    token: str
    type: str
    status: str
    expires_at: datetime | None
    group_id: str | None
    category: str | None = None
    label: str | None


class MeterSampleOut(Body):
    timestamp: datetime
    measurand: str
    phase: str
    location: str
    context: str
    unit: str | None
    value: Decimal


class TransactionOut(Body):
    id: int
    station_id: str
    station_tx_id: str
    evse_id: int
    connector_id: int
    id_token: str | None
    token_status: str | None
    reservation_id: int | None
    remote_start_id: int | None
    state: str
    charging_state: str | None
    started_at: datetime
    stopped_at: datetime | None
    meter_start_wh: Decimal | None
    meter_stop_wh: Decimal | None
    energy_wh: Decimal | None
    stop_reason: str | None
    offline: bool
    meter_samples: list[MeterSampleOut] | None = None


class MessageOut(Body):
    id: int
    direction: str
    message_type: int
    message_id: str | None
    action: str | None
    payload: str
    error_code: str | None
    at: datetime


class CommandOut(BaseModel):
    station_id: str
    command: str
    action: str
    status: str | None
    reply: dict[str, Any]
    details: dict[str, Any]


class TariffIn(BaseModel):
    code: str = Field(min_length=1, max_length=36, pattern=r"^[A-Za-z0-9_.-]+$")
    operator: str = Field(description="operator code")
    site: str | None = Field(default=None, description="site code; omit for the operator's whole network")
    tariff: dict[str, Any] = Field(description="OCPI 2.2.1 Tariff object (id is set from code)")


class TariffOut(BaseModel):
    code: str
    operator_id: int
    site_id: int | None
    tariff: dict[str, Any]


class CdrOut(BaseModel):
    id: str
    transaction_id: int
    tariff_code: str | None
    currency: str
    total_excl_vat: Decimal
    total_incl_vat: Decimal
    capped: bool
    cap: dict[str, Any] | None
    flags: list[str]
    cdr: dict[str, Any]


class ReservationIn(Body):
    evse_id: int = Field(ge=0, description="the EVSE to hold; in OCPP 1.6 the connector id; "
                         "0 holds the whole station (a connector is kept free for the token)")
    connector_id: int | None = Field(default=None, ge=1, description="one connector of the EVSE")
    id_token: str = Field(min_length=1, max_length=20, description="the only token that may start there")
    expires_at: datetime = Field(description="when the hold lapses, with a time zone")


class ReservationOut(Body):
    id: int = Field(description="the OCPP reservationId")
    station_id: str
    evse_id: int
    connector_id: int | None
    id_token: str
    expires_at: datetime
    status: str
    transaction_id: int | None
    created_at: datetime
    updated_at: datetime
