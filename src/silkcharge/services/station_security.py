"""Changing how a station proves who it is: password rotation (OCPP 2.0.1 A01, 1.6 security
whitepaper AuthorizationKey) and raising its security profile (2.0.1 A05, 1.6 SecurityProfile).

Both are one request for the operator and several steps on the wire; each adapter says what its
version sends (`SecurityAdapter`). The rules are the same for both versions:

- a new password is stored only once the station has accepted it; until the station connects
  with it, the previous one is still accepted (a station applies it when it reconnects);
- a higher profile is only *pending* once the station has accepted it; the station's stored
  profile is raised at the handshake where the station comes back on it (services/stations.py),
  and from then on a handshake below it is refused.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import update
from sqlalchemy.ext.asyncio import async_sessionmaker

from silkcharge.domain.commands import GetConfiguration
from silkcharge.domain.security import PasswordRotation, ProfileUpgrade, new_station_password
from silkcharge.domain.security_reasons import Reason, reason
from silkcharge.services.commands import CommandRefused, CommandService, UnknownStation
from silkcharge.services.passwords import hash_password
from silkcharge.services.ports import OutboundCall
from silkcharge.services.security_events import SecurityEvents
from silkcharge.settings import Settings
from silkcharge.store.schema import Station

log = logging.getLogger(__name__)

ACCEPTED = frozenset({"Accepted", "RebootRequired", "Scheduled"})


class SecurityChangeRefused(Exception):
    """The station refused a step; the message says which, and what was kept."""


class SecurityAdapter(Protocol):
    """What a protocol adapter provides for these flows (ocpp/v16.py, ocpp/v201.py)."""

    version: str
    network_profile_keys: tuple[str, ...]
    """Configuration keys a profile upgrade needs to know first (asked for when not stored)."""

    def password_call(self, password: str) -> OutboundCall:
        """The call that sets the station's Basic-auth password; ValueError when the password
        does not fit this version."""

    def profile_upgrade_calls(
        self, upgrade: ProfileUpgrade, csms_url: str, configuration: dict[str, Any]
    ) -> list[OutboundCall]:
        """The calls, in order, that move the station to a higher profile, the last of them a
        reset (the station reconnects on the new profile)."""


@dataclass
class SecurityChange:
    station_id: str
    status: str
    security_profile: int
    security_profile_pending: int | None
    steps: list[dict[str, Any]] = field(default_factory=list)
    """Each call sent: its action and the station's status."""


class StationSecurity:
    def __init__(
        self,
        sessions: async_sessionmaker,
        commands: CommandService,
        adapters: dict[str, SecurityAdapter],
        security_events: SecurityEvents,
        settings: Settings,
        tls_port: Callable[[], int | None],
    ) -> None:
        """`tls_port`: the port the wss listener is bound to, where it runs in this process."""
        self._sessions = sessions
        self._commands = commands
        self._adapters = adapters
        self._security_events = security_events
        self._settings = settings
        self._tls_port = tls_port

    async def rotate_password(self, station_id: str, request: PasswordRotation) -> SecurityChange:
        station = await self._station(station_id)
        adapter = self._adapters[station.ocpp_version]
        password = request.password or new_station_password()
        try:
            outbound = adapter.password_call(password)
        except ValueError as error:
            raise CommandRefused(str(error)) from None
        hashed = await asyncio.to_thread(hash_password, password)  # before sending: the reply may be quick
        status = await self._send(station_id, outbound)
        steps = [{"action": outbound.action, "status": status}]
        if status not in ACCEPTED:
            raise SecurityChangeRefused(
                f"station {station_id} answered {status} to the new password; nothing was changed, "
                "it keeps its current password"
            )
        async with self._sessions.begin() as session:
            row = await session.get(Station, station_id, with_for_update=True)
            row.password_hash_previous, row.password_hash = row.password_hash, hashed
        await self._security_events.decided(
            station_id, "BasicAuthPasswordRotated", reason("password_rotated"),
        )
        return SecurityChange(station_id, status, station.security_profile, station.security_profile_pending, steps)

    async def upgrade_profile(self, station_id: str, upgrade: ProfileUpgrade) -> SecurityChange:
        station = await self._station(station_id)
        if upgrade.profile <= station.security_profile:
            raise CommandRefused(
                f"station {station_id} is at security profile {station.security_profile}; a profile is "
                f"only raised (a station refuses a lower one), so {upgrade.profile} is not an upgrade"
            )
        self.check_listener(upgrade.profile)
        passwordless = station.password_hash is None and not self._settings.allow_stations_without_password
        if upgrade.profile == 2 and passwordless:
            raise CommandRefused(
                f"station {station_id} has no password, and security profile 2 is TLS with Basic auth: "
                "rotate or set its password first"
            )
        adapter = self._adapters[station.ocpp_version]
        configuration = await self._configuration(station_id, station.configuration or {}, adapter)
        try:
            calls = adapter.profile_upgrade_calls(upgrade, self.csms_url, configuration)
        except ValueError as error:
            raise CommandRefused(str(error)) from None
        steps: list[dict[str, Any]] = []
        for index, outbound in enumerate(calls):
            if index == len(calls) - 1:  # the station accepted the new profile: before it reconnects on it
                await self._set_pending(station_id, upgrade.profile)
            status = await self._send(station_id, outbound)
            steps.append({"action": outbound.action, "status": status})
            if status not in ACCEPTED and index < len(calls) - 1:
                raise SecurityChangeRefused(
                    f"station {station_id} answered {status} to {outbound.action}; its security profile "
                    f"stays {station.security_profile}"
                )
        await self._security_events.decided(
            station_id, "SecurityProfileUpgradeRequested",
            _upgrade_reason(upgrade.profile, station.security_profile, steps[-1]["status"]),
        )
        return SecurityChange(station_id, steps[-1]["status"], station.security_profile, upgrade.profile, steps)

    @property
    def csms_url(self) -> str:
        """The wss:// address stations reach the TLS port at, without their id."""
        settings = self._settings
        if settings.ocpp_tls_public_url:
            return settings.ocpp_tls_public_url.rstrip("/")
        if settings.ocpp_host in ("0.0.0.0", "::", ""):
            raise CommandRefused(
                "set SILKCHARGE_OCPP_TLS_PUBLIC_URL (e.g. wss://csms.example.kz/ocpp): the TLS port "
                f"listens on all addresses ({settings.ocpp_host or '*'}), which is no address a station can use"
            )
        return f"wss://{settings.ocpp_host}:{self._tls_port() or settings.ocpp_tls_port}/ocpp"

    def check_listener(self, profile: int) -> None:
        """Refuse a profile no station could connect with here (no TLS port, no client CA)."""
        if profile == 1:
            return
        settings = self._settings
        if settings.ocpp_tls_port is None and not (profile == 2 and settings.tls_terminated_by_proxy):
            raise CommandRefused(
                f"this CSMS has no TLS listener (SILKCHARGE_OCPP_TLS_PORT), so a station at security "
                f"profile {profile} could not connect"
            )
        if profile == 3 and settings.tls_client_ca_file is None:
            raise CommandRefused(
                "security profile 3 needs SILKCHARGE_TLS_CLIENT_CA_FILE: without it no station "
                "certificate can be checked"
            )

    # -- inside ---------------------------------------------------------------------------------

    async def _station(self, station_id: str) -> Station:
        async with self._sessions() as session:
            station = await session.get(Station, station_id)
        if station is None:
            raise UnknownStation(f"no station {station_id}")
        if station.ocpp_version not in self._adapters:
            raise CommandRefused(f"station {station_id} has never connected, so its OCPP version is unknown",
                                 "station_never_connected")
        return station

    async def _configuration(
        self, station_id: str, stored: dict[str, Any], adapter: SecurityAdapter
    ) -> dict[str, Any]:
        missing = [key for key in adapter.network_profile_keys if key not in stored]
        if not missing:
            return stored
        result = await self._commands.send(station_id, "get_configuration", GetConfiguration(keys=missing).model_dump())
        return {**stored, **result.details.get("values", {})}

    async def _send(self, station_id: str, outbound: OutboundCall) -> str:
        reply = await self._commands.send_raw(station_id, outbound.action, outbound.payload)
        details = outbound.read(reply) if outbound.read else {}
        return str(details.get("status", reply.get("status", "Accepted")))

    async def _set_pending(self, station_id: str, profile: int) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                update(Station).where(Station.id == station_id).values(security_profile_pending=profile)
            )


def _upgrade_reason(profile: int, current: int, status: str) -> Reason:
    """The upgrade's reason, with what the station's answer to the closing reset means for when
    the new profile comes."""
    if status == "Scheduled":  # 2.0.1 B12: an OnIdle reset waits for the running sessions
        return reason("profile_upgrade_scheduled", profile=profile, current=current)
    if status in ACCEPTED:
        return reason("profile_upgrade_accepted", profile=profile, current=current)
    return reason("profile_upgrade_later", profile=profile, current=current, status=status)
