"""Stations: who may connect, boot decisions, presence, connector status and station notes."""

from __future__ import annotations

import asyncio
import functools
import logging
import random
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from sqlalchemy import and_, bindparam, literal_column, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
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
from silkcharge.domain.plausibility import Implausible, Origin
from silkcharge.domain.security import redact_configuration
from silkcharge.services.passwords import PasswordVerifier, hash_password
from silkcharge.services.plausibility import CLOCK_RULE, Plausibility, registered, screen_status
from silkcharge.services.writer import BatchWriter
from silkcharge.settings import Settings
from silkcharge.store.direct import DirectConnection, NeedsSession, arrays, one_of_direct
from silkcharge.store.gathered import Gathered
from silkcharge.store.group_commit import GroupCommitter, StoreUnavailable, is_unavailable
from silkcharge.store.residency import by_database, database_scope, each_database, residency_of
from silkcharge.store.schema import Connector, Evse, Station
from silkcharge.store.upsert import one_of, one_of_named

log = logging.getLogger(__name__)


class Admission(Enum):
    ACCEPT = "accept"
    UNKNOWN_STATION = "unknown"
    BAD_PASSWORD = "bad_password"
    NO_PASSWORD = "no_password"  # the station has none stored, and stations without one are refused
    BELOW_PROFILE = "below_profile"  # the handshake is weaker than the station's security profile


@dataclass(frozen=True)
class AdmissionVerdict:
    admission: Admission
    reject_boot: bool = False
    required_profile: int | None = None
    """BELOW_PROFILE: the station's stored security profile."""
    shown_profile: int | None = None
    """The security profile this handshake reached (at most 1 on plain ws, 2 over TLS, 3 with a
    valid client certificate)."""
    raised_to: int | None = None
    """ACCEPT that completed an upgrade: the profile now stored."""
    database: str | None = None
    """Data residency: the database the station lives in (None: the platform's); its
    connection works in that database's scope (store/residency.py)."""


class _StatusBulk:
    """Stores a batch's StatusNotifications together. One SELECT reads the stored time of each
    reported connector (a report older than the stored one changes nothing), then one
    executemany updates the connectors and one upsert their EVSEs. Connectors nobody
    registered are created first, all in one insert: a station may report what it has. On
    PostgreSQL's direct path the whole batch is one statement (`_reports_in_one_statement`)."""

    def __init__(self) -> None:
        c = Connector.__table__.c
        self._update_connector = (
            update(Connector.__table__)
            .where(
                c.station_id == bindparam("b_station"),
                c.evse_id == bindparam("b_evse"),
                c.connector_id == bindparam("b_connector"),
            )
            .values(
                status=bindparam("b_status"), error_code=bindparam("b_error"),
                vendor_error_code=bindparam("b_vendor_error"), info=bindparam("b_info"),
                status_at=bindparam("b_at"), updated_at=bindparam("b_now"),
            )
        )
        # PostgreSQL: a batch's reports in one statement that reads nothing first. The reports
        # bound as arrays; each connector updated unless its stored report is newer, its EVSE
        # given the status of the report applied; and if any reported connector or EVSE is not
        # registered, nothing written and the statement says so (the batch then goes through
        # `apply`, which creates it). One round-trip with its commit, where a read and a write
        # were two. A batch holds one report per station, so no row is set twice.
        self._report_connectors = _reports_in_one_statement()
        self._update_station = (
            update(Station.__table__)
            .where(Station.__table__.c.id == bindparam("b_station"))
            .values(status=bindparam("b_status"), error_code=bindparam("b_error"))
        )

    async def apply(self, session: AsyncSession, items: list[tuple[str, StatusReport]]) -> list[None]:
        stations, connectors = _split(items)
        if stations:
            await session.execute(self._update_station, stations)
        if connectors:
            await self._connectors(session, connectors)
        return [None] * len(items)

    async def _connectors(self, session: AsyncSession, items: list[tuple[str, StatusReport]]) -> None:
        stored = {
            (row.station_id, row.evse_id, row.connector_id): row.status_at
            for row in await session.execute(
                _stored_status_times(session.bind.dialect.name),
                {"b_stations": list({station_id for station_id, _ in items})},
            )
        }
        unregistered = {
            (station_id, r.evse_id, r.connector_id) for station_id, r in items
        } - stored.keys()
        if unregistered:
            await _register_connectors(session, unregistered)
            stored |= dict.fromkeys(unregistered)
        updates, evses = _status_changes(items, stored)
        if updates:
            await session.execute(self._update_connector, updates)
            await _upsert_evse_status(session, evses)

    async def apply_direct(self, db: DirectConnection, items: list[tuple[str, StatusReport]]) -> list[None]:
        """`apply` in one hand-over to the driver (store/direct.py), for connectors and EVSEs
        that exist; a batch reporting one that does not goes through `apply`, which creates it."""
        stations, connectors = _split(items)
        if stations:
            await db.execute_many(self._update_station, stations)
        if connectors and db.dialect == "postgresql":
            await db.execute_checked(self._report_connectors, _reports_params(connectors), _all_registered)
        elif connectors:
            rows = await db.fetch(
                _direct_status_rows(db.dialect), {"b_stations": list({station_id for station_id, _ in connectors})}
            )
            stored = {(station_id, evse_id, connector_id): at for station_id, evse_id, connector_id, at, _ in rows}
            if any((station_id, r.evse_id, r.connector_id) not in stored for station_id, r in connectors):
                raise NeedsSession("a connector nobody registered")
            evses_stored = {(station_id, evse_id) for station_id, evse_id, _, _, evse in rows if evse is not None}
            updates, evses = _status_changes(connectors, stored)
            if evses.keys() - evses_stored:
                raise NeedsSession("an EVSE nobody registered")
            if updates:
                await db.execute_many(self._update_connector, updates)
                await db.execute_many(_direct_evse_status(db.dialect), [
                    {"b_station": station_id, "b_evse": evse_id, "b_status": status}
                    for (station_id, evse_id), status in evses.items()
                ])
        return [None] * len(items)


_CONNECTOR_STATUS = ("station_id", "evse_id", "connector_id", "status", "error_code", "vendor_error_code", "info",
                     "status_at")
"""A connector's key and what a status report sets on it."""


def _reports_in_one_statement():
    """PostgreSQL: `_StatusBulk._report_connectors` (its parameters: `_reports_params`)."""
    connectors, evses = Connector.__table__, Evse.__table__
    c, e = connectors.c, evses.c
    given = arrays("c", connectors, _CONNECTOR_STATUS)
    reports = select(*[given.c[name] for name in _CONNECTOR_STATUS]).cte("reports")
    missing = (
        select(literal_column("1").label("one"))
        .select_from(
            reports.outerjoin(connectors, and_(c.station_id == reports.c.station_id, c.evse_id == reports.c.evse_id,
                                               c.connector_id == reports.c.connector_id))
            .outerjoin(evses, and_(e.station_id == reports.c.station_id, e.evse_id == reports.c.evse_id))
        )
        .where(or_(c.id.is_(None), e.id.is_(None)))
        .cte("missing")
    )
    applied = (
        update(connectors)
        .where(c.station_id == reports.c.station_id, c.evse_id == reports.c.evse_id,
               c.connector_id == reports.c.connector_id,
               or_(c.status_at.is_(None), c.status_at <= reports.c.status_at),  # an older report changes nothing
               ~select(missing.c.one).exists())
        .values({**{name: reports.c[name] for name in _CONNECTOR_STATUS[3:]}, "updated_at": bindparam("b_now")})
        .returning(c.station_id, c.evse_id, c.status)
        .cte("applied")
    )
    their_evses = (
        update(evses).where(e.station_id == applied.c.station_id, e.evse_id == applied.c.evse_id)
        .values(status=applied.c.status).cte("their_evses")
    )
    return select(select(missing.c.one).exists().label("missing")).add_cte(applied).add_cte(their_evses)


def _reports_params(items: list[tuple[str, StatusReport]]) -> dict[str, Any]:
    columns = (
        [station_id for station_id, _ in items], [r.evse_id for _, r in items], [r.connector_id for _, r in items],
        [r.status.value for _, r in items], [r.error_code for _, r in items],
        [r.vendor_error_code for _, r in items], [r.info for _, r in items], [r.timestamp for _, r in items],
    )
    return {**{f"c_{name}": values for name, values in zip(_CONNECTOR_STATUS, columns)}, "b_now": utcnow()}


def _all_registered(rows: list[tuple]) -> None:
    if rows[0][0]:
        raise NeedsSession("a connector or EVSE nobody registered")


def _split(items: list[tuple[str, StatusReport]]) -> tuple[list[dict], list[tuple[str, StatusReport]]]:
    """A batch's reports of whole stations (EVSE 0), as parameters of the station update, and
    its reports of connectors."""
    stations = [
        {"b_station": station_id, "b_status": r.status.value, "b_error": r.error_code}
        for station_id, r in items if r.evse_id == 0
    ]
    return stations, [(station_id, r) for station_id, r in items if r.evse_id != 0]


def _status_changes(
    items: list[tuple[str, StatusReport]], stored: dict[tuple[str, int, int], datetime | None]
) -> tuple[list[dict], dict[tuple[str, int], str]]:
    """The connector rows to update (parameters of `_StatusBulk._update_connector`) and each
    EVSE's new status, from a batch's reports and the stored time of each connector's status.
    `stored` is updated as the reports are taken in order."""
    now = utcnow()
    updates: list[dict] = []
    evses: dict[tuple[str, int], str] = {}
    for station_id, report in items:
        key = (station_id, report.evse_id, report.connector_id)
        if stored[key] is not None and report.timestamp < stored[key]:
            continue  # an older report replayed after a newer one changes nothing
        stored[key] = report.timestamp
        updates.append({
            "b_station": station_id, "b_evse": report.evse_id, "b_connector": report.connector_id,
            "b_status": report.status.value, "b_error": report.error_code,
            "b_vendor_error": report.vendor_error_code, "b_info": report.info,
            "b_at": report.timestamp, "b_now": now,
        })
        evses[(station_id, report.evse_id)] = report.status.value
    return updates, evses


async def _register_connectors(session: AsyncSession, keys: set[tuple[str, int, int]]) -> None:
    """Create connectors (and their EVSEs) that a station reported but nobody registered, of an
    unknown standard and power until an operator says more."""
    builder = postgresql.insert if session.bind.dialect.name == "postgresql" else sqlite.insert
    evses = sorted({(station_id, evse_id) for station_id, evse_id, _ in keys})
    await session.execute(
        builder(Evse.__table__).on_conflict_do_nothing(index_elements=["station_id", "evse_id"]),
        [{"station_id": station_id, "evse_id": evse_id} for station_id, evse_id in evses],
    )
    now = utcnow()
    await session.execute(
        builder(Connector.__table__).on_conflict_do_nothing(
            index_elements=["station_id", "evse_id", "connector_id"]
        ),
        [
            {"station_id": station_id, "evse_id": evse_id, "connector_id": connector_id,
             "standard": "unknown", "max_power_kw": 0, "status": "Unknown", "updated_at": now}
            for station_id, evse_id, connector_id in sorted(keys)
        ],
    )


async def _upsert_evse_status(session: AsyncSession, statuses: dict[tuple[str, int], str]) -> None:
    """Set each EVSE's status, creating the EVSE row if a station reports one never registered."""
    await session.execute(_evse_status_upsert(session.bind.dialect.name), [
        {"station_id": station_id, "evse_id": evse_id, "status": status}
        for (station_id, evse_id), status in statuses.items()
    ])


# The status path's statements are built once per dialect: building one (an upsert's `excluded`
# columns above all) cost the event loop more than SQLAlchemy's cached compile and the
# execution together, at light load where every batch holds one message (py-spy: 16 % of the
# loop's busy time on StatusNotification).


@functools.cache
def _stored_status_times(dialect: str):
    c = Connector.__table__.c
    return select(c.station_id, c.evse_id, c.connector_id, c.status_at).where(
        one_of_named(dialect, c.station_id, "b_stations"))


@functools.cache
def _direct_status_rows(dialect: str):
    """Each connector of the listed stations with its status time, and its EVSE row's id (None:
    no EVSE row), for `_StatusBulk.apply_direct`."""
    c, e = Connector.__table__.c, Evse.__table__.c
    return (
        select(c.station_id, c.evse_id, c.connector_id, c.status_at, e.id)
        .select_from(Connector.__table__.outerjoin(
            Evse.__table__, (e.station_id == c.station_id) & (e.evse_id == c.evse_id)))
        .where(one_of_direct(dialect, c.station_id, "b_stations"))
    )


@functools.cache
def _direct_evse_status(dialect: str):
    e = Evse.__table__.c
    return (
        update(Evse.__table__)
        .where(e.station_id == bindparam("b_station"), e.evse_id == bindparam("b_evse"))
        .values(status=bindparam("b_status"))
    )


@functools.cache
def _evse_status_upsert(dialect: str):
    builder = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = builder(Evse.__table__)
    return statement.on_conflict_do_update(
        index_elements=["station_id", "evse_id"], set_={"status": statement.excluded.status})


class _PresenceBulk:
    """Records a batch's newly opened sockets with one executemany (a storm's thousands of
    reconnects share a handful of statements). A socket's id sorts by the time it opened, and
    presence moves only forward: when a station hops between nodes, an older socket's write
    that lands late does not take the station from its newer socket (whose close would then
    no longer match, leaving the station shown offline while connected)."""

    def __init__(self) -> None:
        c = Station.__table__.c
        values = {
            "online": True, "ocpp_version": bindparam("b_version"),
            "last_seen_at": bindparam("b_now"), "connection_id": bindparam("b_connection"),
            "moved_to": None, "moved_at": None,  # a station that moved away and came back is ours again
        }
        self._newer = (
            update(Station.__table__)
            .where(
                c.id == bindparam("b_station"),
                (c.connection_id.is_(None)) | (c.connection_id <= bindparam("b_connection")),
            )
            .values(**values)
        )
        self._unnamed = update(Station.__table__).where(c.id == bindparam("b_station")).values(**values)

    async def apply(self, session: AsyncSession, items: list[dict]) -> list[None]:
        named = [item for item in items if item["b_connection"] is not None]
        unnamed = [item for item in items if item["b_connection"] is None]
        if named:
            await session.execute(self._newer, named)
        if unnamed:
            await session.execute(self._unnamed, unnamed)
        return [None] * len(items)


class _ProvisionBulk:
    """Registers a batch's new stations (auto-provisioning) with one INSERT ... ON CONFLICT DO
    NOTHING RETURNING, which says which of them this batch created: a station whose first two
    handshakes overlapped is created once, and the loser checks the winner's password."""

    async def apply(self, session: AsyncSession, items: list[tuple[str, str | None, int]]) -> list[bool]:
        builder = postgresql.insert if session.bind.dialect.name == "postgresql" else sqlite.insert
        rows = {
            station_id: {"id": station_id, "password_hash": hashed, "security_profile": profile,
                         "registration_status": RegistrationStatus.ACCEPTED.value}
            for station_id, hashed, profile in items
        }
        created = set(await session.scalars(
            builder(Station.__table__).values(list(rows.values()))
            .on_conflict_do_nothing(index_elements=["id"])
            .returning(Station.__table__.c.id)
        ))
        return [station_id in created for station_id, _, _ in items]


class _DisconnectBulk:
    """Records a batch's closed sockets: one SELECT ... FOR UPDATE of the stations' current
    sockets, then one executemany marking offline those whose socket this was (a station may
    already be back on a newer socket, here or on another node). In a reconnect storm that is
    a few statements for thousands of closes, not a transaction each."""

    def __init__(self) -> None:
        # Only by station: the rows are locked, and were read to be this socket's.
        self._statement = (
            update(Station.__table__)
            .where(Station.__table__.c.id == bindparam("b_station"))
            .values(online=False, connection_id=None)
        )

    async def apply(self, session: AsyncSession, items: list[tuple[str, str | None]]) -> list[bool]:
        """Each item is (station, the closed socket's id); True where the station went offline."""
        c = Station.__table__.c
        current = dict((await session.execute(
            select(c.id, c.connection_id)
            .where(one_of(session, c.id, {station_id for station_id, _ in items}))
            .with_for_update()
        )).all())
        offline = [
            station_id in current and (connection_id is None or current[station_id] == connection_id)
            for station_id, connection_id in items
        ]
        rows = [{"b_station": station_id} for (station_id, _), gone in zip(items, offline, strict=True) if gone]
        if rows:
            await session.execute(self._statement, rows)
        return offline


@dataclass(frozen=True)
class _Boot:
    """A BootNotification, waiting for its batch."""

    station_id: str
    info: BootInfo
    at: datetime
    heartbeat_interval: int


class _BootBulk:
    """Records a batch's BootNotifications with one SELECT of the stations' registration and
    one executemany per outcome: in a boot storm, thousands of boots share a few statements."""

    def __init__(self) -> None:
        c = Station.__table__.c
        booted = {
            "vendor": bindparam("b_vendor"), "model": bindparam("b_model"),
            "serial_number": bindparam("b_serial"), "firmware_version": bindparam("b_firmware"),
            "boot_reason": bindparam("b_reason"), "last_boot_at": bindparam("b_at"),
            "last_seen_at": bindparam("b_at"), "online": True,
        }
        where = c.id == bindparam("b_station")
        self._boot = update(Station.__table__).where(where).values(**booted)
        self._boot_accepted = (
            update(Station.__table__).where(where)
            .values(**booted, heartbeat_interval=bindparam("b_interval"))
        )

    async def apply(self, session: AsyncSession, items: list[_Boot]) -> list[RegistrationStatus]:
        c = Station.__table__.c
        registered = dict((await session.execute(
            select(c.id, c.registration_status).where(one_of(session, c.id, {i.station_id for i in items}))
        )).all())
        results: list[RegistrationStatus] = []
        accepted: list[dict] = []
        other: list[dict] = []
        for item in items:
            if item.station_id not in registered:
                results.append(RegistrationStatus.REJECTED)  # deleted since its handshake
                continue
            status = RegistrationStatus(registered[item.station_id])
            results.append(status)
            info = item.info
            row = {
                "b_station": item.station_id, "b_vendor": info.vendor, "b_model": info.model,
                "b_serial": info.serial_number, "b_firmware": info.firmware_version,
                "b_reason": info.reason, "b_at": item.at,
            }
            if status is RegistrationStatus.ACCEPTED:
                accepted.append({**row, "b_interval": item.heartbeat_interval})
            else:
                other.append(row)
        if accepted:
            await session.execute(self._boot_accepted, accepted)
        if other:
            await session.execute(self._boot, other)
        return results


@dataclass(frozen=True)
class _Registration:
    """What a handshake needs to know of a station."""

    password_hash: str | None
    registration_status: str
    security_profile: int = 1
    security_profile_pending: int | None = None
    password_hash_previous: str | None = None
    database: str | None = None  # data residency: where it was found (None: the platform's)


class _RegistrationReader:
    """Reads stations' registrations for handshakes. Those that arrive while a read is under
    way wait for the next one, which fetches all of them with one SELECT: a reconnect storm
    of thousands of stations costs a few dozen queries, not one each."""

    def __init__(self, sessions: async_sessionmaker, max_batch: int = 500) -> None:
        self._sessions = sessions
        self._gathered: Gathered[str, _Registration | Exception | None] = Gathered(
            self._read_all, name="registrations", at_most=max_batch)

    async def get(self, station_id: str) -> _Registration | None:
        found = await self._gathered.ask(station_id)
        if isinstance(found, Exception):  # its tenant's database is unavailable
            raise found
        return found

    async def _read_all(self, ids: list[str]) -> dict[str, _Registration | Exception | None]:
        found = await self._read(ids)
        return {station_id: found.get(station_id) for station_id in ids}

    async def _read(self, ids: list[str]) -> dict[str, _Registration | Exception]:
        residency = residency_of(self._sessions)
        if residency is None:
            return await self._read_in(ids)
        # Data residency: the platform's database first, then each tenant's for what is missing.
        found: dict[str, _Registration | Exception] = {}
        away: StoreUnavailable | None = None
        for key in residency.keys:
            missing = [station_id for station_id in ids if station_id not in found]
            if not missing:
                break
            with database_scope(key):
                try:
                    registrations = await self._read_in(missing)
                except Exception as error:
                    if key is None or not is_unavailable(error):
                        raise
                    # A tenant database is down: the stations found elsewhere go on; those not
                    # found may be its, so they are told to come back, not that they are unknown.
                    away = StoreUnavailable(f"a tenant database is unavailable: {type(error).__name__}")
                    continue
            for station_id, registration in registrations.items():
                found[station_id] = replace(registration, database=key)
                residency.stations[station_id] = key
        if away is not None:
            for station_id in ids:
                found.setdefault(station_id, away)
        return found

    async def _read_in(self, ids: list[str]) -> dict[str, _Registration]:
        c = Station.__table__.c
        async with self._sessions() as session:
            rows = await session.execute(
                select(
                    c.id, c.password_hash, c.registration_status, c.security_profile,
                    c.security_profile_pending, c.password_hash_previous,
                ).where(one_of(session, c.id, ids))
            )
            return {
                row.id: _Registration(
                    row.password_hash, row.registration_status, row.security_profile,
                    row.security_profile_pending, row.password_hash_previous,
                )
                for row in rows
            }


class StationService:
    def __init__(
        self,
        sessions: async_sessionmaker,
        bus: EventBus,
        writer: BatchWriter,
        settings: Settings,
        committer: GroupCommitter | None = None,
        plausibility: Plausibility | None = None,
    ) -> None:
        self._sessions = sessions
        self._plausibility = plausibility or Plausibility(sessions)
        self._committer = committer or GroupCommitter(sessions)
        self.boots_deferred = 0  # Boot answered Pending because the database was behind
        self.password_checks = 0  # scrypt verifications run (not answered from the cache)
        self._bus = bus
        self._writer = writer
        self._settings = settings
        self._passwords = PasswordVerifier()
        self._last_seen: dict[str, datetime] = {}
        self._intervals: dict[str, int] = {}
        self._silent: set[str] = set()
        self._status_bulk = _StatusBulk()
        self._presence_bulk = _PresenceBulk()
        self._boot_bulk = _BootBulk()
        self._disconnect_bulk = _DisconnectBulk()
        self._provision_bulk = _ProvisionBulk()
        self._registrations = _RegistrationReader(sessions)

    # -- admission (the WebSocket handshake) ------------------------------------------------

    async def admit(
        self, station_id: str, password: str | bytes | None, *, tls: bool = False, certified: bool = False
    ) -> AdmissionVerdict:
        """Decide at the handshake whether this socket may speak for `station_id`.

        `password` is the Basic-auth password as sent, `tls` whether the socket is encrypted, and
        `certified` whether it showed a valid client certificate naming this station (checked by
        the gateway). A handshake weaker than the station's security profile is refused before
        any password is hashed."""
        station = await self._registrations.get(station_id)
        if station is None:
            return await self._admit_unknown(station_id, password, tls=tls, certified=certified)
        if station.database is not None:  # data residency: what follows happens in its database
            with database_scope(station.database):
                verdict = await self._admit_known(station_id, station, password, tls=tls, certified=certified)
            return replace(verdict, database=station.database)
        return await self._admit_known(station_id, station, password, tls=tls, certified=certified)

    async def _admit_known(
        self, station_id: str, station: _Registration, password: str | bytes | None, *, tls: bool, certified: bool,
    ) -> AdmissionVerdict:
        shown = 3 if certified else 2 if tls else 1
        if shown < station.security_profile:
            return AdmissionVerdict(
                Admission.BELOW_PROFILE, required_profile=station.security_profile, shown_profile=shown
            )
        if shown < 3:
            refused = await self._check_password(station_id, password, station)
            if refused is not None:
                return refused
        raised = await self._complete_upgrade(station_id, station, shown)
        return AdmissionVerdict(Admission.ACCEPT, shown_profile=shown, raised_to=raised)

    async def _admit_unknown(
        self, station_id: str, password: str | bytes | None, *, tls: bool, certified: bool
    ) -> AdmissionVerdict:
        if self._settings.auto_provision:
            if not password and not certified and not self._settings.allow_stations_without_password:
                return AdmissionVerdict(Admission.NO_PASSWORD)
            # Trust on first use, at the strength it came with: a later, weaker handshake is a downgrade.
            shown = 3 if certified else 2 if tls else 1
            if await self._provision(station_id, password, shown):
                return AdmissionVerdict(Admission.ACCEPT, shown_profile=shown)
            # Another handshake of the same station provisioned it a moment ago (a retry
            # while the first was still inside): its password is the one to check.
            return await self.admit(station_id, password, tls=tls, certified=certified)
        if self._settings.unknown_station == "reject_boot":
            return AdmissionVerdict(Admission.ACCEPT, reject_boot=True)
        return AdmissionVerdict(Admission.UNKNOWN_STATION)

    async def _check_password(
        self, station_id: str, password: str | bytes | None, station: _Registration
    ) -> AdmissionVerdict | None:
        """None when the password is right (the current one, or the one before a rotation that
        the station has not yet replaced); else the refusal."""
        if station.password_hash is None:
            if self._settings.allow_stations_without_password:
                return None
            return AdmissionVerdict(Admission.NO_PASSWORD)
        if not password:
            return AdmissionVerdict(Admission.BAD_PASSWORD)
        if await self._verify(station_id, password, station.password_hash):
            if station.password_hash_previous is not None:
                await self._forget_previous_password(station_id, station.password_hash)
            return None
        if station.password_hash_previous and await self._verify(
            station_id, password, station.password_hash_previous
        ):
            return None
        return AdmissionVerdict(Admission.BAD_PASSWORD)

    def known_password(self, station_id: str, password: str | bytes) -> bool:
        """Was this password verified for this station before? Cheap: no database, no hash."""
        return self._passwords.known(station_id, password)

    async def _verify(self, station_id: str, password: str | bytes, stored: str) -> bool:
        if self._passwords.is_cached(station_id, password, stored):
            return True
        self.password_checks += 1
        # scrypt costs ~15 ms of CPU: off the event loop, so other sockets keep moving.
        return await asyncio.to_thread(self._passwords.verify, station_id, password, stored)

    async def _forget_previous_password(self, station_id: str, current: str) -> None:
        """The station connected with its new password: the rotation is complete."""
        async with self._sessions.begin() as session:
            await session.execute(
                update(Station)
                .where(Station.id == station_id, Station.password_hash == current)
                .values(password_hash_previous=None)
            )
        log.info("%s connected with its new password; the previous one is no longer accepted", station_id)

    async def _complete_upgrade(self, station_id: str, station: _Registration, shown: int) -> int | None:
        """A station that accepted a higher security profile and came back on it has that
        profile from now on; a lower handshake is refused from then on."""
        pending = station.security_profile_pending
        if pending is None or shown < pending:
            return None
        async with self._sessions.begin() as session:
            await session.execute(
                update(Station)
                .where(Station.id == station_id, Station.security_profile_pending == pending)
                .values(security_profile=pending, security_profile_pending=None)
            )
        return pending

    async def _provision(self, station_id: str, password: str | bytes | None, profile: int) -> bool:
        """Register a station on first use; False if a concurrent handshake registered it first."""
        hashed = await asyncio.to_thread(hash_password, password) if password else None
        return await self._committer.run_bulk(
            self._provision_bulk, station_id, (station_id, hashed, profile)
        )

    # -- presence -----------------------------------------------------------------------------

    async def connected(self, station_id: str, version: str, connection_id: str | None = None) -> None:
        """A socket of this station is open; `connection_id` names it, so that only its own
        close marks the station offline (with several nodes, a newer socket may be elsewhere)."""
        now = utcnow()
        self._last_seen[station_id] = now
        self._silent.discard(station_id)
        presence = {"b_station": station_id, "b_version": version, "b_now": now, "b_connection": connection_id}
        try:
            await self._committer.run_bulk(self._presence_bulk, station_id, presence)
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
        try:
            went_offline = await self._committer.run_bulk(
                self._disconnect_bulk, station_id, (station_id, connection_id)
            )
        except Exception as error:
            if not is_unavailable(error):
                raise
            log.warning("could not record %s offline (database unavailable)", station_id)
            return
        if went_offline:  # otherwise a newer socket, on this node or another, holds it
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
        for database, stations in by_database(self._sessions, silent).items():
            with database_scope(database):  # data residency: each in its own database
                async with self._sessions.begin() as session:
                    await session.execute(update(Station).where(Station.id.in_(stations)).values(online=False))
                for station_id in stations:
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

        async def reset() -> None:
            async with self._sessions.begin() as session:
                await session.execute(update(Station).where(Station.online.is_(True)).values(online=False))

        await each_database(self._sessions, reset)

    async def mark_stale_offline(self) -> list[str]:
        """Across nodes: stations recorded online whose last frame is older than the heartbeat
        interval plus grace (their node died, or lost them without a close) go offline."""
        now = utcnow()
        cutoff = now - timedelta(seconds=self._settings.heartbeat_interval + self._settings.offline_grace)
        found = await each_database(self._sessions, lambda: self._mark_stale(now, cutoff))
        return [station_id for stale in found for station_id in stale]

    async def _mark_stale(self, now: datetime, cutoff: datetime) -> list[str]:
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

        if reject:  # an unknown station let in only to be told Rejected: nothing to store
            status = RegistrationStatus.REJECTED
        else:
            boot = _Boot(station_id, info, now, accepted_interval)
            status = await self._committer.run_bulk(self._boot_bulk, station_id, boot)
        if status is RegistrationStatus.ACCEPTED:
            interval = accepted_interval
            self._intervals[station_id] = interval
        else:
            interval = self._settings.boot_retry_interval
        self._bus.publish(StationBooted(station_id, now, status.value))
        return BootDecision(status, interval, now)

    async def registration_status(self, station_id: str) -> RegistrationStatus | None:
        station = await self._registrations.get(station_id)
        return RegistrationStatus(station.registration_status) if station else None

    # -- connector status -------------------------------------------------------------------

    async def status(self, station_id: str, report: StatusReport, origin: Origin | None = None) -> None:
        """Store a connector's (or the station's) status. An id beyond what may be registered on
        report is refused (`Implausible`) unless the station has it registered; a timestamp
        outside the clock window is replaced by the receive time, and the station flagged."""
        origin = origin or Origin.now("StatusNotification")
        report, findings = screen_status(self._plausibility.checks, report, origin)
        out_of_range = [f for f in findings if f.rule != CLOCK_RULE]
        if out_of_range:
            async with self._sessions() as session:
                if not await registered(session, station_id, report.evse_id, report.connector_id):
                    raise Implausible(out_of_range)
            report = replace(report, evse_id=int(report.evse_id), connector_id=int(report.connector_id))
        await self._committer.run_bulk(self._status_bulk, station_id, (station_id, report))
        clock = [f for f in findings if f.rule == CLOCK_RULE]
        if clock:
            await self._plausibility.record_now(station_id, None, clock, origin)
        self._bus.publish(
            ConnectorStatusChanged(
                station_id, report.timestamp, report.evse_id, report.connector_id,
                report.status.value, report.error_code,
            )
        )

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
        """Keep the latest configuration keys / device-model variables a station reported;
        secrets (its Basic-auth password) only as REDACTED. A key an operator pinned keeps its
        pinned value; what the station said is kept beside the pin
        (services/station_configuration.py)."""
        async with self._sessions.begin() as session:
            station = await session.get(Station, station_id)
            if station is None:
                return
            merged = dict(station.configuration or {})
            pins = dict(station.configuration_overrides or {})
            for key, value in (redact_configuration(values) or {}).items():
                if key in pins:
                    pins[key] = {**pins[key], "reported": value}
                else:
                    merged[key] = value
            station.configuration = merged
            if pins:
                station.configuration_overrides = pins

    async def set_local_list_version(self, station_id: str, version: int) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                update(Station).where(Station.id == station_id).values(local_list_version=version)
            )
