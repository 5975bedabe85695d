"""The OCPI 2.2.1 Tariffs module, both roles.

- **CPO, Sender** (`cpo_router`, under /ocpi/cpo/2.2.1/tariffs): our published tariffs
  (`TariffRecord.body` is already an OCPI tariff, domain/tariffs.py), with our roaming party's
  country_code and party_id, the tariff code as id, and VAT made concrete: a tariff with
  statutory VAT or VAT-inclusive prices is written with the rate in force today in its
  country (as stations get it, services/station_tariffs.py), so its `last_updated` is the later
  of its publication and the first day of that rate. Concession tariffs (for a token group or a
  driver category) are for our own drivers and are not published. Paginated, filtered by
  `last_updated`.
- **eMSP, Receiver** (`emsp_router`, under /ocpi/emsp/2.2.1/tariffs): the tariffs partner CPOs
  push (PUT, DELETE) and GET of what we hold, in `roaming_tariffs`. Checked in full; an older
  PUT than the one held is acknowledged and ignored.

`tariffs_for_sites` is what the Locations module asks: which tariff a roaming driver pays at a
site (its `tariff_ids`), and when that may have changed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, time, timezone
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from silkcharge.domain.clock import utcnow
from silkcharge.domain.tariffs import NoApplicableTariff, Tariff, select_tariff
from silkcharge.domain.vat import NoVatRate, UnknownCountry, load_vat_table
from silkcharge.roaming.auth import Caller, PartyRole, ocpi_caller
from silkcharge.roaming.objects import (
    DISPLAY_TEXT,
    ENERGY_MIX,
    PRICE,
    Field,
    Shape,
    check_object,
    cistring,
    datetime_text,
    enum,
    integer,
    known_fields,
    listing,
    number,
    our_party,
    pattern,
    read_json,
    refuse,
    shape_checker,
    url,
)
from silkcharge.roaming.wire import (
    OcpiError,
    Page,
    Status,
    ocpi_datetime,
    ocpi_response,
    parse_ocpi_datetime,
)
from silkcharge.services.billing import TariffRefused, parse_tariff
from silkcharge.store.schema import RoamingTariff, TariffRecord

log = logging.getLogger(__name__)

MODULE = "tariffs"
ENDPOINTS: list[tuple[str, str, str]] = [
    (MODULE, "SENDER", "cpo/2.2.1/tariffs"),
    (MODULE, "RECEIVER", "emsp/2.2.1/tariffs"),
]

_CLOCK = pattern(r"([0-1][0-9]|2[0-3]):[0-5][0-9]", 5, "HH:MM")
_DATE = pattern(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", 10, "YYYY-MM-DD")
TARIFF: Shape = {
    "country_code": Field(cistring(2), True),
    "party_id": Field(cistring(3), True),
    "id": Field(cistring(36), True),
    "currency": Field(pattern(r"[A-Z]{3}", 3, "an ISO 4217 code such as KZT"), True),
    "type": Field(enum("AD_HOC_PAYMENT", "PROFILE_CHEAP", "PROFILE_FAST", "PROFILE_GREEN", "REGULAR")),
    "tariff_alt_text": Field(listing(shape_checker(DISPLAY_TEXT))),
    "tariff_alt_url": Field(url),
    "min_price": Field(shape_checker(PRICE)),
    "max_price": Field(shape_checker(PRICE)),
    "elements": Field(listing(shape_checker({
        "price_components": Field(listing(shape_checker({
            "type": Field(enum("ENERGY", "FLAT", "PARKING_TIME", "TIME"), True),
            "price": Field(number(0), True),
            "vat": Field(number(0, 100)),
            "step_size": Field(integer(0), True),
        }), at_least=1), True),
        "restrictions": Field(shape_checker({
            "start_time": Field(_CLOCK),
            "end_time": Field(_CLOCK),
            "start_date": Field(_DATE),
            "end_date": Field(_DATE),
            "min_kwh": Field(number(0)),
            "max_kwh": Field(number(0)),
            "min_current": Field(number(0)),
            "max_current": Field(number(0)),
            "min_power": Field(number(0)),
            "max_power": Field(number(0)),
            "min_duration": Field(integer(0)),
            "max_duration": Field(integer(0)),
            "day_of_week": Field(listing(enum(
                "MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY",
            ))),
            "reservation": Field(enum("RESERVATION", "RESERVATION_EXPIRES")),
        })),
    }), at_least=1), True),
    "energy_mix": Field(shape_checker(ENERGY_MIX)),
    "start_date_time": Field(datetime_text),
    "end_date_time": Field(datetime_text),
    "last_updated": Field(datetime_text, True),
}


# -- CPO: our tariffs -------------------------------------------------------------------------


@dataclass
class SiteTariffs:
    """The tenant's published tariffs, read once, asked per site."""

    records: list[TariffRecord]
    _parsed: dict[int, Tariff | None] = field(default_factory=dict)

    def candidates(self, operator_id: int, site_id: int) -> list[TariffRecord]:
        """The site's own tariffs first, then its operator's network-wide ones (as billing)."""
        own = [r for r in self.records if r.operator_id == operator_id and r.site_id == site_id]
        network = [r for r in self.records if r.operator_id == operator_id and r.site_id is None]
        return own + network

    def changed_at(self, operator_id: int, site_id: int) -> datetime | None:
        stamps = [r.created_at for r in self.candidates(operator_id, site_id)]
        return max(stamps) if stamps else None

    def tariff(self, record: TariffRecord) -> Tariff | None:
        if record.id not in self._parsed:
            try:
                self._parsed[record.id] = parse_tariff(record.body)
            except TariffRefused as exc:
                log.error("stored tariff %s cannot be read: %s", record.code, exc)
                self._parsed[record.id] = None
        return self._parsed[record.id]

    def for_roaming(self, operator_id: int, site_id: int, now: datetime) -> str | None:
        """The code of the tariff a roaming driver pays at the site now (the one billing picks
        for a driver of no token group or category), or None."""
        tariffs = [t for t in (self.tariff(r) for r in self.candidates(operator_id, site_id)) if t is not None]
        try:
            return select_tariff(tariffs, now).id
        except NoApplicableTariff:
            return None


async def tariffs_for_sites(session: AsyncSession) -> SiteTariffs:
    return SiteTariffs(list((await session.scalars(select(TariffRecord).order_by(TariffRecord.id))).all()))


def published_tariff(record: TariffRecord, tariff: Tariff, party: PartyRole, now: datetime) -> tuple[dict[str, Any], datetime]:
    """The OCPI body we publish for a tariff, and its last_updated. Raises LookupError (an
    unknown country or no VAT rate) when its VAT cannot be made concrete."""
    last_updated = record.created_at
    vat_on = None
    if tariff.uses_statutory_vat() or tariff.vat_included:
        table = load_vat_table()
        vat_on = table.local_date(tariff.country_code or "", now)
        rate = table.entry(tariff.country_code or "", now)
        if rate.valid_from is not None:
            zone = table.time_zone(tariff.country_code or "")
            began = datetime.combine(rate.valid_from, time(0), zone).astimezone(timezone.utc)
            last_updated = max(last_updated, began)
    body = tariff.to_ocpi(vat_on=vat_on)
    body.update(
        country_code=party.country_code.upper(), party_id=party.party_id.upper(), id=record.code,
        last_updated=ocpi_datetime(last_updated),
    )
    return body, last_updated


class PublishedTariffs:
    def __init__(self, sessions: async_sessionmaker) -> None:
        self._sessions = sessions

    async def page(
        self, party: PartyRole, *, offset: int, limit: int,
        date_from: datetime | None = None, date_to: datetime | None = None,
    ) -> tuple[list[dict[str, Any]], int]:
        now = utcnow()
        async with self._sessions() as session:
            tariffs = await tariffs_for_sites(session)
        bodies = []
        for record in tariffs.records:
            tariff = tariffs.tariff(record)
            if tariff is None or tariff.is_concession:
                continue
            try:
                body, last_updated = published_tariff(record, tariff, party, now)
            except (UnknownCountry, NoVatRate) as exc:
                log.error("tariff %s is not published over OCPI: %s", record.code, exc)
                continue
            if (date_from is None or last_updated >= date_from) and (date_to is None or last_updated < date_to):
                bodies.append(body)
        return bodies[offset:offset + limit], len(bodies)


cpo_router = APIRouter(prefix="/tariffs")


@cpo_router.get("")
@cpo_router.get("/")
async def list_tariffs(request: Request, page: Page = Depends(), caller: Caller = Depends(ocpi_caller)) -> Response:
    bodies, total = await PublishedTariffs(request.app.state.roaming.sessions).page(
        await our_party(request, "CPO"), offset=page.offset, limit=page.limit,
        date_from=page.date_from, date_to=page.date_to,
    )
    return ocpi_response(bodies, headers=page.headers(request, total))


# -- eMSP: the partners' tariffs --------------------------------------------------------------


class ForeignTariffs:
    """The tariffs partner CPOs pushed to us, in the tenant in scope."""

    def __init__(self, sessions: async_sessionmaker) -> None:
        self._sessions = sessions

    @staticmethod
    def _query(country_code: str, party_id: str, tariff_id: str):
        return select(RoamingTariff).where(
            RoamingTariff.country_code == country_code.upper(),
            RoamingTariff.party_id == party_id.upper(),
            func.upper(RoamingTariff.tariff_id) == tariff_id.upper(),
        )

    async def get(self, country_code: str, party_id: str, tariff_id: str) -> dict[str, Any] | None:
        async with self._sessions() as session:
            row = await session.scalar(self._query(country_code, party_id, tariff_id))
            return row.body if row is not None else None

    async def put(self, partner_id: int, country_code: str, party_id: str, tariff_id: str, body: dict[str, Any]) -> bool:
        """Store `body` unless what is held is newer; whether it was stored."""
        at = parse_ocpi_datetime(body["last_updated"], "last_updated")
        for attempt in (1, 2):
            try:
                async with self._sessions.begin() as session:
                    row = await session.scalar(self._query(country_code, party_id, tariff_id).with_for_update())
                    if row is not None and row.last_updated > at:
                        return False
                    if row is None:
                        row = RoamingTariff(
                            country_code=country_code.upper(), party_id=party_id.upper(), tariff_id=tariff_id,
                        )
                        session.add(row)
                    row.partner_id = partner_id
                    row.currency, row.body, row.last_updated, row.received_at = body["currency"], body, at, utcnow()
                return True
            except IntegrityError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def delete(self, country_code: str, party_id: str, tariff_id: str) -> bool:
        async with self._sessions.begin() as session:
            result = await session.execute(delete(RoamingTariff).where(
                RoamingTariff.country_code == country_code.upper(),
                RoamingTariff.party_id == party_id.upper(),
                func.upper(RoamingTariff.tariff_id) == tariff_id.upper(),
            ).execution_options(synchronize_session=False))
            return bool(result.rowcount)


emsp_router = APIRouter(prefix="/tariffs")


def _check_url(caller: Caller, country_code: str, party_id: str, tariff_id: str) -> None:
    problems: list[str] = []
    for name, value, length in (("country_code", country_code, 2), ("party_id", party_id, 3), ("tariff_id", tariff_id, 36)):
        cistring(length)(value, name, problems)
    refuse(problems, "the URL")
    if not caller.is_party(country_code, party_id):
        raise OcpiError(
            Status.INVALID_PARAMETERS,
            f"{country_code}/{party_id} is not a party of this partner; a CPO pushes only its own tariffs",
        )


def _foreign(request: Request) -> ForeignTariffs:
    return ForeignTariffs(request.app.state.roaming.sessions)


@emsp_router.get("/{country_code}/{party_id}/{tariff_id}")
async def emsp_get_tariff(
    country_code: str, party_id: str, tariff_id: str, request: Request, caller: Caller = Depends(ocpi_caller),
) -> Response:
    _check_url(caller, country_code, party_id, tariff_id)
    body = await _foreign(request).get(country_code, party_id, tariff_id)
    if body is None:
        raise OcpiError(Status.CLIENT_ERROR, f"no tariff {country_code}/{party_id}/{tariff_id} has been pushed", http_status=404)
    return ocpi_response(body)


@emsp_router.put("/{country_code}/{party_id}/{tariff_id}")
async def emsp_put_tariff(
    country_code: str, party_id: str, tariff_id: str, request: Request, caller: Caller = Depends(ocpi_caller),
) -> Response:
    _check_url(caller, country_code, party_id, tariff_id)
    body = read_json(await request.body())
    refuse(check_object(body, TARIFF), "the tariff")
    body = known_fields(body, TARIFF)
    for name, expected in (("country_code", country_code), ("party_id", party_id), ("id", tariff_id)):
        if body[name].upper() != expected.upper():
            raise OcpiError(Status.INVALID_PARAMETERS, f"{name}: {body[name]!r} does not match {expected!r} in the URL")
    await _foreign(request).put(caller.partner_id, country_code, party_id, tariff_id, body)
    return ocpi_response(None)


@emsp_router.delete("/{country_code}/{party_id}/{tariff_id}")
async def emsp_delete_tariff(
    country_code: str, party_id: str, tariff_id: str, request: Request, caller: Caller = Depends(ocpi_caller),
) -> Response:
    _check_url(caller, country_code, party_id, tariff_id)
    await _foreign(request).delete(country_code, party_id, tariff_id)
    return ocpi_response(None)
