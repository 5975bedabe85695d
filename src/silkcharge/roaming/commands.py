"""The OCPI 2.2.1 Commands module (mod_commands.asciidoc), both roles.

- **CPO, Receiver** (`cpo_router`, POST /ocpi/cpo/2.2.1/commands/{command}): a partner eMSP
  asks one of our chargers to START_SESSION, STOP_SESSION, RESERVE_NOW, CANCEL_RESERVATION or
  UNLOCK_CONNECTOR. The body is checked in full (2001 naming every problem), the location and
  EVSE resolved to our station and EVSE (2003 when unknown; the ids are those the Locations
  module publishes: location id = site code, EVSE uid = "<station>*<evse>", both shortened
  as location_mapping.py does), and the partner is answered at once with a CommandResponse.
  The command then goes to the station as the version-neutral command (services/commands.py,
  so 1.6 and 2.0.1 stations alike; reservations through services/reservations.py so the
  ledger holds the EVSE), and what the station answers goes back to the partner's
  response_url as the CommandResult (`CommandDesk`), with bounded retries.
- **eMSP, Sender** (`emsp_router`, POST /ocpi/emsp/2.2.1/commands/{command}/{uid}): where a
  partner CPO posts the result of a command we sent it (`CommandSender.send`) for a driver of
  ours. Each command and its result is a row of `roaming_commands` in the partner's tenant.

How the results map onto OCPP is in docs/roaming.md "Commands".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

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
from silkcharge.domain.clock import utcnow
from silkcharge.roaming.auth import Caller, ocpi_caller
from silkcharge.roaming.location_mapping import evse_uid, short_id
from silkcharge.roaming.location_merge import same_id
from silkcharge.roaming.objects import (
    Field,
    boolean,
    check_object,
    cistring,
    datetime_text,
    display_texts,
    enum,
    integer,
    known_fields,
    read_json,
    refuse,
    shape_checker,
    string,
    url,
)
from silkcharge.roaming.partners import PartnerService
from silkcharge.roaming.results import AsyncResults
from silkcharge.roaming.wire import (
    OCPI_VERSION,
    OcpiError,
    Status,
    ocpi_response,
    parse_ocpi_datetime,
)
from silkcharge.services.commands import CommandRefused, CommandService, UnknownStation
from silkcharge.services.reservations import (
    ReservationConflict,
    ReservationRefused,
    ReservationRequest,
    ReservationService,
    UnknownReservation,
)
from silkcharge.store.schema import (
    Connector,
    IdToken,
    RoamingCommand,
    RoamingPartner,
    RoamingTransaction,
    Site,
    Station,
    Transaction,
)

log = logging.getLogger(__name__)

row_id: ContextVar[int | None] = ContextVar("roaming_command_id", default=None)
"""The id of the received command whose work runs (a reservation keeps ours beside the partner's)."""

MODULE = "commands"
ENDPOINTS: list[tuple[str, str, str]] = [
    (MODULE, "RECEIVER", f"cpo/{OCPI_VERSION}/commands"),
    (MODULE, "SENDER", f"emsp/{OCPI_VERSION}/commands"),
]
NOT_FOUND = 404
SENT, RECEIVED = "sent", "received"

# -- what is sent: the request objects (mod_commands.asciidoc "Object description") ----------

TOKEN_TYPES = ("AD_HOC_USER", "APP_USER", "OTHER", "RFID")
TOKEN = {
    "country_code": Field(cistring(2), True), "party_id": Field(cistring(3), True), "uid": Field(cistring(36), True),
    "type": Field(enum(*TOKEN_TYPES), True), "contract_id": Field(cistring(36), True),
    "visual_number": Field(string(64)), "issuer": Field(string(64), True), "group_id": Field(cistring(36)),
    "valid": Field(boolean, True), "whitelist": Field(enum("ALWAYS", "ALLOWED", "ALLOWED_OFFLINE", "NEVER"), True),
    "language": Field(string(2)), "default_profile_type": Field(enum("CHEAP", "FAST", "GREEN", "REGULAR")),
    "energy_contract": Field(shape_checker({"supplier_name": Field(string(64), True),
                                            "contract_id": Field(string(64))})),
    "last_updated": Field(datetime_text, True),
}
RESPONSE_URL = Field(url, True)
SHAPES: dict[str, dict[str, Field]] = {
    "START_SESSION": {
        "response_url": RESPONSE_URL, "token": Field(shape_checker(TOKEN), True),
        "location_id": Field(cistring(36), True), "evse_uid": Field(cistring(36)),
        "connector_id": Field(cistring(36)), "authorization_reference": Field(cistring(36)),
    },
    "STOP_SESSION": {"response_url": RESPONSE_URL, "session_id": Field(cistring(36), True)},
    "RESERVE_NOW": {
        "response_url": RESPONSE_URL, "token": Field(shape_checker(TOKEN), True),
        "expiry_date": Field(datetime_text, True), "reservation_id": Field(cistring(36), True),
        "location_id": Field(cistring(36), True), "evse_uid": Field(cistring(36)),
        "authorization_reference": Field(cistring(36)),
    },
    "CANCEL_RESERVATION": {"response_url": RESPONSE_URL, "reservation_id": Field(cistring(36), True)},
    "UNLOCK_CONNECTOR": {
        "response_url": RESPONSE_URL, "location_id": Field(cistring(36), True),
        "evse_uid": Field(cistring(36), True), "connector_id": Field(cistring(36), True),
    },
}
COMMAND_TYPES = tuple(SHAPES)
RESPONSE_TYPES = ("ACCEPTED", "NOT_SUPPORTED", "REJECTED", "UNKNOWN_SESSION")
RESULT_TYPES = ("ACCEPTED", "CANCELED_RESERVATION", "EVSE_OCCUPIED", "EVSE_INOPERATIVE", "FAILED",
                "NOT_SUPPORTED", "REJECTED", "TIMEOUT", "UNKNOWN_RESERVATION")
COMMAND_RESULT = {"result": Field(enum(*RESULT_TYPES), True), "message": Field(display_texts())}
COMMAND_RESPONSE = {"result": Field(enum(*RESPONSE_TYPES), True), "timeout": Field(integer(0), True),
                    "message": Field(display_texts())}

OCPP_ID_TOKEN_LENGTH = 20
"""The longest token uid a station is sent (OCPP 1.6 idTag, silkcharge's neutral commands)."""
OCPP_TOKEN_TYPE = {"RFID": "ISO14443", "APP_USER": "Central", "AD_HOC_USER": "Central", "OTHER": "Central"}
"""The OCPP 2.0.1 idToken type a remote start or reservation carries for an OCPI token type
(a 1.6 station is sent the uid alone)."""

# What the station answers (1.6 and 2.0.1 spellings) → the CommandResult.
START_STOP_RESULT = {"Accepted": "ACCEPTED", "Rejected": "REJECTED"}
UNLOCK_RESULT = {"Unlocked": "ACCEPTED", "UnlockFailed": "FAILED", "NotSupported": "NOT_SUPPORTED",
                 "OngoingAuthorizedTransaction": "REJECTED", "UnknownConnector": "REJECTED"}
RESERVE_RESULT = {"Accepted": "ACCEPTED", "Occupied": "EVSE_OCCUPIED", "Faulted": "EVSE_INOPERATIVE",
                  "Unavailable": "EVSE_INOPERATIVE", "Rejected": "REJECTED"}
OCCUPIED = {"Occupied", "Charging", "Preparing", "SuspendedEV", "SuspendedEVSE", "Finishing", "Reserved"}
INOPERATIVE = {"Faulted", "Unavailable"}
"""Connector statuses (1.6 and 2.0.1) that explain a refused remote start."""
CANCEL_RESULT = {"Accepted": "CANCELED_RESERVATION", "Rejected": "UNKNOWN_RESERVATION"}


def _text(message: str | None) -> list[dict[str, str]] | None:
    return [{"language": "en", "text": message[:512]}] if message else None


def _message_of(body: dict[str, Any]) -> str | None:
    texts = body.get("message") or []
    return "; ".join(t["text"] for t in texts if isinstance(t, dict) and t.get("text")) or None


@dataclass(frozen=True)
class Answer:
    """The CommandResponse we answer a partner with, and the work that makes its result."""

    result: str
    message: str | None = None
    work: Callable[[], Awaitable[tuple[str, str | None]]] | None = None
    station_id: str | None = None
    evse_id: int | None = None


START_VOUCHES_FOR = timedelta(minutes=15)
"""How long after a START_SESSION its token starts a transaction at that station as the
partner's without asking the eMSP again: 2.2.1 forbids a real-time authorization of that token
at that charge point within 15 minutes of the command (the driver may swipe the card instead)."""


@dataclass(frozen=True)
class CommandedStart:
    """A START_SESSION a partner sent for a token: whose it is and what it said."""

    partner_id: int
    token: dict[str, Any]
    """The OCPI Token object the command carried."""
    authorization_reference: str | None


# -- CPO: commands partners send us -----------------------------------------------------------


class CommandDesk:
    """Takes partners' commands to our chargers, runs them against the stations in the
    background and posts each result to the partner's response_url.

    A result is posted up to `attempts` times (a partner that is down for a moment still
    learns it), waiting `retry_delay`, doubled each time, between tries; what became of it is
    kept on the command's row (`delivered_at`, or the last failure in `delivery_error`)."""

    def __init__(
        self, sessions: async_sessionmaker, partners: PartnerService, station_commands: CommandService,
        reservations: ReservationService, *, call_timeout: float, attempts: int = 5, retry_delay: float = 1.0,
    ) -> None:
        self._sessions = sessions
        self._partners = partners
        self._commands = station_commands
        self._reservations = reservations
        self._call_timeout = call_timeout
        self.results = AsyncResults(sessions, partners, RoamingCommand, "roaming command",
                                    attempts=attempts, retry_delay=retry_delay)

    @property
    def timeout(self) -> int:
        """The CommandResponse's `timeout`: how long the partner waits for the result; the
        station's call timeout and time to post the result."""
        return int(self._call_timeout) + 30

    async def stop(self) -> None:
        """Stop the commands still running (a stopping server sends no more results)."""
        await self.results.stop()

    async def idle(self) -> None:
        """Wait until every command taken so far has its result posted (or given up)."""
        await self.results.idle()

    async def take(self, caller: Caller, command: str, body: dict[str, Any]) -> dict[str, Any]:
        """The CommandResponse for `command` of `caller`, the work started when it is ACCEPTED.
        Raises OcpiError 2003 for an unknown location or EVSE, 2001 for a response_url away from
        the partner's platform."""
        await check_response_url(self._sessions, caller, body["response_url"])
        answer = await self._plan(caller, command, body)
        now = utcnow()
        async with self._sessions.begin() as session:
            row = RoamingCommand(
                partner_id=caller.partner_id, direction=RECEIVED, command=command, uid=uuid.uuid4().hex,
                request=body, response_url=body["response_url"], station_id=answer.station_id,
                evse_id=answer.evse_id, token_uid=(body.get("token") or {}).get("uid"),
                reservation_id=body.get("reservation_id"), response=answer.result,
                response_message=answer.message, created_at=now,
            )
            session.add(row)
        if answer.result == "ACCEPTED" and answer.work is not None:
            self.results.run(self._run(row.id, caller.partner_id, body["response_url"], answer.work))
        response: dict[str, Any] = {"result": answer.result, "timeout": self.timeout}
        if answer.message:
            response["message"] = _text(answer.message)
        return response

    async def commanded_start(self, id_token: str, station_id: str) -> CommandedStart | None:
        """The partner whose START_SESSION named `id_token` at `station_id` lately and that the
        station accepted (or is still being asked): the eMSP vouched for its token by sending the
        command, so the transaction the station now starts with it is that partner's. For the
        roaming authorization (ocpi-tokens' RoamingTokenAuthority asks this before its stored
        tokens), None when no such command was taken."""
        since = utcnow() - START_VOUCHES_FOR
        async with self._sessions() as session:
            row = await session.scalar(select(RoamingCommand).where(
                RoamingCommand.direction == RECEIVED, RoamingCommand.command == "START_SESSION",
                RoamingCommand.token_uid == id_token, RoamingCommand.station_id == station_id,
                RoamingCommand.response == "ACCEPTED", RoamingCommand.created_at >= since,
                (RoamingCommand.result.is_(None)) | (RoamingCommand.result == "ACCEPTED"),
            ).order_by(RoamingCommand.id.desc()).limit(1))
        if row is None:
            return None
        return CommandedStart(row.partner_id, row.request["token"], row.request.get("authorization_reference"))

    # -- what each command is -----------------------------------------------------------------

    async def _plan(self, caller: Caller, command: str, body: dict[str, Any]) -> Answer:
        token = body.get("token")
        if token is not None and not caller.is_party(token["country_code"], token["party_id"]):
            # 2.2.1: an eMSP SHALL only use its own tokens in START_SESSION and RESERVE_NOW.
            return Answer("REJECTED", f"token {token['uid']} belongs to {token['country_code']}*"
                          f"{token['party_id']}, not to you")
        if token is not None and len(token["uid"]) > OCPP_ID_TOKEN_LENGTH:
            return Answer("REJECTED", f"token uid {token['uid']} is longer than the {OCPP_ID_TOKEN_LENGTH} "
                          "characters a charge point takes (OCPP idTag)")
        if command == "START_SESSION":
            return await self._start(body)
        if command == "STOP_SESSION":
            return await self._stop(caller, body)
        if command == "RESERVE_NOW":
            return await self._reserve(caller, body)
        if command == "CANCEL_RESERVATION":
            return await self._cancel(caller, body)
        return await self._unlock(body)

    async def _start(self, body: dict[str, Any]) -> Answer:
        if body.get("connector_id") is not None and body.get("evse_uid") is None:
            raise OcpiError(Status.INVALID_PARAMETERS, "the START_SESSION command refused: connector_id "
                            "needs evse_uid")
        station, evse = await self._place(body["location_id"], body.get("evse_uid"))
        if station is None:
            return Answer("REJECTED", f"location {body['location_id']} has several charge points: "
                          "give the evse_uid of the one to start")
        refusal = offline(station)
        if refusal:
            return Answer("REJECTED", refusal, station_id=station.id, evse_id=evse)
        connector = await self._connector(station.id, evse, body.get("connector_id"))
        token = body["token"]
        params = {"id_token": token["uid"], "id_token_type": OCPP_TOKEN_TYPE[token["type"]], "evse_id": evse,
                  "connector_id": connector}

        async def work() -> tuple[str, str | None]:
            reply = await self._commands.send(station.id, "remote_start", params)
            result, message = _read(START_STOP_RESULT, reply.status, "the charge point")
            if result == "REJECTED" and evse is not None:
                result = await self._why_refused(station.id, evse) or result
            return result, message

        return Answer("ACCEPTED", work=work, station_id=station.id, evse_id=evse)

    async def _stop(self, caller: Caller, body: dict[str, Any]) -> Answer:
        tx, refusal = await partners_session(self._sessions, caller, body["session_id"])
        if tx is None:
            return Answer(refusal and "REJECTED" or "UNKNOWN_SESSION", refusal or f"no session {body['session_id']}")
        station = await self._station(tx.station_id)
        refusal = offline(station)
        if refusal:
            return Answer("REJECTED", refusal, station_id=tx.station_id, evse_id=tx.evse_id)

        async def work() -> tuple[str, str | None]:
            reply = await self._commands.send(tx.station_id, "remote_stop", {"transaction_id": tx.id})
            return _read(START_STOP_RESULT, reply.status, "the charge point")

        return Answer("ACCEPTED", work=work, station_id=tx.station_id, evse_id=tx.evse_id)

    async def _reserve(self, caller: Caller, body: dict[str, Any]) -> Answer:
        expires_at = parse_ocpi_datetime(body["expiry_date"], "expiry_date")
        station, evse = await self._place(body["location_id"], body.get("evse_uid"))
        if station is None:
            return Answer("REJECTED", f"location {body['location_id']} has several charge points: "
                          "give the evse_uid of the one to reserve")
        refusal = offline(station)
        if refusal:
            return Answer("REJECTED", refusal, station_id=station.id, evse_id=evse)
        token = body["token"]
        request = ReservationRequest(station.id, evse or 0, None, token["uid"], expires_at)
        # The eMSP vouches for its token by sending the command (2.2.1: the CPO SHALL NOT check
        # it): it is not looked up in our registry.
        vouched = IdToken(token=token["uid"], type=OCPP_TOKEN_TYPE[token["type"]], status="Accepted",
                          group_id=token.get("group_id"))

        previous = await self._reservation_of(caller, body["reservation_id"])

        async def work() -> tuple[str, str | None]:
            if previous is not None:  # the same reservation_id again replaces the reservation
                with contextlib.suppress(UnknownReservation, ReservationRefused):
                    await self._reservations.cancel(previous)
            try:
                reservation = await self._reservations.reserve(request, token=vouched)
            except ReservationConflict as conflict:
                return RESERVE_RESULT.get(str(conflict.params.get("status", "")), "REJECTED"), str(conflict)
            except ReservationRefused as refused:
                return "REJECTED", str(refused)
            async with self._sessions.begin() as session:
                await session.execute(update(RoamingCommand).where(RoamingCommand.id == row_id.get())
                                      .values(local_reservation_id=reservation.id))
            return "ACCEPTED", None

        return Answer("ACCEPTED", work=work, station_id=station.id, evse_id=evse)

    async def _cancel(self, caller: Caller, body: dict[str, Any]) -> Answer:
        local_id = await self._reservation_of(caller, body["reservation_id"])

        async def work() -> tuple[str, str | None]:
            if local_id is None:
                return "UNKNOWN_RESERVATION", f"no reservation {body['reservation_id']} of yours is held here"
            try:
                await self._reservations.cancel(local_id)
            except UnknownReservation as unknown:
                return "UNKNOWN_RESERVATION", str(unknown)
            except (ReservationRefused, ReservationConflict) as refused:
                return "REJECTED", str(refused)
            return "CANCELED_RESERVATION", None

        return Answer("ACCEPTED", work=work)

    async def _reservation_of(self, caller: Caller, reservation_id: str) -> int | None:
        """Our reservation made for the partner's `reservation_id` (each partner's ids are its
        own: the station is sent ours, so no partner reaches another's reservation)."""
        async with self._sessions() as session:
            return await session.scalar(
                select(RoamingCommand.local_reservation_id).where(
                    RoamingCommand.partner_id == caller.partner_id, RoamingCommand.direction == RECEIVED,
                    RoamingCommand.command == "RESERVE_NOW", func.upper(RoamingCommand.reservation_id) ==
                    reservation_id.upper(), RoamingCommand.local_reservation_id.is_not(None),
                ).order_by(RoamingCommand.id.desc()).limit(1))

    async def _why_refused(self, station_id: str, evse: int) -> str | None:
        """A refused start read with what the EVSE's connectors last said: occupied or out of order."""
        async with self._sessions() as session:
            statuses = set(await session.scalars(select(Connector.status).where(
                Connector.station_id == station_id, Connector.evse_id == evse)))
        if statuses & INOPERATIVE:
            return "EVSE_INOPERATIVE"
        if statuses & OCCUPIED:
            return "EVSE_OCCUPIED"
        return None

    async def _unlock(self, body: dict[str, Any]) -> Answer:
        station, evse = await self._place(body["location_id"], body["evse_uid"])
        refusal = offline(station)
        if refusal:
            return Answer("REJECTED", refusal, station_id=station.id, evse_id=evse)
        connector = await self._connector(station.id, evse, body["connector_id"])

        async def work() -> tuple[str, str | None]:
            reply = await self._commands.send(station.id, "unlock_connector",
                                              {"evse_id": evse, "connector_id": connector})
            return _read(UNLOCK_RESULT, reply.status, "the connector")

        return Answer("ACCEPTED", work=work, station_id=station.id, evse_id=evse)

    # -- where: our sites, stations and EVSEs by their OCPI ids ----------------------------------

    async def _place(self, location_id: str, uid: str | None) -> tuple[Station | None, int | None]:
        """The station and EVSE of an OCPI location id and EVSE uid as the Locations module
        publishes them; (None, None) when no uid is given and the site has several stations, so
        the EVSE must be named. OcpiError 2003 when either is not ours."""
        async with self._sessions() as session:
            site_id = await session.scalar(select(Site.id).where(func.upper(Site.code) == location_id.upper()))
            if site_id is None and "~" in location_id:
                long_codes = (await session.execute(
                    select(Site.id, Site.code).where(func.length(Site.code) > len(location_id)))).all()
                site_id = next((i for i, code in long_codes if same_id(short_id(code), location_id)), None)
            if site_id is None:
                raise OcpiError(Status.UNKNOWN_LOCATION, f"no location {location_id}", http_status=NOT_FOUND)
            stations = {s.id: s for s in await session.scalars(select(Station).where(Station.site_id == site_id))}
            evses = (await session.execute(
                select(Connector.station_id, Connector.evse_id).where(Connector.station_id.in_(list(stations)))
                .distinct())).all() if stations else []
        if uid is None:
            if len(stations) == 1:
                return next(iter(stations.values())), None
            if not stations:
                raise OcpiError(Status.UNKNOWN_LOCATION, f"location {location_id} has no charge point",
                                http_status=NOT_FOUND)
            return None, None
        for station_id, evse_id in evses:
            if same_id(evse_uid(station_id, evse_id), uid):
                return stations[station_id], evse_id
        raise OcpiError(Status.UNKNOWN_LOCATION, f"location {location_id} has no EVSE {uid}", http_status=NOT_FOUND)

    async def _connector(self, station_id: str, evse: int | None, connector_id: str | None) -> int | None:
        """Our connector id of an OCPI connector id on that EVSE (2003 when it has none)."""
        if connector_id is None or evse is None:
            return None
        async with self._sessions() as session:
            ids = set(await session.scalars(select(Connector.connector_id).where(
                Connector.station_id == station_id, Connector.evse_id == evse)))
        found = next((c for c in ids if str(c) == connector_id), None)
        if found is None:
            raise OcpiError(Status.UNKNOWN_LOCATION, f"EVSE {evse_uid(station_id, evse)} has no connector "
                            f"{connector_id}", http_status=NOT_FOUND)
        return found

    async def _station(self, station_id: str) -> Station | None:
        async with self._sessions() as session:
            return await session.get(Station, station_id)

    # -- running and reporting ------------------------------------------------------------------

    async def _run(self, command_id: int, partner_id: int, response_url: str,
                   work: Callable[[], Awaitable[tuple[str, str | None]]]) -> None:
        row_id.set(command_id)
        try:
            result, message = await work()
        except StationTimeout as exc:
            result, message = "TIMEOUT", str(exc)
        except StationOffline as exc:
            result, message = "REJECTED", str(exc)
        except (CommandRefused, UnknownStation, StationCallError, StationReplyInvalid, ValidationError) as exc:
            result, message = ("NOT_SUPPORTED" if getattr(exc, "code", None) == "command_not_in_version"
                               else "REJECTED"), str(exc)[:500]
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("roaming command %s failed", command_id)
            result, message = "FAILED", f"the command failed: {type(exc).__name__}"
        async with self._sessions.begin() as session:
            await session.execute(update(RoamingCommand).where(RoamingCommand.id == command_id).values(
                result=result, result_message=message, result_at=utcnow()))
        body: dict[str, Any] = {"result": result}
        if message:
            body["message"] = _text(message)
        await self.results.post(command_id, partner_id, response_url, body)


async def check_response_url(sessions: async_sessionmaker, caller: Caller, response_url: str) -> None:
    """The result goes only to the partner's own platform (the host of its versions or
    module endpoints): a registered partner cannot make us POST to a third party or to a
    service inside our network. OcpiError 2001 otherwise. (The chargingprofiles module's
    results go the same way.)"""
    async with sessions() as session:
        partner = await session.get(RoamingPartner, caller.partner_id)
    known = [partner.versions_url or ""] + [e.get("url") or "" for e in partner.endpoints or []]
    hosts = {urlsplit(address).hostname for address in known} - {None}
    if urlsplit(response_url).hostname not in hosts:
        raise OcpiError(Status.INVALID_PARAMETERS, f"response_url must be on your own platform "
                        f"({', '.join(sorted(hosts)) or 'no known host'}), not {response_url[:100]}")


async def partners_session(
    sessions: async_sessionmaker, caller: Caller, session_id: str,
) -> tuple[Transaction | None, str | None]:
    """The active transaction `session_id` (the OCPI Session id is our transaction id) if it
    is the calling partner's: started with one of this partner's tokens (its roaming
    transaction names the partner), or with a token this partner started a session with here
    by a START_SESSION. Otherwise None and why it is refused, or (None, None) when there is
    no such session (UNKNOWN_SESSION). STOP_SESSION and the chargingprofiles module both ask."""
    if not session_id.isdigit() or len(session_id) > 18:
        return None, None
    async with sessions() as session:
        tx = await session.get(Transaction, int(session_id))
        if tx is None:
            return None, None
        roaming = await session.get(RoamingTransaction, tx.id)
        ours = (roaming is not None and roaming.partner_id == caller.partner_id) or (
            tx.id_token is not None and await session.scalar(select(RoamingCommand.id).where(
                RoamingCommand.partner_id == caller.partner_id, RoamingCommand.direction == RECEIVED,
                RoamingCommand.command == "START_SESSION", RoamingCommand.token_uid == tx.id_token,
                RoamingCommand.station_id == tx.station_id).limit(1)) is not None)
    if not ours:
        return None, f"session {session_id} is not one of your customers'"
    if tx.state != "Active":
        return None, f"session {session_id} has already ended"
    return tx, None


def offline(station: Station | None) -> str | None:
    """Why a command cannot go to `station` now (it is not connected), or None."""
    if station is not None and not station.online:
        return f"the charge point {station.id} is offline"
    return None


def _read(table: dict[str, str], status: str | None, who: str) -> tuple[str, str | None]:
    result = table.get(status or "")
    if result is None:
        return "FAILED", f"{who} answered {status!r}"
    return result, None if result in ("ACCEPTED", "CANCELED_RESERVATION") else f"{who} answered {status}"


def _desk(request: Request) -> CommandDesk:
    desk = request.app.state.roaming.commands
    if desk is None:
        raise OcpiError(Status.SERVER_ERROR, "this network takes no commands", http_status=503)
    return desk


cpo_router = APIRouter(prefix="/commands")


@cpo_router.post("/{command}")
async def receive_command(command: str, request: Request, caller: Caller = Depends(ocpi_caller)) -> Response:
    name = command.upper()
    if name not in SHAPES:
        return ocpi_response({"result": "NOT_SUPPORTED", "timeout": 0,
                              "message": _text(f"no command {command[:40]}; known: {', '.join(COMMAND_TYPES)}")})
    body = read_json(await request.body())
    refuse(check_object(body, SHAPES[name]), f"the {name} command")
    return ocpi_response(await _desk(request).take(caller, name, known_fields(body, SHAPES[name])))


# -- eMSP: commands we send partner CPOs for our drivers --------------------------------------


class CommandFailed(Exception):
    """The partner could not be sent the command; the message says why."""


class CommandSender:
    """Sends a partner CPO a command for one of our drivers and keeps it, with the response
    and, once the CPO posts it, the result."""

    def __init__(self, sessions: async_sessionmaker, partners: PartnerService) -> None:
        self._sessions = sessions
        self._partners = partners

    async def send(self, partner_id: int, command: str, body: dict[str, Any]) -> RoamingCommand:
        """POST `command` with `body` (without response_url, which is ours) to the partner's
        commands receiver. The stored row has the CommandResponse; CommandFailed when the partner
        has no commands receiver or does not answer with a CommandResponse."""
        command = command.upper()
        if command not in SHAPES:
            raise CommandFailed(f"no command {command}; known: {', '.join(COMMAND_TYPES)}")
        partner = await self._partners.partner(partner_id)
        endpoint = self._partners.endpoint(partner, MODULE, "RECEIVER")
        if endpoint is None:
            raise CommandFailed(f"roaming partner {partner_id} offers no commands receiver")
        uid = uuid.uuid4().hex
        sent = {**body, "response_url": self._partners.url_of(f"emsp/{OCPI_VERSION}/commands/{command}/{uid}")}
        problems = check_object(sent, SHAPES[command])
        if problems:
            raise CommandFailed(f"the {command} command is not valid: {'; '.join(problems[:10])}")
        async with self._sessions.begin() as session:
            row = RoamingCommand(
                partner_id=partner_id, direction=SENT, command=command, uid=uid, request=sent,
                response_url=sent["response_url"], token_uid=(body.get("token") or {}).get("uid"),
                reservation_id=body.get("reservation_id"), created_at=utcnow(),
            )
            session.add(row)
        try:
            async with await self._partners.client_for(partner) as client:
                data, _ = await client.post(f"{endpoint.rstrip('/')}/{command}", sent)
            problems = check_object(data, COMMAND_RESPONSE, "CommandResponse")
            if problems:
                raise CommandFailed(f"the partner's answer is no CommandResponse: {'; '.join(problems[:5])}")
            values = {"response": data["result"], "response_message": _message_of(data)}
        except Exception as exc:  # the partner's refusal (OcpiPeerError), its absence, a wrong answer: kept, then said
            values = {"response": "FAILED", "response_message": str(exc)[:500]}
            await self._update(row.id, values)
            raise CommandFailed(f"roaming partner {partner_id} did not take the command: {exc}") from None
        return await self._update(row.id, values)

    async def get(self, command_id: int) -> RoamingCommand | None:
        async with self._sessions() as session:
            return await session.scalar(select(RoamingCommand).where(
                RoamingCommand.id == command_id, RoamingCommand.direction == SENT))

    async def result_arrived(self, caller: Caller, command: str, uid: str, body: dict[str, Any]) -> None:
        """Keep the CommandResult the partner posted for our command `uid` (2003-style 404 when
        it is no command we sent that partner; a second result replaces the first)."""
        async with self._sessions.begin() as session:
            row = await session.scalar(select(RoamingCommand).where(
                RoamingCommand.direction == SENT, RoamingCommand.uid == uid,
                RoamingCommand.command == command, RoamingCommand.partner_id == caller.partner_id))
            if row is None:
                raise OcpiError(Status.CLIENT_ERROR, f"no {command} command {uid} was sent to you",
                                http_status=NOT_FOUND)
            row.result = body["result"]
            row.result_message = _message_of(body)
            row.result_at = utcnow()

    async def _update(self, command_id: int, values: dict[str, Any]) -> RoamingCommand:
        async with self._sessions.begin() as session:
            await session.execute(update(RoamingCommand).where(RoamingCommand.id == command_id).values(**values))
        async with self._sessions() as session:
            return await session.get(RoamingCommand, command_id)


emsp_router = APIRouter(prefix="/commands")


@emsp_router.post("/{command}/{uid}")
async def receive_result(command: str, uid: str, request: Request, caller: Caller = Depends(ocpi_caller)) -> Response:
    body = read_json(await request.body())
    refuse(check_object(body, COMMAND_RESULT), "the CommandResult")
    sender = request.app.state.roaming.command_sender
    if sender is None:
        raise OcpiError(Status.SERVER_ERROR, "this network sends no commands", http_status=503)
    await sender.result_arrived(caller, command.upper()[:20], uid[:36], body)
    return ocpi_response(None)

