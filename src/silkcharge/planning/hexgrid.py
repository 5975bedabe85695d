"""A small axial hexagonal grid over a city, and demand spread on it.

Pointy-top hexagons of ``cell_km`` between neighbouring centres, in a local equirectangular
frame around the city centre (exact enough across a city). Demand is a simple assumption,
said as such: the city's population spread uniformly within ``radius_km`` of the centre, or
with an exponential decay of scale ``decay_km`` from the centre when given. Real demand follows
housing density, workplaces and home-charging access, which the project has no data for yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import cos, radians, sqrt

import numpy as np

from silkcharge.domain.geo import EARTH_RADIUS_KM


@dataclass(frozen=True)
class HexCell:
    q: int
    r: int
    lat: float
    lon: float
    weight: float


def hex_grid(lat: float, lon: float, radius_km: float, cell_km: float) -> list[tuple[int, int, float, float]]:
    """Cells (q, r, lat, lon) whose centres lie within ``radius_km`` of the centre."""
    if radius_km <= 0 or cell_km <= 0:
        raise ValueError("radius_km and cell_km must be positive")
    ky = radians(1.0) * EARTH_RADIUS_KM
    kx = ky * cos(radians(lat))
    n = int(radius_km / cell_km) + 2
    cells = []
    for q in range(-n, n + 1):
        for r in range(-n, n + 1):
            x = cell_km * (q + r / 2)
            y = cell_km * (sqrt(3) / 2) * r
            if x * x + y * y <= radius_km * radius_km:
                cells.append((q, r, lat + y / ky, lon + x / kx))
    return cells


def demand_grid(lat: float, lon: float, radius_km: float, population: float, cell_km: float = 1.0,
                decay_km: float | None = None) -> list[HexCell]:
    """The population spread over the grid's cells (weights sum to ``population``)."""
    cells = hex_grid(lat, lon, radius_km, cell_km)
    ky = radians(1.0) * EARTH_RADIUS_KM
    kx = ky * cos(radians(lat))
    dist = np.array([np.hypot((c[3] - lon) * kx, (c[2] - lat) * ky) for c in cells])
    raw = np.ones(len(cells)) if decay_km is None else np.exp(-dist / decay_km)
    weights = raw / raw.sum() * population
    return [HexCell(q, r, la, lo, float(w)) for (q, r, la, lo), w in zip(cells, weights)]
