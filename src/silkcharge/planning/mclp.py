"""The city maximal-coverage instance: people on a hex grid, pools within ``cover_km`` cover them.

Demand is the simple assumption of ``hexgrid.demand_grid``. Existing DC pools of the standard
cover their cells already (the baseline); candidates are given plots or, by default, the
centres of a coarser hex grid over the same city (every location a planner could pick).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from silkcharge.domain.connectors import ConnectorStandard
from silkcharge.domain.geo import EARTH_RADIUS_KM
from silkcharge.planning.corridors import PlanningInputError
from silkcharge.planning.hexgrid import HexCell, demand_grid, hex_grid
from silkcharge.planning.network import ChargingSite
from silkcharge.planning.siting import Candidate, CoverInstance

COVER_KM = 2.0


def grid_candidates(city: str, lat: float, lon: float, radius_km: float, spacing_km: float,
                    kw: float = 120.0) -> list[Candidate]:
    return [Candidate(f"{city}:hex{q},{r}", f"{city} grid point {q},{r}", round(la, 5),
                      round(lo, 5), "plot", kw)
            for q, r, la, lo in hex_grid(lat, lon, radius_km, spacing_km)]


def city_instance(cells: Sequence[HexCell], candidates: Sequence[Candidate],
                  sites: Sequence[ChargingSite], standard: ConnectorStandard | None,
                  cover_km: float = COVER_KM) -> CoverInstance:
    if cover_km <= 0:
        raise PlanningInputError(f"cover_km must be positive, got {cover_km}")
    if not cells:
        raise PlanningInputError("no demand cells")
    lat = np.array([c.lat for c in cells])
    lon = np.array([c.lon for c in cells])
    existing = [s for s in sites if s.dc_points(standard)]
    covered = np.zeros(len(cells), dtype=bool)
    for s in existing:
        covered |= _km(lat, lon, s.lat, s.lon) <= cover_km
    lists: list[list[int]] = [[] for _ in cells]
    for k, c in enumerate(candidates):
        for i in np.flatnonzero(_km(lat, lon, c.lat, c.lon) <= cover_km):
            lists[i].append(k)
    weights, reqs, labels = [], [], []
    base = infeasible = 0.0
    n_base = n_inf = 0
    for i, cell in enumerate(cells):
        if covered[i]:
            base += cell.weight
            n_base += 1
        elif not lists[i]:
            infeasible += cell.weight
            n_inf += 1
        else:
            weights.append(cell.weight)
            reqs.append([np.asarray(lists[i], dtype=np.int64)])
            labels.append(f"hex {cell.q},{cell.r}")
    return CoverInstance(list(candidates), np.asarray(weights, dtype=float), reqs, labels, base,
                         n_base, infeasible, n_inf, unit="people")


def city_demand(lat: float, lon: float, radius_km: float, population: float,
                cell_km: float = 1.0, decay_km: float | None = None) -> list[HexCell]:
    return demand_grid(lat, lon, radius_km, population, cell_km, decay_km)


def _km(lat: np.ndarray, lon: np.ndarray, lat0: float, lon0: float) -> np.ndarray:
    ky = np.radians(1.0) * EARTH_RADIUS_KM
    kx = ky * np.cos(np.radians(lat0))
    return np.hypot((lon - lon0) * kx, (lat - lat0) * ky)
