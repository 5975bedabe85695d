"""External charging limits in force now (OCPP 2.0.1 K11-K14), in amperes per phase.

An energy management system or grid operator limits a station through the station itself; the
station tells the CSMS with NotifyChargingLimit, carrying the limit's schedules. Load
management must not give an EVSE more than such a limit allows, so it needs the limit at the
present moment in its own unit: a schedule starts at its startSchedule (or when it was
received), its periods run from their startPeriod, it ends after its duration (or never), and
several schedules all hold, so the lowest applies. Watts become amperes per phase with the
site's voltage and the period's numberPhases (else the EVSE's phases).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from silkcharge.domain.clock import parse_ocpp


def check_schedule(schedule: dict[str, Any]) -> None:
    """Raise ValueError naming what makes a chargingSchedule unusable: a negative or
    non-finite limit or start, a phase count other than 1 to 3, an unreadable start time."""
    if schedule.get("startSchedule"):
        try:
            parse_ocpp(schedule["startSchedule"])
        except ValueError:
            raise ValueError(f"startSchedule {schedule['startSchedule']!r} is not a time") from None
    if schedule.get("duration") is not None and schedule["duration"] <= 0:
        raise ValueError(f"duration {schedule['duration']} must be positive")
    for period in schedule["chargingSchedulePeriod"]:
        limit = Decimal(str(period["limit"]))
        if not limit.is_finite() or limit < 0:
            raise ValueError(f"limit {period['limit']} must be a number of at least 0")
        if period["startPeriod"] < 0:
            raise ValueError(f"startPeriod {period['startPeriod']} must not be negative")
        if period.get("numberPhases") is not None and period["numberPhases"] not in (1, 2, 3):
            raise ValueError(f"numberPhases {period['numberPhases']} must be 1, 2 or 3")


def limit_now(
    schedules: list[dict[str, Any]], received_at: datetime, now: datetime, voltage: Decimal, phases: int,
) -> Decimal | None:
    """The lowest limit any schedule sets at `now`, in A per phase; None when none is in force."""
    found = [amps for schedule in schedules if (amps := _schedule_now(schedule, received_at, now, voltage, phases))
             is not None]
    return min(found) if found else None


def _schedule_now(
    schedule: dict[str, Any], received_at: datetime, now: datetime, voltage: Decimal, phases: int,
) -> Decimal | None:
    start = parse_ocpp(schedule["startSchedule"]) if schedule.get("startSchedule") else received_at
    offset = (now - start).total_seconds()
    duration = schedule.get("duration")
    if offset < 0 or (duration is not None and offset >= duration):
        return None
    current = None
    for period in sorted(schedule["chargingSchedulePeriod"], key=lambda p: p["startPeriod"]):
        if period["startPeriod"] <= offset:
            current = period
    if current is None:
        return None
    limit = Decimal(str(current["limit"]))
    if schedule["chargingRateUnit"] == "W":
        limit = limit / (voltage * (current.get("numberPhases") or phases))
    return limit
