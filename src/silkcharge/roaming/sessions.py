"""OCPI 2.2.1 Sessions, both roles.

CPO role (our stations, a partner's driver): `session_object` maps a silkcharge transaction
to an OCPI Session; `SessionPushes` enqueues it in the outbox for the eMSP that owns the
driver's token (a PUT when the session starts, PATCHes of what changed after, in order: the
outbox keeps an object's pushes in sequence). roaming/session_push.py does this as sessions
happen; which partner owns a token is ocpi-tokens' link, behind its `TokenOwners` port.

eMSP role (our driver, a partner's station): the RECEIVER endpoints
PUT/PATCH/GET /ocpi/emsp/2.2.1/sessions/{country_code}/{party_id}/{session_id} keep the
session in `roaming_sessions`. A PATCH older than what we hold (by `last_updated`) arrived
late: it is acknowledged and not applied, so a late PATCH never undoes a later one. A party
the calling partner does not speak for, or an object that is not a Session, is OCPI 2001.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from silkcharge.domain.money import Price
from silkcharge.roaming.auth import Caller, ocpi_caller
from silkcharge.roaming.outbox import Outbox, Push
from silkcharge.roaming.wire import (
    OcpiError,
    Status,
    ocpi_datetime,
    ocpi_response,
    parse_ocpi_datetime,
)
from silkcharge.store.schema import RoamingSession, Transaction

SESSION_STATUSES = ("ACTIVE", "COMPLETED", "INVALID", "PENDING", "RESERVATION")
AUTH_METHODS = ("AUTH_REQUEST", "COMMAND", "WHITELIST")
TOKEN_TYPES = ("AD_HOC_USER", "APP_USER", "OTHER", "RFID")
NOT_FOUND = 404

ENDPOINTS = [("sessions", "RECEIVER", "emsp/2.2.1/sessions")]
"""The SENDER list is roaming/sender_lists.py's."""


# -- CPO role: our transaction as an OCPI Session --------------------------------------------


@dataclass(frozen=True)
class Party:
    """An OCPI party: country code and party id (ours as a CPO, or the token's eMSP)."""

    country_code: str
    party_id: str


@dataclass(frozen=True)
class TokenOwner:
    """The eMSP whose driver's token started a session at our station: the partner to push to
    and the session's `cdr_token` (ocpi-tokens' roaming_transactions row holds these)."""

    partner_id: int
    country_code: str
    party_id: str
    uid: str
    type: str = "RFID"
    contract_id: str | None = None
    authorization_reference: str | None = None

    def cdr_token(self) -> dict[str, Any]:
        return {"country_code": self.country_code, "party_id": self.party_id, "uid": self.uid,
                "type": self.type, "contract_id": self.contract_id or self.uid}


_TX_STATUS = {"Active": "ACTIVE", "Ended": "COMPLETED"}


def session_status(tx: Transaction) -> str:
    """OCPI status of a transaction: running ACTIVE, ended COMPLETED, anything else INVALID."""
    return _TX_STATUS.get(tx.state, "INVALID")


def auth_method(tx: Transaction) -> str:
    """COMMAND for a remote start (the eMSP's StartSession), WHITELIST for a session a station
    started offline on its own list, AUTH_REQUEST otherwise."""
    if tx.remote_start_id is not None:
        return "COMMAND"
    if tx.offline:
        return "WHITELIST"
    return "AUTH_REQUEST"


def last_updated_of(tx: Transaction) -> datetime:
    return tx.stopped_at or tx.started_at


def session_object(
    tx: Transaction, *, cpo: Party, location_id: str, owner: TokenOwner, currency: str,
    total_cost: Price | None = None, charging_periods: list[dict[str, Any]] | None = None,
    last_updated: datetime | None = None,
) -> dict[str, Any]:
    """The OCPI 2.2.1 Session of transaction `tx` (its id is the session id; the EVSE uid is
    `<station>*<evse>` as roaming/push.py names EVSEs; kWh from the energy metered so far)."""
    energy = tx.energy_wh
    if energy is None and tx.meter_stop_wh is not None and tx.meter_start_wh is not None:
        energy = tx.meter_stop_wh - tx.meter_start_wh
    body: dict[str, Any] = {
        "country_code": cpo.country_code,
        "party_id": cpo.party_id,
        "id": str(tx.id),
        "start_date_time": ocpi_datetime(tx.started_at),
        "kwh": (Decimal(energy or 0) / 1000).normalize() if energy else Decimal(0),
        "cdr_token": owner.cdr_token(),
        "auth_method": auth_method(tx),
        "location_id": location_id,
        "evse_uid": f"{tx.station_id}*{tx.evse_id}",
        "connector_id": str(tx.connector_id),
        "currency": currency,
        "status": session_status(tx),
        "last_updated": ocpi_datetime(last_updated or last_updated_of(tx)),
    }
    if tx.stopped_at is not None:
        body["end_date_time"] = ocpi_datetime(tx.stopped_at)
    if owner.authorization_reference:
        body["authorization_reference"] = owner.authorization_reference
    if charging_periods:
        body["charging_periods"] = charging_periods
    if total_cost is not None:
        body["total_cost"] = total_cost.to_ocpi()
    return body


def session_key(cpo: Party, session_id: str) -> str:
    """The outbox object key and the path below the eMSP's sessions endpoint."""
    return f"{cpo.country_code}/{cpo.party_id}/{session_id}"


def changed_fields(before: dict[str, Any] | None, after: dict[str, Any]) -> dict[str, Any]:
    """What a PATCH carries: the fields whose value changed, and always last_updated."""
    if before is None:
        return dict(after)
    patch = {name: value for name, value in after.items() if before.get(name) != value}
    patch["last_updated"] = after["last_updated"]
    return patch


class SessionPushes:
    """Sessions to the eMSP that owns the token, through the outbox, in the caller's
    transaction (so the change and its push commit together): `started` PUTs the whole
    Session, `updated` PATCHes what changed since the body last pushed."""

    def __init__(self, outbox: Outbox) -> None:
        self._outbox = outbox

    async def started(self, session, owner: TokenOwner, cpo: Party, body: dict[str, Any], *,
                      tenant_id: int | None = None):
        key = session_key(cpo, body["id"])
        return await self._outbox.enqueue(session, Push(owner.partner_id, "sessions", key, "PUT", key, body),
                                          tenant_id=tenant_id)

    async def updated(self, session, owner: TokenOwner, cpo: Party, before: dict[str, Any] | None,
                      after: dict[str, Any], *, tenant_id: int | None = None):
        key = session_key(cpo, after["id"])
        patch = changed_fields(before, after)
        return await self._outbox.enqueue(session, Push(owner.partner_id, "sessions", key, "PATCH", key, patch),
                                          tenant_id=tenant_id)


# -- eMSP role: sessions the CPO pushes to us ---------------------------------------------------


def _refuse(message: str) -> OcpiError:
    return OcpiError(Status.INVALID_PARAMETERS, message)


def _text(body: dict, name: str, size: int, *, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise _refuse(f"{name}: required")
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > size:
        raise _refuse(f"{name}: a string of 1 to {size} characters")
    return value


def _number(body: dict, name: str, *, required: bool = True) -> Decimal | None:
    value = body.get(name)
    if value is None:
        if required:
            raise _refuse(f"{name}: required")
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal, str)):
        raise _refuse(f"{name}: a number")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise _refuse(f"{name}: a number") from None
    if not number.is_finite() or number < 0:
        raise _refuse(f"{name}: a number, not negative")
    return number


def check_price(value: Any, name: str) -> None:
    if not isinstance(value, dict):
        raise _refuse(f"{name}: a Price object")
    _number(value, "excl_vat")
    _number(value, "incl_vat", required=False)


def check_cdr_token(value: Any, name: str = "cdr_token") -> dict:
    if not isinstance(value, dict):
        raise _refuse(f"{name}: a CdrToken object")
    for field, size in (("country_code", 2), ("party_id", 3), ("uid", 36), ("contract_id", 36)):
        try:
            _text(value, field, size)
        except OcpiError as error:
            raise _refuse(f"{name}.{error.message}") from None
    if value.get("type") not in TOKEN_TYPES:
        raise _refuse(f"{name}.type: one of {', '.join(TOKEN_TYPES)}")
    return value


def check_charging_periods(value: Any) -> None:
    if not isinstance(value, list):
        raise _refuse("charging_periods: a list of ChargingPeriod")
    for n, period in enumerate(value):
        if not isinstance(period, dict) or not isinstance(period.get("dimensions"), list):
            raise _refuse(f"charging_periods[{n}]: a ChargingPeriod with dimensions")
        parse_ocpi_datetime(period.get("start_date_time"), f"charging_periods[{n}].start_date_time")


_SESSION_CHECKS = {
    "country_code": lambda b: _text(b, "country_code", 2),
    "party_id": lambda b: _text(b, "party_id", 3),
    "id": lambda b: _text(b, "id", 36),
    "start_date_time": lambda b: parse_ocpi_datetime(b.get("start_date_time"), "start_date_time"),
    "end_date_time": lambda b: parse_ocpi_datetime(b.get("end_date_time"), "end_date_time"),
    "kwh": lambda b: _number(b, "kwh"),
    "cdr_token": lambda b: check_cdr_token(b.get("cdr_token")),
    "auth_method": lambda b: _enum(b, "auth_method", AUTH_METHODS),
    "authorization_reference": lambda b: _text(b, "authorization_reference", 36),
    "location_id": lambda b: _text(b, "location_id", 36),
    "evse_uid": lambda b: _text(b, "evse_uid", 36),
    "connector_id": lambda b: _text(b, "connector_id", 36),
    "meter_id": lambda b: _text(b, "meter_id", 255),
    "currency": lambda b: _text(b, "currency", 3),
    "charging_periods": lambda b: check_charging_periods(b.get("charging_periods")),
    "total_cost": lambda b: check_price(b.get("total_cost"), "total_cost"),
    "status": lambda b: _enum(b, "status", SESSION_STATUSES),
    "last_updated": lambda b: parse_ocpi_datetime(b.get("last_updated"), "last_updated"),
}
REQUIRED = ("country_code", "party_id", "id", "start_date_time", "kwh", "cdr_token", "auth_method",
            "location_id", "evse_uid", "connector_id", "currency", "status", "last_updated")


def _enum(body: dict, name: str, allowed: tuple[str, ...]) -> str:
    value = body.get(name)
    if value not in allowed:
        raise _refuse(f"{name}: one of {', '.join(allowed)}")
    return value


def check_session(body: Any, *, partial: bool = False) -> dict[str, Any]:
    """`body` if it is a Session (every field given is checked; a whole one for a PUT, any
    fields with last_updated for a PATCH); OcpiError 2001 naming the field otherwise."""
    if not isinstance(body, dict):
        raise _refuse("the body is not a Session object")
    needed = ("last_updated",) if partial else REQUIRED
    for name in needed:
        if body.get(name) is None:
            raise _refuse(f"{name}: required")
    for name, check in _SESSION_CHECKS.items():
        if body.get(name) is not None:
            check(body)
    return body


async def read_json(request: Request) -> Any:
    """The request body as JSON; OcpiError 2001 if it is not JSON."""
    raw = await request.body()
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise _refuse("the body is not JSON") from None


def check_party(caller: Caller, country_code: str, party_id: str) -> None:
    if not caller.is_party(country_code, party_id):
        raise _refuse(f"party {country_code}*{party_id} is not one of the calling partner's parties")


def _same_ids(body: dict, country_code: str, party_id: str, session_id: str) -> None:
    for name, value in (("country_code", country_code), ("party_id", party_id), ("id", session_id)):
        given = body.get(name)
        if given is not None and str(given).upper() != value.upper():
            raise _refuse(f"{name}: {given!r} in the body, {value!r} in the URL")


emsp_router = APIRouter()
_PATH = "/sessions/{country_code}/{party_id}/{session_id}"


async def _stored(session, caller: Caller, country_code: str, party_id: str, session_id: str) -> RoamingSession | None:
    return await session.scalar(select(RoamingSession).where(
        RoamingSession.partner_id == caller.partner_id, RoamingSession.country_code == country_code.upper(),
        RoamingSession.party_id == party_id.upper(), RoamingSession.session_id == session_id))


@emsp_router.put(_PATH)
async def put_session(request: Request, country_code: str, party_id: str, session_id: str,
                      caller: Caller = Depends(ocpi_caller)) -> Response:
    """A new or updated Session from the CPO: kept whole, unless we hold a later one."""
    check_party(caller, country_code, party_id)
    body = check_session(await read_json(request))
    _same_ids(body, country_code, party_id, session_id)
    updated = parse_ocpi_datetime(body["last_updated"], "last_updated")
    sessions = request.app.state.roaming.sessions
    for attempt in (1, 2):  # a concurrent first PUT of the same session: the second goes as an update
        try:
            async with sessions.begin() as session:
                row = await _stored(session, caller, country_code, party_id, session_id)
                if row is None:
                    session.add(RoamingSession(
                        partner_id=caller.partner_id, country_code=country_code.upper(), party_id=party_id.upper(),
                        session_id=session_id, token_uid=body["cdr_token"]["uid"], status=body["status"],
                        last_updated=updated, body=body))
                elif _aware(row.last_updated) <= updated:
                    row.body, row.status, row.last_updated = body, body["status"], updated
                    row.token_uid = body["cdr_token"]["uid"]
                else:
                    return ocpi_response(None)  # a later one is held: nothing changed
            break
        except IntegrityError:
            if attempt == 2:
                raise
    request.app.state.roaming.received(caller.partner_id, "sessions", session_id)
    return ocpi_response(None)


@emsp_router.patch(_PATH)
async def patch_session(request: Request, country_code: str, party_id: str, session_id: str,
                        caller: Caller = Depends(ocpi_caller)) -> Response:
    """Changed fields of a Session we hold; one older than what we hold is acknowledged and
    not applied (it arrived late)."""
    check_party(caller, country_code, party_id)
    patch = check_session(await read_json(request), partial=True)
    _same_ids(patch, country_code, party_id, session_id)
    updated = parse_ocpi_datetime(patch["last_updated"], "last_updated")
    async with request.app.state.roaming.sessions.begin() as session:
        row = await _stored(session, caller, country_code, party_id, session_id)
        if row is None:
            raise OcpiError(Status.INVALID_PARAMETERS, f"no session {session_id} of {country_code}*{party_id}: "
                            "PUT it first", http_status=NOT_FOUND)
        if _aware(row.last_updated) > updated:
            return ocpi_response(None, message="older than the session held; not applied")
        merged = {**row.body, **patch}
        check_session(merged)
        row.body, row.status, row.last_updated = merged, merged["status"], updated
        row.token_uid = merged["cdr_token"]["uid"]
    request.app.state.roaming.received(caller.partner_id, "sessions", session_id)
    return ocpi_response(None)


@emsp_router.get(_PATH)
async def get_session(request: Request, country_code: str, party_id: str, session_id: str,
                      caller: Caller = Depends(ocpi_caller)) -> Response:
    check_party(caller, country_code, party_id)
    async with request.app.state.roaming.sessions() as session:
        row = await _stored(session, caller, country_code, party_id, session_id)
    if row is None:
        raise OcpiError(Status.CLIENT_ERROR, f"no session {session_id} of {country_code}*{party_id}",
                        http_status=NOT_FOUND)
    return ocpi_response(row.body)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


cpo_router = None
"""The SENDER list (GET /ocpi/cpo/2.2.1/sessions) is in roaming/sender_lists.py."""
