"""Charging stops for a long drive: the plan that minimises total time, for one vehicle.

Total time = driving + charging + a fixed overhead per stop + border waits (+ the wait at a busy
station). The search runs on a station graph laid along the road route:

1. The route of each part of the trip (origin, waypoints, destination) comes from the road
   graph. Every charging site within `corridor_km` road km of the route where the vehicle can
   charge becomes a node at the route km where its detour leaves the route.
2. A leg between two nodes of one part is the route between their km plus both detours (a
   site is left the way it was reached). The legs go forward only, so the graph is a DAG.
   Energy per leg = km x consumption x `consumption_factor`; drive time = km / `speed_kmh`;
   the border waits of the crossings the route passes between the two km are added.
3. Labels (time, state of charge on arrival) are set node by node in route order, keeping only
   labels no other label dominates (less or equal time and more or equal charge). At a site a
   label may charge to any candidate target: every `soc_step` % up to `max_charge_soc`, plus,
   for every node reachable from there, the exact charge that arrives at it with the minimum.
   Charging time is exact for the vehicle's piecewise-linear curve capped by the connector,
   the car and the adapter (`ChargingCurve.time_to_charge`).

The plan is optimal among plans whose departure charges are candidate targets. "Just enough to
reach the next stop (or the destination) with the minimum" is the charge the best plans use
most, and it is exact; a continuous optimum that charges to a level between two grid points
(where two stops' marginal powers equal) is missed by at most one grid step per stop:
`soc_step`/100 x battery / power at that level, about two minutes for 5 % of a 75 kWh battery
at 100 kW. See docs/trips.md.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np

from silkcharge.domain.compat import Adapter, ChargeOption, load_adapters
from silkcharge.domain.vehicles import Vehicle
from silkcharge.trips.network import (
    ChargingSite,
    SiteChoice,
    SiteIndex,
    SiteOnRoute,
    site_choice,
    sites_along,
)
from silkcharge.trips.roads import NoRoute, Place, RoadGraph, Route

__all__ = [
    "ChargeStop",
    "CrossingOnLeg",
    "Leg",
    "NoFeasiblePlan",
    "PriceSession",
    "SessionPrice",
    "TripError",
    "TripPlan",
    "TripRequest",
    "Unpriced",
    "Unreachable",
    "no_tariffs",
    "plan_trip",
]

_EPS = 1e-9
Where = str | tuple[float, float]


class TripError(ValueError):
    """The request cannot be planned as given; the message says what to change."""


class Unreachable(TripError):
    """No road joins two points of the trip under the requested restrictions."""


class NoFeasiblePlan(TripError):
    """Roads exist, but the vehicle cannot reach the destination with the chargers on the way."""

    def __init__(self, message: str, *, stretch_km: float | None = None,
                 between: tuple[str, str] | None = None) -> None:
        super().__init__(message)
        self.stretch_km = stretch_km
        self.between = between


@dataclass(frozen=True)
class SessionPrice:
    """What a stop's session costs, including VAT, in the site operator's currency."""

    amount: Decimal
    currency: str
    tariff: str | None = None
    amount_excl_vat: Decimal | None = None


@dataclass(frozen=True)
class Unpriced:
    """Why a stop's session has no price (no tariff published there, none for this driver...)."""

    reason: str


PriceSession = Callable[[ChargingSite, ChargeOption, float, float, datetime | None], SessionPrice | Unpriced]
"""(site, charge option, energy kWh, charging minutes, start time or None) -> the price, or why
there is none. The hook is how trips/ learns prices without knowing where tariffs are stored:
the API passes one built on `domain.pricing.estimate`, the computation search and receipts use."""


def no_tariffs(site: ChargingSite, option: ChargeOption, energy_kwh: float, minutes: float,
               start: datetime | None) -> SessionPrice | Unpriced:
    """The price hook without a tariff store (the CLI on the packaged network)."""
    return Unpriced("no tariffs are known to this planner")


@dataclass(frozen=True)
class TripRequest:
    """What the driver asks. SoC values are percentages; durations minutes; speeds km/h."""

    origin: Where
    destination: Where
    vehicle: Vehicle
    via: tuple[Where, ...] = ()
    start_soc: float = 90.0
    min_arrival_soc: float = 10.0
    """The least charge on arriving at a charging stop or a waypoint."""
    min_destination_soc: float = 15.0
    max_charge_soc: float = 80.0
    """Charge at most to this level at a stop (the curve tapers above it)."""
    overhead_min: float = 5.0
    """Per stop: parking, plugging in, paying."""
    speed_kmh: float = 80.0
    """Average driving speed; the road graph has no road classes to do better."""
    consumption_factor: float = 1.0
    """Multiplies the catalog consumption: about 1.3 in a Central Asian winter, 1.1 at 110 km/h."""
    avoid_borders: tuple[str, ...] = ()
    """Crossing ids or names, or country pairs such as "KZ-KG"."""
    prefer_operators: tuple[str, ...] = ()
    exclude_operators: tuple[str, ...] = ()
    prefer_penalty_min: float = 10.0
    """A stop at an operator not preferred counts this much extra in the search only."""
    use_adapters: bool = False
    on_date: date | None = None
    """Applies seasonal closures of that day; defaults to the day of `depart_at`."""
    depart_at: datetime | None = None
    """Aware time of departure: the plan then gives clock times in UTC."""
    busy_wait_min: float | None = 20.0
    """Wait counted at a station whose compatible connectors are all busy; None avoids them."""
    corridor_km: float = 15.0
    """How far off the route (road km, one way) a charging site may lie."""
    soc_step: float = 5.0

    def check(self) -> None:
        for name in ("start_soc", "min_arrival_soc", "min_destination_soc", "max_charge_soc"):
            value = getattr(self, name)
            if not 0 <= value <= 100:
                raise TripError(f"{name} must be a percentage in 0..100, got {value}")
        if self.min_arrival_soc >= self.max_charge_soc:
            raise TripError(
                f"the minimum arrival charge ({self.min_arrival_soc:g} %) must be below the "
                f"maximum charge per stop ({self.max_charge_soc:g} %): lower the minimum or "
                "raise the maximum")
        if self.min_destination_soc > max(self.max_charge_soc, self.start_soc):
            raise TripError(
                f"the minimum charge at the destination ({self.min_destination_soc:g} %) is above "
                f"both the maximum charge per stop ({self.max_charge_soc:g} %) and the start "
                f"({self.start_soc:g} %)")
        positive = {"speed_kmh": self.speed_kmh, "consumption_factor": self.consumption_factor,
                    "corridor_km": self.corridor_km}
        for name, value in positive.items():
            if not value > 0:
                raise TripError(f"{name} must be positive, got {value}")
        if not 0 < self.soc_step <= 50:
            raise TripError(f"soc_step must lie in (0, 50], got {self.soc_step}")
        for name in ("overhead_min", "prefer_penalty_min"):
            if getattr(self, name) < 0:
                raise TripError(f"{name} must not be negative")
        if self.busy_wait_min is not None and self.busy_wait_min < 0:
            raise TripError("busy_wait_min must not be negative")
        if self.depart_at is not None and self.depart_at.tzinfo is None:
            raise TripError("depart_at must carry a time zone (UTC)")


# ---- the plan ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CrossingOnLeg:
    id: str
    name: str
    countries: tuple[str, str]
    wait_min: float
    hours: str


@dataclass(frozen=True)
class ChargeStop:
    site_code: str
    site_name: str
    operator: str
    country: str
    standard: str
    adapter: str | None
    station_kw: float
    power_kw: float
    """The cap on power (station, car, adapter); the car's curve lowers it as SoC rises."""
    arrival_soc: float
    departure_soc: float
    energy_kwh: float
    charge_min: float
    overhead_min: float
    wait_min: float
    availability: str
    cost: SessionPrice | None = None
    arrive_at: datetime | None = None
    depart_at: datetime | None = None
    cost_note: str | None = None
    """Why `cost` is None."""

    @property
    def average_kw(self) -> float:
        return self.energy_kwh / (self.charge_min / 60) if self.charge_min > 0 else 0.0


@dataclass(frozen=True)
class Leg:
    start: str
    end: str
    km: float
    drive_min: float
    border_wait_min: float
    crossings: tuple[CrossingOnLeg, ...]
    departure_soc: float
    arrival_soc: float
    stop: ChargeStop | None
    """The charging stop at the end of this leg (None at a waypoint or the destination)."""
    depart_at: datetime | None = None
    arrive_at: datetime | None = None


@dataclass(frozen=True)
class TripPlan:
    vehicle_id: str
    vehicle_name: str
    origin: str
    destination: str
    via: tuple[str, ...]
    legs: tuple[Leg, ...]
    warnings: tuple[str, ...] = ()
    route_km: float = 0.0
    """Length of the road route without detours to chargers."""
    candidates: int = 0
    """Charging sites the search considered."""
    assumptions: dict[str, Any] = field(default_factory=dict)

    @property
    def stops(self) -> tuple[ChargeStop, ...]:
        return tuple(leg.stop for leg in self.legs if leg.stop is not None)

    @property
    def km(self) -> float:
        return sum(leg.km for leg in self.legs)

    @property
    def drive_min(self) -> float:
        return sum(leg.drive_min for leg in self.legs)

    @property
    def border_wait_min(self) -> float:
        return sum(leg.border_wait_min for leg in self.legs)

    @property
    def charge_min(self) -> float:
        return sum(s.charge_min for s in self.stops)

    @property
    def overhead_min(self) -> float:
        return sum(s.overhead_min for s in self.stops)

    @property
    def busy_wait_min(self) -> float:
        return sum(s.wait_min for s in self.stops)

    @property
    def total_min(self) -> float:
        return (self.drive_min + self.border_wait_min + self.charge_min + self.overhead_min
                + self.busy_wait_min)

    @property
    def arrival_soc(self) -> float:
        return self.legs[-1].arrival_soc

    @property
    def cost(self) -> list[SessionPrice] | None:
        """Total per currency, or None while any stop's price is unknown."""
        if any(s.cost is None for s in self.stops):
            return None
        return self.priced_cost

    @property
    def priced_cost(self) -> list[SessionPrice]:
        """Totals per currency (incl. and excl. VAT) of the stops that have a price, in the order
        the currencies are first met. Amounts in different currencies are never added."""
        totals: dict[str, tuple[Decimal, Decimal | None]] = {}
        for stop in self.stops:
            if stop.cost is None:
                continue
            incl, excl = totals.get(stop.cost.currency, (Decimal(0), Decimal(0)))
            more = stop.cost.amount_excl_vat
            totals[stop.cost.currency] = (incl + stop.cost.amount,
                                          None if excl is None or more is None else excl + more)
        return [SessionPrice(incl, currency, amount_excl_vat=excl) for currency, (incl, excl) in totals.items()]

    @property
    def unpriced_stops(self) -> int:
        return sum(1 for s in self.stops if s.cost is None)


# ---- the station graph ------------------------------------------------------------------


@dataclass
class _Node:
    kind: str  # "origin", "via", "destination", "site"
    name: str
    gkm: float
    detour_km: float = 0.0
    part: int = 0
    choice: SiteChoice | None = None


@dataclass
class _Graph:
    nodes: list[_Node]
    gkm: np.ndarray
    detour: np.ndarray
    barrier: np.ndarray
    """Index of the next waypoint or the destination: no leg may skip it."""
    cross_gkm: np.ndarray
    cross_wait_cum: np.ndarray
    crossings: list[tuple[float, Any]]
    routes: list[Route]
    names: list[str]


def _label(where: Where, roads: RoadGraph) -> tuple[Any, str]:
    if isinstance(where, str):
        place: Place = roads.place(where)
        return place, place.name
    lat, lon = where
    return (float(lat), float(lon)), f"{lat:.4f}, {lon:.4f}"


def _build_graph(request: TripRequest, index: SiteIndex, adapters: Sequence[Adapter],
                 closed_on: date | None) -> _Graph:
    roads = index.roads
    points = [_label(w, roads) for w in (request.origin, *request.via, request.destination)]
    road_options = {"avoid_borders": request.avoid_borders, "closed_on": closed_on,
                    "private_car": True}
    routes = []
    for (a, name_a), (b, name_b) in zip(points, points[1:]):
        try:
            routes.append(roads.shortest_path(a, b, **road_options))
        except NoRoute:
            raise Unreachable(_no_road_message(name_a, name_b, request, closed_on)) from None
    chooser = _chooser(request)
    nodes = [_Node("origin", points[0][1], 0.0)]
    crossings: list[tuple[float, Any]] = []
    offset = 0.0
    for part, route in enumerate(routes):
        found: list[SiteOnRoute] = sites_along(index, route, request.vehicle, request.corridor_km,
                                               adapters, choose=chooser, **road_options)
        for item in found:
            nodes.append(_Node("site", item.choice.site.name, offset + item.km, item.detour_km,
                               part, item.choice))
        crossings.extend((offset + p.km, p.crossing) for p in route.border_crossings)
        offset += route.km
        last = part == len(routes) - 1
        nodes.append(_Node("destination" if last else "via", points[part + 1][1], offset,
                           part=part))
    barrier = _barriers(nodes)
    cross_gkm = np.array([k for k, _ in crossings])
    waits = np.array([c.typical_wait_min for _, c in crossings])
    return _Graph(nodes, np.array([n.gkm for n in nodes]), np.array([n.detour_km for n in nodes]),
                  barrier, cross_gkm, np.concatenate([[0.0], np.cumsum(waits)]), crossings, routes,
                  [p[1] for p in points])


def _barriers(nodes: list[_Node]) -> np.ndarray:
    """For each node, the first waypoint or destination strictly after it."""
    barrier = np.zeros(len(nodes), dtype=np.int64)
    following = len(nodes) - 1
    for i in range(len(nodes) - 1, -1, -1):
        barrier[i] = following
        if nodes[i].kind in ("via", "destination"):
            following = i
    return barrier


def _chooser(request: TripRequest) -> Callable[..., SiteChoice | None]:
    excluded = {o.casefold() for o in request.exclude_operators}

    def choose(site: ChargingSite, vehicle: Vehicle, adapters: Sequence[Adapter]):
        if site.operator.casefold() in excluded:
            return None
        choice = site_choice(site, vehicle, adapters)
        if choice is not None and choice.busy and request.busy_wait_min is None:
            return None
        return choice

    return choose


def _no_road_message(a: str, b: str, request: TripRequest, closed_on: date | None) -> str:
    limits = []
    if request.avoid_borders:
        limits.append(f"avoiding {', '.join(request.avoid_borders)}")
    if closed_on is not None:
        limits.append(f"with the seasonal closures of {closed_on.isoformat()}")
    limits.append("using only crossings open to private cars")
    return (f"no road from {a} to {b} {' and '.join(limits)}: allow another border crossing or "
            "choose another date or waypoint")


# ---- the search -------------------------------------------------------------------------


class _Search:
    """Label setting on the DAG of nodes in route order (see the module docstring)."""

    def __init__(self, request: TripRequest, graph: _Graph) -> None:
        self.r = request
        self.g = graph
        v = request.vehicle
        self.soc_per_km = v.consumption_wh_km * request.consumption_factor / 1000 / v.battery_kwh * 100
        self.grid = _grid(request.soc_step, request.max_charge_soc)
        self.prefer = {o.casefold() for o in request.prefer_operators}
        self._full: dict[tuple[float, float], float] = {}
        n = len(graph.nodes)
        self.incoming: list[list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = [[] for _ in range(n)]
        self.front: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = [
            (np.zeros(0), np.zeros(0), np.zeros(0, dtype=np.int64)) for _ in range(n)]
        self.dep_node: list[int] = []
        self.dep_label: list[int] = []
        self.dep_soc: list[float] = []

    # hours to charge from 0 to `soc` at this cap: differences give exact session times
    def full_hours(self, cap: float, soc: float) -> float:
        key = (cap, soc)
        hours = self._full.get(key)
        if hours is None:
            v = self.r.vehicle
            hours = v.curve.time_to_charge(0.0, min(soc, 100.0), v.battery_kwh, cap)
            self._full[key] = hours
        return hours

    def min_soc(self, j: int) -> float:
        return (self.r.min_destination_soc if self.g.nodes[j].kind == "destination"
                else self.r.min_arrival_soc)

    def successors(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(node ids, SoC used, hours of driving and border waits) of legs from node i."""
        g = self.g
        j = np.arange(i + 1, g.barrier[i] + 1)
        km = g.gkm[j] - g.gkm[i] + g.detour[i] + g.detour[j]
        lo = np.searchsorted(g.cross_gkm, g.gkm[i], side="left")
        hi = np.searchsorted(g.cross_gkm, g.gkm[j], side="left")
        wait_min = g.cross_wait_cum[hi] - g.cross_wait_cum[lo]
        return j, km * self.soc_per_km, km / self.r.speed_kmh + wait_min / 60

    def run(self) -> int | None:
        """Index of the best label at the destination in `self.front[-1]`, or None."""
        g = self.g
        start = self.r.start_soc
        self.front[0] = (np.zeros(1), np.array([start]), np.array([-1]))
        for i, node in enumerate(g.nodes):
            if i > 0:
                self.front[i] = _pareto(self.incoming[i])
                self.incoming[i] = []
            t, a, _ = self.front[i]
            if len(t) == 0 or node.kind == "destination":
                continue
            if node.kind == "site":
                dep_t, dep_s, dep_ids = self.departures(i)
            else:
                dep_t, dep_s = t, a
                dep_ids = self._record(i, np.arange(len(t)), a)
            self.propagate(i, dep_t, dep_s, dep_ids)
        t, a, _ = self.front[-1]
        ok = np.flatnonzero(a >= self.r.min_destination_soc - _EPS)
        return None if len(ok) == 0 else int(ok[np.argmin(t[ok])])

    def departures(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        node = self.g.nodes[i]
        assert node.choice is not None
        cap = node.choice.option.power_kw
        t, a, _ = self.front[i]
        j, used, _ = self.successors(i)
        needed = used + np.array([self.min_soc(k) for k in j])
        targets = np.unique(np.concatenate([
            self.grid, needed[needed <= self.r.max_charge_soc + _EPS]]))
        fixed = self.r.overhead_min / 60 + self._wait_hours(node) + self._penalty_hours(node)
        order = np.argsort(a)
        key = t[order] - np.array([self.full_hours(cap, s) for s in a[order]])
        best_key = np.minimum.accumulate(key)
        # a label may charge to any target above its own arrival charge
        count = np.searchsorted(a[order], targets - _EPS, side="left")
        usable = count > 0
        targets, count = targets[usable], count[usable]
        if len(targets) == 0:
            return np.zeros(0), np.zeros(0), np.zeros(0, dtype=np.int64)
        running_arg = np.maximum.accumulate(np.where(key <= best_key, np.arange(len(key)), 0))
        label_pos = running_arg[count - 1]
        dep_t = best_key[count - 1] + np.array([self.full_hours(cap, s) for s in targets]) + fixed
        keep = _pareto_mask(dep_t, targets)
        ids = self._record(i, order[label_pos[keep]], targets[keep])
        return dep_t[keep], targets[keep], ids

    def propagate(self, i: int, dep_t: np.ndarray, dep_s: np.ndarray, dep_ids: np.ndarray) -> None:
        if len(dep_t) == 0:
            return
        j, used, hours = self.successors(i)
        arrive = dep_s[:, None] - used[None, :]
        floor = np.array([self.min_soc(k) for k in j])
        ok = arrive >= floor[None, :] - _EPS
        for col in np.flatnonzero(ok.any(axis=0)):
            rows = ok[:, col]
            self.incoming[j[col]].append((dep_t[rows] + hours[col], arrive[rows, col], dep_ids[rows]))

    def _record(self, i: int, labels: np.ndarray, socs: np.ndarray) -> np.ndarray:
        first = len(self.dep_node)
        self.dep_node.extend([i] * len(labels))
        self.dep_label.extend(int(x) for x in labels)
        self.dep_soc.extend(float(x) for x in socs)
        return np.arange(first, first + len(labels))

    def _wait_hours(self, node: _Node) -> float:
        assert node.choice is not None
        return (self.r.busy_wait_min or 0.0) / 60 if node.choice.busy else 0.0

    def _penalty_hours(self, node: _Node) -> float:
        assert node.choice is not None
        if not self.prefer or node.choice.site.operator.casefold() in self.prefer:
            return 0.0
        return self.r.prefer_penalty_min / 60

    def path(self, best: int) -> list[tuple[int, float, float]]:
        """(node, arrival SoC, departure SoC) from the origin to the destination."""
        out: list[tuple[int, float, float]] = []
        node, label, departure = len(self.g.nodes) - 1, best, None
        while True:
            _, a, prev = self.front[node]
            arrival = float(a[label])
            out.append((node, arrival, arrival if departure is None else departure))
            dep = int(prev[label])
            if dep < 0:
                break
            departure = self.dep_soc[dep]
            node, label = self.dep_node[dep], self.dep_label[dep]
        out.reverse()
        return out


def _grid(step: float, top: float) -> np.ndarray:
    count = int(np.floor(top / step + _EPS))
    return np.unique(np.append(np.arange(1, count + 1) * step, top))


def _pareto_mask(t: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Labels no other label beats: less or equal time and more or equal SoC."""
    order = np.lexsort((-s, t))
    keep = np.zeros(len(t), dtype=bool)
    best = -np.inf
    for k in order:
        if s[k] > best + _EPS:
            keep[k] = True
            best = s[k]
    return keep


def _pareto(parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]]):
    if not parts:
        return np.zeros(0), np.zeros(0), np.zeros(0, dtype=np.int64)
    t = np.concatenate([p[0] for p in parts])
    a = np.concatenate([p[1] for p in parts])
    ids = np.concatenate([p[2] for p in parts])
    order = np.lexsort((-a, t))
    t, a, ids = t[order], a[order], ids[order]
    best = np.maximum.accumulate(a)
    keep = np.ones(len(t), dtype=bool)
    keep[1:] = a[1:] > best[:-1] + _EPS
    return t[keep], a[keep], ids[keep]


# ---- planning ---------------------------------------------------------------------------


def plan_trip(request: TripRequest, network: SiteIndex, *,
              adapters: Sequence[Adapter] | None = None,
              price_session: PriceSession = no_tariffs) -> TripPlan:
    """The fastest plan for the request on the network's roads and charging sites.

    `adapters` are those the driver carries when `request.use_adapters` is set (default: every
    packaged adapter). `price_session` prices each stop; it does not steer the search (the
    plan is the fastest, whatever it costs). The default knows no tariffs, so every stop says
    why it has no price and `TripPlan.cost` is None.
    Raises `TripError` for bad input, `Unreachable` when no road joins the points,
    `NoFeasiblePlan` naming the stretch without a usable charger, and `UnknownPlace` (from the
    road graph) for a place it does not know.
    """
    request.check()
    carried = (tuple(load_adapters() if adapters is None else adapters)
               if request.use_adapters else ())
    closed_on = request.on_date
    if closed_on is None and request.depart_at is not None:
        closed_on = request.depart_at.date()
    graph = _build_graph(request, network, carried, closed_on)
    search = _Search(request, graph)
    best = search.run()
    if best is None:
        raise _explain_infeasible(request, graph, search, carried)
    return _assemble(request, graph, search.path(best), price_session, closed_on)


def _assemble(request: TripRequest, graph: _Graph, path: list[tuple[int, float, float]],
              price_session: PriceSession, closed_on: date | None) -> TripPlan:
    vehicle = request.vehicle
    clock = request.depart_at
    legs = []
    for (i, _, departure), (j, arrival, leaving) in zip(path, path[1:]):
        a, b = graph.nodes[i], graph.nodes[j]
        km = b.gkm - a.gkm + a.detour_km + b.detour_km
        crossings = tuple(
            CrossingOnLeg(c.id, c.name, c.countries, c.typical_wait_min, c.hours)
            for at, c in graph.crossings if a.gkm <= at < b.gkm)
        drive = km / request.speed_kmh * 60
        border = sum(c.wait_min for c in crossings)
        depart_at = clock
        arrive_at = None if clock is None else clock + timedelta(minutes=drive + border)
        stop = None
        if b.kind == "site" and leaving > arrival + _EPS:
            stop = _stop(request, b, arrival, leaving, arrive_at, price_session)
            clock = stop.depart_at
        else:
            clock = arrive_at
        legs.append(Leg(a.name, b.name, km, drive, border, crossings, departure, arrival, stop,
                        depart_at, arrive_at))
    return TripPlan(
        vehicle_id=vehicle.id, vehicle_name=vehicle.name, origin=graph.names[0],
        destination=graph.names[-1], via=tuple(graph.names[1:-1]), legs=tuple(legs),
        warnings=_warnings(request, graph, closed_on), route_km=sum(r.km for r in graph.routes),
        candidates=sum(1 for n in graph.nodes if n.kind == "site"),
        assumptions={
            "speed_kmh": request.speed_kmh, "consumption_wh_km": vehicle.consumption_wh_km,
            "consumption_factor": request.consumption_factor, "soc_step": request.soc_step,
            "corridor_km": request.corridor_km, "overhead_min": request.overhead_min,
            "adapters": request.use_adapters, "seasonal_closures_of": closed_on,
        },
    )


def _stop(request: TripRequest, node: _Node, arrival: float, departure: float,
          arrive_at: datetime | None, price_session: PriceSession) -> ChargeStop:
    assert node.choice is not None
    vehicle, option = request.vehicle, node.choice.option
    hours = vehicle.curve.time_to_charge(arrival, min(departure, 100.0), vehicle.battery_kwh,
                                         option.power_kw)
    wait = (request.busy_wait_min or 0.0) if node.choice.busy else 0.0
    energy = (departure - arrival) / 100 * vehicle.battery_kwh
    start = None if arrive_at is None else arrive_at + timedelta(minutes=wait)
    depart_at = None if start is None else start + timedelta(minutes=request.overhead_min + hours * 60)
    site = node.choice.site
    price = price_session(site, option, energy, hours * 60, start)
    return ChargeStop(
        site_code=site.code, site_name=site.name, operator=site.operator, country=site.country,
        standard=option.standard.label, adapter=option.adapter.id if option.adapter else None,
        station_kw=option.station_kw, power_kw=option.power_kw, arrival_soc=arrival,
        departure_soc=departure, energy_kwh=energy, charge_min=hours * 60,
        overhead_min=request.overhead_min, wait_min=wait,
        availability=str(node.choice.availability),
        cost=price if isinstance(price, SessionPrice) else None, arrive_at=arrive_at,
        depart_at=depart_at, cost_note=price.reason if isinstance(price, Unpriced) else None,
    )


def _warnings(request: TripRequest, graph: _Graph, closed_on: date | None) -> tuple[str, ...]:
    notes = []
    vehicle = request.vehicle
    if vehicle.has_default_curve:
        notes.append(f"{vehicle.name} has no measured charging curve: charging times use a "
                     "generic shape and are rough")
    seen = set()
    for route in graph.routes:
        for hazard in route.hazards:
            if hazard.id not in seen:
                seen.add(hazard.id)
                when = "" if closed_on else " (no date given: check before leaving)"
                notes.append(f"seasonal: {hazard.name}{when}: {hazard.note}".rstrip(": "))
        notes.extend(route.border_notes)
    if request.use_adapters:
        notes.append("adapters are active converters of uncertain compatibility: carry a plan B")
    return tuple(notes)


# ---- why no plan ------------------------------------------------------------------------


def _explain_infeasible(request: TripRequest, graph: _Graph, search: _Search,
                        carried: Sequence[Adapter]) -> NoFeasiblePlan:
    """Find where the trip breaks: the first stretch the car cannot bridge at best charge.

    Feasibility alone is decided by carrying the most charge possible to every node (arriving
    with more never hurts); the first node past the last reachable one names the gap.
    """
    nodes = graph.nodes
    best = np.full(len(nodes), -np.inf)
    best[0] = request.start_soc
    for i, node in enumerate(nodes):
        if best[i] == -np.inf or node.kind == "destination":
            continue
        leave = max(best[i], request.max_charge_soc) if node.kind == "site" else best[i]
        j, used, _ = search.successors(i)
        arrive = leave - used
        floor = np.array([search.min_soc(k) for k in j])
        ok = arrive >= floor - _EPS
        best[j[ok]] = np.maximum(best[j[ok]], arrive[ok])
    reached = np.flatnonzero(best > -np.inf)
    last = int(reached.max())
    after = last + 1
    a, b = nodes[last], nodes[after]
    gap = b.gkm - a.gkm + a.detour_km + b.detour_km
    vehicle = request.vehicle
    usable = (request.max_charge_soc - search.min_soc(after)) / search.soc_per_km
    if last == 0 and b.kind == "site" and gap <= usable:
        reach = max(request.start_soc - search.min_soc(after), 0) / search.soc_per_km
        message = (f"with {request.start_soc:g} % at the start the {vehicle.name} reaches about "
                   f"{reach:.0f} km, and the first compatible charger on the way, "
                   f"{b.name}, is {gap:.0f} km away: start with more charge")
    else:
        what = "charger" if b.kind == "site" else b.kind
        message = (f"no compatible charger within the {gap:.0f} km between {a.name} and "
                   f"{b.name}" + ("" if what == "charger" else f" (the {what})") +
                   f": the {vehicle.name} covers about {usable:.0f} km from "
                   f"{request.max_charge_soc:g} % to {search.min_soc(after):g} %")
    hints = []
    if not request.use_adapters and any(a.car_inlet in vehicle.inlets for a in load_adapters()):
        hints.append("an adapter (use_adapters)")
    if request.max_charge_soc < 100:
        hints.append("a higher maximum charge per stop")
    if request.exclude_operators:
        hints.append("fewer excluded operators")
    if hints:
        message += "; try " + " or ".join(hints)
    return NoFeasiblePlan(message, stretch_km=gap, between=(a.name, b.name))
