"""The analyses as the CLI, the API and the report run them: inputs in, JSON-ready results out."""

from __future__ import annotations

from dataclasses import asdict, dataclass, is_dataclass
from decimal import Decimal
from enum import Enum
from typing import Any, Callable, Sequence

from silkcharge.domain.connectors import ConnectorStandard, parse_standard
from silkcharge.planning.corridors import (
    CorridorRoute,
    PlanningInputError,
    route_corridor,
    select_corridors,
)
from silkcharge.planning.coverage import BUFFER_KM, STANDARDS, DirectionCoverage, corridor_coverage
from silkcharge.planning.frlm import (
    check_on_network,
    corridor_candidates,
    corridor_trips,
    flow_instance,
    load_populations,
)
from silkcharge.planning.mclp import COVER_KM, city_demand, city_instance, grid_candidates
from silkcharge.planning.network import ChargingSite
from silkcharge.planning.rules import CoverageRule, rule_by_id, winter_rule
from silkcharge.planning.siting import Candidate, SitingResult, solve
from silkcharge.trips.roads import RoadGraph, UnknownPlace


def standards(text: str | None) -> tuple[ConnectorStandard, ...]:
    """Both DC standards the region uses when None, else the one named."""
    if text is None:
        return STANDARDS
    standard = parse_standard(text)
    if standard not in STANDARDS:
        raise PlanningInputError(f"coverage is for DC drivers: use gbt_dc or ccs2, not {text}")
    return (standard,)


def coverage(graph: RoadGraph, sites: Sequence[ChargingSite], corridor_ids: Sequence[str] | None,
             standard: str | None = None, rule: str = "afir",
             buffer_km: float = BUFFER_KM) -> list[DirectionCoverage]:
    chosen_rule = rule_by_id(rule)
    routes = [route_corridor(graph, c) for c in select_corridors(corridor_ids)]
    return [cov for route in routes for s in standards(standard)
            for cov in corridor_coverage(route, sites, s, chosen_rule, buffer_km)]


@dataclass(frozen=True)
class CorridorSiting:
    standard: str
    range_km: float
    range_source: str
    corridors: tuple[str, ...]
    trips: int
    result: SitingResult


def corridor_siting(graph: RoadGraph, sites: Sequence[ChargingSite], budget: int | None,
                    corridor_ids: Sequence[str] | None = None, standard: str = "gbt_dc",
                    range_km: float | None = None, every_km: float = 25.0,
                    plots: Sequence[Candidate] = (), method: str = "auto",
                    time_limit: float = 60.0,
                    progress: Callable[[int, int], None] | None = None,
                    budget_kw: float | None = None) -> CorridorSiting:
    """FRLM over the corridors: which new pools complete the most gravity-weighted trips.
    The budget is a number of sites, a total kW (each candidate's ``kw``), or both."""
    (wanted,) = standards(standard)
    rule: CoverageRule = winter_rule()
    km = range_km if range_km is not None else rule.max_gap_km
    routes: list[CorridorRoute] = [route_corridor(graph, c) for c in select_corridors(corridor_ids)]
    check_on_network(graph, plots)
    candidates = corridor_candidates(routes, graph, every_km) + list(plots)
    trips = corridor_trips(routes, graph)
    instance = flow_instance(routes, trips, sites, candidates, wanted, km, rule)
    result = solve(instance, budget_sites=budget, budget_kw=budget_kw, method=method, model="frlm",
                   time_limit=time_limit, progress=progress)
    return CorridorSiting(wanted.value, km, rule.source if range_km is None else "given",
                          tuple(r.corridor.id for r in routes), len(trips), result)


@dataclass(frozen=True)
class CitySiting:
    city: str
    standard: str
    lat: float
    lon: float
    radius_km: float
    population: float
    population_source: str
    cover_km: float
    cells: int
    result: SitingResult


def city_siting(graph: RoadGraph, sites: Sequence[ChargingSite], city: str,
                budget: int | None = None, budget_kw: float | None = None,
                standard: str = "gbt_dc", radius_km: float = 10.0,
                population: float | None = None, cell_km: float = 1.0,
                spacing_km: float = 2.0, decay_km: float | None = None,
                cover_km: float = COVER_KM, plots: Sequence[Candidate] = (),
                method: str = "auto", candidate_kw: float = 120.0,
                time_limit: float = 60.0) -> CitySiting:
    """MCLP for one city: people on a hex grid around the place's centre, covered by a DC pool
    of the standard within ``cover_km``. Candidates are the plots given, else a hex grid of
    points ``spacing_km`` apart. Population defaults to ``places_population.json``."""
    (wanted,) = standards(standard)
    try:
        place = graph.place(city)
    except UnknownPlace as exc:
        raise PlanningInputError(str(exc)) from None
    for name, value in (("radius_km", radius_km), ("cell_km", cell_km),
                        ("spacing_km", spacing_km)):
        if value <= 0:
            raise PlanningInputError(f"{name} must be positive, got {value}")
    source = "given"
    if population is None:
        population, source = load_populations().get(place.name), "places_population.json"
        if population is None:
            raise PlanningInputError(f"no population on file for {place.name}: give one")
    if population <= 0:
        raise PlanningInputError(f"population must be positive, got {population}")
    cells = city_demand(place.lat, place.lon, radius_km, population, cell_km, decay_km)
    candidates = list(plots) or grid_candidates(place.name, place.lat, place.lon, radius_km,
                                                spacing_km, candidate_kw)
    instance = city_instance(cells, candidates, sites, wanted, cover_km)
    result = solve(instance, budget_sites=budget, budget_kw=budget_kw, method=method,
                   model="mclp", time_limit=time_limit)
    return CitySiting(place.name, wanted.value, place.lat, place.lon, radius_km, population,
                      source, cover_km, len(cells), result)


def jsonable(value: Any) -> Any:
    """Dataclasses, tuples, Decimals (as strings: exact) and enums as plain JSON values."""
    if is_dataclass(value) and not isinstance(value, type):
        out = {k: jsonable(v) for k, v in asdict(value).items()}
        for name in ("flagged", "longest_gap_km", "length_km", "message"):
            if hasattr(type(value), name) and isinstance(getattr(type(value), name), property):
                out[name] = jsonable(getattr(value, name))
        return out
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    return value
