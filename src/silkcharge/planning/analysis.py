"""The analyses as the CLI, the API and the report run them: inputs in, JSON-ready results out."""

from __future__ import annotations

from dataclasses import asdict, dataclass, is_dataclass
from decimal import Decimal
from enum import Enum
from typing import Any, Callable, Sequence

from silkcharge.domain.connectors import ConnectorStandard, parse_standard
from silkcharge.planning.corridors import (
    CorridorRoute, PlanningInputError, route_corridor, select_corridors,
)
from silkcharge.planning.coverage import BUFFER_KM, STANDARDS, DirectionCoverage, corridor_coverage
from silkcharge.planning.frlm import (
    check_on_network, corridor_candidates, corridor_trips, flow_instance,
)
from silkcharge.planning.network import ChargingSite
from silkcharge.planning.rules import CoverageRule, rule_by_id, winter_rule
from silkcharge.planning.siting import Candidate, SitingResult, solve
from silkcharge.trips.roads import RoadGraph


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


def corridor_siting(graph: RoadGraph, sites: Sequence[ChargingSite], budget: int,
                    corridor_ids: Sequence[str] | None = None, standard: str = "gbt_dc",
                    range_km: float | None = None, every_km: float = 25.0,
                    plots: Sequence[Candidate] = (), method: str = "auto",
                    time_limit: float = 60.0,
                    progress: Callable[[int, int], None] | None = None) -> CorridorSiting:
    """FRLM over the corridors: which new pools complete the most gravity-weighted trips."""
    (wanted,) = standards(standard)
    rule: CoverageRule = winter_rule()
    km = range_km if range_km is not None else rule.max_gap_km
    routes: list[CorridorRoute] = [route_corridor(graph, c) for c in select_corridors(corridor_ids)]
    check_on_network(graph, plots)
    candidates = corridor_candidates(routes, graph, every_km) + list(plots)
    trips = corridor_trips(routes, graph)
    instance = flow_instance(routes, trips, sites, candidates, wanted, km, rule)
    result = solve(instance, budget_sites=budget, method=method, model="frlm",
                   time_limit=time_limit, progress=progress)
    return CorridorSiting(wanted.value, km, rule.source if range_km is None else "given",
                          tuple(r.corridor.id for r in routes), len(trips), result)


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
