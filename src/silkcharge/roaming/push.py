"""Pushing to roaming partners: the link the outbox sends through, and what the bus enqueues.

`OcpiPartnerLink` is the outbox's `PartnerLink` (roaming/outbox.py) over ocpi-core's
`PartnerService` and `OcpiClient`: it finds the partner's RECEIVER endpoint of the row's module
(for chargingprofiles its SENDER endpoint, where a CPO pushes an ActiveChargingProfile),
calls it with the token the partner gave us and the OCPI routing headers, turns a refusal into
park or retry (`outbox.verdict`), and keeps `last_push_at` / `last_error` on the partner.

`EvseStatusPush` follows connector and station status on the bus (`local_only`: with several
nodes, each event is pushed once, by the node where it happened) and enqueues an EVSE status
PATCH for every registered partner of the station's tenant that has a locations RECEIVER
endpoint: for the EVSE whose connector changed, or for every EVSE of a station that came online,
went offline or changed as a whole (1.6 connector 0). Status, uid and location id come from
roaming/location_mapping.py, as the locations module serves them. The events of a tenth of a
second are looked up together; each is still its own PATCH, in order.

The status change is committed by the gateway's group committer before the event is published,
so this enqueues after that commit, in a transaction of its own: a crash in between loses that
PATCH, which the next status of the EVSE or the partner's pull of the location repairs. Callers
that own the change's transaction (a location PUT when a site is edited, a CDR when a session is
priced) use `Outbox.enqueue(session, ...)` inside it, so the push and the change commit together.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from silkcharge.bus.local import EventBus
from silkcharge.domain.events import (
    ConnectorStatusChanged,
    Event,
    StationConnected,
    StationDisconnected,
    StationWentOffline,
)
from silkcharge.roaming.client import OcpiClient, OcpiPeerError
from silkcharge.roaming.hubclientinfo import partners_away
from silkcharge.roaming.location_mapping import (
    ALPHA3,
    StationFacts,
    evse_status,
    evse_uid,
    short_id,
)
from silkcharge.roaming.outbox import (
    Backoff,
    Outbox,
    OutboxSender,
    Push,
    PushFailed,
    SenderTiming,
    verdict,
)
from silkcharge.roaming.partners import PartnerService
from silkcharge.roaming.wire import ocpi_datetime
from silkcharge.settings import Settings
from silkcharge.store.residency import database_in_use, database_scope, station_database
from silkcharge.store.schema import (
    Connector,
    RoamingIdentity,
    RoamingPartner,
    RoamingPushedObject,
    Site,
    Station,
)
from silkcharge.store.tenancy import tenant_scope
from silkcharge.store.upsert import one_of_named

log = logging.getLogger(__name__)

REGISTERED = "registered"
RECEIVER = "RECEIVER"


PUSHED_TO_SENDER = frozenset({"chargingprofiles"})
"""Modules whose pushes go to the partner's SENDER interface: in ChargingProfiles the eMSP is
the Sender (of the requests), and its interface is where the CPO PUTs an ActiveChargingProfile."""


def receiver_url(partner: RoamingPartner, module: str) -> str | None:
    """The partner's RECEIVER endpoint of `module`, from its version details."""
    return PartnerService.endpoint(partner, module, RECEIVER)


def push_url(partner: RoamingPartner, module: str) -> str | None:
    """The partner's endpoint of `module` that our pushes go to (its RECEIVER, but for
    `PUSHED_TO_SENDER`)."""
    return PartnerService.endpoint(partner, module, "SENDER" if module in PUSHED_TO_SENDER else RECEIVER)


class OcpiPartnerLink:
    """The outbox's way to partners, over ocpi-core's PartnerService and OcpiClient (one client
    per partner and token, kept while the sender runs, so a catch-up of thousands of rows
    reuses its connections). The sender works for every tenant; each partner's client is made
    in that partner's tenant scope, so the routing headers name that tenant's party."""

    def __init__(self, sessions: async_sessionmaker, partners: PartnerService) -> None:
        self._sessions = sessions
        self._partners = partners
        self._clients: dict[tuple[str | None, int], tuple[str, OcpiClient]] = {}

    async def send(self, partner_id: int, module: str, method: str, path: str, body: Any) -> None:
        async with self._sessions() as session:
            partner = await session.get(RoamingPartner, partner_id)
        if partner is None or partner.state != REGISTERED or not partner.token_to_them:
            raise PushFailed(f"roaming partner {partner_id} is not registered")
        base = push_url(partner, module)
        if base is None:
            raise PushFailed(f"roaming partner {partner_id} has no {module} endpoint to push to")
        client = await self._client(partner)
        url = f"{base.rstrip('/')}/{path.lstrip('/')}" if path else base
        try:
            await client.request(method, url, json=body)
        except OcpiPeerError as refusal:
            raise verdict(int(refusal.status), refusal.http_status)(str(refusal)) from None

    async def _client(self, partner: RoamingPartner) -> OcpiClient:
        key = (database_in_use(self._sessions), partner.id)
        known = self._clients.get(key)
        if known is not None and known[0] == partner.token_to_them:
            return known[1]
        if known is not None:  # a new token (registration renewed): the old client goes
            await known[1].aclose()
        with tenant_scope(partner.tenant_id):
            client = await self._partners.client_for(partner)
        self._clients[key] = (partner.token_to_them, client)
        return client

    async def noted(self, partner_id: int, pushed_at: datetime | None, error: str | None) -> None:
        await self._partners.record_exchange(partner_id, pushed=pushed_at is not None, error=error)

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for _token, client in clients:
            await client.aclose()


# -- EVSE status ------------------------------------------------------------------------------

_STATION_EVENTS = (StationConnected, StationDisconnected, StationWentOffline)


GATHER_SECONDS = 0.1
"""How long a status change waits for others before they are looked up together. Status events
come in bursts (a station's connectors at boot, a network's at a gateway restart, hundreds a
second at peak), and looking each up in a session of its own was a fifth of a gateway's CPU at
200 status changes a second (docs/benchmarks.md); a partner's view is a tenth of a second later."""

GATHER_AT_MOST = 1000
"""The most events looked up together (the bus keeps at most 1,000 per subscriber)."""


@dataclass(frozen=True)
class _Ask:
    """One event's push: the status of EVSE `evse` (None: of every EVSE of the station, after
    an event about it as a whole), with the connector statuses the event reported, at `at`."""

    evse: int | None
    changed: dict[int, str]
    at: datetime

    @classmethod
    def of(cls, event: Event) -> _Ask:
        if isinstance(event, ConnectorStatusChanged) and event.evse_id > 0:
            return cls(event.evse_id, {event.connector_id: event.status}, event.at)
        # online, offline, or (EVSE 0, a 1.6 connector 0) the station itself: every EVSE
        return cls(None, {}, event.at)

    def evses(self, stored: dict[int, dict[int, str]]) -> list[int]:
        """The EVSEs this pushes, of the station's stored ones (EVSE 0 is the station itself)."""
        if self.evse is None:
            return [evse for evse in sorted(stored) if evse > 0]
        return [self.evse] if self.evse in stored else []


class _Receiving(NamedTuple):
    """A station whose status some partner receives, as `EvseStatusPush` looked it up."""

    station: Station
    site_code: str
    partners: list[RoamingPartner]
    by_evse: dict[int, dict[int, str]]
    """The stored connector statuses, by EVSE."""


class EvseStatusPush:
    """Station and connector status from the bus, as EVSE status PATCHes in the outbox. The
    status, uid and location id are the ones the locations module serves
    (roaming/location_mapping.py), so a push and a pull never disagree.

    Events are gathered for up to `GATHER_SECONDS` and looked up together, in a session per
    database; each event is still its own push, in the order the events came."""

    def __init__(self, sessions: async_sessionmaker, bus: EventBus, outbox: Outbox) -> None:
        """A partner that receives our Locations whole (roaming/object_push.py: it holds a mark
        of at least one) gets an EVSE's status only once it was sent that EVSE's Location; until
        then the status goes inside the Location's PUT, since a partner never PUT a Location
        answers a PATCH of one of its EVSEs with "unknown location". A partner with no mark
        (object pushes off, or before their first look) learns Locations by pulling, and gets
        every PATCH."""
        self._sessions = sessions
        self._bus = bus
        self._outbox = outbox
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._follow(), name="roaming-evse-status")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task], timeout=10)
            self._task = None

    async def _follow(self) -> None:
        async with self._bus.subscribe(local_only=True, kinds=(ConnectorStatusChanged, *_STATION_EVENTS)) as events:
            while True:
                gathered = [await events.get()]
                await asyncio.sleep(GATHER_SECONDS)
                while not events.empty() and len(gathered) < GATHER_AT_MOST:
                    gathered.append(events.get_nowait())
                await self._push_gathered(gathered)

    async def _push_gathered(self, events: list[Event]) -> None:
        asks: dict[str, list[_Ask]] = {}
        for event in events:
            if isinstance(event, (ConnectorStatusChanged, *_STATION_EVENTS)):
                asks.setdefault(event.station_id, []).append(_Ask.of(event))
        places: dict[str | None, dict[str, list[_Ask]]] = {}
        for station_id, station_asks in asks.items():
            try:
                places.setdefault(await station_database(self._sessions, station_id), {})[station_id] = station_asks
            except Exception:
                log.exception("could not find the database of station %s for its roaming status push", station_id)
        for place, stations in places.items():
            with database_scope(place):
                await self._enqueue(await self._pushes_each_alone_if_need_be(stations))

    async def _pushes_each_alone_if_need_be(self, stations: dict[str, list[_Ask]]) -> dict[int, list[Push]]:
        """The stations' pushes, looked up together; if that fails, one station at a time, so
        that a station whose lookup fails stops no other."""
        try:
            return await self._pushes(stations)
        except Exception:
            if len(stations) == 1:
                log.exception("could not look up the roaming status push of station %s", *stations)
                return {}
        pushes: dict[int, list[Push]] = {}
        for station_id, station_asks in stations.items():
            try:
                found = await self._pushes({station_id: station_asks})
            except Exception:
                log.exception("could not look up the roaming status push of station %s", station_id)
                continue
            for tenant_id, tenant_pushes in found.items():
                pushes.setdefault(tenant_id, []).extend(tenant_pushes)
        return pushes

    async def push_status(self, station_id: str, evse_id: int | None, at: datetime, *,
                          changed: dict[int, str] | None = None) -> list[int]:
        """Enqueue the status of the station's EVSE `evse_id` (None: of each of its EVSEs) for
        every partner that takes locations; the row ids. `changed`: the connector statuses an
        event reported, which win over the stored ones (by the time the event is handled a later
        status of the connector may be stored; its own event follows)."""
        return await self._enqueue(await self._pushes({station_id: [_Ask(evse_id, dict(changed or {}), at)]}))

    async def _enqueue(self, pushes: dict[int, list[Push]]) -> list[int]:
        """Each tenant's pushes in a transaction of its own (the outbox's rows carry it)."""
        ids = []
        for tenant_id, tenant_pushes in pushes.items():
            try:
                ids += await self._outbox.enqueue_after_commit(tenant_pushes, tenant_id=tenant_id)
            except Exception:
                log.exception("could not enqueue %d roaming status pushes of tenant %s", len(tenant_pushes), tenant_id)
        return ids

    async def _pushes(self, stations: dict[str, list[_Ask]]) -> dict[int, list[Push]]:
        """The stations' pushes by tenant, in the order of their asks, looked up in one session
        (in the database in scope)."""
        receiving, identities = await self._receiving(list(stations))
        pushes: dict[int, list[Push]] = {}
        for station, site_code, partners, by_evse in receiving:
            identity = identities[station.tenant_id]
            facts = StationFacts(station.id, bool(station.online), bool(station.planned), station.status,
                                 moved=station.moved_to is not None)
            for ask in stations[station.id]:
                for evse in ask.evses(by_evse):
                    statuses = {**by_evse[evse], **ask.changed}
                    key = "/".join(quote(part, safe="*-_.~") for part in (
                        identity.country_code, identity.party_id, short_id(site_code), evse_uid(station.id, evse)))
                    body = {"status": evse_status(facts, statuses.values()), "last_updated": ocpi_datetime(ask.at)}
                    pushes.setdefault(station.tenant_id, []).extend(
                        Push(partner.id, "locations", key, "PATCH", key, body) for partner in partners)
        return pushes

    async def _receiving(self, station_ids: list[str]) -> tuple[list[_Receiving], dict[int, RoamingIdentity]]:
        """Of these stations, those whose status some partner receives: each with its site's
        code, those partners and its stored connector statuses by EVSE; and each of their
        tenants' identity as a CPO."""
        async with self._sessions() as session:
            dialect = session.get_bind(Station).dialect.name
            found = (await session.execute(_stations_and_sites(dialect), {"station_ids": station_ids})).all()
            if not found:
                return [], {}  # a station at no site is at no OCPI location
            identities = {identity.tenant_id: identity for identity in (await session.scalars(select(RoamingIdentity).where(
                RoamingIdentity.tenant_id.in_({station.tenant_id for station, _, _ in found}),
                RoamingIdentity.role == "CPO"))).all()}
            if not identities:
                return [], {}  # no tenant of these stations roams as a CPO
            takers: dict[int, list[RoamingPartner]] = {}
            for partner in (await session.scalars(select(RoamingPartner).where(
                    RoamingPartner.tenant_id.in_(identities), RoamingPartner.state == REGISTERED))).all():
                if receiver_url(partner, "locations") is not None:
                    takers.setdefault(partner.tenant_id, []).append(partner)
            may: dict[tuple[int, str], bool] = {}
            chosen = []
            for station, site_code, country in found:
                if country.upper() not in ALPHA3:
                    continue  # the locations module does not publish this site either
                location = short_id(site_code)
                partners = []
                for partner in takers.get(station.tenant_id, []):
                    if (partner.id, location) not in may:
                        may[partner.id, location] = await _may_patch(session, partner.id, location)
                    if may[partner.id, location]:
                        partners.append(partner)
                if partners:
                    chosen.append((station, site_code, partners))
            if not chosen:
                return [], identities
            connectors = (await session.execute(_connectors_of(dialect), {
                "station_ids": [station.id for station, _, _ in chosen]})).all()
        stored: dict[str, dict[int, dict[int, str]]] = {}
        for station_id, evse, connector, status in connectors:
            stored.setdefault(station_id, {}).setdefault(evse, {})[connector] = status
        return [_Receiving(station, site_code, partners, stored.get(station.id, {}))
                for station, site_code, partners in chosen], identities


@functools.cache
def _stations_and_sites(dialect: str):
    """Built once per dialect, not for every gathering of status changes (the follower was 11 %
    of the loop's busy time at light load; building a select is a good part of a cheap query's
    cost). The list of stations is one array parameter on PostgreSQL (`one_of_named`)."""
    return (select(Station, Site.code, Site.country).join(Site, Site.id == Station.site_id)
            .where(one_of_named(dialect, Station.id, "station_ids")))


@functools.cache
def _connectors_of(dialect: str):
    return (select(Connector.station_id, Connector.evse_id, Connector.connector_id, Connector.status)
            .where(one_of_named(dialect, Connector.station_id, "station_ids")))


async def _may_patch(session, partner_id: int, location_id: str) -> bool:
    """Whether a partner gets an EVSE status PATCH of `location_id` (see EvseStatusPush): it
    holds that Location, or it receives none of ours whole. Two lookups of one row each on the
    marks' unique index, not a read of every mark: this runs for each status change."""
    marks = select(RoamingPushedObject.id).where(
        RoamingPushedObject.partner_id == partner_id, RoamingPushedObject.module == "locations").limit(1)
    if await session.scalar(marks.where(RoamingPushedObject.object_id == location_id)) is not None:
        return True
    return await session.scalar(marks) is None


# -- the whole push side, as app.py wires it ------------------------------------------------------


def timing_of(settings: Settings) -> SenderTiming:
    days = settings.roaming_push_keep_days
    return SenderTiming(
        backoff=Backoff(base=settings.roaming_push_backoff_base, cap=settings.roaming_push_backoff_cap),
        poll_seconds=settings.roaming_push_poll_seconds,
        lock_seconds=settings.roaming_push_lock_seconds,
        keep_sent=timedelta(days=days) if days is not None else None,
    )


class RoamingPush:
    """The outbox, its sender and the status follower. The sender runs where the API runs (one
    per API process; several senders share the work through the rows' locks); the follower where
    the gateway runs, since the status events it acts on are local to the gateway's node."""

    def __init__(self, settings: Settings, sessions: async_sessionmaker, bus: EventBus,
                 partners: PartnerService) -> None:
        self.outbox = Outbox(sessions)
        self.link = OcpiPartnerLink(sessions, partners)
        self.sender = OutboxSender(sessions, self.link, timing_of(settings),
                                   away=lambda: partners_away(sessions))
        self.outbox.on_commit(self.sender.wake)
        self.evse_status = EvseStatusPush(sessions, bus, self.outbox)
        self._running: list[Any] = []

    def start(self, *, send: bool = True, follow: bool = True) -> None:
        if follow:
            self.evse_status.start()
            self._running.append(self.evse_status)
        if send:
            self.sender.start()
            self._running.append(self.sender)

    async def stop(self) -> None:
        for part in reversed(self._running):
            await part.stop()
        self._running = []
        await self.link.aclose()
