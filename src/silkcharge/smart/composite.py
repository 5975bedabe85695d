"""The composite schedule: the limit an EVSE actually applies over a window, given its profiles.

The rules, as OCPP 1.6 (section 3.13) and 2.0.1 (block K) define them:

* A profile is *in force* at instant t when t lies in its validity window (validFrom <= t <
  validTo) and inside one of its schedule's occurrences (start <= t < start + duration; an
  open-ended schedule's last period lasts forever, a recurring one's until the next occurrence).
* Within each purpose, the profile in force with the highest stack level prevails. At equal
  stack level a profile installed on the EVSE itself beats one installed on the station (evse 0),
  which is how 1.6 and 2.0.1 let a connector override the station-wide TxDefaultProfile.
* While a transaction runs, a TxProfile in force (for that transaction) overrides the
  TxDefaultProfile; without a transaction, TxProfiles do not apply.
* The result is the minimum of the station limit (ChargingStationMaxProfile, and
  ChargingStationExternalConstraints in 2.0.1) and the transaction limit (Tx or TxDefault).
* Relative schedules start with the transaction (or, when none runs, at the window start: the
  moment a transaction would start if the car plugged in now). Recurring schedules are unrolled
  every day or week from their startSchedule, in both directions, clipped by validity.

Limits in different units are compared in the requested unit, with W = A x V x phases, where
phases is the period's numberPhases when given and the caller's `phases` otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from silkcharge.domain.clock import parse_ocpp, to_ocpp
from silkcharge.smart.profiles import (
    ChargingProfile,
    ChargingProfileKind,
    ChargingProfilePurpose,
    ChargingRateUnit,
    ProfileError,
    RecurrencyKind,
    round_limit,
    wire_number,
)

_RECURRENCE = {RecurrencyKind.DAILY: timedelta(days=1), RecurrencyKind.WEEKLY: timedelta(days=7)}


@dataclass(frozen=True)
class InstalledProfile:
    """A profile as installed on a station: `evse_id` 0 for the station, else the EVSE."""

    evse_id: int
    profile: ChargingProfile


@dataclass(frozen=True)
class ActiveTransaction:
    """The transaction running on the EVSE: anchors Relative profiles and enables TxProfiles."""

    started: datetime
    transaction_id: str | None = None


@dataclass(frozen=True)
class CompositePeriod:
    start_period: int
    limit: Decimal | None  # None: no profile limits this period
    number_phases: int | None = None


@dataclass(frozen=True)
class CompositeSchedule:
    evse_id: int
    schedule_start: datetime
    duration: int
    rate_unit: ChargingRateUnit
    periods: tuple[CompositePeriod, ...]

    def limit_at(self, moment: datetime) -> Decimal | None:
        offset = (moment - self.schedule_start).total_seconds()
        current = None
        for period in self.periods:
            if period.start_period <= offset:
                current = period.limit
        return current

    def _periods_payload(self) -> list[dict[str, Any]]:
        out = []
        for period in self.periods:
            if period.limit is None:
                raise ProfileError("the composite schedule has unlimited periods: pass `unlimited`")
            item: dict[str, Any] = {"startPeriod": period.start_period, "limit": wire_number(period.limit)}
            if period.number_phases is not None:
                item["numberPhases"] = period.number_phases
            out.append(item)
        return out

    def to_ocpp16(self) -> dict[str, Any]:
        """The body of an accepted 1.6 GetCompositeSchedule response."""
        start = to_ocpp(self.schedule_start)
        return {
            "status": "Accepted",
            "connectorId": self.evse_id,
            "scheduleStart": start,
            "chargingSchedule": {
                "duration": self.duration,
                "startSchedule": start,
                "chargingRateUnit": self.rate_unit.value,
                "chargingSchedulePeriod": self._periods_payload(),
            },
        }

    def to_ocpp201(self) -> dict[str, Any]:
        """The body of an accepted 2.0.1 GetCompositeSchedule response."""
        return {
            "status": "Accepted",
            "schedule": {
                "evseId": self.evse_id,
                "duration": self.duration,
                "scheduleStart": to_ocpp(self.schedule_start),
                "chargingRateUnit": self.rate_unit.value,
                "chargingSchedulePeriod": self._periods_payload(),
            },
        }


@dataclass(frozen=True)
class _Segment:
    begin: datetime
    end: datetime
    limit: Decimal
    unit: ChargingRateUnit
    phases: int | None
    rank: tuple[int, int]  # (stack level, installed on this EVSE) - higher wins


def _occurrences(profile: ChargingProfile, anchor: datetime, lo: datetime, hi: datetime) -> list[tuple[datetime, datetime]]:
    schedule = profile.schedule
    length = timedelta(seconds=schedule.duration) if schedule.duration else None
    if profile.kind is ChargingProfileKind.RECURRING:
        step = _RECURRENCE[profile.recurrency]
        base = schedule.start_schedule
        first = (lo - base) // step
        last = (hi - base) // step
        span = min(length, step) if length else step
        return [(base + k * step, base + k * step + span) for k in range(first, last + 1)]
    base = schedule.start_schedule if profile.kind is ChargingProfileKind.ABSOLUTE else anchor
    return [(base, base + length if length else hi)]


def _segments(item: InstalledProfile, evse_id: int, anchor: datetime, lo: datetime, hi: datetime) -> list[_Segment]:
    profile = item.profile
    valid_lo = max(lo, profile.valid_from) if profile.valid_from else lo
    valid_hi = min(hi, profile.valid_to) if profile.valid_to else hi
    rank = (profile.stack_level, int(item.evse_id == evse_id and evse_id != 0))
    out = []
    for begin, end in _occurrences(profile, anchor, lo, hi):
        periods = profile.schedule.periods
        for index, period in enumerate(periods):
            p_begin = begin + timedelta(seconds=period.start_period)
            p_end = begin + timedelta(seconds=periods[index + 1].start_period) if index + 1 < len(periods) else end
            p_begin, p_end = max(p_begin, valid_lo), min(p_end, end, valid_hi)
            if p_begin < p_end:
                out.append(_Segment(p_begin, p_end, period.limit, profile.schedule.rate_unit, period.number_phases, rank))
    return out


def convert(limit: Decimal, source: ChargingRateUnit, target: ChargingRateUnit, voltage: Decimal, phases: int) -> Decimal:
    """A limit in another unit: W = A x V x phases."""
    if source is target:
        return limit
    if source is ChargingRateUnit.A:
        return limit * voltage * phases
    return limit / (voltage * phases)


def _prevailing(segments: list[_Segment], moment: datetime) -> _Segment | None:
    best = None
    for segment in segments:
        if segment.begin <= moment < segment.end and (best is None or segment.rank > best.rank):
            best = segment
    return best


def composite_schedule(
    installed: Iterable[InstalledProfile],
    *,
    evse_id: int,
    start: datetime,
    duration: int,
    rate_unit: ChargingRateUnit | str = ChargingRateUnit.A,
    transaction: ActiveTransaction | None = None,
    voltage: Decimal | float = Decimal(230),
    phases: int = 3,
    unlimited: Decimal | None = None,
) -> CompositeSchedule:
    """The composite schedule of `evse_id` (0: the station's grid connection) from `start`.

    `unlimited` is the limit reported where no profile limits the EVSE (its rating), or None to
    leave such periods without a limit.
    """
    if start.tzinfo is None:
        raise ProfileError("the composite schedule's start must be timezone-aware (UTC)")
    if duration <= 0:
        raise ProfileError("duration must be positive")
    unit = ChargingRateUnit(rate_unit)
    volts = Decimal(str(voltage))
    end = start + timedelta(seconds=duration)
    anchor = transaction.started if transaction else start
    layers: dict[str, list[_Segment]] = {"max": [], "external": [], "tx": [], "default": []}
    for item in installed:
        layer = _layer(item, evse_id, transaction)
        if layer is None:
            continue
        lo = max(start, transaction.started) if layer == "tx" else start
        if lo < end:
            layers[layer].extend(_segments(item, evse_id, anchor, lo, end))
    edges = {start, end}
    for segments in layers.values():
        for segment in segments:
            edges.update(t for t in (segment.begin, segment.end) if start <= t <= end)
    periods: list[CompositePeriod] = []
    for moment in sorted(edges)[:-1]:
        limit, number_phases = _limit_at(layers, moment, unit, volts, phases)
        if limit is None:
            limit = unlimited
        limit = round_limit(limit) if limit is not None else None
        if periods and periods[-1].limit == limit and periods[-1].number_phases == number_phases:
            continue
        periods.append(CompositePeriod(int((moment - start).total_seconds()), limit, number_phases))
    return CompositeSchedule(evse_id, start, duration, unit, tuple(periods))


def _layer(item: InstalledProfile, evse_id: int, transaction: ActiveTransaction | None) -> str | None:
    purpose = item.profile.purpose
    if purpose is ChargingProfilePurpose.CHARGING_STATION_MAX:
        return "max"
    if purpose is ChargingProfilePurpose.EXTERNAL_CONSTRAINTS:
        # 2.0.1 lets an EMS limit one EVSE: such a limit binds that EVSE only, not the others
        # nor the station's connection as a whole; one on the station (evse 0) binds all.
        return "external" if item.evse_id in (0, evse_id) else None
    if evse_id == 0 or item.evse_id not in (0, evse_id):
        return None
    if purpose is ChargingProfilePurpose.TX_DEFAULT:
        return "default"
    if transaction is None or item.evse_id != evse_id:
        return None
    wanted = item.profile.transaction_id
    if wanted is not None and transaction.transaction_id is not None and wanted != transaction.transaction_id:
        return None
    return "tx"


def _limit_at(layers: dict[str, list[_Segment]], moment: datetime, unit: ChargingRateUnit, volts: Decimal, phases: int) -> tuple[Decimal | None, int | None]:
    station = [_prevailing(layers["max"], moment), _prevailing(layers["external"], moment)]
    charging = _prevailing(layers["tx"], moment) or _prevailing(layers["default"], moment)
    limits = [
        convert(s.limit, s.unit, unit, volts, s.phases or phases)
        for s in (*station, charging)
        if s is not None
    ]
    phase_source = next((s for s in (charging, *station) if s is not None and s.phases), None)
    return (min(limits) if limits else None), (phase_source.phases if phase_source else None)


def _composite_in(evse_id: int, start: str, body: dict[str, Any]) -> CompositeSchedule:
    periods = tuple(
        CompositePeriod(int(p["startPeriod"]), Decimal(str(p["limit"])), p.get("numberPhases"))
        for p in body["chargingSchedulePeriod"]
    )
    return CompositeSchedule(
        evse_id, parse_ocpp(start), int(body.get("duration") or 0), ChargingRateUnit(body["chargingRateUnit"]), periods
    )


def composite_from_ocpp16(reply: dict[str, Any], evse_id: int) -> CompositeSchedule | None:
    """The schedule of a 1.6 GetCompositeSchedule reply, None when the station gave none."""
    schedule = reply.get("chargingSchedule")
    if reply.get("status") != "Accepted" or not schedule:
        return None
    start = reply.get("scheduleStart") or schedule.get("startSchedule")
    if start is None:
        return None
    return _composite_in(reply.get("connectorId", evse_id), start, schedule)


def composite_from_ocpp201(reply: dict[str, Any]) -> CompositeSchedule | None:
    """The schedule of a 2.0.1 GetCompositeSchedule reply, None when the station gave none."""
    schedule = reply.get("schedule")
    if reply.get("status") != "Accepted" or not schedule:
        return None
    return _composite_in(schedule["evseId"], schedule["scheduleStart"], schedule)


def composite_fields(schedule: CompositeSchedule) -> dict[str, Any]:
    """A composite schedule as JSON-ready neutral fields (limits as decimal strings)."""
    return {
        "evse_id": schedule.evse_id,
        "schedule_start": to_ocpp(schedule.schedule_start),
        "duration": schedule.duration,
        "rate_unit": schedule.rate_unit.value,
        "periods": [
            {
                "start_period": p.start_period,
                "limit": str(p.limit) if p.limit is not None else None,
                "number_phases": p.number_phases,
            }
            for p in schedule.periods
        ],
    }


def differences(ours: CompositeSchedule, theirs: CompositeSchedule, tolerance: Decimal = Decimal("0.1")) -> list[str]:
    """Where a station's reported composite departs from the one computed here (same unit),
    one line per disagreement; empty when they agree within `tolerance`."""
    if ours.rate_unit is not theirs.rate_unit:
        return [f"the station reported in {theirs.rate_unit.value}, we computed in {ours.rate_unit.value}"]
    found = []
    edges = sorted({p.start_period for p in ours.periods} | {p.start_period for p in theirs.periods})
    offset = (theirs.schedule_start - ours.schedule_start).total_seconds()
    for edge in edges:
        if edge >= ours.duration:
            continue
        at = ours.schedule_start + timedelta(seconds=edge)
        mine, station = ours.limit_at(at), theirs.limit_at(at) if edge >= offset else None
        if mine is None or station is None:
            continue
        if abs(mine - station) > tolerance:
            found.append(f"at +{edge} s: station {station} {ours.rate_unit.value}, computed {mine}")
    return found
