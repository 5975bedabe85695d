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

Minimum current in LP mode: a car does not draw below its EVSE's minimum (6 A x V x phases for
IEC 61851), so every slot of the plan is zero or at least that minimum. The LP relaxation may ask
for less; those slots are then fixed (below half the minimum: off; otherwise: at least the
minimum) and the LP solved again, a few rounds at most. What is still below the minimum after
that is cut to zero and shows as shortfall; a plan never asks a car for what it cannot draw.

When the model is infeasible, a second model adds a shortfall s[v] >= 0 to each energy
constraint and is solved lexicographically: first deliver as much energy as physically possible
(minimise sum_v s[v]); then, with that total fixed, share the shortfall fairly: minimise
sum_v weight[v] x s[v]^2 / need[v] (piecewise linear, `FAIR_SEGMENTS` pieces), whose optimum
makes every car short by the same fraction of its need, a car of weight 2 by half that fraction,
as far as its window and power allow (no car left at 0 kWh while others leave full); finally,
with the fairness penalty fixed, minimise cost. The report lists each vehicle that cannot be met
and by how many kWh. Rolling horizon: `resolve` builds the same problem from `now`, with each
vehicle's energy delivered so far subtracted.

V2G cars add discharge d[v,t] and battery energy e[v,t] (see `Vehicle`). In LP mode that model is
solved by column generation (`_priced`): first without discharge columns, then with those whose
reduced cost against the LP's duals is negative, until none is; the optimum is the whole model's.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, linprog, milp
from scipy.sparse import coo_matrix, vstack

from silkcharge.smart.profiles import (
    ChargingProfile,
    ChargingProfileKind,
    ChargingProfilePurpose,
    ChargingRateUnit,
    ChargingSchedule,
    ChargingSchedulePeriod,
    OperationMode,
    round_limit,
)
from silkcharge.smart.site import Site, amps_to_kw

FAIR_SEGMENTS = 20  # pieces of the fairness penalty: shares are fair to 1/20 of each car's need


MIN_POWER_ROUNDS = 3  # LP solves that close slots a car was asked to draw below its minimum in


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
    # V2G (OCPP 2.1 bidirectional): the driver opted in, how fast the car discharges, and the state
    # of charge it never goes below while parked (it still leaves with target_soc)
    v2g: bool = False
    max_discharge_kw: float = 0.0
    min_soc: float = 0.3

    @property
    def discharges(self) -> bool:
        """Opted in, able to discharge, and with a battery whose energy can be tracked."""
        return self.v2g and self.max_discharge_kw > 0 and None not in (self.battery_kwh, self.soc, self.target_soc)

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
    wear_cost_per_kwh: Decimal = Decimal(0)  # battery wear of each kWh a V2G car discharges

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
    discharge_w: dict[str, list[float]] = field(default_factory=dict)  # V2G cars, per slot
    wear_cost: Decimal = Decimal(0)

    @property
    def total_cost(self) -> Decimal:
        return self.energy_cost + self.demand_cost + self.wear_cost

    @property
    def cycled_kwh(self) -> dict[str, float]:
        """Energy each V2G car gave back over the plan (what wears its battery)."""
        hours = self.slot / timedelta(hours=1)
        return {vid: round(sum(ws) / 1000 * hours, 3) for vid, ws in self.discharge_w.items() if any(ws)}


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

    def __init__(self, problem: DepotProblem, with_shortfall: bool, discharging: frozenset[int] | None = None) -> None:
        self.with_shortfall = with_shortfall
        self.problem = problem
        self.vehicles = [v for v in problem.vehicles]
        self.p_index: dict[tuple[int, int], int] = {}
        for vi, vehicle in enumerate(self.vehicles):
            for t in problem.window(vehicle):
                self.p_index[vi, t] = len(self.p_index)
        n = problem.slots
        self.g0 = len(self.p_index)
        self.peak = self.g0 + n
        self.s0 = self.peak + 1  # shortfall of vehicle vi, in FAIR_SEGMENTS pieces: s0 + vi x K + k
        self.size = self.s0 + (len(self.vehicles) * FAIR_SEGMENTS if with_shortfall else 0)
        # V2G: discharge d[v,t] (kW) and the battery's energy e[v,t] (kWh) at the end of slot t
        self.d_index: dict[tuple[int, int], int] = {}
        self.e_index: dict[tuple[int, int], int] = {}
        # only the cars in `discharging` (all that can, when None) get discharge columns
        self.discharging = frozenset(
            vi for vi, v in enumerate(self.vehicles) if v.discharges and (discharging is None or vi in discharging)
        )
        for vi, vehicle in enumerate(self.vehicles):
            if vi in self.discharging:
                for t in problem.window(vehicle):
                    self.d_index[vi, t] = self.size
                    self.e_index[vi, t] = self.size + 1
                    self.size += 2
        self.rows: list[int] = []
        self.cols: list[int] = []
        self.vals: list[float] = []
        self.lb: list[float] = []
        self.ub: list[float] = []
        self.energy_row: dict[int, int] = {}  # vehicle index -> its energy row
        self.slot_row: dict[int, int] = {}  # slot -> its site balance row

    def row(self, entries: Sequence[tuple[int, float]], lo: float, hi: float) -> None:
        if entries:
            cols, vals = zip(*entries)
            self.rows.extend([len(self.lb)] * len(cols))
            self.cols.extend(cols)
            self.vals.extend(vals)
        self.lb.append(lo)
        self.ub.append(hi)

    def matrix(self):
        return coo_matrix((self.vals, (self.rows, self.cols)), shape=(len(self.lb), self.size)).tocsc()

    def constraint(self) -> LinearConstraint:
        return LinearConstraint(self.matrix().tocsr(), np.array(self.lb), np.array(self.ub))


def _build(
    problem: DepotProblem, with_shortfall: bool, off: set[tuple[int, int]] = frozenset(),
    discharging: frozenset[int] | None = None,
):
    site, n = problem.site, problem.slots
    hours = problem.slot / timedelta(hours=1)
    price, base, solar = _inputs(problem)
    grid_kw = amps_to_kw(site.grid.limit_a, site.voltage)
    if np.any(base - solar > grid_kw + 1e-9):
        raise DepotError("the base load alone exceeds the grid connection in some slot")
    model = _Model(problem, with_shortfall, discharging)
    for vi, vehicle in enumerate(model.vehicles):
        model.energy_row[vi] = len(model.lb)
        entries = [(model.p_index[vi, t], hours) for t in problem.window(vehicle)]
        entries += [(model.d_index[vi, t], -hours) for t in problem.window(vehicle) if (vi, t) in model.d_index]
        if with_shortfall:
            entries += [(model.s0 + vi * FAIR_SEGMENTS + k, 1.0) for k in range(FAIR_SEGMENTS)]
        model.row(entries, vehicle.need_kwh, np.inf)
    by_slot: dict[int, list[tuple[int, float]]] = {}
    for (vi, t), col in model.p_index.items():
        by_slot.setdefault(t, []).append((col, 1.0))
    for (vi, t), col in model.d_index.items():  # discharge serves the site's own load (no export)
        by_slot.setdefault(t, []).append((col, -1.0))
    for (vi, t), col in model.e_index.items():
        # e[v,t] = e[v,t-1] (or the energy at arrival) + (p - d) x hours
        vehicle = model.vehicles[vi]
        previous = model.e_index.get((vi, t - 1))
        start = (vehicle.soc * vehicle.battery_kwh + vehicle.delivered_kwh) if previous is None else 0.0
        entries = [(col, 1.0), (model.p_index[vi, t], -hours), (model.d_index[vi, t], hours)]
        if previous is not None:
            entries.append((previous, -1.0))
        model.row(entries, start, start)
    for t in range(n):
        model.slot_row[t] = len(model.lb)
        model.row(by_slot.get(t, []) + [(model.g0 + t, -1.0)], -np.inf, solar[t] - base[t])
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
        elif (vi, t) in off:
            upper[col] = 0.0
    if with_shortfall:
        for vi, vehicle in enumerate(model.vehicles):
            upper[model.s0 + vi * FAIR_SEGMENTS : model.s0 + (vi + 1) * FAIR_SEGMENTS] = vehicle.need_kwh / FAIR_SEGMENTS
    for (vi, t), col in model.d_index.items():
        vehicle = model.vehicles[vi]
        upper[col] = vehicle.max_discharge_kw
        arrival = vehicle.soc * vehicle.battery_kwh + vehicle.delivered_kwh
        lower[model.e_index[vi, t]] = min(vehicle.min_soc * vehicle.battery_kwh, arrival)  # never below its floor
        upper[model.e_index[vi, t]] = vehicle.battery_kwh
    upper[model.g0 : model.g0 + n] = grid_kw
    cost = np.zeros(model.size)
    cost[model.g0 : model.g0 + n] = price * hours
    demand = float(site.prices.demand_charge_per_kw) if site.prices else 0.0
    cost[model.peak] = demand
    wear = float(problem.wear_cost_per_kwh)
    for col in model.d_index.values():
        # battery wear per kWh given back, plus a hair so a car never charges and discharges at once
        cost[col] = wear * hours + 1e-6
    return model, cost, Bounds(lower, upper), integrality


def _solve(cost, constraints, bounds, integrality, problem: DepotProblem):
    options = {"time_limit": problem.time_limit, "disp": False}
    if integrality.any():
        options["mip_rel_gap"] = problem.mip_rel_gap
    return milp(cost, constraints=constraints, bounds=bounds, integrality=integrality, options=options)


def solve(problem: DepotProblem) -> DepotSchedule:
    """The cheapest plan meeting every departure, or the report of who cannot be met (shared
    fairly). Every slot of the plan is zero or at least the vehicle's minimum power."""
    if problem.mode not in ("lp", "milp"):
        raise DepotError(f"mode must be 'lp' or 'milp', not {problem.mode!r}")
    clock = time.perf_counter()
    off: set[tuple[int, int]] = set()
    active: set[int] = set()  # V2G discharge columns the LP priced in (kept across rounds)
    for _ in range(MIN_POWER_ROUNDS if problem.mode == "lp" else 1):
        model, x, feasible = _solve_once(problem, off, active)
        if problem.mode == "milp":
            break
        x = _lift_to_minimum(problem, model, x)
        below = _below_minimum(problem, model, x)
        if not below:
            break
        off |= set(below)  # the LP may not use these slots: it moves their energy elsewhere
    return _schedule(problem, model, x, time.perf_counter() - clock, feasible=feasible)


def _lift_to_minimum(problem: DepotProblem, model: _Model, x: np.ndarray) -> np.ndarray:
    """Move each slot the LP asks below a car's minimum power without raising the peak, any
    circuit's load or the car's energy: into another slot of the same car that is on (or
    merged with another small slot), up to the minimum with the excess taken from the car's
    other slots, or swapped with a car charging in both slots. What cannot be moved stays
    below the minimum, and `_schedule` cuts it to zero (reported as shortfall)."""
    x = x.copy()
    site, n, voltage = problem.site, problem.slots, problem.site.voltage
    price, base, solar = _inputs(problem)
    eps = 1e-6
    load = np.zeros(n)
    for (vi, t), col in model.p_index.items():
        load[t] += x[col]
    for (vi, t), col in model.d_index.items():
        load[t] -= x[col]
    ceiling = min(float(np.max(load + base - solar)) if n else 0.0, amps_to_kw(site.grid.limit_a, voltage))
    room = np.maximum(ceiling - base + solar - load, 0.0)  # kW the load may grow in each slot
    circuits = [
        (amps_to_kw(circuit.limit_a, voltage), {vi for vi, v in enumerate(model.vehicles) if v.evse_id and circuit.id in site.path(v.evse_id)})
        for circuit, _ in site.grid.walk()
        if circuit is not site.grid
    ]
    circuits = [(limit, members) for limit, members in circuits if members]
    circuit_load = [np.zeros(n) for _ in circuits]
    for ci, (_, members) in enumerate(circuits):
        for (vi, t), col in model.p_index.items():
            if vi in members:
                circuit_load[ci][t] += x[col]
    on_circuits = {vi: [ci for ci, (_, members) in enumerate(circuits) if vi in members] for vi in range(len(model.vehicles))}
    smallest = {vi: v.min_power_kw(voltage) for vi, v in enumerate(model.vehicles)}

    def kw(vi: int, t: int) -> float:
        col = model.p_index.get((vi, t))
        return 0.0 if col is None else float(x[col])

    def fits(vi: int, t: int, delta: float) -> bool:
        return room[t] >= delta - eps and all(circuit_load[ci][t] + delta <= circuits[ci][0] + eps for ci in on_circuits[vi])

    def add(vi: int, t: int, delta: float) -> None:
        x[model.p_index[vi, t]] += delta
        room[t] -= delta
        for ci in on_circuits[vi]:
            circuit_load[ci][t] += delta

    def is_on(vi: int, t: int) -> bool:
        return kw(vi, t) >= smallest[vi] - eps

    def allowed(vi: int, value: float) -> bool:
        return abs(value) <= eps or smallest[vi] - eps <= value <= model.vehicles[vi].max_power_kw + eps

    def _swap(vi: int, t: int, small: float, window: list[int]) -> bool:
        for u in window:
            if not is_on(vi, u):
                continue
            for w in by_slot.get(t, []):
                if w == vi or (w, u) not in model.p_index or on_circuits[w] != on_circuits[vi] or kw(w, t) <= eps:
                    continue
                wt, wu, vu = kw(w, t), kw(w, u), kw(vi, u)
                mv, mw, xv, xw = smallest[vi], smallest[w], model.vehicles[vi].max_power_kw, model.vehicles[w].max_power_kw
                # each of the four new values must be 0 or within [minimum, maximum]: try every edge
                edges = (mv - small, xv - small, vu, vu - mv, vu - xv, wt, wt - mw, wt - xw, mw - wu, xw - wu)
                for delta in sorted(e for e in edges if e > eps):
                    if (
                        mv - eps <= small + delta <= xv + eps
                        and allowed(vi, vu - delta) and allowed(w, wt - delta) and allowed(w, wu + delta)
                    ):
                        add(vi, t, delta)
                        add(vi, u, -delta)
                        add(w, t, -delta)
                        add(w, u, delta)
                        return True
        return False

    by_slot: dict[int, list[int]] = {}
    for vi, t in model.p_index:
        by_slot.setdefault(t, []).append(vi)
    for vi, t in sorted(_below_minimum(problem, model, x), key=lambda key: kw(*key)):
        small, vehicle, low = kw(vi, t), model.vehicles[vi], smallest[vi]
        if not eps < small < low - eps:
            continue  # already settled by an earlier move
        window = [u for u in problem.window(vehicle) if u != t]
        # 1. into a slot of the same car that is on (cheapest first), or merged with another small one
        into = [u for u in window if kw(vi, u) > eps and kw(vi, u) + small <= vehicle.max_power_kw + eps and fits(vi, u, small)]
        if into:
            u = min(into, key=lambda u: (not is_on(vi, u), -kw(vi, u) if not is_on(vi, u) else price[u]))
            add(vi, u, small)
            add(vi, t, -small)
            continue
        # 2. up to the minimum, the excess taken from the car's dearest slot that stays on
        lift = low - small
        if fits(vi, t, lift):
            spare = [u for u in window if kw(vi, u) - lift >= low - eps]
            if spare:
                u = max(spare, key=lambda u: price[u])
                add(vi, t, lift)
                add(vi, u, -lift)
                continue
        # 3. swap with another car w on the same circuits: this car takes delta more in slot t and
        #    delta less in a slot u where it is on; w does the opposite. Slot totals do not change.
        _swap(vi, t, small, window)
    return x


def _below_minimum(problem: DepotProblem, model: _Model, x: np.ndarray) -> dict[tuple[int, int], float]:
    """Slots where the plan asks a vehicle for more than nothing but less than its minimum."""
    voltage = problem.site.voltage
    minimum = [v.min_power_kw(voltage) - 1e-6 for v in model.vehicles]
    return {key: float(x[col]) for key, col in model.p_index.items() if 1e-6 < x[col] < minimum[key[0]]}


def _solve_lp(
    cost: np.ndarray, model: _Model, matrix, bounds: Bounds, columns: np.ndarray
) -> tuple[np.ndarray, np.ndarray] | None:
    """The LP over `columns` of the model (the others held at 0) by HiGHS through linprog, which
    (unlike milp) returns the duals: the whole model's x and one y per row, so that the reduced
    cost of any column j is c_j - A_j^T y. None when it has no optimum."""
    matrix = matrix[:, columns].tocsr()
    lb, ub = np.array(model.lb), np.array(model.ub)
    eq = lb == ub
    upper = ~eq & np.isfinite(ub)
    lower = ~eq & ~upper  # every row of the model has one finite side, or is an equality
    up, low, equal = np.flatnonzero(upper), np.flatnonzero(lower), np.flatnonzero(eq)
    result = linprog(
        cost[columns],
        A_ub=vstack([matrix[up], -matrix[low]]).tocsr(),
        b_ub=np.concatenate([ub[up], -lb[low]]),
        A_eq=matrix[equal] if len(equal) else None,
        b_eq=lb[equal] if len(equal) else None,
        bounds=np.column_stack([bounds.lb[columns], bounds.ub[columns]]),
        method="highs",
        options={"time_limit": model.problem.time_limit, "disp": False},
    )
    if result.status != 0 or result.x is None:
        return None
    x = np.zeros(model.size)
    x[columns] = result.x
    y = np.zeros(len(lb))
    marginals = result.ineqlin.marginals
    y[up] = marginals[: len(up)]
    y[low] = -marginals[len(up) :]
    if len(equal):
        y[equal] = result.eqlin.marginals
    return x, y


def _priced(problem: DepotProblem, off: set[tuple[int, int]], chosen: set[int]) -> tuple[_Model, np.ndarray] | None:
    """The V2G LP by column generation. Most discharge columns d[v,t] stay at 0 in the optimum
    (a car gives back only where the site's load peaks or power is dear), so the LP is first
    solved with none (at first the charge-only plan, with each car's battery path), then the
    left-out columns are priced against its duals: a column with reduced cost c_j - A_j^T y < 0
    could lower the cost and joins, and the LP is solved again. When none is negative the plan is
    optimal for the whole model (LP duality), so the result is the whole LP's. `chosen` (column
    indices) carries the columns that joined into the next minimum-power round. None when the LP
    without them has no optimum (discharge may be what makes it feasible): the caller solves the
    whole model."""
    model, cost, bounds, _ = _build(problem, with_shortfall=False, off=off)
    discharge = np.array(sorted(model.d_index.values()), dtype=int)
    fixed = np.zeros(model.size, dtype=bool)
    fixed[discharge] = True
    fixed[list(chosen)] = False
    matrix = model.matrix()
    while True:
        columns = np.flatnonzero(~fixed)
        solved = _solve_lp(cost, model, matrix, bounds, columns)
        if solved is None:
            return None
        x, y = solved
        waiting = np.flatnonzero(fixed)
        reduced = cost[waiting] - matrix[:, waiting].T @ y
        joining = waiting[reduced < -1e-7]
        if not len(joining):
            return model, x
        fixed[joining] = False
        chosen.update(int(j) for j in joining)


def _solve_once(
    problem: DepotProblem, off: set[tuple[int, int]] = frozenset(), active: set[int] | None = None
) -> tuple[_Model, np.ndarray, bool]:
    if problem.mode == "lp" and any(v.discharges for v in problem.vehicles):
        priced = _priced(problem, off, set() if active is None else active)
        if priced is not None:
            return *priced, True
    model, cost, bounds, integrality = _build(problem, with_shortfall=False, off=off)
    result = _solve(cost, [model.constraint()], bounds, integrality, problem)
    if result.x is not None and result.status in (0, 1):
        return model, result.x, True
    model, cost, bounds, integrality = _build(problem, with_shortfall=True, off=off)
    count, k = len(model.vehicles), FAIR_SEGMENTS
    total = np.zeros(model.size)
    total[model.s0 : model.s0 + count * k] = 1.0
    first = _solve(total, [model.constraint()], bounds, integrality, problem)
    if first.x is None:
        raise DepotError(f"the shortfall model could not be solved: {first.message}")
    most = LinearConstraint(total.reshape(1, -1), -np.inf, first.fun * (1 + 1e-7) + 1e-6)
    # weight x s^2 / need in pieces: piece k of a car's shortfall costs weight x (2k+1) / K per kWh
    fair = np.zeros(model.size)
    for vi, vehicle in enumerate(model.vehicles):
        for piece in range(k):
            fair[model.s0 + vi * k + piece] = vehicle.weight * (2 * piece + 1) / k
    second = _solve(fair, [model.constraint(), most], bounds, integrality, problem)
    if second.x is None:
        return model, first.x, False
    shared = LinearConstraint(fair.reshape(1, -1), -np.inf, second.fun * (1 + 1e-7) + 1e-6)
    third = _solve(cost, [model.constraint(), most, shared], bounds, integrality, problem)
    return model, (third.x if third.x is not None else second.x), False


def _schedule(problem: DepotProblem, model: _Model, x: np.ndarray, seconds: float, *, feasible: bool) -> DepotSchedule:
    n, hours = problem.slots, problem.slot / timedelta(hours=1)
    price, base, solar = _inputs(problem)
    power = {v.id: [0.0] * n for v in model.vehicles}
    below = _below_minimum(problem, model, x)
    for (vi, t), col in model.p_index.items():
        kw = float(x[col])
        # solver noise is not power; what is still below the car's minimum after the re-solves it cannot draw
        power[model.vehicles[vi].id][t] = kw * 1000 if kw > 1e-6 and (vi, t) not in below else 0.0
    discharge = {v.id: [0.0] * n for v in model.vehicles if v.discharges}
    for (vi, t), col in model.d_index.items():
        kw = float(x[col])
        discharge[model.vehicles[vi].id][t] = kw * 1000 if kw > 1e-6 else 0.0
    load = np.array([
        (sum(power[v.id][t] for v in model.vehicles) - sum(ws[t] for ws in discharge.values())) / 1000
        for t in range(n)
    ])
    grid = np.maximum(load + base - solar, 0.0)
    shortfall = {}
    for vehicle in model.vehicles:
        delivered = (sum(power[vehicle.id]) - sum(discharge.get(vehicle.id, ()))) / 1000 * hours
        if delivered < vehicle.need_kwh - 1e-3:
            shortfall[vehicle.id] = round(vehicle.need_kwh - delivered, 3)
    return _costed(problem, power, grid, shortfall, feasible and not shortfall, seconds, discharge)


def _costed(
    problem: DepotProblem, power, grid: np.ndarray, shortfall, feasible: bool, seconds: float,
    discharge: dict[str, list[float]] | None = None,
) -> DepotSchedule:
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
    cycled = sum((Decimal(repr(sum(ws) / 1000 * hours)) for ws in (discharge or {}).values()), Decimal(0))
    wear = cycled * problem.wear_cost_per_kwh
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
        discharge_w=discharge or {},
        wear_cost=wear.quantize(cent),
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
    """One Absolute TxProfile per vehicle, its periods following the plan from `start` (or from
    the plan's start, when `start` is earlier).

    In amperes, limit = W / (V x phases). Equal consecutive slots are merged; the schedule's
    duration ends with the horizon, after which the station falls back to its TxDefault.
    A V2G car's discharge slots become OCPP 2.1 CentralSetpoint periods (limit 0, a negative
    setpoint and discharge limit of the planned power): only a 2.1 station can take those.
    """
    # A plan pushed before it begins (tonight's, planned in the afternoon) starts at its own start.
    begin = max(start, schedule.start) if start is not None else schedule.start
    rate = ChargingRateUnit(unit)
    horizon = len(schedule.grid_kw) * schedule.slot
    offset = begin - schedule.start
    profiles = {}
    for index, (vid, watts) in enumerate(schedule.power_w.items()):
        periods: list[ChargingSchedulePeriod] = []
        given = schedule.discharge_w.get(vid, [0.0] * len(watts))
        for t, w in enumerate(watts):
            at = int((t * schedule.slot - offset).total_seconds())
            if at + schedule.slot.total_seconds() <= 0:
                continue
            to_unit = 1.0 if rate is ChargingRateUnit.W else 1.0 / (voltage * phases)
            limit = round_limit(w * to_unit)
            number_phases = phases if rate is ChargingRateUnit.A else None
            if given[t] > 0:
                setpoint = -round_limit(given[t] * to_unit)
                period = ChargingSchedulePeriod(max(at, 0), Decimal(0), number_phases, discharge_limit=setpoint,
                                                setpoint=setpoint, operation_mode=OperationMode.CENTRAL_SETPOINT)
            else:
                period = ChargingSchedulePeriod(max(at, 0), limit, number_phases)
            if periods and (periods[-1].limit, periods[-1].setpoint) == (period.limit, period.setpoint):
                continue
            periods.append(period)
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
