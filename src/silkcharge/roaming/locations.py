"""The OCPI 2.2.1 Locations module, both roles.

- **CPO, Sender** (`cpo_router`, under /ocpi/cpo/2.2.1/locations): our sites as Locations
  (`PublishedLocations`, mapping in location_mapping.py), a paginated list filtered by
  `last_updated`, and one Location, EVSE or Connector by its ids. Read only.
- **eMSP, Receiver** (`emsp_router`, under /ocpi/emsp/2.2.1/locations): the Locations partner
  CPOs push to us (`ForeignLocations`, rows of `roaming_locations`), PUT and PATCH of a
  Location, an EVSE or a Connector, merged as location_merge.py says (an out-of-order update is
  acknowledged and regresses nothing), and GET of what we hold. A partner may only write the
  parties it is (its roles in the credentials); every object is checked in full before it is
  stored, and whatever a partner sends gets an OCPI answer, never a 500.

Each request runs in the tenant of the calling partner (roaming/auth.py `ocpi_caller`), so both
sides see only that tenant's sites and that tenant's received locations.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from silkcharge.domain.clock import utcnow
from silkcharge.domain.geo import haversine_km
from silkcharge.roaming.auth import Caller, PartyRole, ocpi_caller
from silkcharge.roaming.location_mapping import (
    ALPHA3,
    ConnectorFacts,
    SiteFacts,
    StationFacts,
    location_object,
    short_id,
)
from silkcharge.roaming.location_merge import (
    CONNECTOR,
    EVSE,
    LOCATION,
    Held,
    checked,
    patch_connector,
    patch_evse,
    patch_location,
    put_connector,
    put_evse,
    put_location,
    same_id,
)
from silkcharge.roaming.objects import check_object, cistring, our_party, read_json, refuse
from silkcharge.roaming.tariffs import tariffs_for_sites
from silkcharge.roaming.wire import OcpiError, Page, Status, ocpi_response
from silkcharge.store.schema import (
    Connector,
    Operator,
    RoamingLocation,
    RoamingSession,
    Site,
    Station,
)

log = logging.getLogger(__name__)

MODULE = "locations"
ENDPOINTS: list[tuple[str, str, str]] = [
    (MODULE, "SENDER", "cpo/2.2.1/locations"),
    (MODULE, "RECEIVER", "emsp/2.2.1/locations"),
]
NOT_FOUND = 404


def unknown_location(what: str) -> OcpiError:
    return OcpiError(Status.UNKNOWN_LOCATION, what, http_status=NOT_FOUND)


# -- CPO: our sites ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Stamp:
    site_id: int
    last_updated: datetime


class PublishedLocations:
    """Our sites as OCPI Locations, for the tenant in scope. A site with no connector has no
    EVSE and is not listed; a site whose country has no known alpha-3 code is not listed either
    (and logged), since OCPI could not say where it is."""

    def __init__(self, sessions: async_sessionmaker) -> None:
        self._sessions = sessions

    async def page(
        self, party: PartyRole, *, offset: int, limit: int,
        date_from: datetime | None = None, date_to: datetime | None = None,
    ) -> tuple[list[dict[str, Any]], int]:
        """One page of Locations (by site id) last updated in [date_from, date_to), and how many
        there are in all."""
        async with self._sessions() as session:
            stamps = [
                stamp for stamp in await self.stamps(session)
                if (date_from is None or stamp.last_updated >= date_from)
                and (date_to is None or stamp.last_updated < date_to)
            ]
            chosen = [stamp.site_id for stamp in stamps[offset:offset + limit]]
            objects = await self.objects(session, party, chosen)
        return [objects[site_id] for site_id in chosen if site_id in objects], len(stamps)

    async def location(self, party: PartyRole, location_id: str) -> dict[str, Any] | None:
        async with self._sessions() as session:
            site_id = await session.scalar(select(Site.id).where(func.upper(Site.code) == location_id.upper()))
            if site_id is None and "~" in location_id:
                long_codes = (await session.execute(
                    select(Site.id, Site.code).where(func.length(Site.code) > len(location_id))
                )).all()
                site_id = next((i for i, code in long_codes if same_id(short_id(code), location_id)), None)
            if site_id is None:
                return None
            return (await self.objects(session, party, [site_id])).get(site_id)

    async def stamps(self, session: AsyncSession) -> list[Stamp]:
        """Every publishable site's last_updated: the newest of the site row, its connectors (a
        status change updates the connector) and the tariffs that may apply there."""
        sites = (await session.execute(
            select(Site.id, Site.operator_id, Site.updated_at, Site.country).order_by(Site.id)
        )).all()
        connectors = dict((await session.execute(
            select(Station.site_id, func.max(Connector.updated_at))
            .join(Station, Station.id == Connector.station_id)
            .where(Station.site_id.is_not(None))
            .group_by(Station.site_id)
        )).all())
        tariffs = await tariffs_for_sites(session)
        stamps = []
        for site_id, operator_id, updated_at, country in sites:
            if site_id not in connectors:
                continue
            if country.upper() not in ALPHA3:
                log.warning("site %s is not published over OCPI: no alpha-3 code for country %s", site_id, country)
                continue
            newest = max(updated_at, connectors[site_id])
            changed = tariffs.changed_at(operator_id, site_id)
            if changed is not None:
                newest = max(newest, changed)
            stamps.append(Stamp(site_id, newest))
        return stamps

    async def objects(self, session: AsyncSession, party: PartyRole, site_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        if not site_ids:
            return {}
        sites = (await session.execute(
            select(Site, Operator.name).join(Operator, Operator.id == Site.operator_id).where(Site.id.in_(site_ids))
        )).all()
        stations = (await session.execute(
            select(Station.id, Station.site_id, Station.online, Station.planned, Station.status, Station.moved_to)
            .where(Station.site_id.in_(site_ids))
        )).all()
        station_site = {row.id: row.site_id for row in stations}
        connectors = (await session.scalars(
            select(Connector).where(Connector.station_id.in_(list(station_site)))
        )).all() if station_site else []
        tariffs = await tariffs_for_sites(session)
        now = utcnow()
        objects = {}
        for site, operator_name in sites:
            facts = SiteFacts(
                code=site.code, name=site.name, address=site.address, city=site.city, country=site.country,
                lat=site.lat, lon=site.lon, timezone=site.timezone, operator_name=operator_name,
                updated_at=site.updated_at,
            )
            own_stations = [
                StationFacts(row.id, bool(row.online), bool(row.planned), row.status, moved=row.moved_to is not None)
                for row in stations if row.site_id == site.id
            ]
            own_connectors = [
                ConnectorFacts(c.station_id, c.evse_id, c.connector_id, c.standard, c.max_power_kw, c.status, c.updated_at)
                for c in connectors if station_site.get(c.station_id) == site.id
            ]
            code = tariffs.for_roaming(site.operator_id, site.id, now)
            objects[site.id] = location_object(
                facts, own_stations, own_connectors,
                country_code=party.country_code, party_id=party.party_id,
                tariff_ids=[code] if code else [], tariffs_updated=tariffs.changed_at(site.operator_id, site.id),
            )
        return objects


cpo_router = APIRouter(prefix="/locations")


def _published(request: Request) -> PublishedLocations:
    return PublishedLocations(request.app.state.roaming.sessions)


@cpo_router.get("")
@cpo_router.get("/")
async def list_locations(request: Request, page: Page = Depends(), caller: Caller = Depends(ocpi_caller)) -> Response:
    party = await our_party(request, "CPO")
    objects, total = await _published(request).page(
        party, offset=page.offset, limit=page.limit, date_from=page.date_from, date_to=page.date_to,
    )
    return ocpi_response(objects, headers=page.headers(request, total))


async def _our_location(request: Request, location_id: str) -> dict[str, Any]:
    _check_ids(("location_id", location_id, 36))
    location = await _published(request).location(await our_party(request, "CPO"), location_id)
    if location is None:
        raise unknown_location(f"no location {location_id}")
    return location


def _evse_of(location: dict[str, Any], evse_uid: str) -> dict[str, Any]:
    evse = next((e for e in location["evses"] if same_id(e["uid"], evse_uid)), None)
    if evse is None:
        raise unknown_location(f"location {location['id']} has no EVSE {evse_uid}")
    return evse


def _connector_of(evse: dict[str, Any], connector_id: str) -> dict[str, Any]:
    connector = next((c for c in evse["connectors"] if same_id(c["id"], connector_id)), None)
    if connector is None:
        raise unknown_location(f"EVSE {evse['uid']} has no connector {connector_id}")
    return connector


@cpo_router.get("/{location_id}")
async def get_location(location_id: str, request: Request, caller: Caller = Depends(ocpi_caller)) -> Response:
    return ocpi_response(await _our_location(request, location_id))


@cpo_router.get("/{location_id}/{evse_uid}")
async def get_evse(location_id: str, evse_uid: str, request: Request, caller: Caller = Depends(ocpi_caller)) -> Response:
    return ocpi_response(_evse_of(await _our_location(request, location_id), evse_uid))


@cpo_router.get("/{location_id}/{evse_uid}/{connector_id}")
async def get_connector(
    location_id: str, evse_uid: str, connector_id: str, request: Request, caller: Caller = Depends(ocpi_caller),
) -> Response:
    evse = _evse_of(await _our_location(request, location_id), evse_uid)
    return ocpi_response(_connector_of(evse, connector_id))


# -- eMSP: the partners' locations ------------------------------------------------------------


@dataclass(frozen=True)
class NearbyLocation:
    """A partner's location near a point, for search and trip planning."""

    partner_id: int
    country_code: str
    party_id: str
    location_id: str
    distance_km: float
    body: dict[str, Any]


PlaceKey = tuple[str, str, str]
"""A partner CPO's location: (country code, party id, location id), as its Sessions name it."""


async def place_names(session: AsyncSession, keys: set[PlaceKey]) -> dict[PlaceKey, str]:
    """What the console calls partners' locations we hold (their `name`, else their address and
    city), by the keys asked for (`session_place`); a location we were never given is left out."""
    if not keys:
        return {}
    rows = await session.execute(
        select(RoamingLocation.country_code, RoamingLocation.party_id, RoamingLocation.location_id,
               RoamingLocation.body)
        .where(func.upper(RoamingLocation.location_id).in_({location for _, _, location in keys})))
    names: dict[PlaceKey, str] = {}
    for country, party, location, body in rows:
        key = (country.upper(), party.upper(), location.upper())
        if key not in keys or not isinstance(body, dict):
            continue
        name = body.get("name") or ", ".join(str(body[k]) for k in ("address", "city") if body.get(k))
        if name:
            names[key] = str(name)
    return names


def session_place(row: RoamingSession) -> PlaceKey | None:
    """The location a partner CPO's Session names (ids compared as OCPI's case-insensitive
    strings), or None when it names none."""
    location_id = row.body.get("location_id")
    if not isinstance(location_id, str) or not location_id:
        return None
    return row.country_code.upper(), row.party_id.upper(), location_id.upper()


class ForeignLocations:
    """The Locations partner CPOs pushed to us, in the tenant in scope."""

    def __init__(self, sessions: async_sessionmaker) -> None:
        self._sessions = sessions

    async def held(self, country_code: str, party_id: str, location_id: str) -> Held | None:
        async with self._sessions() as session:
            row = await self._row(session, country_code, party_id, location_id)
            return Held(row.body, row.stamps) if row is not None else None

    async def write(
        self, partner_id: int, country_code: str, party_id: str, location_id: str,
        change: Callable[[Held | None], Held],
    ) -> Held:
        """Apply `change` to what we hold of the location (None if nothing) and store the result
        once it is a valid Location; two writers of one location take turns (a row lock on
        PostgreSQL, the single writer on SQLite), a race to create it is retried once."""
        for attempt in (1, 2):
            try:
                async with self._sessions.begin() as session:
                    row = await self._row(session, country_code, party_id, location_id, lock=True)
                    result = change(Held(row.body, row.stamps) if row is not None else None)
                    refuse(check_object(result.body, LOCATION), "the location as merged")
                    if row is None:
                        row = RoamingLocation(
                            partner_id=partner_id, country_code=country_code.upper(), party_id=party_id.upper(),
                            location_id=location_id,
                        )
                        session.add(row)
                    row.partner_id = partner_id
                    row.body, row.stamps = result.body, result.stamps
                    row.publish = bool(result.body["publish"])
                    row.lat = float(result.body["coordinates"]["latitude"])
                    row.lon = float(result.body["coordinates"]["longitude"])
                    row.last_updated = result.last_updated
                    row.received_at = utcnow()
                return result
            except IntegrityError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    @staticmethod
    async def _row(
        session: AsyncSession, country_code: str, party_id: str, location_id: str, *, lock: bool = False,
    ) -> RoamingLocation | None:
        query = select(RoamingLocation).where(
            RoamingLocation.country_code == country_code.upper(),
            RoamingLocation.party_id == party_id.upper(),
            func.upper(RoamingLocation.location_id) == location_id.upper(),
        )
        if lock:
            query = query.with_for_update()
        return await session.scalar(query)

    async def near(
        self, lat: float, lon: float, radius_km: float, *, limit: int = 50, published_only: bool = True,
    ) -> list[NearbyLocation]:
        """The partners' locations within `radius_km` of a point, nearest first: only those that
        may be shown (`publish`) unless asked, and only those with an EVSE not REMOVED (OCPI's
        rule for an expired location). A bounding box on the indexed coordinates first, then
        the great-circle distance; not across the antimeridian, which no road here crosses."""
        dlat = radius_km / 111.2
        dlon = radius_km / (111.2 * max(math.cos(math.radians(lat)), 0.01))
        query = select(RoamingLocation).where(
            RoamingLocation.lat.between(lat - dlat, lat + dlat),
            RoamingLocation.lon.between(lon - dlon, lon + dlon),
        )
        if published_only:
            query = query.where(RoamingLocation.publish.is_(True))
        async with self._sessions() as session:
            rows = (await session.scalars(query)).all()
        found = []
        for row in rows:
            distance = haversine_km(lat, lon, row.lat, row.lon)
            live = any(evse.get("status") != "REMOVED" for evse in row.body.get("evses") or [])
            if distance <= radius_km and live:
                found.append(NearbyLocation(
                    row.partner_id, row.country_code, row.party_id, row.location_id, distance, row.body,
                ))
        found.sort(key=lambda item: item.distance_km)
        return found[:limit]


emsp_router = APIRouter(prefix="/locations")


def _check_ids(*ids: tuple[str, str, int]) -> None:
    problems: list[str] = []
    for name, value, length in ids:
        cistring(length)(value, name, problems)
    refuse(problems, "the URL")


def _check_party(caller: Caller, country_code: str, party_id: str) -> None:
    _check_ids(("country_code", country_code, 2), ("party_id", party_id, 3))
    if not caller.is_party(country_code, party_id):
        raise OcpiError(
            Status.INVALID_PARAMETERS,
            f"{country_code}/{party_id} is not a party of this partner; a CPO pushes only its own locations",
        )


def _expect(body: dict[str, Any], field: str, expected: str, where: str) -> None:
    if field in body and not same_id(body[field], expected):
        raise OcpiError(Status.INVALID_PARAMETERS, f"{field}: {body[field]!r} does not match {expected!r} in the URL ({where})")


def _foreign(request: Request) -> ForeignLocations:
    return ForeignLocations(request.app.state.roaming.sessions)


async def _held(request: Request, country_code: str, party_id: str, location_id: str) -> Held:
    held = await _foreign(request).held(country_code, party_id, location_id)
    if held is None:
        raise unknown_location(f"no location {country_code}/{party_id}/{location_id} has been pushed")
    return held


def _held_evse(held: Held, evse_uid: str) -> dict[str, Any]:
    evse = held.evse(evse_uid)
    if evse is None:
        raise unknown_location(f"location {held.body['id']} has no EVSE {evse_uid}")
    return evse


@emsp_router.get("/{country_code}/{party_id}/{location_id}")
async def emsp_get_location(
    country_code: str, party_id: str, location_id: str, request: Request, caller: Caller = Depends(ocpi_caller),
) -> Response:
    _check_party(caller, country_code, party_id)
    return ocpi_response((await _held(request, country_code, party_id, location_id)).body)


@emsp_router.get("/{country_code}/{party_id}/{location_id}/{evse_uid}")
async def emsp_get_evse(
    country_code: str, party_id: str, location_id: str, evse_uid: str, request: Request,
    caller: Caller = Depends(ocpi_caller),
) -> Response:
    _check_party(caller, country_code, party_id)
    return ocpi_response(_held_evse(await _held(request, country_code, party_id, location_id), evse_uid))


@emsp_router.get("/{country_code}/{party_id}/{location_id}/{evse_uid}/{connector_id}")
async def emsp_get_connector(
    country_code: str, party_id: str, location_id: str, evse_uid: str, connector_id: str, request: Request,
    caller: Caller = Depends(ocpi_caller),
) -> Response:
    _check_party(caller, country_code, party_id)
    held = await _held(request, country_code, party_id, location_id)
    connector = held.connector(evse_uid, connector_id)
    if connector is None:
        _held_evse(held, evse_uid)
        raise unknown_location(f"EVSE {evse_uid} has no connector {connector_id}")
    return ocpi_response(connector)


def _require(held: Held | None, what: str) -> Held:
    if held is None:
        raise unknown_location(what)
    return held


@emsp_router.put("/{country_code}/{party_id}/{location_id}")
async def emsp_put_location(
    country_code: str, party_id: str, location_id: str, request: Request, caller: Caller = Depends(ocpi_caller),
) -> Response:
    _check_party(caller, country_code, party_id)
    _check_ids(("location_id", location_id, 36))
    body = checked(read_json(await request.body()), LOCATION, "the location")
    _expect(body, "country_code", country_code, "a Location's country_code is its CPO's")
    _expect(body, "party_id", party_id, "a Location's party_id is its CPO's")
    _expect(body, "id", location_id, "a Location's id never changes")
    await _foreign(request).write(
        caller.partner_id, country_code, party_id, location_id, lambda held: put_location(held, body),
    )
    return ocpi_response(None)


@emsp_router.put("/{country_code}/{party_id}/{location_id}/{evse_uid}")
async def emsp_put_evse(
    country_code: str, party_id: str, location_id: str, evse_uid: str, request: Request,
    caller: Caller = Depends(ocpi_caller),
) -> Response:
    _check_party(caller, country_code, party_id)
    _check_ids(("location_id", location_id, 36), ("evse_uid", evse_uid, 36))
    body = checked(read_json(await request.body()), EVSE, "the EVSE")
    _expect(body, "uid", evse_uid, "an EVSE's uid never changes")
    missing = f"no location {country_code}/{party_id}/{location_id}: push the Location before its EVSEs"
    await _foreign(request).write(
        caller.partner_id, country_code, party_id, location_id, lambda held: put_evse(_require(held, missing), body),
    )
    return ocpi_response(None)


@emsp_router.put("/{country_code}/{party_id}/{location_id}/{evse_uid}/{connector_id}")
async def emsp_put_connector(
    country_code: str, party_id: str, location_id: str, evse_uid: str, connector_id: str, request: Request,
    caller: Caller = Depends(ocpi_caller),
) -> Response:
    _check_party(caller, country_code, party_id)
    _check_ids(("location_id", location_id, 36), ("evse_uid", evse_uid, 36), ("connector_id", connector_id, 36))
    body = checked(read_json(await request.body()), CONNECTOR, "the connector")
    _expect(body, "id", connector_id, "a connector's id never changes")

    def change(held: Held | None) -> Held:
        held = _require(held, f"no location {country_code}/{party_id}/{location_id}")
        _held_evse(held, evse_uid)
        return put_connector(held, evse_uid, body)

    await _foreign(request).write(caller.partner_id, country_code, party_id, location_id, change)
    return ocpi_response(None)


@emsp_router.patch("/{country_code}/{party_id}/{location_id}")
async def emsp_patch_location(
    country_code: str, party_id: str, location_id: str, request: Request, caller: Caller = Depends(ocpi_caller),
) -> Response:
    _check_party(caller, country_code, party_id)
    _check_ids(("location_id", location_id, 36))
    patch = checked(read_json(await request.body()), LOCATION, "the location PATCH", partial=True)
    _expect(patch, "country_code", country_code, "a Location's country_code never changes")
    _expect(patch, "party_id", party_id, "a Location's party_id never changes")
    _expect(patch, "id", location_id, "a Location's id never changes")
    missing = f"no location {country_code}/{party_id}/{location_id} to PATCH: PUT it first"
    await _foreign(request).write(
        caller.partner_id, country_code, party_id, location_id,
        lambda held: patch_location(_require(held, missing), patch),
    )
    return ocpi_response(None)


@emsp_router.patch("/{country_code}/{party_id}/{location_id}/{evse_uid}")
async def emsp_patch_evse(
    country_code: str, party_id: str, location_id: str, evse_uid: str, request: Request,
    caller: Caller = Depends(ocpi_caller),
) -> Response:
    _check_party(caller, country_code, party_id)
    _check_ids(("location_id", location_id, 36), ("evse_uid", evse_uid, 36))
    patch = checked(read_json(await request.body()), EVSE, "the EVSE PATCH", partial=True)
    _expect(patch, "uid", evse_uid, "an EVSE's uid never changes")

    def change(held: Held | None) -> Held:
        held = _require(held, f"no location {country_code}/{party_id}/{location_id}")
        _held_evse(held, evse_uid)
        return patch_evse(held, evse_uid, patch)

    await _foreign(request).write(caller.partner_id, country_code, party_id, location_id, change)
    return ocpi_response(None)


@emsp_router.patch("/{country_code}/{party_id}/{location_id}/{evse_uid}/{connector_id}")
async def emsp_patch_connector(
    country_code: str, party_id: str, location_id: str, evse_uid: str, connector_id: str, request: Request,
    caller: Caller = Depends(ocpi_caller),
) -> Response:
    _check_party(caller, country_code, party_id)
    _check_ids(("location_id", location_id, 36), ("evse_uid", evse_uid, 36), ("connector_id", connector_id, 36))
    patch = checked(read_json(await request.body()), CONNECTOR, "the connector PATCH", partial=True)
    _expect(patch, "id", connector_id, "a connector's id never changes")

    def change(held: Held | None) -> Held:
        held = _require(held, f"no location {country_code}/{party_id}/{location_id}")
        if held.connector(evse_uid, connector_id) is None:
            _held_evse(held, evse_uid)
            raise unknown_location(f"EVSE {evse_uid} has no connector {connector_id}")
        return patch_connector(held, evse_uid, connector_id, patch)

    await _foreign(request).write(caller.partner_id, country_code, party_id, location_id, change)
    return ocpi_response(None)
