"""Where a station connects to: a new network connection profile (OCPP 2.0.1 B09) and moving
the station to another CSMS (B10).

B09 writes one profile into a slot and changes nothing else: the station uses it only once
NetworkConfigurationPriority names it first and it reboots (or falls back to it). B10 is the
spec's flow: the new CSMS's profile in a slot, that slot first in NetworkConfigurationPriority,
then a reset, after which the station connects to the other CSMS and no longer here: once the
reset is accepted the station is marked as moved (`moved_to`, `moved_at`), which its next
connection here clears. Each
request is stored with every step the station answered, so what was asked and what the station
said stays readable whatever the outcome. OCPP 1.6 has no network profiles (a 1.6 station is
moved by its own configuration): it is refused with that reason.
"""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import async_sessionmaker

from silkcharge.bus.local import (
    StationCallError,
    StationOffline,
    StationReplyInvalid,
    StationTimeout,
)
from silkcharge.domain.clock import utcnow
from silkcharge.domain.commands import GetConfiguration
from silkcharge.domain.network import CsmsMigration, NetworkConnection, NetworkProfileSetting
from silkcharge.domain.security_reasons import reason
from silkcharge.services.commands import CommandRefused, CommandService, UnknownStation
from silkcharge.services.device_model import StationDeclined
from silkcharge.services.ports import OutboundCall
from silkcharge.services.security_events import SecurityEvents
from silkcharge.store.schema import NetworkProfileChange, Station

SET_PROFILE, MIGRATE = "SetNetworkProfile", "MigrateToCsms"
ACCEPTED = frozenset({"Accepted", "RebootRequired", "Scheduled"})
_CALL_FAILED = (StationCallError, StationOffline, StationReplyInvalid, StationTimeout)


class NetworkAdapter(Protocol):
    """What a protocol adapter with network profiles provides (ocpp/v201.py)."""

    network_profile_keys: tuple[str, ...]

    def network_profile_call(
        self, slot: int, connection: dict[str, Any], configuration: dict[str, Any]
    ) -> OutboundCall: ...

    def network_move_calls(
        self, slot: int | None, connection: dict[str, Any], configuration: dict[str, Any]
    ) -> list[OutboundCall]: ...


class NetworkProfiles:
    def __init__(
        self, sessions: async_sessionmaker, commands: CommandService, adapters: dict[str, NetworkAdapter],
        security_events: SecurityEvents,
    ) -> None:
        """`adapters`: by OCPP version, only those whose version has network profiles."""
        self._sessions = sessions
        self._commands = commands
        self._adapters = adapters
        self._security_events = security_events

    async def set_profile(self, station_id: str, setting: NetworkProfileSetting) -> NetworkProfileChange:
        """B09: the stored change with the station's answer; StationDeclined unless accepted."""
        adapter, configuration = await self._prepare(station_id, setting)
        connection = setting.connection_data()
        try:
            call = adapter.network_profile_call(setting.configuration_slot, connection, configuration)
        except ValueError as error:
            raise CommandRefused(str(error)) from None
        change = await self._store(station_id, SET_PROFILE, setting.configuration_slot, connection)
        return await self._run(change, [call], "network profile")

    async def migrate(self, station_id: str, migration: CsmsMigration) -> NetworkProfileChange:
        """B10: the stored change with each step; StationDeclined when a step before the reset
        is refused (the station stays here, on its current profile)."""
        adapter, configuration = await self._prepare(station_id, migration)
        connection = migration.connection_data()
        try:
            calls = adapter.network_move_calls(migration.configuration_slot, connection, configuration)
        except ValueError as error:
            raise CommandRefused(str(error)) from None
        slot = calls[0].payload["configurationSlot"]
        change = await self._store(station_id, MIGRATE, slot, connection)
        change = await self._run(change, calls, "move to another CSMS")
        if change.status in ACCEPTED:  # every step taken: after its reset it connects there, not here
            async with self._sessions.begin() as session:
                await session.execute(update(Station).where(Station.id == station_id).values(
                    moved_to=connection["ocppCsmsUrl"], moved_at=utcnow()))
        await self._security_events.decided(
            station_id, "MigrateToCsmsRequested",
            reason("migrate_requested", url=connection["ocppCsmsUrl"], slot=slot, status=change.status),
        )
        return change

    async def changes(self, station_id: str, limit: int = 50) -> list[NetworkProfileChange]:
        """Newest first."""
        async with self._sessions() as session:
            if await session.get(Station, station_id) is None:
                raise UnknownStation(f"no station {station_id}")
            return list((await session.scalars(
                select(NetworkProfileChange).where(NetworkProfileChange.station_id == station_id)
                .order_by(NetworkProfileChange.id.desc()).limit(limit)
            )).all())

    # -- inside ---------------------------------------------------------------------------------

    async def _prepare(self, station_id: str, connection: NetworkConnection) -> tuple[NetworkAdapter, dict[str, Any]]:
        async with self._sessions() as session:
            station = await session.get(Station, station_id)
        if station is None:
            raise UnknownStation(f"no station {station_id}")
        adapter = self._adapters.get(station.ocpp_version or "")
        if adapter is None:
            raise CommandRefused(
                f"station {station_id} speaks OCPP {station.ocpp_version or '(never connected)'}, which has no "
                "network connection profiles (SetNetworkProfile is OCPP 2.0.1)"
            )
        if connection.security_profile < station.security_profile:
            raise CommandRefused(
                f"station {station_id} is at security profile {station.security_profile}; a profile with "
                f"{connection.security_profile} would be a downgrade, which stations refuse"
            )
        stored = station.configuration or {}
        missing = [key for key in adapter.network_profile_keys if key not in stored]
        if missing:
            result = await self._commands.send(station_id, "get_configuration", GetConfiguration(keys=missing).model_dump())
            stored = {**stored, **result.details.get("values", {})}
        return adapter, stored

    async def _store(self, station_id: str, action: str, slot: int, connection: dict[str, Any]) -> NetworkProfileChange:
        async with self._sessions.begin() as session:
            change = NetworkProfileChange(
                station_id=station_id, action=action, configuration_slot=slot, connection_data=connection,
                steps=[], created_at=utcnow(), updated_at=utcnow(),
            )
            session.add(change)
        return change

    async def _run(self, change: NetworkProfileChange, calls: list[OutboundCall], what: str) -> NetworkProfileChange:
        """Send the calls in order, storing each answer; stop at the first refused before the last."""
        steps: list[dict[str, Any]] = []
        for index, call in enumerate(calls):
            try:
                reply = await self._commands.send_raw(change.station_id, call.action, call.payload)
            except _CALL_FAILED as error:
                steps.append({"action": call.action, "status": "Failed", "reason": str(error)[:200]})
                await self._finish(change, steps, "Failed", f"{call.action} failed: {error}")
                raise
            details = call.read(reply) if call.read else {}
            status = str(details.get("status", reply.get("status", "Accepted")))
            steps.append({"action": call.action, "status": status})
            if status not in ACCEPTED and (index < len(calls) - 1 or len(calls) == 1):
                reason = f"station {change.station_id} answered {status} to {call.action} ({what})"
                await self._finish(change, steps, status, reason)
                raise StationDeclined(reason, status)
        return await self._finish(change, steps, steps[-1]["status"], None)

    async def _finish(
        self, change: NetworkProfileChange, steps: list[dict[str, Any]], status: str, reason: str | None,
    ) -> NetworkProfileChange:
        async with self._sessions.begin() as session:
            row = await session.get(NetworkProfileChange, change.id)
            row.steps, row.status, row.reason = steps, status, reason[:500] if reason else None
            row.updated_at = utcnow()
        return row
