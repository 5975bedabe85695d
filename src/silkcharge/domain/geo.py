"""Distances and directions on the Earth's surface, for road graphs, station siting and search.

Pure functions on WGS84 degrees. The sphere is good to about 0.5 % against the ellipsoid, which
is far below the error of any road distance this project handles.
"""

from __future__ import annotations

from math import asin, atan2, cos, degrees, radians, sin, sqrt

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
