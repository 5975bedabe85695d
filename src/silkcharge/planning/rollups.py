"""Analytics roll-ups: each station's totals per UTC day, kept in the store, so a range costs
about what its partial days cost (issue 14: a year of analytics held the event loop 4.5 s).

The rule, in full:

- A job (`RollupJob`, every `analytics_rollup_every` seconds, on a worker thread) rolls up
  each finished UTC day, in order, once it is `SETTLE` past: every station's
  `StationTotals` into `analytics_station_days`, then the day into `analytics_days`. It
  starts at the day of the oldest frame in the message log, at most `max_days` back. A day
  starts from the connector statuses the day before ended with, so a fault is carried for as
  long as no status report says otherwise.
- Frames are never changed once written, so a day's presence, faults and refusals stay as
  rolled. Transactions and CDRs may change later (a stop reported from the past, a CDR made
  the next day): each run recounts the sessions part of the days touched by transactions
  changed since its last run (their `updated_at`) and CDRs made since (`created_at`);
  `analytics_days.checked_until` says up to when changes are in.
- A query (`load_range`) reads the rows of the rolled-up whole days in its range, recounts
  the sessions part of those days touched by transactions changed after `checked_until` and
  by running transactions, and reads raw rows only for the rest: the partial days at either
  end and any day not rolled up yet. Its answer is the raw computation's
  (tests/planning/test_rollups.py), except that the raw computation reads statuses from 7
  days before the range and so misses a fault reported earlier, which the roll-ups carry.
- A day's totals keep the station's heartbeat interval and its site's time zone as they were
  when it was rolled up: they decide presence and the hour-of-day buckets.
- Raw rows are read in slices of a day down to an hour (`slice_for`), each starting from the
  statuses the one before ended with, so a day of a large network's frames is never in
  memory at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from functools import partial

from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from silkcharge.domain.clock import utcnow
from silkcharge.planning.analytics import (
    FAULTED,
    CdrRow,
    FrameRow,
    Key,
    Occupied,
    RangeTotals,
    SessionRow,
    StationRow,
    StationTotals,
    check_length,
    check_range,
    combine,
    empty_totals,
    faulted_periods,
    station_totals,
    status_changes,
    utc,
)
from silkcharge.planning.store import earlier, load_activity, load_stations, load_status_reports
from silkcharge.store.group_commit import is_unavailable
from silkcharge.store.residency import database_scope
from silkcharge.store.schema import (
    AnalyticsDay,
    AnalyticsStationDay,
    ChargeDetailRecord,
    OcppMessage,
    Transaction,
)
from silkcharge.store.workers import Workers

log = logging.getLogger(__name__)

SETTLE = timedelta(minutes=5)
"""How long after its end a day is rolled up: the message log reaches the store in batches."""
CHANGE_OVERLAP = timedelta(minutes=2)
"""How far before `checked_until` changed transactions are looked for: `updated_at` is stamped
before its database transaction commits."""
LOOKBACK = timedelta(days=7)
"""Without the day before rolled up, statuses are read from this long before a span."""
SLICE_FRAMES = 200_000
"""About how many frames one read of raw rows may bring (a few hundred MB at most)..."""
FRAMES_PER_STATION_HOUR = 100
"""...reckoning a station busy: heartbeats, status reports and meter values every minute."""
WRITE_CHUNK = 1000
"""Rows written per database transaction, so SQLite's one writer is never held for long."""
DAY = timedelta(days=1)

Seed = tuple[datetime, Mapping[str, Mapping[Key, str]]] | None
"""Every station's connector statuses as they stood at a time; None: read them from the
`LOOKBACK` before."""


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(), tzinfo=timezone.utc)
    return start, start + DAY


def day_of(moment: datetime) -> date:
    return moment.astimezone(timezone.utc).date()


# ---- answering a range ----------------------------------------------------------------------


async def load_range(sessions: async_sessionmaker, start: datetime, end: datetime, *,
                     default_heartbeat: int, grace_seconds: int, max_days: int,
                     as_of: datetime | None = None) -> RangeTotals:
    """Every station's totals over ``[start, end)``: rolled-up days from their rows, the rest
    from raw rows (see the module). Ranges longer than ``max_days`` are refused."""
    as_of = as_of or utcnow()
    check_range(start, end, as_of)
    check_length(start, end, max_days)
    start, end = utc(start), utc(end)
    observed_end = min(end, as_of)
    async with sessions() as session:
        stations = await load_stations(session, default_heartbeat)
        checked = await _rolled(session, day_of(start) - DAY, day_of(observed_end))
        segments = _segments(start, observed_end, set(checked))
        whole_days = [day_of(a) for a, _, rolled in segments if rolled]
        seed_days = [day_of(a) - DAY for a, _, rolled in segments
                     if not rolled and day_of(a) - DAY in checked]
        rows = await _read_rows(session, whole_days + seed_days)
        raw: dict[int, dict[str, StationTotals]] = {}
        for n, (a, b, rolled) in enumerate(segments):
            if not rolled:
                prior = day_of(a) - DAY
                seed = (day_bounds(day_of(a))[0], _statuses(rows, prior)) if prior in checked else None
                raw[n] = await span_totals(session, stations, a, b, seed,
                                           as_of=as_of, grace_seconds=grace_seconds)
        if whole_days:
            since = min(checked[d] for d in whole_days) - CHANGE_OVERLAP
            touched = await _touched(session, since, whole_days, running=True)
            for key, fresh in (await _recount(session, stations, touched, as_of, grace_seconds)).items():
                rows[key] = _with_sessions(rows.get(key) or empty_totals(*day_bounds(key[1])), fresh)
    totals = {}
    for station in stations:
        spans = [rows.get((station.station_id, day_of(a))) or empty_totals(a, b) if rolled
                 else raw[n][station.station_id] for n, (a, b, rolled) in enumerate(segments)]
        totals[station.station_id] = combine(spans)
    return RangeTotals(start, end, as_of, stations, totals)


async def load_days(sessions: async_sessionmaker, first: date, last: date, *, default_heartbeat: int,
                    grace_seconds: int, as_of: datetime | None = None) -> list[RangeTotals]:
    """Every station's totals for each UTC day from ``first`` to ``last`` (both included) that
    has begun by ``as_of``: the roll-up's own days, so a finished day is its rows and only
    today is read raw."""
    as_of = as_of or utcnow()
    out = []
    day = first
    while day <= last and day_bounds(day)[0] < as_of:
        start, end = day_bounds(day)
        out.append(await load_range(sessions, start, end, default_heartbeat=default_heartbeat,
                                    grace_seconds=grace_seconds, max_days=1, as_of=as_of))
        day += DAY
    return out


def _segments(start: datetime, end: datetime, rolled: set[date]) -> list[tuple[datetime, datetime, bool]]:
    """``[start, end)`` cut into whole rolled-up days and, between them, spans of raw rows."""
    out: list[tuple[datetime, datetime, bool]] = []
    t = start
    while t < end:
        day_start, day_end = day_bounds(day_of(t))
        whole = t == day_start and day_end <= end and day_of(t) in rolled
        stop = day_end if whole else min(day_end, end)
        if not whole and out and not out[-1][2]:
            out[-1] = (out[-1][0], stop, False)
        else:
            out.append((t, stop, whole))
        t = stop
    return out


async def span_totals(session: AsyncSession, stations: Sequence[StationRow], start: datetime,
                      end: datetime, seed: Seed, *, as_of: datetime, grace_seconds: int,
                      ) -> dict[str, StationTotals]:
    """Every station's totals over ``[start, end)`` from raw rows, a slice at a time. A seed
    from before ``start`` is first brought up to it with the status reports in between."""
    if seed is not None and seed[0] < start:
        seed = await _advance(session, stations, seed, start)
    window = min(LOOKBACK, timedelta(seconds=max((s.heartbeat_interval for s in stations), default=0)
                                     + grace_seconds))
    pieces: dict[str, list[StationTotals]] = defaultdict(list)
    step = slice_for(len(stations))
    a = start
    while a < end:
        b = min(end, a + step)
        frames_from = a - window if seed is not None else earlier(a, LOOKBACK)
        found = await load_activity(session, a, b, frames_from=frames_from)
        sessions, frames = _by_station(found["sessions"]), _by_station(found["frames"])
        cdrs = {c.transaction_id: c for c in found["cdrs"]}
        for station in stations:
            sid = station.station_id
            before = seed[1].get(sid, {}) if seed is not None else None
            pieces[sid].append(_slice_totals(
                station, a, b, as_of, grace_seconds, sessions.get(sid, ()), cdrs, frames.get(sid, ()),
                (seed[0], before) if seed is not None else None))
        seed = (b, {sid: spans[-1].statuses for sid, spans in pieces.items()})
        a = b
    return {sid: combine(spans) for sid, spans in pieces.items()}


def slice_for(stations: int) -> timedelta:
    """How much time one read of raw rows covers: a day for a small network, down to an hour."""
    hours = SLICE_FRAMES // max(1, stations * FRAMES_PER_STATION_HOUR)
    return timedelta(hours=min(24, max(1, hours)))


async def _advance(session: AsyncSession, stations: Sequence[StationRow],
                   seed: tuple[datetime, Mapping[str, Mapping[Key, str]]], until: datetime,
                   ) -> tuple[datetime, dict[str, Mapping[Key, str]]]:
    """The statuses at ``until``: the seed's, changed by the status reports received since."""
    since, before = seed
    reports = _by_station(await load_status_reports(session, since, until))
    statuses = {}
    for station in stations:
        sid = station.station_id
        outlets = frozenset((c.evse_id, c.connector_id) for c in station.connectors)
        statuses[sid] = faulted_periods(status_changes(reports.get(sid, ())), until, outlets,
                                        since=since, statuses=before.get(sid, {}))[2]
    return until, statuses


def _slice_totals(station: StationRow, start: datetime, end: datetime, as_of: datetime,
                  grace_seconds: int, sessions: Sequence[SessionRow], cdrs: Mapping[int, CdrRow],
                  frames: Sequence[FrameRow], statuses: tuple[datetime, Mapping[Key, str]] | None,
                  ) -> StationTotals:
    if not sessions and not frames and statuses is not None and FAULTED not in statuses[1].values():
        return empty_totals(start, end, statuses[1])  # nothing heard, nothing faulted: the common case
    return station_totals(station, start, end, as_of=as_of, grace_seconds=grace_seconds,
                          sessions=sessions, cdrs=cdrs, frames=frames, statuses=statuses)


def _by_station(rows: Iterable) -> dict[str, list]:
    out: dict[str, list] = defaultdict(list)
    for row in rows:
        out[row.station_id].append(row)
    return out


# ---- changes after a day was rolled up -------------------------------------------------------


async def _touched(session: AsyncSession, since: datetime, days: Sequence[date], *,
                   running: bool) -> dict[str, set[date]]:
    """The rolled-up days among ``days`` whose sessions part a change after ``since`` may have
    changed, per station: from the start of a changed (or, with ``running``, a running)
    transaction on (its end may have moved), and the day a transaction with a new CDR started."""
    first, last = day_bounds(min(days))[0], day_bounds(max(days))[1]
    changed = Transaction.updated_at > since
    if running:
        changed = or_(changed, Transaction.state == "Active")
    txs = await session.execute(select(Transaction.station_id, Transaction.started_at)
                                .where(changed, Transaction.started_at < last))
    priced = await session.execute(
        select(Transaction.station_id, Transaction.started_at)
        .join(ChargeDetailRecord, ChargeDetailRecord.transaction_id == Transaction.id)
        .where(ChargeDetailRecord.created_at > since, Transaction.started_at >= first,
               Transaction.started_at < last))
    touched: dict[str, set[date]] = defaultdict(set)
    for station_id, started_at in txs:
        touched[station_id].update(d for d in days if d >= day_of(started_at))
    for station_id, started_at in priced:
        if day_of(started_at) in days:
            touched[station_id].add(day_of(started_at))
    return {sid: found for sid, found in touched.items() if found}


async def _recount(session: AsyncSession, stations: Sequence[StationRow] | Mapping[str, StationRow],
                   touched: Mapping[str, set[date]], as_of: datetime, grace_seconds: int,
                   ) -> dict[tuple[str, date], StationTotals]:
    """The sessions part of each touched station and day, from its transactions and CDRs."""
    known = stations if isinstance(stations, Mapping) else {s.station_id: s for s in stations}
    by_first: dict[date, list[str]] = defaultdict(list)
    for sid, days in touched.items():
        if sid in known:
            by_first[min(days)].append(sid)
    out = {}
    for first, sids in by_first.items():
        last = max(max(touched[sid]) for sid in sids)
        found = await load_activity(session, day_bounds(first)[0], day_bounds(last)[1], station_ids=sids)
        sessions = _by_station(found["sessions"])
        cdrs = {c.transaction_id: c for c in found["cdrs"]}
        for sid in sids:
            for day in touched[sid]:
                out[(sid, day)] = station_totals(known[sid], *day_bounds(day), as_of=as_of,
                                                 grace_seconds=grace_seconds,
                                                 sessions=sessions.get(sid, ()), cdrs=cdrs)
    return out


def _with_sessions(totals: StationTotals, fresh: StationTotals) -> StationTotals:
    return replace(totals, sessions=fresh.sessions, energy_wh=fresh.energy_wh,
                   short_sessions=fresh.short_sessions, revenue=fresh.revenue, occupied=fresh.occupied)


# ---- the job ----------------------------------------------------------------------------------


class RollupJob:
    """Rolls up finished days and folds in later changes (see the module), on a worker thread."""

    def __init__(self, workers: Workers, *, every: float, default_heartbeat: int,
                 grace_seconds: int, max_days: int) -> None:
        self._workers = workers
        self._every = every
        self._options = {"default_heartbeat": default_heartbeat, "grace_seconds": grace_seconds}
        self._max_days = max_days
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run_periodically(), name="analytics-rollups")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task], timeout=10)
            self._task = None

    async def _run_periodically(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:
                log.exception("analytics roll-up failed; it runs again in %s s", self._every)
            await asyncio.sleep(self._every)

    async def run_once(self, now: datetime | None = None) -> list[date]:
        """Fold in what changed since the last run, then roll up every finished day not rolled
        up yet, one day per worker job (so other work gets a worker between days). With data
        residency, in each database (its tenants' stations and days are there)."""
        now = now or utcnow()
        rolled: list[date] = []
        for database in self._workers.databases:
            with database_scope(database):
                try:
                    rolled += await self._run_here(now)
                except Exception as error:
                    if database is None or not is_unavailable(error):
                        raise
                    log.warning("analytics roll-up: the database %s is unavailable; next round", database)
        return rolled

    async def _run_here(self, now: datetime) -> list[date]:
        await self._workers.run(partial(recheck, now=now, **self._options), refuse_when_busy=False)
        rolled = []
        while True:
            day = await self._workers.run(partial(next_day, now=now, max_days=self._max_days),
                                          refuse_when_busy=False)
            if day is None:
                return rolled
            await self._workers.run(partial(roll_day, day=day, now=now, **self._options),
                                    refuse_when_busy=False)
            rolled.append(day)


async def next_day(sessions: async_sessionmaker, *, now: datetime, max_days: int) -> date | None:
    """The next day to roll up: the one after the last rolled up, else the oldest frame's (at
    most ``max_days`` back); None when that day has not ended `SETTLE` ago."""
    async with sessions() as session:
        latest = await session.scalar(select(func.max(AnalyticsDay.day)))
        if latest is not None:
            day = latest + DAY
        else:
            oldest = await session.scalar(select(func.min(OcppMessage.at)))
            if oldest is None:
                return None
            day = max(day_of(oldest), day_of(now) - timedelta(days=max_days))
    return day if day_bounds(day)[1] + SETTLE <= now else None


async def roll_day(sessions: async_sessionmaker, *, day: date, now: datetime, default_heartbeat: int,
                   grace_seconds: int) -> None:
    """Every station's totals for ``day`` into the store, then the day marked rolled up."""
    start, end = day_bounds(day)
    async with sessions() as session:
        if await session.get(AnalyticsDay, day) is not None:
            return  # rolled up by another process meanwhile
        stations = await load_stations(session, default_heartbeat)
        before = day - DAY
        seed = (start, _statuses(await _read_rows(session, [before]), before)) \
            if await session.get(AnalyticsDay, before) is not None else None
        totals = await span_totals(session, stations, start, end, seed, as_of=now, grace_seconds=grace_seconds)
    await _replace_rows(sessions, day, [to_row(sid, day, t) for sid, t in totals.items()])
    try:
        async with sessions.begin() as session:
            session.add(AnalyticsDay(day=day, rolled_at=now, checked_until=now))
    except IntegrityError:
        log.info("analytics day %s was rolled up by another process", day)


async def recheck(sessions: async_sessionmaker, *, now: datetime, default_heartbeat: int,
                  grace_seconds: int) -> int:
    """Recount the sessions part of rolled-up days touched by transactions changed and CDRs made
    since the last check, then move every day's `checked_until` to ``now``. Returns how many
    station-days were recounted."""
    async with sessions() as session:
        checked = dict((await session.execute(select(AnalyticsDay.day, AnalyticsDay.checked_until))).all())
        if not checked:
            return 0
        touched = await _touched(session, min(checked.values()) - CHANGE_OVERLAP, sorted(checked),
                                 running=False)
        recounted = {}
        if touched:
            stations = await load_stations(session, default_heartbeat)
            fresh = await _recount(session, stations, touched, now, grace_seconds)
            rows = await _read_rows(session, sorted({day for _, day in fresh}),
                                    station_ids=sorted({sid for sid, _ in fresh}))
            recounted = {key: _with_sessions(rows.get(key) or empty_totals(*day_bounds(key[1])), t)
                         for key, t in fresh.items()}
    by_day: dict[date, dict[str, StationTotals]] = defaultdict(dict)
    for (sid, day), t in recounted.items():
        by_day[day][sid] = t
    for day, totals in by_day.items():
        await _replace_rows(sessions, day, [to_row(sid, day, t) for sid, t in totals.items()])
    async with sessions.begin() as session:
        await session.execute(update(AnalyticsDay).where(AnalyticsDay.checked_until < now)
                              .values(checked_until=now))
    return len(recounted)


# ---- rows ---------------------------------------------------------------------------------------


async def _rolled(session: AsyncSession, first: date, last: date) -> dict[date, datetime]:
    """Rolled-up days from ``first`` to ``last`` (both included), with their `checked_until`."""
    return dict((await session.execute(
        select(AnalyticsDay.day, AnalyticsDay.checked_until)
        .where(AnalyticsDay.day >= first, AnalyticsDay.day <= last))).all())


async def _read_rows(session: AsyncSession, days: Sequence[date],
                     station_ids: Sequence[str] | None = None) -> dict[tuple[str, date], StationTotals]:
    if not days:
        return {}
    query = select(*AnalyticsStationDay.__table__.columns).where(AnalyticsStationDay.day.in_(days))
    if station_ids is not None:
        query = query.where(AnalyticsStationDay.station_id.in_(station_ids))
    return {(row.station_id, row.day): from_row(row) for row in await session.execute(query)}


async def _replace_rows(sessions: async_sessionmaker, day: date, rows: Sequence[dict]) -> None:
    """The rows of ``day`` for these stations, a chunk per database transaction."""
    table = AnalyticsStationDay.__table__
    for n in range(0, len(rows), WRITE_CHUNK):
        chunk = rows[n:n + WRITE_CHUNK]
        async with sessions.begin() as session:
            await session.execute(delete(table).where(
                table.c.day == day, table.c.station_id.in_([row["station_id"] for row in chunk])))
            await session.execute(insert(table), chunk)


def _statuses(rows: Mapping[tuple[str, date], StationTotals], day: date) -> dict[str, Mapping[Key, str]]:
    return {sid: t.statuses for (sid, d), t in rows.items() if d == day}


def _us(span: timedelta) -> int:
    return span // timedelta(microseconds=1)


def _key(text: str) -> Key:
    evse, connector = text.split("/")
    return int(evse), int(connector)


def to_row(station_id: str, day: date, t: StationTotals) -> dict:
    return {
        "station_id": station_id, "day": day, "sessions": t.sessions, "energy_wh": t.energy_wh,
        "short_sessions": t.short_sessions, "refused": t.refused,
        "revenue": {c: [n, str(excl), str(incl)] for c, (n, excl, incl) in t.revenue.items()},
        "occupied": {f"{e}/{c}": [_us(o.total), [_us(h) for h in o.hourly]]
                     for (e, c), o in t.occupied.items()},
        "present_us": _us(t.present), "faulted_us": _us(t.faulted), "available_us": _us(t.available),
        "connector_faulted": {f"{e}/{c}": _us(span) for (e, c), span in t.connector_faulted.items()},
        "down_periods": t.down_periods, "absent_at_start": t.absent_at_start,
        "absent_at_end": t.absent_at_end,
        "statuses": {f"{e}/{c}": status for (e, c), status in t.statuses.items()},
    }


def from_row(row) -> StationTotals:
    us = partial(timedelta, 0, 0)
    return StationTotals(
        *day_bounds(row.day), sessions=row.sessions, energy_wh=row.energy_wh,
        short_sessions=row.short_sessions, refused=row.refused,
        revenue={c: (n, Decimal(excl), Decimal(incl)) for c, (n, excl, incl) in row.revenue.items()},
        occupied={_key(k): Occupied(us(total), tuple(us(h) for h in hourly))
                  for k, (total, hourly) in row.occupied.items()},
        present=us(row.present_us), faulted=us(row.faulted_us), available=us(row.available_us),
        connector_faulted={_key(k): us(v) for k, v in row.connector_faulted.items()},
        down_periods=row.down_periods, absent_at_start=row.absent_at_start,
        absent_at_end=row.absent_at_end,
        statuses={_key(k): status for k, status in row.statuses.items()},
    )
