"""Distances and directions on the Earth's surface, for road graphs, station siting and search.

Pure functions on WGS84 degrees. The sphere is good to about 0.5 % against the ellipsoid, which
is far below the error of any road distance this project handles.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from math import asin, atan2, cos, degrees, radians, sin, sqrt

import numpy as np

EARTH_RADIUS_KM = 6371.0088
"""The IUGG mean Earth radius."""


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in km between two points given in degrees."""
    phi1, phi2 = radians(lat1), radians(lat2)
    dphi, dlmb = phi2 - phi1, radians(lon2 - lon1)
    h = sin(dphi / 2) ** 2 + cos(phi1) * cos(phi2) * sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_KM * asin(min(1.0, sqrt(h)))


def bearing(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Initial compass bearing in degrees (0 = north, 90 = east) from the first point."""
    phi1, phi2 = radians(lat1), radians(lat2)
    dlmb = radians(lon2 - lon1)
    x = sin(dlmb) * cos(phi2)
    y = cos(phi1) * sin(phi2) - sin(phi1) * cos(phi2) * cos(dlmb)
    return (degrees(atan2(x, y)) + 360.0) % 360.0


def interpolate(
    lat1: float, lon1: float, lat2: float, lon2: float, fraction: float
) -> tuple[float, float]:
    """The point a fraction (0..1) of the way between two nearby points.

    Linear in degrees: exact enough for road-graph edges, which are a few km long.
    """
    return lat1 + (lat2 - lat1) * fraction, lon1 + (lon2 - lon1) * fraction


def project_onto_path(
    coords: Sequence[tuple[float, float]],
    cumulative_km: Sequence[float],
    lats: Iterable[float],
    lons: Iterable[float],
    chunk: int = 512,
) -> tuple[np.ndarray, np.ndarray]:
    """For each point: the km along the path of its nearest path point, and its distance (km)
    from the path. Each segment is treated as straight in a local equirectangular frame, which
    is exact enough for the few-km offsets it is used for."""
    lat = np.asarray(list(lats), dtype=float)
    lon = np.asarray(list(lons), dtype=float)
    path = np.asarray(coords, dtype=float)
    cum = np.asarray(cumulative_km, dtype=float)
    if len(path) == 1:
        path, cum = np.vstack([path, path]), np.concatenate([cum, cum])
    along = np.empty(len(lat))
    offset = np.empty(len(lat))
    for start in range(0, len(lat), chunk):
        part = slice(start, start + chunk)
        along[part], offset[part] = _project_chunk(path, cum, lat[part], lon[part])
    return along, offset


def _project_chunk(path: np.ndarray, cum: np.ndarray, lat: np.ndarray,
                   lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ky = np.radians(1.0) * EARTH_RADIUS_KM
    kx = ky * np.cos(np.radians(lat))[:, None]
    ax = (path[None, :-1, 1] - lon[:, None]) * kx
    ay = (path[None, :-1, 0] - lat[:, None]) * ky
    bx = (path[None, 1:, 1] - lon[:, None]) * kx
    by = (path[None, 1:, 0] - lat[:, None]) * ky
    dx, dy = bx - ax, by - ay
    t = np.clip(-(ax * dx + ay * dy) / np.maximum(dx * dx + dy * dy, 1e-12), 0.0, 1.0)
    dist = np.hypot(ax + t * dx, ay + t * dy)
    best = np.argmin(dist, axis=1)
    rows = np.arange(len(lat))
    seg = cum[1:] - cum[:-1]
    return cum[best] + t[rows, best] * seg[best], dist[rows, best]


# -- areas: jurisdictions a rule binds --------------------------------------------------------


def polygon_contains(rings: Sequence[Sequence[Sequence[float]]], lat: float, lon: float) -> bool:
    """Whether the point lies inside a polygon given as rings of [lon, lat] (GeoJSON order): the
    first ring is the outline, any further ring a hole. Even-odd ray casting in degrees, which
    is exact enough for a city's outline (no ring crosses the antimeridian or a pole). A point
    exactly on an edge may fall either way."""
    inside = False
    for ring in rings:
        if _ring_contains(ring, lat, lon):
            inside = not inside
    return inside


def _ring_contains(ring: Sequence[Sequence[float]], lat: float, lon: float) -> bool:
    inside = False
    previous = ring[-1]
    for point in ring:
        (x1, y1), (x2, y2) = previous[:2], point[:2]
        if (y1 > lat) != (y2 > lat) and lon < x1 + (lat - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
        previous = point
    return inside


def ring_area_km2(ring: Sequence[Sequence[float]]) -> float:
    """The area enclosed by a ring of [lon, lat], in km², on a local equirectangular projection
    (good for areas the size of a city)."""
    if len(ring) < 3:
        return 0.0
    mid_lat = radians(sum(p[1] for p in ring) / len(ring))
    kx, ky = radians(1) * EARTH_RADIUS_KM * cos(mid_lat), radians(1) * EARTH_RADIUS_KM
    twice = 0.0
    for (x1, y1), (x2, y2) in zip([p[:2] for p in ring], [p[:2] for p in [*ring[1:], ring[0]]]):
        twice += (x1 * kx) * (y2 * ky) - (x2 * kx) * (y1 * ky)
    return abs(twice) / 2
