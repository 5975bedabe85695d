"""Request and response bodies of the operator API."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from silkcharge.api.bounds import INT32_MAX, FiniteDecimal, JsonObject, OcppId, depth_problem
from silkcharge.domain.commands import ConnectorType
from silkcharge.domain.connectors import ConnectorStandard, parse_standard
from silkcharge.domain.tokens import IdTokenType

CURRENCIES = {"KZT", "KGS", "UZS", "TJS", "TMT", "CNY", "RUB", "USD", "EUR", "AFN", "MNT", "TRY", "GEL", "AZN"}


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", from_attributes=True, allow_inf_nan=False)


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


# A patch leaves out what it keeps. Fields the store cannot leave empty are typed without
# None (`name: str = None`): an explicit null is refused with 422, not stored as a NULL.


class OperatorPatch(Body):
    name: str = Field(default=None, min_length=1, max_length=200)
    currency: str = None

    _known_currency = field_validator("currency")(OperatorIn.known_currency.__func__)


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
    city: str | None = Field(default=None, max_length=100)
    country: str = Field(pattern=r"^[A-Z]{2}$")
    address: str | None = Field(default=None, max_length=300)
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    timezone: str = Field(min_length=3, max_length=64)
    corridor: str | None = Field(default=None, max_length=100)
    provenance: JsonObject | None = None
    tags: list[str] = Field(
        default_factory=list,
        description="free labels for the operator; regulated price caps bind by location, not by tag",
    )

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
    name: str = Field(default=None, min_length=1, max_length=200)
    city: str | None = Field(default=None, max_length=100)
    address: str | None = Field(default=None, max_length=300)
    lat: float = Field(default=None, ge=-90, le=90)
    lon: float = Field(default=None, ge=-180, le=180)
    corridor: str | None = Field(default=None, max_length=100)
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

    @field_validator("provenance", mode="before")
    @classmethod
    def readable(cls, value: Any) -> Any:
        """A provenance stored before the API bounded its depth is shown as a note, so one such
        site cannot make the site list fail for everyone."""
        problem = depth_problem(value)
        return {"unreadable": f"the stored provenance {problem}"} if problem else value


def _standard(value: object) -> object:
    """Accept 'gbt_dc', 'GB/T DC' or the OCPI name 'GBT_DC' alike."""
    return parse_standard(value) if isinstance(value, str) else value


class ConnectorIn(Body):
    evse_id: int = Field(ge=1, le=INT32_MAX)
    connector_id: int = Field(default=1, ge=1, le=INT32_MAX)
    standard: ConnectorStandard
    max_power_kw: FiniteDecimal = Field(gt=0, le=2000)

    _parse_standard = field_validator("standard", mode="before")(_standard)


class ConnectorPatch(Body):
    standard: ConnectorStandard = None
    max_power_kw: FiniteDecimal = Field(default=None, gt=0, le=2000)

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
    security_profile: Literal[1, 2, 3] = Field(
        default=1, description="1 Basic auth, 2 TLS + Basic auth, 3 TLS with a client certificate "
        "(no password needed); a weaker handshake is refused",
    )


class StationPatch(Body):
    site: str | None = None
    password: str | None = Field(default=None, min_length=8, max_length=64)
    registration_status: Literal["Accepted", "Pending", "Rejected"] = None
    security_profile: Literal[1, 2, 3] = Field(
        default=None, description="set as configured on the station; to raise it over OCPP use "
        "POST /stations/{id}/security-profile-upgrade",
    )


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
    planned: bool = Field(default=False, description="not commissioned yet: no connection expected, no alert")
    moved_to: str | None = Field(default=None, description="the other CSMS it accepted to move to (B10, its "
                                 "reset accepted): no connection expected here, no alert; cleared when it "
                                 "connects here again")
    moved_at: datetime | None = Field(default=None, description="when that move's reset was accepted")
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
    security_profile: int = 1
    security_profile_pending: int | None = None
    password_set: bool = False
    password_rotation_pending: bool = False
    """True while the previous password is still accepted (the station has not yet connected with the new one)."""
    profile: dict[str, Any] | None = Field(
        default=None, description="the station's effective profile: each fact with its source "
        "(GET /api/v1/stations/{id} only; see GET /api/v1/station-profiles)")


class SecurityChangeOut(BaseModel):
    station_id: str
    status: str
    security_profile: int
    security_profile_pending: int | None
    steps: list[dict[str, Any]]


class TokenIn(Body):
    token: str = Field(min_length=1, max_length=20, description="idTag / idToken as the station reads it")
    type: IdTokenType = Field(
        default=IdTokenType.ISO14443,
        description="what the token is (OCPP 2.0.1 IdTokenEnumType); sent with it to 2.0.1 stations")
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
    type: IdTokenType = None
    status: Literal["Accepted", "Blocked", "Expired", "Invalid"] = None
    expires_at: datetime | None = None
    group_id: str | None = Field(default=None, max_length=64)
    category: str | None = Field(default=None, max_length=32)
    label: str | None = Field(default=None, max_length=200)

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


class StationMeterValueOut(MeterSampleOut):
    id: int
    evse_id: int


class FlagOut(Body):
    """A plausibility finding (docs/tariffs.md, "Plausibility and review")."""

    id: int
    station_id: str
    transaction_id: int | None
    rule: str
    field: str
    value: str = Field(description="the value as the station sent it")
    used: str | None = Field(description="what was used instead; null: the value was set aside")
    reason: str
    message_id: str | None = Field(description="the frame in the message log (GET /stations/{id}/messages)")
    action: str | None
    at: datetime


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
    missing_seq_nos: list[int] | None = Field(default=None, description="2.0.1 seqNos not received (E14)")
    messages_in_queue: bool | None = Field(
        default=None, description="the station's last GetTransactionStatus answer: are more messages queued?")
    status_checked_at: datetime | None = None
    meter_samples: list[MeterSampleOut] | None = None
    flags: list[FlagOut] = Field(
        default_factory=list, description="what the station sent that broke a plausibility rule"
    )
    end_reason: str | None = Field(default=None, description="the operator's reason, when an operator ended it")


class MessageOut(Body):
    id: int
    direction: str
    message_type: int
    message_id: str | None
    action: str | None
    payload: str
    error_code: str | None
    at: datetime


class SecurityEventOut(Body):
    id: int
    station_id: str | None
    origin: str = Field(description="'station': the station reported it; 'csms': silkcharge decided it")
    type: str
    reason: str | None = Field(description="why silkcharge decided as it did (origin csms), in English")
    reason_code: str | None = Field(
        default=None, description="the same reason as a code (origin csms; none on events recorded before "
        "codes were kept): the console words it in the operator's language from its values")
    reason_values: dict[str, str] | None = Field(default=None, description="what fills in the reason's code")
    tech_info: str | None
    source_address: str | None
    occurred_at: datetime
    received_at: datetime


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
    tariff: JsonObject = Field(description="OCPI 2.2.1 Tariff object (id is set from code)")


class TariffOut(BaseModel):
    code: str
    operator_id: int
    site_id: int | None
    tariff: dict[str, Any]


def _aware_utc(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValueError("needs a time zone, e.g. 2027-01-01T10:00:00Z")
    return value.astimezone(timezone.utc) if value is not None else None


class CdrReviewOut(BaseModel):
    status: Literal["held", "approved", "corrected", "voided"]
    reasons: list[str] = Field(description="why the CDR was held: the plausibility findings")
    held_at: datetime
    decided_at: datetime | None
    note: str | None
    correction: dict[str, Any] | None
    held_totals: dict[str, Any] = Field(description="the totals when it was held")


class CdrOut(BaseModel):
    id: str
    transaction_id: int | None
    tariff_code: str | None
    currency: str
    total_excl_vat: Decimal
    total_incl_vat: Decimal
    capped: bool
    cap: dict[str, Any] | None
    flags: list[str]
    cdr: dict[str, Any]
    billed: bool = Field(default=True, description="false while held for review, and when voided")
    review: CdrReviewOut | None = None


class CdrDecisionIn(Body):
    note: str | None = Field(default=None, max_length=500, description="the operator's words with the decision")


class CdrVoidIn(Body):
    note: str = Field(min_length=1, max_length=500, description="why nothing is billed")


class CdrCorrectionIn(Body):
    energy_wh: Decimal | None = Field(default=None, ge=0, lt=Decimal(10) ** 14, description="what was delivered")
    started_at: datetime | None = None
    stopped_at: datetime | None = None
    note: str = Field(min_length=1, max_length=500, description="how the true values were established")

    @field_validator("started_at", "stopped_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        return _aware_utc(value)


class TransactionEndIn(Body):
    reason: str = Field(min_length=1, max_length=500, description="why the operator ends it")
    stopped_at: datetime | None = Field(
        default=None, description="when charging ended; default: its last meter reading, else its start"
    )
    meter_stop_wh: Decimal | None = Field(
        default=None, ge=0, lt=Decimal(10) ** 14, description="the register at the end, if read off the meter"
    )

    @field_validator("stopped_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        return _aware_utc(value)


class RuleOut(BaseModel):
    name: str
    checks: str
    reason: str = Field(description="the template of the reason an operator reads")
    action: Literal["quarantine", "flag"]
    limits: dict[str, Decimal]
    tunable: bool


class ClockAlertOut(BaseModel):
    station_id: str
    last_at: datetime
    station_time: str
    count: int
    reason: str


class ReservationIn(Body):
    evse_id: OcppId = Field(description="the EVSE to hold; in OCPP 1.6 the connector id; "
                            "0 holds the whole station (a connector is kept free for the token)")
    connector_id: int | None = Field(default=None, ge=1, le=INT32_MAX, description="one connector of the EVSE")
    id_token: str = Field(min_length=1, max_length=20, description="the only token that may start there")
    expires_at: datetime = Field(description="when the hold lapses, with a time zone")
    connector_type: ConnectorType | None = Field(
        default=None, alias="connectorType",
        description="OCPP 2.0.1 ConnectorEnumType: hold an EVSE with a connector of this type "
        "(2.0.1 stations only; with evse_id 0, any such EVSE)")
    group_id_token: str | None = Field(
        default=None, alias="groupIdToken", min_length=1, max_length=36,
        description="a token of this group may use the reservation too "
        "(2.0.1 groupIdToken; 1.6 parentIdTag, at most 20 characters)")

    model_config = ConfigDict(extra="forbid", from_attributes=True, populate_by_name=True)


class ReservationOut(Body):
    id: int = Field(description="the OCPP reservationId")
    station_id: str
    evse_id: int
    connector_id: int | None
    id_token: str
    expires_at: datetime
    status: str
    transaction_id: int | None
    connector_type: str | None = None
    group_id_token: str | None = None
    created_at: datetime
    updated_at: datetime
