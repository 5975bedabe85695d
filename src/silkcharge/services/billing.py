"""Money on the CSMS: publishing tariffs, and pricing every finished session into a CDR.

One price computation serves everything (`domain.pricing`): this service only gathers what it
needs from the store (the tariff that applies, the session's meter timeline, the caps a site
is bound by) and stores what comes out (the CDR and its receipts).

Sessions are priced when their TransactionEnded event arrives, and again by a sweep at start
and every minute, so a crash between a stop and its CDR loses nothing. The sweep also closes
sessions a station never stopped (see `close_abandoned`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta
from decimal import Decimal
from functools import cache
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import Select, and_, bindparam, exists, func, literal_column, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from silkcharge.bus.local import EventBus
from silkcharge.domain import cdr as receipts
from silkcharge.domain.caps import PriceCapRule, apply_cap
from silkcharge.domain.cdr import Cdr, build_cdr
from silkcharge.domain.clock import utcnow
from silkcharge.domain.events import CdrCreated, TariffsChanged, TransactionEnded
from silkcharge.domain.money import Price
from silkcharge.domain.pricing import (
    IdleIntervals,
    KeptSegments,
    MeterPoint,
    PricedReservation,
    PricingError,
    SessionTimeline,
    UnitPrices,
    idle_intervals,
    price_reservation,
    split_timeline,
    unit_prices,
)
from silkcharge.domain.tariffs import InvalidTariff, NoApplicableTariff, Tariff, select_tariff
from silkcharge.services.caps import TARIFF_SUSPENDED, CapService
from silkcharge.services.plausibility import Plausibility
from silkcharge.store.direct import Direct, DirectConnection, keys_bound, keys_direct, one_of_direct
from silkcharge.store.gathered import Gathered
from silkcharge.store.residency import (
    ByIdOfDatabase,
    current_database,
    database_scope,
    each_database,
    station_database,
)
from silkcharge.store.schema import (
    CdrReview,
    ChargeDetailRecord,
    Connector,
    IdToken,
    MeterSample,
    Operator,
    PlausibilityFlag,
    Reservation,
    Site,
    Station,
    StationTariff,
    TariffRecord,
    TariffSuspension,
    Transaction,
)
from silkcharge.store.tenancy import current_tenant
from silkcharge.store.types import plain
from silkcharge.store.upsert import one_of_named

log = logging.getLogger(__name__)

CLOSED_WITHOUT_STOP = "closed-without-stop"
ENDED_BY_OPERATOR = "ended-by-operator"
HELD_FOR_REVIEW = "held-for-review"
"""A CDR built on flagged input: not billed until an operator decides (services/cdr_review.py)."""
NO_SHOW = "no-show"
# The flags a session's CDR carries for how it ended (receipt notes), by stop reason.
_ENDING_FLAGS = {"ClosedWithoutStop": CLOSED_WITHOUT_STOP, "EndedByOperator": ENDED_BY_OPERATOR}
RECEIPT_LOCALES = ("en", "ru")
IDLE_BELOW_KW = Decimal("0.1")
"""Reported power below this is parking, not charging."""
KEPT_SESSIONS = 10_000
"""Active sessions whose running-cost inputs are kept (the least recently asked go first)."""


class TariffRefused(ValueError):
    """A tariff that cannot be published; `problems` names each reason."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class Unpriceable(Exception):
    """A session no tariff can price (its station belongs to no site)."""


@dataclass(frozen=True)
class RunningCost:
    """An active session's cost so far, as a charger's display shows it."""

    transaction_id: int
    station_tx_id: str
    at: datetime
    """The latest meter reading priced (the station's clock)."""
    meter_wh: Decimal
    """The energy register at `at`."""
    charging: bool
    total: Price
    prices: UnitPrices


@dataclass(frozen=True)
class PricingInputs:
    """What pricing a session reads besides its tariff and meter timeline: the tariffs its
    station accepted mid-session (2.1 ChangeTransactionTariff, with when), the caps that bind
    its site (whoever the driver: a cap holds per tariff) and the tariffs suspended there."""

    switches: tuple[tuple[datetime, Tariff], ...]
    caps: tuple[PriceCapRule, ...]
    suspended: frozenset[str]

    def capped(self, cdr: Cdr) -> Cdr:
        """The priced session under every cap in its currency, flagged when its tariff is
        suspended at the site."""
        for rule in self.caps:
            if rule.currency == cdr.currency:
                cdr = apply_cap(cdr, rule).cdr
        if cdr.tariffs and cdr.tariffs[0].id in self.suspended:
            cdr = replace(cdr, flags=(*cdr.flags, TARIFF_SUSPENDED))
        return cdr


@dataclass(frozen=True)
class Unpriced:
    transaction_id: int
    reason: str


class BillingService:
    def __init__(
        self,
        sessions: async_sessionmaker,
        bus: EventBus,
        *,
        stale_after: timedelta,
        plausibility: Plausibility | None = None,
        direct: Direct | None = None,
    ) -> None:
        self._sessions = sessions
        # Where set, the running-cost asks read their one row straight from the driver.
        self._direct = direct
        self._bus = bus
        self._stale_after = stale_after
        self._plausibility = plausibility or Plausibility(sessions)
        self._tasks: list[asyncio.Task] = []
        self.caps = CapService(sessions)
        """The regulated price caps: which sites they bind, which tariffs they suspend."""
        self.unpriced = ByIdOfDatabase(sessions)
        """Sessions the sweep could not price, and why (by transaction id, of the database in use)."""
        self.unpriced_reservations = ByIdOfDatabase(sessions)
        """Expired reservations that carry no no-show charge, and why (no fee in the tariff...)."""
        self._running_asks: Gathered[int, _Priceable | None] = Gathered(self._running_inputs, name="running-costs")
        self._read_rows: dict[tuple[int | None, str | None, int], tuple] = {}
        """Rows that writes read for their replies (`read_running`), by the tenant and database in
        scope (as store/gathered.py groups its rounds) and transaction id, each until the round
        of asks its reply joined takes it."""
        self._kept: OrderedDict[tuple[str | None, int], _KeptSession] = OrderedDict()
        """What each active session's running cost was last priced from (see `running_cost`),
        by database and transaction id, the least recently asked first."""

    # -- tariffs ------------------------------------------------------------------------------

    async def publish(self, code: str, operator_code: str, site_code: str | None, body: dict) -> TariffRecord:
        """Validate and store a tariff, then check it against every cap that binds a site where
        it can apply. A site's own tariff that breaks a cap there is refused; a network-wide one
        is stored and suspended at each capped site it breaks (`caps`), since it may be lawful
        everywhere else. A tariff without a country_code takes its operator's country (the VAT
        law that applies)."""
        async with self._sessions() as session:
            # Installs the shipped caps on first use, in a connection of its own: done inside
            # the transaction below it would wait for a second connection, which SQLite's pool
            # of one never has.
            await self.caps.current(session)
        async with self._sessions.begin() as session:
            operator = await session.scalar(select(Operator).where(Operator.code == operator_code))
            if operator is None:
                raise LookupError(f"no operator {operator_code}")
            if await session.scalar(select(TariffRecord.id).where(TariffRecord.code == code)):
                raise TariffRefused([f"tariff {code} already exists; publish a new code to change prices"])
            body = {**body, "id": code}
            if not body.get("country_code"):
                body["country_code"] = operator.country
            tariff = parse_tariff(body)
            if tariff.currency != operator.currency:
                raise TariffRefused(
                    [f"currency: {tariff.currency} is not {operator.code}'s currency {operator.currency}"]
                )
            sites = await self._target_sites(session, operator.id, site_code)
            await self.caps.current(session)
            if site_code:
                problems = await self.caps.violations_at(session, sites[0], tariff)
                if problems:
                    raise TariffRefused(problems)
            record = TariffRecord(
                code=code, operator_id=operator.id, site_id=sites[0].id if site_code else None, body=body,
            )
            session.add(record)
        for site in sites:
            if self.caps.binding(site.lat, site.lon):
                await self.caps.recheck_site(site.id)
        self.tariffs_changed(record.operator_id, record.site_id)
        return record

    def tariffs_changed(self, operator_id: int, site_id: int | None) -> None:
        """Tell who shows tariffs (services/tariff_info.py) that a tariff came or went."""
        self._bus.publish(TariffsChanged("", utcnow(), operator_id, site_id))

    async def _target_sites(self, session: AsyncSession, operator_id: int, site_code: str | None) -> list[Site]:
        if site_code is None:
            return list((await session.scalars(select(Site).where(Site.operator_id == operator_id))).all())
        site = await session.scalar(select(Site).where(Site.code == site_code))
        if site is None or site.operator_id != operator_id:
            raise LookupError(f"no site {site_code} of this operator")
        return [site]

    async def tariffs_at(self, session: AsyncSession, site: Site) -> list[Tariff]:
        """The site's own tariffs first, then the operator's network-wide ones."""
        rows = (await session.scalars(
            select(TariffRecord).where(
                TariffRecord.operator_id == site.operator_id,
                (TariffRecord.site_id == site.id) | TariffRecord.site_id.is_(None),
            ).order_by(TariffRecord.site_id.is_(None), TariffRecord.id)
        )).all()
        return [parse_tariff(row.body) for row in rows]

    # -- sessions -----------------------------------------------------------------------------

    def start(self) -> None:
        self.caps.start()
        self._tasks = [
            asyncio.create_task(self._price_ended_sessions(), name="billing-events"),
            asyncio.create_task(self._sweep_every_minute(), name="billing-sweep"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        # No asyncio.wait_for in these loops: on Python 3.11 it can swallow a cancellation that
        # races with its timeout, and the loop would then run on and this stop never return.
        await asyncio.wait(self._tasks, timeout=10)
        self._tasks = []
        await self.caps.stop()

    async def _price_ended_sessions(self) -> None:
        async with self._bus.subscribe(local_only=True, kinds=(TransactionEnded,)) as events:
            while True:
                event = await events.get()
                if isinstance(event, TransactionEnded):
                    # Data residency: the session is in its station's database.
                    with database_scope(await station_database(self._sessions, event.station_id)):
                        self._kept.pop((current_database(), event.transaction_id), None)
                        await self._price_safely(event.transaction_id)

    async def _sweep_every_minute(self) -> None:
        while True:
            await self._sweep_safely()
            await asyncio.sleep(60)

    async def _sweep_safely(self) -> None:
        try:
            await self.sweep()
        except Exception:
            log.exception("billing sweep failed; it runs again in a minute")

    async def _price_safely(self, transaction_id: int) -> None:
        try:
            await self.price(transaction_id)
        except Exception:
            log.exception("could not price transaction %s; the sweep will retry", transaction_id)

    async def sweep(self) -> None:
        """Close abandoned sessions, then price every ended session that has no CDR yet. Each
        session is its own: one that fails (a stored value that cannot be priced) is logged,
        flagged and skipped, and the others go on. With data residency, in every database."""
        await each_database(self._sessions, self._sweep_here)

    async def _sweep_here(self) -> None:
        await self.close_abandoned()
        await self.price_no_shows()
        async with self._sessions() as session:
            waiting = (await session.execute(
                select(Transaction.id, Transaction.station_id)
                .outerjoin(ChargeDetailRecord, ChargeDetailRecord.transaction_id == Transaction.id)
                .where(Transaction.state == "Ended", ChargeDetailRecord.id.is_(None))
            )).all()
        for transaction_id, station_id in waiting:
            if transaction_id in self.unpriced:
                continue
            try:
                await self.price(transaction_id)
            except Exception as error:
                await self._failed(station_id, transaction_id, "price this session", error)

    async def _failed(self, station_id: str, transaction_id: int | None, what: str, error: Exception) -> None:
        """One item the sweep could not handle: logged, flagged (on the session, or the station
        for a reservation) so operators see it, remembered so the sweep does not retry it every
        minute, and skipped: the others go on."""
        log.exception("the billing sweep could not %s; skipped, the sweep goes on", what)
        reason = (f"the billing sweep could not {what} ({type(error).__name__}: {error}); "
                  "skipped until an operator looks")
        if transaction_id is not None:
            self._skip(transaction_id, reason)
        finding = self._plausibility.checks.stored("sweep", reason)
        try:
            await self._plausibility.record_now(station_id, transaction_id, [finding])
        except Exception:
            log.exception("could not flag what the sweep skipped")

    async def close_abandoned(self, now: datetime | None = None) -> list[int]:
        """The rule for sessions that never received a stop (the station lost power or its
        memory): a session is closed when a newer one started on the same EVSE, or when
        nothing was heard of it for `stale_after`. It ends at its last meter reading (or its
        start), with reason 'ClosedWithoutStop', and its CDR is flagged."""
        now = now or utcnow()
        closed = []
        newer = aliased(Transaction)
        superseded = (
            select(newer.id).where(
                newer.station_id == Transaction.station_id,
                newer.evse_id == Transaction.evse_id,
                newer.started_at > Transaction.started_at,
            ).exists()
        )
        async with self._sessions() as session:
            # One query finds them all: the sweep runs every minute, whatever the network's size.
            abandoned = (await session.execute(
                select(Transaction.id, Transaction.station_id).where(
                    Transaction.state == "Active",
                    superseded | (Transaction.updated_at <= now - self._stale_after),
                ).order_by(Transaction.id)
            )).all()
        for transaction_id, station_id in abandoned:
            if transaction_id in self.unpriced:
                continue  # failed to close before: flagged, left for an operator
            try:  # each in its own database transaction: one bad row never holds back the rest
                if await self._close(transaction_id, now):
                    closed.append((station_id, transaction_id))
            except Exception as error:
                await self._failed(station_id, transaction_id, "close this session", error)
        for station_id, transaction_id in closed:
            self._bus.publish(TransactionEnded(station_id, now, transaction_id, None, "ClosedWithoutStop"))
        return [transaction_id for _, transaction_id in closed]

    async def _close(self, transaction_id: int, now: datetime) -> bool:
        async with self._sessions.begin() as session:
            tx = await session.get(Transaction, transaction_id, with_for_update=True)
            if tx is None or tx.state != "Active":
                return False  # its station stopped it meanwhile
            last = await session.scalar(
                select(MeterSample.timestamp).where(MeterSample.transaction_id == tx.id)
                .order_by(MeterSample.timestamp.desc()).limit(1)
            )
            tx.state, tx.stop_reason = "Ended", "ClosedWithoutStop"
            tx.stopped_at = max(last or tx.started_at, tx.started_at)
            tx.updated_at = now
        return True

    async def price(self, transaction_id: int) -> ChargeDetailRecord | None:
        """Make the CDR of an ended session (idempotent). None when it cannot be priced yet;
        the reason is kept in `unpriced`."""
        try:
            return await self._price_once(transaction_id)
        except IntegrityError:
            # Priced at the same moment by another caller (the charger's final-cost reply and
            # the TransactionEnded listener): the CDR that was stored first stands.
            async with self._sessions() as session:
                return await session.scalar(
                    select(ChargeDetailRecord).where(ChargeDetailRecord.transaction_id == transaction_id)
                )

    async def _price_once(self, transaction_id: int) -> ChargeDetailRecord | None:
        async with self._sessions.begin() as session:
            existing = await session.scalar(
                select(ChargeDetailRecord).where(ChargeDetailRecord.transaction_id == transaction_id)
            )
            if existing is not None:
                return existing
            tx = await session.get(Transaction, transaction_id)
            if tx is None or tx.state != "Ended":
                return None
            station_id = tx.station_id
            reasons = await self._plausibility.reasons(session, tx.id)
            flags = ending_flags(tx) + ((HELD_FOR_REVIEW,) if reasons else ())
            try:
                record = await self.build(session, tx, str(uuid.uuid4()), flags)
            except (Unpriceable, NoApplicableTariff, PricingError) as exc:
                return self._skip(transaction_id, str(exc))
            session.add(record)
            if reasons:
                await session.flush()  # the CDR row before the review that refers to it
                session.add(CdrReview(
                    cdr_id=record.id, status="held", reasons=reasons, held_at=utcnow(),
                    held_totals=totals_of(record),
                ))
        self.unpriced.pop(transaction_id, None)
        self._bus.publish(CdrCreated(station_id, utcnow(), record.id, transaction_id))
        return record

    async def build(
        self,
        session: AsyncSession,
        tx: Transaction,
        cdr_id: str,
        flags: tuple[str, ...],
        timeline: SessionTimeline | None = None,
    ) -> ChargeDetailRecord:
        """The CDR of an ended session (not added to the session): priced from its stored meter
        timeline, or from `timeline` (an operator's correction), with its receipts."""
        site, tariff = await self._applicable(session, tx)
        timeline = timeline or await _timeline(session, tx)
        reservation = await _reservation_used(session, tx, tariff, site)
        ids = {"session_id": str(tx.id), "auth_id": tx.id_token, "evse_uid": f"{tx.station_id}*{tx.evse_id}"}
        inputs = await self._pricing_inputs(session, tx, site)
        cdr, _ = await self._split_priced(cdr_id, site, tariff, timeline, inputs, flags=flags,
                                         reservation=reservation, ids=ids)
        operator = await session.get(Operator, site.operator_id)
        return _record(cdr, tx, tariff, operator, site)

    async def _pricing_inputs(
        self, session: AsyncSession, tx: Transaction | _RunningSession, site: Site, caps_version: tuple | None = None,
    ) -> PricingInputs:
        """What pricing this session reads besides its tariff and timeline (`caps_version`: the
        caps' version columns when the caller read them already)."""
        await self.caps.current(session, caps_version)
        return PricingInputs(
            switches=tuple(await self._switches(session, tx)),
            caps=tuple(self.caps.binding(site.lat, site.lon)),
            suspended=await self.caps.suspended_at(session, site.id),
        )

    async def _split_priced(
        self, cdr_id: str, site: Site, tariff: Tariff, timeline: SessionTimeline, inputs: PricingInputs,
        *, flags: tuple[str, ...] = (), reservation=None, ids: dict | None = None,
        kept: KeptSegments | None = None,
    ) -> tuple[Cdr, Tariff]:
        """The session's timeline priced and capped, split at every tariff the station accepted
        for it mid-session; and the tariff in force at the timeline's end. The CDR and the
        running cost shown while charging both come from here, so they never disagree."""
        ids = ids or {}
        switches = [(at, t) for at, t in inputs.switches if timeline.start < at < timeline.end]
        if not switches:
            # Pricing is pure CPU (3 ms for 2 hours of meter values, 11 ms for 10): in a thread, so
            # the loop keeps answering stations meanwhile (docs/benchmarks.md, event-loop latency).
            cdr = await asyncio.to_thread(build_cdr, cdr_id, tariff, site.timezone, timeline,
                                          reservation=reservation, flags=flags, kept=kept, **ids)
            return inputs.capped(cdr), tariff
        # A 2.1 ChangeTransactionTariff the station accepted: energy and time before it are
        # priced by the tariff in force, after it by the new one (the session fee once, by
        # the first); each part is bounded by its tariff's min/max price and capped on its
        # own, so a cap holds per tariff; VAT as of the timeline's end for all parts.
        tariffs = [tariff, *(t for _, t in switches)]
        if len({t.currency for t in tariffs}) > 1:
            raise Unpriceable("the tariff switched mid-session to another currency")
        vat_day = timeline.end.astimezone(ZoneInfo(site.timezone)).date()
        parts = []
        for index, (part_tariff, piece) in enumerate(zip(
                tariffs, split_timeline(timeline, [at for at, _ in switches]))):
            part = await asyncio.to_thread(
                build_cdr, cdr_id, part_tariff, site.timezone, piece, vat_date=vat_day, flat=index == 0,
                reservation=reservation if index == 0 else None, **ids)
            parts.append(inputs.capped(part))
        cdr = replace(Cdr.combined(cdr_id, parts), flags=tuple(dict.fromkeys(
            (*flags, *(f for p in parts for f in p.flags)))))
        return cdr, tariffs[-1]

    async def _switches(self, session: AsyncSession, tx: Transaction | _RunningSession) -> list[tuple[datetime, Tariff]]:
        """The tariffs a 2.1 station accepted for this transaction mid-session
        (ChangeTransactionTariff), with the moment each was accepted, in order."""
        rows = (await session.scalars(select(StationTariff).where(
            StationTariff.transaction_id == tx.id, StationTariff.status == "Accepted",
        ).order_by(StationTariff.sent_at, StationTariff.id))).all()
        switches = []
        for row in rows:
            record = await session.scalar(select(TariffRecord).where(TariffRecord.code == row.tariff_code))
            if record is None:
                raise Unpriceable(f"tariff {row.tariff_code}, switched to mid-session, is no longer published")
            switches.append((row.sent_at, parse_tariff(record.body)))
        return switches

    async def price_no_shows(self) -> list[ChargeDetailRecord]:
        """A CDR with the no-show fee for every expired reservation that has none yet. Only
        expired ones: a reservation cancelled before it expired costs nothing, and a used one's
        fee is on its session's CDR."""
        async with self._sessions() as session:
            waiting = (await session.execute(
                select(Reservation.id, Reservation.station_id)
                .outerjoin(ChargeDetailRecord, ChargeDetailRecord.reservation_id == Reservation.id)
                .where(Reservation.status == "Expired", ChargeDetailRecord.id.is_(None))
            )).all()
        made = []
        for reservation_id, station_id in waiting:
            if f"reservation {reservation_id}" in self.unpriced_reservations:
                continue
            try:
                record = await self._price_no_show(reservation_id)
            except IntegrityError:
                continue  # priced by another caller at the same moment
            except Exception as error:  # this reservation's own: logged, flagged and skipped
                self.unpriced_reservations[f"reservation {reservation_id}"] = f"pricing failed: {error}"
                await self._failed(station_id, None, f"price the no-show fee of reservation {reservation_id}", error)
                continue
            if record is not None:
                made.append(record)
        return made

    async def _price_no_show(self, reservation_id: int) -> ChargeDetailRecord | None:
        async with self._sessions.begin() as session:
            reservation = await session.get(Reservation, reservation_id)
            station = await session.get(Station, reservation.station_id)
            site = await session.get(Site, station.site_id) if station and station.site_id else None
            token = await session.scalar(select(IdToken).where(IdToken.token == reservation.id_token))
            try:
                if site is None:
                    raise Unpriceable("the station belongs to no site, so no tariff applies")
                tariff = select_tariff(
                    await self.tariffs_at(session, site), reservation.created_at,
                    token_group=token.group_id if token else None,
                    driver_category=(token.category if token else None) or "regular",
                )
                until = max(reservation.expires_at, reservation.created_at)
                fees = price_reservation(
                    tariff, reservation.created_at, until, expired=True, time_zone=site.timezone
                )
            except (Unpriceable, NoApplicableTariff, PricingError) as exc:
                self.unpriced_reservations[f"reservation {reservation_id}"] = str(exc)
                return None
            if not fees.lines:
                self.unpriced_reservations[f"reservation {reservation_id}"] = "the tariff has no no-show fee"
                return None
            cdr = Cdr.for_no_show(
                str(uuid.uuid4()), tariff, fees, reservation.created_at, until,
                auth_id=reservation.id_token, evse_uid=f"{reservation.station_id}*{reservation.evse_id}",
                flags=(NO_SHOW,),
            )
            operator = await session.get(Operator, site.operator_id)
            record = _record(cdr, None, tariff, operator, site, reservation.station_id, reservation.evse_id)
            record.reservation_id = reservation_id
            session.add(record)
        return record

    async def running_cost(self, transaction_id: int, read: RunningRead | None = None) -> RunningCost | None:
        """What an active session has cost up to its latest meter reading, by the computation
        (and the caps) its receipt will use; None when it cannot be priced.

        Asked once per meter message or more (a 2.0.1 station's TransactionEvent reply, the
        pushes to stations that show cost), so each active session keeps what its last pricing
        read (`_KeptSession`). An ask reads one row (the transaction, whether it is flagged, how
        many readings it has and the version of every other input) and the readings stored
        since the last ask; the site, tariff, switches, caps and suspensions are read again only
        when a version moved. All of it comes from the store, so it holds with several nodes
        and whoever writes. Asks made together (the replies of one committed batch of
        TransactionEvents) are read together: one row each from one statement (`_running_inputs`,
        through store/gathered.py), straight from the driver where the platform has a direct
        path (store/direct.py), and a session only for what that row says must be read again.

        `read`: the row `read_running` took in the transaction that wrote the message being
        answered (after its writes); given, the ask's round reads no row for it. The round is
        still shared: a priced session's new readings are read there, in one session with the
        other asks' (a session per reply cost a third of the priced rate on SQLite)."""
        if read is not None:  # taken by the round this ask joins (no await in between)
            self._read_rows[(current_tenant(), current_database(), transaction_id)] = read.row
        priceable = await self._running_asks.ask(transaction_id)
        # Priced by each asker, so that a round of reads waits for no pricing (pricing is in a thread).
        return None if priceable is None else await self._running_priced(*priceable)

    async def read_running(self, db: DirectConnection, transaction_ids: list[int]) -> dict[int, RunningRead]:
        """`running_cost`'s row of each of these sessions, read in the caller's direct work:
        the write of a batch of 2.0.1 TransactionEvent Updated (services/transactions.py,
        `TransactionService.read_with_updates`), after its writes, so each row counts the
        readings just stored. Handed back with each message's TransactionRecord to its reply,
        it spares the batch a second turn of SQLite's one connection after its commit (at
        light load, a seventh to a fifth of a 2.0.1 meter reply's p50: docs/benchmarks.md,
        issue 20, "Fifteenth"). Nothing is read on PostgreSQL, whose read after the commit runs on
        another pooled connection: read here, it would turn the batch's one implicit
        transaction into BEGIN, write, read and COMMIT, four round-trips for two (measured: no
        faster)."""
        if db.dialect != "sqlite":
            return {}
        rows = await db.fetch(_running_versions(db.dialect, direct=True), {"transaction_ids": transaction_ids})
        return {row[0]: RunningRead(_running_row(row)) for row in rows}

    async def _running_inputs(self, transaction_ids: list[int]) -> dict[int, _Priceable | None]:
        """What each session is priced from (None: not priceable now), read for all at once."""
        place = (current_tenant(), current_database())
        found = {transaction_id: row for transaction_id in transaction_ids
                 if (row := self._read_rows.pop((*place, transaction_id), None)) is not None}
        async with _session_when_needed(self._sessions) as session:
            if missing := [transaction_id for transaction_id in transaction_ids if transaction_id not in found]:
                found.update((row[0].id, row) for row in await self._running_rows(missing, session))
            readings = await self._new_readings(found)
            return {transaction_id: await self._priceable(transaction_id, found.get(transaction_id), session,
                                                          readings.get(transaction_id))
                    for transaction_id in transaction_ids}

    async def _new_readings(self, rows: dict[int, tuple]) -> dict[int, list[_Reading]]:
        """The priced readings each of these sessions stored since its last ask, read for all
        of them in one statement straight from the driver (where the platform has a direct
        path: its own work, one database). Through a session, a statement per session and the
        ORM's rows around it were the largest part of a priced reply's CPU on the loop
        (docs/benchmarks.md, issue 20, "Sixteenth"). A session whose count says nothing is new
        is not asked, nor one whose inputs must be read first (its first ask, or one after an
        input changed: `_priceable` reads them, and its readings, in a session) or that is not
        priceable with them (no tariff for it)."""
        if self._direct is None or current_tenant() is not None:
            return {}
        database = current_database()
        asks = []
        for transaction_id, row in rows.items():
            kept = self._kept.get((database, transaction_id))
            if kept is not None and (after := kept.reads_after(row)) is not None:
                asks.append((transaction_id, after))
        if not asks:
            return {}
        found: dict[int, list[_Reading]] = {transaction_id: [] for transaction_id, _ in asks}
        for transaction_id, *reading in await self._direct.run(lambda db: db.fetch(
                _priced_samples_of(db.dialect), keys_bound(db.dialect, "asks", ("transaction_id", "id"), asks))):
            found[transaction_id].append(_Reading(*reading))
        return found

    async def _priceable(
        self, transaction_id: int, row: tuple | None, session: Callable[[], Awaitable[AsyncSession]],
        readings: list[_Reading] | None = None,
    ) -> _Priceable | None:
        """A session's pricing inputs from its `_running_versions` row (None: not stored, not
        active, flagged, or not priceable with these inputs); what the row says changed is read
        in `session()`. `readings`: those `_new_readings` read for it."""
        key = (current_database(), transaction_id)
        if row is None or row[0].state != "Active":
            self._kept.pop(key, None)
            return None
        tx, flagged, count, versions = row[0], row[1], row[2], tuple(row[3:])
        if flagged:
            return None  # a flagged session's cost is for an operator to confirm first
        kept = self._kept.get(key)
        if kept is None or not kept.holds(tx, versions):
            kept = _KeptSession(versions, tx.started_at, await self._running_context(await session(), tx, versions))
            self._kept[key] = kept
            while len(self._kept) > KEPT_SESSIONS:
                self._kept.popitem(last=False)
        self._kept.move_to_end(key)
        if kept.context is None:
            return None  # not priceable with these inputs (no site, no tariff for this driver)
        return tx, kept.context, await kept.timeline(session, tx, count, readings), kept.segments

    async def _running_rows(
        self, transaction_ids: list[int], session: Callable[[], Awaitable[AsyncSession]]
    ) -> list[tuple]:
        """`_running_versions`'s rows, each starting with its `_RunningSession`. Read straight
        from the driver where it can be (the platform's own work, one database): at light load,
        where each 2.0.1 meter reply asks alone, a session of its own for this one statement was
        most of what the reply waited for."""
        if self._direct is None or current_tenant() is not None:
            read = await session()
            statement = _running_versions(read.get_bind(Transaction).dialect.name)
            rows = (await read.execute(statement, {"transaction_ids": transaction_ids})).all()
        else:
            rows = await self._direct.run(lambda db: db.fetch(
                _running_versions(db.dialect, direct=True), {"transaction_ids": transaction_ids}))
        return [_running_row(row) for row in rows]

    async def _running_priced(
        self, tx: _RunningSession, context: tuple[Site, Tariff, PricingInputs], timeline: SessionTimeline,
        segments: KeptSegments,
    ) -> RunningCost | None:
        site, tariff, inputs = context
        try:
            # split at a tariff the station accepted mid-session, as the CDR will be (2.1)
            cdr, tariff = await self._split_priced("running", site, tariff, timeline, inputs, kept=segments)
        except (Unpriceable, PricingError):
            return None
        last = timeline.meter[-1] if timeline.meter else None
        idle = bool(last is not None and last.power_kw is not None and last.power_kw < IDLE_BELOW_KW)
        return RunningCost(
            transaction_id=tx.id,
            station_tx_id=tx.station_tx_id,
            at=timeline.end,
            meter_wh=(tx.meter_start_wh or Decimal(0)) + (last.energy_kwh * 1000 if last else 0),
            charging=not idle and tx.charging_state in (None, "Charging"),
            total=cdr.total_cost,
            prices=replace(unit_prices(tariff, site.timezone, timeline), cap_per_kwh=min(
                (c.max_price_per_kwh_incl_vat for c in inputs.caps if c.currency == tariff.currency),
                default=None)),
        )

    async def _running_context(
        self, session: AsyncSession, tx: _RunningSession, versions: tuple,
    ) -> tuple[Site, Tariff, PricingInputs] | None:
        try:
            site, tariff = await self._applicable(session, tx)
            caps_version = versions[-len(CapService.version_columns()):]
            return site, tariff, await self._pricing_inputs(session, tx, site, caps_version)
        except (Unpriceable, NoApplicableTariff, PricingError):
            return None

    async def quote(
        self, station_id: str, evse_id: int | None, id_token: str | None, at: datetime,
    ) -> tuple[Tariff, UnitPrices] | None:
        """The tariff that applies to this driver (None: anyone) at this station at `at`, and its
        unit prices then, incl. VAT and with the cap that binds the site: what a charger shows
        before any energy flowed (I01, I04). Elements restricted by power are judged at the
        EVSE's rated power (the station's highest when no EVSE is named). None when no tariff
        applies."""
        async with self._sessions() as session:
            station = await session.get(Station, station_id)
            site = await session.get(Site, station.site_id) if station and station.site_id else None
            if site is None:
                return None
            token = await session.scalar(select(IdToken).where(IdToken.token == id_token)) if id_token else None
            try:
                tariff = select_tariff(
                    await self.tariffs_at(session, site), at,
                    token_group=token.group_id if token else None,
                    driver_category=(token.category if token else None) or "regular",
                )
            except NoApplicableTariff:
                return None
            rated = await session.scalar(
                select(func.max(Connector.max_power_kw)).where(
                    Connector.station_id == station_id,
                    *((Connector.evse_id == evse_id,) if evse_id else ()),
                )
            )
            await self.caps.current(session)
        reading = MeterPoint(at, Decimal(0), rated)
        prices = unit_prices(tariff, site.timezone, SessionTimeline(at, at, (reading,)), at)
        caps = self.caps.binding(site.lat, site.lon, tariff.currency)
        return tariff, replace(prices, cap_per_kwh=min((c.max_price_per_kwh_incl_vat for c in caps), default=None))

    async def _applicable(self, session: AsyncSession, tx: Transaction | _RunningSession) -> tuple[Site, Tariff]:
        """The site of a session and the tariff that applies to its driver."""
        station = await session.get(Station, tx.station_id)
        site = await session.get(Site, station.site_id) if station and station.site_id else None
        if site is None:
            raise Unpriceable("the station belongs to no site, so no tariff applies")
        token = await session.scalar(select(IdToken).where(IdToken.token == tx.id_token)) if tx.id_token else None
        category = (token.category if token else None) or "regular"
        tariff = select_tariff(
            await self.tariffs_at(session, site), tx.started_at,
            token_group=token.group_id if token else None, driver_category=category,
        )
        return site, tariff

    def _skip(self, transaction_id: int, reason: str) -> None:
        if self.unpriced.get(transaction_id) != reason:
            log.warning("transaction %s not priced: %s", transaction_id, reason)
        self.unpriced[transaction_id] = reason
        return None


# OCPI 2.2.1 Tariff fields, plus 'silkcharge' for our extensions (audiences, VAT convention).
_TARIFF_FIELDS = frozenset({
    "id", "country_code", "party_id", "currency", "type", "tariff_alt_text", "tariff_alt_url",
    "min_price", "max_price", "elements", "energy_mix", "start_date_time", "end_date_time",
    "last_updated", "silkcharge",
})


def parse_tariff(body: dict) -> Tariff:
    """A stored or submitted OCPI tariff body as a Tariff, or TariffRefused naming each problem."""
    unknown = sorted(set(body) - _TARIFF_FIELDS)
    if unknown:
        # Silently dropping e.g. a misplaced 'token_groups' would publish a fleet price for all.
        raise TariffRefused([
            f"{name}: not an OCPI 2.2.1 tariff field (silkcharge extensions such as token_groups "
            "go under 'silkcharge')" for name in unknown
        ])
    try:
        return Tariff.from_ocpi(body)
    except InvalidTariff as exc:
        raise TariffRefused(list(exc.problems)) from None
    except (KeyError, TypeError, ValueError) as exc:
        raise TariffRefused([f"not an OCPI 2.2.1 tariff: {exc}"]) from None


PRICED_MEASURANDS = ("Energy.Active.Import.Register", "Power.Active.Import")
"""The readings a session's price is made of (of the whole meter, phase "")."""


@cache
def _priced_samples(since: bool = False) -> Select:
    """The readings of the session `transaction_id` that pricing reads (id, time, measurand,
    unit, value), oldest first; with `since`, only those stored after the id `after`."""
    return select(
        MeterSample.id, MeterSample.timestamp, MeterSample.measurand, MeterSample.unit, MeterSample.value,
    ).where(
        MeterSample.transaction_id == bindparam("transaction_id"),
        MeterSample.measurand.in_(PRICED_MEASURANDS),
        MeterSample.phase == "",
        *((MeterSample.id > bindparam("after"),) if since else ()),
    ).order_by(MeterSample.timestamp, MeterSample.id)


class _Reading(NamedTuple):
    """A row of `_priced_samples` (or of `_priced_samples_of`, without its session's id)."""

    id: int
    timestamp: datetime
    measurand: str
    unit: str | None
    value: Decimal


@cache
def _priced_samples_of(dialect: str) -> Select:
    """`_priced_samples(since=True)` for many sessions at once, for store/direct.py: the readings
    of each session bound in `asks` (`keys_bound` rows of a transaction id and the id after which
    to read), each session's oldest first, each row led by its session's id. One index range
    (`ix_meter_samples_transaction`) per session, whatever the planner believes of the table:
    on PostgreSQL the readings are a LATERAL subquery that OFFSET 0 keeps from being merged into
    a join, so each ask is its own parameterised scan. As a join, on a meter table its
    statistics had not caught up with (no ANALYZE yet while it grows by thousands of rows a
    second), PostgreSQL chose to scan the whole table against every ask: 135 to 157 ms a round,
    against 0.26 ms so (EXPLAIN ANALYZE, 20 asks, 55,804 samples)."""
    m = MeterSample.__table__
    asks = keys_direct(dialect, "asks", m, ("transaction_id", "id"))
    measurands = [literal_column(f"'{measurand}'") for measurand in PRICED_MEASURANDS]
    priced = (m.c.measurand.in_(measurands), m.c.phase == literal_column("''"))
    columns = (m.c.id, m.c.timestamp, m.c.measurand, m.c.unit, m.c.value)
    if dialect == "postgresql":
        readings = select(*columns).where(
            m.c.transaction_id == asks.c.transaction_id, m.c.id > asks.c.id, *priced,
        ).offset(literal_column("0")).lateral("readings")
        return select(asks.c.transaction_id, *(readings.c[c.name] for c in columns)).select_from(
            asks.join(readings, true())).order_by(asks.c.transaction_id, readings.c.timestamp, readings.c.id)
    return select(m.c.transaction_id, *columns).select_from(
        asks.join(m, and_(m.c.transaction_id == asks.c.transaction_id, m.c.id > asks.c.id))
    ).where(*priced).order_by(m.c.transaction_id, m.c.timestamp, m.c.id)


async def _priced_readings(session: AsyncSession, transaction_id: int, after: int | None = None) -> list[Any]:
    if after is None:
        return list((await session.execute(_priced_samples(), {"transaction_id": transaction_id})).all())
    return list((await session.execute(
        _priced_samples(since=True), {"transaction_id": transaction_id, "after": after})).all())


async def _timeline(session: AsyncSession, tx: Transaction) -> SessionTimeline:
    return timeline_of(tx, await _priced_readings(session, tx.id))


def timeline_of(tx: Transaction, samples: Iterable[Any]) -> SessionTimeline:
    """The session as the pricing engine reads it: register readings (kWh from the session's
    start) with the power reported at each instant, and parking where power stayed at zero.
    `samples`: rows of `_priced_samples`, oldest first."""
    start_wh = tx.meter_start_wh or Decimal(0)
    power: dict[datetime, Decimal] = {}
    energy: dict[datetime, Decimal] = {tx.started_at: Decimal(0)}
    for sample in samples:
        _take(sample, start_wh, energy, power)
    if tx.state == "Active":  # priced so far: up to the latest reading, on the station's clock
        end = max([tx.started_at, *energy, *power])
    else:
        end = tx.stopped_at or tx.updated_at
    if tx.meter_stop_wh is not None:
        energy[end] = max(Decimal(0), tx.meter_stop_wh - start_wh) / 1000
    points = _points(energy, power, tx.started_at, end)
    return SessionTimeline(tx.started_at, end, tuple(points), idle_intervals(points, end, IDLE_BELOW_KW))


def _take(sample: Any, start_wh: Decimal, energy: dict[datetime, Decimal], power: dict[datetime, Decimal]) -> None:
    """One reading into the session's registers (kWh from its start) or powers (kW)."""
    if sample.measurand == "Power.Active.Import":
        power[sample.timestamp] = sample.value / 1000 if (sample.unit or "W") == "W" else sample.value
    else:
        wh = sample.value * 1000 if sample.unit == "kWh" else sample.value
        energy[sample.timestamp] = max(Decimal(0), wh - start_wh) / 1000


def _points(
    energy: dict[datetime, Decimal], power: dict[datetime, Decimal], start: datetime, end: datetime,
    after: MeterPoint | None = None, moments: Iterable[datetime] | None = None,
) -> list[MeterPoint]:
    """The register readings from `start` to `end` as the bill reads them, in time order; with
    `after`, only the later ones, continuing from it, and with `moments` only those of them
    (the readings' times since the last points were made: not every one again)."""
    points, highest = [], after.energy_kwh if after else Decimal(0)
    candidates = energy if moments is None else {m for m in moments if m in energy}
    for moment in sorted(m for m in candidates if start <= m <= end and (after is None or m > after.at)):
        highest = max(highest, energy[moment])  # a register never runs backwards in a bill
        points.append(MeterPoint(moment, highest, power.get(moment)))
    return points


class _GrowingTimeline:
    """An active session's timeline, extended by each new reading: what `timeline_of` makes of
    the same readings, without going over every earlier one again. A reading at or before the
    latest register point (a late one, or the power of a point made already) has the points
    made again from all readings."""

    def __init__(self, tx: _RunningSession) -> None:
        self.start, self.start_wh = tx.started_at, tx.meter_start_wh or Decimal(0)
        self.energy: dict[datetime, Decimal] = {self.start: Decimal(0)}
        self.power: dict[datetime, Decimal] = {}
        self.end = self.start
        self.points: list[MeterPoint] = []
        self.idle = IdleIntervals(IDLE_BELOW_KW)  # of `points`
        self.fresh: list[datetime] = []  # the times of the readings added since `points` were made
        self.redo = True

    def fits(self, tx: _RunningSession) -> bool:
        return (self.start, self.start_wh) == (tx.started_at, tx.meter_start_wh or Decimal(0))

    def add(self, samples: Iterable[Any]) -> None:
        last = self.points[-1].at if self.points else None
        for sample in samples:
            if last is not None and sample.timestamp <= last:
                self.redo = True
            _take(sample, self.start_wh, self.energy, self.power)
            self.fresh.append(sample.timestamp)
            self.end = max(self.end, sample.timestamp)

    def timeline(self) -> SessionTimeline:
        if self.redo:
            self.points, self.redo = _points(self.energy, self.power, self.start, self.end), False
            self.idle = IdleIntervals(IDLE_BELOW_KW)
            self.idle.take(self.points)
        else:
            last = self.points[-1] if self.points else None
            new = _points(self.energy, self.power, self.start, self.end, after=last, moments=self.fresh)
            self.points += new
            self.idle.take(new)
        self.fresh = []
        # `_points` makes each point once, in time order, the register never falling.
        return SessionTimeline.in_order(self.start, self.end, tuple(self.points), self.idle.until(self.end))


@dataclass(frozen=True, slots=True)
class _RunningSession:
    """The columns of an active session that its running cost reads at every ask: whether what
    it keeps still holds (state, start), what it prices from (the meter's start, the charging
    state) and, when its inputs moved, what they are looked up by (station, token, start).
    Only these are read and converted, not the whole transaction: for each 2.0.1 meter reply,
    on SQLite's writing thread (`read_running`), converting its ~25 columns was a third of the
    read (docs/benchmarks.md, issue 20, "Eighteenth")."""

    id: int
    station_id: str
    station_tx_id: str
    id_token: str | None
    state: str
    started_at: datetime
    meter_start_wh: Decimal | None
    charging_state: str | None


_RUNNING_SESSION = tuple(f.name for f in fields(_RunningSession))


def _running_row(row: Sequence[Any]) -> tuple:
    """A `_running_versions` row with its first columns made one `_RunningSession`."""
    return (_RunningSession(*row[:len(_RUNNING_SESSION)]), *row[len(_RUNNING_SESSION):])


@dataclass(frozen=True, slots=True)
class RunningRead:
    """A session's `_running_versions` row as `BillingService.read_running` read it, for the
    reply to the message whose write read it (and for nothing later: it is that moment's)."""

    row: tuple


@contextlib.asynccontextmanager
async def _session_when_needed(sessions: async_sessionmaker):
    """A function that opens one session at its first call and gives it at every call (closed
    on leaving): most running-cost asks need none."""
    async with contextlib.AsyncExitStack() as stack:
        opened: list[AsyncSession] = []

        async def session() -> AsyncSession:
            if not opened:
                opened.append(await stack.enter_async_context(sessions()))
            return opened[0]

        yield session


_Priceable = tuple[_RunningSession, tuple[Site, Tariff, PricingInputs], SessionTimeline, KeptSegments]
"""An active session, what its price depends on (site, tariff, inputs), its timeline so far and
the segments of its last pricing."""


@dataclass
class _KeptSession:
    """What an active session's running cost was last priced from: the inputs read at
    `versions` (None: not priceable with them), the ids of its priced readings so far and its
    timeline made of them."""

    versions: tuple
    started_at: datetime
    context: tuple[Site, Tariff, PricingInputs] | None
    seen: set[int] = field(default_factory=set)
    newest: int = 0
    grown: _GrowingTimeline | None = None
    segments: KeptSegments = field(default_factory=KeptSegments)
    """The segments its last running cost was priced from (domain/pricing.py)."""

    async def timeline(
        self, session: Callable[[], Awaitable[AsyncSession]], tx: _RunningSession, readings: int,
        read: list[_Reading] | None = None,
    ) -> SessionTimeline:
        """The session's timeline with every reading stored (`readings` of them): those since
        the last ask (`read`, or read in the session `session()` gives) are added; all of them
        are read again when the count says one was missed (committed after a later one, or
        `read` was read after another newest than this one's) or went away, or when the
        session's start changed. Two asks at once are safe: a reading is taken once, by id,
        and the timeline's maps are idempotent; a reading stored between the versions row and
        this read costs one needless re-read."""
        if self.grown is None or not self.grown.fits(tx):
            self.grown, self.seen, self.newest = _GrowingTimeline(tx), set(), 0
        if len(self.seen) != readings:
            if read is None:
                read = await _priced_readings(await session(), tx.id, after=self.newest)
            self._took([r for r in read if r.id not in self.seen])
            if len(self.seen) != readings:
                self.grown, self.seen, self.newest = _GrowingTimeline(tx), set(), 0
                self._took(await _priced_readings(await session(), tx.id))
        return self.grown.timeline()

    def holds(self, tx: _RunningSession, versions: tuple) -> bool:
        """Whether what this keeps was read at these versions of the session's inputs."""
        return self.versions == versions and self.started_at == tx.started_at

    def reads_after(self, row: tuple) -> int | None:
        """For a `_running_versions` row of this session: the id after which its new readings
        are, when they are all it needs read (it is priced with the inputs kept, and its count
        of readings moved); None otherwise."""
        tx, flagged, count = row[0], row[1], row[2]
        if tx.state != "Active" or flagged or self.context is None or not self.holds(tx, tuple(row[3:])):
            return None
        return self.newest if len(self.seen) != count else None

    def _took(self, readings: list[Any]) -> None:
        assert self.grown is not None
        self.grown.add(readings)
        self.seen.update(r.id for r in readings)
        self.newest = max(self.newest, *(r.id for r in readings)) if readings else self.newest


@cache
def _running_versions(dialect: str, *, direct: bool = False) -> Select:
    """A row for each of the bound `transaction_ids` (built once per dialect, as building it
    costs more than running it): the transaction, whether it is flagged, how many priced
    readings it has, and what changes when any other input of its price does
    (`BillingService.running_cost`): its station's site, its driver's token, the tariffs, the
    tariffs accepted for it mid-session, the open suspensions and the caps (last, as
    `CapService.current` takes them). The transaction is the columns of `_RunningSession`,
    first. `direct`: for store/direct.py, the ids bound as one list that keeps the SQL the same."""
    station = Station.id == Transaction.station_id
    switched = (StationTariff.transaction_id == Transaction.id, StationTariff.status == "Accepted")
    open_suspension = TariffSuspension.resolved_at.is_(None)
    one_of = one_of_direct if direct else one_of_named
    return select(
        *(Transaction.__table__.c[name] for name in _RUNNING_SESSION),
        exists().where(PlausibilityFlag.transaction_id == Transaction.id),
        Transaction.priced_readings,  # counted by the database as each is stored (migration 0037)
        select(Station.site_id).where(station).correlate(Transaction).scalar_subquery(),
        select(Site.updated_at).join(Station, Station.site_id == Site.id).where(station)
        .correlate(Transaction).scalar_subquery(),
        select(func.max(IdToken.updated_at)).where(IdToken.token == Transaction.id_token).scalar_subquery(),
        select(func.count(IdToken.id)).where(IdToken.token == Transaction.id_token).scalar_subquery(),
        select(func.max(TariffRecord.id)).scalar_subquery(),
        select(func.count(TariffRecord.id)).scalar_subquery(),
        select(func.max(StationTariff.id)).where(*switched).scalar_subquery(),
        select(func.count(StationTariff.id)).where(*switched).scalar_subquery(),
        select(func.max(TariffSuspension.id)).where(open_suspension).scalar_subquery(),
        select(func.count(TariffSuspension.id)).where(open_suspension).scalar_subquery(),
        *CapService.version_columns(),
    ).where(one_of(dialect, Transaction.id, "transaction_ids"))


async def _reservation_used(
    session: AsyncSession, tx: Transaction, tariff: Tariff, site: Site
) -> PricedReservation | None:
    """The fee of the reservation this session used: from when it was made until the start."""
    reservation = await session.scalar(select(Reservation).where(Reservation.transaction_id == tx.id))
    if reservation is None:
        return None
    until = max(tx.started_at, reservation.created_at)
    fees = price_reservation(tariff, reservation.created_at, until, expired=False, time_zone=site.timezone)
    return fees if fees.lines else None


def ending_flags(tx: Transaction) -> tuple[str, ...]:
    flag = _ENDING_FLAGS.get(tx.stop_reason or "")
    return (flag,) if flag else ()


def totals_of(record: ChargeDetailRecord) -> dict[str, str]:
    """The totals as JSON strings, written as the store reads them back (no trailing zeros)."""
    return {"currency": record.currency, "total_excl_vat": str(plain(record.total_excl_vat)),
            "total_incl_vat": str(plain(record.total_incl_vat))}


def _record(
    cdr: Cdr, tx: Transaction | None, tariff: Tariff, operator: Operator, site: Site,
    station_id: str | None = None, evse_id: int | None = None,
) -> ChargeDetailRecord:
    total = cdr.total_cost
    cap: dict[str, Any] | None = None
    if cdr.cap is not None:
        cap = {
            "rule_id": cdr.cap.rule_id, "reason": cdr.cap.reason,
            "original_incl_vat": str(cdr.cap.original.incl_vat.amount),
            "capped_incl_vat": str(cdr.cap.capped.incl_vat.amount),
        }
    who = receipts.Operator(operator.name)
    if tx is not None:
        station_id, evse_id = tx.station_id, tx.evse_id
    where = receipts.Site(site.name, site.timezone, site.address, f"{station_id}*{evse_id}")
    return ChargeDetailRecord(
        id=cdr.id, transaction_id=tx.id if tx is not None else None, tariff_code=tariff.id, currency=cdr.currency,
        total_excl_vat=total.excl_vat.amount,
        total_incl_vat=(total.incl_vat or total.excl_vat).amount,
        capped=cdr.cap is not None, cap=cap, flags=list(cdr.flags), body=cdr.to_ocpi(),
        receipts={locale: receipts.receipt_html(cdr, who, where, locale) for locale in RECEIPT_LOCALES},
    )
