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
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from silkcharge.bus.local import EventBus
from silkcharge.domain import cdr as receipts
from silkcharge.domain.caps import apply_cap, check_tariff, load_price_caps
from silkcharge.domain.cdr import Cdr, build_cdr
from silkcharge.domain.clock import utcnow
from silkcharge.domain.events import TransactionEnded
from silkcharge.domain.money import Price
from silkcharge.domain.pricing import (
    MeterPoint,
    PricedReservation,
    PricingError,
    SessionTimeline,
    UnitPrices,
    idle_intervals,
    price_reservation,
    unit_prices,
)
from silkcharge.domain.tariffs import InvalidTariff, NoApplicableTariff, Tariff, select_tariff
from silkcharge.store.schema import (
    ChargeDetailRecord,
    IdToken,
    MeterSample,
    Operator,
    Reservation,
    Site,
    Station,
    TariffRecord,
    Transaction,
)

log = logging.getLogger(__name__)

CLOSED_WITHOUT_STOP = "closed-without-stop"
NO_SHOW = "no-show"
RECEIPT_LOCALES = ("en", "ru")
IDLE_BELOW_KW = Decimal("0.1")
"""Reported power below this is parking, not charging."""


class TariffRefused(ValueError):
    """A tariff that cannot be published; `problems` names each reason."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class _Unpriceable(Exception):
    pass


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
class Unpriced:
    transaction_id: int
    reason: str


class BillingService:
    def __init__(self, sessions: async_sessionmaker, bus: EventBus, *, stale_after: timedelta) -> None:
        self._sessions = sessions
        self._bus = bus
        self._stale_after = stale_after
        self._tasks: list[asyncio.Task] = []
        self.unpriced: dict[int, str] = {}
        self.unpriced_reservations: dict[str, str] = {}
        """Expired reservations that carry no no-show charge, and why (no fee in the tariff...)."""

    # -- tariffs ------------------------------------------------------------------------------

    async def publish(self, code: str, operator_code: str, site_code: str | None, body: dict) -> TariffRecord:
        """Validate, check against every cap the target sites are bound by, then store."""
        async with self._sessions.begin() as session:
            operator = await session.scalar(select(Operator).where(Operator.code == operator_code))
            if operator is None:
                raise LookupError(f"no operator {operator_code}")
            if await session.scalar(select(TariffRecord.id).where(TariffRecord.code == code)):
                raise TariffRefused([f"tariff {code} already exists; publish a new code to change prices"])
            tariff = _parse({**body, "id": code})
            if tariff.currency != operator.currency:
                raise TariffRefused(
                    [f"currency: {tariff.currency} is not {operator.code}'s currency {operator.currency}"]
                )
            sites = await self._target_sites(session, operator.id, site_code)
            problems = _cap_violations(tariff, sites)
            if problems:
                raise TariffRefused(problems)
            record = TariffRecord(
                code=code, operator_id=operator.id,
                site_id=sites[0].id if site_code else None, body={**body, "id": code},
            )
            session.add(record)
        return record

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
        return [_parse(row.body) for row in rows]

    # -- sessions -----------------------------------------------------------------------------

    def start(self) -> None:
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

    async def _price_ended_sessions(self) -> None:
        async with self._bus.subscribe(local_only=True) as events:
            while True:
                event = await events.get()
                if isinstance(event, TransactionEnded):
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
        """Close abandoned sessions, then price every ended session that has no CDR yet."""
        await self.close_abandoned()
        await self.price_no_shows()
        async with self._sessions() as session:
            waiting = (await session.scalars(
                select(Transaction.id)
                .outerjoin(ChargeDetailRecord, ChargeDetailRecord.transaction_id == Transaction.id)
                .where(Transaction.state == "Ended", ChargeDetailRecord.id.is_(None))
            )).all()
        for transaction_id in waiting:
            if transaction_id not in self.unpriced:
                await self.price(transaction_id)

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
        async with self._sessions.begin() as session:
            # One query finds them all: the sweep runs every minute, whatever the network's size.
            abandoned = (await session.scalars(
                select(Transaction).where(
                    Transaction.state == "Active",
                    superseded | (Transaction.updated_at <= now - self._stale_after),
                )
            )).all()
            for tx in abandoned:
                last = await session.scalar(
                    select(MeterSample.timestamp).where(MeterSample.transaction_id == tx.id)
                    .order_by(MeterSample.timestamp.desc()).limit(1)
                )
                tx.state, tx.stop_reason = "Ended", "ClosedWithoutStop"
                tx.stopped_at = max(last or tx.started_at, tx.started_at)
                tx.updated_at = now
                closed.append((tx.station_id, tx.id))
        for station_id, transaction_id in closed:
            self._bus.publish(TransactionEnded(station_id, now, transaction_id, None, "ClosedWithoutStop"))
        return [transaction_id for _, transaction_id in closed]

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
            try:
                site, tariff, category = await self._applicable(session, tx)
                cdr = build_cdr(
                    str(uuid.uuid4()), tariff, site.timezone, await _timeline(session, tx),
                    reservation=await _reservation_used(session, tx, tariff, site),
                    session_id=str(tx.id), auth_id=tx.id_token,
                    evse_uid=f"{tx.station_id}*{tx.evse_id}",
                    flags=(CLOSED_WITHOUT_STOP,) if tx.stop_reason == "ClosedWithoutStop" else (),
                )
            except (_Unpriceable, NoApplicableTariff, PricingError) as exc:
                return self._skip(transaction_id, str(exc))
            cdr = _capped(cdr, site, category)
            operator = await session.get(Operator, site.operator_id)
            record = _record(cdr, tx, tariff, operator, site)
            session.add(record)
        self.unpriced.pop(transaction_id, None)
        return record

    async def price_no_shows(self) -> list[ChargeDetailRecord]:
        """A CDR with the no-show fee for every expired reservation that has none yet. Only
        expired ones: a reservation cancelled before it expired costs nothing, and a used one's
        fee is on its session's CDR."""
        async with self._sessions() as session:
            waiting = (await session.scalars(
                select(Reservation.id)
                .outerjoin(ChargeDetailRecord, ChargeDetailRecord.reservation_id == Reservation.id)
                .where(Reservation.status == "Expired", ChargeDetailRecord.id.is_(None))
            )).all()
        made = []
        for reservation_id in waiting:
            if f"reservation {reservation_id}" in self.unpriced_reservations:
                continue
            try:
                record = await self._price_no_show(reservation_id)
            except IntegrityError:
                continue  # priced by another caller at the same moment
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
                    raise _Unpriceable("the station belongs to no site, so no tariff applies")
                tariff = select_tariff(
                    await self.tariffs_at(session, site), reservation.created_at,
                    token_group=token.group_id if token else None,
                    driver_category=(token.category if token else None) or "regular",
                )
                until = max(reservation.expires_at, reservation.created_at)
                fees = price_reservation(
                    tariff, reservation.created_at, until, expired=True, time_zone=site.timezone
                )
            except (_Unpriceable, NoApplicableTariff, PricingError) as exc:
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

    async def running_cost(self, transaction_id: int) -> RunningCost | None:
        """What an active session has cost up to its latest meter reading, by the computation
        (and the caps) its receipt will use; None when it cannot be priced."""
        async with self._sessions() as session:
            tx = await session.get(Transaction, transaction_id)
            if tx is None or tx.state != "Active":
                return None
            try:
                site, tariff, category = await self._applicable(session, tx)
                timeline = await _timeline(session, tx)
                cdr = _capped(build_cdr("running", tariff, site.timezone, timeline), site, category)
            except (_Unpriceable, NoApplicableTariff, PricingError):
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
            prices=unit_prices(tariff, site.timezone, timeline),
        )

    async def _applicable(self, session: AsyncSession, tx: Transaction) -> tuple[Site, Tariff, str]:
        """The site of a session, the tariff that applies to its driver, and the driver's category."""
        station = await session.get(Station, tx.station_id)
        site = await session.get(Site, station.site_id) if station and station.site_id else None
        if site is None:
            raise _Unpriceable("the station belongs to no site, so no tariff applies")
        token = await session.scalar(select(IdToken).where(IdToken.token == tx.id_token)) if tx.id_token else None
        category = (token.category if token else None) or "regular"
        tariff = select_tariff(
            await self.tariffs_at(session, site), tx.started_at,
            token_group=token.group_id if token else None, driver_category=category,
        )
        return site, tariff, category

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


def _parse(body: dict) -> Tariff:
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


def _cap_violations(tariff: Tariff, sites: list[Site]) -> list[str]:
    rules = load_price_caps().values()
    problems = []
    for site in sites:
        for rule in rules:
            if rule.site_tag and rule.site_tag in (site.tags or []):
                for violation in check_tariff(tariff, rule, on=utcnow().date(), time_zone=site.timezone):
                    problems.append(f"site {site.code}: {violation.message}")
    return problems


def _capped(cdr: Cdr, site: Site, category: str) -> Cdr:
    for rule in load_price_caps().values():
        if rule.site_tag and rule.site_tag in (site.tags or []) and rule.currency == cdr.currency:
            cdr = apply_cap(cdr, rule, driver_category=category).cdr
    return cdr


async def _timeline(session: AsyncSession, tx: Transaction) -> SessionTimeline:
    """The session as the pricing engine reads it: register readings (kWh from the session's
    start) with the power reported at each instant, and parking where power stayed at zero."""
    samples = (await session.scalars(
        select(MeterSample).where(
            MeterSample.transaction_id == tx.id,
            MeterSample.measurand.in_(("Energy.Active.Import.Register", "Power.Active.Import")),
            MeterSample.phase == "",
        ).order_by(MeterSample.timestamp)
    )).all()
    start_wh = tx.meter_start_wh or Decimal(0)
    power: dict[datetime, Decimal] = {}
    energy: dict[datetime, Decimal] = {tx.started_at: Decimal(0)}
    for sample in samples:
        if sample.measurand == "Power.Active.Import":
            power[sample.timestamp] = sample.value / 1000 if (sample.unit or "W") == "W" else sample.value
        else:
            wh = sample.value * 1000 if sample.unit == "kWh" else sample.value
            energy[sample.timestamp] = max(Decimal(0), wh - start_wh) / 1000
    if tx.state == "Active":  # priced so far: up to the latest reading, on the station's clock
        end = max([tx.started_at, *energy, *power])
    else:
        end = tx.stopped_at or tx.updated_at
    if tx.meter_stop_wh is not None:
        energy[end] = max(Decimal(0), tx.meter_stop_wh - start_wh) / 1000
    points, highest = [], Decimal(0)
    for moment in sorted(m for m in energy if tx.started_at <= m <= end):
        highest = max(highest, energy[moment])  # a register never runs backwards in a bill
        points.append(MeterPoint(moment, highest, power.get(moment)))
    return SessionTimeline(tx.started_at, end, tuple(points), idle_intervals(points, end, IDLE_BELOW_KW))


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
