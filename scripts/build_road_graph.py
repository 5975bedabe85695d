"""Build the routable road graph silkcharge ships, from the shared OSM-derived highway graph.

Usage: python scripts/build_road_graph.py <shared-data-dir> [--countries countries-10m.json]

Steps: keep the largest connected component; give every node a country by point-in-polygon
on Natural Earth 1:10m borders (npm ``world-atlas`` 2.0.2, ISC / public domain; fetched with
``npm pack`` when --countries is not given); apply the leg corrections of corrections.json;
write ``src/silkcharge/data/roads/highways.npz``; print a report of what was dropped, the
factors applied and how the reference legs route afterwards.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tarfile
import tempfile
from datetime import date
from pathlib import Path

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from silkcharge.trips.roads import RoadGraph  # noqa: E402

OUT = ROOT / "src" / "silkcharge" / "data" / "roads"
WORLD_ATLAS = "world-atlas@2.0.2"
ISO_NUMERIC = {
    "398": "KZ", "417": "KG", "860": "UZ", "762": "TJ", "795": "TM", "156": "CN", "643": "RU",
    "004": "AF", "364": "IR", "586": "PK", "496": "MN", "031": "AZ", "051": "AM", "268": "GE",
    "356": "IN", "792": "TR", "368": "IQ",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("shared", type=Path, help="the shared data folder (holds roads/)")
    parser.add_argument("--countries", type=Path, help="world-atlas countries-10m.json")
    args = parser.parse_args()

    raw = json.loads((args.shared / "roads" / "central_asia_highways.json").read_text())
    nodes = np.asarray(raw["nodes"], dtype=float)
    edges = np.asarray(raw["edges"], dtype=float)
    nodes, edges, dropped = largest_component(nodes, edges)
    print(f"kept {len(nodes)} nodes, {len(edges)} edges; dropped {dropped}")

    borders = read_country_polygons(args.countries or fetch_world_atlas())
    country = assign_countries(nodes, borders)
    codes = sorted(set(country))
    print("nodes per country:", {str(c): int((country == c).sum()) for c in codes})

    a, b, km_osm = edges[:, 0].astype(np.int64), edges[:, 1].astype(np.int64), edges[:, 2]
    graph = make_graph(nodes, a, b, km_osm.copy(), country, km_osm)
    report, corrected = apply_corrections(graph, json.loads((OUT / "corrections.json").read_text()))
    write_npz(nodes, a, b, graph.km, km_osm, corrected, country, codes, dropped, report)
    verify(make_graph(nodes, a, b, graph.km, country, km_osm), report)


def largest_component(nodes: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict]:
    n = len(nodes)
    a, b = edges[:, 0].astype(np.int64), edges[:, 1].astype(np.int64)
    adjacency = coo_matrix((edges[:, 2], (a, b)), shape=(n, n))
    count, label = connected_components(adjacency, directed=False)
    biggest = np.argmax(np.bincount(label))
    keep = np.flatnonzero(label == biggest)
    renumber = np.full(n, -1)
    renumber[keep] = np.arange(len(keep))
    kept = (renumber[a] >= 0) & (renumber[b] >= 0)
    out = np.column_stack([renumber[a[kept]], renumber[b[kept]], edges[kept, 2]])
    dropped = {"components": int(count - 1), "nodes": int(n - len(keep)),
               "edges": int(len(edges) - kept.sum())}
    return nodes[keep], out, dropped


def fetch_world_atlas() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="world-atlas-"))
    subprocess.run(["npm", "pack", WORLD_ATLAS, "--silent"], cwd=folder, check=True,
                   capture_output=True)
    tarball = next(folder.glob("world-atlas-*.tgz"))
    with tarfile.open(tarball) as archive:
        archive.extract("package/countries-10m.json", folder, filter="data")
    return folder / "package" / "countries-10m.json"


def read_country_polygons(path: Path) -> dict[str, list[list[np.ndarray]]]:
    """Decode the TopoJSON countries into rings of (lon, lat) per polygon, by ISO alpha-2."""
    topo = json.loads(path.read_text())
    (sx, sy), (tx, ty) = topo["transform"]["scale"], topo["transform"]["translate"]
    arcs = []
    for arc in topo["arcs"]:
        xy = np.cumsum(np.asarray(arc, dtype=float), axis=0)
        arcs.append(np.column_stack([xy[:, 0] * sx + tx, xy[:, 1] * sy + ty]))

    def ring(indices: list[int]) -> np.ndarray:
        parts = [arcs[i] if i >= 0 else arcs[~i][::-1] for i in indices]
        return np.vstack([parts[0]] + [p[1:] for p in parts[1:]])

    polygons: dict[str, list[list[np.ndarray]]] = {}
    for geometry in topo["objects"]["countries"]["geometries"]:
        code = ISO_NUMERIC.get(str(geometry.get("id")))
        if code is None or geometry["type"] not in ("Polygon", "MultiPolygon"):
            continue
        parts = geometry["arcs"] if geometry["type"] == "MultiPolygon" else [geometry["arcs"]]
        polygons[code] = [[ring(r) for r in polygon] for polygon in parts]
    return polygons


def assign_countries(nodes: np.ndarray, polygons: dict[str, list[list[np.ndarray]]]) -> np.ndarray:
    """Point-in-polygon (even-odd over a polygon's rings); nodes in none take the nearest
    assigned node's country (coasts of the Caspian and Aral, leased Baikonur)."""
    lat, lon = nodes[:, 0], nodes[:, 1]
    country = np.full(len(nodes), "", dtype="<U2")
    for code, parts in polygons.items():
        for rings in parts:
            outer = rings[0]
            box = ((lon >= outer[:, 0].min()) & (lon <= outer[:, 0].max())
                   & (lat >= outer[:, 1].min()) & (lat <= outer[:, 1].max()))
            idx = np.flatnonzero(box)
            if len(idx) == 0:
                continue
            inside = np.zeros(len(idx), dtype=bool)
            for r in rings:
                inside ^= in_ring(lon[idx], lat[idx], r)
            country[idx[inside]] = code
    missing = np.flatnonzero(country == "")
    known = np.flatnonzero(country != "")
    for i in missing:
        d = (lat[known] - lat[i]) ** 2 + ((lon[known] - lon[i]) * np.cos(np.radians(lat[i]))) ** 2
        country[i] = country[known[np.argmin(d)]]
    print(f"{len(missing)} nodes outside every polygon took their nearest node's country")
    return country


def in_ring(x: np.ndarray, y: np.ndarray, ring: np.ndarray) -> np.ndarray:
    rx, ry = ring[:, 0], ring[:, 1]
    nx, ny = np.roll(rx, -1), np.roll(ry, -1)
    inside = np.zeros(len(x), dtype=bool)
    for x0, y0, x1, y1 in zip(rx, ry, nx, ny):
        spans = (y0 > y) != (y1 > y)
        if spans.any():
            cross = x0 + (y[spans] - y0) * (x1 - x0) / (y1 - y0)
            inside[spans] ^= x[spans] < cross
    return inside


def make_graph(nodes, a, b, km, country, km_osm) -> RoadGraph:
    return RoadGraph(
        lat=nodes[:, 0], lon=nodes[:, 1], edge_a=a, edge_b=b, km=km, km_osm=km_osm,
        country=country,
        places=json.loads((OUT / "places.json").read_text())["places"],
        crossings=json.loads((OUT / "borders.json").read_text())["crossings"],
        seasonal=json.loads((OUT / "seasonal.json").read_text())["entries"],
    )


def apply_corrections(graph: RoadGraph, spec: dict) -> tuple[list[dict], np.ndarray]:
    """Scale the 'scaled' stretch of each leg's route so the leg routes at its reference km.

    Corrections are applied in file order on the progressively corrected graph. Lengthening
    a route can make another path the shortest, so each leg is re-routed and the new path's
    unscaled stretch edges scaled too, until the leg routes within 0.5 % of its reference (the last
    round may rescale this correction's own edges).
    An edge is scaled by one correction only.
    """
    corrected = np.full(graph.edge_count, -1)
    report = []
    for index, c in enumerate(spec["corrections"]):
        first = graph.shortest_path(*c["leg"]).km
        if abs(first - c["graph_km"]) > 3:
            print(f"warning: {c['id']} routes at {first:.0f} km, corrections.json says "
                  f"{c['graph_km']}")
        factors = []
        for _ in range(8):
            route = graph.shortest_path(*c["leg"])
            if abs(route.km - c["reference_km"]) <= 0.005 * c["reference_km"]:
                break
            stretch = np.asarray(stretch_edges(graph, route, c["scaled"]))
            if (~np.isin(corrected[stretch], (-1, index))).any():
                raise SystemExit(f"{c['id']}: overlaps an earlier correction")
            fresh = stretch[corrected[stretch] == -1]
            if len(fresh) == 0:
                fresh = stretch
            fresh_km = graph.km[fresh].sum()
            factor = (c["reference_km"] - (route.km - fresh_km)) / fresh_km
            if not 0.9 <= factor <= 1.6:
                raise SystemExit(f"{c['id']}: implausible factor {factor:.3f}")
            graph.km[fresh] *= factor
            corrected[fresh] = index
            factors.append(round(float(factor), 4))
        edges = int((corrected == index).sum())
        report.append({"id": c["id"], "leg": c["leg"], "graph_km": round(first, 1),
                       "reference_km": c["reference_km"], "factors": factors, "edges": edges})
        print(f"{c['id']}: {first:.0f} -> {c['reference_km']} km, factors {factors} "
              f"on {edges} edges")
    return report, corrected


def stretch_edges(graph: RoadGraph, route, names: list[str]) -> list[int]:
    start, end = (stretch_index(graph, route, name) for name in names)
    return [graph._edge_between(u, v)
            for u, v in zip(route.nodes[start:end], route.nodes[start + 1:end + 1])]


def stretch_index(graph: RoadGraph, route, name: str) -> int:
    place = graph.place(name)
    path = np.asarray(route.nodes)
    d = (graph.lat[path] - place.lat) ** 2 + (graph.lon[path] - place.lon) ** 2
    index = int(np.argmin(d))
    if np.sqrt(d[index]) * 111 > 25:
        raise SystemExit(f"{name} is not on the route being corrected")
    return index


def write_npz(nodes, a, b, km, km_osm, corrected, country, codes, dropped, report) -> None:
    meta = {
        "source": "central_asia_highways.json from scgraph-data 2.0.0 world_highways (OSM)",
        "licence": "ODbL-1.0, © OpenStreetMap contributors",
        "countries": "Natural Earth 1:10m via npm world-atlas 2.0.2",
        "built": date.today().isoformat(), "dropped": dropped, "corrections": report,
    }
    np.savez_compressed(
        OUT / "highways.npz",
        lat_e3=np.round(nodes[:, 0] * 1000).astype(np.int32),
        lon_e3=np.round(nodes[:, 1] * 1000).astype(np.int32),
        edge_a=a.astype(np.int32), edge_b=b.astype(np.int32),
        km=km.astype(np.float32), km_osm=km_osm.astype(np.float32),
        correction=corrected.astype(np.int8),
        country=np.searchsorted(codes, country).astype(np.uint8),
        countries=np.asarray(codes), meta=np.asarray(json.dumps(meta)),
    )
    size = (OUT / "highways.npz").stat().st_size
    print(f"wrote {OUT / 'highways.npz'} ({size / 1024:.0f} KiB)")


def verify(graph: RoadGraph, report: list[dict]) -> None:
    for c in report:
        km = graph.distance_km(*c["leg"])
        flag = "" if abs(km - c["reference_km"]) <= 0.02 * c["reference_km"] else "  <-- off"
        leg = "–".join(c["leg"])
        print(f"check {leg}: {km:.0f} km (reference {c['reference_km']}){flag}")
    for crossing in graph.crossings:
        claimed = int((graph.edge_crossing == graph.crossings.index(crossing)).sum())
        print(f"crossing {crossing.id}: {claimed} border edge(s)"
              + ("  <-- none: check its position" if claimed == 0 else ""))
    for entry, edges in zip(graph.seasonal, graph.seasonal_edges):
        print(f"seasonal {entry.id}: {len(edges)} edge(s)")
    for place in graph.places:
        if place.snap_km > 10:
            print(f"place {place.name} is {place.snap_km:.0f} km from the graph")


if __name__ == "__main__":
    main()
