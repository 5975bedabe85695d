"""The routable road network of the region: places, shortest routes, border crossings, passes.

The graph is simplified OpenStreetMap data (© OpenStreetMap contributors, ODbL 1.0) built by
``scripts/build_road_graph.py`` into ``silkcharge/data/roads``. Distances are good to about 5 %
on steppe and valley roads; mountain legs carry the corrections listed in ``corrections.json``.
Every node has a height: from the GLOBE / pvlib DEMs (``elevation.npz``, built by
``scripts/build_elevations.py``), or, on the curated mountain roads of ``profiles.json``, from
their waypoints.
It is for planning charging stops and siting stations, not for turn-by-turn navigation.

Routes minimise kilometres plus border waiting time (``wait_km_per_min`` kilometres per minute
of typical wait), so a route does not cut through a neighbour country to save a few km. Border
edges that no listed crossing claims are weighed as a long wait (``UNLISTED_WAIT_MIN``): they are
either unknown crossings or places where the simplified road grazes an approximate border line,
and the route reports them in ``Route.border_notes``.
"""

from __future__ import annotations

import difflib
import json
import threading
import zlib
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from functools import cache
from importlib import resources
from typing import Iterable, Sequence
from zoneinfo import ZoneInfo

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from silkcharge.domain.geo import EARTH_RADIUS_KM, haversine_km, interpolate

UNLISTED_WAIT_MIN = 180.0
"""Weight of crossing a border edge that no listed crossing claims, in minutes of waiting."""

PLACE_SNAP_KM = 15.0
"""A place snaps to the nearest node of its own country when one is this close."""

_BLOCKED = 1e9

ROUTE_CACHE_SIZE = 256
"""Routes kept per road graph (Astana-Tashkent is 63 nodes, about 10 KiB: a few MiB at most)."""

ROAD_CLASSES = ("main", "mountain", "pass")
"""Edge classes: index into this tuple. "main" drives at the request's speed; the others at
``CLASS_SPEED_KMH`` (from ``profiles.json``)."""
CLASS_SPEED_KMH = {"mountain": 55.0, "pass": 40.0}


class UnknownPlace(LookupError):
    """A place name that is neither a known name nor an alias."""

    def __init__(self, name: str, suggestions: Sequence[str]) -> None:
        self.name = name
        self.suggestions = tuple(suggestions)
        hint = f"; did you mean {', '.join(self.suggestions)}?" if self.suggestions else ""
        super().__init__(f"unknown place {name!r}{hint}")


class NoRoute(LookupError):
    """No road connects the two points under the given restrictions."""


@dataclass(frozen=True)
class Place:
    name: str
    country: str
    lat: float
    lon: float
    timezone: str
    aliases: tuple[str, ...]
    node: int
    snap_km: float
    """How far the place lies from its graph node: large values mean the graph misses its road."""


@dataclass(frozen=True)
class BorderCrossing:
    id: str
    name: str
    countries: tuple[str, str]
    lat: float
    lon: float
    typical_wait_min: float
    open_to_private_cars: bool
    source: str
    confidence: str
    notes: tuple[str, ...] = ()
    """Keys of data/roads/notes.json (``note.<key>``): what a driver should know, translated."""
    open_days: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6)
    """Weekdays the crossing works (0 = Monday), in its own time zone."""
    opens: str = "00:00"
    closes: str = "24:00"
    timezone: str = "UTC"
    """IANA zone of ``opens``/``closes`` (the clock of the side that sets the hours)."""

    @property
    def always_open(self) -> bool:
        return len(self.open_days) == 7 and self.opens == "00:00" and self.closes == "24:00"

    def closed_on(self, day: date) -> bool:
        """Closed the whole of that (local) day."""
        return day.weekday() not in self.open_days

    def next_open(self, at: datetime) -> datetime:
        """``at`` if the crossing is open then, else the aware time it next opens (UTC)."""
        if self.always_open:
            return at
        zone = ZoneInfo(self.timezone)
        local = at.astimezone(zone)
        for offset in range(8):
            day = (local + timedelta(days=offset)).date()
            if day.weekday() not in self.open_days:
                continue
            start = datetime.combine(day, _clock(self.opens), zone)
            end = (datetime.combine(day, time(0), zone) + timedelta(days=1) if self.closes == "24:00"
                   else datetime.combine(day, _clock(self.closes), zone))
            if local < start:
                return start.astimezone(timezone.utc)
            if local < end:
                return at
        return at + timedelta(days=7)


def _clock(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


@dataclass(frozen=True)
class SeasonalEntry:
    id: str
    name: str
    road: str
    lat: float
    lon: float
    may_close: tuple[str, str] | None
    closed: tuple[tuple[str, str], ...]
    closed_weekdays: tuple[int, ...]
    notes: tuple[str, ...]
    """Keys of data/roads/notes.json (``note.<key>``)."""
    source: str
    confidence: str

    def may_close_on(self, day: date) -> bool:
        return self.may_close is not None and _in_window(day, *self.may_close)

    def closed_on(self, day: date) -> bool:
        return day.weekday() in self.closed_weekdays or any(
            _in_window(day, start, end) for start, end in self.closed
        )


@dataclass(frozen=True)
class BorderPassage:
    """A listed crossing on a route, at ``km`` from the start."""

    crossing: BorderCrossing
    km: float

    @property
    def wait_min(self) -> float:
        return self.crossing.typical_wait_min


@dataclass(frozen=True)
class UnlistedBorder:
    """A border edge on a route that no listed crossing claims (``Route.border_notes`` in words)."""

    countries: tuple[str, str]
    lat: float
    lon: float
    km: float


@dataclass(frozen=True)
class Route:
    nodes: tuple[int, ...]
    coords: tuple[tuple[float, float], ...]
    km: float
    cumulative_km: tuple[float, ...]
    border_crossings: tuple[BorderPassage, ...]
    hazards: tuple[SeasonalEntry, ...]
    border_notes: tuple[str, ...] = field(default=())
    unlisted_borders: tuple[UnlistedBorder, ...] = field(default=())
    """The same as ``border_notes``, as data the surfaces word in their language."""
    edges: tuple[int, ...] = field(default=())
    """The graph edge of each step (``len(nodes) - 1`` of them)."""

    @property
    def border_wait_min(self) -> float:
        return sum(p.wait_min for p in self.border_crossings)


class RoadGraph:
    """An undirected road graph on arrays, with places, crossings and seasonal entries.

    Build once (``load_road_graph()``) and query many times: the CSR structure is fixed and
    each query only swaps its weight vector.
    """

    def __init__(
        self,
        lat: np.ndarray,
        lon: np.ndarray,
        edge_a: np.ndarray,
        edge_b: np.ndarray,
        km: np.ndarray,
        country: Sequence[str],
        places: Iterable[dict],
        crossings: Iterable[dict] = (),
        seasonal: Iterable[dict] = (),
        km_osm: np.ndarray | None = None,
        elev: np.ndarray | None = None,
        edge_class: np.ndarray | None = None,
    ) -> None:
        self.lat = np.asarray(lat, dtype=float)
        self.lon = np.asarray(lon, dtype=float)
        self.edge_a = np.asarray(edge_a, dtype=np.int64)
        self.edge_b = np.asarray(edge_b, dtype=np.int64)
        self.km = np.asarray(km, dtype=float)
        self.km_osm = self.km.copy() if km_osm is None else np.asarray(km_osm, dtype=float)
        self.country = np.asarray(country)
        self.elev = (np.full(len(self.lat), np.nan) if elev is None
                     else np.asarray(elev, dtype=float))
        """Metres above sea level per node (``elevation.npz`` or a curated waypoint; NaN where
        neither gives one, as in graphs built without heights)."""
        self.edge_class = (np.zeros(len(self.km), dtype=np.int8) if edge_class is None
                           else np.asarray(edge_class, dtype=np.int8))
        rise = self.elev[self.edge_b] - self.elev[self.edge_a]
        rise = np.where(np.isfinite(rise), rise, 0.0)
        self.edge_rise = rise
        """Metres from ``edge_a`` up to ``edge_b`` (0 where an end has no elevation)."""
        self._build_csr()
        self._graphs: dict[tuple, csr_matrix] = {}
        self._routes: dict[tuple, Route] = {}
        """The last `ROUTE_CACHE_SIZE` routes by (source, target, restrictions): the graph
        never changes and a `Route` is an immutable value, so planners asking again for the
        same corridor (every vehicle, every repeat) skip the Dijkstra."""
        self._graphs_lock = threading.Lock()
        self.crossings, self.edge_crossing = self._claim_border_edges(list(crossings))
        self.seasonal, self.seasonal_edges = self._locate_seasonal(list(seasonal))
        self._places = [self._make_place(p) for p in places]
        self._by_key = {}
        for place in self._places:
            for key in (place.name, *place.aliases):
                self._by_key.setdefault(_key(key), place)

    @property
    def node_count(self) -> int:
        return len(self.lat)

    @property
    def edge_count(self) -> int:
        return len(self.edge_a)

    @property
    def places(self) -> tuple[Place, ...]:
        return tuple(self._places)

    # ---- lookup -------------------------------------------------------------------------

    def nearest_node(self, lat: float, lon: float, *, country: str | None = None) -> int:
        """The graph node closest to a point, optionally only among one country's nodes."""
        dist = _haversine_array(self.lat, self.lon, lat, lon)
        if country is not None:
            dist = np.where(self.country == country, dist, np.inf)
        return int(np.argmin(dist))

    def place(self, name: str) -> Place:
        """A place by name or alias, case-insensitively; raises ``UnknownPlace`` with hints."""
        found = self._by_key.get(_key(name))
        if found is None:
            names = {_key(k): k for p in self._places for k in (p.name, *p.aliases)}
            close = difflib.get_close_matches(_key(name), list(names), n=4, cutoff=0.6)
            suggestions = dict.fromkeys(self._by_key[k].name for k in close)
            raise UnknownPlace(name, list(suggestions))
        return found

    def crossing(self, id_or_name: str) -> BorderCrossing:
        key = _key(id_or_name)
        for crossing in self.crossings:
            if key in (_key(crossing.id), _key(crossing.name)):
                return crossing
        raise LookupError(f"unknown border crossing {id_or_name!r}")

    # ---- routing ------------------------------------------------------------------------

    def shortest_path(
        self,
        a: str | Place | tuple[float, float] | int,
        b: str | Place | tuple[float, float] | int,
        *,
        avoid_borders: Iterable[str] = (),
        closed_on: date | None = None,
        private_car: bool = True,
        wait_km_per_min: float = 1.0,
    ) -> Route:
        """The route between two places, points or node ids.

        ``avoid_borders`` takes crossing ids or names, or country pairs such as ``"KZ-KG"``
        (every border edge between the two). ``closed_on`` removes the edges of seasonal
        entries closed on that day and limits hazards to those in force that day; without it,
        every seasonal entry on the route is a hazard. ``private_car`` removes crossings closed
        to private cars. Raises ``NoRoute`` when nothing connects the two.
        """
        source, target = self._node_of(a), self._node_of(b)
        avoid = tuple(avoid_borders)
        key = (source, target, avoid, closed_on, private_car, wait_km_per_min)
        route = self._routes.get(key)
        if route is not None:
            return route
        graph = self._graph(avoid, closed_on, private_car, wait_km_per_min)
        dist, pred = dijkstra(graph, directed=True, indices=source, return_predecessors=True)
        if not np.isfinite(dist[target]) or dist[target] >= _BLOCKED:
            raise NoRoute(f"no road from {a!r} to {b!r} with these restrictions")
        nodes = [target]
        while nodes[-1] != source:
            nodes.append(int(pred[nodes[-1]]))
        nodes.reverse()
        route = self._route(nodes, closed_on)
        with self._graphs_lock:
            if len(self._routes) >= ROUTE_CACHE_SIZE:
                self._routes.pop(next(iter(self._routes)))
            self._routes[key] = route
        return route

    def distance_km(self, a: str | Place | tuple[float, float] | int,
                    b: str | Place | tuple[float, float] | int, **options: object) -> float:
        """Road km of ``shortest_path(a, b, **options)``."""
        return self.shortest_path(a, b, **options).km  # type: ignore[arg-type]

    def distances_from(
        self,
        sources: Sequence[int],
        *,
        limit_km: float = np.inf,
        avoid_borders: Iterable[str] = (),
        closed_on: date | None = None,
        private_car: bool = True,
        wait_km_per_min: float = 1.0,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Road km from the nearest of ``sources`` to every node, and which source that is.

        One multi-source search: used to find how far each charging site lies off a route.
        Weights are those of ``shortest_path`` (border waits count as km), so a site behind a
        border is far off the route. Nodes beyond ``limit_km`` get ``inf`` and source -1.
        """
        graph = self._graph(avoid_borders, closed_on, private_car, wait_km_per_min)
        dist, _, source = dijkstra(graph, directed=True, indices=np.asarray(sources, dtype=np.int64),
                                   min_only=True, return_predecessors=True, limit=limit_km)
        source = np.where(np.isfinite(dist) & (dist < _BLOCKED), source, -1)
        return dist, source

    def km_along(self, route: Route, km: float) -> tuple[float, float]:
        """The (lat, lon) at ``km`` road kilometres from the route's start (clamped to its ends)."""
        cum = route.cumulative_km
        if km <= 0 or len(cum) == 1:
            return route.coords[0]
        if km >= cum[-1]:
            return route.coords[-1]
        i = int(np.searchsorted(cum, km, side="right")) - 1
        step = cum[i + 1] - cum[i]
        fraction = (km - cum[i]) / step if step > 0 else 0.0
        return interpolate(*route.coords[i], *route.coords[i + 1], fraction)

    # ---- internals ----------------------------------------------------------------------

    def _node_of(self, where: str | Place | tuple[float, float] | int) -> int:
        if isinstance(where, str):
            return self.place(where).node
        if isinstance(where, Place):
            return where.node
        if isinstance(where, (int, np.integer)):
            return int(where)
        lat, lon = where
        return self.nearest_node(lat, lon)

    def _build_csr(self) -> None:
        n = self.node_count
        rows = np.concatenate([self.edge_a, self.edge_b])
        cols = np.concatenate([self.edge_b, self.edge_a])
        edge = np.concatenate([np.arange(self.edge_count)] * 2)
        order = np.lexsort((cols, rows))
        self._csr_indices = cols[order].astype(np.int32)
        self._csr_edge = edge[order]
        self._csr_indptr = np.searchsorted(rows[order], np.arange(n + 1)).astype(np.int32)
        self._pair_edge = {(int(r), int(c)): int(e) for r, c, e in zip(rows, cols, edge)}

    def _edge_between(self, u: int, v: int) -> int:
        return self._pair_edge[(u, v)]

    def edge_elevation(self, e: int, u: int) -> tuple[float, float]:
        """(gain, loss) in metres walking edge ``e`` from node ``u``."""
        rise = self.edge_rise[e] if self.edge_a[e] == u else -self.edge_rise[e]
        return max(rise, 0.0), max(-rise, 0.0)

    def _graph(self, avoid: Iterable[str], closed_on: date | None, private_car: bool,
               wait_km_per_min: float) -> csr_matrix:
        """The weighted CSR graph for these restrictions; the last few are kept (a plan asks
        for the same restrictions once per part and once per corridor search)."""
        key = (tuple(avoid), closed_on, private_car, wait_km_per_min)
        graph = self._graphs.get(key)
        if graph is None:
            weight = self._weights(key[0], closed_on, private_car, wait_km_per_min)
            graph = csr_matrix((weight[self._csr_edge], self._csr_indices, self._csr_indptr),
                               shape=(self.node_count, self.node_count))
            with self._graphs_lock:  # plans run on several worker threads
                if len(self._graphs) >= 16:
                    self._graphs.pop(next(iter(self._graphs)))
                self._graphs[key] = graph
        return graph

    def _weights(self, avoid: Iterable[str], closed_on: date | None, private_car: bool,
                 wait_km_per_min: float) -> np.ndarray:
        weight = self.km.copy()
        border = self.country[self.edge_a] != self.country[self.edge_b]
        claimed = self.edge_crossing >= 0
        weight[border & ~claimed] += UNLISTED_WAIT_MIN * wait_km_per_min
        waits = np.array([c.typical_wait_min for c in self.crossings] + [0.0])
        weight[claimed] += waits[self.edge_crossing[claimed]] * wait_km_per_min
        for item in avoid:
            weight[self._avoided_edges(item, border)] = _BLOCKED
        if private_car:
            for index, crossing in enumerate(self.crossings):
                if not crossing.open_to_private_cars:
                    weight[self.edge_crossing == index] = _BLOCKED
        if closed_on is not None:
            for entry, edges in zip(self.seasonal, self.seasonal_edges):
                if entry.closed_on(closed_on):
                    weight[edges] = _BLOCKED
            for index, crossing in enumerate(self.crossings):
                if crossing.closed_on(closed_on):
                    weight[self.edge_crossing == index] = _BLOCKED
        return weight

    def _avoided_edges(self, item: str, border: np.ndarray) -> np.ndarray:
        parts = item.upper().split("-")
        if len(parts) == 2 and all(len(p) == 2 for p in parts):
            ca, cb = self.country[self.edge_a], self.country[self.edge_b]
            return border & (((ca == parts[0]) & (cb == parts[1])) |
                             ((ca == parts[1]) & (cb == parts[0])))
        index = self.crossings.index(self.crossing(item))
        return self.edge_crossing == index

    def _route(self, nodes: list[int], closed_on: date | None) -> Route:
        edges = [self._edge_between(u, v) for u, v in zip(nodes, nodes[1:])]
        cumulative = np.concatenate([[0.0], np.cumsum(self.km[edges])]) if edges else np.zeros(1)
        passages: list[BorderPassage] = []
        notes: list[str] = []
        unlisted: list[UnlistedBorder] = []
        for i, e in enumerate(edges):
            u, v = nodes[i], nodes[i + 1]
            if self.country[u] == self.country[v]:
                continue
            c = int(self.edge_crossing[e])
            if c >= 0:
                if not passages or passages[-1].crossing is not self.crossings[c]:
                    passages.append(BorderPassage(self.crossings[c], float(cumulative[i])))
            else:
                notes.append(f"{self.country[u]}→{self.country[v]} near "
                             f"{self.lat[v]:.3f}, {self.lon[v]:.3f} at km {cumulative[i]:.0f}: "
                             "no listed crossing (unknown crossing or approximate border)")
                unlisted.append(UnlistedBorder((str(self.country[u]), str(self.country[v])),
                                               round(float(self.lat[v]), 3),
                                               round(float(self.lon[v]), 3),
                                               round(float(cumulative[i]))))
        on_route = set(edges)
        hazards = tuple(
            entry for entry, entry_edges in zip(self.seasonal, self.seasonal_edges)
            if on_route.intersection(entry_edges.tolist())
            and (closed_on is None or entry.may_close_on(closed_on) or entry.closed_on(closed_on))
        )
        return Route(
            nodes=tuple(nodes),
            coords=tuple((float(self.lat[i]), float(self.lon[i])) for i in nodes),
            km=float(cumulative[-1]),
            cumulative_km=tuple(float(x) for x in cumulative),
            border_crossings=tuple(passages),
            hazards=hazards,
            border_notes=tuple(notes),
            unlisted_borders=tuple(unlisted),
            edges=tuple(edges),
        )

    def _make_place(self, raw: dict) -> Place:
        own = self.nearest_node(raw["lat"], raw["lon"], country=raw["country"])
        own_km = haversine_km(raw["lat"], raw["lon"], self.lat[own], self.lon[own])
        node = own if own_km <= PLACE_SNAP_KM else self.nearest_node(raw["lat"], raw["lon"])
        return Place(
            name=raw["name"], country=raw["country"], lat=raw["lat"], lon=raw["lon"],
            timezone=raw["timezone"], aliases=tuple(raw.get("aliases", ())), node=node,
            snap_km=haversine_km(raw["lat"], raw["lon"], self.lat[node], self.lon[node]),
        )

    def _claim_border_edges(self, raw: list[dict]) -> tuple[list[BorderCrossing], np.ndarray]:
        """Give each listed crossing the border edges between its countries near its point."""
        crossings = [_crossing(r) for r in raw]
        owner = np.full(self.edge_count, -1, dtype=np.int64)
        best = np.full(self.edge_count, np.inf)
        ca, cb = self.country[self.edge_a], self.country[self.edge_b]
        for index, (crossing, r) in enumerate(zip(crossings, raw)):
            x, y = crossing.countries
            between = ((ca == x) & (cb == y)) | ((ca == y) & (cb == x))
            dist = self._edge_distance_km(crossing.lat, crossing.lon)
            mine = between & (dist <= r.get("radius_km", 10.0)) & (dist < best)
            owner[mine], best[mine] = index, dist[mine]
        return crossings, owner

    def _locate_seasonal(self, raw: list[dict]) -> tuple[list[SeasonalEntry], list[np.ndarray]]:
        entries = [_seasonal(r) for r in raw]
        edges = [np.flatnonzero(self._edge_distance_km(e.lat, e.lon) <= r.get("radius_km", 10.0))
                 for e, r in zip(entries, raw)]
        return entries, edges

    def _edge_distance_km(self, lat: float, lon: float) -> np.ndarray:
        """Distance from a point to every edge segment (local equirectangular projection)."""
        kx = np.radians(1.0) * EARTH_RADIUS_KM * np.cos(np.radians(lat))
        ky = np.radians(1.0) * EARTH_RADIUS_KM
        ax, ay = (self.lon[self.edge_a] - lon) * kx, (self.lat[self.edge_a] - lat) * ky
        bx, by = (self.lon[self.edge_b] - lon) * kx, (self.lat[self.edge_b] - lat) * ky
        dx, dy = bx - ax, by - ay
        length2 = np.maximum(dx * dx + dy * dy, 1e-12)
        t = np.clip(-(ax * dx + ay * dy) / length2, 0.0, 1.0)
        return np.hypot(ax + t * dx, ay + t * dy)


# ---- loading ----------------------------------------------------------------------------


@cache
def load_road_graph() -> RoadGraph:
    """The shipped graph with its places, crossings and seasonal entries (loaded once)."""
    folder = resources.files("silkcharge.data") / "roads"
    with resources.as_file(folder / "highways.npz") as path, np.load(path) as arrays:
        data = {k: arrays[k] for k in arrays.files}
    corrections = [c["id"] for c in _read_json(folder / "corrections.json")["corrections"]]
    with resources.as_file(folder / "elevation.npz") as path:
        elev = node_elevations(path, data["lat_e3"], data["lon_e3"])
    arrays = add_curated_roads(
        lat=data["lat_e3"] / 1000.0, lon=data["lon_e3"] / 1000.0, edge_a=data["edge_a"],
        edge_b=data["edge_b"], km=data["km"].astype(float), km_osm=data["km_osm"].astype(float),
        correction=data["correction"], corrections=corrections,
        country=data["countries"][data["country"]], elev=elev,
        roads=_read_json(folder / "profiles.json")["roads"])
    return RoadGraph(
        **arrays,
        places=_read_json(folder / "places.json")["places"],
        crossings=_read_json(folder / "borders.json")["crossings"],
        seasonal=_read_json(folder / "seasonal.json")["entries"],
    )


def node_elevations(path: object, lat_e3: np.ndarray, lon_e3: np.ndarray) -> np.ndarray:
    """The heights of ``elevation.npz`` for the nodes of ``highways.npz`` (given by their
    coordinates), in metres. Refuses a file built for another node list: a rebuilt road graph
    needs ``scripts/build_elevations.py`` run again."""
    with np.load(path) as arrays:
        elev, meta = arrays["elev_m"], json.loads(str(arrays["meta"]))
    crc = zlib.crc32(np.asarray(lat_e3, dtype="<i4").tobytes()
                     + np.asarray(lon_e3, dtype="<i4").tobytes())
    if len(elev) != len(lat_e3) or meta["coords_crc32"] != crc:
        raise ValueError("elevation.npz was built for another road graph: run "
                         "scripts/build_elevations.py after scripts/build_road_graph.py")
    return elev.astype(float)


def add_curated_roads(*, lat: np.ndarray, lon: np.ndarray, edge_a: np.ndarray,
                      edge_b: np.ndarray, km: np.ndarray, km_osm: np.ndarray,
                      correction: np.ndarray, corrections: Sequence[str], country: np.ndarray,
                      roads: Iterable[dict], elev: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The graph arrays with the curated roads of ``profiles.json`` added.

    ``elev`` gives the existing nodes' heights (NaN, unknown, when omitted); the new waypoint
    nodes carry their own ``elev_m``.

    Each waypoint of a road that ``adds_road`` becomes a node (with its elevation), joined to the
    next by an edge of their km difference and the waypoint's road class; a waypoint with
    ``join_km`` is linked to the nearest existing node of its country within that distance. A
    waypoint's country is the road's unless it says its own (``country``): a road over a border
    pass changes country there, and the edge between its last waypoint on one side and its first
    on the other is a border edge that the listed crossing near it claims. The simplified edges the road stands for (``replaces``: pairs of end points) are
    dropped, and the length correction it replaces (``replaces_correction``) is undone: its
    remaining edges go back to their OSM km, since the real road is now in the graph.
    """
    roads = list(roads)
    keep = np.ones(len(edge_a), dtype=bool)
    for road in roads:
        for (lat_a, lon_a), (lat_b, lon_b) in road.get("replaces", ()):
            at_a = np.isclose(lat[edge_a], lat_a, atol=6e-4) & np.isclose(lon[edge_a], lon_a, atol=6e-4)
            at_b = np.isclose(lat[edge_b], lat_b, atol=6e-4) & np.isclose(lon[edge_b], lon_b, atol=6e-4)
            hit = at_a & at_b
            hit |= (np.isclose(lat[edge_b], lat_a, atol=6e-4) & np.isclose(lon[edge_b], lon_a, atol=6e-4)
                    & np.isclose(lat[edge_a], lat_b, atol=6e-4) & np.isclose(lon[edge_a], lon_b, atol=6e-4))
            if not hit.any():
                raise ValueError(f"{road['id']}: no graph edge between {lat_a, lon_a} and {lat_b, lon_b}")
            keep &= ~hit
    edge_a, edge_b = np.asarray(edge_a)[keep], np.asarray(edge_b)[keep]
    km, km_osm = np.asarray(km, dtype=float)[keep], np.asarray(km_osm, dtype=float)[keep]
    correction = np.asarray(correction)[keep]
    lat, lon, country = list(lat), list(lon), list(country)
    edge_a, edge_b = list(edge_a), list(edge_b)
    base_nodes = len(lat)
    base_country = np.asarray(country)
    base_lat, base_lon = np.asarray(lat, dtype=float), np.asarray(lon, dtype=float)
    elev = (list(np.asarray(elev, dtype=float)) if elev is not None
            else [np.nan] * base_nodes)
    klass = [0] * len(edge_a)
    extra_km: list[float] = []
    for road in roads:
        replaced = road.get("replaces_correction")
        if replaced in corrections:
            undo = np.asarray(correction) == corrections.index(replaced)
            km[undo] = km_osm[undo]
        if not road.get("adds_road"):
            continue
        previous = None
        for point in road["points"]:
            node = len(lat)
            where = point.get("country", road["country"])
            lat.append(point["lat"])
            lon.append(point["lon"])
            country.append(where)
            elev.append(float(point["elev_m"]))
            if previous is not None:
                edge_a.append(previous[0])
                edge_b.append(node)
                extra_km.append(float(point["km"] - previous[1]))
                klass.append(ROAD_CLASSES.index(point.get("class", "main")))
            if "join_km" in point:
                dist = _haversine_array(base_lat, base_lon, point["lat"], point["lon"])
                dist = np.where(base_country == where, dist, np.inf)
                near = int(np.argmin(dist))
                if dist[near] <= point["join_km"]:
                    edge_a.append(near)
                    edge_b.append(node)
                    extra_km.append(max(float(dist[near]), 0.01))
                    klass.append(0)
            previous = (node, point["km"])
    added = np.asarray(extra_km, dtype=float)
    all_km = np.concatenate([km, added])
    return {
        "lat": np.asarray(lat, dtype=float), "lon": np.asarray(lon, dtype=float),
        "edge_a": np.asarray(edge_a), "edge_b": np.asarray(edge_b), "km": all_km,
        "km_osm": np.concatenate([km_osm, added]), "country": np.asarray(country),
        "elev": np.asarray(elev, dtype=float), "edge_class": np.asarray(klass, dtype=np.int8),
    }


def _read_json(resource: object) -> dict:
    return json.loads(resource.read_text(encoding="utf-8"))  # type: ignore[attr-defined]


# ---- helpers ----------------------------------------------------------------------------


def _key(name: str) -> str:
    return " ".join(name.casefold().replace("-", " ").replace("'", "").split())


def _in_window(day: date, start: str, end: str) -> bool:
    """Whether ``day`` lies in the yearly window start..end (MM-DD, may wrap the new year)."""
    md = day.strftime("%m-%d")
    return start <= md <= end if start <= end else md >= start or md <= end


def _haversine_array(lat: np.ndarray, lon: np.ndarray, lat0: float, lon0: float) -> np.ndarray:
    phi, phi0 = np.radians(lat), np.radians(lat0)
    h = (np.sin((phi - phi0) / 2) ** 2
         + np.cos(phi) * np.cos(phi0) * np.sin(np.radians(lon - lon0) / 2) ** 2)
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.minimum(h, 1.0)))


def _crossing(raw: dict) -> BorderCrossing:
    return BorderCrossing(
        id=raw["id"], name=raw["name"], countries=tuple(raw["countries"]),  # type: ignore[arg-type]
        lat=raw["lat"], lon=raw["lon"], typical_wait_min=raw["typical_wait_min"],
        open_to_private_cars=raw["open_to_private_cars"], notes=tuple(raw.get("notes", ())),
        source=raw["source"], confidence=raw["confidence"],
        open_days=tuple(raw.get("open_days", range(7))), opens=raw.get("opens", "00:00"),
        closes=raw.get("closes", "24:00"), timezone=raw.get("timezone", "UTC"),
    )


def _seasonal(raw: dict) -> SeasonalEntry:
    window = raw.get("may_close")
    return SeasonalEntry(
        id=raw["id"], name=raw["name"], road=raw.get("road", ""), lat=raw["lat"], lon=raw["lon"],
        may_close=(window["from"], window["to"]) if window else None,
        closed=tuple((w["from"], w["to"]) for w in raw.get("closed", ())),
        closed_weekdays=tuple(raw.get("closed_weekdays", ())),
        notes=tuple(raw.get("notes", ())), source=raw["source"], confidence=raw["confidence"],
    )
