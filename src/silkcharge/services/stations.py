"""Stations: who may connect, boot decisions, presence, connector status and station notes."""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from silkcharge.bus.local import EventBus
from silkcharge.domain.charging import (
    BootDecision,
    BootInfo,
    ConnectorStatus,
    RegistrationStatus,
    StationEvent,
    StatusReport,
)
from silkcharge.domain.clock import utcnow
from silkcharge.domain.events import (
    ConnectorStatusChanged,
    StationBooted,
    StationConnected,
    StationDisconnected,
    StationWentOffline,
)
from silkcharge.services.passwords import PasswordVerifier, hash_password
from silkcharge.services.writer import BatchWriter
from silkcharge.settings import Settings
from silkcharge.store.group_commit import GroupCommitter, is_unavailable
from silkcharge.store.schema import Connector, Evse, Station
from silkcharge.store.upsert import insert_ignoring_duplicates

log = logging.getLogger(__name__)


class Admission(Enum):
    ACCEPT = "accept"
    UNKNOWN_STATION = "unknown"
    BAD_PASSWORD = "bad_password"


@dataclass(frozen=True)
class AdmissionVerdict:
    admission: Admission
    reject_boot: bool = False


class StationService:
    def __init__(
        self,
        sessions: async_sessionmaker,
        bus: EventBus,
        writer: BatchWriter,
        settings: Settings,
        committer: GroupCommitter | None = None,
    ) -> None:
        self._sessions = sessions
        self._committer = committer or GroupCommitter(sessions)
        self.boots_deferred = 0  # Boot answered Pending because the database was behind
        self._bus = bus
        self._writer = writer
        self._settings = settings
        self._passwords = PasswordVerifier()
        self._last_seen: dict[str, datetime] = {}
        self._intervals: dict[str, int] = {}
        self._silent: set[str] = set()

    # -- admission (the WebSocket handshake) ------------------------------------------------

    async def admit(self, station_id: str, password: str | None) -> AdmissionVerdict:
        """Decide at the handshake whether this socket may speak for `station_id`."""
        async with self._sessions() as session:
            station = await session.get(Station, station_id)
        if station is None:
            if self._settings.auto_provision:
                if await self._provision(station_id, password):
                    return AdmissionVerdict(Admission.ACCEPT)
                # Another handshake of the same station provisioned it a moment ago (a retry
                # while the first was still inside): its password is the one to check.
                return await self.admit(station_id, password)
            if self._settings.unknown_station == "reject_boot":
                return AdmissionVerdict(Admission.ACCEPT, reject_boot=True)
            return AdmissionVerdict(Admission.UNKNOWN_STATION)
        if station.password_hash is None:
            return AdmissionVerdict(Admission.ACCEPT)
        if password is not None and await self._verify(station_id, password, station.password_hash):
            return AdmissionVerdict(Admission.ACCEPT)
        return AdmissionVerdict(Admission.BAD_PASSWORD)

    async def _verify(self, station_id: str, password: str, stored: str) -> bool:
        if self._passwords.is_cached(station_id, password, stored):
            return True
        # scrypt costs ~15 ms of CPU: off the event loop, so other sockets keep moving.
        return await asyncio.to_thread(self._passwords.verify, station_id, password, stored)

    async def _provision(self, station_id: str, password: str | None) -> bool:
        """Register a station on first use; False if a concurrent handshake registered it first."""
        hashed = await asyncio.to_thread(hash_password, password) if password else None
        async with self._sessions.begin() as session:
            created = await insert_ignoring_duplicates(
                session, Station,
                [{"id": station_id, "password_hash": hashed,
                  "registration_status": RegistrationStatus.ACCEPTED.value}],
            )
        return bool(created)

    # -- presence -----------------------------------------------------------------------------

    async def connected(self, station_id: str, version: str, connection_id: str | None = None) -> None:
        """A socket of this station is open; `connection_id` names it, so that only its own
        close marks the station offline (with several nodes, a newer socket may be elsewhere)."""
        now = utcnow()
        self._last_seen[station_id] = now
        self._silent.discard(station_id)
        async def work(session: AsyncSession) -> None:
            await session.execute(
                update(Station)
                .where(Station.id == station_id)
                .values(online=True, ocpp_version=version, last_seen_at=now, connection_id=connection_id)
            )

        try:
            await self._committer.run(work)  # a storm's presence writes share commits
        except Exception as error:
            if not is_unavailable(error):
                raise
            # The socket stays open; counted as silent, its next frame writes presence again.
            self._silent.add(station_id)
            log.warning("could not record %s online (database unavailable); will retry", station_id)
            return
        self._bus.publish(StationConnected(station_id, now, version))

    async def disconnected(self, station_id: str, reason: str, connection_id: str | None = None) -> None:
        now = utcnow()
        self._last_seen.pop(station_id, None)
        self._silent.discard(station_id)
        statement = update(Station).where(Station.id == station_id)
        if connection_id is not None:
            statement = statement.where(Station.connection_id == connection_id)
        try:
            async with self._sessions.begin() as session:
                result = await session.execute(statement.values(online=False, connection_id=None))
        except Exception as error:
            if not is_unavailable(error):
                raise
            log.warning("could not record %s offline (database unavailable)", station_id)
            return
        if result.rowcount:  # otherwise a newer socket, on this node or another, holds it
            self._bus.publish(StationDisconnected(station_id, now, reason))

    def seen(self, station_id: str) -> bool:
        """Any frame from a station proves it is alive. True if it had been marked offline,
        in which case the caller brings it back with `connected`."""
        now = utcnow()
        self._last_seen[station_id] = now
        self._writer.seen(station_id, now)
        return station_id in self._silent

    async def mark_silent_offline(self) -> list[str]:
        """Mark offline every connected station silent for longer than its interval plus grace."""
        now = utcnow()
        silent = []
        for station_id, last in list(self._last_seen.items()):
            interval = self._intervals.get(station_id, self._settings.heartbeat_interval)
            if station_id in self._silent:
                continue
            if now - last > timedelta(seconds=interval + self._settings.offline_grace):
                silent.append(station_id)
        if not silent:
            return []
        async with self._sessions.begin() as session:
            await session.execute(update(Station).where(Station.id.in_(silent)).values(online=False))
        for station_id in silent:
            self._silent.add(station_id)
            quiet = int((now - self._last_seen[station_id]).total_seconds())
            self._bus.publish(StationWentOffline(station_id, now, quiet))
        return silent

    def is_silent(self, station_id: str) -> bool:
        return station_id in self._silent

    async def reset_presence(self) -> None:
        """At start-up no socket is open yet, so no station is online. With several nodes the
        other nodes' stations are online, so this is left to `mark_stale_offline`."""
        if self._settings.redis_url:
            return
        async with self._sessions.begin() as session:
            await session.execute(update(Station).where(Station.online.is_(True)).values(online=False))

    async def mark_stale_offline(self) -> list[str]:
        """Across nodes: stations recorded online whose last frame is older than the heartbeat
        interval plus grace (their node died, or lost them without a close) go offline."""
        now = utcnow()
        cutoff = now - timedelta(seconds=self._settings.heartbeat_interval + self._settings.offline_grace)
        async with self._sessions.begin() as session:
            stale = list(await session.scalars(
                select(Station.id).where(Station.online.is_(True), Station.last_seen_at < cutoff)
            ))
            if stale:
                await session.execute(
                    update(Station)
                    .where(Station.id.in_(stale), Station.last_seen_at < cutoff)
                    .values(online=False)
                )
        for station_id in stale:
            self._bus.publish(StationWentOffline(station_id, now, int(self._settings.heartbeat_interval)))
        return stale

    # -- boot -------------------------------------------------------------------------------

    async def boot(self, station_id: str, info: BootInfo, *, reject: bool = False) -> BootDecision:
        now = utcnow()
        accepted_interval = self._settings.heartbeat_interval
        if not reject and self._committer.depth > self._settings.boot_pending_above:
            # Back-pressure in a boot storm: the database is behind, so ask the station to come
            # back later (spread over the retry interval) instead of queueing it into a timeout.
            self.boots_deferred += 1
            retry = random.randint(max(1, self._settings.boot_retry_interval // 2), self._settings.boot_retry_interval)
            return BootDecision(RegistrationStatus.PENDING, retry, now)

        async def work(session: AsyncSession) -> RegistrationStatus:
            station = await session.get(Station, station_id)
            if station is None or reject:
                return RegistrationStatus.REJECTED
            status = RegistrationStatus(station.registration_status)
            station.vendor = info.vendor
            station.model = info.model
            station.serial_number = info.serial_number
            station.firmware_version = info.firmware_version
            station.boot_reason = info.reason
            station.last_boot_at = now
            station.last_seen_at = now
            station.online = True
            if status is RegistrationStatus.ACCEPTED:
                station.heartbeat_interval = accepted_interval
            return status

        status = await self._committer.run(work)
        if status is RegistrationStatus.ACCEPTED:
            interval = accepted_interval
            self._intervals[station_id] = interval
        else:
            interval = self._settings.boot_retry_interval
        self._bus.publish(StationBooted(station_id, now, status.value))
        return BootDecision(status, interval, now)

    async def registration_status(self, station_id: str) -> RegistrationStatus | None:
        async with self._sessions() as session:
            value = await session.scalar(
                select(Station.registration_status).where(Station.id == station_id)
            )
        return RegistrationStatus(value) if value else None

    # -- connector status -------------------------------------------------------------------

    async def status(self, station_id: str, report: StatusReport) -> None:
        async def work(session: AsyncSession) -> None:
            if report.evse_id == 0:
                await session.execute(
                    update(Station)
                    .where(Station.id == station_id)
                    .values(status=report.status.value, error_code=report.error_code)
                )
            else:
                await self._set_connector_status(session, station_id, report)

        await self._committer.run(work)
        self._bus.publish(
            ConnectorStatusChanged(
                station_id, report.timestamp, report.evse_id, report.connector_id,
                report.status.value, report.error_code,
            )
        )

    async def _set_connector_status(self, session, station_id: str, report: StatusReport) -> None:
        connector = await session.scalar(
            select(Connector).where(
                Connector.station_id == station_id,
                Connector.evse_id == report.evse_id,
                Connector.connector_id == report.connector_id,
            )
        )
        if connector is None:
            # A station may report connectors nobody registered: keep what it says it has.
            await self._ensure_evse(session, station_id, report.evse_id)
            connector = Connector(
                station_id=station_id,
                evse_id=report.evse_id,
                connector_id=report.connector_id,
                standard="unknown",
                max_power_kw=0,
            )
            session.add(connector)
        if connector.status_at and report.timestamp < connector.status_at:
            return  # an older report replayed after a newer one changes nothing
        connector.status = report.status.value
        connector.error_code = report.error_code
        connector.vendor_error_code = report.vendor_error_code
        connector.info = report.info
        connector.status_at = report.timestamp
        evse = await self._ensure_evse(session, station_id, report.evse_id)
        evse.status = report.status.value

    async def _ensure_evse(self, session, station_id: str, evse_id: int) -> Evse:
        evse = await session.scalar(
            select(Evse).where(Evse.station_id == station_id, Evse.evse_id == evse_id)
        )
        if evse is None:
            evse = Evse(station_id=station_id, evse_id=evse_id)
            session.add(evse)
            await session.flush()
        return evse

    async def connector_status(self, station_id: str, evse_id: int, connector_id: int) -> ConnectorStatus:
        async with self._sessions() as session:
            value = await session.scalar(
                select(Connector.status).where(
                    Connector.station_id == station_id,
                    Connector.evse_id == evse_id,
                    Connector.connector_id == connector_id,
                )
            )
        return ConnectorStatus(value) if value else ConnectorStatus.UNKNOWN

    # -- notes from the station ---------------------------------------------------------------

    async def note(self, station_id: str, event: StationEvent) -> None:
        """Firmware, diagnostics and log upload progress, security events, device-model events."""
        column = {"firmware": "firmware_status", "diagnostics": "diagnostics_status", "log": "diagnostics_status"}.get(
            event.kind
        )
        if column is None:
            return  # security and device events live in the message log, which keeps every frame
        async with self._sessions.begin() as session:
            await session.execute(
                update(Station).where(Station.id == station_id).values({column: event.status})
            )

    async def merge_configuration(self, station_id: str, values: dict[str, Any]) -> None:
        """Keep the latest configuration keys / device-model variables a station reported."""
        async with self._sessions.begin() as session:
            station = await session.get(Station, station_id)
            if station is None:
                return
            merged = dict(station.configuration or {})
            merged.update(values)
            station.configuration = merged

    async def set_local_list_version(self, station_id: str, version: int) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                update(Station).where(Station.id == station_id).values(local_list_version=version)
            )
