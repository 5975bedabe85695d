"""Roaming partners' stations for our drivers (our eMSP role): the Locations partner CPOs pushed
to us (store `roaming_locations`, kept by roaming/locations.py) as search results, marked as
roaming and priced for our driver in our currency.

- A Location is a site; each of its EVSEs is shown as a station (its `uid` is what a start
  names), numbered EVSE 1, its connectors in their order. REMOVED EVSEs, Locations not to be
  published (`publish: false`) and connectors of no kind we know are left out.
- Status: OCPI's EVSE status in the words our search uses (`STATUS`): only AVAILABLE is free.
- Power: `max_electric_power`, else voltage times current (three phases for AC_3_PHASE, whose
  voltage OCPI gives line to neutral).
- Connection: a party the partner (a hub) reports OFFLINE or PLANNED (OCPI hubclientinfo,
  store `roaming_client_info`) cannot take a start: its EVSEs are shown Unavailable; one it
  reports SUSPENDED will never connect again, and its locations are not shown.
- Price: the partner's tariff of the connector (`tariff_ids`, from `roaming_tariffs`) prices
  the reference session with the same computation as ours (`pricing.estimate`), in the
  partner's currency with its VAT. That is what the partner's CDR will charge us, and what we
  charge the driver: converted into our currency at the latest rate entered for the pair
  (services/exchange_rates.py), as the receipt will be at the rate of the session's day. With
  no rate, or a stale one, the partner's amounts are shown with the reason instead.

It reads store rows only: it does not import the OCPI adapter (roaming/).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from silkcharge.domain.clock import stored_time
from silkcharge.domain.connectors import ConnectorStandard, parse_standard
from silkcharge.domain.exchange import AppliedRate, InvalidRate, NoRate, StaleRate, convert_price
from silkcharge.domain.money import Price, currency_of_country
from silkcharge.domain.pricing import PricingError, estimate
from silkcharge.domain.tariffs import InvalidTariff, NoApplicableTariff, Tariff, select_tariff
from silkcharge.services.exchange_rates import ExchangeRates
from silkcharge.services.search import (
    ConnectorResult,
    ForeignPrice,
    Quote,
    RoamingSite,
    SearchQuery,
    SiteIndex,
    SiteInfo,
    SiteResult,
    StationResult,
    reference_minutes,
)
from silkcharge.store.schema import (
    RoamingClientInfo,
    RoamingIdentity,
    RoamingLocation,
    RoamingPartner,
    RoamingTariff,
)

log = logging.getLogger(__name__)

STATUS = {
    "AVAILABLE": "Available", "BLOCKED": "Occupied", "CHARGING": "Charging", "INOPERATIVE": "Unavailable",
    "OUTOFORDER": "Faulted", "PLANNED": "Unavailable", "RESERVED": "Reserved", "UNKNOWN": "Unknown",
}
"""An OCPI EVSE status (mod_locations Status) as our search names a connector's status."""
NOT_NOW = ("OFFLINE", "PLANNED")
"""ClientInfo statuses (mod_hub_client_info ConnectionStatus) of a party whose chargers are shown
but cannot be started now; SUSPENDED: not shown."""


@dataclass(frozen=True)
class PartnerConnector:
    ordinal: int
    standard: ConnectorStandard
    max_power_kw: Decimal
    tariff_ids: tuple[str, ...]


@dataclass(frozen=True)
class PartnerEvse:
    uid: str
    status: str
    """In our search's words (`STATUS`)."""
    status_at: datetime | None
    connectors: tuple[PartnerConnector, ...]


@dataclass(frozen=True)
class PartnerLocation:
    row_id: int
    roaming: RoamingSite
    name: str
    city: str | None
    lat: float
    lon: float
    timezone: str
    evses: tuple[PartnerEvse, ...]


@dataclass
class _Held:
    """What the last load found, and the marks that tell when to load again."""

    marks: tuple = ()
    locations: dict[int, PartnerLocation] = field(default_factory=dict)
    tariffs: dict[tuple[str, str, str], Tariff] = field(default_factory=dict)
    index: SiteIndex | None = None
    ours: str | None = None
    """The currency we bill our drivers in."""


class PartnerSites:
    """Partners' locations near a point, with the driver's price (see the module); search's
    `OtherNetworks`."""

    def __init__(self, rates: ExchangeRates) -> None:
        self._rates = rates
        self._held = _Held()

    async def search(self, session: AsyncSession, query: SearchQuery, now: datetime) -> list[SiteResult]:
        held = await self._current(session)
        if held.index is None:
            return []
        if query.bbox is not None:
            lat, lon = (query.lat, query.lon) if query.lat is not None and query.lon is not None else query.bbox.centre
            near = held.index.within(query.bbox, lat, lon)
        else:
            assert query.lat is not None and query.lon is not None  # SearchQuery checked it
            near = held.index.near(query.lat, query.lon, query.radius_km)
        ours = held.ours
        rates: dict[tuple[str, str], AppliedRate | str] = {}
        found = []
        for row_id, distance in near:
            location = held.locations[row_id]
            if query.operator is not None and query.operator.upper() not in (
                    location.roaming.party, location.roaming.party.replace("*", "")):
                continue
            result = await self._result(session, held, location, distance, query, now, ours, rates)
            if result is not None:
                found.append(result)
            if len(found) >= query.limit:
                break
        return found

    async def _current(self, session: AsyncSession) -> _Held:
        """The partners' locations and tariffs and our drivers' currency, read again only when a
        row was written or removed since the last read (one aggregate read per search otherwise)."""
        marks = tuple((await session.execute(select(*(
            select(aggregate(column)).scalar_subquery()
            for column in (RoamingLocation.received_at, RoamingTariff.received_at, RoamingPartner.updated_at,
                           RoamingIdentity.updated_at, RoamingClientInfo.received_at)
            for aggregate in (func.count, func.max))))).one())
        if marks != self._held.marks:
            locations = await partner_locations(session)
            index = SiteIndex((row_id, loc.lat, loc.lon) for row_id, loc in locations.items()) if locations else None
            self._held = _Held(marks, locations, await partner_tariffs(session), index, await driver_currency(session))
        return self._held

    async def _result(self, session: AsyncSession, held: _Held, location: PartnerLocation, distance: float,
                      query: SearchQuery,
                      now: datetime, ours: str | None, rates: dict) -> SiteResult | None:
        start_local = now.astimezone(ZoneInfo(location.timezone)).replace(second=0, microsecond=0)
        stations, free, last, currency = [], False, None, None
        for evse in location.evses:
            rows = []
            for connector in evse.connectors:
                if not _fits(connector, query):
                    continue
                available = evse.status == "Available"
                free = free or available
                quote = await self._quote(session, held, location, connector, query, now, start_local, ours, rates)
                currency = currency or quote.currency
                rows.append(ConnectorResult(
                    1, connector.ordinal, connector.standard.value, connector.max_power_kw, evse.status, None,
                    evse.status_at, evse.status in ("Charging", "Occupied"), available, quote))
            if rows:
                if evse.status_at is not None and (last is None or evse.status_at > last):
                    last = evse.status_at
                stations.append(StationResult(evse.uid, evse.status != "Unknown", evse.status == "Unknown",
                                              None, tuple(rows)))
        if not stations or (query.available_now and not free):
            return None
        site = SiteInfo(-location.row_id, location.roaming.location_id, location.name, location.city,
                        location.lat, location.lon, location.timezone, location.roaming.party,
                        currency or ours or "", roaming=location.roaming)
        return SiteResult(site, distance, free, last, tuple(stations))

    async def _quote(self, session: AsyncSession, held: _Held, location: PartnerLocation, connector: PartnerConnector,
                     query: SearchQuery, now: datetime, start_local: datetime, ours: str | None,
                     rates: dict) -> Quote:
        minutes = query.minutes if query.minutes is not None else reference_minutes(query.kwh, connector.max_power_kw)
        base = Quote(query.kwh, minutes, start_local, ours or "")
        tariff, total, reason = partner_price(held.tariffs, location, connector, query.kwh, minutes, now, start_local)
        if tariff is None:
            return replace(base, reason=reason)
        if total is None:
            return replace(base, tariff=tariff.id, reason=reason)
        theirs = ForeignPrice(total.currency, total.excl_vat.amount, (total.incl_vat or total.excl_vat).amount)
        rate = await self._rate(total.currency, ours, now.date(), rates, session)
        if rate is None:  # the partner charges in our currency
            return replace(base, currency=total.currency, tariff=tariff.id, total_excl_vat=theirs.total_excl_vat,
                           total_incl_vat=theirs.total_incl_vat, foreign=theirs)
        if isinstance(rate, str):
            return replace(base, tariff=tariff.id, reason=f"the partner's price is in {total.currency}: {rate}",
                           foreign=replace(theirs, rate_problem=rate))
        mine = convert_price(total, rate).converted
        return replace(base, currency=mine.currency, tariff=tariff.id, total_excl_vat=mine.excl_vat.amount,
                       total_incl_vat=(mine.incl_vat or mine.excl_vat).amount,
                       foreign=replace(theirs, rate=rate.factor, rate_valid_on=rate.valid_on,
                                       rate_source=rate.entered.source))

    async def _rate(self, from_currency: str, to_currency: str | None, on: date,
                    cache: dict[tuple[str, str], AppliedRate | str], session: AsyncSession,
                    ) -> AppliedRate | str | None:
        """The rate for the pair on `on`, or why there is none (a text); None when no
        conversion is needed. Asked once per pair and search (`cache`)."""
        if to_currency is None or from_currency == to_currency:
            return None
        key = (from_currency, to_currency)
        if key not in cache:
            try:
                cache[key] = await self._rates.rate_on(from_currency, to_currency, on, session)
            except (NoRate, StaleRate, InvalidRate) as exc:
                cache[key] = str(exc)
        return cache[key]


def _fits(connector: PartnerConnector, query: SearchQuery) -> bool:
    if query.standard is not None and connector.standard != query.standard:
        return False
    return query.min_power_kw is None or connector.max_power_kw >= query.min_power_kw


def partner_price(tariffs: dict, location: PartnerLocation, connector: PartnerConnector, kwh: Decimal,
                  minutes: Decimal | None, now: datetime, start_local: datetime) -> tuple[Tariff | None, Price | None, str]:
    """A session at a partner's connector priced with the partner's own tariff, in its currency
    with its VAT, by the computation our own prices use (`pricing.estimate`): the tariff, the
    total, and otherwise the reason there is none. Search and the trip planner both price so."""
    tariff, reason = tariff_of(tariffs, location, connector, now)
    if tariff is None:
        return None, None, reason or "no tariff"
    if minutes is None:
        return tariff, None, "the connector's power is unknown, so no session can be priced"
    try:
        return tariff, estimate(tariff, kwh, minutes, start_local).total_cost, ""
    except PricingError as exc:
        return tariff, None, str(exc)


def tariff_of(tariffs: dict[tuple[str, str, str], Tariff], location: PartnerLocation, connector: PartnerConnector,
              at: datetime) -> tuple[Tariff | None, str | None]:
    """The partner's tariff of `connector` at `at`, or why there is none."""
    country, party = location.roaming.party.split("*")
    found = [tariffs[(country, party, tid)] for tid in connector.tariff_ids if (country, party, tid) in tariffs]
    if not found:
        return None, "the partner has sent no tariff for this connector"
    try:
        return select_tariff(found, at), None
    except NoApplicableTariff as exc:
        return None, str(exc)


async def driver_currency(session: AsyncSession) -> str | None:
    """The currency we bill our drivers in: our first eMSP party's country's."""
    ours = await session.scalar(select(RoamingIdentity).where(RoamingIdentity.role == "EMSP")
                                .order_by(RoamingIdentity.id).limit(1))
    return None if ours is None else currency_of_country(ours.country_code)


# -- reading the store ------------------------------------------------------------------------


async def partner_locations(session: AsyncSession) -> dict[int, PartnerLocation]:
    """Every partner location that may be shown, with an EVSE we can use, by row id."""
    partners = {row.id: row.name for row in (await session.scalars(select(RoamingPartner))).all()}
    connection = {(partner_id, country.upper(), party.upper()): status for partner_id, country, party, status in (
        await session.execute(select(RoamingClientInfo.partner_id, RoamingClientInfo.country_code,
                                     RoamingClientInfo.party_id, RoamingClientInfo.status))).all()}
    found = {}
    rows = (await session.scalars(select(RoamingLocation).where(RoamingLocation.publish.is_(True)))).all()
    for row in rows:
        status = connection.get((row.partner_id, row.country_code.upper(), row.party_id.upper()))
        if status == "SUSPENDED":
            continue
        try:
            location = read_location(row.id, row.partner_id, partners.get(row.partner_id), row.body)
        except (KeyError, TypeError, ValueError, InvalidOperation) as exc:  # kept valid by the receiver
            log.warning("partner location %s*%s*%s cannot be shown: %s", row.country_code, row.party_id,
                        row.location_id, exc)
            continue
        if status in NOT_NOW:
            location = replace(location, evses=tuple(replace(evse, status="Unavailable") for evse in location.evses))
        if location.evses:
            found[row.id] = location
    return found


async def partner_tariffs(session: AsyncSession) -> dict[tuple[str, str, str], Tariff]:
    """Every partner tariff we can read, by (country code, party id, tariff id)."""
    found = {}
    for row in (await session.scalars(select(RoamingTariff))).all():
        try:
            tariff = Tariff.from_ocpi({"country_code": row.country_code, "party_id": row.party_id, **row.body})
        except (InvalidTariff, ValueError, TypeError, KeyError) as exc:
            log.warning("partner tariff %s*%s*%s cannot price a search: %s", row.country_code, row.party_id,
                        row.tariff_id, exc)
            continue
        found[(row.country_code.upper(), row.party_id.upper(), row.tariff_id)] = tariff
    return found


def read_location(row_id: int, partner_id: int, partner: str | None, body: dict[str, Any]) -> PartnerLocation:
    """A stored OCPI Location as search shows it (see the module)."""
    party = f"{body['country_code'].upper()}*{body['party_id'].upper()}"
    evses = []
    for evse in body.get("evses") or ():
        if evse.get("status") == "REMOVED":
            continue
        connectors = []
        for ordinal, connector in enumerate(evse.get("connectors") or (), start=1):
            try:
                standard = parse_standard(str(connector.get("standard", "")))
            except ValueError:
                continue  # a kind of plug our drivers' cars are never matched to
            connectors.append(PartnerConnector(ordinal, standard, power_kw(connector),
                                               tuple(str(t) for t in connector.get("tariff_ids") or ())))
        if connectors:
            evses.append(PartnerEvse(str(evse["uid"]), STATUS.get(str(evse.get("status")), "Unknown"),
                                     stored_time(evse.get("last_updated")), tuple(connectors)))
    coordinates = body["coordinates"]
    return PartnerLocation(
        row_id=row_id,
        roaming=RoamingSite(partner_id, partner or party, party, str(body["id"])),
        name=str(body.get("name") or body.get("address") or body["id"]),
        city=body.get("city"),
        lat=float(coordinates["latitude"]), lon=float(coordinates["longitude"]),
        timezone=_zone(body.get("time_zone")),
        evses=tuple(evses),
    )


def power_kw(connector: dict[str, Any]) -> Decimal:
    """The connector's power in kW: as sent, else voltage × current (× 3 for three phases)."""
    watts = connector.get("max_electric_power")
    if watts is None:
        phases = 3 if connector.get("power_type") == "AC_3_PHASE" else 1
        watts = Decimal(str(connector.get("max_voltage") or 0)) * Decimal(str(connector.get("max_amperage") or 0)) * phases
    return (Decimal(str(watts)) / 1000).quantize(Decimal("0.1"))


def _zone(name: object) -> str:
    try:
        return str(ZoneInfo(str(name)).key) if name else "UTC"
    except (ZoneInfoNotFoundError, ValueError):
        return "UTC"
