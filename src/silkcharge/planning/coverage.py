"""Corridor coverage: the gaps between consecutive fast-charging pools along each corridor.

Pure given its inputs (a routed corridor, the sites, a rule). A site counts when it lies within
``buffer_km`` of the corridor's road and meets the rule for drivers of the given standard (a
GB/T-only car sees only GB/T DC points; a CCS2 car only CCS2 points). The road graph is
undirected, so a site serves both carriageways here: the reverse direction's gaps are the
forward ones mirrored. A real motorway site on one carriageway serves only its side; the
data carry no carriageway, so this analysis is optimistic there.

Segments from a corridor's ends to the first and last pool count as gaps too (``kind`` "start"
and "end"): a driver leaving a city with no pool must cover them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Sequence

from silkcharge.domain.connectors import ConnectorStandard
from silkcharge.planning.corridors import CorridorRoute, project
from silkcharge.planning.network import ChargingSite
from silkcharge.planning.rules import CoverageRule

BUFFER_KM = 5.0
STANDARDS = (ConnectorStandard.GBT_DC, ConnectorStandard.CCS2)


@dataclass(frozen=True)
class PoolOnCorridor:
    code: str
    name: str
    km: float
    offset_km: float
    pool_kw: Decimal
    points: int
    points_150kw: int
    qualifies: bool


@dataclass(frozen=True)
class Gap:
    from_km: float
    to_km: float
    from_label: str
    to_label: str
    kind: str
    """"between" two pools, "start" / "end" of the corridor to its first / last pool, or "none"
    when no pool qualifies at all."""
    flagged: bool

    @property
    def length_km(self) -> float:
        return self.to_km - self.from_km


@dataclass(frozen=True)
class DirectionCoverage:
    corridor: str
    direction: str
    origin: str
    destination: str
    standard: str
    rule: str
    max_gap_km: float
    length_km: float
    pools: tuple[PoolOnCorridor, ...]
    gaps: tuple[Gap, ...]
    share_meeting_rule: float
    """Fraction of the corridor's km lying in gaps no longer than the rule allows."""
    notes: tuple[str, ...] = field(default=())

    @property
    def flagged(self) -> tuple[Gap, ...]:
        return tuple(g for g in self.gaps if g.flagged)

    @property
    def longest_gap_km(self) -> float:
        return max(g.length_km for g in self.gaps)


def pools_on_corridor(route: CorridorRoute, sites: Sequence[ChargingSite],
                      standard: ConnectorStandard, rule: CoverageRule,
                      buffer_km: float = BUFFER_KM) -> list[PoolOnCorridor]:
    """Sites with a fast point of ``standard`` within the buffer, in km order along the route."""
    fast = [s for s in sites if any(kw >= rule.min_point_kw for kw in s.dc_points(standard))]
    if not fast:
        return []
    along, offset = project(route, [s.lat for s in fast], [s.lon for s in fast])
    pools = []
    for site, km, off in zip(fast, along, offset):
        if off > buffer_km:
            continue
        points = [kw for kw in site.dc_points(standard) if kw >= rule.min_point_kw]
        pools.append(PoolOnCorridor(
            code=site.code, name=site.name, km=round(float(km), 2), offset_km=round(float(off), 2),
            pool_kw=sum(points, Decimal(0)), points=len(points),
            points_150kw=sum(kw >= rule.fast_point_kw for kw in points),
            qualifies=rule.qualifies(site, standard),
        ))
    return sorted(pools, key=lambda p: (p.km, p.code))


def gaps_along(length_km: float, pool_km: Sequence[tuple[float, str]], max_gap_km: float,
               start_label: str, end_label: str) -> list[Gap]:
    """Gaps over [0, length_km] between pools at the given km (labels name each pool)."""
    if not pool_km:
        return [Gap(0.0, length_km, start_label, end_label, "none", length_km > max_gap_km)]
    stops = [(0.0, start_label), *pool_km, (length_km, end_label)]
    last = len(stops) - 2
    gaps = []
    for i, ((a, la), (b, lb)) in enumerate(zip(stops, stops[1:])):
        kind = "start" if i == 0 else "end" if i == last else "between"
        if kind != "between" and b - a <= 1e-9:
            continue
        gaps.append(Gap(round(a, 2), round(b, 2), la, lb, kind, b - a > max_gap_km + 1e-9))
    return gaps


def corridor_coverage(route: CorridorRoute, sites: Sequence[ChargingSite],
                      standard: ConnectorStandard, rule: CoverageRule,
                      buffer_km: float = BUFFER_KM) -> list[DirectionCoverage]:
    """Coverage of one corridor for one standard under one rule, forward and reverse."""
    pools = pools_on_corridor(route, sites, standard, rule, buffer_km)
    qualifying = [p for p in pools if p.qualifies]
    length = route.km
    first, last = route.corridor.places[0], route.corridor.places[-1]
    notes = ("a site counts for both directions: the data have no carriageway",)
    result = []
    for direction, origin, destination in (("forward", first, last), ("reverse", last, first)):
        if direction == "forward":
            marks = [(p.km, p.name) for p in qualifying]
            shown = tuple(pools)
        else:
            marks = [(round(length - p.km, 2), p.name) for p in reversed(qualifying)]
            shown = tuple(replace(p, km=round(length - p.km, 2))
                          for p in reversed(pools))
        gaps = gaps_along(length, marks, rule.max_gap_km, origin, destination)
        ok = sum(g.length_km for g in gaps if not g.flagged)
        result.append(DirectionCoverage(
            corridor=route.corridor.id, direction=direction, origin=origin,
            destination=destination, standard=standard.value, rule=rule.id,
            max_gap_km=rule.max_gap_km, length_km=round(length, 2), pools=shown,
            gaps=tuple(gaps), share_meeting_rule=round(ok / length, 4), notes=notes,
        ))
    return result
