"""What-if for a depot: "40 taxis, 22 kW each, 250 kW connection: does everyone leave full?"

A night is built from a few numbers: vehicles arrive evenly spread over the arrival window and
leave evenly spread over the departure window (the first to arrive is the first to leave),
each needing the same energy at the same maximum power. The depot model (depot.py) then says
whether a joint schedule meets every departure under the connection, by how much it falls
short if not, and how that compares with everyone plugging in and charging at full power.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

from silkcharge.smart.depot import DepotProblem, Vehicle, solve, uncontrolled
from silkcharge.smart.site import Circuit, PriceBand, Site, TimeOfUsePrices, TimeSeries, kw_to_amps

_NIGHT = datetime(2025, 1, 6, tzinfo=timezone.utc)  # any day: only clock times matter here


@dataclass(frozen=True)
class Scenario:
    vehicles: int
    power_kw: float
    connection_kw: float
    energy_kwh: float = 40.0
    arrive_from: time = time(18)
    arrive_to: time = time(23)
    depart_from: time = time(5)
    depart_to: time = time(7)
    base_load_kw: float = 0.0
    slot_minutes: int = 15

    def __post_init__(self) -> None:
        if self.vehicles < 1 or self.power_kw <= 0 or self.connection_kw <= 0 or self.energy_kwh < 0:
            raise ValueError("vehicles, power and connection must be positive, energy not negative")
        if self.base_load_kw >= self.connection_kw:
            raise ValueError("the base load alone fills the connection")


def _moment(clock: time, after: datetime) -> datetime:
    moment = after.replace(hour=clock.hour, minute=clock.minute)
    return moment if moment >= after else moment + timedelta(days=1)


def _spread(first: datetime, last: datetime, n: int, index: int) -> datetime:
    return first if n == 1 else first + (last - first) * index / (n - 1)


def problem(s: Scenario) -> DepotProblem:
    arrive_first = _moment(s.arrive_from, _NIGHT)
    arrive_last = _moment(s.arrive_to, arrive_first)
    depart_first = _moment(s.depart_from, arrive_last)
    depart_last = _moment(s.depart_to, depart_first)
    cars = tuple(
        Vehicle(
            f"vehicle-{i + 1:03d}",
            _spread(arrive_first, arrive_last, s.vehicles, i),
            _spread(depart_first, depart_last, s.vehicles, i),
            max_power_kw=s.power_kw,
            energy_kwh=s.energy_kwh,
        )
        for i in range(s.vehicles)
    )
    end = depart_last
    base = TimeSeries(arrive_first, end - arrive_first, (s.base_load_kw * 1000,)) if s.base_load_kw else None
    # No tariff is asked for: a nominal demand charge makes the plan the flattest one that works.
    flat = TimeOfUsePrices("XXX", (PriceBand(time(0), Decimal(0)),), demand_charge_per_kw=Decimal(1))
    site = Site("what-if", Circuit("connection", kw_to_amps(s.connection_kw)), base_load=base, prices=flat)
    return DepotProblem(site, cars, arrive_first, end, slot=timedelta(minutes=s.slot_minutes))


def what_if(s: Scenario) -> dict[str, Any]:
    """The answer, JSON-ready: does everyone leave full, and if not who and by how much."""
    night = problem(s)
    plan = solve(night)
    free = uncontrolled(night)
    free_unlimited = uncontrolled(DepotProblem(
        Site("unlimited", Circuit("connection", kw_to_amps(s.vehicles * s.power_kw + s.base_load_kw + 1))),
        night.vehicles, night.start, night.end, slot=night.slot,
    ))
    need = sum(v.need_kwh for v in night.vehicles)
    return {
        "everyone_leaves_full": plan.feasible,
        "vehicles": s.vehicles,
        "energy_needed_kwh": round(need, 1),
        "vehicles_short": len(plan.shortfall_kwh),
        "shortfall_kwh": round(float(sum(plan.shortfall_kwh.values())), 1),
        "worst_shortfall_kwh": round(float(max(plan.shortfall_kwh.values(), default=0.0)), 1),
        "planned_peak_kw": round(plan.peak_kw, 1),
        "connection_kw": s.connection_kw,
        "uncontrolled_peak_kw": round(free_unlimited.peak_kw, 1),
        "uncontrolled_vehicles_short": len(free.shortfall_kwh),
        "uncontrolled_shortfall_kwh": round(float(sum(free.shortfall_kwh.values())), 1),
        "window": {"start": night.start.strftime("%H:%M"), "end": night.end.strftime("%H:%M")},
        "solve_seconds": round(plan.solve_seconds, 3),
    }
