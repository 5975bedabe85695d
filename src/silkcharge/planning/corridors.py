"""Corridors as data, routed on the shared road graph, and points projected onto them.

A corridor is an ordered list of places (``silkcharge/data/corridors.json``); its route is the
road graph's shortest route from each place to the next, joined. Positions along it are road
km from the first place. Projection is to the nearest point of the route's polyline in a local
equirectangular frame: good to metres at the few-km offsets that matter here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Iterable, Sequence

import numpy as np

from silkcharge.domain.geo import project_onto_path
from silkcharge.trips.roads import NoRoute, RoadGraph, UnknownPlace


class PlanningInputError(ValueError):
    """Input the planning models cannot use; the message says what to change."""


class CorridorError(PlanningInputError):
    """A corridor that is unknown, too short, names unknown places or does not connect."""


@dataclass(frozen=True)
class Corridor:
    id: str
    name: str
    places: tuple[str, ...]
    source: str = ""


@dataclass(frozen=True)
class CorridorRoute:
    """A routed corridor: the polyline, its cumulative km, and where each listed place lies."""

    corridor: Corridor
    coords: tuple[tuple[float, float], ...]
    cumulative_km: tuple[float, ...]
    place_km: tuple[tuple[str, float], ...]

    @property
    def km(self) -> float:
        return self.cumulative_km[-1]

    def nearest_place(self, km: float) -> str:
        """The listed place closest along the road to ``km``, for labels such as 'near Taraz'."""
        return min(self.place_km, key=lambda p: abs(p[1] - km))[0]


@cache
def load_corridors() -> tuple[Corridor, ...]:
    """The shipped corridors (``silkcharge/data/corridors.json``)."""
    raw = json.loads((resources.files("silkcharge.data") / "corridors.json").read_text("utf-8"))
    return tuple(Corridor(c["id"], c["name"], tuple(c["places"]), c.get("source", ""))
                 for c in raw["corridors"])


def select_corridors(ids: Sequence[str] | None,
                     available: Sequence[Corridor] | None = None) -> list[Corridor]:
    """The corridors named by id (all when ``ids`` is None); unknown or no ids are errors."""
    corridors = list(available if available is not None else load_corridors())
    if ids is None:
        chosen = corridors
    else:
        by_id = {c.id: c for c in corridors}
        unknown = [i for i in ids if i not in by_id]
        if unknown:
            raise CorridorError(f"unknown corridor {', '.join(unknown)}; known: "
                                f"{', '.join(by_id)}")
        chosen = [by_id[i] for i in ids]
    if not chosen:
        raise CorridorError("no corridors to analyse: give at least one corridor id")
    return chosen


def route_corridor(graph: RoadGraph, corridor: Corridor) -> CorridorRoute:
    """Route a corridor place to place; raises ``CorridorError`` naming the broken leg."""
    if len(corridor.places) < 2:
        raise CorridorError(f"corridor {corridor.id} needs at least two places")
    coords: list[tuple[float, float]] = []
    cumulative: list[float] = []
    place_km = [(corridor.places[0], 0.0)]
    offset = 0.0
    for a, b in zip(corridor.places, corridor.places[1:]):
        try:
            leg = graph.shortest_path(a, b)
        except UnknownPlace as exc:
            raise CorridorError(f"corridor {corridor.id}: {exc}") from None
        except NoRoute:
            raise CorridorError(f"corridor {corridor.id}: no road connects {a} and {b}") from None
        start = 1 if coords else 0
        coords.extend(leg.coords[start:])
        cumulative.extend(offset + km for km in leg.cumulative_km[start:])
        offset += leg.km
        place_km.append((b, offset))
    if offset <= 0:
        raise CorridorError(f"corridor {corridor.id} has zero length: its places coincide")
    return CorridorRoute(corridor, tuple(coords), tuple(cumulative), tuple(place_km))


def project(route: CorridorRoute, lats: Iterable[float], lons: Iterable[float],
            chunk: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """For each point, (km along the route of its nearest route point, its distance in km)."""
    return project_onto_path(route.coords, route.cumulative_km, lats, lons, chunk)
