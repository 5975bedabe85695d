"""Commands to stations: from a neutral command (or a raw OCPP call) to the station's reply.

The caller names a command and its parameters; this service finds the station's protocol
version, lets that version's adapter build the CALL, sends it through the router to whichever
socket holds the station, reads the reply back into one shape, and records what it learned
(configuration values, local list version).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from silkcharge.bus.local import LocalRouter
from silkcharge.domain.clock import utcnow
from silkcharge.domain.commands import (
    COMMANDS,
    AllowedEnergyTransfer,
    ChangeTransactionTariff,
    ChargingProfileIn,
    CommandNotSupported,
    CommandParams,
    RemoteStart,
    RemoteStop,
    ReserveNow,
    SendLocalList,
    SetConfiguration,
    SetConfigurationValues,
    SetDefaultTariff,
)
from silkcharge.domain.refusals import Refusal
from silkcharge.services.driver_tokens import DriverTokens
from silkcharge.services.ports import ProtocolAdapter
from silkcharge.services.station_profiles import StationProfiles
from silkcharge.services.stations import StationService
from silkcharge.store.residency import database_scope, residency_of
from silkcharge.store.schema import IdToken, Station, Transaction

log = logging.getLogger(__name__)


class UnknownStation(LookupError):
    pass


class UnknownCommand(LookupError):
    pass


class CommandRefused(Refusal):
    """The command cannot be sent as asked; the message says what to change."""


StartProfiles = Callable[[str, int], Awaitable[dict[str, Any] | None]]
"""Given a station and EVSE, the neutral fields of the TxProfile a remote start there carries."""

TariffSource = Callable[[str, str], Awaitable[dict[str, Any]]]
"""Given a station and a tariff code, the tariff to send there (an OCPI body with the VAT rates
of the day), or CommandRefused when it may not go there (services/station_tariffs.py)."""


class CommandObserver:
    """What a service that keeps the results of some commands implements (each method does
    nothing unless overridden): `before` runs before the first CALL leaves, so that what the
    station sends in answer (a report in parts) finds its request already stored."""

    async def before(self, station_id: str, params: CommandParams) -> None:
        return None

    async def after(
        self, station_id: str, params: CommandParams, reply: dict[str, Any], details: dict[str, Any],
        status: str | None,
    ) -> None:
        return None

    async def failed(self, station_id: str, params: CommandParams, reason: str) -> None:
        return None


@dataclass
class CommandResult:
    station_id: str
    command: str
    action: str
    status: str | None
    reply: dict[str, Any]
    details: dict[str, Any] = field(default_factory=dict)




class CommandService:
    def __init__(
        self,
        sessions: async_sessionmaker,
        router: LocalRouter,
        adapters: dict[str, ProtocolAdapter],
        stations: StationService,
        call_timeout: float,
        profiles: StationProfiles | None = None,
    ) -> None:
        self._sessions = sessions
        self._router = router
        self._adapters = adapters
        self._stations = stations
        self._call_timeout = call_timeout
        # A station's effective profile names its master pass group (it may start nothing).
        self._profiles = profiles
        self._remote_start_ids = itertools.count(1)
        self._drivers = DriverTokens(sessions)
        self._observers: list[CommandObserver] = []
        self._start_profiles: StartProfiles | None = None
        self._tariffs: TariffSource | None = None

    def can(self, version: str | None, name: str) -> bool:
        """Whether stations of this OCPP version have an equivalent of the neutral command."""
        adapter = self._adapters.get(version or "")
        return adapter is not None and adapter.can_build(name)

    async def _station(self, station_id: str) -> Station:
        async with self._sessions() as session:
            station = await session.get(Station, station_id)
        if station is None:
            raise UnknownStation(f"no station {station_id}")
        if station.ocpp_version not in self._adapters:
            raise CommandRefused(f"station {station_id} has never connected, so its OCPP version is unknown",
                                 "station_never_connected")
        return station

    async def _station_version(self, station_id: str) -> str:
        return (await self._station(station_id)).ocpp_version

    async def send(
        self, station_id: str, name: str, params: dict[str, Any], timeout: float | None = None
    ) -> CommandResult:
        model = COMMANDS.get(name)
        if model is None:
            raise UnknownCommand(f"unknown command {name!r}; known: {', '.join(sorted(COMMANDS))}")
        parsed = model.model_validate(params)
        station = await self._station(station_id)
        chosen_profile = await self._start_profile(station_id, parsed)
        if chosen_profile is not None:
            parsed = parsed.model_copy(update={"charging_profile": chosen_profile})
        adapter = self._adapters[station.ocpp_version]
        if not adapter.can_build(name):  # said before the parameters are looked into
            raise CommandRefused(f"{name} has no equivalent in OCPP {station.ocpp_version}",
                                 "command_not_in_version", version=station.ocpp_version)
        context = await self._context(station_id, parsed)
        context["configuration"] = station.configuration or {}
        try:
            outbound = await adapter.build(name, parsed, context)
            calls = adapter.split(outbound, station.configuration or {})
        except (CommandNotSupported, ValueError) as exc:
            raise CommandRefused(str(exc)) from None
        for observer in self._observers:
            await observer.before(station_id, parsed)
        try:
            replies = [await self.send_raw(station_id, call.action, call.payload, timeout) for call in calls]
        except Exception as error:
            for observer in self._observers:
                await observer.failed(station_id, parsed, str(error))
            raise
        reply = adapter.join(outbound, replies)
        details = outbound.read(reply) if outbound.read else {}
        if chosen_profile is not None:  # what load management chose, for the operator to see
            details = {**details, "charging_profile": chosen_profile.model_dump(mode="json"),
                       "profile_source": "load"}
        status = details.get("status", reply.get("status"))
        await self._remember(station_id, parsed, details, status)
        for observer in self._observers:
            try:
                await observer.after(station_id, parsed, reply, details, status)
            except Exception:  # the station did it: its answer is returned even if keeping it failed
                log.exception("%s: keeping the result of %s failed", station_id, name)
        return CommandResult(station_id, name, outbound.action, status, reply, details)

    def provide_start_profiles(self, source: StartProfiles) -> None:
        """Let `source` give the TxProfile a remote start carries when the operator gave none
        (load management: the share the new session can have at once)."""
        self._start_profiles = source

    async def _start_profile(self, station_id: str, params: CommandParams) -> ChargingProfileIn | None:
        if (self._start_profiles is None or not isinstance(params, RemoteStart)
                or params.charging_profile is not None or params.evse_id is None):
            return None
        try:
            fields = await self._start_profiles(station_id, params.evse_id)
            return ChargingProfileIn.model_validate(fields) if fields is not None else None
        except Exception:  # a start is never held up by load management
            log.exception("%s: choosing the remote start's charging profile failed", station_id)
            return None

    def provide_tariffs(self, source: TariffSource) -> None:
        """Let `source` turn a tariff code into the tariff a station is sent, after checking it
        against the caps: every command that sends a tariff goes through it, whichever route
        asked."""
        self._tariffs = source

    def observe(self, observer: CommandObserver) -> None:
        """Let `observer` record what a command sets out to do and what its reply taught us,
        whichever route sent it (a dedicated route, the generic command route, a service)."""
        self._observers.append(observer)

    async def send_raw(
        self, station_id: str, action: str, payload: dict[str, Any], timeout: float | None = None
    ) -> dict[str, Any]:
        """Any CSMS-initiated call, in the station's own version, validated before it leaves."""
        version = await self._station_version(station_id)
        if not self._adapters[version].knows_action(action):
            raise CommandRefused(f"{action} is not an OCPP {version} action")
        return await self._router.send(station_id, action, payload, timeout or self._call_timeout)

    async def _context(self, station_id: str, params: Any) -> dict[str, Any]:
        context: dict[str, Any] = {"remote_start_id": next(self._remote_start_ids)}
        if isinstance(params, (SetDefaultTariff, ChangeTransactionTariff)):
            if self._tariffs is None:
                raise CommandRefused("this CSMS sends no tariffs to stations")
            context["tariff"] = await self._tariffs(station_id, params.tariff_code)
        if isinstance(params, (RemoteStop, AllowedEnergyTransfer, ChangeTransactionTariff)):
            async with self._sessions() as session:
                tx = await session.scalar(
                    select(Transaction).where(
                        Transaction.id == params.transaction_id, Transaction.station_id == station_id
                    )
                )
            if tx is None:
                raise CommandRefused(f"station {station_id} has no transaction {params.transaction_id}",
                                     "no_such_transaction", transaction=params.transaction_id)
            if tx.state != "Active":
                raise CommandRefused(f"transaction {params.transaction_id} has already ended",
                                     "transaction_already_ended", transaction=params.transaction_id)
            context["station_tx_id"] = tx.station_tx_id
        if isinstance(params, RemoteStart):
            await self._refuse_master_pass(station_id, params.id_token)
        tokens = _tokens_named(params)
        if tokens:
            context["token_types"] = await self._token_types(tokens)
        return context

    async def start_for_driver(
        self, station_id: str, evse_id: int | None, id_token: str, timeout: float | None = None,
    ) -> CommandResult:
        """A driver's remote start from the app (api/driver.py) with one of the driver's own
        tokens (the route checks it is theirs), which must be Accepted now: the token is read
        where drivers' tokens are, the platform's database. With data residency the station may
        live in any database: the command is sent in that database's scope, so what is stored
        of it is there, and so is the transaction the station then starts, authorized as any
        driver's token is there (services/driver_tokens.py)."""
        async with self._sessions() as session:
            token = await session.scalar(select(IdToken).where(IdToken.token == id_token))
        if token is None:
            raise CommandRefused(f"unknown idToken {id_token}", "token_unknown")
        if token.status != "Accepted":
            raise CommandRefused(f"idToken {id_token} is {token.status}", "token_not_accepted", status=token.status)
        if token.expires_at is not None and token.expires_at <= utcnow():
            raise CommandRefused(f"idToken {id_token} expired on {token.expires_at.isoformat()}", "token_expired")
        residency = residency_of(self._sessions)
        database = None if residency is None else await residency.locate_station(station_id)
        with database_scope(database):
            return await self.send(station_id, "remote_start", {"id_token": id_token, "evse_id": evse_id}, timeout)

    async def _refuse_master_pass(self, station_id: str, id_token: str) -> None:
        """2.0.1 C16: a master pass may stop any transaction but start none."""
        if self._profiles is None:
            return
        async with self._sessions() as session:
            station = await session.get(Station, station_id)
            group = await session.scalar(select(IdToken.group_id).where(IdToken.token == id_token))
        master = (await self._profiles.of(station)).get("master_pass_group_id") if station else None
        if group is not None and group == master:
            raise CommandRefused(
                f"idToken {id_token} is a master pass of station {station_id} (group {master}): "
                "it may stop transactions there but not start one")

    async def _token_types(self, tokens: set[str]) -> dict[str, str]:
        """The registered idToken type of each token (the adapter sends it with the token)."""
        async with self._sessions() as session:
            rows = await session.execute(select(IdToken.token, IdToken.type).where(IdToken.token.in_(tokens)))
        types = dict(rows.all())
        if self._drivers.roam and tokens - types.keys():  # drivers' tokens at a resident station
            async with self._drivers.platform_session() as session:
                found = await self._drivers.find(session, tokens - types.keys())
            types.update({token: row.type for token, row in found.items()})
        return types

    async def _remember(self, station_id: str, params: Any, details: dict[str, Any], status: str | None) -> None:
        if details.get("values"):
            await self._stations.merge_configuration(station_id, details["values"])
        if isinstance(params, SetConfiguration) and status in ("Accepted", "RebootRequired"):
            await self._stations.merge_configuration(station_id, {params.key: params.value})
        if isinstance(params, SetConfigurationValues):
            taken = {
                key: value for (key, value), answer in zip(params.values.items(), details.get("results", []), strict=False)
                if answer in ("Accepted", "RebootRequired")
            }
            if taken:
                await self._stations.merge_configuration(station_id, taken)
        if isinstance(params, SendLocalList) and status == "Accepted":
            await self._stations.set_local_list_version(station_id, params.version)


def _tokens_named(params: Any) -> set[str]:
    """The idTokens a command sends, whose types the registry knows."""
    if isinstance(params, RemoteStart):
        return {params.id_token}
    if isinstance(params, ReserveNow):
        return {params.id_token} | ({params.group_id_token} if params.group_id_token else set())
    if isinstance(params, SendLocalList):
        return {entry.id_token for entry in params.entries}
    return set()
