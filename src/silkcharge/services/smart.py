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
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from silkcharge.bus.local import EventBus, StationOffline
from silkcharge.domain.clock import utcnow
from silkcharge.domain.events import (
    SmartChargingProblem,
    StationBooted,
    TransactionEnded,
    TransactionStarted,
)
from silkcharge.ocpp.connection import StationCallError, StationReplyInvalid, StationTimeout
from silkcharge.services.commands import CommandRefused, CommandService
from silkcharge.smart import depot as depot_model
from silkcharge.smart.allocation import Allocation, ChargingSession, allocate
from silkcharge.smart.profiles import (
    ChargingProfile,
    ChargingProfileKind,
    ChargingProfilePurpose,
    ChargingRateUnit,
    ChargingSchedule,
    ChargingSchedulePeriod,
    parse_fields,
    profile_fields,
    round_limit,
)
from silkcharge.smart.site import Circuit, PriceBand, Site, TimeOfUsePrices, TimeSeries
from silkcharge.smart.solar import PvArray
from silkcharge.store.schema import (
    ChargingPriority,
    ChargingProfileRecord,
    DepotVehicle,
    EvseCircuit,
    IdToken,
    MeterSample,
    SmartProblem,
    SmartSite,
    Station,
    Transaction,
)
from silkcharge.store.schema import Circuit as CircuitRow
from silkcharge.store.schema import Site as SiteRow

log = logging.getLogger(__name__)
MANAGED_TTL = 30.0  # seconds a map of managed stations is trusted

CONNECTION = "connection"  # the root circuit's id: the site's grid connection
TX_DEFAULT_ID = 10_000  # + EVSE id: the safe default each managed EVSE gets
TX_ID = 20_000  # + EVSE id: the session's share (load management or depot plan)
COMMAND_FAILURES = (StationOffline, StationTimeout, StationCallError, StationReplyInvalid, CommandRefused)


def evse_key(station_id: str, evse_id: int) -> str:
    return f"{station_id}/{evse_id}"


def split_key(key: str) -> tuple[str, int]:
    station_id, _, evse = key.rpartition("/")
    return station_id, int(evse)


@dataclass
class SiteModel:
    """A site under load management as stored: rows and the pure model built from them."""

    site: SiteRow
    smart: SmartSite
    circuits: list[CircuitRow]
    evses: dict[str, EvseCircuit]
    model: Site
    versions: dict[str, str | None]
    units: dict[str, ChargingRateUnit]


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
    problem_keys: set[tuple] = field(default_factory=set)


class SmartError(ValueError):
    """A smart-charging request that cannot be done as asked (the message says why)."""


class SmartChargingService:
    def __init__(
        self,
        sessions: async_sessionmaker,
        bus: EventBus,
        commands: CommandService,
        *,
        rebalance_delay: float = 0.2,
        check_every: float = 5.0,
        over_limit_tolerance_a: float = 1.0,
    ) -> None:
        self._sessions = sessions
        self._bus = bus
        self._commands = commands
        self._delay = rebalance_delay
        self._check_every = check_every
        self._tolerance = over_limit_tolerance_a
        self._states: dict[int, SiteState] = {}
        self._dirty: set[int] = set()
        self._arrivals: set[int] = set()  # depot sites where a vehicle plugged in: re-plan
        self._wake = asyncio.Event()
        self._locks: dict[int, asyncio.Lock] = {}
        self._tasks: list[asyncio.Task] = []
        self._checked_until: datetime = utcnow()
        self.reports: dict[str, list[dict[str, Any]]] = {}  # 2.0.1 ReportChargingProfiles, by station
        self.ev_needs: dict[str, dict[str, Any]] = {}  # NotifyEVChargingNeeds, by EVSE key

    # ---- lifecycle ---------------------------------------------------------------------------

    _sites_of: dict[str, int | None] | None = None  # station -> its site
    _managed: set[int] = set()  # sites under load management
    _managed_at = 0.0

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

    def state(self, site_id: int) -> SiteState:
        return self._states.setdefault(site_id, SiteState())

    async def _listen(self) -> None:
        async with self._bus.subscribe() as queue:
            while True:
                event = await queue.get()
                if isinstance(event, StationBooted):
                    for state in self._states.values():  # a rebooted station lost its profiles
                        for key in [k for k in state.defaults if split_key(k)[0] == event.station_id]:
                            del state.defaults[key]
                if isinstance(event, (TransactionStarted, TransactionEnded, StationBooted)):
                    try:
                        site_id = await self._managed_site_of(event.station_id)
                    except Exception:  # the database may be busy or gone; the next event retries
                        log.exception("smart charging: cannot find the site of %s", event.station_id)
                        continue
                    if site_id is not None:
                        self._dirty.add(site_id)
                        if isinstance(event, TransactionStarted):
                            self._arrivals.add(site_id)
                        self._wake.set()

    async def _rebalancer(self) -> None:
        while True:
            await self._wake.wait()
            await asyncio.sleep(self._delay)  # gather a burst of starts and stops into one pass
            self._wake.clear()
            dirty, self._dirty = self._dirty, set()
            for site_id in dirty:
                try:
                    await self.rebalance(site_id)
                    if self.state(site_id).depot is not None and site_id in self._arrivals:
                        await self.replan(site_id)
                except Exception:
                    log.exception("smart charging: re-balancing site %s failed", site_id)
            self._arrivals.clear()

    async def _managed_site_of(self, station_id: str) -> int | None:
        """The managed site a station belongs to. Every station's site and the set of managed
        sites are read at most every MANAGED_TTL seconds, so a boot storm of 50,000 stations
        costs one query, not one per boot; a station the map does not know yet (just
        registered) is looked up alone; a site defined through the API clears the map."""
        now = asyncio.get_running_loop().time()
        if self._sites_of is None or now - self._managed_at > MANAGED_TTL:
            async with self._sessions() as session:
                self._sites_of = dict((await session.execute(select(Station.id, Station.site_id))).all())
                self._managed = set(await session.scalars(select(SmartSite.site_id)))
            self._managed_at = now
        if station_id not in self._sites_of:
            async with self._sessions() as session:
                self._sites_of[station_id] = await session.scalar(
                    select(Station.site_id).where(Station.id == station_id)
                )
        site_id = self._sites_of[station_id]
        return site_id if site_id in self._managed else None

    def sites_changed(self) -> None:
        """A managed site was defined or changed: read the station map again on the next event."""
        self._sites_of = None

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
        evses = {evse_key(r.station_id, r.evse_id): r for r in rows}
        model = build_site(site, smart, circuits, evses)
        versions = {s.id: s.ocpp_version for s in stations}
        units = {s.id: supported_unit(s.configuration or {}) for s in stations}
        return SiteModel(site, smart, circuits, evses, model, versions, units)

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

    async def rebalance(self, site_id: int) -> Allocation:
        """Allocate the site's circuits among its running sessions and send what changed."""
        lock = self._locks.setdefault(site_id, asyncio.Lock())
        async with lock:
            model = await self.load_site(site_id)
            state = self.state(site_id)
            running = await self._running(model)
            await self._send_defaults(model, state)
            sessions = []
            planned = self._planned_currents(model, state)
            for key, (tx, priority) in running.items():
                row = model.evses[key]
                obeys = row.obeys_profiles and key not in planned
                sessions.append(ChargingSession(
                    evse_id=key, circuit_path=model.model.path(key),
                    max_current=planned.get(key, float(row.max_current_a)), arrival=tx.started_at,
                    priority=priority, phases=row.phases, min_current=float(row.min_current_a),
                    obeys_profiles=obeys,
                ))
            allocation = allocate(model.model.limits_a(), sessions)
            state.allocation, state.allocated_at = allocation, utcnow()
            state.transactions = {key: tx for key, (tx, _) in running.items()}
            for key in [k for k in state.sent if k not in running]:
                del state.sent[key]
            await self._send_shares(model, state, allocation)
            await self._report_allocation(model, allocation)
            return allocation

    def _planned_currents(self, model: SiteModel, state: SiteState) -> dict[str, float]:
        """EVSEs a depot plan drives: the most current the plan asks of each from now on."""
        if state.plan is None:
            return {}
        now = utcnow()
        out = {}
        vehicles = {v.id: v for v in state.depot.vehicles}
        for vid, watts in state.plan.power_w.items():
            vehicle = vehicles.get(vid)
            if vehicle is None or vehicle.evse_id is None:
                continue
            first = max(0, int((now - state.plan.start) / state.plan.slot))
            ahead = watts[first:] or [0.0]
            out[vehicle.evse_id] = max(ahead) / (model.model.voltage * 3)
        return out

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
            self._dirty.add(model.site.id)
            self._wake.set()

    def _profile(
        self, profile_id: int, purpose: ChargingProfilePurpose, level: int, amps: float, model: SiteModel,
        key: str, transaction_id: str | None = None,
    ) -> ChargingProfile:
        station_id, _ = split_key(key)
        unit = model.units.get(station_id, ChargingRateUnit.A)
        phases = model.evses[key].phases
        value = Decimal(str(amps)) if unit is ChargingRateUnit.A else Decimal(str(amps)) * Decimal(str(model.model.voltage)) * phases
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

    async def record_profile(self, station_id: str, evse_id: int, profile: ChargingProfile, source: str) -> None:
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

    async def forget_profiles(self, station_id: str, **criteria: Any) -> None:
        """Mirror a ClearChargingProfile the station accepted."""
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
        log.warning("smart charging: %s %s/%s: %s", kind, station_id, evse_id, reason)
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
                for site_id, state in list(self._states.items()):
                    if state.transactions:
                        self._dirty.add(site_id)
                        self._wake.set()
            except Exception:
                log.exception("smart charging: checking meter values failed")

    async def check_meters(self) -> None:
        """Compare each managed session's reported current with the limit it was sent."""
        since, self._checked_until = self._checked_until, utcnow()
        for site_id, state in list(self._states.items()):
            if not state.transactions or state.allocated_at is None:
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
        self, station_id: str, request_id: int, evse_id: int, profiles: list[Any], more_to_come: bool
    ) -> None:
        self.reports.setdefault(station_id, []).append(
            {"request_id": request_id, "evse_id": evse_id, "profiles": profiles, "tbc": more_to_come}
        )
        del self.reports[station_id][:-50]

    async def ev_charging_needs(self, station_id: str, evse_id: int, needs: dict[str, Any]) -> None:
        self.ev_needs[evse_key(station_id, evse_id)] = {**needs, "received_at": utcnow().isoformat()}

    # ---- depot scheduling --------------------------------------------------------------------

    async def plan_depot(
        self, site_id: int, start: datetime, end: datetime, *, mode: str = "lp", push: bool = True,
        slot_minutes: int = 15,
    ) -> tuple[depot_model.DepotSchedule, depot_model.DepotSchedule]:
        """Solve the depot's plan from its stored vehicles (and the uncontrolled baseline),
        report departures that cannot be met, and push the plan to the sessions running."""
        model = await self.load_site(site_id)
        if not model.smart.depot:
            raise SmartError(f"site {model.site.code} is not a depot")
        async with self._sessions() as session:
            rows = (await session.scalars(select(DepotVehicle).where(DepotVehicle.site_id == site_id))).all()
        if not rows:
            raise SmartError(f"depot {model.site.code} has no vehicles")
        vehicles = tuple(depot_vehicle(row, set(model.evses)) for row in rows)
        problem = depot_model.DepotProblem(model.model, vehicles, start, end, slot=timedelta(minutes=slot_minutes),
                                           mode=mode)
        try:
            plan = await asyncio.to_thread(depot_model.solve, problem)
        except depot_model.DepotError as error:
            raise SmartError(str(error)) from None
        baseline = depot_model.uncontrolled(problem)
        state = self.state(site_id)
        state.plan, state.depot = plan, problem
        await self._report_shortfall(model, plan)
        if push:
            await self.push_plan(site_id)
        return plan, baseline

    async def replan(self, site_id: int) -> depot_model.DepotSchedule | None:
        """Re-solve the depot's plan from now (rolling horizon), with the energy each planned
        vehicle's EVSE delivered since the plan began, and push it."""
        state = self.state(site_id)
        if state.depot is None:
            return None
        problem, now = state.depot, utcnow()
        if now >= problem.end:
            return None
        delivered = await self._delivered_since(problem)
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

    async def _delivered_since(self, problem: depot_model.DepotProblem) -> dict[str, float]:
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
        tx_ids = {vid: running[v.evse_id][0].station_tx_id for vid, v in vehicles.items() if v.evse_id in running}
        profiles = depot_model.to_tx_profiles(
            state.plan, start=utcnow(), unit="A", voltage=model.model.voltage, transaction_ids=tx_ids,
        )
        sent = 0
        for vid, profile in profiles.items():
            if vid not in tx_ids:
                continue
            station_id, evse = split_key(vehicles[vid].evse_id)
            profile = ChargingProfile(
                id=TX_ID + evse, stack_level=1, purpose=profile.purpose, kind=profile.kind,
                schedule=profile.schedule, transaction_id=profile.transaction_id,
            )
            if await self.send_profile(station_id, evse, profile, "depot", site=model.site):
                sent += 1
        return sent


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


def supported_unit(configuration: dict[str, Any]) -> ChargingRateUnit:
    """Amps unless the station says it only takes watts (1.6 ChargingScheduleAllowedChargingRateUnit,
    2.0.1 SmartChargingCtrlr.RateUnit)."""
    for key, value in configuration.items():
        if key == "ChargingScheduleAllowedChargingRateUnit" or key.startswith("SmartChargingCtrlr.RateUnit"):
            units = {u.strip() for u in str(value).split(",")}
            if units and not units & {"Current", "A"}:
                return ChargingRateUnit.W
    return ChargingRateUnit.A


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
    )
