"""The OCPI 2.2.1 HubClientInfo module, Receiver interface: what a hub tells us of the parties
connected to it.

We are a CPO or an eMSP platform, never a hub, so we only receive: a registered partner (a hub,
or any partner) PUTs and PATCHes ClientInfo objects at
/ocpi/2.2.1/hubclientinfo/{country_code}/{party_id} and may GET them back. The module serves
both our roles at one address (it is listed once, as RECEIVER, in our version details).

Each ClientInfo is kept per reporting partner and party (`roaming_client_info`): a partner's
word is only about the parties we reach through it, so no partner can cut us off from a party
it does not carry. Merge rule, as the locations module's: a write older (by `last_updated`) than
the ClientInfo held is acknowledged and not applied; every PATCH carries `last_updated`.

What a status changes here (the spec's scenarios, made to fit a durable outbox):

- OFFLINE, PLANNED, SUSPENDED: the party cannot be reached. A partner all of whose parties are
  reported so (by that partner) is not pushed to: its outbox rows wait, in order, without being
  probed (`partners_away`; the spec says not to queue, but our outbox already holds the changes
  durably, and sending them when the party is back costs the partner no GET to catch up). Its
  chargers are shown as unavailable in the drivers' search (SUSPENDED: not shown at all,
  services/partner_sites.py) and a driver's start there is refused (roaming/driver_start.py).
- CONNECTED: back. The outbox sends what waited at once, without waiting out its backoff
  (`Roaming.retry_partner`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from silkcharge.domain.clock import utcnow
from silkcharge.roaming.auth import Caller, ocpi_caller
from silkcharge.roaming.objects import (
    Field,
    check_object,
    cistring,
    datetime_text,
    enum,
    known_fields,
    read_json,
    refuse,
)
from silkcharge.roaming.wire import (
    OCPI_VERSION,
    OcpiError,
    Status,
    ocpi_datetime,
    ocpi_response,
    parse_ocpi_datetime,
)
from silkcharge.store.schema import RoamingClientInfo, RoamingPartner

log = logging.getLogger(__name__)

MODULE = "hubclientinfo"
ENDPOINTS: list[tuple[str, str, str]] = [(MODULE, "RECEIVER", f"{OCPI_VERSION}/{MODULE}")]
NOT_FOUND = 404

CONNECTED, OFFLINE, PLANNED, SUSPENDED = "CONNECTED", "OFFLINE", "PLANNED", "SUSPENDED"
UNREACHABLE = frozenset({OFFLINE, PLANNED, SUSPENDED})
"""The statuses under which no request should be sent to the party."""
ROLES = ("CPO", "EMSP", "HUB", "NAP", "NSP", "OTHER", "SCSP")

CLIENT_INFO = {
    "party_id": Field(cistring(3), True),
    "country_code": Field(cistring(2), True),
    "role": Field(enum(*ROLES), True),
    "status": Field(enum(CONNECTED, OFFLINE, PLANNED, SUSPENDED), True),
    "last_updated": Field(datetime_text, True),
}


def client_info_object(row: RoamingClientInfo) -> dict[str, Any]:
    return {"party_id": row.party_id, "country_code": row.country_code, "role": row.role, "status": row.status,
            "last_updated": ocpi_datetime(row.last_updated)}


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


class ClientInfos:
    """The ClientInfo objects partners pushed to us, in the tenant in scope."""

    def __init__(self, sessions: async_sessionmaker) -> None:
        self._sessions = sessions

    async def held(self, partner_id: int, country_code: str, party_id: str) -> RoamingClientInfo | None:
        async with self._sessions() as session:
            return await _row(session, partner_id, country_code, party_id)

    async def write(self, partner_id: int, country_code: str, party_id: str, change: dict[str, Any], *,
                    whole: bool) -> tuple[RoamingClientInfo, bool, str | None]:
        """Apply a PUT (`whole`) or PATCH to what we hold: (the row, whether it was applied, the
        status it had before or None). A change older than the row is not applied; a PATCH of
        nothing held is a 404. Two writers of one party take turns (row lock on PostgreSQL),
        a race to create it is retried once."""
        updated = parse_ocpi_datetime(change["last_updated"], "last_updated")
        for attempt in (1, 2):
            try:
                async with self._sessions.begin() as session:
                    row = await _row(session, partner_id, country_code, party_id, lock=True)
                    if row is None and not whole:
                        raise OcpiError(Status.CLIENT_ERROR, f"no ClientInfo of {country_code}*{party_id} to PATCH: "
                                        "PUT it first", http_status=NOT_FOUND)
                    if row is not None and _aware(row.last_updated) > updated:
                        return row, False, row.status
                    before = row.status if row is not None else None
                    if row is None:
                        row = RoamingClientInfo(partner_id=partner_id, country_code=country_code.upper(),
                                                party_id=party_id.upper())
                        session.add(row)
                    merged = {**(client_info_object(row) if before is not None else {}), **change}
                    refuse(check_object(merged, CLIENT_INFO), "the ClientInfo as merged")
                    row.role, row.status = merged["role"], merged["status"]
                    row.last_updated, row.received_at = updated, utcnow()
                return row, True, before
            except IntegrityError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def of_partners(self) -> dict[int, list[RoamingClientInfo]]:
        """Every ClientInfo held, by reporting partner (for the operator's list of partners)."""
        async with self._sessions() as session:
            rows = (await session.scalars(select(RoamingClientInfo).order_by(
                RoamingClientInfo.partner_id, RoamingClientInfo.country_code, RoamingClientInfo.party_id))).all()
        found: dict[int, list[RoamingClientInfo]] = {}
        for row in rows:
            found.setdefault(row.partner_id, []).append(row)
        return found


async def _row(session: AsyncSession, partner_id: int, country_code: str, party_id: str, *,
               lock: bool = False) -> RoamingClientInfo | None:
    query = select(RoamingClientInfo).where(
        RoamingClientInfo.partner_id == partner_id,
        RoamingClientInfo.country_code == country_code.upper(),
        RoamingClientInfo.party_id == party_id.upper())
    if lock:
        query = query.with_for_update()
    return await session.scalar(query)


async def party_status(session: AsyncSession, partner_id: int, country_code: str, party_id: str) -> str | None:
    """What the partner we reach the party through last reported of it; None: nothing."""
    return await session.scalar(select(RoamingClientInfo.status).where(
        RoamingClientInfo.partner_id == partner_id,
        func.upper(RoamingClientInfo.country_code) == country_code.upper(),
        func.upper(RoamingClientInfo.party_id) == party_id.upper()))


def away(roles: Iterable[dict[str, Any]] | None, reported: dict[tuple[str, str], str]) -> bool:
    """Whether a partner with these credentials roles is away: it speaks for at least one party
    besides a hub's own, and it reported every one of them unreachable."""
    parties = {(str(r.get("country_code", "")).upper(), str(r.get("party_id", "")).upper())
               for r in roles or () if r.get("role") != "HUB"}
    return bool(parties) and all(reported.get(party) in UNREACHABLE for party in parties)


async def partners_away(sessions: async_sessionmaker) -> set[int]:
    """The partners (in the database in use, of every tenant in scope) not to push to now: every
    party they speak for is reported OFFLINE, PLANNED or SUSPENDED by themselves (a hub's word
    on the parties behind it). One cheap read when nobody is reported unreachable."""
    async with sessions() as session:
        unreachable = (await session.execute(select(
            RoamingClientInfo.partner_id, RoamingClientInfo.country_code, RoamingClientInfo.party_id,
            RoamingClientInfo.status).where(RoamingClientInfo.status.in_(UNREACHABLE)))).all()
        if not unreachable:
            return set()
        ids = {partner_id for partner_id, *_ in unreachable}
        roles = dict((await session.execute(
            select(RoamingPartner.id, RoamingPartner.roles).where(RoamingPartner.id.in_(ids)))).all())
    reported: dict[int, dict[tuple[str, str], str]] = {}
    for partner_id, country, party, status in unreachable:
        reported.setdefault(partner_id, {})[(country.upper(), party.upper())] = status
    return {partner_id for partner_id in ids if away(roles.get(partner_id), reported[partner_id])}


# -- the Receiver interface -------------------------------------------------------------------

router = APIRouter(prefix=f"/{MODULE}")
_PATH = "/{country_code}/{party_id}"


def _check_ids(country_code: str, party_id: str) -> None:
    problems: list[str] = []
    cistring(2)(country_code, "country_code", problems)
    cistring(3)(party_id, "party_id", problems)
    refuse(problems, "the URL")


def _same_party(body: dict[str, Any], country_code: str, party_id: str) -> None:
    for name, expected in (("country_code", country_code), ("party_id", party_id)):
        if name in body and str(body[name]).upper() != expected.upper():
            raise OcpiError(Status.INVALID_PARAMETERS,
                            f"{name}: {body[name]!r} does not match {expected!r} in the URL")


def _infos(request: Request) -> ClientInfos:
    return ClientInfos(request.app.state.roaming.sessions)


@router.get(_PATH)
async def get_client_info(country_code: str, party_id: str, request: Request,
                          caller: Caller = Depends(ocpi_caller)) -> Response:
    """The ClientInfo of the party as the calling partner pushed it (a hub checking its copy)."""
    _check_ids(country_code, party_id)
    row = await _infos(request).held(caller.partner_id, country_code, party_id)
    if row is None:
        raise OcpiError(Status.CLIENT_ERROR, f"no ClientInfo of {country_code}*{party_id} has been pushed",
                        http_status=NOT_FOUND)
    return ocpi_response(client_info_object(row))


async def _write(request: Request, caller: Caller, country_code: str, party_id: str, *, whole: bool) -> Response:
    _check_ids(country_code, party_id)
    body = read_json(await request.body())
    what = "the ClientInfo" if whole else "the ClientInfo PATCH"
    problems = check_object(body, CLIENT_INFO, partial=not whole)
    if not whole and isinstance(body, dict) and body.get("last_updated") is None:
        problems.insert(0, "last_updated: required in every PATCH")
    refuse(problems, what)
    body = known_fields(body, CLIENT_INFO)
    _same_party(body, country_code, party_id)
    row, applied, before = await _infos(request).write(caller.partner_id, country_code, party_id, body, whole=whole)
    if not applied:
        return ocpi_response(None, message="older than the ClientInfo held; not applied")
    if row.status != before:
        log.info("roaming partner %s reports %s*%s %s (was %s)", caller.partner_id, row.country_code, row.party_id,
                 row.status, before or "unknown")
    retry = getattr(request.app.state.roaming, "retry_partner", None)
    if row.status == CONNECTED and before in UNREACHABLE and retry is not None:
        await retry(caller.partner_id)  # back: what waited for it goes now, not after the backoff
    return ocpi_response(None)


@router.put(_PATH)
async def put_client_info(country_code: str, party_id: str, request: Request,
                          caller: Caller = Depends(ocpi_caller)) -> Response:
    return await _write(request, caller, country_code, party_id, whole=True)


@router.patch(_PATH)
async def patch_client_info(country_code: str, party_id: str, request: Request,
                            caller: Caller = Depends(ocpi_caller)) -> Response:
    return await _write(request, caller, country_code, party_id, whole=False)
