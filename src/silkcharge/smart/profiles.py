"""Charging profiles in one version-neutral shape, and their OCPP 1.6 / 2.0.1 / 2.1 payloads.

A profile is what OCPP calls a ChargingProfile: a purpose (station maximum, default for
transactions, or one transaction), a stack level (higher wins within a purpose), a kind
(Absolute, Recurring, Relative), an optional validity window and one charging schedule of
periods. The adapters of the OCPP gateway translate with `to_ocpp16` / `to_ocpp201` and
`from_ocpp16` / `from_ocpp201`; nothing else needs to know which version a station speaks.

Limits are exact Decimals. Both specifications accept at most one decimal of a limit (1.6 by a
schema rule, multipleOf 0.1; 2.0.1 by its field description), so payloads carry limits
rounded *down* to 0.1: a rounded limit never permits more than the one we computed.

OCPP 2.1 adds bidirectional power (V2X) to a period: a `discharge_limit` (at most that much
discharging, a value <= 0 as the specification writes it), a `setpoint` (what the EV should
follow; negative discharges) and an `operation_mode` (ChargingOnly, CentralSetpoint,
ExternalLimits, Idle, ...). Only 2.1 can carry them: a profile that uses them is refused for
1.6 and 2.0.1 with a `ProfileError` that says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_DOWN, Decimal
from enum import StrEnum
from typing import Any

from silkcharge.domain.clock import parse_ocpp, to_ocpp

TENTH = Decimal("0.1")


class ProfileError(ValueError):
    """A charging profile that breaks a rule of the specifications (the message says which)."""


class ChargingProfilePurpose(StrEnum):
    """Purposes by their OCPP 2.0.1 names; 1.6 calls the station maximum ChargePointMaxProfile."""

    CHARGING_STATION_MAX = "ChargingStationMaxProfile"
    EXTERNAL_CONSTRAINTS = "ChargingStationExternalConstraints"
    TX_DEFAULT = "TxDefaultProfile"
    TX = "TxProfile"


class ChargingProfileKind(StrEnum):
    ABSOLUTE = "Absolute"
    RECURRING = "Recurring"
    RELATIVE = "Relative"


class RecurrencyKind(StrEnum):
    DAILY = "Daily"
    WEEKLY = "Weekly"


class OperationMode(StrEnum):
    """OCPP 2.1 OperationModeEnumType: how a period drives the EV (Q-block of 2.1)."""

    IDLE = "Idle"
    CHARGING_ONLY = "ChargingOnly"
    CENTRAL_SETPOINT = "CentralSetpoint"
    EXTERNAL_SETPOINT = "ExternalSetpoint"
    EXTERNAL_LIMITS = "ExternalLimits"
    CENTRAL_FREQUENCY = "CentralFrequency"
    LOCAL_FREQUENCY = "LocalFrequency"
    LOCAL_LOAD_BALANCING = "LocalLoadBalancing"


class ChargingRateUnit(StrEnum):
    A = "A"
    W = "W"


_PURPOSE_16 = {
    ChargingProfilePurpose.CHARGING_STATION_MAX: "ChargePointMaxProfile",
    ChargingProfilePurpose.TX_DEFAULT: "TxDefaultProfile",
    ChargingProfilePurpose.TX: "TxProfile",
}
_PURPOSE_FROM_16 = {name: purpose for purpose, name in _PURPOSE_16.items()}


def round_limit(value: Decimal | float | int) -> Decimal:
    """A limit as OCPP carries it: one decimal, rounded down (never more than asked)."""
    return Decimal(str(value)).quantize(TENTH, rounding=ROUND_DOWN)


@dataclass(frozen=True)
class ChargingSchedulePeriod:
    """From `start_period` seconds after the schedule's start, at most `limit` (in its unit)."""

    start_period: int
    limit: Decimal
    number_phases: int | None = None
    discharge_limit: Decimal | None = None  # 2.1: <= 0, the most the EV may discharge
    setpoint: Decimal | None = None  # 2.1: what the EV should follow; negative discharges
    operation_mode: OperationMode | None = None  # 2.1; None: ChargingOnly

    @property
    def bidirectional(self) -> bool:
        return self.discharge_limit is not None or self.setpoint is not None or self.operation_mode is not None

    def __post_init__(self) -> None:
        for name in ("discharge_limit", "setpoint"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Decimal):
                object.__setattr__(self, name, Decimal(str(value)))
        if self.discharge_limit is not None and self.discharge_limit > 0:
            raise ProfileError(f"dischargeLimit {self.discharge_limit} must be 0 or negative (OCPP 2.1)")
        if self.operation_mode is not None:
            try:
                object.__setattr__(self, "operation_mode", OperationMode(self.operation_mode))
            except ValueError:
                raise ProfileError(f"operationMode {self.operation_mode!r} is not an OCPP 2.1 operation mode") from None
        if self.start_period < 0:
            raise ProfileError(f"startPeriod {self.start_period} is negative")
        if not isinstance(self.limit, Decimal):
            object.__setattr__(self, "limit", Decimal(str(self.limit)))
        if self.limit < 0:
            raise ProfileError(f"limit {self.limit} is negative")
        if self.number_phases is not None and self.number_phases not in (1, 2, 3):
            raise ProfileError(f"numberPhases {self.number_phases} is not 1, 2 or 3")


@dataclass(frozen=True)
class ChargingSchedule:
    """Periods in ascending `start_period`, the first at 0; `duration` None means open-ended."""

    rate_unit: ChargingRateUnit
    periods: tuple[ChargingSchedulePeriod, ...]
    start_schedule: datetime | None = None
    duration: int | None = None
    min_charging_rate: Decimal | None = None
    id: int = 1  # 2.0.1 requires a schedule id; 1.6 has none

    def __post_init__(self) -> None:
        object.__setattr__(self, "rate_unit", ChargingRateUnit(self.rate_unit))
        object.__setattr__(self, "periods", tuple(self.periods))
        if not self.periods:
            raise ProfileError("a charging schedule needs at least one period")
        if self.periods[0].start_period != 0:
            raise ProfileError("the first period of a charging schedule must start at 0")
        starts = [p.start_period for p in self.periods]
        if any(b <= a for a, b in zip(starts, starts[1:])):
            raise ProfileError(f"period starts {starts} are not strictly increasing")
        if self.duration is not None and self.duration <= 0:
            raise ProfileError(f"duration {self.duration} must be positive")
        if self.start_schedule is not None and self.start_schedule.tzinfo is None:
            raise ProfileError("startSchedule must be timezone-aware (UTC)")
        if self.min_charging_rate is not None and not isinstance(self.min_charging_rate, Decimal):
            object.__setattr__(self, "min_charging_rate", Decimal(str(self.min_charging_rate)))


@dataclass(frozen=True)
class ChargingProfile:
    """One charging profile, as installed on an EVSE (evse 0 = the whole station)."""

    id: int
    stack_level: int
    purpose: ChargingProfilePurpose
    kind: ChargingProfileKind
    schedule: ChargingSchedule
    recurrency: RecurrencyKind | None = None
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    transaction_id: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "purpose", ChargingProfilePurpose(self.purpose))
        object.__setattr__(self, "kind", ChargingProfileKind(self.kind))
        if self.recurrency is not None:
            object.__setattr__(self, "recurrency", RecurrencyKind(self.recurrency))
        if self.stack_level < 0:
            raise ProfileError(f"stackLevel {self.stack_level} is negative")
        if self.kind is ChargingProfileKind.RECURRING:
            if self.recurrency is None or self.schedule.start_schedule is None:
                raise ProfileError("a Recurring profile needs recurrencyKind and startSchedule")
        elif self.recurrency is not None:
            raise ProfileError("recurrencyKind is only allowed on a Recurring profile")
        if self.kind is ChargingProfileKind.ABSOLUTE and self.schedule.start_schedule is None:
            raise ProfileError("an Absolute profile needs startSchedule")
        if self.kind is ChargingProfileKind.RELATIVE and self.schedule.start_schedule is not None:
            raise ProfileError("a Relative profile starts with its transaction: no startSchedule")
        if self.transaction_id is not None and self.purpose is not ChargingProfilePurpose.TX:
            raise ProfileError("transactionId is only allowed on a TxProfile")
        for moment in (self.valid_from, self.valid_to):
            if moment is not None and moment.tzinfo is None:
                raise ProfileError("validFrom/validTo must be timezone-aware (UTC)")
        if self.valid_from and self.valid_to and self.valid_to <= self.valid_from:
            raise ProfileError("validTo must be after validFrom")

    def valid_at(self, moment: datetime) -> bool:
        return (self.valid_from is None or self.valid_from <= moment) and (
            self.valid_to is None or moment < self.valid_to
        )


# ---------------------------------------------------------------- payloads


def wire_number(value: Decimal) -> int | float:
    """A limit for a JSON payload: one decimal, rounded down; an int when whole."""
    rounded = round_limit(value)
    return int(rounded) if rounded == rounded.to_integral_value() else float(rounded)


def _periods_out(schedule: ChargingSchedule, version: str) -> list[dict[str, Any]]:
    out = []
    for period in schedule.periods:
        item: dict[str, Any] = {"startPeriod": period.start_period, "limit": wire_number(period.limit)}
        if period.number_phases is not None:
            item["numberPhases"] = period.number_phases
        if period.bidirectional and version != "2.1":
            raise ProfileError(f"OCPP {version} has no discharge limit, setpoint or operation mode (OCPP 2.1 V2X)")
        if period.discharge_limit is not None:
            item["dischargeLimit"] = -wire_number(-period.discharge_limit)  # rounded towards 0
        if period.setpoint is not None:
            item["setpoint"] = _signed_number(period.setpoint)
        if period.operation_mode is not None:
            item["operationMode"] = period.operation_mode.value
        out.append(item)
    return out


def _signed_number(value: Decimal) -> int | float:
    """A signed value to one decimal, rounded towards 0 (a setpoint never asks for more)."""
    magnitude = wire_number(abs(value))
    return -magnitude if value < 0 else magnitude


def _schedule_out(schedule: ChargingSchedule, version: str) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if version != "1.6":
        body["id"] = schedule.id
    if schedule.duration is not None:
        body["duration"] = schedule.duration
    if schedule.start_schedule is not None:
        body["startSchedule"] = to_ocpp(schedule.start_schedule)
    body["chargingRateUnit"] = schedule.rate_unit.value
    body["chargingSchedulePeriod"] = _periods_out(schedule, version)
    if schedule.min_charging_rate is not None:
        body["minChargingRate"] = wire_number(schedule.min_charging_rate)
    return body


def _common_out(profile: ChargingProfile, body: dict[str, Any]) -> dict[str, Any]:
    body["stackLevel"] = profile.stack_level
    body["chargingProfileKind"] = profile.kind.value
    if profile.recurrency is not None:
        body["recurrencyKind"] = profile.recurrency.value
    if profile.valid_from is not None:
        body["validFrom"] = to_ocpp(profile.valid_from)
    if profile.valid_to is not None:
        body["validTo"] = to_ocpp(profile.valid_to)
    return body


def to_ocpp16(profile: ChargingProfile) -> dict[str, Any]:
    """The `csChargingProfiles` object of a 1.6 SetChargingProfile request."""
    if profile.purpose not in _PURPOSE_16:
        raise ProfileError(f"OCPP 1.6 has no {profile.purpose.value}")
    body: dict[str, Any] = {"chargingProfileId": profile.id}
    if profile.transaction_id is not None:
        try:
            body["transactionId"] = int(profile.transaction_id)
        except ValueError:
            raise ProfileError(f"OCPP 1.6 transactionId must be an integer, not {profile.transaction_id!r}") from None
    body["chargingProfilePurpose"] = _PURPOSE_16[profile.purpose]
    _common_out(profile, body)
    body["chargingSchedule"] = _schedule_out(profile.schedule, "1.6")
    return body


def to_ocpp201(profile: ChargingProfile, version: str = "2.0.1") -> dict[str, Any]:
    """The `chargingProfile` object of a 2.0.1 (or, with its V2X fields, 2.1) SetChargingProfile request."""
    body: dict[str, Any] = {"id": profile.id, "chargingProfilePurpose": profile.purpose.value}
    _common_out(profile, body)
    if profile.transaction_id is not None:
        body["transactionId"] = str(profile.transaction_id)
    body["chargingSchedule"] = [_schedule_out(profile.schedule, version)]
    return body


def to_ocpp21(profile: ChargingProfile) -> dict[str, Any]:
    """The `chargingProfile` object of a 2.1 SetChargingProfile request (2.0.1's, plus V2X)."""
    return to_ocpp201(profile, "2.1")


def set_charging_profile_request(version: str, evse_id: int, profile: ChargingProfile) -> dict[str, Any]:
    """A complete SetChargingProfile request payload for the station's OCPP version."""
    if version == "1.6":
        return {"connectorId": evse_id, "csChargingProfiles": to_ocpp16(profile)}
    if version in ("2.0.1", "2.1"):
        return {"evseId": evse_id, "chargingProfile": to_ocpp201(profile, version)}
    raise ProfileError(f"unsupported OCPP version {version!r}")


def _decimal(raw: Any, name: str) -> Decimal:
    try:
        return Decimal(str(raw))
    except ArithmeticError:
        raise ProfileError(f"{name} {raw!r} is not a number") from None


def _schedule_in(body: dict[str, Any]) -> ChargingSchedule:
    periods = tuple(
        ChargingSchedulePeriod(
            start_period=int(p["startPeriod"]),
            # 2.1 may leave the limit out where the operation mode needs none (a setpoint)
            limit=_decimal(p.get("limit", abs(p.get("setpoint", 0))), "limit"),
            number_phases=p.get("numberPhases"),
            discharge_limit=_decimal(p["dischargeLimit"], "dischargeLimit") if "dischargeLimit" in p else None,
            setpoint=_decimal(p["setpoint"], "setpoint") if "setpoint" in p else None,
            operation_mode=p.get("operationMode"),
        )
        for p in body["chargingSchedulePeriod"]
    )
    start = body.get("startSchedule")
    rate = body.get("minChargingRate")
    return ChargingSchedule(
        rate_unit=ChargingRateUnit(body["chargingRateUnit"]),
        periods=periods,
        start_schedule=parse_ocpp(start) if start else None,
        duration=body.get("duration"),
        min_charging_rate=_decimal(rate, "minChargingRate") if rate is not None else None,
        id=int(body.get("id", 1)),
    )


def _profile_in(body: dict[str, Any], purpose: ChargingProfilePurpose, pid: int, schedule: ChargingSchedule) -> ChargingProfile:
    valid_from, valid_to = body.get("validFrom"), body.get("validTo")
    tx = body.get("transactionId")
    return ChargingProfile(
        id=pid,
        stack_level=int(body["stackLevel"]),
        purpose=purpose,
        kind=ChargingProfileKind(body["chargingProfileKind"]),
        schedule=schedule,
        recurrency=RecurrencyKind(body["recurrencyKind"]) if body.get("recurrencyKind") else None,
        valid_from=parse_ocpp(valid_from) if valid_from else None,
        valid_to=parse_ocpp(valid_to) if valid_to else None,
        transaction_id=str(tx) if tx is not None else None,
    )


def from_ocpp16(body: dict[str, Any]) -> ChargingProfile:
    """Read a 1.6 `csChargingProfiles` object (already schema-validated)."""
    purpose = _PURPOSE_FROM_16[body["chargingProfilePurpose"]]
    return _profile_in(body, purpose, int(body["chargingProfileId"]), _schedule_in(body["chargingSchedule"]))


def from_ocpp201(body: dict[str, Any]) -> ChargingProfile:
    """Read a 2.0.1 `chargingProfile` object (already schema-validated).

    2.0.1 allows up to three schedules, alternatives offered to an ISO 15118 vehicle; the first
    is the one a station applies to a vehicle that does not choose, so it is the one we keep.
    """
    purpose = ChargingProfilePurpose(body["chargingProfilePurpose"])
    return _profile_in(body, purpose, int(body["id"]), _schedule_in(body["chargingSchedule"][0]))


def profile_from_fields(fields: dict[str, Any]) -> ChargingProfile:
    """A profile from the neutral command's fields (`ocpp.commands.ChargingProfileIn`, dumped).

    Raises `ProfileError` for what the specifications forbid, with the rule in the message.
    """
    schedule = fields["schedule"]
    periods = tuple(
        ChargingSchedulePeriod(
            int(p["start_period"]), _decimal(p["limit"], "limit"), p.get("number_phases"),
            discharge_limit=_decimal(p["discharge_limit"], "dischargeLimit") if p.get("discharge_limit") is not None else None,
            setpoint=_decimal(p["setpoint"], "setpoint") if p.get("setpoint") is not None else None,
            operation_mode=p.get("operation_mode"),
        )
        for p in schedule["periods"]
    )
    rate = schedule.get("min_charging_rate")
    return ChargingProfile(
        id=int(fields["id"]),
        stack_level=int(fields.get("stack_level", 0)),
        purpose=ChargingProfilePurpose(fields["purpose"]),
        kind=ChargingProfileKind(fields.get("kind", "Relative")),
        schedule=ChargingSchedule(
            rate_unit=ChargingRateUnit(schedule.get("rate_unit", "A")),
            periods=periods,
            start_schedule=schedule.get("start_schedule"),
            duration=schedule.get("duration"),
            min_charging_rate=_decimal(rate, "minChargingRate") if rate is not None else None,
        ),
        recurrency=RecurrencyKind(fields["recurrency"]) if fields.get("recurrency") else None,
        valid_from=fields.get("valid_from"),
        valid_to=fields.get("valid_to"),
        transaction_id=fields.get("transaction_id"),
    )


def profile_fields(profile: ChargingProfile) -> dict[str, Any]:
    """The neutral fields of a profile, JSON-ready (limits as decimal strings, times in OCPP form);
    `profile_from_fields` reads them back."""
    schedule = profile.schedule
    return {
        "id": profile.id,
        "stack_level": profile.stack_level,
        "purpose": profile.purpose.value,
        "kind": profile.kind.value,
        "recurrency": profile.recurrency.value if profile.recurrency else None,
        "valid_from": to_ocpp(profile.valid_from) if profile.valid_from else None,
        "valid_to": to_ocpp(profile.valid_to) if profile.valid_to else None,
        "transaction_id": profile.transaction_id,
        "schedule": {
            "rate_unit": schedule.rate_unit.value,
            "start_schedule": to_ocpp(schedule.start_schedule) if schedule.start_schedule else None,
            "duration": schedule.duration,
            "min_charging_rate": str(schedule.min_charging_rate) if schedule.min_charging_rate is not None else None,
            "periods": [
                {"start_period": p.start_period, "limit": str(p.limit), "number_phases": p.number_phases,
                 **({"discharge_limit": str(p.discharge_limit) if p.discharge_limit is not None else None,
                     "setpoint": str(p.setpoint) if p.setpoint is not None else None,
                     "operation_mode": p.operation_mode.value if p.operation_mode else None}
                    if p.bidirectional else {})}
                for p in schedule.periods
            ],
        },
    }


def parse_fields(fields: dict[str, Any]) -> ChargingProfile:
    """`profile_from_fields` for stored fields, whose times are OCPP strings."""
    schedule = dict(fields["schedule"])
    if isinstance(schedule.get("start_schedule"), str):
        schedule["start_schedule"] = parse_ocpp(schedule["start_schedule"])
    out = {**fields, "schedule": schedule}
    for key in ("valid_from", "valid_to"):
        if isinstance(out.get(key), str):
            out[key] = parse_ocpp(out[key])
    return profile_from_fields(out)
