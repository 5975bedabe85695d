"""Smart charging wired to the network: real-time load management and depot schedules.

`SmartChargingService` listens to the bus. When a session starts or ends, or a station comes
back, on a site under load management, it re-allocates the site's circuits among the sessions
charging there (smart/allocation.py: priorities, the 6 A minimum step, headroom for stations
that ignore profiles) and sends a TxProfile only to the sessions whose limit changed: lowered
ones first, so that raising another never overloads a circuit in between.

Every managed EVSE also gets a TxDefaultProfile of 0 A, so a new session draws nothing until
its share arrives (one re-balance delay later, after the others were lowered to make room):
the site stays within its limits at every instant, also while silkcharge is unreachable.

What cannot be done is recorded as a problem for the operator (table `smart_problems`, event
`SmartChargingProblem`): a profile a station rejects (the station is then treated as drawing
its maximum), a station drawing more than its limit (seen in its meter values; treated the
same), limits below a car's minimum current (the session is paused), an overloaded circuit,
a departure a depot plan cannot meet, a command that failed. A failed command never stops the
service.

Data residency (store/residency.py): a site's id is only unique in its database, so what the
service keeps in memory per site is kept per (database, site id), `SitePlace`. Work on a site
runs in its database: an API request in its tenant's, an event's handling in its station's
(found again for an event from another node, which carries no database), a re-balance pass
and the meter check in the database each site was noted in.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from silkcharge.bus.local import (
    EventBus,
    StationCallError,
    StationOffline,
    StationReplyInvalid,
    StationTimeout,
)
from silkcharge.domain.clock import to_ocpp, utcnow
from silkcharge.domain.commands import RemoteStart
from silkcharge.domain.events import (
    ChargingProfilesChanged,
    ChargingProfilesReported,
    ExternalChargingLimitChanged,
    SmartChargingProblem,
    StationBooted,
    StationConnected,
    TransactionEnded,
    TransactionStarted,
)
from silkcharge.domain.station_profiles import EffectiveProfile
from silkcharge.services.commands import CommandObserver, CommandRefused, CommandService
from silkcharge.services.external_limits import ExternalLimits
from silkcharge.services.station_profiles import StationProfiles
from silkcharge.smart import depot as depot_model
from silkcharge.smart.allocation import Allocation, ChargingSession, allocate
from silkcharge.smart.composite import InstalledProfile, composite_schedule
from silkcharge.smart.ev_needs import EvNeeds
from silkcharge.smart.profiles import (
    ChargingProfile,
    ChargingProfileKind,
    ChargingProfilePurpose,
    ChargingRateUnit,
    ChargingSchedule,
    ChargingSchedulePeriod,
    parse_fields,
    profile_fields,
    profile_from_fields,
    round_limit,
)
from silkcharge.smart.site import Circuit, PriceBand, Site, TimeOfUsePrices, TimeSeries, kw_to_amps
from silkcharge.smart.solar import PvArray
from silkcharge.store.residency import (
    database_in_use,
    database_scope,
    each_database,
    enter_database,
    residency_of,
)
from silkcharge.store.schema import (
    ChargingPriority,
    ChargingProfileRecord,
    DepotVehicle,
    EvChargingNeeds,
    EvseCircuit,
    IdToken,
    LocalControllerStation,
    MeterSample,
    ReportedChargingProfiles,
    SmartProblem,
    SmartSite,
    Station,
    Transaction,
)
from silkcharge.store.schema import Circuit as CircuitRow
from silkcharge.store.schema import Site as SiteRow

log = logging.getLogger(__name__)
SitePlace = tuple[str | None, int]
"""A site as kept in memory: (its database, None for the platform's; its id there)."""
MANAGED_TTL = 30.0  # seconds a map of managed stations is trusted

CONNECTION = "connection"  # the root circuit's id: the site's grid connection
TX_DEFAULT_ID = 10_000  # + EVSE id: the safe default each managed EVSE gets
TX_ID = 20_000  # + EVSE id: the session's share (load management or depot plan)
COMMAND_FAILURES = (StationOffline, StationTimeout, StationCallError, StationReplyInvalid, CommandRefused)


def evse_key(station_id: str, evse_id: int) -> str:
    return f"{station_id}/{evse_id}"


def external_circuit(station_id: str) -> str:
    """The circuit a station-wide external limit (EMS, grid operator) adds above its EVSEs."""
    return f"external:{station_id}"


def split_key(key: str) -> tuple[str, int]:
    station_id, _, evse = key.rpartition("/")
    return station_id, int(evse)


@dataclass(frozen=True)
class GridSignal:
    """A limit on the site's grid connection from outside (the distribution grid operator, an
    aggregator, a demand-response programme): at most `limit_kw` until `until` (None: until
    cleared). It narrows the root of the site's limit tree; everything below follows."""

    limit_kw: Decimal
    source: str
    until: datetime | None
    received_at: datetime

    def in_force(self, now: datetime) -> bool:
        return self.until is None or now < self.until


@dataclass
class SiteModel:
    """A site under load management as stored: rows and the pure model built from them."""

    site: SiteRow
    smart: SmartSite
    circuits: list[CircuitRow]
    evses: dict[str, EvseCircuit]
    model: Site
    versions: dict[str, str | None]
    profiles: dict[str, EffectiveProfile]
    """Each station's effective profile: rate units, minimum current, current step."""
    controllers: dict[str, str] = field(default_factory=dict)
    """The local controller each station of the site sits behind (K03, K14), if any."""

    def unit(self, station_id: str) -> ChargingRateUnit:
        """Amperes unless the station takes only watts."""
        profile = self.profiles.get(station_id)
        units = profile.get("charging_rate_units") if profile else None
        return ChargingRateUnit.W if units and "A" not in units else ChargingRateUnit.A

    def min_current(self, key: str) -> float:
        """The EVSE's stored minimum, raised to the least its station can charge with."""
        row = self.evses[key]
        profile = self.profiles.get(split_key(key)[0])
        floor = profile.get("min_current_a") if profile else None
        return float(max(row.min_current_a, floor)) if floor is not None else float(row.min_current_a)

    def step(self, station_id: str) -> Decimal | None:
        profile = self.profiles.get(station_id)
        return profile.get("current_step_a") if profile else None


@dataclass
class SiteState:
    """What the service last decided for a site (in memory; rebuilt on restart)."""

    sent: dict[str, float] = field(default_factory=dict)  # evse key -> A of the last TxProfile
    sent_at: dict[str, datetime] = field(default_factory=dict)  # when the station accepted it
    defaults: dict[str, float] = field(default_factory=dict)  # evse key -> A of the TxDefault
    allocation: Allocation | None = None
    allocated_at: datetime | None = None
    transactions: dict[str, Transaction] = field(default_factory=dict)  # evse key -> running
    plan: depot_model.DepotSchedule | None = None
    depot: depot_model.DepotProblem | None = None
    depot_tokens: dict[str, str] = field(default_factory=dict)  # vehicle id -> the token it charges with
    ev_needs: dict[str, EvNeeds] = field(default_factory=dict)  # evse key -> what its car needs
    problem_keys: set[tuple] = field(default_factory=set)


@dataclass
class _SiteMap:
    """Each station's site and the managed sites, as read from one database."""

    sites_of: dict[str, int | None]
    managed: set[int]
    read_at: float


@dataclass
class StartingProfile:
    """A TxProfile a remote start carried; the station installs it for the transaction it starts."""

    evse_id: int | None
    profile: ChargingProfile
    source: str
    at: datetime


REPORTS_KEPT = 200  # parts of ReportChargingProfiles kept per station
STARTING_TTL = timedelta(minutes=5)  # a remote start not followed by a transaction by then is forgotten


class SmartError(ValueError):
    """A smart-charging request that cannot be done as asked (the message says why)."""


class SmartChargingService(CommandObserver):
    def __init__(
        self,
        sessions: async_sessionmaker,
        bus: EventBus,
        commands: CommandService,
        profiles: StationProfiles,
        *,
        rebalance_delay: float = 0.2,
        check_every: float = 5.0,
        over_limit_tolerance_a: float = 1.0,
        external_limits: ExternalLimits | None = None,
    ) -> None:
        self._sessions = sessions
        self._external_limits = external_limits
        self._bus = bus
        self._commands = commands
        # Each station's effective profile: whether its limits must be re-sent, its minimum
        # current, the step its limits are set in, the units it takes.
        self._profiles = profiles
        self._delay = rebalance_delay
        self._check_every = check_every
        self._tolerance = over_limit_tolerance_a
        self._residency = residency_of(sessions)
        self._states: dict[SitePlace, SiteState] = {}
        self._dirty: set[SitePlace] = set()
        self._arrivals: set[SitePlace] = set()  # depot sites where a vehicle plugged in: re-plan
        # Grid signals by site: kept in memory (a sender re-sends; each has an end), see grid_signal()
        self._grid_signals: dict[SitePlace, GridSignal] = {}
        self._wake = asyncio.Event()
        self._locks: dict[SitePlace, asyncio.Lock] = {}
        self._site_maps: dict[str | None, _SiteMap] = {}  # by database, see _managed_site_of
        self._tasks: list[asyncio.Task] = []
        self._checked_until: datetime = utcnow()
        self._starting: dict[tuple[str, str], StartingProfile] = {}  # (station, idToken) -> profile
        self._in_flight: dict[str, list[tuple[int, ChargingProfile]]] = {}  # station -> sent, not yet recorded
        commands.observe(self)
        commands.provide_start_profiles(self.start_profile)

    # ---- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._listen()),
            asyncio.create_task(self._rebalancer()),
            asyncio.create_task(self._watch_meters()),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    def place(self, site_id: int) -> SitePlace:
        """The site `site_id` of the database in use (data residency: ids are per database)."""
        return database_in_use(self._sessions), site_id

    def state(self, site_id: int) -> SiteState:
        return self._states.setdefault(self.place(site_id), SiteState())

    async def _listen(self) -> None:
        watched = (TransactionStarted, TransactionEnded, StationBooted, StationConnected, ExternalChargingLimitChanged)
        async with self._bus.subscribe(kinds=watched) as queue:
            while True:
                event = await queue.get()
                if self._residency is not None and not await self._enter_station_database(event.station_id):
                    continue
                if isinstance(event, TransactionStarted) and self._starting:
                    await self._started_with_profile(event)
                if isinstance(event, TransactionEnded):
                    try:
                        await self._forget_needs(event)
                    except Exception:
                        log.exception("smart charging: forgetting the EV's needs on %s failed", event.station_id)
                try:
                    if isinstance(event, ExternalChargingLimitChanged):
                        for site_id in await self._sites_behind(event.station_id):
                            self._dirty.add(self.place(site_id))
                    site_id = await self._managed_site_of(event.station_id)
                    if site_id is None:
                        self._wake.set()
                        continue
                    if isinstance(event, (StationBooted, StationConnected)):
                        if not await self._limits_lost(event):
                            continue
                        self._forget_sent(event.station_id)
                except Exception:  # the database may be busy or gone; the next event retries
                    log.exception("smart charging: cannot find the site or profile of %s", event.station_id)
                    continue
                self._dirty.add(self.place(site_id))
                if isinstance(event, TransactionStarted):
                    self._arrivals.add(self.place(site_id))
                self._wake.set()

    async def _enter_station_database(self, station_id: str) -> bool:
        """Data residency: handle the event in its station's database (an event from another
        node carries none); False when that database cannot be asked now."""
        try:
            enter_database(await self._residency.locate_station(station_id))
        except Exception:  # the database may be down; the station's next event retries
            log.exception("smart charging: cannot find the database of %s", station_id)
            return False
        return True

    async def after(
        self, station_id: str, params: Any, reply: dict[str, Any], details: dict[str, Any], status: str | None,
    ) -> None:
        """A remote start the station accepted with a TxProfile: the profile is the new
        transaction's, recorded once the transaction starts (its id is known only then)."""
        if not isinstance(params, RemoteStart) or params.charging_profile is None or status != "Accepted":
            return
        now = utcnow()
        self._starting = {k: v for k, v in self._starting.items() if now - v.at < STARTING_TTL}
        profile = profile_from_fields(params.charging_profile.model_dump())
        source = details.get("profile_source", "operator")
        self._starting[(station_id, params.id_token)] = StartingProfile(params.evse_id, profile, source, now)

    async def _started_with_profile(self, event: TransactionStarted) -> None:
        pending = self._starting.get((event.station_id, event.id_token or ""))
        if pending is None or pending.evse_id not in (None, event.evse_id):
            return
        del self._starting[(event.station_id, event.id_token or "")]
        try:
            async with self._sessions() as session:
                tx = await session.get(Transaction, event.transaction_id)
            profile = replace(pending.profile, transaction_id=tx.station_tx_id if tx else None)
            await self.record_profile(event.station_id, event.evse_id, profile, pending.source)
        except Exception:
            log.exception("smart charging: recording the remote start's profile on %s failed", event.station_id)

    async def _sites_behind(self, controller_id: str) -> set[int]:
        """The managed sites of the stations behind a local controller (K14)."""
        async with self._sessions() as session:
            stations = (await session.scalars(select(LocalControllerStation.station_id)
                                              .where(LocalControllerStation.controller_id == controller_id))).all()
        sites = {await self._managed_site_of(station_id) for station_id in stations}
        return {site for site in sites if site is not None}

    async def _limits_lost(self, event: StationBooted | StationConnected) -> bool:
        """Whether the station's profile says a boot (or a reconnect) cost it its limits."""
        profile = await self._profiles.of_station(event.station_id)
        fact = "resend_limits_after_boot" if isinstance(event, StationBooted) else "resend_limits_after_reconnect"
        return profile is not None and bool(profile.get(fact))

    def _forget_sent(self, station_id: str) -> None:
        """Forget the limits sent to a station that lost them, so the next pass sends them again."""
        for state in self._states.values():
            for sent in (state.defaults, state.sent):
                for key in [k for k in sent if split_key(k)[0] == station_id]:
                    del sent[key]

    async def _rebalancer(self) -> None:
        while True:
            await self._wake.wait()
            await asyncio.sleep(self._delay)  # gather a burst of starts and stops into one pass
            self._wake.clear()
            # Taken together: an arrival noted while this pass runs (a car's needs after its start)
            # is the next pass's, never cleared unseen.
            dirty, self._dirty = self._dirty, set()
            arrivals, self._arrivals = self._arrivals, set()
            for place in dirty:
                database, site_id = place
                try:
                    with database_scope(database):  # data residency: the site's own database
                        await self.rebalance(site_id)
                        if self.state(site_id).depot is not None and place in arrivals:
                            await self.replan(site_id)
                except Exception:
                    log.exception("smart charging: re-balancing site %s failed", site_id)

    async def _managed_site_of(self, station_id: str) -> int | None:
        """The managed site a station belongs to. Every station's site and the set of managed
        sites are read at most every MANAGED_TTL seconds, so a boot storm of 50,000 stations
        costs one query, not one per boot; a station the map does not know yet (just
        registered) is looked up alone; a site defined through the API clears the map. With
        data residency, one map per database, each of the database in use."""
        now = asyncio.get_running_loop().time()
        database = database_in_use(self._sessions)
        known = self._site_maps.get(database)
        if known is None or now - known.read_at > MANAGED_TTL:
            async with self._sessions() as session:
                sites_of = dict((await session.execute(select(Station.id, Station.site_id))).all())
                managed = set(await session.scalars(select(SmartSite.site_id)))
            known = self._site_maps[database] = _SiteMap(sites_of, managed, now)
        if station_id not in known.sites_of:
            async with self._sessions() as session:
                known.sites_of[station_id] = await session.scalar(
                    select(Station.site_id).where(Station.id == station_id)
                )
        site_id = known.sites_of[station_id]
        return site_id if site_id in known.managed else None

    async def under_load_management(self, station_id: str) -> bool:
        """Whether the station's site is under load management: its sessions' TxProfiles are
        the site's allocation, and a profile from elsewhere (a roaming partner's) would either
        override the allocation, risking the circuits, or be overridden by it."""
        return await self._managed_site_of(station_id) is not None

    def sites_changed(self) -> None:
        """A managed site was defined or changed: read the station maps again on the next event."""
        self._site_maps.clear()

    # ---- the site as stored ------------------------------------------------------------------

    async def load_site(self, site_id: int) -> SiteModel:
        async with self._sessions() as session:
            site = await session.get(SiteRow, site_id)
            smart = await session.get(SmartSite, site_id)
            if site is None or smart is None:
                raise SmartError(f"site {site_id} is not under load management")
            circuits = list((await session.scalars(select(CircuitRow).where(CircuitRow.site_id == site_id))).all())
            ids = [c.id for c in circuits]
            rows = (await session.scalars(select(EvseCircuit).where(EvseCircuit.circuit_id.in_(ids)))).all() if ids else []
            station_ids = sorted({r.station_id for r in rows})
            stations = (await session.scalars(select(Station).where(Station.id.in_(station_ids)))).all()
            controllers = dict((await session.execute(
                select(LocalControllerStation.station_id, LocalControllerStation.controller_id)
                .where(LocalControllerStation.station_id.in_(station_ids)))).all()) if station_ids else {}
        evses = {evse_key(r.station_id, r.evse_id): r for r in rows}
        model = build_site(site, smart, circuits, evses)
        signal = self.grid_signal_of(site_id)
        if signal is not None:  # the grid signal narrows the connection, the root of the limit tree
            allowed = kw_to_amps(float(signal.limit_kw), model.voltage)
            model = replace(model, grid=replace(model.grid, limit_a=min(model.grid.limit_a, allowed)))
        versions = {s.id: s.ocpp_version for s in stations}
        profiles = {s.id: await self._profiles.of(s) for s in stations}
        return SiteModel(site, smart, circuits, evses, model, versions, profiles, controllers)

    async def _running(self, model: SiteModel) -> dict[str, tuple[Transaction, int]]:
        """Running sessions on the site's managed EVSEs, with the priority of each."""
        if not model.evses:
            return {}
        stations = sorted({r.station_id for r in model.evses.values()})
        async with self._sessions() as session:
            txs = (await session.scalars(
                select(Transaction).where(Transaction.station_id.in_(stations), Transaction.state == "Active")
            )).all()
            groups = {
                t.token: t.group_id
                for t in (await session.scalars(
                    select(IdToken).where(IdToken.token.in_([tx.id_token for tx in txs if tx.id_token]))
                )).all()
            } if txs else {}
            priorities = {p.group_id: p.priority for p in (await session.scalars(select(ChargingPriority))).all()}
        running = {}
        for tx in txs:
            key = evse_key(tx.station_id, tx.evse_id)
            row = model.evses.get(key)
            if row is None:
                continue
            group = groups.get(tx.id_token)
            running[key] = (tx, max(row.priority, priorities.get(group, row.priority) if group else row.priority))
        return running

    # ---- real-time load management -----------------------------------------------------------

    # ---- grid signals from outside -----------------------------------------------------------

    def grid_signal_of(self, site_id: int) -> GridSignal | None:
        """The grid signal in force on the site now (an expired one is forgotten)."""
        signal = self._grid_signals.get(self.place(site_id))
        if signal is not None and not signal.in_force(utcnow()):
            del self._grid_signals[self.place(site_id)]
            return None
        return signal

    async def grid_signal(self, site_id: int, limit_kw: Decimal, source: str, until: datetime | None) -> GridSignal:
        """A grid signal limits the site's connection to `limit_kw` until `until`; the site is
        re-balanced at once (and its depot plan, if any, is re-solved against it)."""
        signal = GridSignal(limit_kw, source, until, utcnow())
        self._grid_signals[self.place(site_id)] = signal
        await self.rebalance(site_id)
        if self.state(site_id).depot is not None:
            await self.replan(site_id)
        return signal

    async def clear_grid_signal(self, site_id: int) -> bool:
        """The grid signal ends early; False when none was in force."""
        found = self._grid_signals.pop(self.place(site_id), None) is not None
        if found:
            await self.rebalance(site_id)
            if self.state(site_id).depot is not None:
                await self.replan(site_id)
        return found

    async def rebalance(self, site_id: int) -> Allocation:
        """Allocate the site's circuits among its running sessions and send what changed."""
        lock = self._locks.setdefault(self.place(site_id), asyncio.Lock())
        async with lock:
            model = await self.load_site(site_id)
            state = self.state(site_id)
            running = await self._running(model)
            await self._send_defaults(model, state)
            sessions = []
            planned = self._planned_currents(model, state, running)
            limits = model.model.limits_a()
            external = await self._external(model, running, limits)
            state.ev_needs = await self._ev_needs(running)
            now = utcnow()
            for key, (tx, priority) in running.items():
                sessions.append(self._session(model, key, tx.started_at, priority, planned, limits, external,
                                              state.ev_needs.get(key), now=now, delivered_wh=float(tx.energy_wh or 0)))
            allocation = allocate(limits, sessions)
            state.allocation, state.allocated_at = allocation, utcnow()
            state.transactions = {key: tx for key, (tx, _) in running.items()}
            for key in [k for k in state.sent if k not in running]:
                del state.sent[key]
            await self._send_shares(model, state, allocation)
            await self._report_allocation(model, allocation)
            await self._report_departures(model, state, allocation)
            return allocation

    async def _ev_needs(self, running: dict[str, Any]) -> dict[str, EvNeeds]:
        """What the cars charging now said they need (NotifyEVChargingNeeds), by EVSE key."""
        if not running:
            return {}
        stations = sorted({split_key(key)[0] for key in running})
        async with self._sessions() as session:
            rows = (await session.scalars(select(EvChargingNeeds).where(EvChargingNeeds.station_id.in_(stations)))).all()
        out = {}
        for row in rows:
            key = evse_key(row.station_id, row.evse_id)
            if key in running:
                try:
                    out[key] = EvNeeds.from_ocpp201(row.needs)
                except (KeyError, ValueError, TypeError):
                    log.warning("smart charging: unreadable charging needs of %s", key)
        return out

    async def _report_departures(self, model: SiteModel, state: SiteState, allocation: Allocation) -> None:
        """A car that cannot get the energy it asked for by its departure at its share (K15).
        Not a car a depot plan drives: the plan knows the fleet's departures, and reports what it
        cannot meet itself (`departure_unmet` with the vehicle, `_report_shortfall`)."""
        now = utcnow()
        unmanaged = set(allocation.unmanaged)
        for key, ev in state.ev_needs.items():
            tx = state.transactions.get(key)
            share = allocation.limits.get(key)
            if tx is None or share is None or key in unmanaged:
                continue
            phases = model.evses[key].phases
            needed = ev.needed_a(now, float(tx.energy_wh or 0), model.model.voltage, phases)
            if needed is None or share + 0.05 >= needed:
                continue
            station_id, evse = split_key(key)
            await self.problem(
                model.site, station_id, evse, "departure_unmet",
                f"the EV on EVSE {evse} asks for {ev.energy_wh / 1000:.1f} kWh by {to_ocpp(ev.departure)}: "
                f"that needs {min(needed, 999.9):.1f} A, its share is {share} A",
                data={"needed_a": round(min(needed, 1e6), 1), "share_a": share, "departure": to_ocpp(ev.departure)},
            )

    def _session(
        self, model: SiteModel, key: str, arrival: datetime, priority: int, planned: dict[str, float],
        limits: dict[str, float], external: dict[str, float], ev: EvNeeds | None = None, *,
        now: datetime | None = None, delivered_wh: float = 0.0,
    ) -> ChargingSession:
        """What the allocation needs to know of a session on a managed EVSE; `ev` is what the
        car said it needs (K15, K17): its own current range narrows the EVSE's, and the energy it
        asked for by its departure (less the `delivered_wh` so far) is the current it needs."""
        row = model.evses[key]
        station_id = split_key(key)[0]
        path, cap = model.model.path(key), external.get(key)
        controller = model.controllers.get(station_id)
        for limited in (controller, station_id):  # the local controller's limit is above the station's
            if limited is not None and external_circuit(limited) in limits:
                path = (*path, external_circuit(limited))
        maximum = planned.get(key, float(row.max_current_a))
        minimum = model.min_current(key)
        if ev is not None:
            car_max = ev.max_a(model.model.voltage, row.phases)
            if car_max is not None:
                maximum = min(maximum, car_max)
            if ev.min_current_a is not None and ev.min_current_a <= maximum:
                minimum = max(minimum, ev.min_current_a)
        if cap is not None:
            maximum = min(maximum, cap)
        needed = ev.needed_a(now or utcnow(), delivered_wh, model.model.voltage, row.phases) if ev is not None else None
        return ChargingSession(
            evse_id=key, circuit_path=path, max_current=maximum, arrival=arrival,
            priority=priority, phases=row.phases, min_current=minimum,
            obeys_profiles=row.obeys_profiles and key not in planned, needed_current=needed,
        )

    async def start_profile(self, station_id: str, evse_id: int) -> dict[str, Any] | None:
        """The TxProfile a remote start on a managed EVSE carries (K05, 1.6 TC_059): the share
        the new session would get, but no more than its circuits have free now, while the
        others still draw what they were sent. None when the EVSE is not managed, a session
        already runs on it, or less than its minimum current is free: the station then keeps
        the 0 A TxDefaultProfile until the next re-balance, which lowers the others first."""
        site_id = await self._managed_site_of(station_id)
        if site_id is None:
            return None
        key = evse_key(station_id, evse_id)
        async with self._locks.setdefault(self.place(site_id), asyncio.Lock()):
            model = await self.load_site(site_id)
            row = model.evses.get(key)
            if row is None or not row.obeys_profiles or model.versions.get(station_id) is None:
                return None
            state = self.state(site_id)
            running = await self._running(model)
            if key in running:
                return None
            planned = self._planned_currents(model, state, running)
            limits = model.model.limits_a()
            external = await self._external(model, {**running, key: None}, limits)
            now = utcnow()
            sessions = [self._session(model, k, tx.started_at, priority, planned, limits, external,
                                      state.ev_needs.get(k), now=now, delivered_wh=float(tx.energy_wh or 0))
                        for k, (tx, priority) in running.items()]
            new = self._session(model, key, now, row.priority, planned, limits, external)
            share = allocate(limits, [*sessions, new]).limits.get(key, 0.0)
            # What the others may draw until the next re-balance lowers them.
            drawn = [
                (s.circuit_path, state.sent.get(s.evse_id, state.defaults.get(s.evse_id, s.max_current))
                 if s.obeys_profiles else s.max_current)
                for s in sessions
            ]
            free = min(limits[c] - sum(a for path, a in drawn if c in path) for c in new.circuit_path)
            amps = min(share, free)
            if amps < new.min_current:
                return None
            profile = self._profile(TX_ID + evse_id, ChargingProfilePurpose.TX, 1, amps, model, key)
            return profile_fields(profile)

    async def _external(
        self, model: SiteModel, running: dict[str, Any], limits: dict[str, float],
    ) -> dict[str, float]:
        """Limits an EMS or grid operator set on the site's stations (K11-K14): an EVSE's own
        caps its session (returned per EVSE key); a station's whole limit becomes a circuit
        above its EVSEs, added to `limits`."""
        if self._external_limits is None or not running:
            return {}
        stations = sorted({split_key(key)[0] for key in running})
        stations += sorted({model.controllers[s] for s in stations if s in model.controllers} - set(stations))
        phases = {split_key(key): row.phases for key, row in model.evses.items()}
        found = await self._external_limits.in_force(
            stations, utcnow(), Decimal(str(model.model.voltage)), phases
        )
        caps = {}
        for (station_id, evse), amps in found.items():
            if evse == 0:
                limits[external_circuit(station_id)] = float(amps)
            else:
                caps[evse_key(station_id, evse)] = float(amps)
        for controller in sorted(set(model.controllers.values())):
            # K03: the maximum silkcharge set on a local controller holds for its stations together.
            amps = await self._controller_maximum(controller, model.model.voltage)
            if amps is not None:
                circuit = external_circuit(controller)
                limits[circuit] = min(limits.get(circuit, amps), amps)
        return caps

    async def _controller_maximum(self, controller: str, voltage: float) -> float | None:
        """The station maximum installed on a local controller now, in A per phase (three)."""
        maxima = [InstalledProfile(evse, profile) for evse, profile in await self.installed(controller)
                  if evse == 0 and profile.purpose is ChargingProfilePurpose.CHARGING_STATION_MAX]
        if not maxima:
            return None
        schedule = composite_schedule(maxima, evse_id=0, start=utcnow(), duration=1, rate_unit=ChargingRateUnit.A,
                                      voltage=Decimal(str(voltage)), phases=3)
        limit = schedule.periods[0].limit
        return float(limit) if limit is not None else None

    def _planned_currents(self, model: SiteModel, state: SiteState, running: dict) -> dict[str, float]:
        """EVSEs a depot plan drives now: the most current the plan asks of each planned vehicle
        charging there in this slot or the next (the station follows the plan's profile by
        itself; the next re-balance, seconds away, sees the slot after). Not the plan's peak
        over the night: vehicles peak at different hours, and their peaks together would
        exceed the connection the plan keeps to."""
        if state.plan is None:
            return {}
        first = max(0, int((utcnow() - state.plan.start) / state.plan.slot))
        out = {}
        for vid, key in self._planned_running(state, running).items():
            ahead = state.plan.power_w.get(vid, [])[first:first + 2] or [0.0]
            out[key] = max(ahead) / (model.model.voltage * 3)
        return out

    @staticmethod
    def _planned_running(state: SiteState, running: dict) -> dict[str, str]:
        """The depot plan's vehicles charging now: vehicle id -> its EVSE. The session on a
        vehicle's EVSE is that vehicle's when the vehicle has no token, or was started with it;
        another driver's session there (a charger the depot shares) is an ordinary one."""
        if state.plan is None or state.depot is None:
            return {}
        found = {}
        for vehicle in state.depot.vehicles:
            if vehicle.evse_id is None or vehicle.evse_id not in running:
                continue
            token = state.depot_tokens.get(vehicle.id)
            charging_with = running[vehicle.evse_id][0].id_token or ""
            if token is None or charging_with.casefold() == token.casefold():
                found[vehicle.id] = vehicle.evse_id
        return found

    async def _send_defaults(self, model: SiteModel, state: SiteState) -> None:
        defaults = default_limits(model)
        for key, amps in defaults.items():
            if state.defaults.get(key) == amps or model.versions.get(split_key(key)[0]) is None:
                continue
            station_id, evse = split_key(key)
            profile = self._profile(TX_DEFAULT_ID + evse, ChargingProfilePurpose.TX_DEFAULT, 0, amps, model, key)
            if await self.send_profile(station_id, evse, profile, "load", site=model.site):
                state.defaults[key] = amps

    async def _send_shares(self, model: SiteModel, state: SiteState, allocation: Allocation) -> None:
        unmanaged = set(allocation.unmanaged)
        changes = {
            key: amps for key, amps in allocation.limits.items()
            if key not in unmanaged and abs(state.sent.get(key, state.defaults.get(key, -1.0)) - amps) > 0.05
        }
        before = {key: state.sent.get(key, state.defaults.get(key, 0.0)) for key in changes}
        lowered = [k for k in changes if changes[k] < before[k]]
        raised = [k for k in changes if k not in lowered]
        for batch in (lowered, raised):
            await asyncio.gather(*(self._send_share(model, state, key, changes[key]) for key in batch))

    async def _send_share(self, model: SiteModel, state: SiteState, key: str, amps: float) -> None:
        station_id, evse = split_key(key)
        tx = state.transactions[key]
        profile = self._profile(TX_ID + evse, ChargingProfilePurpose.TX, 1, amps, model, key, tx.station_tx_id)
        accepted = await self.send_profile(station_id, evse, profile, "load", site=model.site)
        if accepted:
            state.sent[key], state.sent_at[key] = amps, utcnow()
        elif accepted is False:
            await self._set_obeys(key, False)
            self._dirty.add(self.place(model.site.id))
            self._wake.set()

    def _profile(
        self, profile_id: int, purpose: ChargingProfilePurpose, level: int, amps: float, model: SiteModel,
        key: str, transaction_id: str | None = None,
    ) -> ChargingProfile:
        station_id, _ = split_key(key)
        unit = model.unit(station_id)
        phases = model.evses[key].phases
        current = _in_steps(Decimal(str(amps)), model.step(station_id))
        value = current if unit is ChargingRateUnit.A else current * Decimal(str(model.model.voltage)) * phases
        return ChargingProfile(
            id=profile_id, stack_level=level, purpose=purpose, kind=ChargingProfileKind.RELATIVE,
            schedule=ChargingSchedule(unit, (ChargingSchedulePeriod(0, round_limit(value)),)),
            transaction_id=transaction_id,
        )

    async def send_profile(
        self, station_id: str, evse_id: int, profile: ChargingProfile, source: str, *, site: SiteRow | None = None,
    ) -> bool | None:
        """SetChargingProfile; True if accepted (and recorded), False if the station rejected it,
        None if it could not be asked. Problems are recorded, never raised."""
        fields = profile_fields(profile)
        flight = (evse_id, profile)
        self._in_flight.setdefault(station_id, []).append(flight)
        try:
            try:
                result = await self._commands.send(
                    station_id, "set_charging_profile", {"evse_id": evse_id, "profile": fields}
                )
            except COMMAND_FAILURES as error:
                await self.problem(site, station_id, evse_id, "command_failed",
                                   f"SetChargingProfile {profile.id} could not be sent: {error}")
                return None
            if result.status != "Accepted":
                info = result.reply.get("statusInfo") or {}
                why = info.get("additionalInfo") or info.get("reasonCode") or "no reason given"
                await self.problem(site, station_id, evse_id, "profile_rejected",
                                   f"station rejected {profile.purpose.value} {profile.id} ({why}); "
                                   "it is now assumed to draw its maximum", dedupe=False)
                return False
            await self.record_profile(station_id, evse_id, profile, source)
            return True
        finally:  # only once recorded (or refused) does it leave the flight: no moment sees neither
            sending = self._in_flight[station_id]
            sending[:] = [item for item in sending if item is not flight]
            if not sending:
                del self._in_flight[station_id]

    async def record_profile(self, station_id: str, evse_id: int, profile: ChargingProfile, source: str) -> None:
        """Keep a profile the station accepted as installed (replacing what it replaced there),
        then announce the change (`ChargingProfilesChanged`)."""
        fields = profile_fields(profile)
        async with self._sessions.begin() as session:
            await session.execute(delete(ChargingProfileRecord).where(
                ChargingProfileRecord.station_id == station_id,
                (ChargingProfileRecord.profile_id == profile.id)
                | ((ChargingProfileRecord.evse_id == evse_id)
                   & (ChargingProfileRecord.purpose == profile.purpose.value)
                   & (ChargingProfileRecord.stack_level == profile.stack_level)),
            ))
            session.add(ChargingProfileRecord(
                station_id=station_id, evse_id=evse_id, profile_id=profile.id, purpose=profile.purpose.value,
                stack_level=profile.stack_level, transaction_id=profile.transaction_id, body=fields,
                source=source, installed_at=utcnow(),
            ))
        self._bus.publish(ChargingProfilesChanged(station_id, utcnow(), evse_id, source))

    async def forget_profiles(self, station_id: str, *, source: str, **criteria: Any) -> None:
        """Mirror a ClearChargingProfile the station accepted (`source`: who cleared), then
        announce the change, on the EVSE the criteria name (none: the whole station)."""
        where = [ChargingProfileRecord.station_id == station_id]
        if criteria.get("profile_id") is not None:
            where.append(ChargingProfileRecord.profile_id == criteria["profile_id"])
        if criteria.get("evse_id") is not None:
            where.append(ChargingProfileRecord.evse_id == criteria["evse_id"])
        if criteria.get("purpose") is not None:
            where.append(ChargingProfileRecord.purpose == criteria["purpose"])
        if criteria.get("stack_level") is not None:
            where.append(ChargingProfileRecord.stack_level == criteria["stack_level"])
        async with self._sessions.begin() as session:
            await session.execute(delete(ChargingProfileRecord).where(*where))
        self._bus.publish(ChargingProfilesChanged(station_id, utcnow(), criteria.get("evse_id"), source))

    async def installed_views(self, station_id: str) -> list[list[tuple[int, ChargingProfile]]]:
        """What a station may be obeying right now, as (EVSE, profile) lists: the profiles recorded
        as installed and, while a SetChargingProfile is on its way or its acceptance not yet
        recorded, those with the new ones in place. A station that reports its plan in the same
        moment may have planned with either (K16 renegotiation races the recording)."""
        arriving = list(self._in_flight.get(station_id, ()))  # before the read: none can slip between
        recorded = await self.installed(station_id)
        if not arriving:
            return [recorded]
        replaced = recorded
        for evse_id, profile in arriving:
            replaced = [(evse, kept) for evse, kept in replaced if not _replaced_by(evse, kept, evse_id, profile)]
            replaced.append((evse_id, profile))
        return [recorded, replaced]

    async def installed(self, station_id: str) -> list[tuple[int, ChargingProfile]]:
        """The profiles silkcharge installed on a station, as (EVSE, profile)."""
        async with self._sessions() as session:
            rows = (await session.scalars(
                select(ChargingProfileRecord).where(ChargingProfileRecord.station_id == station_id)
                .order_by(ChargingProfileRecord.id)
            )).all()
        return [(row.evse_id, parse_fields(row.body)) for row in rows]

    async def _set_obeys(self, key: str, obeys: bool) -> None:
        station_id, evse = split_key(key)
        async with self._sessions.begin() as session:
            row = await session.get(EvseCircuit, (station_id, evse))
            if row is not None:
                row.obeys_profiles = obeys

    async def _report_allocation(self, model: SiteModel, allocation: Allocation) -> None:
        for key in allocation.paused:
            station_id, evse = split_key(key)
            row = model.evses[key]
            await self.problem(
                model.site, station_id, evse, "below_min_current",
                f"the circuits above EVSE {evse} leave less than its {row.min_current_a} A minimum: "
                "the session is paused at 0 A until a share frees up",
            )
        for circuit in allocation.overloaded:
            await self.problem(
                model.site, "", None, "circuit_overloaded",
                f"circuit {circuit}: stations that ignore limits alone may draw more than its limit; "
                "every managed session under it is paused",
            )

    async def problem(
        self, site: SiteRow | None, station_id: str, evse_id: int | None, kind: str, reason: str,
        *, data: dict[str, Any] | None = None, dedupe: bool = True,
    ) -> None:
        """Record what the operator must know; the same (kind, station, EVSE) once per session."""
        site_id = site.id if site is not None else None
        state = self.state(site_id) if site_id is not None else SiteState()
        marker = (kind, station_id, evse_id, reason if kind == "departure_unmet" else None)
        if dedupe and marker in state.problem_keys:
            return
        state.problem_keys.add(marker)
        where = [site.code] if site is not None else []
        if station_id:
            where.append(station_id if evse_id is None else f"{station_id} EVSE {evse_id}")
        log.warning("smart charging: %s at %s: %s", kind, " ".join(where) or "no site", reason)
        async with self._sessions.begin() as session:
            session.add(SmartProblem(site_id=site_id, station_id=station_id or None, evse_id=evse_id,
                                     kind=kind, reason=reason, data=data, at=utcnow()))
        self._bus.publish(SmartChargingProblem(
            station_id, utcnow(), site.code if site else "", kind, reason, evse_id))

    # ---- stations that draw more than their limit --------------------------------------------

    async def _watch_meters(self) -> None:
        """Check meter values against limits, and re-balance every site with sessions: what a
        lost event or a read racing a commit left behind converges within one period."""
        while True:
            await asyncio.sleep(self._check_every)
            try:
                await self.check_meters()
                for place, state in list(self._states.items()):
                    if state.transactions:
                        self._dirty.add(place)
                        self._wake.set()
            except Exception:
                log.exception("smart charging: checking meter values failed")

    async def check_meters(self) -> None:
        """Compare each managed session's reported current with the limit it was sent. With
        data residency, in each database for its sites."""
        since, self._checked_until = self._checked_until, utcnow()
        await each_database(self._sessions, lambda: self._check_meters_here(since))

    async def _check_meters_here(self, since: datetime) -> None:
        database = database_in_use(self._sessions)
        for (held_in, site_id), state in list(self._states.items()):
            if held_in != database or not state.transactions or state.allocated_at is None:
                continue
            ids = {tx.id: key for key, tx in state.transactions.items() if key in state.sent}
            if not ids:
                continue
            async with self._sessions() as session:
                samples = (await session.scalars(
                    select(MeterSample).where(
                        MeterSample.transaction_id.in_(list(ids)), MeterSample.measurand == "Current.Import",
                        MeterSample.timestamp > since - timedelta(seconds=self._check_every),
                    )
                )).all()
            worst: dict[str, Decimal] = {}
            grace = timedelta(seconds=self._check_every)  # a station may take a moment to apply a limit
            for sample in samples:
                key = ids[sample.transaction_id]
                if key in state.sent_at and sample.timestamp > state.sent_at[key] + grace:
                    worst[key] = max(worst.get(key, Decimal(0)), sample.value)
            over = {k: v for k, v in worst.items() if float(v) > state.sent.get(k, float("inf")) + self._tolerance}
            if not over:
                continue
            model = await self.load_site(site_id)
            for key, amps in over.items():
                station_id, evse = split_key(key)
                await self.problem(
                    model.site, station_id, evse, "over_limit",
                    f"drew {amps} A per phase against a limit of {state.sent[key]} A: the station "
                    "ignores charging profiles; it is now given headroom at its maximum",
                    data={"drawn_a": str(amps), "limit_a": str(state.sent[key])},
                )
                await self._set_obeys(key, False)
            await self.rebalance(site_id)

    # ---- what 2.0.1 stations report ----------------------------------------------------------

    async def profiles_reported(
        self, station_id: str, request_id: int, evse_id: int, profiles: list[Any], more_to_come: bool,
        limit_source: str = "CSO",
    ) -> None:
        """Keep one part of a ReportChargingProfiles (K09), and the newest REPORTS_KEPT parts
        of each station; then say so on the bus (the station's page follows it)."""
        async with self._sessions.begin() as session:
            session.add(ReportedChargingProfiles(
                station_id=station_id, request_id=request_id, evse_id=evse_id, limit_source=limit_source,
                profiles=profiles, tbc=more_to_come, reported_at=utcnow()))
            await session.flush()
            kept = select(ReportedChargingProfiles.id).where(ReportedChargingProfiles.station_id == station_id)\
                .order_by(ReportedChargingProfiles.id.desc()).limit(REPORTS_KEPT)
            oldest = (await session.scalars(kept)).all()
            if len(oldest) == REPORTS_KEPT:
                await session.execute(delete(ReportedChargingProfiles).where(
                    ReportedChargingProfiles.station_id == station_id, ReportedChargingProfiles.id < oldest[-1]))
        self._bus.publish(ChargingProfilesReported(station_id, utcnow(), request_id, evse_id, more_to_come))

    async def reported(self, station_id: str) -> list[dict[str, Any]]:
        """The parts of ReportChargingProfiles a station sent, oldest first."""
        async with self._sessions() as session:
            rows = (await session.scalars(
                select(ReportedChargingProfiles).where(ReportedChargingProfiles.station_id == station_id)
                .order_by(ReportedChargingProfiles.id)
            )).all()
        return [
            {"request_id": r.request_id, "evse_id": r.evse_id, "limit_source": r.limit_source,
             "profiles": r.profiles, "tbc": r.tbc, "reported_at": to_ocpp(r.reported_at)}
            for r in rows
        ]

    async def next_report_request_id(self, station_id: str) -> int:
        async with self._sessions() as session:
            latest = await session.scalar(select(func.max(ReportedChargingProfiles.request_id))
                                          .where(ReportedChargingProfiles.station_id == station_id))
        return (latest or 0) % (2**31 - 2) + 1

    async def ev_charging_needs(
        self, station_id: str, evse_id: int, needs: dict[str, Any], max_schedule_tuples: int | None = None,
    ) -> None:
        """Keep what the EV needs (K15; new needs are K17's renegotiation)."""
        async with self._sessions.begin() as session:
            row = await session.get(EvChargingNeeds, (station_id, evse_id)) or EvChargingNeeds(
                station_id=station_id, evse_id=evse_id)
            row.needs, row.max_schedule_tuples, row.received_at = needs, max_schedule_tuples, utcnow()
            session.add(row)
        # K15.FR / K17: the station waits for a schedule that takes the needs into account;
        # the next pass sends the session's share again even if it did not change.
        site_id = await self._managed_site_of(station_id)
        if site_id is not None:
            state, place = self.state(site_id), self.place(site_id)
            state.sent.pop(evse_key(station_id, evse_id), None)
            # A depot's V2G car states its needs after its session started (and after the plan was
            # pushed to it charge-only, its bidirectional modes unknown): re-plan and push again,
            # now allowing the modes it offers.
            key = evse_key(station_id, evse_id)
            if state.depot is not None and any(v.discharges and v.evse_id == key for v in state.depot.vehicles):
                self._arrivals.add(place)
            self._dirty.add(place)
            self._wake.set()

    async def _forget_needs(self, event: TransactionEnded) -> None:
        """A car's needs end with its session: the next car states its own."""
        async with self._sessions.begin() as session:
            tx = await session.get(Transaction, event.transaction_id)
            if tx is not None:
                await session.execute(delete(EvChargingNeeds).where(
                    EvChargingNeeds.station_id == tx.station_id, EvChargingNeeds.evse_id == tx.evse_id))

    # ---- depot scheduling --------------------------------------------------------------------

    async def plan_depot(
        self, site_id: int, start: datetime, end: datetime, *, mode: str = "lp", push: bool = True,
        slot_minutes: int = 15,
    ) -> tuple[depot_model.DepotSchedule, depot_model.DepotSchedule, depot_model.DepotSchedule | None]:
        """Solve the depot's plan from its stored vehicles (and the uncontrolled baseline, and,
        when some car may discharge, the charge-only plan it is compared with), report departures
        that cannot be met, and push the plan to the sessions running."""
        model = await self.load_site(site_id)
        if not model.smart.depot:
            raise SmartError(f"site {model.site.code} is not a depot")
        async with self._sessions() as session:
            rows = (await session.scalars(select(DepotVehicle).where(DepotVehicle.site_id == site_id))).all()
        if not rows:
            raise SmartError(f"depot {model.site.code} has no vehicles")
        vehicles = tuple(depot_vehicle(row, set(model.evses)) for row in rows)
        wear = Decimal(str((model.smart.prices or {}).get("battery_wear_per_kwh", "0")))
        problem = depot_model.DepotProblem(model.model, vehicles, start, end, slot=timedelta(minutes=slot_minutes),
                                           mode=mode, wear_cost_per_kwh=wear)
        try:
            plan = await asyncio.to_thread(depot_model.solve, problem)
        except depot_model.DepotError as error:
            raise SmartError(str(error)) from None
        baseline = depot_model.uncontrolled(problem)
        charge_only = None
        if any(v.discharges for v in vehicles):
            without = replace(problem, vehicles=tuple(replace(v, v2g=False) for v in vehicles))
            charge_only = await asyncio.to_thread(depot_model.solve, without)
        state = self.state(site_id)
        state.plan, state.depot = plan, problem
        state.depot_tokens = {row.code: row.id_token for row in rows if row.id_token}
        await self._report_shortfall(model, plan)
        if push:
            await self.push_plan(site_id)
        return plan, baseline, charge_only

    async def replan(self, site_id: int) -> depot_model.DepotSchedule | None:
        """Re-solve the depot's plan from now (rolling horizon), with the energy each planned
        vehicle's EVSE delivered since the plan began, and push it."""
        state = self.state(site_id)
        if state.depot is None:
            return None
        problem, now = state.depot, utcnow()
        if now >= problem.end:
            return None
        delivered = await self._delivered_since(problem, state.depot_tokens)
        try:
            plan = await asyncio.to_thread(depot_model.resolve, problem, now, delivered)
        except depot_model.DepotError as error:
            model = await self.load_site(site_id)
            await self.problem(model.site, "", None, "depot_unsolvable", str(error))
            return None
        state.plan = plan
        await self._report_shortfall(await self.load_site(site_id), plan)
        await self.push_plan(site_id)
        return plan

    async def _delivered_since(self, problem: depot_model.DepotProblem, tokens: dict[str, str]) -> dict[str, float]:
        """The energy each vehicle took since the plan began: its EVSE's sessions (with its token,
        when it has one)."""
        keys = {v.evse_id: v.id for v in problem.vehicles if v.evse_id}
        if not keys:
            return {}
        stations = sorted({split_key(k)[0] for k in keys})
        async with self._sessions() as session:
            txs = (await session.scalars(select(Transaction).where(
                Transaction.station_id.in_(stations), Transaction.started_at >= problem.start,
            ))).all()
        delivered: dict[str, float] = {}
        for tx in txs:
            vid = keys.get(evse_key(tx.station_id, tx.evse_id))
            token = tokens.get(vid) if vid is not None else None
            if token is not None and (tx.id_token or "").casefold() != token.casefold():
                continue  # another driver at the vehicle's charger
            if vid is not None and tx.energy_wh:
                delivered[vid] = delivered.get(vid, 0.0) + float(tx.energy_wh) / 1000
        return delivered

    async def _report_shortfall(self, model: SiteModel, plan: depot_model.DepotSchedule) -> None:
        for vid, short in plan.shortfall_kwh.items():
            await self.problem(model.site, "", None, "departure_unmet",
                               f"vehicle {vid} cannot get its energy by departure: {short} kWh short",
                               data={"vehicle": vid, "shortfall_kwh": short})

    async def push_plan(self, site_id: int) -> int:
        """Send the plan's time-varying TxProfile to every planned vehicle charging now."""
        state = self.state(site_id)
        if state.plan is None:
            return 0
        model = await self.load_site(site_id)
        running = await self._running(model)
        vehicles = {v.id: v for v in state.depot.vehicles}
        tx_ids = {vid: running[key][0].station_tx_id for vid, key in self._planned_running(state, running).items()}
        now = utcnow()
        profiles = depot_model.to_tx_profiles(
            state.plan, start=now, unit="A", voltage=model.model.voltage, transaction_ids=tx_ids,
        )
        charge_only = depot_model.to_tx_profiles(
            replace(state.plan, discharge_w={}), start=now, unit="A", voltage=model.model.voltage,
            transaction_ids=tx_ids,
        )
        sent = 0
        for vid, profile in profiles.items():
            if vid not in tx_ids:
                continue
            key = vehicles[vid].evse_id
            station_id, evse = split_key(key)
            bidirectional = any(p.bidirectional for p in profile.schedule.periods)
            if bidirectional and not await self._allow_discharge(station_id, evse, running[key][0].id, state, model):
                profile, bidirectional = charge_only[vid], False
            outcome = await self.send_profile(station_id, evse, self._depot_profile(profile, evse), "depot", site=model.site)
            if outcome is None and bidirectional:  # the station cannot take a discharge (not OCPP 2.1)
                outcome = await self.send_profile(
                    station_id, evse, self._depot_profile(charge_only[vid], evse), "depot", site=model.site)
            if outcome:
                sent += 1
        return sent

    @staticmethod
    def _depot_profile(profile: ChargingProfile, evse: int) -> ChargingProfile:
        return ChargingProfile(
            id=TX_ID + evse, stack_level=1, purpose=profile.purpose, kind=profile.kind,
            schedule=profile.schedule, transaction_id=profile.transaction_id,
        )

    async def _allow_discharge(
        self, station_id: str, evse: int, transaction_id: int, state: SiteState, model: SiteModel,
    ) -> bool:
        """A V2G car's plan discharges: allow its transaction the bidirectional modes its car
        offered (OCPP 2.1 NotifyAllowedEnergyTransfer). False (the plan goes charge-only) when
        the car offered none or the station did not accept."""
        needs = state.ev_needs.get(evse_key(station_id, evse))
        modes = [mode for mode in (needs.offered if needs else ()) if "BPT" in mode]
        if not modes:
            return False
        try:
            result = await self._commands.send(
                station_id, "allowed_energy_transfer", {"transaction_id": transaction_id, "modes": modes})
        except COMMAND_FAILURES as error:
            await self.problem(model.site, station_id, evse, "command_failed",
                               f"NotifyAllowedEnergyTransfer could not be sent: {error}; the plan charges only")
            return False
        return result.status == "Accepted"


# ---- pure helpers -----------------------------------------------------------------------------


def build_site(site: SiteRow, smart: SmartSite, circuits: list[CircuitRow], evses: dict[str, EvseCircuit]) -> Site:
    """The pure site model: the connection as the root circuit, stored circuits below it."""
    children: dict[int | None, list[CircuitRow]] = {}
    for circuit in circuits:
        children.setdefault(circuit.parent_id, []).append(circuit)
    on_circuit: dict[int, list[str]] = {}
    for key, row in evses.items():
        on_circuit.setdefault(row.circuit_id, []).append(key)

    def node(row: CircuitRow) -> Circuit:
        return Circuit(
            row.code, float(row.limit_a), tuple(node(c) for c in children.get(row.id, [])),
            tuple(sorted(on_circuit.get(row.id, []))),
        )

    grid = Circuit(CONNECTION, float(smart.grid_limit_a), tuple(node(c) for c in children.get(None, [])))
    base = None
    if smart.base_load_w:
        base = TimeSeries(datetime(2000, 1, 1, tzinfo=utcnow().tzinfo), timedelta(days=365 * 100), (float(smart.base_load_w),))
    solar = None
    if smart.solar:
        solar = PvArray(site.lat, site.lon, float(smart.solar["kwp"]), float(smart.solar.get("tilt", 30)),
                        float(smart.solar.get("azimuth", 180)))
    return Site(site.code, grid, float(smart.voltage), base, solar, prices_from(smart.prices))


def prices_from(body: dict[str, Any] | None) -> TimeOfUsePrices | None:
    if not body:
        return None
    bands = tuple(
        PriceBand(time.fromisoformat(b["starts"]), Decimal(str(b["price_per_kwh"]))) for b in body["bands"]
    )
    return TimeOfUsePrices(
        body["currency"], bands, timedelta(minutes=int(body.get("utc_offset_minutes", 0))),
        Decimal(str(body.get("demand_charge_per_kw", "0"))),
    )


def _in_steps(amps: Decimal, step: Decimal | None) -> Decimal:
    """A current rounded down to the station's step (never more than allocated)."""
    if not step:
        return amps
    return (amps / step).to_integral_value(rounding=ROUND_DOWN) * step


def default_limits(model: SiteModel) -> dict[str, float]:
    """The TxDefaultProfile of each managed EVSE: 0 A. A new session waits for its share (one
    re-balance delay) instead of drawing before the others were lowered to make room for it."""
    return {key: 0.0 for key, row in model.evses.items() if row.obeys_profiles}


def depot_vehicle(row: DepotVehicle, on_circuits: set[str]) -> depot_model.Vehicle:
    def num(value: Decimal | None) -> float | None:
        return float(value) if value is not None else None

    key = evse_key(row.station_id, row.evse_id) if row.station_id and row.evse_id is not None else None

    return depot_model.Vehicle(
        row.code, row.arrival, row.departure, float(row.max_power_kw), energy_kwh=num(row.energy_kwh),
        battery_kwh=num(row.battery_kwh), soc=num(row.soc), target_soc=num(row.target_soc),
        evse_id=key if key in on_circuits else None,
        v2g=bool(row.v2g), max_discharge_kw=num(row.max_discharge_kw) or 0.0,
        min_soc=num(row.min_soc) if row.min_soc is not None else 0.3,
    )


def _replaced_by(evse: int, kept: ChargingProfile, evse_id: int, profile: ChargingProfile) -> bool:
    """Whether installing `profile` on `evse_id` replaces `kept` (same id, or same EVSE, purpose
    and stack level), as a station does and as record_profile mirrors."""
    return kept.id == profile.id or (
        evse == evse_id and kept.purpose is profile.purpose and kept.stack_level == profile.stack_level
    )
