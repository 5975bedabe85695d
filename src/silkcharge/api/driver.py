"""Driver routes: live availability search with prices, and reservations.

Open to drivers without an API key. Search changes no stored data: a `token` only chooses
which tariff prices the results (a fleet's concession, a resident's price); an unknown token
prices as a regular driver, so search never reveals which tokens exist.

Reservations need a logged-in driver (`api/accounts.py`): they are made for one of the
driver's own idTokens, and a driver sees and cancels only reservations for those tokens. With
data residency they are made at stations of every operator's database (services/reservations.py).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from silkcharge.api import models as m
from silkcharge.api.accounts import Driver, DriverReservationIn, DriverStartIn, own_token
from silkcharge.api.bounds import Finite, FiniteDecimal, OcppId, SmallRowId
from silkcharge.api.errors import STATION_CALL, answers
from silkcharge.roaming.commands import CommandFailed
from silkcharge.roaming.driver_start import (
    DriverStarts,
    NotStartable,
    PartyUnreachable,
    TokenDoesNotRoam,
)
from silkcharge.services.reservations import ReservationRequest
from silkcharge.services.search import (
    MAX_KWH,
    MAX_LIMIT,
    MAX_MINUTES,
    MAX_RADIUS_KM,
    BoundingBox,
    ConnectorResult,
    ForeignPrice,
    InvalidSearch,
    Quote,
    SearchQuery,
    SiteResult,
    standard_of,
)
from silkcharge.store.schema import RoamingCommand

router = APIRouter()


@router.get("/search/stations", tags=["driver"])
async def search_stations(
    request: Request,
    lat: Annotated[Finite | None, Query(
        ge=-90, le=90, description="where the driver is (or the centre to measure from)")] = None,
    lon: Annotated[Finite | None, Query(ge=-180, le=180)] = None,
    radius_km: Annotated[Finite, Query(gt=0, le=MAX_RADIUS_KM)] = 10.0,
    min_lat: Annotated[Finite | None, Query(
        ge=-90, le=90, description="bounding box instead of a radius: all four")] = None,
    min_lon: Annotated[Finite | None, Query(ge=-180, le=180)] = None,
    max_lat: Annotated[Finite | None, Query(ge=-90, le=90)] = None,
    max_lon: Annotated[Finite | None, Query(ge=-180, le=180)] = None,
    standard: str | None = Query(None, description="connector standard, e.g. 'GB/T DC', 'ccs2', 'Type 2'"),
    min_power_kw: Annotated[FiniteDecimal | None, Query(ge=0)] = None,
    operator: str | None = Query(None, description="operator code"),
    available: bool = Query(False, description="only sites with a matching connector free right now"),
    limit: int = Query(20, ge=1, le=MAX_LIMIT),
    kwh: Annotated[FiniteDecimal, Query(
        gt=0, le=MAX_KWH, description="energy of the session to price")] = Decimal(30),
    minutes: Annotated[FiniteDecimal | None, Query(
        gt=0, le=MAX_MINUTES, description="its length; default kwh at min(power, 50 kW)")] = None,
    token: str | None = Query(None, description="the driver's idToken, for concession prices"),
) -> dict[str, Any]:
    try:
        query = SearchQuery(
            lat=lat, lon=lon, radius_km=radius_km,
            bbox=_bbox(min_lat, min_lon, max_lat, max_lon), standard=standard_of(standard),
            min_power_kw=min_power_kw, operator=operator, available_now=available, limit=limit,
            kwh=kwh, minutes=minutes, token=token,
        )
    except InvalidSearch as exc:
        raise HTTPException(422, str(exc)) from None
    results = await request.app.state.platform.search.search(query)
    return {"count": len(results), "results": [_site(result) for result in results]}


@router.post(
    "/driver/reservations", response_model=m.ReservationOut, status_code=201, tags=["driver"],
    responses=answers(401, 403, 404, 410, *STATION_CALL),
)
async def reserve(body: DriverReservationIn, request: Request, driver: Driver):
    """Hold an EVSE for the logged-in driver's idToken until `expires_at` (at most a day ahead)."""
    token = own_token(driver, body.id_token)
    return await request.app.state.platform.reservations.reserve_for_driver(
        ReservationRequest(body.station_id, body.evse_id, body.connector_id, token, body.expires_at)
    )


@router.post(
    "/driver/start", response_model=m.CommandOut, tags=["driver"],
    responses=answers(401, 403, 404, 410, 422, *STATION_CALL),
)
async def start_charging(body: DriverStartIn, request: Request, driver: Driver):
    """Ask a station to start charging for the logged-in driver's idToken (a remote start): the
    station's answer comes back; the session begins when the station starts it (the car
    plugged in), and shows in `GET /api/v1/driver/sessions`."""
    token = own_token(driver, body.id_token)
    result = await request.app.state.platform.commands.start_for_driver(body.station_id, body.evse_id, token)
    return m.CommandOut(**result.__dict__)


class RoamingStartIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    party: str = Field(pattern=r"^[A-Za-z]{2}\*[A-Za-z0-9]{3}$",
                       description="the partner's party, as search shows it under `roaming` (e.g. KZ*SLK)")
    location_id: str = Field(min_length=1, max_length=36, description="the partner's location id (search: `roaming`)")
    evse_uid: str = Field(min_length=1, max_length=36, description="the EVSE's uid (search lists it as the station id)")
    id_token: str | None = Field(default=None, max_length=36, description=(
        "which of the driver's own tokens to charge with; default their first"))


class RoamingStartOut(BaseModel):
    id: int = Field(description="the command: read what became of it at GET /driver/roaming/commands/{id}")
    location_id: str | None
    evse_uid: str | None
    token_uid: str | None
    response: str | None = Field(description="the partner's CommandResponse: ACCEPTED, REJECTED, NOT_SUPPORTED")
    response_message: str | None
    result: str | None = Field(description="what the charger did, as the partner posted it (ACCEPTED, REJECTED, "
                                           "TIMEOUT, EVSE_OCCUPIED, ...); null until it arrives")
    result_message: str | None
    created_at: datetime
    result_at: datetime | None


def _roaming_start(row: RoamingCommand) -> RoamingStartOut:
    return RoamingStartOut(
        id=row.id, location_id=row.request.get("location_id"), evse_uid=row.request.get("evse_uid"),
        token_uid=row.token_uid, response=row.response, response_message=row.response_message, result=row.result,
        result_message=row.result_message, created_at=row.created_at, result_at=row.result_at)


def _starts(request: Request) -> DriverStarts:
    roaming = getattr(request.app.state.platform, "roaming", None)
    if roaming is None or roaming.driver_starts is None:
        raise HTTPException(503, "roaming is not set up on this network")
    return roaming.driver_starts


@router.post(
    "/driver/roaming/start", response_model=RoamingStartOut, status_code=201, tags=["driver"],
    responses=answers(401, 403, 404, 410, 502, 503),
)
async def start_at_partner(body: RoamingStartIn, request: Request, driver: Driver):
    """Start charging at a roaming partner's charger for the logged-in driver's token: the
    partner is sent OCPI START_SESSION and its answer comes back (`response`); what the charger
    did follows as `result` (GET /driver/roaming/commands/{id}). 502 when the partner could not
    be asked or did not answer; 503 when its hub reports the charger's party offline."""
    token = own_token(driver, body.id_token)
    try:
        row = await _starts(request).start(token, body.party, body.location_id, body.evse_uid)
    except NotStartable as exc:
        raise HTTPException(404, str(exc)) from None
    except TokenDoesNotRoam as exc:
        raise HTTPException(422, str(exc)) from None
    except PartyUnreachable as exc:
        raise HTTPException(503, str(exc)) from None
    except CommandFailed as exc:
        raise HTTPException(502, str(exc)) from None
    return _roaming_start(row)


@router.get(
    "/driver/roaming/commands/{command_id}", response_model=RoamingStartOut, tags=["driver"],
    responses=answers(401, 404, 410, 503),
)
async def partner_start(command_id: SmallRowId, request: Request, driver: Driver):
    """One of the driver's starts at a partner's charger, with the partner's answer and result."""
    row = await _starts(request).command_of(list(driver.tokens), command_id)
    if row is None:
        raise HTTPException(404, f"no start {command_id} of yours")
    return _roaming_start(row)


@router.get(
    "/driver/reservations", response_model=list[m.ReservationOut], tags=["driver"],
    responses=answers(401, 410),
)
async def my_reservations(request: Request, driver: Driver):
    """The logged-in driver's reservations, newest first."""
    return await request.app.state.platform.drivers.reservations_of(driver)


@router.delete(
    "/driver/reservations/{reservation_id}", response_model=m.ReservationOut, tags=["driver"],
    responses=answers(401, 404, 409, 410, *STATION_CALL),
)
async def cancel_reservation(
    reservation_id: OcppId, request: Request, driver: Driver,
    station_id: str | None = Query(None, max_length=48, description=(
        "the reservation's station: reservation ids are per operator database, so a driver may hold "
        "two active ones with one id (409 until this says which)")),
):
    """Cancel one of the driver's own reservations; anyone else's answers 404."""
    return await request.app.state.platform.reservations.cancel_for_driver(
        reservation_id, driver.tokens, station_id)


def _bbox(*edges: float | None) -> BoundingBox | None:
    given = [edge is not None for edge in edges]
    if not any(given):
        return None
    if not all(given):
        raise InvalidSearch("a bounding box needs all of min_lat, min_lon, max_lat, max_lon")
    return BoundingBox(*edges)


def _site(result: SiteResult) -> dict[str, Any]:
    site = result.site
    return {
        "site": {"code": site.code, "name": site.name, "city": site.city, "lat": site.lat,
                 "lon": site.lon, "timezone": site.timezone, "operator": site.operator},
        "roaming": None if site.roaming is None else {
            "partner": site.roaming.partner, "party": site.roaming.party, "location_id": site.roaming.location_id},
        "distance_km": round(result.distance_km, 3),
        "available": result.available,
        "last_status_at": _time(result.last_status_at),
        "stations": [
            {"id": station.id, "offline": station.offline, "status": station.status,
             "connectors": [_connector(c) for c in station.connectors]}
            for station in result.stations
        ],
    }


def _connector(c: ConnectorResult) -> dict[str, Any]:
    return {
        "evse_id": c.evse_id, "connector_id": c.connector_id, "standard": c.standard,
        "max_power_kw": str(c.max_power_kw), "status": c.status, "error_code": c.error_code,
        "status_at": _time(c.status_at), "in_session": c.in_session, "available": c.available,
        "price": _price(c.price),
    }


def _price(quote: Quote) -> dict[str, Any]:
    """Money as exact decimal strings with their currency; amounts null with a reason when no
    tariff applies to this driver here."""
    return {
        "currency": quote.currency,
        "total_incl_vat": _amount(quote.total_incl_vat),
        "total_excl_vat": _amount(quote.total_excl_vat),
        "tariff": quote.tariff,
        "capped_by": quote.capped_by,
        "reason": quote.reason,
        "session": {"kwh": str(quote.kwh), "minutes": _amount(quote.minutes),
                    "start_local": quote.start_local.isoformat()},
        "roaming": None if quote.foreign is None else _foreign(quote.foreign),
    }


def _foreign(price: ForeignPrice) -> dict[str, Any]:
    """At a roaming partner's connector: the partner's price, and the rate that made ours."""
    return {
        "currency": price.currency, "total_incl_vat": str(price.total_incl_vat),
        "total_excl_vat": str(price.total_excl_vat), "rate": _amount(price.rate),
        "rate_valid_on": None if price.rate_valid_on is None else price.rate_valid_on.isoformat(),
        "rate_source": price.rate_source, "rate_problem": price.rate_problem,
    }


def _amount(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _time(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()
