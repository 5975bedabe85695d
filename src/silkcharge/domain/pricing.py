"""The one price computation: a tariff applied to a charging session timeline.

Search, the charger display and the receipt all call `price_session` (`estimate` builds a
synthetic timeline and calls it), so the three can never disagree.

How a session is priced (OCPI 2.2.1 semantics, with silkcharge's readings where OCPI is open):

1. The session is cut into segments at every instant where a restriction could change its
   verdict: meter readings, charging/parking switches, local midnights, every start_time and
   end_time of the tariff on every local day, min/max_duration thresholds and the instants the
   delivered energy crosses min_kwh/max_kwh. Energy between two readings is interpolated
   linearly.
2. Each segment is judged at its midpoint (so a boundary instant never sits on the fence).
   For each dimension (ENERGY, TIME, PARKING_TIME) the first element in the tariff's order
   that has a component of that dimension and whose restrictions match prices the segment;
   if none matches, the dimension is free there. TIME accrues while charging, PARKING_TIME
   while not; ENERGY whenever energy flows. FLAT is charged once, from the first element with
   a FLAT component that matches at the session's start. Reservation elements never price a
   session (see `price_reservation`).
3. Consecutive segments priced by the same elements form one CDR charging period.
4. step_size rounds the *total* of a dimension, not each period: the billed total is rounded
   up to the step of the last component used, and the rounding extra is billed at that
   component's price. A run ends early when the dimension stops being priced (the next
   element has no such component): that run is rounded with its own last step.
5. Each cost line (dimension x element) is rounded half up to the currency's minor unit; VAT
   is computed per line from the rounded amount; totals are sums of lines, so a receipt adds
   up. min_price / max_price then bound the total, excl. and incl. VAT each.
6. VAT: a component's fixed rate, or the statutory rate of the tariff's country on the date of
   supply, which is the session end's local date unless `vat_date` says otherwise.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from decimal import ROUND_CEILING, Decimal
from enum import StrEnum
from zoneinfo import ZoneInfo

from silkcharge.domain.money import Money, Price, minor_units, to_decimal
from silkcharge.domain.tariffs import (
    STATUTORY,
    DayOfWeek,
    PriceComponent,
    ReservationRestrictionType,
    Tariff,
    TariffDimensionType,
    TariffElement,
    TariffRestrictions,
)
from silkcharge.domain.vat import VatTable, load_vat_table

__all__ = [
    "CdrDimension",
    "ChargingPeriod",
    "CostLine",
    "MeterPoint",
    "PricedReservation",
    "PricedSession",
    "PricingError",
    "SessionState",
    "SessionTimeline",
    "UnitPrices",
    "estimate",
    "idle_intervals",
    "price_reservation",
    "price_session",
    "price_text",
    "split_vat",
    "unit_prices",
]

ENERGY = TariffDimensionType.ENERGY
TIME = TariffDimensionType.TIME
PARKING_TIME = TariffDimensionType.PARKING_TIME
FLAT = TariffDimensionType.FLAT
_METERED = (ENERGY, TIME, PARKING_TIME)
_HOUR = Decimal(3600)
_KWH = Decimal(1000)


class PricingError(ValueError):
    """A timeline or request that cannot be priced; the message says why."""


class SessionState(StrEnum):
    CHARGING = "CHARGING"
    PARKING = "PARKING"


@dataclass(frozen=True, slots=True)
class MeterPoint:
    """A reading of the session's energy register (kWh) with the power (kW) and current (A,
    summed over phases) at that instant when the station reports them."""

    at: datetime
    energy_kwh: Decimal
    power_kw: Decimal | None = None
    current_a: Decimal | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "energy_kwh", to_decimal(self.energy_kwh, "energy_kwh"))
        for name in ("power_kw", "current_a"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, to_decimal(value, name))


@dataclass(frozen=True, slots=True)
class SessionTimeline:
    """What happened at the connector: aware times, register readings and the intervals in
    which the car was plugged in but not charging (parking)."""

    start: datetime
    end: datetime
    meter: tuple[MeterPoint, ...]
    parking: tuple[tuple[datetime, datetime], ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "meter", tuple(sorted(self.meter, key=lambda p: p.at)))
        if any(p.at.tzinfo is None for p in self.meter):
            raise PricingError("naive datetime in the session timeline: use aware UTC times")
        for before, after in zip(self.meter, self.meter[1:]):
            if after.energy_kwh < before.energy_kwh:
                raise PricingError(
                    f"energy register goes backwards at {after.at.isoformat()} "
                    f"({before.energy_kwh} -> {after.energy_kwh} kWh)"
                )
        self._check_span()

    @classmethod
    def in_order(
        cls, start: datetime, end: datetime, meter: tuple[MeterPoint, ...],
        parking: tuple[tuple[datetime, datetime], ...] = (),
    ) -> SessionTimeline:
        """A timeline from readings its maker keeps as this class would: in time order, aware,
        the register never falling (billing's growing timeline of an active session, which
        makes each point once). Its readings are not sorted or checked again, which made every
        running-cost reply of a long session cost more than the last; the rest is checked."""
        timeline = object.__new__(cls)
        for name, value in (("start", start), ("end", end), ("meter", meter), ("parking", parking)):
            object.__setattr__(timeline, name, value)
        timeline._check_span()
        return timeline

    def _check_span(self) -> None:
        """The start, the end and the parking intervals (sorted here): aware, in order, inside."""
        object.__setattr__(self, "parking", tuple(sorted(self.parking)))
        moments = [self.start, self.end, *(t for interval in self.parking for t in interval)]
        if any(m.tzinfo is None for m in moments):
            raise PricingError("naive datetime in the session timeline: use aware UTC times")
        if self.end < self.start:
            raise PricingError(f"session ends ({self.end}) before it starts ({self.start})")
        previous_end = self.start
        for begin, finish in self.parking:
            if begin < previous_end or finish > self.end or finish < begin:
                raise PricingError(
                    f"parking interval {begin.isoformat()}-{finish.isoformat()} overlaps "
                    "another or lies outside the session"
                )
            previous_end = finish

    def energy_at(self, moment: datetime) -> Decimal:
        """Register value at `moment`, interpolated linearly between readings."""
        points = self.meter
        if not points:
            return Decimal(0)
        after_index = bisect.bisect_left(points, moment, key=_at)
        if after_index == 0:
            return points[0].energy_kwh
        if after_index == len(points):
            return points[-1].energy_kwh
        before, after = points[after_index - 1], points[after_index]
        span = _seconds(after.at - before.at)
        if span == 0:
            return after.energy_kwh
        share = _seconds(moment - before.at) / span
        return before.energy_kwh + (after.energy_kwh - before.energy_kwh) * share

    def reading_at(self, moment: datetime) -> MeterPoint | None:
        """The latest reading at or before `moment`."""
        index = bisect.bisect_right(self.meter, moment, key=_at)
        return self.meter[index - 1] if index else None

    def state_at(self, moment: datetime) -> SessionState:
        for begin, finish in self.parking:
            if begin <= moment < finish:
                return SessionState.PARKING
        return SessionState.CHARGING


def _at(point: MeterPoint) -> datetime:
    return point.at


def _energy(point: MeterPoint) -> Decimal:
    return point.energy_kwh


def split_timeline(timeline: SessionTimeline, moments: Sequence[datetime]) -> list[SessionTimeline]:
    """The session cut at `moments` (a tariff switch, say) into consecutive timelines: each starts
    with the register as it stood at its start (interpolated between readings, as `energy_at`),
    so their energies, times and parking add up to the whole session's. Moments outside the
    session are ignored."""
    cuts = sorted({m for m in moments if timeline.start < m < timeline.end})
    edges = [timeline.start, *cuts, timeline.end]
    pieces = []
    for begin, finish in zip(edges, edges[1:]):
        first, last = timeline.reading_at(begin), timeline.reading_at(finish)
        inside = [p for p in timeline.meter if begin < p.at < finish]
        points = [MeterPoint(begin, timeline.energy_at(begin), first.power_kw if first else None,
                             first.current_a if first else None), *inside]
        if timeline.meter:
            points.append(MeterPoint(finish, timeline.energy_at(finish), last.power_kw if last else None,
                                     last.current_a if last else None))
        parking = tuple((max(a, begin), min(b, finish)) for a, b in timeline.parking if a < finish and b > begin)
        pieces.append(SessionTimeline(begin, finish, tuple(points), parking))
    return pieces


def idle_intervals(
    meter: Sequence[MeterPoint], end: datetime, idle_below_kw: Decimal = Decimal("0.1")
) -> tuple[tuple[datetime, datetime], ...]:
    """Parking intervals read from reported power: from a reading below `idle_below_kw`
    until the next reading at or above it (or `end`). Use when the station does not report
    its charging state (OCPP 2.0.1 chargingState SuspendedEV / EVConnected say it directly)."""
    idle = IdleIntervals(idle_below_kw)
    idle.take(sorted(meter, key=lambda p: p.at))
    return idle.until(end)


class IdleIntervals:
    """`idle_intervals` of a meter that grows: readings are taken in time order, as they come,
    and the intervals asked for up to an end at any time."""

    def __init__(self, idle_below_kw: Decimal = Decimal("0.1")) -> None:
        self._below = idle_below_kw
        self._closed: list[tuple[datetime, datetime]] = []
        self._since: datetime | None = None

    def take(self, points: Iterable[MeterPoint]) -> None:
        """Readings after every one taken before, in time order."""
        for point in points:
            if point.power_kw is None:
                continue
            if point.power_kw < self._below and self._since is None:
                self._since = point.at
            elif point.power_kw >= self._below and self._since is not None:
                if point.at > self._since:
                    self._closed.append((self._since, point.at))
                self._since = None

    def until(self, end: datetime) -> tuple[tuple[datetime, datetime], ...]:
        if self._since is not None and end > self._since:
            return (*self._closed, (self._since, end))
        return tuple(self._closed)


@dataclass(frozen=True, slots=True)
class CdrDimension:
    type: str
    """OCPI CdrDimensionType: ENERGY (kWh), TIME / PARKING_TIME (hours), MAX_POWER (kW)..."""
    volume: Decimal


@dataclass(frozen=True, slots=True)
class ChargingPeriod:
    start_date_time: datetime
    end_date_time: datetime
    state: SessionState
    dimensions: tuple[CdrDimension, ...]
    tariff_id: str
    elements: tuple[tuple[TariffDimensionType, int | None], ...]
    """Which element priced each dimension in this period (None: free)."""

    def volume(self, kind: str) -> Decimal:
        for dimension in self.dimensions:
            if dimension.type == kind:
                return dimension.volume
        return Decimal(0)


@dataclass(frozen=True, slots=True)
class CostLine:
    """One price component's share of the bill."""

    dimension: TariffDimensionType
    element_index: int
    unit_price: Decimal
    """As written in the tariff: excl. VAT, or incl. VAT when `vat_included`."""
    vat_included: bool
    vat_rate: Decimal | None
    measured: Decimal
    """kWh for ENERGY, seconds for TIME and PARKING_TIME, 1 for FLAT."""
    billed: Decimal
    """`measured` after step-size rounding (same unit)."""
    step_size: int
    cost: Price
    tariff_id: str | None = None
    """The tariff whose element priced it, when a CDR has several (a tariff switched mid-session)."""


@dataclass(frozen=True, slots=True)
class PricedSession:
    tariff_id: str
    currency: str
    start: datetime
    end: datetime
    charging_periods: tuple[ChargingPeriod, ...]
    lines: tuple[CostLine, ...]
    total_energy: Decimal
    total_time: Decimal
    """Hours charging (OCPI's total_time counts the whole session; see `total_session_time`)."""
    total_parking_time: Decimal
    total_energy_cost: Price
    total_time_cost: Price
    total_parking_cost: Price
    total_fixed_cost: Price
    subtotal: Price
    """Sum of the lines, before min_price / max_price."""
    total_cost: Price
    price_limit: str | None
    """"min_price" or "max_price" when one of them changed the total."""
    vat_date: date

    @property
    def total_session_time(self) -> Decimal:
        return self.total_time + self.total_parking_time

    def vat_breakdown(self) -> dict[Decimal | None, tuple[Money, Money]]:
        """Per VAT rate: (base excl. VAT, VAT amount), from the lines."""
        result: dict[Decimal | None, tuple[Money, Money]] = {}
        zero = Money.zero(self.currency)
        for line in self.lines:
            base, vat = result.get(line.vat_rate, (zero, zero))
            line_vat = line.cost.vat or zero
            result[line.vat_rate] = (base + line.cost.excl_vat, vat + line_vat)
        return result


@dataclass(frozen=True, slots=True)
class _Context:
    local: datetime
    duration_s: Decimal
    kwh: Decimal
    power_kw: Decimal | None
    current_a: Decimal | None


@dataclass(slots=True)
class _Segment:
    start: datetime
    end: datetime
    state: SessionState
    energy_kwh: Decimal
    seconds: Decimal
    power_kw: Decimal | None
    choice: dict[TariffDimensionType, int | None] = field(default_factory=dict)

    def quantity(self, dimension: TariffDimensionType) -> Decimal:
        if dimension is ENERGY:
            return self.energy_kwh
        if dimension is TIME:
            return self.seconds if self.state is SessionState.CHARGING else Decimal(0)
        return self.seconds if self.state is SessionState.PARKING else Decimal(0)


class KeptSegments:
    """The segments of a growing session's last pricing, kept for its next one.

    A segment's price depends only on what happened up to its end: the readings around it, the
    parking it lies in, the clock, and the energy and time since the start. So when a session
    grows by readings after its latest one, the segments up to that reading are the ones it had,
    and `price_session(kept=...)` makes only the new ones (a running cost asked with every meter
    message: the segments were two thirds of its pricing, docs/benchmarks.md). Anything else (a
    reading in the past, another start, parking that changed before the old end, another tariff
    or zone) prices the whole session again. One per session; a pricing may run in a thread."""

    def __init__(self) -> None:
        self._last: tuple[Tariff, tzinfo, SessionTimeline, _Priced] | None = None

    def _prefix(self, tariff: Tariff, zone: tzinfo, timeline: SessionTimeline) -> tuple[datetime, _Priced] | None:
        """Where the kept segments end and what was made of them, when `timeline` only grew
        past them."""
        if self._last is None:
            return None
        kept_tariff, kept_zone, old, priced = self._last
        if kept_tariff is not tariff or kept_zone != zone or old.start != timeline.start:
            return None
        if not old.meter or old.end != old.meter[-1].at or old.end <= old.start or timeline.end < old.end:
            return None  # the old end must be a reading's instant, hence a cut of the new timeline
        n = len(old.meter)
        if len(timeline.meter) < n or (len(timeline.meter) > n and timeline.meter[n].at <= old.end):
            return None
        if old.meter != timeline.meter[:n]:  # (a tuple's comparison: the same points, mostly)
            return None
        clipped = tuple((a, min(b, old.end)) for a, b in timeline.parking if a < old.end)
        if clipped != old.parking:
            return None
        return old.end, priced

    def _keep(self, tariff: Tariff, zone: tzinfo, timeline: SessionTimeline, priced: _Priced) -> None:
        self._last = (tariff, zone, timeline, priced)


@dataclass(slots=True)
class _Tally:
    """One metered dimension's quantities over a session's segments so far, as `_metered_lines`
    bills them: each element's measured and billed amounts, and the run (a stretch priced
    without interruption, rounded up to its element's step as a whole) still open at the end."""

    measured: dict[int, Decimal] = field(default_factory=dict)
    billed: dict[int, Decimal] = field(default_factory=dict)
    run_total: Decimal = Decimal(0)
    run_last: int | None = None  # the element of the open run's last segment; None: no run open

    def copy(self) -> _Tally:
        return _Tally(dict(self.measured), dict(self.billed), self.run_total, self.run_last)

    def add(self, dimension: TariffDimensionType, segments: Iterable[_Segment], tariff: Tariff) -> None:
        for segment in segments:
            quantity = segment.quantity(dimension)
            if quantity <= 0:
                continue
            index = segment.choice[dimension]
            if index is None:
                self._close(dimension, tariff)
                continue
            self.measured[index] = self.measured.get(index, Decimal(0)) + quantity
            self.billed[index] = self.billed.get(index, Decimal(0)) + quantity
            self.run_total += quantity
            self.run_last = index

    def _close(self, dimension: TariffDimensionType, tariff: Tariff) -> None:
        if self.run_last is None:
            return
        component = tariff.elements[self.run_last].component(dimension)
        assert component is not None
        self.billed[self.run_last] += _round_up(self.run_total, dimension, component.step_size) - self.run_total
        self.run_total, self.run_last = Decimal(0), None

    def closed(self, dimension: TariffDimensionType, tariff: Tariff) -> _Tally:
        """The tally with its open run closed (this one left as it is)."""
        done = self.copy()
        done._close(dimension, tariff)
        return done


@dataclass(slots=True)
class _Group:
    """Consecutive segments of one period (`_period_key`): what its ChargingPeriod is made of."""

    key: tuple[SessionState, tuple]
    start: datetime
    end: datetime
    seconds: Decimal
    energy: Decimal
    powers: list[Decimal]  # the power of each reading in it, and of the latest one at or before its start
    upto: int  # the index of the first meter point not yet looked at for `powers`


@dataclass(slots=True)
class _Priced:
    """What a pricing made of its segments, kept to go on from (`KeptSegments`)."""

    segments: list[_Segment]
    tallies: dict[TariffDimensionType, _Tally]
    periods: list[ChargingPeriod]  # of the groups before the last
    group: _Group | None  # the last

    def copy(self) -> _Priced:
        """A copy to go on from: what goes on changes (one session may be priced twice at once)."""
        group = self.group
        if group is not None:
            group = _Group(group.key, group.start, group.end, group.seconds, group.energy, list(group.powers),
                           group.upto)
        return _Priced(list(self.segments), {d: t.copy() for d, t in self.tallies.items()}, list(self.periods), group)


def price_session(
    tariff: Tariff,
    time_zone: str | tzinfo,
    timeline: SessionTimeline,
    *,
    vat_date: date | None = None,
    vat_table: VatTable | None = None,
    flat: bool = True,
    kept: KeptSegments | None = None,
) -> PricedSession:
    """Price a session with `tariff` at a site in `time_zone` (IANA name or tzinfo). `flat`
    False: no session fee (the part of a session after a tariff switch; the fee was the first
    tariff's). `kept`: the same session's segments from its last pricing (see `KeptSegments`);
    the price is the same with or without."""
    zone = ZoneInfo(time_zone) if isinstance(time_zone, str) else time_zone
    if not tariff.is_valid_at(timeline.start):
        raise PricingError(
            f"tariff {tariff.id} is not valid at the session start {timeline.start.isoformat()}"
        )
    prefix = kept._prefix(tariff, zone, timeline) if kept is not None else None
    priced = prefix[1].copy() if prefix is not None else _Priced([], {d: _Tally() for d in _METERED}, [], None)
    reused = len(priced.segments)
    priced.segments += _segments(tariff, zone, timeline, prefix[0] if prefix is not None else None)
    new = priced.segments[reused:]
    for dimension, tally in priced.tallies.items():
        tally.add(dimension, new, tariff)
    priced.group = _group(tariff, new, timeline, priced.periods, priced.group)
    if kept is not None:
        kept._keep(tariff, zone, timeline, priced)
    flat_index = _flat_element(tariff, zone, timeline)
    vat_day = vat_date or timeline.end.astimezone(zone).date()
    rates = _VatResolver(tariff, vat_day, vat_table or load_vat_table())
    lines = _metered_lines(tariff, priced.tallies, rates)
    if flat_index is not None and flat:
        component = tariff.elements[flat_index].component(FLAT)
        assert component is not None
        lines.append(_line(tariff, FLAT, flat_index, component, Decimal(1), Decimal(1), rates))
    periods = (*priced.periods, *((_period(tariff, priced.group),) if priced.group is not None else ()))
    return _totals(tariff, timeline, periods, lines, vat_day)


def estimate(
    tariff: Tariff,
    kwh: Decimal | int | str,
    minutes: Decimal | int | str,
    start_local: datetime,
    *,
    parking_minutes: Decimal | int | str = 0,
    time_zone: str | tzinfo | None = None,
    vat_date: date | None = None,
    vat_table: VatTable | None = None,
) -> PricedSession:
    """The price of charging `kwh` at constant power for `minutes` from `start_local`, then
    parking for `parking_minutes`: a synthetic timeline through `price_session`.

    `start_local` is an aware datetime (its zone is the site's unless `time_zone` is given).
    """
    energy = to_decimal(kwh, "kwh")
    charge_minutes = to_decimal(minutes, "minutes")
    idle_minutes = to_decimal(parking_minutes, "parking_minutes")
    if energy < 0 or charge_minutes < 0 or idle_minutes < 0:
        raise PricingError("an estimate needs non-negative energy and durations")
    if energy > 0 and charge_minutes == 0:
        raise PricingError(f"{energy} kWh cannot be delivered in 0 minutes")
    zone = time_zone or start_local.tzinfo
    if zone is None:
        raise PricingError("start_local is naive: give it a time zone or pass time_zone")
    zone = ZoneInfo(zone) if isinstance(zone, str) else zone
    start = start_local if start_local.tzinfo else start_local.replace(tzinfo=zone)
    charge_end = start + timedelta(seconds=float(charge_minutes * 60))
    end = charge_end + timedelta(seconds=float(idle_minutes * 60))
    power = energy * 60 / charge_minutes if charge_minutes else Decimal(0)
    meter = [MeterPoint(start, Decimal(0), power), MeterPoint(charge_end, energy, Decimal(0))]
    parking = ((charge_end, end),) if end > charge_end else ()
    timeline = SessionTimeline(start, end, tuple(meter), parking)
    return price_session(tariff, zone, timeline, vat_date=vat_date, vat_table=vat_table)


# --- segments and restrictions -------------------------------------------------------------


def _segments(
    tariff: Tariff, zone: tzinfo, timeline: SessionTimeline, since: datetime | None = None,
) -> list[_Segment]:
    """The segments from `since` (the end of segments kept, none: the start) to the end."""
    segments: list[_Segment] = []
    if since is not None and since == timeline.end:
        instants = []  # nothing happened after the kept segments
    else:
        since = since or timeline.start
        cuts = sorted({t for t in _breakpoints(tariff, zone, timeline, since) if since < t < timeline.end})
        instants = [since, *cuts, timeline.end]
    start_energy = timeline.energy_at(timeline.start)
    for begin, finish in zip(instants, instants[1:]):
        middle = begin + (finish - begin) / 2
        energy = timeline.energy_at(finish) - timeline.energy_at(begin)
        seconds = _seconds(finish - begin)
        reading = timeline.reading_at(middle)
        power = reading.power_kw if reading is not None else None
        if power is None and seconds > 0:
            power = energy * _HOUR / seconds
        context = _Context(
            local=middle.astimezone(zone),
            duration_s=_seconds(middle - timeline.start),
            kwh=timeline.energy_at(middle) - start_energy,
            power_kw=power,
            current_a=reading.current_a if reading is not None else None,
        )
        segment = _Segment(begin, finish, timeline.state_at(middle), energy, seconds, power)
        for dimension in _METERED:
            segment.choice[dimension] = _first_match(tariff.elements, dimension, context)
        segments.append(segment)
    return segments


def _breakpoints(tariff: Tariff, zone: tzinfo, timeline: SessionTimeline, since: datetime) -> Iterable[datetime]:
    """Where a segment may end: the instants after `since` (and others) at which a reading, a
    parking interval, the clock or the session's duration or energy can change the price."""
    meter = timeline.meter
    yield from (p.at for p in meter[bisect.bisect_right(meter, since, key=_at):])
    for begin, finish in timeline.parking:
        yield begin
        yield finish
    restrictions = [e.restrictions for e in tariff.elements if e.restrictions is not None]
    times_of_day = {time(0, 0)}
    for r in restrictions:
        times_of_day.update(t for t in (r.start_time, r.end_time) if t is not None)
    day = max(timeline.start, since).astimezone(zone).date()
    last_day = timeline.end.astimezone(zone).date()
    while day <= last_day:
        for moment in times_of_day:
            yield datetime.combine(day, moment, tzinfo=zone)
        day += timedelta(days=1)
    start_energy = timeline.energy_at(timeline.start)
    for r in restrictions:
        for seconds in (r.min_duration, r.max_duration):
            if seconds is not None:
                yield timeline.start + timedelta(seconds=seconds)
        for kwh in (r.min_kwh, r.max_kwh):
            if kwh is not None:
                crossing = _crossing(timeline, start_energy + kwh)
                if crossing is not None:
                    yield crossing


def _crossing(timeline: SessionTimeline, register: Decimal) -> datetime | None:
    """The instant the interpolated register reaches `register` kWh, if it does (the register
    never runs backwards: `SessionTimeline` checks)."""
    meter = timeline.meter
    index = bisect.bisect_left(meter, register, key=_energy)  # the first reading at or above it
    if index == 0 or index == len(meter):
        return None
    before, after = meter[index - 1], meter[index]
    share = (register - before.energy_kwh) / (after.energy_kwh - before.energy_kwh)
    return before.at + (after.at - before.at) * float(share)


def _first_match(
    elements: Sequence[TariffElement], dimension: TariffDimensionType, context: _Context
) -> int | None:
    for index, element in enumerate(elements):
        if element.is_reservation or element.component(dimension) is None:
            continue
        if element.restrictions is None or _matches(element.restrictions, context):
            return index
    return None


def _matches(r: TariffRestrictions, c: _Context) -> bool:
    clock = c.local.time()
    if r.start_time is not None and r.end_time is not None:
        if r.start_time < r.end_time:
            if not (r.start_time <= clock < r.end_time):
                return False
        elif not (clock >= r.start_time or clock < r.end_time):
            return False
    elif r.start_time is not None and clock < r.start_time:
        return False
    elif r.end_time is not None and clock >= r.end_time:
        return False
    day = c.local.date()
    if r.start_date is not None and day < r.start_date:
        return False
    if r.end_date is not None and day >= r.end_date:
        return False
    if r.day_of_week is not None and DayOfWeek.of(day) not in r.day_of_week:
        return False
    return (
        _within(c.kwh, r.min_kwh, r.max_kwh)
        and _within(c.duration_s, r.min_duration, r.max_duration)
        and _within(c.power_kw, r.min_power, r.max_power)
        and _within(c.current_a, r.min_current, r.max_current)
    )


def _within(value: Decimal | None, low: Decimal | int | None, high: Decimal | int | None) -> bool:
    """low <= value < high; an unknown value never satisfies a bound on it."""
    if low is None and high is None:
        return True
    if value is None:
        return False
    return (low is None or value >= low) and (high is None or value < high)


def _flat_element(tariff: Tariff, zone: tzinfo, timeline: SessionTimeline) -> int | None:
    reading = timeline.reading_at(timeline.start)
    context = _Context(
        local=timeline.start.astimezone(zone),
        duration_s=Decimal(0),
        kwh=Decimal(0),
        power_kw=reading.power_kw if reading else None,
        current_a=reading.current_a if reading else None,
    )
    return _first_match(tariff.elements, FLAT, context)


# --- costs ----------------------------------------------------------------------------------


class _VatResolver:
    def __init__(self, tariff: Tariff, day: date, table: VatTable) -> None:
        self.tariff, self.day, self.table = tariff, day, table

    def rate(self, component: PriceComponent) -> Decimal | None:
        if component.vat is STATUTORY:
            assert self.tariff.country_code is not None
            return self.table.rate(self.tariff.country_code, self.day)
        return component.vat  # type: ignore[return-value]


def _metered_lines(tariff: Tariff, tallies: dict[TariffDimensionType, _Tally], rates: _VatResolver) -> list[CostLine]:
    lines: list[CostLine] = []
    for dimension in _METERED:
        tally = tallies[dimension].closed(dimension, tariff)
        for index in sorted(tally.measured):
            component = tariff.elements[index].component(dimension)
            assert component is not None
            lines.append(
                _line(tariff, dimension, index, component, tally.measured[index], tally.billed[index], rates)
            )
    return lines


def _round_up(total: Decimal, dimension: TariffDimensionType, step_size: int) -> Decimal:
    """`total` (kWh or seconds) rounded up to whole steps (Wh or seconds)."""
    if step_size <= 0 or total <= 0:
        return total
    base = total * _KWH if dimension is ENERGY else total
    steps = (base / step_size).to_integral_value(rounding=ROUND_CEILING)
    rounded = steps * step_size
    return rounded / _KWH if dimension is ENERGY else rounded


def _line(
    tariff: Tariff,
    dimension: TariffDimensionType,
    index: int,
    component: PriceComponent,
    measured: Decimal,
    billed: Decimal,
    rates: _VatResolver,
) -> CostLine:
    per_unit = billed / _HOUR if dimension in (TIME, PARKING_TIME) else billed
    raw = per_unit * component.price
    rate = rates.rate(component)
    return CostLine(
        dimension=dimension,
        element_index=index,
        unit_price=component.price,
        vat_included=tariff.vat_included,
        vat_rate=rate,
        measured=measured,
        billed=billed,
        step_size=component.step_size,
        cost=split_vat(Money(raw, tariff.currency), rate, tariff.vat_included),
    )


def split_vat(amount: Money, rate: Decimal | None, includes_vat: bool) -> Price:
    """Round `amount` to the minor unit and split it into excl./incl. VAT at `rate` percent.

    With `includes_vat` the amount is the gross price and the VAT is taken out of it (the
    driver pays exactly the rounded gross amount); otherwise VAT is added on top.
    """
    rounded = amount.round_to_minor()
    if rate is None:
        return Price(rounded, rounded)
    if includes_vat:
        vat = (rounded * (rate / (100 + rate))).round_to_minor()
        return Price(rounded - vat, rounded)
    vat = (rounded * (rate / 100)).round_to_minor()
    return Price(rounded, rounded + vat)


# --- periods and totals ---------------------------------------------------------------------


def _group(
    tariff: Tariff, segments: Iterable[_Segment], timeline: SessionTimeline, periods: list[ChargingPeriod],
    group: _Group | None,
) -> _Group | None:
    """Go on grouping: each of `segments` joins the last group, or starts one when its period
    differs (the last group's period then goes to `periods`); the last group after them."""
    for segment in segments:
        if segment.seconds <= 0:
            continue
        key = _period_key(segment)
        if group is not None and key == group.key:
            group.end = segment.end
            group.seconds += segment.seconds
            group.energy += segment.energy_kwh
            continue
        if group is not None:
            _powers_upto(group, timeline)
            periods.append(_period(tariff, group))
        first = timeline.reading_at(segment.start)  # (counted twice when it is in the group: the same bounds)
        group = _Group(key, segment.start, segment.end, Decimal(0) + segment.seconds, Decimal(0) + segment.energy_kwh,
                       [first.power_kw] if first is not None and first.power_kw is not None else [],
                       bisect.bisect_left(timeline.meter, segment.start, key=_at))
    if group is not None:
        _powers_upto(group, timeline)
    return group


def _powers_upto(group: _Group, timeline: SessionTimeline) -> None:
    """The powers of the group's readings (those from its start until before its end) not yet
    taken."""
    meter = timeline.meter
    while group.upto < len(meter) and meter[group.upto].at < group.end:
        if (power := meter[group.upto].power_kw) is not None:
            group.powers.append(power)
        group.upto += 1


def _period(tariff: Tariff, group: _Group) -> ChargingPeriod:
    """The group's ChargingPeriod (its powers taken up to its end: `_powers_upto`)."""
    state = group.key[0]
    dimensions = [CdrDimension("ENERGY", group.energy)]
    time_kind = "TIME" if state is SessionState.CHARGING else "PARKING_TIME"
    dimensions.append(CdrDimension(time_kind, group.seconds / _HOUR))
    if group.powers:
        dimensions.append(CdrDimension("MAX_POWER", max(group.powers)))
        dimensions.append(CdrDimension("MIN_POWER", min(group.powers)))
    return ChargingPeriod(
        start_date_time=group.start,
        end_date_time=group.end,
        state=state,
        dimensions=tuple(dimensions),
        tariff_id=tariff.id,
        elements=tuple(group.key[1]),
    )


def _period_key(segment: _Segment) -> tuple[SessionState, tuple]:
    relevant = (ENERGY, TIME) if segment.state is SessionState.CHARGING else (ENERGY, PARKING_TIME)
    return segment.state, tuple((d, segment.choice[d]) for d in relevant)


def _totals(
    tariff: Tariff,
    timeline: SessionTimeline,
    periods: tuple[ChargingPeriod, ...],
    lines: list[CostLine],
    vat_day: date,
) -> PricedSession:
    zero = Price.zero(tariff.currency)

    def cost_of(*dimensions: TariffDimensionType) -> Price:
        return sum((line.cost for line in lines if line.dimension in dimensions), zero)

    subtotal = sum((line.cost for line in lines), zero)
    total, limit = _apply_limits(tariff, subtotal)
    return PricedSession(
        tariff_id=tariff.id,
        currency=tariff.currency,
        start=timeline.start,
        end=timeline.end,
        charging_periods=periods,
        lines=tuple(lines),
        total_energy=timeline.energy_at(timeline.end) - timeline.energy_at(timeline.start),
        total_time=sum((p.volume("TIME") for p in periods), Decimal(0)),
        total_parking_time=sum((p.volume("PARKING_TIME") for p in periods), Decimal(0)),
        total_energy_cost=cost_of(ENERGY),
        total_time_cost=cost_of(TIME),
        total_parking_cost=cost_of(PARKING_TIME),
        total_fixed_cost=cost_of(FLAT),
        subtotal=subtotal,
        total_cost=total,
        price_limit=limit,
        vat_date=vat_day,
    )


def _apply_limits(tariff: Tariff, subtotal: Price) -> tuple[Price, str | None]:
    """OCPI min_price / max_price: both the excl. and the incl. VAT totals are bounded.

    A bound without incl_vat is carried to the incl. VAT total at the session's own ratio of
    incl. to excl. VAT (1 when the session cost nothing).
    """
    excl, incl = subtotal.excl_vat, subtotal.incl_vat
    assert incl is not None
    ratio = incl.amount / excl.amount if excl.amount > 0 else Decimal(1)
    limit = None
    for name, bound, wanted in (
        ("min_price", tariff.min_price, lambda value, b: value < b),
        ("max_price", tariff.max_price, lambda value, b: value > b),
    ):
        if bound is None:
            continue
        bound_incl = bound.incl_vat or (bound.excl_vat * ratio).round_to_minor()
        if wanted(excl, bound.excl_vat):
            excl, limit = bound.excl_vat, name
        if wanted(incl, bound_incl):
            incl, limit = bound_incl, name
    return Price(excl, incl), limit


def _seconds(delta: timedelta) -> Decimal:
    return Decimal(delta.days * 86400 + delta.seconds) + Decimal(delta.microseconds) / 10**6


# --- unit prices for displays ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UnitPrices:
    """The unit prices in force at one instant of a session, incl. VAT: what a charger's
    display shows next to the running cost. None where the dimension is free then."""

    currency: str
    per_kwh: Decimal | None
    per_hour: Decimal | None
    parking_per_hour: Decimal | None
    flat: Decimal | None
    cap_per_kwh: Decimal | None = None
    """A regulated cap on the session's price per kWh incl. VAT at this site, when one binds."""


def unit_prices(
    tariff: Tariff,
    time_zone: str | tzinfo,
    timeline: SessionTimeline,
    moment: datetime | None = None,
    *,
    vat_table: VatTable | None = None,
) -> UnitPrices:
    """Which element prices each dimension at `moment` (default: the timeline's end), judged by
    the same restrictions as `price_session`, with its price converted to incl. VAT."""
    zone = ZoneInfo(time_zone) if isinstance(time_zone, str) else time_zone
    moment = moment or timeline.end
    reading = timeline.reading_at(moment)
    context = _Context(
        local=moment.astimezone(zone),
        duration_s=_seconds(moment - timeline.start),
        kwh=timeline.energy_at(moment) - timeline.energy_at(timeline.start),
        power_kw=reading.power_kw if reading else None,
        current_a=reading.current_a if reading else None,
    )
    rates = _VatResolver(tariff, moment.astimezone(zone).date(), vat_table or load_vat_table())

    def gross(dimension: TariffDimensionType, index: int | None) -> Decimal | None:
        if index is None:
            return None
        component = tariff.elements[index].component(dimension)
        assert component is not None
        rate = rates.rate(component)
        if tariff.vat_included or rate is None:
            return component.price
        return component.price * (100 + rate) / 100

    return UnitPrices(
        currency=tariff.currency,
        per_kwh=gross(ENERGY, _first_match(tariff.elements, ENERGY, context)),
        per_hour=gross(TIME, _first_match(tariff.elements, TIME, context)),
        parking_per_hour=gross(PARKING_TIME, _first_match(tariff.elements, PARKING_TIME, context)),
        flat=gross(FLAT, _flat_element(tariff, zone, timeline)),
    )


def price_text(prices: UnitPrices) -> str:
    """One line for a charger's display, e.g. "92.80 KZT/kWh, 232.00 KZT per session,
    parking 696.00 KZT/h (incl. VAT)", with "; the session at most 100.00 KZT/kWh" where a
    regulated cap binds. Unit prices keep their own precision beyond the minor unit."""
    places = minor_units(prices.currency)

    def amount(value: Decimal) -> str:
        shown = value.quantize(Decimal(1).scaleb(-places)) if value == value.quantize(
            Decimal(1).scaleb(-places)) else value.normalize()
        return f"{shown:f} {prices.currency}"

    parts = []
    if prices.per_kwh is not None:
        parts.append(f"{amount(prices.per_kwh)}/kWh")
    if prices.per_hour is not None:
        parts.append(f"{amount(prices.per_hour)}/h charging")
    if prices.flat is not None:
        parts.append(f"{amount(prices.flat)} per session")
    if prices.parking_per_hour is not None:
        parts.append(f"parking {amount(prices.parking_per_hour)}/h")
    text = (", ".join(parts) + " (incl. VAT)") if parts else "free of charge"
    if parts and prices.cap_per_kwh is not None:
        scope = "charging" if prices.parking_per_hour is not None else "the session"
        text += f"; {scope} at most {amount(prices.cap_per_kwh)}/kWh"
    return text


# --- reservations ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PricedReservation:
    tariff_id: str
    lines: tuple[CostLine, ...]
    total_cost: Price
    expired: bool
    vat_date: date


def price_reservation(
    tariff: Tariff,
    reserved_from: datetime,
    reserved_until: datetime,
    *,
    expired: bool,
    time_zone: str | tzinfo,
    vat_table: VatTable | None = None,
) -> PricedReservation:
    """Reservation costs (OCPI reservation restrictions).

    Used: the FLAT and TIME components of the first RESERVATION element, for the time from
    the reservation until charging started. Expired (no-show): additionally the FLAT of the
    first RESERVATION_EXPIRES element, and its TIME price replaces the RESERVATION one when
    it has one, for the whole reserved time. TIME is rounded by its step_size.
    """
    zone = ZoneInfo(time_zone) if isinstance(time_zone, str) else time_zone
    if reserved_until < reserved_from:
        raise PricingError("a reservation cannot end before it starts")
    rates = _VatResolver(
        tariff, reserved_until.astimezone(zone).date(), vat_table or load_vat_table()
    )
    made = _reservation_element(tariff, ReservationRestrictionType.RESERVATION)
    lapsed = (
        _reservation_element(tariff, ReservationRestrictionType.RESERVATION_EXPIRES)
        if expired
        else None
    )
    lines = []
    for index in (made, lapsed):
        if index is not None and (flat := tariff.elements[index].component(FLAT)):
            lines.append(_line(tariff, FLAT, index, flat, Decimal(1), Decimal(1), rates))
    time_index = made
    if lapsed is not None and tariff.elements[lapsed].component(TIME) is not None:
        time_index = lapsed
    if time_index is not None and (per_hour := tariff.elements[time_index].component(TIME)):
        seconds = _seconds(reserved_until - reserved_from)
        billed = _round_up(seconds, TIME, per_hour.step_size)
        lines.append(_line(tariff, TIME, time_index, per_hour, seconds, billed, rates))
    total = sum((line.cost for line in lines), Price.zero(tariff.currency))
    return PricedReservation(tariff.id, tuple(lines), total, expired, rates.day)


def _reservation_element(tariff: Tariff, kind: ReservationRestrictionType) -> int | None:
    for index, element in enumerate(tariff.elements):
        if element.restrictions is not None and element.restrictions.reservation is kind:
            return index
    return None
