"""What the web console needs beyond the operator API, and the console itself.

The error-code table, the command forms, the trip planner's places and a trip's line on the
map are reference data, not network state, so they need no key. The console's built files
(``silkcharge/web/static``, made by ``make web``) are served at ``/`` when they exist; the
page calls the API on the same origin.
"""

from __future__ import annotations

import gzip
import json
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Query, Request, Response
from fastapi.staticfiles import StaticFiles

from silkcharge.domain.commands import COMMANDS
from silkcharge.trips.basemap import cities_geojson, roads_geojson
from silkcharge.trips.network import load_charging_sites
from silkcharge.trips.roads import NoRoute, UnknownPlace, load_road_graph
from silkcharge.trips.texts import texts

SITE = "site:"
LANGUAGES = ("en", "ru", "kk", "uz", "ky", "tg", "zh")
"""The console's languages (web/src/i18n): the map labels its places in one of them."""
GEOJSON = "application/geo+json"
MAX_ROUTE_POINTS = 800

STATIC = Path(__file__).resolve().parent.parent / "web" / "static"

router = APIRouter(prefix="/console", tags=["console"])


@cache
def _error_codes() -> dict[str, Any]:
    return json.loads(files("silkcharge.data").joinpath("error_codes.json").read_text("utf-8"))


@router.get("/error-codes")
async def error_codes() -> dict[str, Any]:
    """Plain-language meaning of each station error code, and what to check first."""
    return _error_codes()


@router.get("/commands")
async def command_forms() -> dict[str, Any]:
    """Each command's parameters as JSON Schema, from which the console draws its forms."""
    return {name: params.model_json_schema() for name, params in COMMANDS.items()}


@router.get("/places")
async def places() -> list[dict[str, Any]]:
    """The places the trip planner knows by name, with where they are."""
    return [{"name": p.name, "country": p.country, "lat": p.lat, "lon": p.lon}
            for p in load_road_graph().places]


@router.get("/trip-map")
async def trip_map(
    request: Request,
    point: list[str] = Query(..., description="in driving order: a place name, or site:CODE for "
                                              "a charging stop; 2 to 12 points"),
) -> dict[str, Any]:
    """What a trip plan looks like on the map: its points located, and the road between its
    places (the shortest road, as the planner drives it, thinned to at most 800 coordinates)."""
    if not 2 <= len(point) <= 12:
        raise HTTPException(422, "give 2 to 12 points")
    roads = load_road_graph()
    sites = {site.code: site for site in await load_charging_sites(request.app.state.platform.sessions)}
    located = []
    try:
        for item in point:
            if item.startswith(SITE):
                site = sites.get(item[len(SITE):])
                if site is None:
                    raise HTTPException(422, f"no charging site {item[len(SITE):]}")
                located.append({"kind": "stop", "name": site.name, "code": site.code,
                                "lat": site.lat, "lon": site.lon})
            else:
                place = roads.place(item)
                located.append({"kind": "place", "name": place.name, "lat": place.lat, "lon": place.lon})
        # The plan drives the road between its places and stops beside it (within its corridor):
        # the line is that road. Routing from stop to stop instead could snap a stop to a node
        # of another road (a curated mountain road replaces the graph's own edges there).
        ends = [p for p in located if p["kind"] == "place"]
        ends = ends if len(ends) >= 2 else located
        line: list[tuple[float, float]] = []
        for a, b in zip(ends, ends[1:]):
            line.extend(roads.shortest_path((a["lat"], a["lon"]), (b["lat"], b["lon"])).coords)
    except (UnknownPlace, NoRoute) as exc:
        raise HTTPException(422, str(exc)) from None
    step = max(1, -(-len(line) // MAX_ROUTE_POINTS))
    thinned = line[::step] + ([line[-1]] if (len(line) - 1) % step else [])
    return {"points": located, "route": [[round(lat, 5), round(lon, 5)] for lat, lon in thinned]}


@cache
def _roads() -> tuple[bytes, bytes]:
    body = json.dumps(roads_geojson(load_road_graph()), separators=(",", ":")).encode()
    return body, gzip.compress(body, 6)


@router.get("/map/roads", response_class=Response,
            responses={200: {"content": {GEOJSON: {}}, "description": "GeoJSON"}})
async def map_roads(request: Request) -> Response:
    """The road network the planner drives (simplified OpenStreetMap, ODbL: see
    data/roads/README.md) as GeoJSON lines, for the maps' offline layer. About 380 kB, 85 kB
    gzipped; it changes only with the package, so browsers may keep it for a day."""
    plain, packed = _roads()
    headers = {"Cache-Control": "public, max-age=86400", "Vary": "Accept-Encoding"}
    if "gzip" in request.headers.get("accept-encoding", ""):
        return Response(packed, media_type=GEOJSON, headers={**headers, "Content-Encoding": "gzip"})
    return Response(plain, media_type=GEOJSON, headers=headers)


@router.get("/map/cities")
async def map_cities(
    lang: str = Query("en", pattern="^(" + "|".join(LANGUAGES) + ")$",
                      description="the console's language the labels are in"),
) -> dict[str, Any]:
    """The planner's places as GeoJSON points named in `lang` where data/roads/place_names.json
    has the name (else a related language's, else English), `major` for the ones labelled at
    every zoom."""
    return cities_geojson(load_road_graph(), lang)


@router.get("/road-texts")
async def road_texts(
    lang: str = Query("en", pattern="^(" + "|".join(LANGUAGES) + ")$",
                      description="the console's language"),
) -> dict[str, Any]:
    """The road data's texts in `lang`, by key: border crossings' and passes' names and notes,
    the words for opening hours and weekdays, the "unverified" marker (data/roads/notes.json
    and place_names.json). A trip plan's messages name them as `{key, params, unverified,
    text}`; the console words them with this table (see trips/texts.py)."""
    return {"language": lang, "texts": texts(lang)}


def install(app: FastAPI) -> None:
    """Add the console's routes and, if the console was built, serve it at `/`.
    Call it after every other route: the static mount at `/` matches everything else."""
    app.include_router(router, prefix="/api/v1")
    if (STATIC / "index.html").is_file():
        app.mount("/", StaticFiles(directory=STATIC, html=True), name="console")
