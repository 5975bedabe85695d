"""Operator API for OCPI charging profiles at partners' chargers (eMSP role): set a charging
profile on a session of one of our drivers at a partner CPO, ask for the profile the charger
plans for it (ActiveChargingProfile) or clear ours, and read what became of each request (the
partner's immediate response, then the result it posts back), and the latest profile the
partner pushed for a session. roaming/charging_profiles.py `ProfileSender` does the sending
and keeping.

For the console's Roaming page, every exchange either way is listed too: the requests we sent
partner CPOs, those partner eMSPs sent us for their drivers at our chargers, and the
ActiveChargingProfiles we pushed them (GET ``), and the latest profile each partner CPO pushed
us per session (GET `/pushed`)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import select

from silkcharge.api.bounds import INT32_MAX, FiniteDecimal, RowId, SmallRowId
from silkcharge.api.errors import answers
from silkcharge.domain.commands import MAX_LIMIT
from silkcharge.roaming.charging_profiles import MAX_DURATION, ProfileRequestFailed, ProfileSender
from silkcharge.roaming.locations import place_names, session_place
from silkcharge.roaming.partners import UnknownPartner
from silkcharge.roaming.wire import ocpi_datetime
from silkcharge.smart.profiles import wire_number
from silkcharge.store.schema import (
    RoamingActiveProfile,
    RoamingChargingProfile,
    RoamingPartner,
    RoamingSession,
)

router = APIRouter(prefix="/roaming/charging-profiles", tags=["roaming"])

SESSION_ID = r"^[\x20-\x7e]{1,36}$"
"""An OCPI session id: CiString(36), printable ASCII."""
SessionId = Annotated[str, Field(pattern=SESSION_ID, description="the partner's OCPI Session id")]
Limit = Annotated[FiniteDecimal, Field(ge=0, le=MAX_LIMIT, description="in the profile's unit; one decimal is sent")]


def _sender(request: Request) -> ProfileSender:
    roaming = getattr(request.app.state, "roaming", None)
    if roaming is None or roaming.profile_sender is None:
        raise HTTPException(503, "roaming is not set up on this network")
    return roaming.profile_sender


class ProfilePeriodIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start_period: int = Field(ge=0, le=INT32_MAX, description="seconds from the profile's start")
    limit: Limit


class ChargingProfileIn(BaseModel):
    """An OCPI 2.2.1 ChargingProfile."""

    model_config = ConfigDict(extra="forbid")
    start_date_time: AwareDatetime | None = Field(
        default=None, description="when the profile starts; none: it starts with the charging")
    duration: int | None = Field(default=None, ge=1, le=INT32_MAX, description="seconds; none: open-ended")
    charging_rate_unit: Literal["W", "A"]
    min_charging_rate: Limit | None = None
    charging_profile_period: list[ProfilePeriodIn] = Field(min_length=1, max_length=1024)

    @field_validator("start_date_time")
    @classmethod
    def in_utc(cls, value: datetime | None) -> datetime | None:
        """Kept in UTC, as OCPI writes it; a moment UTC cannot express (year 1 east of
        Greenwich) is refused here rather than failing when it is written."""
        if value is None:
            return None
        try:
            return value.astimezone(timezone.utc)
        except OverflowError:
            raise ValueError("is out of the range of UTC date and times") from None

    def ocpi(self) -> dict[str, Any]:
        """The object as OCPI writes it: numbers with one decimal at most, times in UTC."""
        body: dict[str, Any] = {"charging_rate_unit": self.charging_rate_unit, "charging_profile_period": [
            {"start_period": p.start_period, "limit": wire_number(p.limit)} for p in self.charging_profile_period]}
        if self.start_date_time is not None:
            body["start_date_time"] = ocpi_datetime(self.start_date_time)
        if self.duration is not None:
            body["duration"] = self.duration
        if self.min_charging_rate is not None:
            body["min_charging_rate"] = wire_number(self.min_charging_rate)
        return body


class ProfileRequestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    partner_id: SmallRowId = Field(description="the roaming partner (a CPO) where the session runs")
    session_id: SessionId
    request: Literal["SET", "ACTIVE", "CLEAR"] = Field(
        description="SET: set charging_profile on the session; ACTIVE: ask for the profile the charger plans "
        "for the next `duration` seconds; CLEAR: clear the profile we set")
    charging_profile: ChargingProfileIn | None = Field(default=None, description="SET only, and needed there")
    duration: int | None = Field(default=None, ge=1, le=MAX_DURATION,
                                 description="ACTIVE only: seconds of the profile asked for (default 900)")

    @model_validator(mode="after")
    def fits_the_request(self) -> ProfileRequestIn:
        if (self.charging_profile is not None) != (self.request == "SET"):
            raise ValueError("charging_profile is needed for SET and only for SET")
        if self.duration is not None and self.request != "ACTIVE":
            raise ValueError("duration is for ACTIVE only")
        return self


class ProfileRequestOut(BaseModel):
    id: int
    partner_id: int
    session_id: str
    request: Literal["SET", "ACTIVE", "CLEAR"]
    uid: str = Field(description="our id of the request: the last part of the response_url the partner posts to")
    body: dict[str, Any] = Field(description="what was sent: the SetChargingProfile, or the duration and response_url")
    response: str | None = Field(description="the ChargingProfileResponse (ACCEPTED, NOT_SUPPORTED, REJECTED, "
                                             "TOO_OFTEN, UNKNOWN_SESSION), or FAILED when the partner could not "
                                             "be asked")
    response_message: str | None
    timeout: int | None = Field(description="seconds the partner said its result may take")
    result: str | None = Field(description="the result the partner posted (ACCEPTED, REJECTED, UNKNOWN); "
                                           "null until it arrives")
    profile: dict[str, Any] | None = Field(description="ACTIVE: the ActiveChargingProfile the result carried")
    created_at: datetime
    result_at: datetime | None


class PushedProfileOut(BaseModel):
    partner_id: int
    session_id: str
    profile: dict[str, Any] = Field(description="the OCPI ActiveChargingProfile as the partner pushed it")
    received_at: datetime


def _out(row: RoamingChargingProfile) -> ProfileRequestOut:
    return ProfileRequestOut(
        id=row.id, partner_id=row.partner_id, session_id=row.session_id, request=row.kind, uid=row.uid,
        body=row.request, response=row.response, response_message=row.response_message, timeout=row.timeout,
        result=row.result, profile=row.profile, created_at=row.created_at, result_at=row.result_at,
    )


@router.post("", response_model=ProfileRequestOut, status_code=201, responses=answers(404, 502))
async def send_profile_request(body: ProfileRequestIn, request: Request) -> ProfileRequestOut:
    """Send the request to the partner CPO; answered with the partner's ChargingProfileResponse.
    502 when the partner does not take it (the reason is kept on the stored request too)."""
    try:
        row = await _sender(request).send(
            body.partner_id, body.request, body.session_id,
            charging_profile=body.charging_profile.ocpi() if body.charging_profile else None,
            duration=(body.duration or 900) if body.request == "ACTIVE" else None)
    except UnknownPartner as exc:
        raise HTTPException(404, str(exc)) from None
    except ProfileRequestFailed as exc:
        raise HTTPException(502, str(exc)) from None
    return _out(row)


@router.get("/pushed/{partner_id}/{session_id}", response_model=PushedProfileOut, responses=answers(404))
async def pushed_profile(
    partner_id: SmallRowId, session_id: Annotated[str, Path(pattern=SESSION_ID)], request: Request,
) -> PushedProfileOut:
    """The latest ActiveChargingProfile the partner pushed, unasked, for its session."""
    row: RoamingActiveProfile | None = await _sender(request).pushed(partner_id, session_id)
    if row is None:
        raise HTTPException(404, f"partner {partner_id} pushed no profile for session {session_id}")
    return PushedProfileOut(partner_id=row.partner_id, session_id=row.session_id, profile=row.profile,
                            received_at=row.received_at)


Direction = Literal["sent", "received", "pushed"]
Kind = Literal["SET", "ACTIVE", "CLEAR"]
MAX_LISTED = 200
"""The most rows one list answers: the console shows the recent ones, not the history."""


class ProfileExchangeOut(BaseModel):
    """One charging profile exchange with a roaming partner, either way."""

    id: int
    partner_id: int
    partner: str | None = Field(description="the partner's name as the operator calls it")
    direction: Direction = Field(
        description="sent: we (eMSP) asked a partner CPO for our driver's session at its charger; received: a "
        "partner eMSP asked us for its driver's session at our charger; pushed: we pushed a partner eMSP, "
        "unasked, the ActiveChargingProfile of its driver's session after the session's profiles changed")
    kind: Kind = Field(description="SET (a SetChargingProfile), ACTIVE (the ActiveChargingProfile: asked for, or "
                                   "pushed) or CLEAR (clear the profile the eMSP set)")
    session_id: str = Field(description="the CPO's OCPI Session id: our transaction id when the charger is ours")
    station_id: str | None = Field(description="our station, when the session is at our charger")
    evse_id: int | None = Field(description="its EVSE")
    location_id: str | None = Field(default=None, description="sent only: the partner's location of our driver's "
                                                              "session, as the partner's Session names it")
    evse_uid: str | None = Field(default=None, description="sent only: the partner's EVSE uid of that session")
    place: str | None = Field(default=None, description="sent only: that location's name (else its address), "
                                                        "when we hold the partner's location")
    cause: str | None = Field(description="pushed only: the change that made us push (operator, load, depot, "
                                          "an external limit)")
    response: str | None = Field(description="the ChargingProfileResponse (ACCEPTED, NOT_SUPPORTED, REJECTED, "
                                             "TOO_OFTEN, UNKNOWN_SESSION), FAILED when the partner could not be "
                                             "asked; null for a push")
    response_message: str | None = Field(description="why, when the response was not ACCEPTED")
    result: str | None = Field(description="the result (ACCEPTED, REJECTED, UNKNOWN); null until it is known. For a "
                                           "push: ACCEPTED when the profile was pushed")
    result_message: str | None = Field(description="why, when the result was not ACCEPTED")
    delivery_error: str | None = Field(description="received only: why the result has not reached the partner")
    charging_profile: dict[str, Any] | None = Field(description="SET: the OCPI ChargingProfile asked for")
    profile: dict[str, Any] | None = Field(
        description="ACTIVE: the OCPI ActiveChargingProfile the result carried, or the one pushed")
    created_at: datetime
    result_at: datetime | None
    delivered_at: datetime | None = Field(description="received only: when the result reached the partner")


class PushedProfileRowOut(PushedProfileOut):
    partner: str | None = Field(description="the partner's name as the operator calls it")


async def _partner_names(session) -> dict[int, str]:
    return {p.id: p.name for p in (await session.scalars(select(RoamingPartner))).all()}


@router.get("", response_model=list[ProfileExchangeOut])
async def profile_exchanges(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=MAX_LISTED, description="how many, newest first")] = 50,
    direction: Annotated[Direction | None, Query(description="only this direction")] = None,
    kind: Annotated[Kind | None, Query(description="only this kind of request")] = None,
    session_id: Annotated[str | None, Query(pattern=SESSION_ID, description="only this OCPI Session")] = None,
    partner_id: Annotated[SmallRowId | None, Query(description="only this partner")] = None,
) -> list[ProfileExchangeOut]:
    """The newest charging profile exchanges with roaming partners, both ways: requests we
    sent partner CPOs, requests partner eMSPs sent us, and ActiveChargingProfiles we pushed
    them, each with the partner's or the charger's answer."""
    query = select(RoamingChargingProfile).order_by(RoamingChargingProfile.id.desc()).limit(limit)
    if direction is not None:
        query = query.where(RoamingChargingProfile.direction == direction)
    if kind is not None:
        query = query.where(RoamingChargingProfile.kind == kind)
    if session_id is not None:
        query = query.where(RoamingChargingProfile.session_id == session_id)
    if partner_id is not None:
        query = query.where(RoamingChargingProfile.partner_id == partner_id)
    async with request.app.state.platform.sessions() as session:
        names = await _partner_names(session)
        rows = (await session.scalars(query)).all()
        where = await _partner_sessions_where(session, rows)
    return [_exchange(row, names, where.get((row.partner_id, row.session_id))) for row in rows]


Where = tuple[str | None, str | None, str | None]
"""Where a partner's session runs: its location id, EVSE uid, and the location's name."""


async def _partner_sessions_where(session, rows) -> dict[tuple[int, str], Where]:
    """For the requests we sent partner CPOs: where each of our drivers' sessions runs, from the
    partner's Session and the Location we hold of it."""
    sent = {(row.partner_id, row.session_id) for row in rows if row.direction == "sent"}
    if not sent:
        return {}
    found = (await session.scalars(select(RoamingSession).where(
        RoamingSession.session_id.in_({session_id for _, session_id in sent})))).all()
    theirs = {(s.partner_id, s.session_id): s for s in found if (s.partner_id, s.session_id) in sent}
    places = {pair: session_place(s) for pair, s in theirs.items()}
    names = await place_names(session, {key for key in places.values() if key is not None})
    return {pair: (s.body.get("location_id"), s.body.get("evse_uid"), names.get(places[pair]))
            for pair, s in theirs.items()}


def _exchange(row: RoamingChargingProfile, names: dict[int, str], where: Where | None) -> ProfileExchangeOut:
    asked = row.request if isinstance(row.request, dict) else {}
    charging_profile = asked.get("charging_profile") if row.kind == "SET" else None
    location_id, evse_uid, place = where or (None, None, None)
    return ProfileExchangeOut(
        id=row.id, partner_id=row.partner_id, partner=names.get(row.partner_id), direction=row.direction,
        kind=row.kind, session_id=row.session_id, station_id=row.station_id, evse_id=row.evse_id,
        location_id=location_id, evse_uid=evse_uid, place=place,
        cause=asked.get("cause") if row.direction == "pushed" else None, response=row.response,
        response_message=row.response_message, result=row.result, result_message=row.result_message,
        delivery_error=row.delivery_error,
        charging_profile=charging_profile if isinstance(charging_profile, dict) else None,
        profile=row.profile, created_at=row.created_at, result_at=row.result_at, delivered_at=row.delivered_at)


@router.get("/pushed", response_model=list[PushedProfileRowOut])
async def pushed_profiles(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=MAX_LISTED, description="how many, the latest received first")] = 50,
    session_id: Annotated[str | None, Query(pattern=SESSION_ID, description="only this OCPI Session")] = None,
    partner_id: Annotated[SmallRowId | None, Query(description="only this partner")] = None,
) -> list[PushedProfileRowOut]:
    """The ActiveChargingProfiles partner CPOs pushed us, unasked, for our drivers' sessions at
    their chargers: the latest per partner and session, the latest received first."""
    query = select(RoamingActiveProfile).order_by(RoamingActiveProfile.received_at.desc(),
                                                  RoamingActiveProfile.id.desc()).limit(limit)
    if session_id is not None:
        query = query.where(RoamingActiveProfile.session_id == session_id)
    if partner_id is not None:
        query = query.where(RoamingActiveProfile.partner_id == partner_id)
    async with request.app.state.platform.sessions() as session:
        names = await _partner_names(session)
        rows = (await session.scalars(query)).all()
    return [PushedProfileRowOut(partner_id=row.partner_id, partner=names.get(row.partner_id),
                                session_id=row.session_id, profile=row.profile, received_at=row.received_at)
            for row in rows]


@router.get("/{request_id}", response_model=ProfileRequestOut, responses=answers(404))
async def profile_request_state(request_id: RowId, request: Request) -> ProfileRequestOut:
    row = await _sender(request).get(request_id)
    if row is None:
        raise HTTPException(404, f"no roaming charging profile request {request_id}")
    return _out(row)
