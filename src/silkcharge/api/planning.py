"""Planning routes: corridors, coverage gaps, siting and adequacy for the stored network.
Everything that reads the stored sites computes on a worker thread (`api.heavy`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Literal, TypeVar

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, Field

from silkcharge.api.heavy import off_loop
from silkcharge.planning import analysis
from silkcharge.planning.adequacy import power_per_ev
from silkcharge.planning.corridors import PlanningInputError, load_corridors
from silkcharge.planning.siting import Candidate
from silkcharge.planning.store import load_store_sites
from silkcharge.trips.roads import load_road_graph

router = APIRouter(prefix="/planning", tags=["planning"])
T = TypeVar("T")

NETWORK_NOTE = ("computed from the stations in this platform's store; if that is the shipped "
                "seed network, it is an illustrative sample and so are these figures")


class Plot(BaseModel):
    id: str
    name: str
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    kw: float = Field(400.0, gt=0)


class SitingRequest(BaseModel):
    mode: Literal["corridor", "city"] = Field(
        "corridor", description="corridor: flow refuelling over corridor trips; city: maximal "
                                "coverage of a city's population on a hex grid")
    budget: int | None = Field(None, description="number of new sites")
    budget_kw: float | None = Field(None, description="total kW of the new sites")
    corridors: list[str] | None = None
    standard: str = "gbt_dc"
    range_km: float | None = Field(None, gt=0)
    every_km: float = Field(25.0, gt=0)
    method: str = "auto"
    plots: list[Plot] = []
    city: str | None = Field(None, description="city mode: a place name, e.g. Almaty")
    radius_km: float = Field(10.0, gt=0, description="city mode: demand within this radius")
    population: float | None = Field(None, gt=0, description="city mode: default from data")
    decay_km: float | None = Field(None, gt=0, description="city mode: exponential decay scale")
    cover_km: float = Field(2.0, gt=0, description="city mode: a pool covers cells this near")


async def _with_sites(request: Request, compute: Callable[[list], T]) -> T:
    """`compute(stored sites)` on a worker thread, with the sites read there too: siting
    solves and coverage walks take seconds and must not hold the event loop (`api.heavy`)."""
    async def job(sessions) -> T:
        return compute(await load_store_sites(sessions))

    return await off_loop(request, job)


def _bad(exc: Exception) -> HTTPException:
    return HTTPException(422, str(exc))


@router.get("/corridors")
async def corridors() -> list[dict[str, Any]]:
    graph = await asyncio.to_thread(load_road_graph)
    out = []
    for c in load_corridors():
        places = [{"name": p, "lat": graph.place(p).lat, "lon": graph.place(p).lon}
                  for p in c.places]
        out.append({"id": c.id, "name": c.name, "places": places, "source": c.source})
    return out


@router.get("/coverage")
async def coverage(request: Request, corridor: list[str] | None = Query(None),
                   standard: str | None = None, rule: str = "afir",
                   buffer_km: float = Query(5.0, gt=0)) -> dict[str, Any]:
    try:
        result = await _with_sites(request, lambda sites: analysis.coverage(
            load_road_graph(), sites, corridor, standard, rule, buffer_km))
    except (PlanningInputError, ValueError) as exc:
        raise _bad(exc) from None
    return {"note": NETWORK_NOTE, "coverage": analysis.jsonable(result)}


@router.post("/siting")
async def siting(request: Request, body: SitingRequest) -> dict[str, Any]:
    """Where to build: FRLM over corridor trips, or (``mode: city``) MCLP over a city's people."""
    plots = [Candidate(p.id, p.name, p.lat, p.lon, "plot", p.kw) for p in body.plots]

    def solve(sites: list) -> Any:
        if body.mode == "city":
            return analysis.city_siting(
                load_road_graph(), sites, body.city, body.budget, body.budget_kw,
                body.standard, body.radius_km, body.population, decay_km=body.decay_km,
                cover_km=body.cover_km, plots=plots, method=body.method)
        return analysis.corridor_siting(
            load_road_graph(), sites, body.budget, body.corridors, body.standard, body.range_km,
            body.every_km, plots, body.method, budget_kw=body.budget_kw)

    try:
        if body.mode == "city" and not body.city:
            raise PlanningInputError("city mode needs a city, e.g. \"city\": \"Almaty\"")
        answer = await _with_sites(request, solve)
    except (PlanningInputError, ValueError) as exc:
        raise _bad(exc) from None
    return {"note": NETWORK_NOTE, "mode": body.mode, **analysis.jsonable(answer)}


@router.get("/adequacy")
async def adequacy(request: Request) -> dict[str, Any]:
    areas = await _with_sites(request, lambda sites: analysis.jsonable(power_per_ev(sites)))
    return {
        "note": "EV and station counts are sourced (fleet.json); kW per EV is " + NETWORK_NOTE,
        "areas": areas,
    }
