"""OCPI 2.2.1 CDRs, both roles.

CPO role: billing stores each CDR's OCPI body already (domain/cdr.py `Cdr.to_ocpi`: times,
currency, tariffs, charging periods, the totals with the CPO's VAT); `cdr_object` completes it
into a whole 2.2.1 CDR (our party, the driver's cdr_token, the auth method, the cdr_location,
last_updated), and `CdrPushes.created` POSTs it to the token's eMSP through the outbox.

eMSP role: POST /ocpi/emsp/2.2.1/cdrs keeps a partner's CDR in `roaming_cdrs` and answers
its Location (GET /ocpi/emsp/2.2.1/cdrs/{id}). CDRs are never changed once sent, so:
- the same CDR again (same party, id and content) is acknowledged and not stored twice;
- the same id with other content is refused (2001) and kept, marked `conflict`, for review:
  the first stands and nothing sent to us is lost.

The driver's charge is in our currency: a CDR in another currency is converted with the
operator's exchange rates (services/exchange_rates.py) at the rate of the CDR's day, and both
amounts and the rate used are kept. With no rate, or only a stale one, the charge is held
with the reason (`charge_state` "held"): never guessed, never dropped.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from silkcharge.domain.money import CURRENCIES, Money, Price, currency_of_country
from silkcharge.roaming.auth import Caller, ocpi_caller
from silkcharge.roaming.location_mapping import ALPHA3
from silkcharge.roaming.outbox import Outbox, Push
from silkcharge.roaming.sessions import (
    AUTH_METHODS,
    NOT_FOUND,
    Party,
    TokenOwner,
    _enum,
    _number,
    _refuse,
    _text,
    check_cdr_token,
    check_charging_periods,
    check_party,
    check_price,
    read_json,
)
from silkcharge.roaming.wire import (
    OcpiError,
    Status,
    ocpi_datetime,
    ocpi_response,
    parse_ocpi_datetime,
)
from silkcharge.services.exchange_rates import ExchangeRates
from silkcharge.services.roaming_charges import driver_charge
from silkcharge.store.schema import RoamingCdr, RoamingIdentity

ENDPOINTS = [("cdrs", "RECEIVER", "emsp/2.2.1/cdrs")]
"""The SENDER list is roaming/sender_lists.py's."""

# -- CPO role: our CDR as a whole OCPI CDR ------------------------------------------------------


@dataclass(frozen=True)
class ConnectorFacts:
    """What a CdrLocation says of the connector used (the locations module knows these)."""

    standard: str = "IEC_62196_T2"
    format: str = "SOCKET"
    power_type: str = "AC_3_PHASE"


def cdr_location(*, site_code: str, site_name: str | None, address: str | None, city: str | None,
                 country: str, lat: float, lon: float, station_id: str, evse_id: int, connector_id: int,
                 connector: ConnectorFacts = ConnectorFacts(), postal_code: str | None = None) -> dict[str, Any]:
    """OCPI CdrLocation of a session at one of our sites (EVSE uid `<station>*<evse>`)."""
    body: dict[str, Any] = {
        "id": site_code, "address": address or "", "city": city or "",
        "country": ALPHA3.get(country.upper(), country.upper()),
        "coordinates": {"latitude": f"{lat:.6f}", "longitude": f"{lon:.6f}"},
        "evse_uid": f"{station_id}*{evse_id}", "evse_id": f"{station_id}*{evse_id}",
        "connector_id": str(connector_id), "connector_standard": connector.standard,
        "connector_format": connector.format, "connector_power_type": connector.power_type,
    }
    if site_name:
        body["name"] = site_name
    if postal_code:
        body["postal_code"] = postal_code
    return body


NUMBERS = frozenset({
    "total_energy", "total_time", "total_parking_time",  # CDR
    "excl_vat", "incl_vat",  # Price
    "volume",  # CdrDimension
    "price", "vat",  # PriceComponent of an embedded Tariff
    "min_kwh", "max_kwh", "min_current", "max_current", "min_power", "max_power",  # TariffRestrictions
    "percentage", "amount",  # EnergyMix
})
"""Fields of a CDR (and the tariffs in it) that OCPI 2.2.1 types as `number`."""
INTEGERS = frozenset({"step_size", "min_duration", "max_duration"})


def with_numbers(value: Any, key: str | None = None) -> Any:
    """`value` with the CDR's numbers as numbers. Billing stores the body as JSON whose
    Decimals are exact strings (store/db.py); OCPI wants JSON numbers (a partner may refuse
    "12.5" for total_energy), and roaming/wire.py writes a Decimal as an exact number."""
    if isinstance(value, dict):
        return {k: with_numbers(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [with_numbers(v, key) for v in value]
    if isinstance(value, str) and key in NUMBERS | INTEGERS:
        try:
            number = Decimal(value)
        except ArithmeticError:
            return value
        return int(number) if key in INTEGERS and number == number.to_integral_value() else number
    return value


def cdr_object(stored: dict[str, Any], *, cpo: Party, owner: TokenOwner, location: dict[str, Any],
               auth_method: str, last_updated: datetime) -> dict[str, Any]:
    """The whole OCPI 2.2.1 CDR from the body billing stored (ChargeDetailRecord.body): our
    party, the driver's token, how they were authorised, where, and when it was made. A CDR
    must have a charging period: a session with none (a no-show fee) gets one at its start."""
    body = with_numbers(stored)
    body.update({
        "country_code": cpo.country_code, "party_id": cpo.party_id, "cdr_token": owner.cdr_token(),
        "auth_method": auth_method, "cdr_location": location, "last_updated": ocpi_datetime(last_updated),
    })
    if owner.authorization_reference:
        body["authorization_reference"] = owner.authorization_reference
    if not body.get("charging_periods"):
        body["charging_periods"] = [{"start_date_time": body["start_date_time"],
                                     "dimensions": [{"type": "TIME", "volume": Decimal(0)}]}]
    return body


class CdrPushes:
    """A CDR to the eMSP that owns the token: one POST through the outbox, in the caller's
    transaction (billing's, when the CDR is made), so the CDR and its push commit together."""

    def __init__(self, outbox: Outbox) -> None:
        self._outbox = outbox

    async def created(self, session, owner: TokenOwner, body: dict[str, Any], *, tenant_id: int | None = None):
        key = f"cdr/{body['country_code']}/{body['party_id']}/{body['id']}"
        return await self._outbox.enqueue(session, Push(owner.partner_id, "cdrs", key, "POST", "", body),
                                          tenant_id=tenant_id)


# -- eMSP role: CDRs a CPO sends us ---------------------------------------------------------------


def check_cdr(body: Any) -> dict[str, Any]:
    """`body` if it is a whole CDR; OcpiError 2001 naming the field otherwise."""
    if not isinstance(body, dict):
        raise _refuse("the body is not a CDR object")
    _text(body, "country_code", 2)
    _text(body, "party_id", 3)
    _text(body, "id", 39)
    start = parse_ocpi_datetime(body.get("start_date_time"), "start_date_time")
    end = parse_ocpi_datetime(body.get("end_date_time"), "end_date_time")
    if end < start:
        raise _refuse("end_date_time is before start_date_time")
    _text(body, "session_id", 36, required=False)
    check_cdr_token(body.get("cdr_token"))
    _enum(body, "auth_method", AUTH_METHODS)
    location = body.get("cdr_location")
    if not isinstance(location, dict):
        raise _refuse("cdr_location: a CdrLocation object")
    for name, size in (("id", 36), ("evse_uid", 36), ("connector_id", 36)):
        try:
            _text(location, name, size)
        except OcpiError as error:
            raise _refuse(f"cdr_location.{error.message}") from None
    currency = _text(body, "currency", 3)
    if currency.upper() not in CURRENCIES:
        raise _refuse(f"currency: {currency!r} is not a currency we bill in")
    if not body.get("charging_periods"):
        raise _refuse("charging_periods: at least one ChargingPeriod")
    check_charging_periods(body["charging_periods"])
    check_price(body.get("total_cost"), "total_cost")
    _number(body, "total_energy")
    _number(body, "total_time")
    parse_ocpi_datetime(body.get("last_updated"), "last_updated")
    if body.get("tariffs") is not None and not isinstance(body["tariffs"], list):
        raise _refuse("tariffs: a list of Tariff")
    return body


def digest(body: dict[str, Any]) -> str:
    """The CDR's content, for telling a replay from a conflict: its JSON with sorted keys."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def total_of(body: dict[str, Any]) -> Price:
    """The CDR's total_cost as a Price in its currency (exact: numbers are read as decimals)."""
    currency = body["currency"].upper()
    cost = body["total_cost"]
    incl = cost.get("incl_vat")
    return Price(Money(Decimal(str(cost["excl_vat"])), currency),
                 None if incl is None else Money(Decimal(str(incl)), currency))


async def driver_currency(session, cdr_token: dict[str, Any]) -> str | None:
    """The currency we bill the token's driver in: our eMSP party the token names (else our
    first eMSP party), by its country."""
    identities = (await session.scalars(select(RoamingIdentity).where(RoamingIdentity.role == "EMSP")
                                        .order_by(RoamingIdentity.id))).all()
    named = [i for i in identities if i.country_code.upper() == str(cdr_token.get("country_code", "")).upper()
             and i.party_id.upper() == str(cdr_token.get("party_id", "")).upper()]
    ours = (named or identities or [None])[0]
    return None if ours is None else currency_of_country(ours.country_code)


emsp_router = APIRouter()


def _location(request: Request, row: RoamingCdr) -> str:
    settings = request.app.state.roaming.settings
    origin = settings.public_url or f"http://{settings.api_host}:{settings.api_port}"
    return f"{origin.rstrip('/')}/ocpi/emsp/2.2.1/cdrs/{row.id}"


@emsp_router.post("/cdrs")
async def post_cdr(request: Request, caller: Caller = Depends(ocpi_caller)) -> Response:
    """A CDR from the CPO: kept once, with the driver's charge in our currency."""
    body = check_cdr(await read_json(request))
    check_party(caller, body["country_code"], body["party_id"])
    roaming = request.app.state.roaming
    fingerprint = digest(body)
    key = (RoamingCdr.partner_id == caller.partner_id, RoamingCdr.country_code == body["country_code"].upper(),
           RoamingCdr.party_id == body["party_id"].upper(), RoamingCdr.cdr_id == body["id"])
    async with roaming.sessions() as session:
        known = (await session.scalars(select(RoamingCdr).where(*key).order_by(RoamingCdr.id))).all()
        currency = await driver_currency(session, body["cdr_token"])
    first = known[0] if known else None
    if first is not None and first.digest == fingerprint:
        return _accepted(request, first, replay=True)
    total = total_of(body)
    charge = await driver_charge(
        ExchangeRates(roaming.sessions, roaming.settings.exchange_rate_max_age_days), total, currency,
        parse_ocpi_datetime(body["end_date_time"], "end_date_time").date())
    row = RoamingCdr(
        partner_id=caller.partner_id, country_code=body["country_code"].upper(), party_id=body["party_id"].upper(),
        cdr_id=body["id"], digest=fingerprint, conflict=first is not None, session_id=body.get("session_id"),
        token_uid=body["cdr_token"]["uid"], currency=total.currency, total_excl_vat=total.excl_vat.amount,
        total_incl_vat=None if total.incl_vat is None else total.incl_vat.amount, body=body, **charge)
    try:
        async with roaming.sessions.begin() as session:
            session.add(row)
    except IntegrityError:  # this very content was stored meanwhile (a replay racing the first)
        async with roaming.sessions() as session:
            stored = (await session.scalars(select(RoamingCdr).where(*key).order_by(RoamingCdr.id))).first()
        if stored is not None and stored.digest == fingerprint:
            return _accepted(request, stored, replay=True)
        raise _refuse(f"CDR {body['id']} was already sent with other content; this one is kept for review") \
            from None
    roaming.received(caller.partner_id, "cdrs", body["id"])
    if first is not None:
        raise _refuse(f"CDR {body['id']} was already sent with other content: the first stands, this one is "
                      "kept for review")
    return _accepted(request, row, replay=False)


def _accepted(request: Request, row: RoamingCdr, *, replay: bool) -> Response:
    message = "already received; not stored again" if replay else None
    return ocpi_response(None, message=message, headers={"Location": _location(request, row)})


@emsp_router.get("/cdrs/{cdr_ref}")
async def get_cdr(request: Request, cdr_ref: int, caller: Caller = Depends(ocpi_caller)) -> Response:
    """A CDR the calling partner sent us, at the URL its POST was answered with."""
    async with request.app.state.roaming.sessions() as session:
        row = await session.get(RoamingCdr, cdr_ref)
    if row is None or row.partner_id != caller.partner_id or row.conflict:
        raise OcpiError(Status.CLIENT_ERROR, f"no CDR {cdr_ref} of yours", http_status=NOT_FOUND)
    return ocpi_response(row.body)


cpo_router = None
