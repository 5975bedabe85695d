"""The console maps' offline layers, from data the package ships: the road network as lines and
the planner's places labelled in the console's language.

Both are GeoJSON ([lon, lat]), so any map library draws them; nothing here needs a tile server.
"""

from __future__ import annotations

import json
from collections import defaultdict
from functools import cache
from importlib import resources
from typing import Any

from silkcharge.trips.roads import RoadGraph

DECIMALS = 3
"""About 100 m: the graph's own precision (its coordinates are stored in thousandths)."""

MAJOR_POPULATION = 400_000
"""Places at least this big (or a capital) are labelled at every zoom; smaller ones when zoomed
in, so the labels of a whole region do not cover each other."""

CAPITALS = frozenset({"Astana", "Bishkek", "Tashkent", "Dushanbe", "Ashgabat", "Urumqi"})


def road_lines(graph: RoadGraph) -> list[list[tuple[float, float]]]:
    """The graph's edges joined into long lines: a line goes on through a junction along any
    edge not drawn yet, so the map draws a few thousand lines, not every edge, and repeats few
    coordinates. Lines start at nodes of odd degree, where some line has to end anyway."""
    neighbours: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for edge, (a, b) in enumerate(zip(graph.edge_a.tolist(), graph.edge_b.tolist())):
        neighbours[a].append((b, edge))
        neighbours[b].append((a, edge))
    used = [False] * len(graph.edge_a)

    def walk(start: int, first: tuple[int, int]) -> list[int]:
        nodes, (node, edge) = [start], first
        while True:
            used[edge] = True
            nodes.append(node)
            onward = [(n, e) for n, e in neighbours[node] if not used[e]]
            if not onward:
                return nodes
            node, edge = onward[0]

    chains = []
    odd = [n for n, around in neighbours.items() if len(around) % 2]
    for start in odd + list(neighbours):  # then what is left is loops
        for step in neighbours[start]:
            if not used[step[1]]:
                chains.append(walk(start, step))
    return [[(round(float(graph.lon[n]), DECIMALS), round(float(graph.lat[n]), DECIMALS))
             for n in chain] for chain in chains]


def roads_geojson(graph: RoadGraph) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": [{
        "type": "Feature", "properties": {},
        "geometry": {"type": "MultiLineString", "coordinates": road_lines(graph)}}]}


@cache
def _names() -> dict[str, Any]:
    path = resources.files("silkcharge.data") / "roads" / "place_names.json"
    return json.loads(path.read_text("utf-8"))


@cache
def _population() -> dict[str, int]:
    path = resources.files("silkcharge.data") / "places_population.json"
    return json.loads(path.read_text("utf-8"))["population"]


def place_name(name: str, language: str) -> str:
    """A place's name in `language`, else in its fallback language, else the English name."""
    data = _names()
    known = data["names"].get(name, {})
    fallback = data["fallback"].get(language)
    return known.get(language) or (known.get(fallback) if fallback else None) or name


def cities_geojson(graph: RoadGraph, language: str) -> dict[str, Any]:
    population = _population()
    return {"type": "FeatureCollection", "features": [{
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [place.lon, place.lat]},
        "properties": {
            "id": place.name, "name": place_name(place.name, language), "country": place.country,
            "major": place.name in CAPITALS or population.get(place.name, 0) >= MAJOR_POPULATION,
        }} for place in graph.places]}
