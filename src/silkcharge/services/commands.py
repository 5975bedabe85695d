"""Commands to stations: from a neutral command (or a raw OCPP call) to the station's reply.

The caller names a command and its parameters; this service finds the station's protocol
version, lets that version's adapter build the CALL, sends it through the router to whichever
socket holds the station, reads the reply back into one shape, and records what it learned
(configuration values, local list version).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from silkcharge.bus.local import LocalRouter
from silkcharge.ocpp import schemas
from silkcharge.ocpp.adapter import Adapter
from silkcharge.ocpp.commands import (
    COMMANDS,
    CommandNotSupported,
    RemoteStop,
    SendLocalList,
    SetConfiguration,
)
from silkcharge.services.stations import StationService
from silkcharge.store.schema import Station, Transaction


class UnknownStation(LookupError):
    pass


class UnknownCommand(LookupError):
    pass


class CommandRefused(ValueError):
    """The command cannot be sent as asked; the message says what to change."""


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
        adapters: dict[str, Adapter],
        stations: StationService,
        call_timeout: float,
    ) -> None:
        self._sessions = sessions
        self._router = router
        self._adapters = adapters
        self._stations = stations
        self._call_timeout = call_timeout
        self._remote_start_ids = itertools.count(1)

    async def _station_version(self, station_id: str) -> str:
        async with self._sessions() as session:
            station = await session.get(Station, station_id)
        if station is None:
            raise UnknownStation(f"no station {station_id}")
        if station.ocpp_version not in self._adapters:
            raise CommandRefused(f"station {station_id} has never connected, so its OCPP version is unknown")
        return station.ocpp_version

    async def send(
        self, station_id: str, name: str, params: dict[str, Any], timeout: float | None = None
    ) -> CommandResult:
        model = COMMANDS.get(name)
        if model is None:
            raise UnknownCommand(f"unknown command {name!r}; known: {', '.join(sorted(COMMANDS))}")
        parsed = model.model_validate(params)
        version = await self._station_version(station_id)
        adapter = self._adapters[version]
        context = await self._context(station_id, parsed)
        try:
            outbound = await adapter.build(name, parsed, context)
        except (CommandNotSupported, ValueError) as exc:
            raise CommandRefused(str(exc)) from None
        reply = await self.send_raw(station_id, outbound.action, outbound.payload, timeout)
        details = outbound.read(reply) if outbound.read else {}
        status = details.get("status", reply.get("status"))
        await self._remember(station_id, parsed, details, status)
        return CommandResult(station_id, name, outbound.action, status, reply, details)

    async def send_raw(
        self, station_id: str, action: str, payload: dict[str, Any], timeout: float | None = None
    ) -> dict[str, Any]:
        """Any CSMS-initiated call, in the station's own version, validated before it leaves."""
        version = await self._station_version(station_id)
        if not schemas.known_action(version, action):
            raise CommandRefused(f"{action} is not an OCPP {version} action")
        return await self._router.send(station_id, action, payload, timeout or self._call_timeout)

    async def _context(self, station_id: str, params: Any) -> dict[str, Any]:
        context: dict[str, Any] = {"remote_start_id": next(self._remote_start_ids)}
        if isinstance(params, RemoteStop):
            async with self._sessions() as session:
                tx = await session.scalar(
                    select(Transaction).where(
                        Transaction.id == params.transaction_id, Transaction.station_id == station_id
                    )
                )
            if tx is None:
                raise CommandRefused(f"station {station_id} has no transaction {params.transaction_id}")
            if tx.state != "Active":
                raise CommandRefused(f"transaction {params.transaction_id} has already ended")
            context["station_tx_id"] = tx.station_tx_id
        return context

    async def _remember(self, station_id: str, params: Any, details: dict[str, Any], status: str | None) -> None:
        if details.get("values"):
            await self._stations.merge_configuration(station_id, details["values"])
        if isinstance(params, SetConfiguration) and status in ("Accepted", "RebootRequired"):
            await self._stations.merge_configuration(station_id, {params.key: params.value})
        if isinstance(params, SendLocalList) and status == "Accepted":
            await self._stations.set_local_list_version(station_id, params.version)
