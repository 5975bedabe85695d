"""OCPI roaming for operators (roaming/partners.py does the work): who the tenant is in OCPI
(its identities), and its roaming partners: list them, invite one, register with one, renew
or end a registration. Area "roaming" (domain/roles.py).

Tokens: the token A of an invitation is shown once, in the invitation's answer; the token a
partner gave us is taken in a register request. Neither is ever shown again: a partner as
listed has its state, parties, endpoints and last exchanges, never a token. Both travel as
`credentials_token`, a field the audit trail redacts (api/audit.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from silkcharge.api.bounds import SmallRowId
from silkcharge.api.errors import answers
from silkcharge.domain.clock import stored_time
from silkcharge.domain.money import minor_units
from silkcharge.roaming.hubclientinfo import ClientInfos
from silkcharge.roaming.locations import PlaceKey, place_names, session_place
from silkcharge.roaming.partners import (
    Identity,
    NoIdentity,
    PartnerConflict,
    PartnerService,
    RegistrationFailed,
    UnknownPartner,
)
from silkcharge.roaming.pull import PartnerNotPullable
from silkcharge.services.roaming_settlement import InvalidMonth, RoamingSettlement, Totals, month_of
from silkcharge.store.schema import (
    RoamingCdr,
    RoamingClientInfo,
    RoamingIdentity,
    RoamingPartner,
    RoamingSession,
    RoamingTransaction,
    Transaction,
)
from silkcharge.store.tenancy import current_tenant

router = APIRouter(prefix="/roaming", tags=["roaming"])


def partners_of(request: Request) -> PartnerService:
    return request.app.state.roaming.partners


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IdentityIn(Body):
    country_code: str = Field(pattern=r"^[A-Za-z]{2}$", description="ISO 3166 alpha-2, e.g. KZ")
    party_id: str = Field(pattern=r"^[A-Za-z0-9]{3}$", description="the party's id, e.g. SLK")
    role: Literal["CPO", "EMSP"]
    business_name: str = Field(min_length=1, max_length=100)
    website: str | None = Field(default=None, max_length=255, pattern=r"^https?://")


class IdentityOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    country_code: str
    party_id: str
    role: str
    business_name: str
    website: str | None
    updated_at: datetime


class PartyConnectionOut(BaseModel):
    country_code: str
    party_id: str
    role: str
    status: str = Field(description="CONNECTED, OFFLINE, PLANNED or SUSPENDED, as the partner (a hub) reported it")
    last_updated: datetime = Field(description="the ClientInfo's own time")
    received_at: datetime


class PartnerOut(BaseModel):
    id: int
    name: str
    state: str = Field(description="invited, registered or unregistered")
    versions_url: str | None = Field(description="their versions endpoint (once known)")
    version: str | None
    roles: list[dict[str, Any]] = Field(description="their parties: role, country_code, party_id, business_details")
    endpoints: list[dict[str, Any]] = Field(description="their modules: identifier, role, url")
    last_push_at: datetime | None
    last_pull_at: datetime | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    parties: list[PartyConnectionOut] = Field(
        default_factory=list,
        description="the connection status of parties this partner reported in OCPI hubclientinfo (a hub's "
        "parties); pushes wait while every party it speaks for is reported unreachable")


class InviteIn(Body):
    name: str = Field(min_length=1, max_length=100, description="what the operator calls the partner")


class InviteOut(BaseModel):
    partner: PartnerOut
    credentials_token: str = Field(description="token A: give it to the partner with versions_url; shown only now")
    versions_url: str = Field(description="our OCPI versions endpoint, for the partner")


class RegisterIn(Body):
    name: str = Field(min_length=1, max_length=100)
    versions_url: str = Field(min_length=8, max_length=255, pattern=r"^https?://[!-~]+$",
                              description="their versions endpoint (http or https, printable ASCII, no spaces)")
    credentials_token: str = Field(min_length=1, max_length=64, pattern=r"^[\x21-\x7e]+$",
                                   description="the token A they gave us")


def _partner(row: RoamingPartner, parties: Sequence[RoamingClientInfo] = ()) -> PartnerOut:
    return PartnerOut(
        id=row.id, name=row.name, state=row.state, versions_url=row.versions_url, version=row.version,
        roles=row.roles or [], endpoints=row.endpoints or [], last_push_at=row.last_push_at,
        last_pull_at=row.last_pull_at, last_error=row.last_error, created_at=row.created_at,
        updated_at=row.updated_at,
        parties=[PartyConnectionOut(country_code=p.country_code, party_id=p.party_id, role=p.role, status=p.status,
                                    last_updated=p.last_updated, received_at=p.received_at)
                 for p in parties],
    )


def _client_info(request: Request) -> ClientInfos:
    return ClientInfos(request.app.state.roaming.sessions)


def _identity(row: RoamingIdentity) -> IdentityOut:
    return IdentityOut.model_validate(row)


def _one_tenant() -> None:
    """Identities and new partners belong to one tenant: a platform administrator acting
    across tenants names it first (X-Tenant), or the change would land in, or replace, the
    wrong tenant's."""
    if current_tenant() is None:
        raise HTTPException(403, "roaming identities and partners belong to one tenant: name it with X-Tenant")


def _refusal(exc: Exception) -> HTTPException:
    if isinstance(exc, UnknownPartner):
        return HTTPException(404, str(exc))
    if isinstance(exc, RegistrationFailed):
        return HTTPException(422, f"the partner's platform cannot be used: {exc}")
    return HTTPException(409, str(exc))


@router.get("/identities", response_model=list[IdentityOut])
async def identities(request: Request) -> list[IdentityOut]:
    return [_identity(row) for row in await partners_of(request).identities()]


@router.put("/identities", response_model=list[IdentityOut], responses=answers(409))
async def set_identities(body: list[IdentityIn], request: Request) -> list[IdentityOut]:
    """Replace the tenant's OCPI identities (the parties it roams as)."""
    _one_tenant()
    wanted = [Identity(i.country_code.upper(), i.party_id.upper(), i.role, i.business_name, i.website) for i in body]
    try:
        return [_identity(row) for row in await partners_of(request).set_identities(wanted)]
    except PartnerConflict as exc:
        raise _refusal(exc) from None


@router.get("/partners", response_model=list[PartnerOut])
async def partners(request: Request) -> list[PartnerOut]:
    """The tenant's partners, each with the connection status of the parties it reported."""
    reported = await _client_info(request).of_partners()
    return [_partner(row, reported.get(row.id, [])) for row in await partners_of(request).partners()]


@router.get("/partners/{partner_id}", response_model=PartnerOut, responses=answers(404))
async def partner(partner_id: SmallRowId, request: Request) -> PartnerOut:
    try:
        row = await partners_of(request).partner(partner_id)
    except UnknownPartner as exc:
        raise _refusal(exc) from None
    return _partner(row, (await _client_info(request).of_partners()).get(row.id, []))


@router.post("/partners/invite", response_model=InviteOut, status_code=201, responses=answers(409))
async def invite(body: InviteIn, request: Request) -> InviteOut:
    """A new partner and its token A, shown only in this answer."""
    _one_tenant()
    service = partners_of(request)
    try:
        row, token = await service.invite(body.name)
    except NoIdentity as exc:
        raise _refusal(exc) from None
    return InviteOut(partner=_partner(row), credentials_token=token, versions_url=service.versions_url)


@router.post("/partners/register", response_model=PartnerOut, status_code=201, responses=answers(409, 422))
async def register(body: RegisterIn, request: Request) -> PartnerOut:
    """Register with a partner that invited us (its versions URL and token A); 422 says why
    its platform could not be used, and nothing is kept then."""
    _one_tenant()
    try:
        return _partner(await partners_of(request).register(body.name, body.versions_url, body.credentials_token))
    except (NoIdentity, RegistrationFailed) as exc:
        raise _refusal(exc) from None


@router.post("/partners/{partner_id}/update", response_model=PartnerOut, responses=answers(404, 409, 422))
async def update(partner_id: SmallRowId, request: Request) -> PartnerOut:
    """Renew the registration: new tokens both ways, their endpoints fetched again."""
    try:
        return _partner(await partners_of(request).update(partner_id))
    except (UnknownPartner, PartnerConflict, RegistrationFailed) as exc:
        raise _refusal(exc) from None


@router.post("/partners/{partner_id}/unregister", response_model=PartnerOut, responses=answers(404, 409))
async def unregister(partner_id: SmallRowId, request: Request) -> PartnerOut:
    """End the registration: the partner is told (last_error says if that failed) and neither
    side's token works any more."""
    try:
        return _partner(await partners_of(request).unregister(partner_id))
    except (UnknownPartner, PartnerConflict) as exc:
        raise _refusal(exc) from None


class PullOut(BaseModel):
    partner_id: int
    since: datetime | None = Field(description="what changed since when was asked for (null: everything)")
    locations: int = Field(description="locations kept")
    tariffs: int = Field(description="tariffs kept")
    skipped: int = Field(description="objects that failed OCPI's checks, not kept")
    problems: list[str] = Field(description="the first few skipped objects and why")
    error: str | None = Field(description="why the pull stopped before the last page; null when it read them all")


@router.post("/partners/{partner_id}/pull", response_model=PullOut, responses=answers(404, 409))
async def pull(partner_id: SmallRowId, request: Request, everything: bool = False) -> PullOut:
    """Pull the partner's locations and tariffs now (our eMSP role), as the periodic pull does:
    what changed since the last pull, or `everything`. Objects are checked and merged as pushes
    are; the answer says what was kept and skipped, and why a pull stopped early."""
    try:
        report = await request.app.state.roaming.pull.pull(partner_id, everything=everything)
    except (UnknownPartner, PartnerNotPullable) as exc:
        raise _refusal(exc) from None
    return PullOut(**vars(report))


class AmountsOut(BaseModel):
    cdrs: int
    energy_kwh: str
    totals: list[dict[str, str]] = Field(description="per currency: currency, excl_vat, incl_vat (exact decimals)")


def _money(amount: Decimal, currency: str) -> str:
    """An amount to its currency's minor unit, as exact decimal text."""
    return str(amount.quantize(Decimal(1).scaleb(-minor_units(currency))))


def _amounts(totals: Totals) -> AmountsOut:
    money = _money

    return AmountsOut(cdrs=totals.cdrs, energy_kwh=f"{totals.energy_kwh.normalize():f}", totals=[
        {"currency": currency, "excl_vat": money(totals.excl_vat[currency], currency),
         "incl_vat": money(totals.incl_vat[currency], currency)}
        for currency in sorted(totals.excl_vat)])


class SettlementOut(BaseModel):
    partner_id: int
    partner: str
    state: str
    their_drivers_at_our_chargers: AmountsOut = Field(description="what the partner owes us: our CDRs, our currency")
    their_cdrs_held_for_review: int
    our_drivers_at_their_chargers: AmountsOut = Field(description="what we owe the partner: its CDRs, its currency")
    charged_to_our_drivers: AmountsOut = Field(description="those CDRs as our drivers pay them, in our currency")
    our_cdrs_waiting_for_a_rate: int
    conflicting_cdrs: int = Field(description="copies of CDRs already received with other content: in no total")


@router.get("/settlement", response_model=list[SettlementOut])
async def settlement(request: Request, month: str = Query(
        ..., max_length=7, description="YYYY-MM: sessions that ended in this month (UTC)")) -> list[SettlementOut]:
    """A month of roaming with each partner, both ways, per currency (services/roaming_settlement.py)."""
    try:
        first = month_of(month)
    except InvalidMonth as exc:
        raise HTTPException(422, str(exc)) from None
    months = await RoamingSettlement(request.app.state.platform.sessions).month(first)
    return [SettlementOut(
        partner_id=m.partner_id, partner=m.partner, state=m.state,
        their_drivers_at_our_chargers=_amounts(m.theirs_at_ours), their_cdrs_held_for_review=m.theirs_held,
        our_drivers_at_their_chargers=_amounts(m.ours_at_theirs),
        charged_to_our_drivers=_amounts(m.charged_to_our_drivers), our_cdrs_waiting_for_a_rate=m.ours_held,
        conflicting_cdrs=m.conflicts) for m in months]


class RoamingSessionOut(BaseModel):
    direction: Literal["ours_at_theirs", "theirs_at_ours"] = Field(
        description="our driver at a partner's charger (the partner's Session), or a partner's driver at ours")
    partner_id: int | None
    partner: str | None
    session_id: str = Field(description="the partner's session id, or our transaction id")
    location_id: str | None
    place: str | None = Field(default=None, description="our driver at a partner's charger: the partner's "
                                                         "location's name (else its address) as its CPO sent it, "
                                                         "when we hold that location")
    evse: str | None = Field(description="the partner's EVSE uid, or our station and EVSE")
    token_uid: str | None
    status: str
    kwh: str | None
    cost: dict[str, str] | None = Field(description="the session's cost so far as the CPO sent it (currency, "
                                                    "incl_vat), for our drivers at partners' chargers")
    started_at: datetime | None
    ended_at: datetime | None


@router.get("/sessions", response_model=list[RoamingSessionOut])
async def roaming_sessions(request: Request, limit: int = Query(50, ge=1, le=500)) -> list[RoamingSessionOut]:
    """The newest roaming sessions both ways: our drivers at partners' chargers (as the partner
    pushed them) and partners' drivers at ours (our transactions started with their tokens)."""
    async with request.app.state.platform.sessions() as session:
        names = {p.id: p.name for p in (await session.scalars(select(RoamingPartner))).all()}
        theirs = (await session.scalars(select(RoamingSession).order_by(RoamingSession.last_updated.desc())
                                        .limit(limit))).all()
        places = await place_names(session, {key for row in theirs if (key := session_place(row)) is not None})
        ours = (await session.execute(
            select(Transaction, RoamingTransaction).join(
                RoamingTransaction, RoamingTransaction.transaction_id == Transaction.id)
            .order_by(Transaction.started_at.desc()).limit(limit))).all()
    found = [_their_session(row, names, places) for row in theirs]
    found += [RoamingSessionOut(
        direction="theirs_at_ours", partner_id=link.partner_id, partner=names.get(link.partner_id),
        session_id=str(tx.id), location_id=None, evse=f"{tx.station_id}*{tx.evse_id}", token_uid=link.token_uid,
        status=tx.state, kwh=None if tx.energy_wh is None else f"{(tx.energy_wh / 1000).normalize():f}",
        cost=None, started_at=tx.started_at, ended_at=tx.stopped_at) for tx, link in ours]
    def started(item: RoamingSessionOut) -> datetime:
        moment = item.started_at or datetime.min
        return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)

    found.sort(key=started, reverse=True)
    return found[:limit]


def _their_session(row: RoamingSession, names: dict[int, str], places: dict[PlaceKey, str]) -> RoamingSessionOut:
    body = row.body
    cost = body.get("total_cost") if isinstance(body.get("total_cost"), dict) else None
    place = session_place(row)
    return RoamingSessionOut(
        direction="ours_at_theirs", partner_id=row.partner_id, partner=names.get(row.partner_id),
        session_id=row.session_id, location_id=body.get("location_id"),
        place=places.get(place) if place is not None else None, evse=body.get("evse_uid"),
        token_uid=row.token_uid, status=row.status, kwh=None if body.get("kwh") is None else str(body["kwh"]),
        cost=None if cost is None else {"currency": str(body.get("currency")),
                                        "incl_vat": str(cost.get("incl_vat", cost.get("excl_vat")))},
        started_at=stored_time(body.get("start_date_time")), ended_at=stored_time(body.get("end_date_time")))


class PartnerCdrOut(BaseModel):
    id: int
    partner_id: int
    partner: str | None
    cdr_id: str
    session_id: str | None
    token_uid: str | None
    ended_at: datetime | None
    currency: str
    total_incl_vat: str | None
    driver_currency: str | None
    driver_incl_vat: str | None
    charge_state: str = Field(description="ready (the driver's amount and the rate are known), or held "
                                          "(hold_reason says why)")
    hold_reason: str | None
    conflict: bool = Field(description="a copy of a CDR already received with other content: kept for review")
    received_at: datetime


@router.get("/cdrs", response_model=list[PartnerCdrOut])
async def partner_cdrs(request: Request, limit: int = Query(50, ge=1, le=500)) -> list[PartnerCdrOut]:
    """The newest CDRs partners sent for our drivers' sessions at their chargers, with what our
    drivers pay for each (our CDRs of partners' drivers are at GET /api/v1/cdrs)."""
    async with request.app.state.platform.sessions() as session:
        names = {p.id: p.name for p in (await session.scalars(select(RoamingPartner))).all()}
        rows = (await session.scalars(select(RoamingCdr).order_by(RoamingCdr.received_at.desc()).limit(limit))).all()
    return [PartnerCdrOut(
        id=r.id, partner_id=r.partner_id, partner=names.get(r.partner_id), cdr_id=r.cdr_id, session_id=r.session_id,
        token_uid=r.token_uid, ended_at=stored_time(r.body.get("end_date_time")), currency=r.currency,
        total_incl_vat=None if r.total_incl_vat is None else _money(r.total_incl_vat, r.currency),
        driver_currency=r.driver_currency,
        driver_incl_vat=None if r.driver_incl_vat is None or r.driver_currency is None
        else _money(r.driver_incl_vat, r.driver_currency), charge_state=r.charge_state,
        hold_reason=r.hold_reason, conflict=bool(r.conflict), received_at=r.received_at) for r in rows]
