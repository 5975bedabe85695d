"""Depot scheduling: a joint overnight plan for a fleet, solved exactly as an LP or a MILP.

Time is cut into slots of `slot` (15 minutes by default) from `start`. A vehicle can charge in
the slots that lie wholly between its arrival and its departure. Variables, in kW:

* p[v,t]: the power of vehicle v in slot t, 0..max power. In MILP mode p is *semicontinuous*
  (SciPy/HiGHS integrality 2): either 0 or between the minimum power (6 A x V x phases: below
  it an IEC 61851 car stops) and the maximum. In LP mode the minimum is relaxed, so the plan
  is exact for the relaxation and may ask for less than a car can take; that is faster, and
  the MILP mode is there when it matters.
* g[t] >= 0: grid import; g[t] >= sum_v p[v,t] + base[t] - solar[t] (solar is used first:
  it is free, surplus is curtailed), g[t] <= the connection (kW).
* P >= g[t] for all t: the peak.

Circuits below the connection limit the sum of their vehicles' power, with limits converted
from A per phase as kW = A x V x 3 / 1000 (depot chargers are three-phase or DC).
Every vehicle gets its remaining energy: sum_t p[v,t] x slot_hours >= need[v].

Objective: sum_t price[t] x g[t] x slot_hours + demand charge x P.

When that model is infeasible, a second model adds a shortfall s[v] >= 0 to each energy
constraint and is solved lexicographically: first minimise sum_v weight[v] x s[v] (deliver
as much as physically possible, favouring heavier weights), then, with the shortfall fixed at
that optimum, minimise cost. The report lists each vehicle that cannot be met and by how many
kWh. Rolling horizon: `resolve` builds the same problem from `now`, with each vehicle's energy
delivered so far subtracted.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_matrix

from silkcharge.smart.profiles import (
    ChargingProfile,
    ChargingProfileKind,
    ChargingProfilePurpose,
    ChargingRateUnit,
    ChargingSchedule,
    ChargingSchedulePeriod,
    round_limit,
)
from silkcharge.smart.site import Site, amps_to_kw


class DepotError(ValueError):
    """A depot problem that cannot be posed (the message says what)."""


@dataclass(frozen=True)
class Vehicle:
    """A vehicle to charge: give `energy_kwh`, or `battery_kwh` with `soc` and `target_soc`."""

    id: str
    arrival: datetime
    departure: datetime
    max_power_kw: float
    energy_kwh: float | None = None
    battery_kwh: float | None = None
    soc: float | None = None
    target_soc: float | None = None
    phases: int = 3
    min_current_a: float = 6.0
    evse_id: str | None = None  # places it on the site's circuit tree; None: on the connection
    delivered_kwh: float = 0.0
    weight: float = 1.0  # how much its shortfall counts when not everyone can be met

    @property
    def need_kwh(self) -> float:
        if self.energy_kwh is not None:
            total = self.energy_kwh
        elif None not in (self.battery_kwh, self.soc, self.target_soc):
            total = max(0.0, self.target_soc - self.soc) * self.battery_kwh
        else:
            raise DepotError(f"vehicle {self.id}: give energy_kwh or battery_kwh, soc and target_soc")
        return max(0.0, total - self.delivered_kwh)

    def min_power_kw(self, voltage: float) -> float:
        return min(amps_to_kw(self.min_current_a, voltage, self.phases), self.max_power_kw)


@dataclass(frozen=True)
class DepotProblem:
    site: Site
    vehicles: tuple[Vehicle, ...]
    start: datetime
    end: datetime
    slot: timedelta = timedelta(minutes=15)
    mode: str = "lp"  # "lp" (minimum power relaxed) or "milp" (semicontinuous power)
    time_limit: float = 60.0
    mip_rel_gap: float = 1e-3

    @property
    def slots(self) -> int:
        return math.ceil((self.end - self.start) / self.slot)

    def slot_start(self, index: int) -> datetime:
        return self.start + index * self.slot

    def window(self, vehicle: Vehicle) -> range:
        """Slots wholly inside [arrival, departure) and inside the horizon."""
        first = max(0, math.ceil((vehicle.arrival - self.start) / self.slot))
        last = min(self.slots, math.floor((vehicle.departure - self.start) / self.slot))
        return range(first, max(first, last))


@dataclass(frozen=True)
class DepotSchedule:
    start: datetime
    slot: timedelta
    power_w: dict[str, list[float]]  # per vehicle, per slot
    grid_kw: list[float]
    peak_kw: float
    energy_cost: Decimal
    demand_cost: Decimal
    currency: str
    shortfall_kwh: dict[str, float] = field(default_factory=dict)  # only vehicles not met
    feasible: bool = True
    mode: str = "lp"
    solve_seconds: float = 0.0

    @property
    def total_cost(self) -> Decimal:
        return self.energy_cost + self.demand_cost


def _inputs(problem: DepotProblem) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per slot: price per kWh (float), base load kW, solar kW."""
    site, n = problem.site, problem.slots
    starts = [problem.slot_start(t) for t in range(n)]
    ends = [s + problem.slot for s in starts]
    price = np.array([float(site.prices.price_at(s)) if site.prices else 0.0 for s in starts])
    base = np.array([site.base_load.mean(s, e) / 1000 if site.base_load else 0.0 for s, e in zip(starts, ends)])
    solar = np.zeros(n)
    if site.solar is not None:
        solar = np.array(site.solar.forecast(problem.start, problem.slot, n).values) / 1000
    return price, base, solar


class _Model:
    """Index bookkeeping and sparse rows for one depot problem."""

    def __init__(self, problem: DepotProblem, with_shortfall: bool) -> None:
        self.problem = problem
        self.vehicles = [v for v in problem.vehicles]
        self.p_index: dict[tuple[int, int], int] = {}
        for vi, vehicle in enumerate(self.vehicles):
            for t in problem.window(vehicle):
                self.p_index[vi, t] = len(self.p_index)
        n = problem.slots
        self.g0 = len(self.p_index)
        self.peak = self.g0 + n
        self.s0 = self.peak + 1
        self.size = self.s0 + (len(self.vehicles) if with_shortfall else 0)
        self.rows: list[int] = []
        self.cols: list[int] = []
        self.vals: list[float] = []
        self.lb: list[float] = []
        self.ub: list[float] = []

    def row(self, entries: Sequence[tuple[int, float]], lo: float, hi: float) -> None:
        r = len(self.lb)
        for col, val in entries:
            self.rows.append(r)
            self.cols.append(col)
            self.vals.append(val)
        self.lb.append(lo)
        self.ub.append(hi)

    def constraint(self) -> LinearConstraint:
        matrix = coo_matrix((self.vals, (self.rows, self.cols)), shape=(len(self.lb), self.size)).tocsr()
        return LinearConstraint(matrix, np.array(self.lb), np.array(self.ub))


def _build(problem: DepotProblem, with_shortfall: bool):
    site, n = problem.site, problem.slots
    hours = problem.slot / timedelta(hours=1)
    price, base, solar = _inputs(problem)
    grid_kw = amps_to_kw(site.grid.limit_a, site.voltage)
    if np.any(base - solar > grid_kw + 1e-9):
        raise DepotError("the base load alone exceeds the grid connection in some slot")
    model = _Model(problem, with_shortfall)
    for vi, vehicle in enumerate(model.vehicles):
        entries = [(model.p_index[vi, t], hours) for t in problem.window(vehicle)]
        if with_shortfall:
            entries.append((model.s0 + vi, 1.0))
        model.row(entries, vehicle.need_kwh, np.inf)
    by_slot: dict[int, list[int]] = {}
    for (vi, t), col in model.p_index.items():
        by_slot.setdefault(t, []).append(col)
    for t in range(n):
        model.row([(c, 1.0) for c in by_slot.get(t, [])] + [(model.g0 + t, -1.0)], -np.inf, solar[t] - base[t])
        model.row([(model.g0 + t, 1.0), (model.peak, -1.0)], -np.inf, 0.0)
    for circuit, path in site.grid.walk():
        if circuit is site.grid:
            continue
        members = [vi for vi, v in enumerate(model.vehicles) if v.evse_id and circuit.id in site.path(v.evse_id)]
        if not members:
            continue
        limit = amps_to_kw(circuit.limit_a, site.voltage)
        for t in range(n):
            cols = [model.p_index[vi, t] for vi in members if (vi, t) in model.p_index]
            if cols:
                model.row([(c, 1.0) for c in cols], -np.inf, limit)
    lower = np.zeros(model.size)
    upper = np.full(model.size, np.inf)
    integrality = np.zeros(model.size)
    for (vi, t), col in model.p_index.items():
        vehicle = model.vehicles[vi]
        upper[col] = vehicle.max_power_kw
        if problem.mode == "milp":
            lower[col] = vehicle.min_power_kw(site.voltage)
            integrality[col] = 2
    upper[model.g0 : model.g0 + n] = grid_kw
    cost = np.zeros(model.size)
    cost[model.g0 : model.g0 + n] = price * hours
    demand = float(site.prices.demand_charge_per_kw) if site.prices else 0.0
    cost[model.peak] = demand
    return model, cost, Bounds(lower, upper), integrality


def _solve(cost, constraints, bounds, integrality, problem: DepotProblem):
    options = {"time_limit": problem.time_limit, "disp": False}
    if problem.mode == "milp":
        options["mip_rel_gap"] = problem.mip_rel_gap
    return milp(cost, constraints=constraints, bounds=bounds, integrality=integrality, options=options)


def solve(problem: DepotProblem) -> DepotSchedule:
    """The cheapest plan meeting every departure, or the report of who cannot be met."""
    if problem.mode not in ("lp", "milp"):
        raise DepotError(f"mode must be 'lp' or 'milp', not {problem.mode!r}")
    clock = time.perf_counter()
    model, cost, bounds, integrality = _build(problem, with_shortfall=False)
    result = _solve(cost, [model.constraint()], bounds, integrality, problem)
    if result.x is not None and result.status in (0, 1):
        return _schedule(problem, model, result.x, time.perf_counter() - clock, feasible=True)
    model, cost, bounds, integrality = _build(problem, with_shortfall=True)
    weights = np.zeros(model.size)
    for vi, vehicle in enumerate(model.vehicles):
        weights[model.s0 + vi] = vehicle.weight
    first = _solve(weights, [model.constraint()], bounds, integrality, problem)
    if first.x is None:
        raise DepotError(f"the shortfall model could not be solved: {first.message}")
    budget = LinearConstraint(weights.reshape(1, -1), -np.inf, first.fun * (1 + 1e-7) + 1e-6)
    second = _solve(cost, [model.constraint(), budget], bounds, integrality, problem)
    x = second.x if second.x is not None else first.x
    return _schedule(problem, model, x, time.perf_counter() - clock, feasible=False)


def _schedule(problem: DepotProblem, model: _Model, x: np.ndarray, seconds: float, *, feasible: bool) -> DepotSchedule:
    n, hours = problem.slots, problem.slot / timedelta(hours=1)
    price, base, solar = _inputs(problem)
    power = {v.id: [0.0] * n for v in model.vehicles}
    for (vi, t), col in model.p_index.items():
        kw = float(x[col])
        power[model.vehicles[vi].id][t] = kw * 1000 if kw > 1e-6 else 0.0  # solver noise is not power
    load = np.array([sum(power[v.id][t] for v in model.vehicles) / 1000 for t in range(n)])
    grid = np.maximum(load + base - solar, 0.0)
    shortfall = {}
    for vehicle in model.vehicles:
        delivered = sum(power[vehicle.id]) / 1000 * hours
        if delivered < vehicle.need_kwh - 1e-3:
            shortfall[vehicle.id] = round(vehicle.need_kwh - delivered, 3)
    return _costed(problem, power, grid, shortfall, feasible and not shortfall, seconds)


def _costed(problem: DepotProblem, power, grid: np.ndarray, shortfall, feasible: bool, seconds: float) -> DepotSchedule:
    site, hours = problem.site, problem.slot / timedelta(hours=1)
    prices = site.prices
    energy = sum(
        (Decimal(repr(float(g * hours))) * prices.price_at(problem.slot_start(t)) for t, g in enumerate(grid)),
        Decimal(0),
    ) if prices else Decimal(0)
    # To a tenth of a watt: the solver's optimum sits within its tolerance of the true peak (21.99999 kW for
    # 22 kW), which would bill a demand charge a fraction of a tenge short.
    peak = round(float(grid.max()), 4) if len(grid) else 0.0
    demand = Decimal(repr(peak)) * prices.demand_charge_per_kw if prices else Decimal(0)
    cent = Decimal("0.01")
    return DepotSchedule(
        start=problem.start,
        slot=problem.slot,
        power_w=power,
        grid_kw=[float(g) for g in grid],
        peak_kw=peak,
        energy_cost=energy.quantize(cent),
        demand_cost=demand.quantize(cent),
        currency=prices.currency if prices else "",
        shortfall_kwh=shortfall,
        feasible=feasible,
        mode=problem.mode,
        solve_seconds=seconds,
    )


def resolve(problem: DepotProblem, now: datetime, delivered_kwh: Mapping[str, float]) -> DepotSchedule:
    """Re-plan from `now` (rolling horizon): energy delivered so far is subtracted, vehicles
    already gone are dropped, and slots restart at `now`."""
    vehicles = tuple(
        replace(v, delivered_kwh=v.delivered_kwh + delivered_kwh.get(v.id, 0.0))
        for v in problem.vehicles
        if v.departure > now
    )
    return solve(replace(problem, vehicles=vehicles, start=now))


def uncontrolled(problem: DepotProblem) -> DepotSchedule:
    """The baseline: every vehicle at full power from arrival until it has its energy.

    Precisely: in each slot each vehicle present (in its window) asks for
    min(max power, remaining need / slot hours); if asks + base - solar exceed the connection,
    every ask is scaled by the same factor so that the connection is respected (what a site
    fuse, or a simple static load balancer, would force). Energy not delivered by departure is
    reported as shortfall.
    """
    site, n, hours = problem.site, problem.slots, problem.slot / timedelta(hours=1)
    price, base, solar = _inputs(problem)
    grid_kw = amps_to_kw(site.grid.limit_a, site.voltage)
    remaining = {v.id: v.need_kwh for v in problem.vehicles}
    power = {v.id: [0.0] * n for v in problem.vehicles}
    windows = {v.id: problem.window(v) for v in problem.vehicles}
    for t in range(n):
        asks = {
            v.id: min(v.max_power_kw, remaining[v.id] / hours)
            for v in problem.vehicles
            if t in windows[v.id] and remaining[v.id] > 1e-9
        }
        total = sum(asks.values())
        room = max(0.0, grid_kw - base[t] + solar[t])
        scale = min(1.0, room / total) if total > 0 else 1.0
        for vid, ask in asks.items():
            power[vid][t] = ask * scale * 1000
            remaining[vid] -= ask * scale * hours
    load = np.array([sum(power[v.id][t] for v in problem.vehicles) / 1000 for t in range(n)])
    grid = np.maximum(load + base - solar, 0.0)
    shortfall = {vid: round(r, 3) for vid, r in remaining.items() if r > 1e-3}
    return _costed(problem, power, grid, shortfall, not shortfall, 0.0)


def to_tx_profiles(
    schedule: DepotSchedule,
    *,
    start: datetime | None = None,
    unit: str = "W",
    voltage: float = 230.0,
    phases: int = 3,
    first_profile_id: int = 1,
    stack_level: int = 0,
    transaction_ids: Mapping[str, str] | None = None,
) -> dict[str, ChargingProfile]:
    """One Absolute TxProfile per vehicle, its periods following the plan from `start`.

    In amperes, limit = W / (V x phases). Equal consecutive slots are merged; the schedule's
    duration ends with the horizon, after which the station falls back to its TxDefault.
    """
    begin = start or schedule.start
    rate = ChargingRateUnit(unit)
    horizon = len(schedule.grid_kw) * schedule.slot
    offset = begin - schedule.start
    profiles = {}
    for index, (vid, watts) in enumerate(schedule.power_w.items()):
        periods: list[ChargingSchedulePeriod] = []
        for t, w in enumerate(watts):
            at = int((t * schedule.slot - offset).total_seconds())
            if at + schedule.slot.total_seconds() <= 0:
                continue
            value = w if rate is ChargingRateUnit.W else w / (voltage * phases)
            limit = round_limit(value)
            if periods and periods[-1].limit == limit:
                continue
            periods.append(ChargingSchedulePeriod(max(at, 0), limit, phases if rate is ChargingRateUnit.A else None))
        if not periods:
            continue
        profiles[vid] = ChargingProfile(
            id=first_profile_id + index,
            stack_level=stack_level,
            purpose=ChargingProfilePurpose.TX,
            kind=ChargingProfileKind.ABSOLUTE,
            schedule=ChargingSchedule(rate, tuple(periods), start_schedule=begin, duration=int((horizon - offset).total_seconds())),
            transaction_id=(transaction_ids or {}).get(vid),
        )
    return profiles
