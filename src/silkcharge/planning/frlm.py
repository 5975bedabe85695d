"""The corridor flow-refuelling instance: trips between towns, pools, candidates, a range.

Trips are between every pair of populated places that lie on the same corridor, weighted by
a gravity index (population product over road km; the populations are data with sources in
``silkcharge/data/places_population.json``). No traffic counts are used: the region publishes
none we could cite. A trip that spans two corridors is not modelled. Weights are scaled so
that all trips together weigh 100, so "covered weight" reads as a percentage of the flow.

Candidates are towns on the corridors, fuel-station-like points sampled every ``every_km``
along the road (the project has no fuel station data: these stand in for them) and any
allocated plots given as input. A candidate more than ``max_off_km`` from the road network is
an error, not a silent drop.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Sequence

import numpy as np

from silkcharge.domain.connectors import ConnectorStandard
from silkcharge.domain.geo import EARTH_RADIUS_KM, interpolate
from silkcharge.planning.corridors import CorridorRoute, PlanningInputError, project
from silkcharge.planning.coverage import BUFFER_KM
from silkcharge.planning.network import ChargingSite
from silkcharge.planning.rules import CoverageRule
from silkcharge.planning.siting import Candidate, CoverInstance
from silkcharge.trips.roads import RoadGraph

TOWN_BUFFER_KM = 10.0
"""A place counts as on a corridor when its centre lies this close to the corridor's road."""
MAX_OFF_KM = 5.0


class CandidateOffNetwork(PlanningInputError):
    """Candidates too far from any road of the graph to be reached from it."""


@dataclass(frozen=True)
class Trip:
    origin: str
    destination: str
    corridor: str
    from_km: float
    to_km: float
    weight: float


@cache
def load_populations() -> dict[str, int]:
    raw = json.loads((resources.files("silkcharge.data") / "places_population.json")
                     .read_text("utf-8"))
    return dict(raw["population"])


def corridor_trips(routes: Sequence[CorridorRoute], graph: RoadGraph,
                   populations: dict[str, int] | None = None,
                   town_buffer_km: float = TOWN_BUFFER_KM) -> list[Trip]:
    """Gravity-weighted trips between the populated places along each corridor."""
    populations = populations if populations is not None else load_populations()
    places = [p for p in graph.places if p.name in populations]
    trips: dict[frozenset[str], Trip] = {}
    for route in routes:
        along, off = project(route, [p.lat for p in places], [p.lon for p in places])
        on = sorted((float(km), p.name) for p, km, d in zip(places, along, off)
                    if d <= town_buffer_km)
        for (ka, a), (kb, b) in ((x, y) for i, x in enumerate(on) for y in on[i + 1:]):
            if kb - ka < 1.0 or frozenset((a, b)) in trips:
                continue
            weight = populations[a] * populations[b] / (kb - ka)
            trips[frozenset((a, b))] = Trip(a, b, route.corridor.id, ka, kb, weight)
    total = sum(t.weight for t in trips.values())
    return [Trip(t.origin, t.destination, t.corridor, t.from_km, t.to_km, 100 * t.weight / total)
            for t in trips.values()]


def corridor_candidates(routes: Sequence[CorridorRoute], graph: RoadGraph, every_km: float = 25.0,
                        kw: float = 400.0, populations: dict[str, int] | None = None
                        ) -> list[Candidate]:
    """Towns on the corridors and roadside points every ``every_km`` along them."""
    if every_km <= 0:
        raise PlanningInputError(f"every_km must be positive, got {every_km}")
    populations = populations if populations is not None else load_populations()
    found: dict[str, Candidate] = {}
    for route in routes:
        for name, _ in route.place_km:
            place = graph.place(name)
            found.setdefault(f"town:{name}", Candidate(f"town:{name}", name, place.lat,
                                                        place.lon, "town", kw))
        for km in np.arange(every_km, route.km - every_km / 2, every_km):
            lat, lon = point_at(route, float(km))
            cid = f"{route.corridor.id}:km{km:.0f}"
            found[cid] = Candidate(cid, f"{route.corridor.name} km {km:.0f} "
                                   f"(near {route.nearest_place(float(km))})",
                                   round(lat, 5), round(lon, 5), "roadside", kw)
    return list(found.values())


def point_at(route: CorridorRoute, km: float) -> tuple[float, float]:
    cum = route.cumulative_km
    i = int(np.clip(np.searchsorted(cum, km, side="right") - 1, 0, len(cum) - 2))
    step = cum[i + 1] - cum[i]
    return interpolate(*route.coords[i], *route.coords[i + 1],
                       (km - cum[i]) / step if step > 0 else 0.0)


def check_on_network(graph: RoadGraph, candidates: Sequence[Candidate],
                     max_off_km: float = MAX_OFF_KM) -> None:
    """Raise ``CandidateOffNetwork`` naming every candidate too far from the road graph."""
    far = []
    for c in candidates:
        d = _distance_to_edges(graph, c.lat, c.lon)
        if d > max_off_km:
            far.append(f"{c.id} ({d:.1f} km)")
    if far:
        raise CandidateOffNetwork(
            f"{len(far)} candidate(s) lie more than {max_off_km:g} km from the road network: "
            f"{', '.join(far[:10])}{' ...' if len(far) > 10 else ''}; move them onto a road "
            "or raise max_off_km")


def _distance_to_edges(graph: RoadGraph, lat: float, lon: float) -> float:
    ky = np.radians(1.0) * EARTH_RADIUS_KM
    kx = ky * np.cos(np.radians(lat))
    ax, ay = (graph.lon[graph.edge_a] - lon) * kx, (graph.lat[graph.edge_a] - lat) * ky
    bx, by = (graph.lon[graph.edge_b] - lon) * kx, (graph.lat[graph.edge_b] - lat) * ky
    dx, dy = bx - ax, by - ay
    t = np.clip(-(ax * dx + ay * dy) / np.maximum(dx * dx + dy * dy, 1e-12), 0.0, 1.0)
    return float(np.hypot(ax + t * dx, ay + t * dy).min())


def flow_instance(routes: Sequence[CorridorRoute], trips: Sequence[Trip],
                  sites: Sequence[ChargingSite], candidates: Sequence[Candidate],
                  standard: ConnectorStandard, range_km: float, rule: CoverageRule | None = None,
                  buffer_km: float = BUFFER_KM) -> CoverInstance:
    """The FRLM cover instance: existing pools of ``standard`` count as built."""
    if range_km <= 0:
        raise PlanningInputError(f"range must be positive, got {range_km}")
    if not trips:
        raise PlanningInputError("no trips: the corridors have no two populated places")
    min_kw = rule.min_point_kw if rule else 0
    usable = [s for s in sites if any(kw >= min_kw for kw in s.dc_points(standard))]
    by_corridor = {r.corridor.id: r for r in routes}
    existing: dict[str, np.ndarray] = {}
    cands: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for cid, route in by_corridor.items():
        if usable:
            km, off = project(route, [s.lat for s in usable], [s.lon for s in usable])
            existing[cid] = np.sort(km[off <= buffer_km])
        else:
            existing[cid] = np.zeros(0)
        km, off = project(route, [c.lat for c in candidates], [c.lon for c in candidates])
        on = np.flatnonzero(off <= buffer_km)
        cands[cid] = (km[on], on)
    lines = {cid: (existing[cid], *cands[cid]) for cid in by_corridor}
    return line_instance(trips, lines, list(candidates), range_km)


def line_instance(trips: Sequence[Trip],
                  lines: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
                  candidates: list[Candidate], range_km: float) -> CoverInstance:
    """The instance on 1-D corridors: per corridor (existing km, candidate km, candidate ids)."""
    weights, requirements, labels = [], [], []
    baseline = infeasible = 0.0
    n_base = n_inf = 0
    for trip in trips:
        existing, cand_km, cand_idx = lines[trip.corridor]
        reqs = trip_requirements(trip.from_km, trip.to_km, existing, cand_km, cand_idx, range_km)
        if reqs is None:
            infeasible += trip.weight
            n_inf += 1
        elif not reqs:
            baseline += trip.weight
            n_base += 1
        else:
            weights.append(trip.weight)
            requirements.append(reqs)
            labels.append(f"{trip.origin} - {trip.destination}")
    return CoverInstance(candidates, np.asarray(weights, dtype=float), requirements, labels,
                         baseline, n_base, infeasible, n_inf, unit="% of gravity-weighted trips")


def trip_requirements(a: float, b: float, existing: np.ndarray, cand_km: np.ndarray,
                      cand_idx: np.ndarray, range_km: float) -> list[np.ndarray] | None:
    """Arc-cover requirements of one trip from km ``a`` to ``b`` (either order).

    Returns None when no choice of candidates makes the trip possible, [] when the existing
    pools already do, else one array of candidate indices per stretch still at risk.
    """
    lo, hi = min(a, b), max(a, b)
    fixed = existing[(existing >= lo) & (existing <= hi)]
    inside = (cand_km >= lo) & (cand_km <= hi)
    km = np.concatenate([[lo], fixed, cand_km[inside], [hi]])
    who = np.concatenate([[-1], np.full(len(fixed), -1), cand_idx[inside], [-2]])
    order = np.argsort(km, kind="stable")
    km, who = km[order], who[order]
    fixed_km = km[who == -1]
    cand_pos = np.flatnonzero(who >= 0)
    reqs: list[np.ndarray] = []
    last: tuple[int, int] | None = None
    for i in range(1, len(km)):
        reach_from = km[i] - range_km - 1e-9
        j = np.searchsorted(fixed_km, km[i - 1], side="right") - 1
        if j >= 0 and fixed_km[j] >= reach_from:
            continue
        window = cand_pos[(cand_pos < i) & (km[cand_pos] >= reach_from)]
        if len(window) == 0:
            return None
        span = (int(window[0]), int(window[-1]))
        if last is not None and span[0] == last[0]:
            continue
        last = span
        reqs.append(np.unique(who[window]).astype(np.int64))
    return reqs
