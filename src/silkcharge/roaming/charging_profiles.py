"""The OCPI 2.2.1 ChargingProfiles module (mod_charging_profiles.asciidoc), both roles.

- **CPO, Receiver** (`cpo_router`, /ocpi/cpo/2.2.1/chargingprofiles/{session_id}): a partner
  eMSP sets a charging profile on a session of its driver at our charger (PUT, a
  SetChargingProfile), asks for the profile the charger plans for it (GET, the
  ActiveChargingProfile) or clears what it set (DELETE). The request is checked (2001 naming
  every problem) and answered at once with a ChargingProfileResponse; the work then goes to
  the station through the version-neutral commands (services/commands.py: SetChargingProfile,
  GetCompositeSchedule, ClearChargingProfile alike for OCPP 1.6 and 2.0.1), and what the
  station answers is POSTed to the partner's response_url as the result (`ProfileDesk`), with
  bounded retries, as roaming/commands.py does for commands.
- **eMSP, Sender** (`emsp_router`, /ocpi/emsp/2.2.1/chargingprofiles): where a partner CPO posts
  the result of a request we sent it (`ProfileSender.send`) for a driver of ours
  (POST .../results/{uid}, the response_url we give), and where it pushes, unasked, the
  ActiveChargingProfile of a session whose profile changed (PUT .../{session_id}; the latest
  one is kept per partner and session).

Each request, either way, is a row of `roaming_charging_profiles` in the partner's tenant.
How an OCPI profile becomes an OCPP TxProfile and a composite schedule an OCPI profile is in
docs/roaming.md "Charging profiles".
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import async_sessionmaker

from silkcharge.bus.local import (
    StationCallError,
    StationOffline,
    StationReplyInvalid,
    StationTimeout,
)
from silkcharge.domain.clock import parse_ocpp, utcnow
from silkcharge.domain.commands import MAX_LIMIT, OCPP_INT_MAX
from silkcharge.roaming.auth import Caller, ocpi_caller
from silkcharge.roaming.commands import check_response_url, offline, partners_session
from silkcharge.roaming.objects import (
    Field,
    check_object,
    cistring,
    datetime_text,
    enum,
    integer,
    known_fields,
    listing,
    number,
    read_json,
    refuse,
    shape_checker,
    url,
)
from silkcharge.roaming.partners import PartnerService
from silkcharge.roaming.results import AsyncResults
from silkcharge.roaming.wire import (
    OCPI_VERSION,
    OcpiError,
    Status,
    ocpi_datetime,
    ocpi_response,
    parse_ocpi_datetime,
)
from silkcharge.services.commands import (
    CommandRefused,
    CommandResult,
    CommandService,
    UnknownStation,
)
from silkcharge.services.smart import SmartChargingService
from silkcharge.smart.profiles import (
    ChargingProfile,
    ChargingProfileKind,
    ChargingProfilePurpose,
    ChargingRateUnit,
    ChargingSchedule,
    ChargingSchedulePeriod,
    ProfileError,
    profile_fields,
    round_limit,
    wire_number,
)
from silkcharge.store.schema import (
    RoamingActiveProfile,
    RoamingChargingProfile,
    Station,
    Transaction,
)

log = logging.getLogger(__name__)

MODULE = "chargingprofiles"
ENDPOINTS: list[tuple[str, str, str]] = [
    (MODULE, "RECEIVER", f"cpo/{OCPI_VERSION}/chargingprofiles"),
    (MODULE, "SENDER", f"emsp/{OCPI_VERSION}/chargingprofiles"),
]
NOT_FOUND = 404
SENT, RECEIVED, PUSHED = "sent", "received", "pushed"
"""A request we sent a partner CPO, one a partner eMSP sent us, and an ActiveChargingProfile we
pushed a partner eMSP unasked (roaming/profile_push.py)."""
ROAMING_SOURCE = "roaming"
"""The source a partner's profile is recorded with among the installed ones (services/smart.py)."""
SET, ACTIVE, CLEAR = "SET", "ACTIVE", "CLEAR"
"""The three requests: PUT SetChargingProfile, GET ActiveChargingProfile, DELETE (clear)."""
KINDS = (SET, ACTIVE, CLEAR)
METHOD = {SET: "PUT", ACTIVE: "GET", CLEAR: "DELETE"}

ROAMING_PROFILE_ID = 30_000
"""+ EVSE id: the id of the TxProfile a partner's profile becomes. One per EVSE (a session is on
one), beside smart charging's 10_000 + EVSE (TxDefault) and 20_000 + EVSE (load shares); a
second SET replaces the first at the station, and DELETE clears exactly this one."""
ROAMING_STACK_LEVEL = 1
"""The stack level of that TxProfile: above an operator's default level 0, so the partner's
profile is the session's TxProfile."""
MAX_DURATION = 7 * 86400
"""The longest ActiveChargingProfile asked of a station (GetCompositeSchedule's bound)."""
REQUESTS_PER_MINUTE = 10
"""How many requests a partner may send for one session in a minute before TOO_OFTEN: each
one is a call over the charger's (often mobile) connection."""

CALL_FAILURES = (StationTimeout, StationOffline, CommandRefused, UnknownStation, StationCallError,
                 StationReplyInvalid, ValidationError)
"""How a command to a station can fail: it is offline, gone, does not answer or answers wrongly,
its version has no such message, the parameters are not valid."""

RESPONSE_TYPES = ("ACCEPTED", "NOT_SUPPORTED", "REJECTED", "TOO_OFTEN", "UNKNOWN_SESSION")
RESULT_TYPES = ("ACCEPTED", "REJECTED", "UNKNOWN")

# -- the objects (mod_charging_profiles.asciidoc "Object description", "Data types") ----------

PERIOD = {"start_period": Field(integer(0, OCPP_INT_MAX), True), "limit": Field(number(0, MAX_LIMIT), True)}
CHARGING_PROFILE = {
    "start_date_time": Field(datetime_text),
    "duration": Field(integer(1, OCPP_INT_MAX)),
    "charging_rate_unit": Field(enum("W", "A"), True),
    "min_charging_rate": Field(number(0, MAX_LIMIT)),
    "charging_profile_period": Field(listing(shape_checker(PERIOD))),
}
"""A ChargingProfile as OCPI defines it (what a partner CPO reports is read as this)."""
APPLIED_PROFILE = {
    **CHARGING_PROFILE,
    # OCPI allows none ("*"), but a profile without a period limits nothing and OCPP needs one.
    "charging_profile_period": Field(listing(shape_checker(PERIOD), at_least=1), True),
}
"""A ChargingProfile a charger is to apply (ours to a partner, a partner's to us)."""
SET_CHARGING_PROFILE = {"charging_profile": Field(shape_checker(APPLIED_PROFILE), True),
                        "response_url": Field(url, True)}
ACTIVE_CHARGING_PROFILE = {"start_date_time": Field(datetime_text, True),
                           "charging_profile": Field(shape_checker(CHARGING_PROFILE), True)}
CHARGING_PROFILE_RESPONSE = {"result": Field(enum(*RESPONSE_TYPES), True), "timeout": Field(integer(0), True)}
PROFILE_RESULT = {"result": Field(enum(*RESULT_TYPES), True)}
"""ChargingProfileResult and ClearProfileResult."""
ACTIVE_PROFILE_RESULT = {**PROFILE_RESULT, "profile": Field(shape_checker(ACTIVE_CHARGING_PROFILE))}
RESULT_SHAPE = {SET: PROFILE_RESULT, ACTIVE: ACTIVE_PROFILE_RESULT, CLEAR: PROFILE_RESULT}


def profile_problems(charging_profile: dict[str, Any], where: str = "charging_profile") -> list[str]:
    """Every problem of an OCPI ChargingProfile: its shape, then the rules OCPP puts on a
    schedule (the first period at 0, starts ascending), named by field."""
    problems = check_object(charging_profile, APPLIED_PROFILE, where)
    if not problems:
        try:
            _schedule(charging_profile)
        except ProfileError as exc:
            problems.append(f"{where}.charging_profile_period: {exc}")
    return problems


def _schedule(charging_profile: dict[str, Any]) -> ChargingSchedule:
    """The OCPP charging schedule of an OCPI ChargingProfile (already shape-checked). Limits
    keep one decimal, rounded down, as OCPI and OCPP both allow one: never more than asked."""
    start = charging_profile.get("start_date_time")
    rate = charging_profile.get("min_charging_rate")
    return ChargingSchedule(
        rate_unit=ChargingRateUnit(charging_profile["charging_rate_unit"]),
        periods=tuple(ChargingSchedulePeriod(int(p["start_period"]), round_limit(Decimal(str(p["limit"]))))
                      for p in charging_profile["charging_profile_period"]),
        start_schedule=parse_ocpi_datetime(start, "start_date_time") if start else None,
        duration=charging_profile.get("duration"),
        min_charging_rate=round_limit(Decimal(str(rate))) if rate is not None else None,
    )


def tx_profile(charging_profile: dict[str, Any], evse_id: int, station_tx_id: str | None) -> ChargingProfile:
    """The OCPP TxProfile an OCPI ChargingProfile becomes on the session's transaction: Absolute
    from its start_date_time when it has one, else Relative to the start of charging (OCPI's
    own reading of an absent start)."""
    schedule = _schedule(charging_profile)
    return ChargingProfile(
        id=ROAMING_PROFILE_ID + evse_id, stack_level=ROAMING_STACK_LEVEL, purpose=ChargingProfilePurpose.TX,
        kind=ChargingProfileKind.ABSOLUTE if schedule.start_schedule else ChargingProfileKind.RELATIVE,
        schedule=schedule, transaction_id=station_tx_id,
    )


def active_profile(schedule: dict[str, Any], min_charging_rate: Any = None) -> dict[str, Any] | None:
    """The OCPI ActiveChargingProfile of a station's composite schedule (the neutral fields
    smart/composite.py reads from either version's GetCompositeSchedule reply): it starts when
    the station's schedule does, for the duration the station gave. A period without a limit
    (an OCPP 2.1 setpoint) has no OCPI equivalent and is left out; None when none is left."""
    periods = [{"start_period": p["start_period"], "limit": wire_number(Decimal(p["limit"]))}
               for p in schedule["periods"] if p.get("limit") is not None]
    if not periods:
        return None
    start = ocpi_datetime(parse_ocpp(schedule["schedule_start"]))
    profile: dict[str, Any] = {"start_date_time": start, "charging_rate_unit": schedule["rate_unit"],
                               "charging_profile_period": periods}
    if schedule.get("duration"):
        profile["duration"] = schedule["duration"]
    if min_charging_rate is not None:
        profile["min_charging_rate"] = wire_number(Decimal(str(min_charging_rate)))
    return {"start_date_time": start, "charging_profile": profile}


def _min_rate(reply: dict[str, Any]) -> Any:
    """The minChargingRate of a GetCompositeSchedule reply (1.6 has it; 2.0.1's composite has none)."""
    schedule = reply.get("chargingSchedule") or reply.get("schedule") or {}
    return schedule.get("minChargingRate") if isinstance(schedule, dict) else None


def composite_profile(reply: CommandResult) -> dict[str, Any] | None:
    """The ActiveChargingProfile of an accepted GetCompositeSchedule (None: it gave none)."""
    schedule = reply.details.get("schedule")
    return active_profile(schedule, _min_rate(reply.reply)) if schedule else None


def station_refusal(reply: CommandResult) -> str:
    """What a station that did not accept a command answered, and why when it said."""
    return f"the charge point answered {reply.status}{_why(reply.reply)}"


@dataclass(frozen=True)
class Answer:
    """The ChargingProfileResponse's result, why (kept on our row: OCPI's response has no
    message), and the work that makes the result."""

    result: str
    message: str | None = None
    work: Callable[[], Awaitable[tuple[str, str | None, dict[str, Any] | None]]] | None = None
    station_id: str | None = None
    evse_id: int | None = None


WorkResult = tuple[str, str | None, dict[str, Any] | None]
"""A result, its message (for us), and the ActiveChargingProfile when one was asked for."""

# -- CPO: partners' profiles for their drivers' sessions at our chargers ---------------------


class ProfileDesk:
    """Takes partners' charging profile requests for sessions at our chargers, does them at the
    station in the background and posts each result to the partner's response_url, up to
    `attempts` times, `retry_delay` apart and doubling (as CommandDesk does)."""

    def __init__(
        self, sessions: async_sessionmaker, partners: PartnerService, station_commands: CommandService,
        smart: SmartChargingService, *, call_timeout: float, attempts: int = 5, retry_delay: float = 1.0,
        per_minute: int = REQUESTS_PER_MINUTE,
    ) -> None:
        self._sessions = sessions
        self._partners = partners
        self._commands = station_commands
        self._smart = smart
        self._call_timeout = call_timeout
        self.per_minute = per_minute
        self.results = AsyncResults(sessions, partners, RoamingChargingProfile, "roaming charging profile request",
                                    attempts=attempts, retry_delay=retry_delay)

    @property
    def timeout(self) -> int:
        """The ChargingProfileResponse's `timeout`: the station's call timeout and time to post."""
        return int(self._call_timeout) + 30

    async def stop(self) -> None:
        """Stop the requests still running (a stopping server sends no more results)."""
        await self.results.stop()

    async def idle(self) -> None:
        """Wait until every request taken so far has its result posted (or given up)."""
        await self.results.idle()

    async def take(self, caller: Caller, kind: str, session_id: str, request: dict[str, Any]) -> dict[str, Any]:
        """The ChargingProfileResponse to `kind` for `session_id`, its work started when ACCEPTED.
        `request` is the checked request (its response_url, and the charging_profile or the
        duration). OcpiError 2001 for a response_url away from the partner's platform."""
        await check_response_url(self._sessions, caller, request["response_url"])
        answer = await self._plan(caller, kind, session_id, request)
        async with self._sessions.begin() as session:
            row = RoamingChargingProfile(
                partner_id=caller.partner_id, direction=RECEIVED, kind=kind, uid=uuid.uuid4().hex,
                session_id=session_id, request=request, response_url=request["response_url"],
                station_id=answer.station_id, evse_id=answer.evse_id, response=answer.result,
                response_message=answer.message, timeout=self.timeout, created_at=utcnow(),
            )
            session.add(row)
        if answer.result == "ACCEPTED" and answer.work is not None:
            self.results.run(self._run(row.id, caller.partner_id, kind, request["response_url"], answer.work))
        return {"result": answer.result, "timeout": self.timeout}

    async def _plan(self, caller: Caller, kind: str, session_id: str, request: dict[str, Any]) -> Answer:
        tx, refusal = await partners_session(self._sessions, caller, session_id)
        if tx is None:
            return Answer("REJECTED", refusal) if refusal else Answer("UNKNOWN_SESSION", f"no session {session_id}")
        where = {"station_id": tx.station_id, "evse_id": tx.evse_id}
        if await self._too_often(caller, session_id):
            return Answer("TOO_OFTEN", f"more than {self.per_minute} requests for session {session_id} in a "
                          "minute", **where)
        async with self._sessions() as session:
            station = await session.get(Station, tx.station_id)
        if station is None:
            return Answer("REJECTED", f"the charge point {tx.station_id} is gone", **where)
        refusal = offline(station)
        if refusal:
            return Answer("REJECTED", refusal, **where)
        command = {SET: "set_charging_profile", ACTIVE: "get_composite_schedule", CLEAR: "clear_charging_profile"}[kind]
        if not self._commands.can(station.ocpp_version, command):
            return Answer("NOT_SUPPORTED", f"the charge point's OCPP {station.ocpp_version} has no {command}", **where)
        if tx.evse_id is None:
            return Answer("REJECTED", f"session {session_id} is on no EVSE yet", **where)
        if kind == SET:
            if await self._smart.under_load_management(tx.station_id):
                return Answer("REJECTED", f"the charge point {tx.station_id} is under the site's load "
                              "management, which sets its sessions' limits", **where)
            return Answer("ACCEPTED", work=lambda: self._set(tx, request["charging_profile"]), **where)
        if kind == ACTIVE:
            return Answer("ACCEPTED", work=lambda: self._active(tx, request["duration"]), **where)
        return Answer("ACCEPTED", work=lambda: self._clear(tx), **where)

    async def _too_often(self, caller: Caller, session_id: str) -> bool:
        """Whether the partner already sent `per_minute` requests for the session in the last
        minute (counted from the stored requests, so every node of the API counts the same)."""
        since = utcnow() - timedelta(minutes=1)
        async with self._sessions() as session:
            sent = await session.scalar(select(func.count()).select_from(RoamingChargingProfile).where(
                RoamingChargingProfile.partner_id == caller.partner_id,
                RoamingChargingProfile.direction == RECEIVED, RoamingChargingProfile.session_id == session_id,
                RoamingChargingProfile.created_at >= since))
        return sent >= self.per_minute

    # -- the work at the station ----------------------------------------------------------------

    async def _set(self, tx: Transaction, charging_profile: dict[str, Any]) -> WorkResult:
        """SetChargingProfile of the TxProfile; once accepted it is recorded as installed (source
        "roaming"), so smart charging's views of the station include it."""
        profile = tx_profile(charging_profile, tx.evse_id, tx.station_tx_id)
        reply = await self._commands.send(tx.station_id, "set_charging_profile",
                                          {"evse_id": tx.evse_id, "profile": profile_fields(profile)})
        if reply.status != "Accepted":
            return "REJECTED", station_refusal(reply), None
        await self._smart.record_profile(tx.station_id, tx.evse_id, profile, ROAMING_SOURCE)
        return "ACCEPTED", None, None

    async def _active(self, tx: Transaction, duration: int) -> WorkResult:
        """GetCompositeSchedule of the session's EVSE: what the station plans, all its profiles
        and local limits combined, is the ActiveChargingProfile."""
        reply = await self._commands.send(tx.station_id, "get_composite_schedule",
                                          {"evse_id": tx.evse_id, "duration": duration})
        if reply.status != "Accepted":
            return "REJECTED", station_refusal(reply), None
        profile = composite_profile(reply)
        if profile is None:
            return "UNKNOWN", "the charge point gave no schedule", None
        return "ACCEPTED", None, profile

    async def _clear(self, tx: Transaction) -> WorkResult:
        """ClearChargingProfile of exactly the partner's TxProfile (its id), never another's."""
        profile_id = ROAMING_PROFILE_ID + tx.evse_id
        reply = await self._commands.send(tx.station_id, "clear_charging_profile", {"profile_id": profile_id})
        if reply.status == "Accepted":
            await self._smart.forget_profiles(tx.station_id, source=ROAMING_SOURCE, profile_id=profile_id)
            return "ACCEPTED", None, None
        if reply.status == "Unknown":
            return "UNKNOWN", "the charge point has no profile of yours for this session", None
        return "REJECTED", station_refusal(reply), None

    # -- running and reporting ------------------------------------------------------------------

    async def _run(self, row_id: int, partner_id: int, kind: str, response_url: str,
                   work: Callable[[], Awaitable[WorkResult]]) -> None:
        """Do the work and post its result. OCPI's results have no TIMEOUT or FAILED: a station
        that does not answer, is gone, or cannot take the request is REJECTED, the reason kept on
        our row."""
        profile = None
        try:
            result, message, profile = await work()
        except (*CALL_FAILURES, ProfileError) as exc:
            result, message = "REJECTED", str(exc)[:500]
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("roaming charging profile request %s failed", row_id)
            result, message = "REJECTED", f"the request failed: {type(exc).__name__}"
        async with self._sessions.begin() as session:
            await session.execute(update(RoamingChargingProfile).where(RoamingChargingProfile.id == row_id).values(
                result=result, result_message=message, profile=profile, result_at=utcnow()))
        body: dict[str, Any] = {"result": result}
        if kind == ACTIVE and profile is not None:
            body["profile"] = profile
        await self.results.post(row_id, partner_id, response_url, body)


def _why(reply: dict[str, Any]) -> str:
    """The reason a 2.0.1 station gave with its answer (statusInfo), if any."""
    info = reply.get("statusInfo") or {}
    reason = info.get("additionalInfo") or info.get("reasonCode")
    return f" ({reason})" if reason else ""


def _desk(request: Request) -> ProfileDesk:
    desk = request.app.state.roaming.charging_profiles
    if desk is None:
        raise OcpiError(Status.SERVER_ERROR, "this network takes no charging profiles", http_status=503)
    return desk


def _session_id(session_id: str) -> list[str]:
    problems: list[str] = []
    cistring(36)(session_id, "session_id", problems)
    return problems


def _query(request: Request, *names: str) -> dict[str, Any]:
    """The named query parameters (a GET and a DELETE carry their request in the URL)."""
    return {name: request.query_params[name] for name in names if name in request.query_params}


cpo_router = APIRouter(prefix="/chargingprofiles")


@cpo_router.get("/{session_id}")
async def active_profile_request(session_id: str, request: Request, caller: Caller = Depends(ocpi_caller)) -> Response:
    """GET: the ActiveChargingProfile of the session, for `duration` seconds, to `response_url`."""
    asked = _query(request, "duration", "response_url")
    problems = _session_id(session_id)
    duration = asked.get("duration")
    if duration is None:
        problems.append("duration: required")
    elif not duration.isdigit() or not 1 <= int(duration) <= MAX_DURATION:
        problems.append(f"duration: must be a whole number of seconds from 1 to {MAX_DURATION}")
    problems += check_object(asked, {"response_url": Field(url, True)})
    refuse(problems, "the ActiveChargingProfile request")
    body = {"duration": int(duration), "response_url": asked["response_url"]}
    return ocpi_response(await _desk(request).take(caller, ACTIVE, session_id, body))


@cpo_router.put("/{session_id}")
async def set_profile_request(session_id: str, request: Request, caller: Caller = Depends(ocpi_caller)) -> Response:
    """PUT: a SetChargingProfile for the session."""
    body = read_json(await request.body())
    problems = _session_id(session_id) + check_object(body, SET_CHARGING_PROFILE)
    if not problems:
        problems = profile_problems(body["charging_profile"])
    refuse(problems, "the SetChargingProfile")
    return ocpi_response(await _desk(request).take(caller, SET, session_id,
                                                   known_fields(body, SET_CHARGING_PROFILE)))


@cpo_router.delete("/{session_id}")
async def clear_profile_request(session_id: str, request: Request, caller: Caller = Depends(ocpi_caller)) -> Response:
    """DELETE: clear the profile the partner set on the session; the result to `response_url`."""
    asked = _query(request, "response_url")
    refuse(_session_id(session_id) + check_object(asked, {"response_url": Field(url, True)}),
           "the ClearProfile request")
    return ocpi_response(await _desk(request).take(caller, CLEAR, session_id, asked))


# -- eMSP: our drivers' sessions at partners' chargers -----------------------------------------


class ProfileRequestFailed(Exception):
    """The partner could not be sent the request; the message says why."""


class ProfileSender:
    """Sends a partner CPO charging profile requests for sessions of our drivers and keeps
    each, with the partner's response and, once it posts it, the result; keeps too the
    ActiveChargingProfile a partner pushes unasked."""

    def __init__(self, sessions: async_sessionmaker, partners: PartnerService) -> None:
        self._sessions = sessions
        self._partners = partners

    async def send(self, partner_id: int, kind: str, session_id: str, *,
                   charging_profile: dict[str, Any] | None = None, duration: int | None = None,
                   ) -> RoamingChargingProfile:
        """Send the partner's chargingprofiles receiver `kind` (SET with `charging_profile`, an
        OCPI ChargingProfile; ACTIVE with `duration`; CLEAR) for its session `session_id`, with
        our response_url. The stored row has the ChargingProfileResponse; ProfileRequestFailed
        when the request is not valid, the partner has no such receiver or gives no
        ChargingProfileResponse."""
        if kind not in KINDS:
            raise ProfileRequestFailed(f"no request {kind}; known: {', '.join(KINDS)}")
        partner = await self._partners.partner(partner_id)
        endpoint = self._partners.endpoint(partner, MODULE, "RECEIVER")
        if endpoint is None:
            raise ProfileRequestFailed(f"roaming partner {partner_id} offers no chargingprofiles receiver")
        uid = uuid.uuid4().hex
        response_url = self._partners.url_of(f"emsp/{OCPI_VERSION}/chargingprofiles/results/{uid}")
        request: dict[str, Any] = {"response_url": response_url}
        if kind == SET:
            request["charging_profile"] = charging_profile
            problems = _session_id(session_id) + check_object(request, SET_CHARGING_PROFILE)
            problems = problems or profile_problems(charging_profile or {})
        else:
            problems = _session_id(session_id)
            if kind == ACTIVE:
                request["duration"] = duration
                if not isinstance(duration, int) or not 1 <= duration <= MAX_DURATION:
                    problems.append(f"duration: must be a whole number of seconds from 1 to {MAX_DURATION}")
        if problems:
            raise ProfileRequestFailed(f"the {kind} request is not valid: {'; '.join(problems[:10])}")
        async with self._sessions.begin() as session:
            row = RoamingChargingProfile(
                partner_id=partner_id, direction=SENT, kind=kind, uid=uid, session_id=session_id, request=request,
                response_url=response_url, created_at=utcnow(),
            )
            session.add(row)
        address = f"{endpoint.rstrip('/')}/{quote(session_id, safe='')}"
        try:
            async with await self._partners.client_for(partner) as client:
                if kind == SET:
                    data, _ = await client.put(address, request)
                else:
                    data, _ = await client.request(METHOD[kind], address, params={
                        k: v for k, v in request.items() if k in ("duration", "response_url")})
            problems = check_object(data, CHARGING_PROFILE_RESPONSE, "ChargingProfileResponse")
            if problems:
                raise ProfileRequestFailed(f"the partner's answer is no ChargingProfileResponse: "
                                           f"{'; '.join(problems[:5])}")
            values = {"response": data["result"], "timeout": data["timeout"]}
        except Exception as exc:  # the partner's refusal (OcpiPeerError), its absence, a wrong answer: kept, then said
            await self._update(row.id, {"response": "FAILED", "response_message": str(exc)[:500]})
            raise ProfileRequestFailed(f"roaming partner {partner_id} did not take the request: {exc}") from None
        return await self._update(row.id, values)

    async def get(self, request_id: int) -> RoamingChargingProfile | None:
        async with self._sessions() as session:
            return await session.scalar(select(RoamingChargingProfile).where(
                RoamingChargingProfile.id == request_id, RoamingChargingProfile.direction == SENT))

    async def pushed(self, partner_id: int, session_id: str) -> RoamingActiveProfile | None:
        """The latest ActiveChargingProfile the partner pushed for its session `session_id`."""
        async with self._sessions() as session:
            return await session.scalar(select(RoamingActiveProfile).where(
                RoamingActiveProfile.partner_id == partner_id, RoamingActiveProfile.session_id == session_id))

    async def result_arrived(self, caller: Caller, uid: str, body: Any) -> None:
        """Keep the result the partner posted for our request `uid`: 404 when it is no request we
        sent that partner, 2001 when the body is not the result of that kind of request (a
        second result replaces the first)."""
        async with self._sessions.begin() as session:
            row = await session.scalar(select(RoamingChargingProfile).where(
                RoamingChargingProfile.direction == SENT, RoamingChargingProfile.uid == uid,
                RoamingChargingProfile.partner_id == caller.partner_id))
            if row is None:
                raise OcpiError(Status.CLIENT_ERROR, f"no charging profile request {uid} was sent to you",
                                http_status=NOT_FOUND)
            shape = RESULT_SHAPE[row.kind]
            what = {SET: "ChargingProfileResult", ACTIVE: "ActiveChargingProfileResult",
                    CLEAR: "ClearProfileResult"}[row.kind]
            refuse(check_object(body, shape), f"the {what}")
            kept = known_fields(body, shape)
            row.result = kept["result"]
            row.profile = kept.get("profile")
            row.result_at = utcnow()

    async def profile_pushed(self, caller: Caller, session_id: str, body: Any) -> None:
        """Keep the ActiveChargingProfile the partner pushed for `session_id`, replacing the last."""
        refuse(_session_id(session_id) + check_object(body, ACTIVE_CHARGING_PROFILE), "the ActiveChargingProfile")
        profile = known_fields(body, ACTIVE_CHARGING_PROFILE)
        async with self._sessions.begin() as session:
            row = await session.scalar(select(RoamingActiveProfile).where(
                RoamingActiveProfile.partner_id == caller.partner_id, RoamingActiveProfile.session_id == session_id))
            if row is None:
                session.add(RoamingActiveProfile(partner_id=caller.partner_id, session_id=session_id,
                                                 profile=profile, received_at=utcnow()))
            else:
                row.profile, row.received_at = profile, utcnow()

    async def _update(self, request_id: int, values: dict[str, Any]) -> RoamingChargingProfile:
        async with self._sessions.begin() as session:
            await session.execute(update(RoamingChargingProfile).where(RoamingChargingProfile.id == request_id)
                                  .values(**values))
        async with self._sessions() as session:
            return await session.get(RoamingChargingProfile, request_id)


def _sender(request: Request) -> ProfileSender:
    sender = request.app.state.roaming.profile_sender
    if sender is None:
        raise OcpiError(Status.SERVER_ERROR, "this network sends no charging profiles", http_status=503)
    return sender


emsp_router = APIRouter(prefix="/chargingprofiles")


@emsp_router.post("/results/{uid}")
async def receive_result(uid: str, request: Request, caller: Caller = Depends(ocpi_caller)) -> Response:
    """POST: the result of a request we sent, at the response_url we gave."""
    body = read_json(await request.body())
    await _sender(request).result_arrived(caller, uid[:36], body)
    request.app.state.roaming.received(caller.partner_id, "chargingprofiles", uid[:36])
    return ocpi_response(None)


@emsp_router.put("/{session_id}")
async def receive_active_profile(session_id: str, request: Request, caller: Caller = Depends(ocpi_caller)) -> Response:
    """PUT: the CPO's ActiveChargingProfile of a session whose profile changed."""
    body = read_json(await request.body())
    await _sender(request).profile_pushed(caller, session_id, body)
    request.app.state.roaming.received(caller.partner_id, "chargingprofiles", session_id[:36])
    return ocpi_response(None)
