"""Driver routes: the vehicle catalog, connector compatibility and trip planning.

Open to drivers without an API key: nothing here changes stored data. Stations and their live
availability come from the platform's store. Planning and route searches read every site and
walk the road graph: they run on the platform's worker threads (`api.heavy`), a bounded number
at a time, never on the event loop the OCPP gateway shares.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import date, datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from silkcharge.api.errors import answers
from silkcharge.api.heavy import off_loop
from silkcharge.domain.compat import load_adapters, usable_standards
from silkcharge.domain.vehicles import CompareError, UnknownVehicle, Vehicle, load_catalog
from silkcharge.trips.energy import cycle_factor
from silkcharge.trips.network import (
    SiteIndex,
    load_charging_sites,
    sites_along,
    sites_near,
)
from silkcharge.trips.planner import (
    SessionPrice,
    TripError,
    TripPlan,
    TripRequest,
    plan_trip,
)
from silkcharge.trips.prices import TripPrices
from silkcharge.trips.roads import NoRoute, UnknownPlace, load_road_graph
from silkcharge.trips.texts import plain

log = logging.getLogger(__name__)
router = APIRouter()


def _vehicle(vehicle_id: str) -> Vehicle:
    try:
        return load_catalog().get(vehicle_id)
    except UnknownVehicle as exc:
        raise HTTPException(404, str(exc)) from None


def _summary(v: Vehicle) -> dict[str, Any]:
    return {
        "id": v.id, "name": v.name, "label": load_catalog().label(v), "make": v.make, "model": v.model, "trim": v.trim,
        "year": v.year, "market": str(v.market), "battery_kwh": v.battery_kwh,
        "consumption_wh_km": v.consumption_wh_km, "range_km": round(v.range_km()),
        "ac_inlets": [s.label for s in v.ac_inlets], "ac_kw": v.ac_kw,
        "dc_inlets": [s.label for s in v.dc_inlets], "dc_kw": v.dc_kw,
        "curve_source": str(v.curve_source), "curve_generic": v.has_default_curve,
        "consumption_basis": v.consumption_basis,
        "real_world_wh_km": round(v.consumption_wh_km * cycle_factor(v.consumption_basis), 1),
    }


# ---- catalog ----------------------------------------------------------------------------


@router.get("/vehicles")
async def search_vehicles(
    q: str | None = Query(None, description="words that must all occur in make, model, trim, year"),
    make: str | None = None,
    inlet: str | None = Query(None, description="a connector the car takes, e.g. 'GB/T DC'"),
    min_dc_kw: float | None = Query(None, ge=0),
    market: str | None = Query(None, description="CN, EU or global"),
    limit: int = Query(20, ge=1, le=2000),
) -> list[dict[str, Any]]:
    try:
        found = load_catalog().search(q, make=make, inlet=inlet, min_dc_kw=min_dc_kw,
                                      market=market, limit=limit)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    return [_summary(v) for v in found]


@router.get("/vehicles/compare", responses=answers(404))
async def compare_vehicles(ids: str = Query(..., description="2 to 4 ids, comma-separated")):
    try:
        rows = load_catalog().compare([i.strip() for i in ids.split(",") if i.strip()])
    except UnknownVehicle as exc:
        raise HTTPException(404, str(exc)) from None
    except CompareError as exc:
        raise HTTPException(422, str(exc)) from None
    return {"rows": {name: list(values) for name, values in rows.items()}}


@router.get("/vehicles/{vehicle_id}", responses=answers(404))
async def get_vehicle(vehicle_id: str) -> dict[str, Any]:
    v = _vehicle(vehicle_id)
    return {
        **_summary(v), "body": v.body, "chemistry": v.chemistry,
        "consumption_basis": v.consumption_basis, "rated_range_km": dict(v.rated_range_km),
        "voltage_class": v.voltage_class, "curve": [list(p) for p in v.curve.points],
        "curve_match": v.curve_match, "provenance": dict(v.provenance),
        "dc_10_80_min": round(v.dc_charge_hours(10, 80) * 60, 1),
    }


@router.get("/vehicles/{vehicle_id}/compatibility", responses=answers(404))
async def compatibility(
    request: Request,
    vehicle_id: str,
    adapters: bool = Query(True, description="also list plugs usable through an adapter"),
    lat: float | None = Query(None, ge=-90, le=90),
    lon: float | None = Query(None, ge=-180, le=180),
    radius_km: float = Query(25.0, gt=0, le=300),
    origin: str | None = None,
    destination: str | None = None,
    corridor_km: float = Query(15.0, gt=0, le=100),
) -> dict[str, Any]:
    """Plugs the vehicle can use; with lat/lon, the sites near that point where it can charge;
    with origin/destination, the sites along that route."""
    v = _vehicle(vehicle_id)
    carried = load_adapters() if adapters else ()
    answer: dict[str, Any] = {"vehicle": _summary(v), "standards": [
        {"standard": a.standard.label, "adapter": None if a.adapter is None else {
            "id": a.adapter.id, "name": a.adapter.name, "max_kw": a.adapter.max_kw,
            "confidence": a.adapter.confidence}}
        for a in usable_standards(v, carried)]}
    if (lat is None) != (lon is None):
        raise HTTPException(422, "give both lat and lon, or neither")
    if (origin is None) != (destination is None):
        raise HTTPException(422, "give both origin and destination, or neither")
    if lat is None and origin is None:
        return answer

    async def near_and_along(sessions) -> dict[str, Any]:
        found: dict[str, Any] = {}
        sites = await load_charging_sites(sessions)
        if lat is not None and lon is not None:
            found["near"] = [
                {**_choice(n.choice), "distance_km": round(n.distance_km, 1)}
                for n in sites_near(sites, v, lat, lon, radius_km, carried)]
        if origin is not None and destination is not None:
            roads = load_road_graph()
            route = roads.shortest_path(origin, destination)
            along = sites_along(SiteIndex(roads, sites), route, v, corridor_km, carried)
            found["along"] = {"route_km": round(route.km, 1), "sites": [
                {**_choice(s.choice), "km": round(s.km, 1), "detour_km": round(s.detour_km, 1)}
                for s in along]}
        return found

    try:
        answer.update(await off_loop(request, near_and_along))
    except (UnknownPlace, NoRoute) as exc:
        raise HTTPException(422, str(exc)) from None
    return answer


def _choice(choice) -> dict[str, Any]:
    site, option = choice.site, choice.option
    return {
        "site_code": site.code, "name": site.name, "lat": site.lat, "lon": site.lon,
        "country": site.country, "operator": site.operator,
        "standard": option.standard.label, "station_kw": option.station_kw,
        "power_kw": option.power_kw, "adapter": option.adapter.id if option.adapter else None,
        "availability": str(choice.availability), "roaming": site.roaming,
    }


# ---- trip planning ----------------------------------------------------------------------


class PlanIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    origin: str = Field(min_length=1, description="a place name, e.g. Almaty")
    destination: str = Field(min_length=1)
    vehicle_id: str = Field(min_length=1)
    via: list[str] = Field(default_factory=list, max_length=8)
    start_soc: float = 90.0
    min_arrival_soc: float = 10.0
    min_destination_soc: float = 15.0
    max_charge_soc: float = Field(100.0, description="a cap only: the plan charges to what the "
                                  "next legs need")
    overhead_min: float = 5.0
    speed_kmh: float = Field(80.0, description="on main roads; mountain roads and passes "
                             "drive at their own (lower) speeds")
    consumption_factor: float = Field(1.0, description="extra multiplier on the energy model; "
                                      "the weather comes from on_date or depart_at")
    avoid_borders: list[str] = Field(default_factory=list)
    prefer_operators: list[str] = Field(default_factory=list)
    exclude_operators: list[str] = Field(default_factory=list)
    use_adapters: bool = False
    on_date: date | None = None
    depart_at: datetime | None = None
    busy_wait_min: float | None = 20.0
    corridor_km: float = 15.0


@router.post("/trips/plan", responses=answers(404))
async def plan(request: Request, body: PlanIn) -> dict[str, Any]:
    v = _vehicle(body.vehicle_id)
    fields = body.model_dump(exclude={"vehicle_id"})
    trip = TripRequest(vehicle=v, **{k: tuple(x) if isinstance(x, list) else x
                                     for k, x in fields.items()})

    async def planned(sessions) -> TripPlan:
        """The store's sites and tariffs, the road graph and the planner, on a worker thread."""
        sites = await load_charging_sites(sessions)
        prices = await TripPrices.load(sessions, request.app.state.platform.settings.exchange_rate_max_age_days)
        return plan_trip(trip, SiteIndex(load_road_graph(), sites), price_session=prices.price)

    try:
        result = await off_loop(request, planned)
    except TripError as exc:
        return JSONResponse(status_code=422, content={  # type: ignore[return-value]
            "detail": exc.render("api"), **_jsonable(exc.explanation.as_dict("api"))})
    except UnknownPlace as exc:
        raise HTTPException(422, str(exc)) from None
    return plan_to_dict(result)


def _jsonable(explained: dict[str, Any]) -> dict[str, Any]:
    out = dict(explained)
    out.pop("message", None)
    out["params"] = {k: (v.isoformat() if isinstance(v, date) else v)
                     for k, v in out["params"].items()}
    return out


def plan_to_dict(plan: TripPlan) -> dict[str, Any]:
    """The plan as JSON: minutes and km rounded to 0.1, SoC to 0.1 %, times in UTC."""
    def legs() -> list[dict[str, Any]]:
        out = []
        for leg in plan.legs:
            item = asdict(leg)
            for key in ("km", "drive_min", "border_wait_min", "departure_soc", "arrival_soc",
                        "energy_kwh", "climb_m", "descent_m", "lowest_soc"):
                item[key] = round(item[key], 1)
            item["temp_c"] = None if leg.temp_c is None else round(leg.temp_c, 1)
            item["profile"] = [
                {"km": round(km, 1), "elevation_m": None if elev is None else round(elev),
                 "soc": round(soc, 1)} for km, elev, soc in leg.profile]
            item["depart_at"], item["arrive_at"] = _time(leg.depart_at), _time(leg.arrive_at)
            item["crossings"] = [{
                "id": c.id, "name": c.name, "countries": list(c.countries),
                "wait_min": c.wait_min, "hours": c.hours,
                "opening_wait_min": round(c.opening_wait_min, 1),
                "name_text": plain(c.name_text), "hours_text": plain(c.hours_text),
                "notes": plain(c.notes)} for c in leg.crossings]
            if leg.stop is not None:
                stop = item["stop"]
                for key in ("arrival_soc", "departure_soc", "energy_kwh", "charge_min",
                            "overhead_min", "wait_min"):
                    stop[key] = round(stop[key], 1)
                stop["average_kw"] = round(leg.stop.average_kw, 1)
                stop["cost"] = None if leg.stop.cost is None else _price(leg.stop.cost)
                stop["arrive_at"] = _time(leg.stop.arrive_at)
                stop["depart_at"] = _time(leg.stop.depart_at)
            out.append(item)
        return out

    return {
        "vehicle": {"id": plan.vehicle_id, "name": plan.vehicle_name},
        "origin": plan.origin, "destination": plan.destination, "via": list(plan.via),
        "legs": legs(),
        "totals": {
            "km": round(plan.km, 1), "route_km": round(plan.route_km, 1),
            "total_min": round(plan.total_min, 1), "drive_min": round(plan.drive_min, 1),
            "charge_min": round(plan.charge_min, 1), "overhead_min": round(plan.overhead_min, 1),
            "border_wait_min": round(plan.border_wait_min, 1),
            "energy_kwh": round(plan.energy_kwh, 1),
            "busy_wait_min": round(plan.busy_wait_min, 1), "stops": len(plan.stops),
            "arrival_soc": round(plan.arrival_soc, 1),
            "cost": [_price(c) for c in plan.priced_cost],
            "cost_complete": plan.unpriced_stops == 0,
            "unpriced_stops": plan.unpriced_stops,
        },
        "cost_note": ("each stop is priced for a regular driver by its site's tariff, at the time "
                      "the stop starts (now, without depart_at); totals are per currency, over the "
                      "stops that have a price, and never add one currency to another"),
        "warnings": list(plan.warnings),
        "notes": [_jsonable(n.as_dict("api")) | {"message": w}
                  for n, w in zip(plan.notes, plan.warnings)],
        "candidates": plan.candidates,
        "assumptions": {k: (v.isoformat() if isinstance(v, date) else v)
                        for k, v in plan.assumptions.items()},
    }


def _price(price: SessionPrice) -> dict[str, Any]:
    return {"amount": str(price.amount), "currency": price.currency,
            "amount_excl_vat": None if price.amount_excl_vat is None else str(price.amount_excl_vat),
            "tariff": price.tariff}


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()
