"""Charging stops for a long drive: the plan that minimises total time, for one vehicle.

Total time = driving + charging + a fixed overhead per stop + border waits (+ the wait at a busy
station, + the wait for a crossing to open). The search runs on a station graph laid along the
road route:

1. The route of each part of the trip (origin, waypoints, destination) comes from the road
   graph, with the closures of the trip's date. Every charging site within `corridor_km` road
   km of the route where the vehicle can charge becomes a node at the route km where its
   detour leaves the route.
2. Every road edge of the route gets its energy from the vehicle's `EnergyModel` (speed of its
   road class, rise, temperature of the date and place); cumulated per route vertex, they give
   each leg's energy, its peak (the most spent between its ends: a pass mid-leg) and its hours.
   Legs go forward only, so the graph is a DAG.
3. Labels (time, state of charge on arrival) are set node by node in route order, keeping only
   labels no other label dominates. A node pulls every departure label before it in one
   vectorised step; an arrival must keep its minimum and never dip below `min_arrival_soc` on
   the way. At a site a label may charge to any candidate target: every `soc_step` % up to
   `max_charge_soc`, plus, for every node reachable from there, the exact charge that gets
   there with the minimum. Charging time is exact for the vehicle's piecewise-linear curve
   capped by the connector, the car and the adapter, tabulated per cap (`_HoursTable`), and
   slowed by a cold battery. A label that can no longer clear the way ahead, or that a label
   clearing it beats everywhere ahead, retires (`_Search._beaten`): no front changes.

The plan is optimal among plans whose departure charges are candidate targets; a continuous
optimum between two grid points is missed by at most one grid step per stop. Refusals and
notes are message codes (`trips.explain`). See docs/trips.md.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np

from silkcharge.domain.compat import Adapter, ChargeOption, load_adapters
from silkcharge.domain.vehicles import Vehicle
from silkcharge.trips.energy import (
    BATTERY_WARMING_C,
    REFERENCE_TEMP_C,
    EnergyModel,
    charge_rate_factor,
    cycle_factor,
    load_climate,
)
from silkcharge.trips.explain import Message, Surface, render
from silkcharge.trips.network import (
    ChargingSite,
    SiteChoice,
    SiteIndex,
    SiteOnRoute,
    site_choice,
    sites_along,
)
from silkcharge.trips.roads import CLASS_SPEED_KMH, NoRoute, Place, RoadGraph, Route
from silkcharge.trips.texts import (
    RoadText,
    crossing_hours,
    crossing_name,
    crossing_notes,
    pass_name,
    pass_notes,
    weekday_time,
)

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
_MARGIN = 1e-6
"""How much sooner (hours) and fuller (%) a label must be to make another useless for good."""
Where = str | tuple[float, float]


class TripError(ValueError):
    """The request cannot be planned as given; `explanation` says why, as a message code with
    parameters and the options that would help (see `trips.explain`); str() is the English
    wording with the API's field names."""

    def __init__(self, explanation: Message | str) -> None:
        if isinstance(explanation, str):
            explanation = Message("bad_input", {"detail": explanation})
        self.explanation = explanation
        super().__init__(render(explanation))

    def render(self, surface: Surface = "api") -> str:
        return render(self.explanation, surface)


class Unreachable(TripError):
    """No road joins two points of the trip under the requested restrictions."""


class NoFeasiblePlan(TripError):
    """Roads exist, but the vehicle cannot reach the destination with the chargers on the way."""

    def __init__(self, explanation: Message | str, *, stretch_km: float | None = None,
                 between: tuple[str, str] | None = None) -> None:
        super().__init__(explanation)
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
    max_charge_soc: float = 100.0
    """Charge at most to this level at a stop. The plan charges to what the next legs need and
    weighs the curve's taper itself; lower this only to protect the battery."""
    overhead_min: float = 5.0
    """Per stop: parking, plugging in, paying."""
    speed_kmh: float = 80.0
    """Average speed on main roads; mountain roads and passes drive at their class speeds
    (`roads.CLASS_SPEED_KMH`), never faster than this."""
    consumption_factor: float = 1.0
    """An extra multiplier on the energy model (1: none). Weather comes from the date."""
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
        if self.speed_kmh > 200:
            raise TripError(f"speed_kmh must be at most 200, got {self.speed_kmh}")
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
    """In English, worded from the crossing's opening days and hours (`hours_text`)."""
    opening_wait_min: float = 0.0
    """Extra wait because the crossing is closed at the planned arrival (needs depart_at)."""
    name_text: RoadText | None = None
    hours_text: RoadText | None = None
    notes: tuple[RoadText, ...] = ()
    """What a driver should know about it (data/roads/notes.json), translatable."""


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
    wait_basis: str = "none"
    """Where `wait_min` comes from: "live" (all plugs busy now), "history" (the site's own
    occupancy at the arrival hour) or "none"."""
    roaming: str | None = None
    """At a roaming partner's site: the partner's name (the driver starts it through us)."""

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
    energy_kwh: float = 0.0
    """Battery energy the leg takes (regeneration counted)."""
    climb_m: float = 0.0
    descent_m: float = 0.0
    lowest_soc: float = 0.0
    """The least charge anywhere on the leg (at a pass, it can be below the arrival charge)."""
    temp_c: float | None = None
    """Mean normal temperature on the leg for the trip's date; None without a date."""
    profile: tuple[tuple[float, float | None, float], ...] = ()
    """(km from the leg's start, elevation m or None where unknown, SoC %) along the leg."""


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
    notes: tuple[Message, ...] = ()
    """The warnings as message codes with parameters (same order as `warnings`)."""

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
    def energy_kwh(self) -> float:
        return sum(leg.energy_kwh for leg in self.legs)

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
    local_km: float = 0.0
    """Km from the start of its part's route (for a waypoint: the end of the route it closes)."""


@dataclass
class _Profile:
    """One part's route with what the vehicle spends along it, cumulated per route vertex."""

    cum_km: np.ndarray
    cum_kwh: np.ndarray
    cum_hours: np.ndarray
    elev: np.ndarray
    edge_temp: np.ndarray
    """Temperature per edge (°C); the reference where the trip has no date."""


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
    profiles: list[_Profile]
    gkwh: np.ndarray
    """Energy spent from the origin to each node's point on the route (kWh)."""
    ghours: np.ndarray
    """Driving hours from the origin to each node's point on the route."""
    peak_next: np.ndarray
    """Most energy spent (cumulated from the origin) between a node and the next one."""
    detour_kwh: np.ndarray
    detour_hours: np.ndarray
    charge_factor: np.ndarray
    """Share of the warm charging power at each node (cold batteries charge slower)."""
    temp: np.ndarray
    """Temperature at each node (°C), the reference without a date."""
    model: EnergyModel
    day: date | None


def _label(where: Where, roads: RoadGraph) -> tuple[Any, str]:
    if isinstance(where, str):
        place: Place = roads.place(where)
        return place, place.name
    lat, lon = where
    return (float(lat), float(lon)), f"{lat:.4f}, {lon:.4f}"


def _speeds(request: TripRequest) -> np.ndarray:
    """km/h per road class (index of `roads.ROAD_CLASSES`)."""
    main = request.speed_kmh
    return np.array([main, min(CLASS_SPEED_KMH["mountain"], main), min(CLASS_SPEED_KMH["pass"], main)])


def _profile(roads: RoadGraph, route: Route, model: EnergyModel, speeds: np.ndarray,
             day: date | None) -> _Profile:
    nodes = np.asarray(route.nodes, dtype=np.int64)
    edges = np.asarray(route.edges, dtype=np.int64)
    cum_km = np.asarray(route.cumulative_km, dtype=float)
    elev = roads.elev[nodes]
    if len(edges) == 0:
        return _Profile(cum_km, np.zeros(1), np.zeros(1), elev, np.full(0, REFERENCE_TEMP_C))
    u, v = nodes[:-1], nodes[1:]
    rise = np.where(roads.edge_a[edges] == u, roads.edge_rise[edges], -roads.edge_rise[edges])
    speed = speeds[roads.edge_class[edges]]
    mid_elev = (elev[:-1] + elev[1:]) / 2
    if day is None:
        temp = np.full(len(edges), REFERENCE_TEMP_C)
    else:
        temp = load_climate().temperature((roads.lat[u] + roads.lat[v]) / 2,
                                          (roads.lon[u] + roads.lon[v]) / 2, mid_elev, day)
    km = roads.km[edges]
    kwh = model.edge_kwh(km, speed, rise, temp, mid_elev)
    return _Profile(cum_km, np.concatenate([[0.0], np.cumsum(kwh)]),
                    np.concatenate([[0.0], np.cumsum(km / speed)]), elev, temp)


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
            raise Unreachable(_why_no_road(roads, a, b, name_a, name_b, request,
                                           closed_on)) from None
    model = EnergyModel.for_vehicle(request.vehicle, extra_factor=request.consumption_factor)
    speeds = _speeds(request)
    profiles = [_profile(roads, route, model, speeds, closed_on) for route in routes]
    chooser = _chooser(request)
    nodes = [_Node("origin", points[0][1], 0.0)]
    crossings: list[tuple[float, Any]] = []
    offset = 0.0
    for part, route in enumerate(routes):
        found: list[SiteOnRoute] = sites_along(index, route, request.vehicle, request.corridor_km,
                                               adapters, choose=chooser, **road_options)
        for item in found:
            nodes.append(_Node("site", item.choice.site.name, offset + item.km, item.detour_km,
                               part, item.choice, item.km))
        crossings.extend((offset + p.km, p.crossing) for p in route.border_crossings)
        offset += route.km
        last = part == len(routes) - 1
        nodes.append(_Node("destination" if last else "via", points[part + 1][1], offset,
                           part=part, local_km=route.km))
    barrier = _barriers(nodes)
    cross_gkm = np.array([k for k, _ in crossings])
    waits = np.array([c.typical_wait_min for _, c in crossings])
    energy = _node_energy(nodes, profiles, model, speeds[0], closed_on)
    return _Graph(nodes, np.array([n.gkm for n in nodes]), np.array([n.detour_km for n in nodes]),
                  barrier, cross_gkm, np.concatenate([[0.0], np.cumsum(waits)]), crossings, routes,
                  [p[1] for p in points], profiles, *energy, model, closed_on)


def _node_energy(nodes: list[_Node], profiles: list[_Profile], model: EnergyModel,
                 main_speed: float, day: date | None):
    """Per node: cumulated kWh and hours, the peak kWh before the next node, the one-way
    detour's kWh and hours, the charging-power factor and the temperature."""
    n = len(nodes)
    kwh_offset = np.concatenate([[0.0], np.cumsum([p.cum_kwh[-1] for p in profiles])])
    hour_offset = np.concatenate([[0.0], np.cumsum([p.cum_hours[-1] for p in profiles])])
    gkwh, ghours, temp = np.zeros(n), np.zeros(n), np.full(n, REFERENCE_TEMP_C)
    if len(profiles[0].edge_temp):
        temp[0] = profiles[0].edge_temp[0]
    part_of = np.array([node.part for node in nodes])
    local_km = np.array([node.local_km for node in nodes])
    for part, prof in enumerate(profiles):  # every node but the origin, one part at a time
        on = (part_of == part).nonzero()[0]
        on = on[on > 0]
        x = local_km[on]
        gkwh[on] = kwh_offset[part] + np.interp(x, prof.cum_km, prof.cum_kwh)
        ghours[on] = hour_offset[part] + np.interp(x, prof.cum_km, prof.cum_hours)
        if len(prof.edge_temp):
            at = np.minimum(prof.cum_km.searchsorted(x, side="right") - 1,
                            len(prof.edge_temp) - 1)
            temp[on] = prof.edge_temp[np.maximum(at, 0)]
    peak = np.maximum(gkwh, np.roll(gkwh, -1))
    for k in range(n - 1):
        a, b = nodes[k], nodes[k + 1]
        part = a.part + 1 if a.kind == "via" else a.part
        start = 0.0 if a.kind in ("origin", "via") else a.local_km
        if b.part != part:
            continue
        prof = profiles[part]
        lo = int(np.searchsorted(prof.cum_km, start, side="right"))
        hi = int(np.searchsorted(prof.cum_km, b.local_km, side="left"))
        if hi > lo:
            peak[k] = max(peak[k], kwh_offset[part] + float(prof.cum_kwh[lo:hi].max()))
    detour = np.array([nd.detour_km for nd in nodes])
    detour_kwh = model.edge_kwh(detour, main_speed, 0.0, temp) * (detour > 0)
    detour_hours = detour / main_speed
    factor = (charge_rate_factor(temp + BATTERY_WARMING_C) if day is not None
              else np.ones(n))  # no date: a warm battery
    return gkwh, ghours, peak, detour_kwh, detour_hours, factor, temp


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


def _why_no_road(roads: RoadGraph, a: Any, b: Any, name_a: str, name_b: str,
                 request: TripRequest, closed_on: date | None) -> Message:
    """The real blocker: a crossing closed to private cars, a closure on the date, an avoided
    border, or no road at all. Each is tested by lifting that one restriction."""
    where = {"from": name_a, "to": name_b}
    if request.avoid_borders:
        try:
            roads.shortest_path(a, b, closed_on=closed_on)
        except NoRoute:
            pass
        else:
            return Message("borders_avoided", {**where, "avoided": list(request.avoid_borders)},
                           ("allow_borders",))
    options = {"avoid_borders": request.avoid_borders, "closed_on": closed_on}
    try:
        route = roads.shortest_path(a, b, private_car=False, **options)
    except NoRoute:
        pass
    else:
        closed = [crossing_name(p.crossing) for p in route.border_crossings
                  if not p.crossing.open_to_private_cars]
        if closed:
            return Message("crossing_closed_to_private_cars", {**where, "crossings": closed},
                           ("other_vehicle_or_route",))
    if closed_on is not None:
        try:
            route = roads.shortest_path(a, b, avoid_borders=request.avoid_borders,
                                        private_car=False)
        except NoRoute:
            pass
        else:
            closures = [crossing_name(p.crossing) for p in route.border_crossings
                        if p.crossing.closed_on(closed_on)]
            closures += [pass_name(h) for h in route.hazards if h.closed_on(closed_on)]
            private = [crossing_name(p.crossing) for p in route.border_crossings
                       if not p.crossing.open_to_private_cars]
            if private:
                return Message("crossing_closed_to_private_cars", {**where, "crossings": private},
                               ("other_vehicle_or_route",))
            return Message("closed_on_date", {**where, "date": closed_on.isoformat(),
                                              "closures": closures or [RoadText("closure.seasonal")]},
                           ("other_date",))
    return Message("no_road", where, ("other_vehicle_or_route",))


# ---- the search -------------------------------------------------------------------------


class _Search:
    """Label setting on the DAG of nodes in route order (see the module docstring)."""

    def __init__(self, request: TripRequest, graph: _Graph) -> None:
        self.r = request
        self.g = graph
        v = request.vehicle
        self.soc_per_kwh = 100.0 / v.battery_kwh
        self.grid = _grid(request.soc_step, request.max_charge_soc)
        self.prefer = {o.casefold() for o in request.prefer_operators}
        self.hours_table = _HoursTable(v.curve, v.battery_kwh)
        n = len(graph.nodes)
        self.floor = np.array([request.min_destination_soc if node.kind == "destination"
                               else request.min_arrival_soc for node in graph.nodes])
        self.front: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = [
            (np.zeros(0), np.zeros(0), np.zeros(0, dtype=np.int64)) for _ in range(n)]
        # departure labels of every node so far, in node order (so a node's predecessors'
        # labels are one contiguous slice): node, time, SoC, and the arrival label it left from
        self._dep = _Labels()
        self._live = np.zeros(0, dtype=np.int64)
        """Ids of the departure labels that may still be of use to a later node, ascending."""
        self._live_tau = np.zeros(0)
        self._live_sigma = np.zeros(0)
        """Each live label's time and charge moved back to the origin (see `_add_live`)."""
        self.first_dep = np.zeros(n + 1, dtype=np.int64)
        """Index of each node's first departure label."""
        self.segment = np.zeros(n, dtype=np.int64)
        """For each node, the waypoint (or origin) its legs may start from at the earliest."""
        start = 0
        for k, node in enumerate(graph.nodes):
            self.segment[k] = start
            if node.kind == "via":
                start = k
        self.cross_lo = np.searchsorted(graph.cross_gkm, graph.gkm, side="left")
        self._tau_at = -graph.ghours + graph.detour_hours - graph.cross_wait_cum[self.cross_lo] / 60
        self._sigma_at = (graph.gkwh - graph.detour_kwh) * self.soc_per_kwh
        self._targets, self._target_hours, self._target_at = self._charge_targets()

    def _charge_targets(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every site's candidate targets and the hours to charge to each from 0 %, for all
        sites in one vectorised step (they depend on the graph only, not on the labels).

        Site i's targets are `targets[at[i]:at[i + 1]]`, sorted: the grid plus, for every node
        j a leg from i reaches, the charge that arrives at j with its minimum and clears the
        leg's highest point (the same values `successors` gives, row by row)."""
        g = self.g
        n = len(g.nodes)
        rows = np.array([k for k, node in enumerate(g.nodes) if node.kind == "site"],
                        dtype=np.int64)
        at = np.zeros(n + 1, dtype=np.int64)
        if len(rows) == 0:
            return np.zeros(0), np.zeros(0), at
        i, j = rows[:, None], np.arange(n)[None, :]
        ahead = (j > i) & (j <= g.barrier[rows][:, None])
        used = g.gkwh[j] - g.gkwh[i] + g.detour_kwh[i] + g.detour_kwh[j]
        # highest cumulated energy between i and j: the running maximum of peak_next from i
        climb = np.maximum.accumulate(np.where(j >= i, g.peak_next[j], -np.inf), axis=1)
        climb = np.concatenate([np.full((len(rows), 1), -np.inf), climb[:, :-1]], axis=1)
        peak = np.maximum(climb - g.gkwh[i] + g.detour_kwh[i], used)
        needed = np.maximum(used * self.soc_per_kwh + self.floor[j],
                            peak * self.soc_per_kwh + self.r.min_arrival_soc)
        needed = np.where(ahead & (needed <= self.r.max_charge_soc + _EPS), needed, np.inf)
        every = np.concatenate([np.broadcast_to(self.grid, (len(rows), len(self.grid))), needed],
                               axis=1)
        every.sort(axis=1)
        first = np.isfinite(every)
        first[:, 1:] &= every[:, 1:] != every[:, :-1]
        targets = every[first]
        counts = first.sum(axis=1)
        at[rows + 1] = counts
        at = np.cumsum(at)
        # nodes that are not sites get an empty range: at[k + 1] == at[k]
        row_of = np.repeat(rows, counts)
        caps = np.array([g.nodes[k].choice.option.power_kw for k in rows])[
            np.repeat(np.arange(len(rows)), counts)]
        hours = np.zeros(len(targets))
        for cap in np.unique(caps):
            pick = caps == cap
            hours[pick] = (self.hours_table.hours(float(cap), targets[pick])
                           / g.charge_factor[row_of[pick]])
        return targets, hours, at

    @property
    def dep_node(self) -> np.ndarray:
        return self._dep.node[:self._dep.size]

    @property
    def dep_label(self) -> np.ndarray:
        return self._dep.label[:self._dep.size]

    @property
    def dep_soc(self) -> np.ndarray:
        return self._dep.soc[:self._dep.size]

    def full_hours(self, i: int, socs: np.ndarray) -> np.ndarray:
        """Hours to charge from 0 to each SoC at node i (its cap and its cold-battery factor):
        differences give exact session times."""
        node = self.g.nodes[i]
        assert node.choice is not None
        return self.hours_table.hours(node.choice.option.power_kw, socs) / self.g.charge_factor[i]

    def min_soc(self, j: int) -> float:
        return float(self.floor[j])

    def successors(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(node ids, SoC used, most SoC used on the way, hours of driving and border waits)
        of the legs from node i."""
        g = self.g
        j = np.arange(i + 1, g.barrier[i] + 1)
        used = g.gkwh[j] - g.gkwh[i] + g.detour_kwh[i] + g.detour_kwh[j]
        peak = np.maximum.accumulate(g.peak_next[i:g.barrier[i]]) - g.gkwh[i] + g.detour_kwh[i]
        peak = np.maximum(peak, used)
        lo = np.searchsorted(g.cross_gkm, g.gkm[i], side="left")
        hi = np.searchsorted(g.cross_gkm, g.gkm[j], side="left")
        wait_min = g.cross_wait_cum[hi] - g.cross_wait_cum[lo]
        hours = g.ghours[j] - g.ghours[i] + g.detour_hours[i] + g.detour_hours[j] + wait_min / 60
        return j, used * self.soc_per_kwh, peak * self.soc_per_kwh, hours

    def run(self) -> int | None:
        """Index of the best label at the destination in `self.front[-1]`, or None.

        Nodes are settled in route order. A node pulls every departure label of the nodes
        before it in its segment and keeps the arrivals no other arrival dominates; all legs
        into a node are evaluated in one vectorised step."""
        g = self.g
        self.front[0] = (np.zeros(1), np.array([self.r.start_soc]), np.array([-1]))
        with np.errstate(divide="ignore", invalid="ignore"):  # see _HoursTable.hours_unchecked
            for i, node in enumerate(g.nodes):
                if i > 0:
                    self.front[i] = self.arrivals(i)
                self.first_dep[i] = self._dep.size
                t, a, _ = self.front[i]
                if len(t) == 0 or node.kind == "destination":
                    continue
                if node.kind == "site":
                    dep_t, dep_s, labels = self.departures(i)
                else:
                    dep_t, dep_s, labels = t, a, np.arange(len(t))
                self._add_live(i, dep_t, dep_s, labels)
        self.first_dep[len(g.nodes)] = self._dep.size
        t, a, _ = self.front[-1]
        ok = np.flatnonzero(a >= self.r.min_destination_soc - _EPS)
        return None if len(ok) == 0 else int(ok[np.argmin(t[ok])])

    def arrivals(self, j: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Pareto arrivals at node j from every live departure label of its segment.

        A label whose charge cannot clear the highest point between its node and j (the
        running maximum of `peak_next`, which only grows with j) cannot clear it for any later
        node either: it is dropped from `_live` for good, and so is every label before the
        first node a full battery could get here from, and every label a clearing one beats
        everywhere ahead (`_beaten`). Later nodes scan only what is left."""
        g = self.g
        start = int(self.segment[j])
        reach = np.maximum.accumulate(g.peak_next[start:j][::-1])[::-1]
        # only nodes from which a full battery can get here hold useful labels
        near = ((reach - g.gkwh[start:j]) * self.soc_per_kwh
                <= 100.0 - self.r.min_arrival_soc + _EPS).nonzero()[0]
        if len(near) == 0:
            return np.zeros(0), np.zeros(0), np.zeros(0, dtype=np.int64)
        self._drop_live(slice(int(self._live.searchsorted(self.first_dep[start + near[0]])), None))
        live = self._live
        if len(live) == 0:
            return np.zeros(0), np.zeros(0), np.zeros(0, dtype=np.int64)
        dn = self._dep.node[live]
        ds = self._dep.soc[live]
        climb = (reach[dn - start] - g.gkwh[dn] + g.detour_kwh[dn]) * self.soc_per_kwh
        clears = ds - climb >= self.r.min_arrival_soc - _EPS
        keep = clears & ~self._beaten(clears & (ds <= 100.0))
        if not keep.all():
            self._drop_live(keep)
            live, dn, ds, climb = self._live, dn[keep], ds[keep], climb[keep]
        used = (g.gkwh[j] - g.gkwh[dn] + g.detour_kwh[dn] + g.detour_kwh[j]) * self.soc_per_kwh
        peak = np.maximum(climb, used)
        arrive = np.minimum(ds - used, 100.0)
        ok = (arrive >= self.floor[j] - _EPS) & (ds - peak >= self.r.min_arrival_soc - _EPS)
        if not ok.any():
            return np.zeros(0), np.zeros(0), np.zeros(0, dtype=np.int64)
        rows = ok.nonzero()[0]
        dn = dn[rows]
        ids = live[rows]
        wait_min = (g.cross_wait_cum[self.cross_lo[j]] - g.cross_wait_cum[self.cross_lo[dn]])
        hours = (g.ghours[j] - g.ghours[dn] + g.detour_hours[dn] + g.detour_hours[j]
                 + wait_min / 60)
        return _pareto(self._dep.time[ids] + hours, arrive[rows], ids)

    def _add_live(self, i: int, times: np.ndarray, socs: np.ndarray, labels: np.ndarray) -> None:
        """Store node i's departure labels and make them live.

        Moved back to the origin, a label leaving node n at time t with charge s is
        tau = t - (driving hours and border waits from the origin to n, detours included) and
        sigma = s + (energy spent from the origin to n, detour excluded) in %: it arrives at
        any later node k at tau + (the same hours to k) with sigma - (the same energy to k).
        Comparing tau and sigma compares two labels at every node ahead at once (`_beaten`)."""
        ids = self._dep.add(i, times, socs, labels)
        tau = times + self._tau_at[i]
        sigma = socs + self._sigma_at[i]
        self._live = np.concatenate([self._live, ids])
        self._live_tau = np.concatenate([self._live_tau, tau])
        self._live_sigma = np.concatenate([self._live_sigma, sigma])

    def _beaten(self, lead: np.ndarray) -> np.ndarray:
        """Which live labels one of the `lead` labels beats by `_MARGIN` in tau and sigma.

        A lead label has cleared the highest point between its node and the node j being
        settled; what lies beyond j is ahead of every live label alike. So wherever a beaten
        label could still arrive (at j or later), the lead label arrives too, sooner and with
        more charge, and the beaten one can never be on a front again: dropping it changes no
        front. The margin is far above the rounding of tau and sigma, so this holds for the
        computed values, not only for exact ones. (A lead label holds at most 100 %, so the
        full-battery bound of `arrivals` that keeps a beaten label in range keeps it too.)"""
        sigma, tau = self._live_sigma[lead], self._live_tau[lead]
        order = sigma.argsort()
        soonest = np.concatenate((np.minimum.accumulate(tau[order][::-1])[::-1], [np.inf]))
        at = sigma[order].searchsorted(self._live_sigma + _MARGIN, side="left")
        return soonest[at] <= self._live_tau - _MARGIN

    def _drop_live(self, keep: slice | np.ndarray) -> None:
        self._live = self._live[keep]
        self._live_tau = self._live_tau[keep]
        self._live_sigma = self._live_sigma[keep]

    def departures(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(time, SoC, arrival label) of the useful departures after charging at site i."""
        node = self.g.nodes[i]
        assert node.choice is not None
        t, a, _ = self.front[i]
        targets = self._targets[self._target_at[i]:self._target_at[i + 1]]
        target_hours = self._target_hours[self._target_at[i]:self._target_at[i + 1]]
        fixed = self.r.overhead_min / 60 + self._penalty_hours(node)
        order = a.argsort()
        t_in, a_in = t[order], a[order]
        key = (t_in + self.wait_hours(i, t_in)[0]
               - self.hours_table.hours_unchecked(node.choice.option.power_kw, a_in)
               / self.g.charge_factor[i])
        best_key = np.minimum.accumulate(key)
        # a label may charge to any target above its own arrival charge
        count = a_in.searchsorted(targets - _EPS, side="left")
        usable = count > 0
        targets, count, target_hours = targets[usable], count[usable], target_hours[usable]
        if len(targets) == 0:
            return np.zeros(0), np.zeros(0), np.zeros(0, dtype=np.int64)
        running_arg = np.maximum.accumulate(np.where(key <= best_key, np.arange(len(key)), 0))
        label_pos = running_arg[count - 1]
        dep_t = best_key[count - 1] + target_hours + fixed
        keep = _pareto_mask(dep_t, targets)
        return dep_t[keep], targets[keep], order[label_pos[keep]]

    def wait_hours(self, i: int, t: np.ndarray) -> tuple[np.ndarray, str]:
        """Expected wait (hours) at site i for arrivals `t` hours after departure, and its basis.

        Live state ("live": all compatible plugs busy now) holds for arrivals within the first
        hour. Later, or when the site is not busy now, the site's own occupancy at the arrival's
        UTC hour predicts it ("history"): with a share p of its EVSEs in use and n compatible
        plugs, all are taken with probability p^n, and then the wait is `busy_wait_min`. Needs
        `depart_at` to know the hour; without history or a clock only the live state counts.
        """
        node = self.g.nodes[i]
        assert node.choice is not None
        full = (self.r.busy_wait_min if self.r.busy_wait_min is not None else 20.0) / 60
        live = full if node.choice.busy else 0.0
        history = node.choice.site.occupancy_by_hour
        start = self.r.depart_at
        if not history or start is None:
            return np.full(len(t), live), "live" if live else "none"
        hour = ((start.hour + start.minute / 60 + np.asarray(t)) // 1 % 24).astype(np.int64)
        plugs = sum(1 for c in node.choice.site.connectors
                    if c.standard is node.choice.option.standard) or 1
        predicted = np.asarray(history)[hour] ** plugs * full
        soon = np.asarray(t) < 1.0
        waits = np.where(soon, np.maximum(live, predicted), predicted)
        basis = "live" if live and bool(soon.all()) else "history"
        return waits, basis

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
            departure = float(self._dep.soc[dep])
            node, label = int(self._dep.node[dep]), int(self._dep.label[dep])
        out.reverse()
        return out


class _Labels:
    """Growing arrays of departure labels (amortised appends, no Python lists)."""

    def __init__(self, capacity: int = 1024) -> None:
        self.size = 0
        self.node = np.zeros(capacity, dtype=np.int64)
        self.time = np.zeros(capacity)
        self.soc = np.zeros(capacity)
        self.label = np.zeros(capacity, dtype=np.int64)

    def add(self, node: int, times: np.ndarray, socs: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """Append labels of one node; returns their ids."""
        end = self.size + len(times)
        if end > len(self.node):
            grow = max(end, 2 * len(self.node))
            for name in ("node", "time", "soc", "label"):
                old = getattr(self, name)
                new = np.zeros(grow, dtype=old.dtype)
                new[:self.size] = old[:self.size]
                setattr(self, name, new)
        self.node[self.size:end] = node
        self.time[self.size:end] = times
        self.soc[self.size:end] = socs
        self.label[self.size:end] = labels
        ids = np.arange(self.size, end)
        self.size = end
        return ids


class _HoursTable:
    """Hours to charge from 0 % to any SoC, per power cap, for one vehicle: exact and vectorised.

    For a cap, the power min(curve, cap) is piecewise linear; the hours to each breakpoint are
    tabulated once (with `ChargingCurve.time_to_charge`), and a query adds the closed-form
    integral of the linear piece from its breakpoint, for a whole array of SoCs at once. This
    keeps `time_to_charge`'s pure-Python loop out of the label search.
    """

    def __init__(self, curve: Any, battery_kwh: float) -> None:
        self.curve = curve
        self.battery = battery_kwh
        self._by_cap: dict[float, tuple[np.ndarray, ...]] = {}

    def _table(self, cap: float) -> tuple[np.ndarray, ...]:
        table = self._by_cap.get(cap)
        if table is None:
            cuts = {0.0, 100.0, *(s for s, _ in self.curve.points if 0 < s < 100)}
            pts = self.curve.points
            for (s0, p0), (s1, p1) in zip(pts, pts[1:]):
                if (p0 - cap) * (p1 - cap) < 0:
                    cuts.add(s0 + (cap - p0) * (s1 - s0) / (p1 - p0))
            soc = np.array(sorted(cuts))
            power = np.minimum([self.curve.power_at(s) for s in soc], cap)
            hours = np.concatenate([[0.0], np.cumsum([
                self.curve.time_to_charge(a, b, self.battery, cap) for a, b in zip(soc, soc[1:])])])
            span = soc[1:] - soc[:-1]
            table = (soc, power, hours, (power[1:] - power[:-1]) / span)
            self._by_cap[cap] = table
        return table

    def hours(self, cap: float, socs: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.hours_unchecked(cap, socs)

    def hours_unchecked(self, cap: float, socs: np.ndarray) -> np.ndarray:
        """`hours` for a caller that already ignores numpy's divide and invalid warnings (a
        zero power at a breakpoint); the label search holds that state for its whole run."""
        soc, power, hours, slopes = self._table(cap)
        s = np.minimum(np.maximum(np.asarray(socs, dtype=float), 0.0), 100.0)
        k = np.minimum(np.maximum(soc.searchsorted(s, side="right") - 1, 0), len(soc) - 2)
        width = s - soc[k]
        p0 = power[k]
        slope = slopes[k]
        rise = slope * width
        flat = np.abs(rise) < 1e-12 * p0
        piece = np.where(flat, width / p0, np.log((p0 + rise) / p0) / np.where(flat, 1.0, slope))
        return hours[k] + piece * self.battery / 100.0


def _grid(step: float, top: float) -> np.ndarray:
    count = int(np.floor(top / step + _EPS))
    return np.unique(np.append(np.arange(1, count + 1) * step, top))


def _pareto_mask(t: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Labels no other label beats: less or equal time and more or equal SoC."""
    order = np.lexsort((-s, t))
    s_sorted = s[order]
    best = np.maximum.accumulate(s_sorted)
    keep_sorted = np.ones(len(t), dtype=bool)
    keep_sorted[1:] = s_sorted[1:] > best[:-1] + _EPS
    keep = np.zeros(len(t), dtype=bool)
    keep[order[keep_sorted]] = True
    return keep


def _pareto(t: np.ndarray, a: np.ndarray, ids: np.ndarray):
    """Labels (time, SoC, id) no other label dominates, sorted by time. (Of labels with equal
    time, a lower-SoC one met first may survive: harmless, it only costs a little work.)"""
    order = t.argsort(kind="stable")
    t, a, ids = t[order], a[order], ids[order]
    best = np.maximum.accumulate(a)
    keep = np.concatenate(([True], a[1:] > best[:-1] + _EPS))
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
    road graph) for a place it does not know. Each `TripError` carries a message code.
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
    if best is not None:
        return _assemble(request, graph, search, search.path(best), price_session, closed_on)
    refusal = _explain_infeasible(request, graph, search, carried)
    # The shortest road has a gap: compare the routes through the other border crossings,
    # which may have the chargers it lacks; the fastest feasible one wins.
    plans = []
    for crossing in dict.fromkeys(c.id for _, c in graph.crossings):
        other = replace(request, avoid_borders=(*request.avoid_borders, crossing))
        try:
            alt_graph = _build_graph(other, network, carried, closed_on)
        except TripError:
            continue
        alt_search = _Search(other, alt_graph)
        alt_best = alt_search.run()
        if alt_best is None:
            continue
        plan = _assemble(other, alt_graph, alt_search, alt_search.path(alt_best),
                         price_session, closed_on)
        avoided = next(crossing_name(c) for _, c in graph.crossings if c.id == crossing)
        note = Message("route_for_chargers", {
            "km": round(plan.route_km), "shortest_km": round(sum(r.km for r in graph.routes)),
            "avoided": avoided})
        plans.append(replace(plan, notes=(note, *plan.notes),
                             warnings=(render(note), *plan.warnings)))
    if not plans:
        raise refusal
    return min(plans, key=lambda p: p.total_min)


def _leg_profile(graph: _Graph, a: _Node, b: _Node, departure: float, soc_per_kwh: float):
    """(km from the leg's start, elevation or None, SoC) at the route vertices of the leg, and
    the leg's climb, descent, lowest SoC and mean temperature."""
    part = a.part + 1 if a.kind == "via" else a.part
    prof = graph.profiles[part]
    start = 0.0 if a.kind in ("origin", "via") else a.local_km
    inside = (prof.cum_km > start) & (prof.cum_km < b.local_km)
    km = np.concatenate([[start], prof.cum_km[inside], [b.local_km]])
    kwh = np.interp(km, prof.cum_km, prof.cum_kwh)
    known = np.isfinite(prof.elev)
    elev = (np.interp(km, prof.cum_km[known], prof.elev[known]) if known.sum() >= 2
            else np.full(len(km), np.nan))
    # where the graph has no heights (graphs built without them) the height is unknown, not
    # the nearest known value
    if known.sum() >= 2:
        lo, hi = prof.cum_km[known].min(), prof.cum_km[known].max()
        elev = np.where((km >= lo - _EPS) & (km <= hi + _EPS), elev, np.nan)
    detour_a = graph.detour_kwh[graph.nodes.index(a)] if a.kind == "site" else 0.0
    soc = departure - (kwh - kwh[0] + detour_a) * soc_per_kwh
    rise = np.diff(elev)
    rise = rise[np.isfinite(rise)]
    if len(prof.edge_temp):
        edge_of = np.clip(np.searchsorted(prof.cum_km, (km[:-1] + km[1:]) / 2, side="right") - 1,
                          0, len(prof.edge_temp) - 1)
        span = np.diff(km)
        temp = float(np.average(prof.edge_temp[edge_of], weights=span)) if span.sum() > 0 else None
    else:
        temp = None
    points = tuple((float(k - start + a.detour_km), None if not np.isfinite(e) else float(e),
                    float(s)) for k, e, s in zip(km, elev, soc))
    return (points, float(rise[rise > 0].sum()) + 0.0, float(-rise[rise < 0].sum()) + 0.0,
            float(soc.min()), temp)


def _assemble(request: TripRequest, graph: _Graph, search: _Search,
              path: list[tuple[int, float, float]], price_session: PriceSession,
              closed_on: date | None) -> TripPlan:
    vehicle = request.vehicle
    clock = request.depart_at
    legs = []
    notes: list[Message] = []
    for (i, _, departure), (j, arrival, leaving) in zip(path, path[1:]):
        a, b = graph.nodes[i], graph.nodes[j]
        km = b.gkm - a.gkm + a.detour_km + b.detour_km
        drive_h = graph.ghours[j] - graph.ghours[i] + graph.detour_hours[i] + graph.detour_hours[j]
        energy = graph.gkwh[j] - graph.gkwh[i] + graph.detour_kwh[i] + graph.detour_kwh[j]
        crossings = []
        border = 0.0
        for at, c in graph.crossings:
            if not a.gkm <= at < b.gkm:
                continue
            extra = 0.0
            if clock is not None and not c.always_open:
                fraction = (at - a.gkm) / max(b.gkm - a.gkm, _EPS)
                reach = clock + timedelta(hours=drive_h * fraction, minutes=border)
                opens = c.next_open(reach)
                extra = (opens - reach).total_seconds() / 60
                if extra > 0:
                    from zoneinfo import ZoneInfo
                    zone = ZoneInfo(c.timezone)
                    notes.append(Message("crossing_waits_for_opening", {
                        "crossing": crossing_name(c), "wait_min": round(extra),
                        "arrive_local": weekday_time(reach.astimezone(zone)),
                        "opens_local": weekday_time(opens.astimezone(zone))}))
            hours = crossing_hours(c)
            crossings.append(CrossingOnLeg(c.id, c.name, c.countries, c.typical_wait_min,
                                           str(hours), extra, crossing_name(c), hours,
                                           tuple(crossing_notes(c))))
            border += c.typical_wait_min + extra
        drive = drive_h * 60
        depart_at = clock
        arrive_at = None if clock is None else clock + timedelta(minutes=drive + border)
        stop = None
        if b.kind == "site" and leaving > arrival + _EPS:
            stop = _stop(request, graph, search, j, arrival, leaving, arrive_at, price_session)
            clock = stop.depart_at
        else:
            clock = arrive_at
        profile, climb, descent, lowest, temp = _leg_profile(graph, a, b, departure,
                                                             search.soc_per_kwh)
        legs.append(Leg(a.name, b.name, km, drive, border, tuple(crossings), departure, arrival,
                        stop, depart_at, arrive_at, energy_kwh=float(energy), climb_m=climb,
                        descent_m=descent, lowest_soc=lowest, temp_c=temp, profile=profile))
    notes = _notes(request, graph, closed_on, legs) + notes
    return TripPlan(
        vehicle_id=vehicle.id, vehicle_name=vehicle.name, origin=graph.names[0],
        destination=graph.names[-1], via=tuple(graph.names[1:-1]), legs=tuple(legs),
        warnings=tuple(render(n) for n in notes), route_km=sum(r.km for r in graph.routes),
        candidates=sum(1 for n in graph.nodes if n.kind == "site"),
        assumptions={
            "speed_kmh": request.speed_kmh,
            "speed_by_road_class_kmh": dict(zip(("main", "mountain", "pass"),
                                                _speeds(request).tolist())),
            "consumption_wh_km": vehicle.consumption_wh_km,
            "consumption_basis": vehicle.consumption_basis,
            "cycle_factor": cycle_factor(vehicle.consumption_basis),
            "real_world_wh_km": round(graph.model.real_wh_km, 1),
            "consumption_factor": request.consumption_factor, "soc_step": request.soc_step,
            "corridor_km": request.corridor_km, "overhead_min": request.overhead_min,
            "adapters": request.use_adapters, "seasonal_closures_of": closed_on,
            "weather_of": closed_on, "max_charge_soc": request.max_charge_soc,
        },
        notes=tuple(notes),
    )


def _stop(request: TripRequest, graph: _Graph, search: _Search, j: int, arrival: float,
          departure: float, arrive_at: datetime | None, price_session: PriceSession) -> ChargeStop:
    node = graph.nodes[j]
    assert node.choice is not None
    vehicle, option = request.vehicle, node.choice.option
    hours = (vehicle.curve.time_to_charge(arrival, min(departure, 100.0), vehicle.battery_kwh,
                                          option.power_kw) / graph.charge_factor[j])
    elapsed = (0.0 if arrive_at is None or request.depart_at is None
               else (arrive_at - request.depart_at).total_seconds() / 3600)
    waits, basis = search.wait_hours(j, np.array([elapsed]))
    wait = float(waits[0]) * 60
    energy = (departure - arrival) / 100 * vehicle.battery_kwh
    start = None if arrive_at is None else arrive_at + timedelta(minutes=wait)
    depart_at = None if start is None else start + timedelta(minutes=request.overhead_min + hours * 60)
    site = node.choice.site
    price = price_session(site, option, energy, hours * 60, start)
    return ChargeStop(
        site_code=site.code, site_name=site.name, operator=site.operator, country=site.country,
        standard=option.standard.label, adapter=option.adapter.id if option.adapter else None,
        station_kw=option.station_kw, power_kw=option.power_kw, arrival_soc=arrival,
        departure_soc=departure, energy_kwh=energy, charge_min=float(hours * 60),
        overhead_min=request.overhead_min, wait_min=wait,
        availability=str(node.choice.availability),
        cost=price if isinstance(price, SessionPrice) else None, arrive_at=arrive_at,
        depart_at=depart_at, cost_note=price.reason if isinstance(price, Unpriced) else None,
        wait_basis=basis, roaming=site.roaming,
    )


def _notes(request: TripRequest, graph: _Graph, closed_on: date | None,
           legs: list[Leg]) -> list[Message]:
    notes = []
    vehicle = request.vehicle
    if vehicle.has_default_curve:
        notes.append(Message("generic_curve", {"vehicle": vehicle.name}))
    if closed_on is None:
        notes.append(Message("no_date_mild_weather"))
    seen = set()
    for route in graph.routes:
        for hazard in route.hazards:
            if hazard.id not in seen:
                seen.add(hazard.id)
                code = "seasonal_hazard" if closed_on else "seasonal_hazard_no_date"
                notes.append(Message(code, {"name": pass_name(hazard),
                                            "note": pass_notes(hazard)}))
        notes.extend(Message("border_note", {
            "from_country": b.countries[0], "to_country": b.countries[1],
            "lat": f"{b.lat:.3f}", "lon": f"{b.lon:.3f}", "km": b.km})
            for b in route.unlisted_borders)
    # what to know about each listed crossing passed: limited hours, permits, visas
    passed = {c.id: c for leg in legs for c in leg.crossings if c.name_text}
    for crossing in passed.values():
        if crossing.hours_text.key != "hours.always":
            notes.append(Message("crossing_hours", {"crossing": crossing.name_text,
                                                    "hours": crossing.hours_text}))
        notes.extend(Message("crossing_note", {"crossing": crossing.name_text, "note": note})
                     for note in crossing.notes)
    if request.use_adapters:
        notes.append(Message("adapters_uncertain"))
    names = {n.name: k for k, n in enumerate(graph.nodes) if n.kind == "site"}
    for leg in legs:
        if leg.stop is not None and closed_on is not None:
            k = names[leg.end]
            factor = float(graph.charge_factor[k])
            if factor < 0.99:
                notes.append(Message("cold_charging", {
                    "site": leg.end, "temp_c": round(float(graph.temp[k])),
                    "percent": round((1 / factor - 1) * 100)}))
    return notes


# ---- why no plan ------------------------------------------------------------------------


def _explain_infeasible(request: TripRequest, graph: _Graph, search: _Search,
                        carried: Sequence[Adapter]) -> NoFeasiblePlan:
    """Find where the trip breaks and name the real blocker.

    Feasibility alone is decided by carrying the most charge possible to every node (arriving
    with more never hurts); the first node past the last reachable one names the gap. Then: a
    gap from the origin is the start charge (or the arrival minimum, if the car gets there but
    below it); a trip with no compatible charger at all is the inlet; otherwise the gap is
    longer than the car covers, and the options are those that would open more chargers or
    more charge.
    """
    nodes = graph.nodes
    best = np.full(len(nodes), -np.inf)
    best[0] = request.start_soc
    for i, node in enumerate(nodes):
        if best[i] == -np.inf or node.kind == "destination":
            continue
        leave = max(best[i], request.max_charge_soc) if node.kind == "site" else best[i]
        j, used, peak, _ = search.successors(i)
        arrive = leave - used
        ok = (arrive >= search.floor[j] - _EPS) & (leave - peak >= request.min_arrival_soc - _EPS)
        best[j[ok]] = np.maximum(best[j[ok]], np.minimum(arrive[ok], 100.0))
    reached = np.flatnonzero(best > -np.inf)
    last = int(reached.max())
    after = last + 1
    a, b = nodes[last], nodes[after]
    gap = b.gkm - a.gkm + a.detour_km + b.detour_km
    vehicle = request.vehicle
    j, used, peak, _ = search.successors(last)
    k = int(np.flatnonzero(j == after)[0])
    need = max(float(used[k]) + search.min_soc(after) - request.min_arrival_soc,
               float(peak[k]))
    need_kwh = need / search.soc_per_kwh
    climb = _climb(graph, a, b)
    floor = search.min_soc(after)
    any_site = any(n.kind == "site" for n in nodes)
    options: list[str] = []
    if not request.use_adapters and any(ad.car_inlet in vehicle.inlets for ad in load_adapters()):
        options.append("use_adapters")
    if last == 0 and b.kind == "site" and need <= request.max_charge_soc - request.min_arrival_soc + _EPS:
        arrive = request.start_soc - float(used[k])
        params = {"vehicle": vehicle.name, "start_soc": request.start_soc, "to": b.name,
                  "km": round(gap), "need_soc": round(need), "floor_soc": floor,
                  "arrive_soc": round(arrive)}
        if arrive >= 0 and request.start_soc - float(peak[k]) >= 0:
            message = Message("arrival_minimum_blocks", params,
                              ("lower_arrival_minimum", "more_start_charge"))
        else:
            message = Message("start_charge_too_low", params, ("more_start_charge",))
        return NoFeasiblePlan(message, stretch_km=gap, between=(a.name, b.name))
    if request.max_charge_soc < 100:
        options.append("raise_max_charge")
    if request.exclude_operators:
        options.append("fewer_excluded")
    if request.busy_wait_min is None:
        options.append("accept_busy")
    params = {"vehicle": vehicle.name, "km": round(gap), "from": a.name, "to": b.name,
              "need_soc": round(need), "need_kwh": round(need_kwh, 1), "climb_m": round(climb),
              "usable_soc": round(request.max_charge_soc - request.min_arrival_soc),
              "max_soc": request.max_charge_soc, "floor_soc": request.min_arrival_soc,
              "inlets": [s.label for s in vehicle.inlets]}
    if not any_site:
        message = Message("no_charger_fits_inlet", params, tuple(options))
    else:
        message = Message("no_charger_in_reach", params, tuple(options))
    return NoFeasiblePlan(message, stretch_km=gap, between=(a.name, b.name))


def _climb(graph: _Graph, a: _Node, b: _Node) -> float:
    part = a.part + 1 if a.kind == "via" else a.part
    prof = graph.profiles[part]
    start = 0.0 if a.kind in ("origin", "via") else a.local_km
    inside = (prof.cum_km >= start) & (prof.cum_km <= b.local_km) & np.isfinite(prof.elev)
    rise = np.diff(prof.elev[inside])
    return float(rise[rise > 0].sum()) if len(rise) else 0.0
