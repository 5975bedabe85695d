"""Operations analytics: sessions, energy, revenue, utilisation, uptime and failed starts.

Pure functions over plain rows (``OperationsData``), so every number can be checked by hand;
``planning.store.load_operations`` reads the rows from the CSMS store. Definitions (the docs'
"Operations analytics" section says the same, with their limits):

* The *observed range* is ``[start, min(end, as_of))``: time that has not happened yet is
  neither used nor idle.
* A *session* is a transaction started in the range whose idToken was not refused (a refused
  token is a failed start, not a session). Energy and revenue belong to the range the session
  started in; revenue comes from the sessions' CDRs and stays per currency.
* *Utilisation* of a connector: the share of the observed range covered by its transactions
  (overlaps merged, a running transaction counting up to ``as_of``); per hour of day, the same
  share within each hour of the SITE's local clock.
* *Presence* of a station: every inbound frame at ``t`` proves it connected over
  ``[t, t + heartbeat interval + grace]``; uptime is the share of the station's *time in
  service* so covered: the observed range from when the station was registered
  (``StationRow.in_service_from``) on, so a station added an hour ago that was present all
  that hour has 100 %, not the hour's share of the day (a fresh demo read 0.1 %). A station
  not yet registered in the range has no uptime there and is left out of a group's mean.
  *Station-wide faults* come from inbound StatusNotification frames (receipt time): connector
  0 Faulted (OCPP 1.6), or every connector the station reported Faulted. *Available* is
  present and not station-wide faulted.
* *Failed starts*: answers to Authorize, StartTransaction or TransactionEvent whose
  idTagInfo/idTokenInfo status is not Accepted, plus sessions stopped within 2 minutes with
  less than 0.1 kWh. The rate divides by attempts = sessions + refused answers.

Every result is computed from ``StationTotals``: what one station did over a span of time,
in quantities that add up exactly over consecutive spans (durations in whole microseconds,
energy and money as decimals, down periods with whether each end was down, the connectors'
last status carried to the next span). So a range can be answered from per-day totals kept
in the store (``planning.rollups``) plus the raw rows of its partial days, and the answer is
the one the raw rows of the whole range give (tests/planning/test_rollups.py).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

GROUPINGS = ("operator", "city", "corridor", "site", "station")
SHORT_SESSION = timedelta(minutes=2)
SHORT_SESSION_WH = Decimal(100)
FAULTED = "Faulted"
NO_VALUE = "(none)"
AUTH_ACTIONS = ("Authorize", "StartTransaction", "TransactionEvent")
Interval = tuple[datetime, datetime]
Key = tuple[int, int]
"""(EVSE id, connector id)."""
ZERO = timedelta(0)
EARLIEST = datetime(1970, 1, 1, tzinfo=timezone.utc)


class AnalyticsInputError(ValueError):
    """A question the analytics cannot answer as asked: the message says what to change."""


# ---- plain rows ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ConnectorRow:
    evse_id: int
    connector_id: int
    status: str = "Unknown"


@dataclass(frozen=True)
class StationRow:
    station_id: str
    site: str | None
    timezone: str
    operator: str | None = None
    city: str | None = None
    corridor: str | None = None
    online: bool = False
    heartbeat_interval: int = 300
    connectors: tuple[ConnectorRow, ...] = ()
    in_service_from: datetime | None = None
    """When the station was registered: its uptime counts from then on."""


@dataclass(frozen=True)
class SessionRow:
    transaction_id: int
    station_id: str
    evse_id: int
    connector_id: int
    started_at: datetime
    stopped_at: datetime | None = None
    energy_wh: Decimal | None = None
    token_status: str | None = "Accepted"


@dataclass(frozen=True)
class CdrRow:
    transaction_id: int
    currency: str
    total_excl_vat: Decimal
    total_incl_vat: Decimal


@dataclass(frozen=True)
class FrameRow:
    """One logged OCPP frame; ``payload`` is the whole frame text as logged."""

    station_id: str
    at: datetime
    direction: str
    message_type: int
    action: str | None
    payload: str


@dataclass(frozen=True)
class OperationsData:
    start: datetime
    end: datetime
    as_of: datetime
    stations: tuple[StationRow, ...]
    sessions: tuple[SessionRow, ...] = ()
    cdrs: tuple[CdrRow, ...] = ()
    frames: tuple[FrameRow, ...] = ()
    """Frames from ``start - lookback`` to the observed end, so windows carry over the start."""
    grace_seconds: int = 60

    @property
    def observed_end(self) -> datetime:
        return min(self.end, self.as_of)


# ---- results ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConnectorUtilisation:
    station_id: str
    evse_id: int
    connector_id: int
    site: str | None
    timezone: str
    occupied_seconds: float
    share: float
    hourly: tuple[float, ...]
    """24 shares, index = hour of day on the site's clock."""


@dataclass(frozen=True)
class StationUptime:
    station_id: str
    present_share: float
    faulted_share: float
    available_share: float
    down_periods: int
    connector_faulted_seconds: dict[str, float]
    """Per "evse/connector": seconds reported Faulted within the range."""
    in_service_seconds: float | None = None
    """The part of the observed range since the station was registered, which the shares
    divide by (None: the whole range)."""


@dataclass(frozen=True)
class FailedStarts:
    refused: int
    short_sessions: int
    attempts: int

    @property
    def failed(self) -> int:
        return self.refused + self.short_sessions

    @property
    def rate(self) -> float | None:
        return round(self.failed / self.attempts, 6) if self.attempts else None


@dataclass(frozen=True)
class Revenue:
    currency: str
    cdrs: int
    total_excl_vat: Decimal
    total_incl_vat: Decimal


@dataclass(frozen=True)
class GroupSummary:
    group: str
    stations: int
    connectors: int
    sessions: int
    energy_kwh: Decimal
    revenue: tuple[Revenue, ...]
    utilisation: float | None
    """Mean connector utilisation of the group."""
    uptime: float | None
    """Mean station presence of the group."""
    failed_starts: FailedStarts
    failed_start_rate: float | None


@dataclass(frozen=True)
class AttentionItem:
    station_id: str
    site: str | None
    score: float
    reasons: tuple[str, ...]


# ---- checks and small helpers -------------------------------------------------------------


def check_range(start: datetime, end: datetime, as_of: datetime | None = None) -> None:
    """Refuse naive, empty, inverted or wholly future ranges with a message that says why."""
    for name, value in (("start", start), ("end", end)):
        if value.tzinfo is None or value.utcoffset() is None:
            raise AnalyticsInputError(f"{name} {value.isoformat()} has no time zone: give UTC, "
                                      "e.g. 2026-11-21T00:00:00Z")
    if start < EARLIEST:
        raise AnalyticsInputError(f"start {start.isoformat()} is before {EARLIEST.date()}: nothing "
                                  "is stored that early (a number is read as seconds since then)")
    if end == start:
        raise AnalyticsInputError(f"the range {start.isoformat()} to {end.isoformat()} is empty")
    if end < start:
        raise AnalyticsInputError(f"the range is inverted: end {end.isoformat()} is before "
                                  f"start {start.isoformat()}")
    if as_of is not None and start >= as_of:
        raise AnalyticsInputError(f"the range starts at {start.isoformat()}, in the future: "
                                  "nothing has happened yet")


def check_length(start: datetime, end: datetime, max_days: int) -> None:
    """Refuse a range longer than ``max_days`` (the ``analytics_max_days`` setting): each day
    costs a read, and a mistyped year (``start=2026`` is 33 minutes past 1970) would be decades."""
    if end - start > timedelta(days=max_days):
        raise AnalyticsInputError(
            f"the range {start.isoformat()} to {end.isoformat()} is {(end - start).days} days; "
            f"at most {max_days} days can be asked at once (SILKCHARGE_ANALYTICS_MAX_DAYS)")


def check_group_by(group_by: str) -> str:
    if group_by not in GROUPINGS:
        raise AnalyticsInputError(f"unknown group_by {group_by!r}: use one of "
                                  f"{', '.join(GROUPINGS)}")
    return group_by


def group_key(station: StationRow, group_by: str) -> str:
    value = {"operator": station.operator, "city": station.city, "corridor": station.corridor,
             "site": station.site, "station": station.station_id}[check_group_by(group_by)]
    return value or NO_VALUE


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Union of intervals, sorted, with touching or overlapping ones joined."""
    out: list[Interval] = []
    for a, b in sorted(i for i in intervals if i[1] > i[0]):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def clip(intervals: Iterable[Interval], start: datetime, end: datetime) -> list[Interval]:
    return [(max(a, start), min(b, end)) for a, b in intervals if b > start and a < end]


def duration(intervals: Iterable[Interval]) -> timedelta:
    """Total length, exact (timedeltas add in whole microseconds, so the sum of a range's days
    is the range's sum to the last digit)."""
    return sum((b - a for a, b in intervals), ZERO)


def seconds(intervals: Iterable[Interval]) -> float:
    return duration(intervals).total_seconds()


def hour_spans(intervals: Iterable[Interval], tz: ZoneInfo) -> list[timedelta]:
    """Time of the intervals falling in each hour of day on the clock of ``tz``.

    Steps from UTC instant to the next local hour boundary, so DST changes and zones offset by
    a fraction of an hour are handled without wall-clock arithmetic.
    """
    buckets = [ZERO] * 24
    for a, b in intervals:
        t = a
        while t < b:
            local = t.astimezone(tz)
            into = timedelta(minutes=local.minute, seconds=local.second, microseconds=local.microsecond)
            step = min(b, t + timedelta(hours=1) - into)
            buckets[local.hour] += step - t
            t = step
    return buckets


def hour_seconds(intervals: Iterable[Interval], tz: ZoneInfo) -> list[float]:
    return [span.total_seconds() for span in hour_spans(intervals, tz)]


def _share(part: timedelta, whole: timedelta) -> float:
    return min(1.0, round(part / whole, 6)) if whole > ZERO else 0.0


# ---- what the frames say ------------------------------------------------------------------


def frame_payload(frame: FrameRow) -> dict:
    """The payload object of a logged frame (CALL: element 3, CALLRESULT: element 2)."""
    try:
        body = json.loads(frame.payload)
    except ValueError:
        return {}
    index = {2: 3, 3: 2}.get(frame.message_type)
    if not isinstance(body, list) or index is None or len(body) <= index:
        return {}
    return body[index] if isinstance(body[index], dict) else {}


def presence(frames: Iterable[FrameRow], window: timedelta) -> list[Interval]:
    return merge((f.at, f.at + window) for f in frames if f.direction == "in")


def status_changes(frames: Iterable[FrameRow]) -> list[tuple[datetime, Key, str]]:
    """(receipt time, (evse, connector), status) from inbound StatusNotification frames.

    OCPP 1.6 reports ``connectorId`` and ``status`` (EVSE n is connector n; 0 is the station);
    2.0.1 reports ``evseId``, ``connectorId`` and ``connectorStatus``. A logged frame whose
    ids are not integers (it was answered with a CALLERROR) says nothing and is skipped.
    """
    out = []
    for f in frames:
        if f.direction != "in" or f.message_type != 2 or f.action != "StatusNotification":
            continue
        p = frame_payload(f)
        try:
            if "connectorStatus" in p:
                out.append((f.at, (_integer(p.get("evseId", 0)), _integer(p.get("connectorId", 0))),
                            str(p["connectorStatus"])))
            elif "status" in p:
                n = _integer(p.get("connectorId", 0))
                out.append((f.at, (n, 1 if n else 0), str(p["status"])))
        except ValueError:
            continue
    return sorted(out, key=lambda change: change[0])


def _integer(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"not an integer id: {value!r}")
    return value


def faulted_periods(changes: Sequence[tuple[datetime, Key, str]], until: datetime,
                    outlets: frozenset[Key] = frozenset(), *,
                    since: datetime | None = None, statuses: Mapping[Key, str] | None = None,
                    ) -> tuple[dict[Key, list[Interval]], list[Interval], dict[Key, str]]:
    """Per connector, when it was Faulted; when the whole station was (connector 0 Faulted, or
    every one of ``outlets`` (the station's registered connectors; those that have reported
    when none are registered) Faulted at once); and each connector's status at ``until``.

    Starts from ``statuses`` as they stood at ``since`` (changes before ``since`` are then
    already in them), or from nothing before the first change."""
    per: dict[Key, list[Interval]] = defaultdict(list)
    current: dict[Key, str] = dict(statuses or {})
    faulted_since: dict[Key, datetime] = {}
    station: list[Interval] = []
    down_since: datetime | None = None
    if since is not None:
        faulted_since = {key: since for key, status in current.items() if status == FAULTED}
        down_since = since if _station_faulted(current, outlets) else None
    for at, key, status in changes:
        if at >= until:
            break
        if since is not None and at < since:
            continue
        if current.get(key) == FAULTED and status != FAULTED:
            per[key].append((faulted_since.pop(key), at))
        elif status == FAULTED and current.get(key) != FAULTED:
            faulted_since[key] = at
        current[key] = status
        whole = _station_faulted(current, outlets)
        if whole and down_since is None:
            down_since = at
        elif not whole and down_since is not None:
            station.append((down_since, at))
            down_since = None
    if down_since is not None:
        station.append((down_since, until))
    for key, at in faulted_since.items():
        per[key].append((at, until))
    return dict(per), station, current


def _station_faulted(current: dict[tuple[int, int], str],
                     outlets: frozenset[tuple[int, int]]) -> bool:
    keys = outlets or {k for k in current if k != (0, 0)}
    return current.get((0, 0)) == FAULTED or (
        bool(keys) and all(current.get(k) == FAULTED for k in keys))


def _subtract(spans: list[Interval], holes: list[Interval]) -> list[Interval]:
    out = []
    for a, b in spans:
        pieces = [(a, b)]
        for h0, h1 in holes:
            pieces = [p for x, y in pieces for p in ((x, min(y, h0)), (max(x, h1), y))
                      if p[1] > p[0]]
        out.extend(pieces)
    return out


def _gaps(present: list[Interval], start: datetime, end: datetime) -> int:
    """How many separate down periods the range holds (absence before, between, after)."""
    if not present:
        return 1
    edges = [start] + [t for span in present for t in span] + [end]
    return sum(1 for i in range(0, len(edges), 2) if edges[i + 1] > edges[i])


def refused_answer(frame: FrameRow) -> bool:
    """An outbound answer to Authorize/StartTransaction/TransactionEvent refusing the token."""
    if frame.direction != "out" or frame.message_type != 3 or frame.action not in AUTH_ACTIONS:
        return False
    payload = frame_payload(frame)
    info = payload.get("idTagInfo") or payload.get("idTokenInfo")
    return isinstance(info, dict) and info.get("status", "Accepted") != "Accepted"


def is_session(session: SessionRow) -> bool:
    return session.token_status in (None, "Accepted")


def is_short(session: SessionRow) -> bool:
    return (session.stopped_at is not None
            and session.stopped_at - session.started_at < SHORT_SESSION
            and (session.energy_wh or Decimal(0)) < SHORT_SESSION_WH)


# ---- totals: what one station did over a span ---------------------------------------------


@dataclass(frozen=True)
class Occupied:
    """A connector's time in transactions, in all and by hour of the site's clock (24)."""

    total: timedelta
    hourly: tuple[timedelta, ...]


@dataclass(frozen=True)
class StationTotals:
    """What one station did over ``[start, end)``. Every field adds up over consecutive spans
    (``combine``), so a day's totals can be stored and a range summed from its days."""

    start: datetime
    end: datetime
    sessions: int = 0
    energy_wh: Decimal = Decimal(0)
    """Of the sessions started in the span."""
    short_sessions: int = 0
    refused: int = 0
    revenue: Mapping[str, tuple[int, Decimal, Decimal]] = field(default_factory=dict)
    """Per currency: CDRs, total excl. VAT, total incl. VAT of the sessions started in the span."""
    occupied: Mapping[Key, Occupied] = field(default_factory=dict)
    present: timedelta = ZERO
    faulted: timedelta = ZERO
    """Station-wide."""
    available: timedelta = ZERO
    connector_faulted: Mapping[Key, timedelta] = field(default_factory=dict)
    down_periods: int = 1
    absent_at_start: bool = True
    absent_at_end: bool = True
    statuses: Mapping[Key, str] = field(default_factory=dict)
    """Each connector's last reported status at ``end``: where the next span starts from."""


def empty_totals(start: datetime, end: datetime, statuses: Mapping[Key, str] | None = None) -> StationTotals:
    """A span in which nothing was heard of the station (no frames, no sessions)."""
    return StationTotals(start, end, statuses=dict(statuses or {}))


def combine(spans: Sequence[StationTotals]) -> StationTotals:
    """The totals of consecutive spans (each starting where the one before ends) as one."""
    if not spans:
        raise ValueError("no spans to combine")
    for before, after in zip(spans, spans[1:]):
        if after.start != before.end:
            raise ValueError(f"spans must follow each other: {before.end} then {after.start}")
    revenue: dict[str, list] = {}
    occupied: dict[Key, list] = {}
    connector_faulted: dict[Key, timedelta] = defaultdict(lambda: ZERO)
    down = 0
    for n, t in enumerate(spans):
        for currency, (count, excl, incl) in t.revenue.items():
            r = revenue.setdefault(currency, [0, Decimal(0), Decimal(0)])
            r[0], r[1], r[2] = r[0] + count, r[1] + excl, r[2] + incl
        for key, occ in t.occupied.items():
            o = occupied.setdefault(key, [ZERO, [ZERO] * 24])
            o[0] += occ.total
            o[1] = [x + y for x, y in zip(o[1], occ.hourly)]
        for key, span in t.connector_faulted.items():
            connector_faulted[key] += span
        down += t.down_periods - (1 if n and spans[n - 1].absent_at_end and t.absent_at_start else 0)
    return StationTotals(
        spans[0].start, spans[-1].end,
        sessions=sum(t.sessions for t in spans),
        energy_wh=sum((t.energy_wh for t in spans), Decimal(0)),
        short_sessions=sum(t.short_sessions for t in spans),
        refused=sum(t.refused for t in spans),
        revenue={c: (n, excl, incl) for c, (n, excl, incl) in revenue.items()},
        occupied={k: Occupied(total, tuple(hourly)) for k, (total, hourly) in occupied.items()},
        present=sum((t.present for t in spans), ZERO),
        faulted=sum((t.faulted for t in spans), ZERO),
        available=sum((t.available for t in spans), ZERO),
        connector_faulted=dict(connector_faulted),
        down_periods=down, absent_at_start=spans[0].absent_at_start,
        absent_at_end=spans[-1].absent_at_end, statuses=spans[-1].statuses,
    )


def station_totals(station: StationRow, start: datetime, end: datetime, *, as_of: datetime,
                   grace_seconds: int, sessions: Sequence[SessionRow] = (),
                   cdrs: Mapping[int, CdrRow] | None = None, frames: Sequence[FrameRow] = (),
                   statuses: tuple[datetime, Mapping[Key, str]] | None = None) -> StationTotals:
    """One station's totals over ``[start, end)`` from its raw rows: its transactions that
    overlap the span, the CDRs of those, and its frames from far enough before ``start`` for
    presence (heartbeat + grace) and for the connectors' status: either every change that
    still matters, or, with ``statuses``, the statuses as they stood at a time (at most
    ``start``) and the changes from then on."""
    tz = ZoneInfo(station.timezone)
    started = [s for s in sessions if start <= s.started_at < end and is_session(s)]
    window = timedelta(seconds=station.heartbeat_interval + grace_seconds)
    present = clip(presence(frames, window), start, end)
    outlets = frozenset((c.evse_id, c.connector_id) for c in station.connectors)
    since, before = statuses if statuses is not None else (None, None)
    per, whole, at_end = faulted_periods(status_changes(frames), end, outlets, since=since, statuses=before)
    faulted = clip(merge(whole), start, end)
    connector_faulted = {key: duration(clip(spans, start, end)) for key, spans in per.items() if key != (0, 0)}
    cdrs = cdrs or {}
    return StationTotals(
        start, end,
        sessions=len(started),
        energy_wh=sum((s.energy_wh or Decimal(0) for s in started), Decimal(0)),
        short_sessions=sum(1 for s in started if is_short(s)),
        refused=sum(1 for f in frames if start <= f.at < end and refused_answer(f)),
        revenue=_revenue_totals(cdrs[s.transaction_id] for s in started if s.transaction_id in cdrs),
        occupied=_occupied(sessions, start, end, as_of, tz),
        present=duration(present), faulted=duration(faulted),
        available=duration(_subtract(present, faulted)),
        connector_faulted={key: span for key, span in connector_faulted.items() if span > ZERO},
        down_periods=_gaps(present, start, end),
        absent_at_start=not present or present[0][0] > start,
        absent_at_end=not present or present[-1][1] < end,
        statuses=at_end,
    )


def _occupied(sessions: Sequence[SessionRow], start: datetime, end: datetime, as_of: datetime,
              tz: ZoneInfo) -> dict[Key, Occupied]:
    """Per connector: its transactions' time (overlaps merged, a running one until ``as_of``)."""
    raw: dict[Key, list[Interval]] = defaultdict(list)
    for s in sessions:
        raw[(s.evse_id, s.connector_id)].append((s.started_at, s.stopped_at or as_of))
    out = {}
    for key, spans in raw.items():
        busy = clip(merge(spans), start, end)
        if busy:
            out[key] = Occupied(duration(busy), tuple(hour_spans(busy, tz)))
    return out


def _revenue_totals(cdrs: Iterable[CdrRow]) -> dict[str, tuple[int, Decimal, Decimal]]:
    return {r.currency: (r.cdrs, r.total_excl_vat, r.total_incl_vat) for r in revenue(cdrs)}


@dataclass(frozen=True)
class RangeTotals:
    """Every station's totals over one observed range: what the results are computed from."""

    start: datetime
    end: datetime
    as_of: datetime
    stations: tuple[StationRow, ...]
    totals: Mapping[str, StationTotals]

    @property
    def observed_end(self) -> datetime:
        return min(self.end, self.as_of)

    def of(self, station_id: str) -> StationTotals:
        found = self.totals.get(station_id)
        return found if found is not None else empty_totals(self.start, self.observed_end)


def range_totals(data: OperationsData) -> RangeTotals:
    """The totals of every station over ``data``'s observed range, straight from its rows."""
    check_range(data.start, data.end, data.as_of)
    sessions: dict[str, list[SessionRow]] = defaultdict(list)
    for s in data.sessions:
        sessions[s.station_id].append(s)
    frames: dict[str, list[FrameRow]] = defaultdict(list)
    for f in data.frames:
        frames[f.station_id].append(f)
    cdrs = {c.transaction_id: c for c in data.cdrs}
    end = data.observed_end
    totals = {
        st.station_id: station_totals(st, data.start, end, as_of=data.as_of,
                                      grace_seconds=data.grace_seconds,
                                      sessions=sessions.get(st.station_id, ()), cdrs=cdrs,
                                      frames=frames.get(st.station_id, ()))
        for st in data.stations
    }
    return RangeTotals(data.start, data.end, data.as_of, data.stations, totals)


def _totals(data: OperationsData | RangeTotals) -> RangeTotals:
    return data if isinstance(data, RangeTotals) else range_totals(data)


# ---- results ------------------------------------------------------------------------------


def utilisation(data: OperationsData | RangeTotals) -> list[ConnectorUtilisation]:
    r = _totals(data)
    whole = [(r.start, r.observed_end)]
    total = duration(whole)
    hours_in_range: dict[str, list[timedelta]] = {}
    out = []
    for station in r.stations:
        tz = station.timezone
        if tz not in hours_in_range:
            hours_in_range[tz] = hour_spans(whole, ZoneInfo(tz))
        occupied = r.of(station.station_id).occupied
        for c in station.connectors:
            occ = occupied.get((c.evse_id, c.connector_id))
            busy = occ.total if occ else ZERO
            per_hour = occ.hourly if occ else (ZERO,) * 24
            out.append(ConnectorUtilisation(
                station.station_id, c.evse_id, c.connector_id, station.site, tz,
                busy.total_seconds(), _share(busy, total),
                tuple(_share(p, h) for p, h in zip(per_hour, hours_in_range[tz]))))
    return out


def uptime(data: OperationsData | RangeTotals) -> list[StationUptime]:
    r = _totals(data)
    out = []
    for station in r.stations:
        t = r.of(station.station_id)
        since = r.start
        if station.in_service_from is not None:
            since = min(max(r.start, station.in_service_from), r.observed_end)
        total = r.observed_end - since
        out.append(StationUptime(
            station.station_id, _share(t.present, total), _share(t.faulted, total),
            _share(t.available, total), t.down_periods,
            {f"{e}/{c}": span.total_seconds() for (e, c), span in sorted(t.connector_faulted.items())},
            total.total_seconds() if station.in_service_from is not None else None))
    return out


def failed_starts(data: OperationsData | RangeTotals) -> dict[str, FailedStarts]:
    r = _totals(data)
    return {st.station_id: _failed(r.of(st.station_id)) for st in r.stations}


def _failed(t: StationTotals) -> FailedStarts:
    return FailedStarts(t.refused, t.short_sessions, t.sessions + t.refused)


def summary(data: OperationsData | RangeTotals, group_by: str) -> list[GroupSummary]:
    check_group_by(group_by)
    r = _totals(data)
    station_group = {s.station_id: group_key(s, group_by) for s in r.stations}
    util = utilisation(r)
    up = {u.station_id: u for u in uptime(r)}
    out = []
    for group in sorted(set(station_group.values())):
        members = [s for s in r.stations if station_group[s.station_id] == group]
        ids = {s.station_id for s in members}
        mine = [r.of(s.station_id) for s in members]
        shares = [u.share for u in util if u.station_id in ids]
        f = FailedStarts(*(sum(getattr(_failed(t), n) for t in mine)
                           for n in ("refused", "short_sessions", "attempts")))
        out.append(GroupSummary(
            group, len(members), sum(len(s.connectors) for s in members),
            sum(t.sessions for t in mine), sum((t.energy_wh for t in mine), Decimal(0)) / 1000,
            _revenue_of(mine), _mean(shares),
            _mean([up[i].present_share for i in ids if up[i].in_service_seconds != 0]), f, f.rate))
    return out


@dataclass(frozen=True)
class SiteDay:
    """One site over one day: the day's group summary by site, in brief."""

    sessions: int
    energy_kwh: Decimal
    utilisation: float | None
    """Mean connector utilisation of the site's connectors over the day's observed part."""
    uptime: float | None
    """Mean presence of the site's stations in service that day (None: none was)."""


@dataclass(frozen=True)
class SiteDays:
    site: str
    stations: int
    connectors: int
    days: tuple[SiteDay | None, ...]
    """One per day asked, in order; None for a day none of the site's stations was in service
    (registered yet) and none charged: no idle connectors before a site exists. A day with
    sessions before the registration (history imported or replayed, as the demo's) shows them,
    with no uptime."""


def site_days(days: Sequence[OperationsData | RangeTotals]) -> list[SiteDays]:
    """Utilisation and uptime per site and day, from each day's totals: the same definitions
    as ``summary`` grouped by site (uptime counts a station from its registration on, so a
    network started an hour ago does not read 0.1 %). Sites in the order of their code."""
    per_day = [{g.group: g for g in summary(d, "site")} for d in days]
    sizes: dict[str, tuple[int, int]] = {}
    for d in per_day:
        for g in d.values():
            sizes[g.group] = (g.stations, g.connectors)
    out = []
    for site in sorted(sizes):
        cells = []
        for d in per_day:
            g = d.get(site)
            shown = g is not None and (g.uptime is not None or g.sessions > 0)
            cells.append(SiteDay(g.sessions, g.energy_kwh, g.utilisation, g.uptime) if shown else None)
        out.append(SiteDays(site, *sizes[site], tuple(cells)))
    return out


def _revenue_of(totals: Iterable[StationTotals]) -> tuple[Revenue, ...]:
    sums: dict[str, list] = {}
    for t in totals:
        for currency, (count, excl, incl) in t.revenue.items():
            r = sums.setdefault(currency, [0, Decimal(0), Decimal(0)])
            r[0], r[1], r[2] = r[0] + count, r[1] + excl, r[2] + incl
    return tuple(Revenue(cur, n, excl, incl) for cur, (n, excl, incl) in sorted(sums.items()))


def revenue(cdrs: Iterable[CdrRow]) -> tuple[Revenue, ...]:
    """Totals per currency: amounts in different currencies are never added together."""
    totals: dict[str, list] = {}
    for c in cdrs:
        t = totals.setdefault(c.currency, [0, Decimal(0), Decimal(0)])
        t[0] += 1
        t[1] += c.total_excl_vat
        t[2] += c.total_incl_vat
    return tuple(Revenue(cur, n, excl, incl) for cur, (n, excl, incl) in sorted(totals.items()))


def _mean(values: Sequence[float]) -> float | None:
    return round(sum(values) / len(values), 6) if values else None


@dataclass(frozen=True)
class AttentionRules:
    low_uptime: float = 0.95
    high_failed_rate: float = 0.2
    min_attempts: int = 3


def attention(data: OperationsData | RangeTotals,
              rules: AttentionRules = AttentionRules()) -> list[AttentionItem]:
    """Stations ranked by how much they need a visit or a call, each with plain reasons.

    Score: offline now 3; each connector Faulted now 2; uptime below the threshold, 10 per
    missing tenth of the range; failed-start rate above the threshold (with enough attempts),
    5 × the rate. Stations with no reason are left out.
    """
    r = _totals(data)
    up = {u.station_id: u for u in uptime(r)}
    fails = failed_starts(r)
    out = []
    for s in r.stations:
        score, reasons = 0.0, []
        if not s.online:
            score += 3
            reasons.append("offline now")
        faulted = [f"{c.evse_id}/{c.connector_id}" for c in s.connectors if c.status == FAULTED]
        if faulted:
            score += 2 * len(faulted)
            reasons.append(f"{len(faulted)} connector(s) faulted now ({', '.join(faulted)})")
        u = up[s.station_id]
        if u.present_share < rules.low_uptime:
            score += 10 * (1 - u.present_share)
            reasons.append(f"uptime {u.present_share:.1%} (below {rules.low_uptime:.0%}), "
                           f"{u.down_periods} down period(s)")
        f = fails[s.station_id]
        if f.attempts >= rules.min_attempts and f.rate is not None and \
                f.rate > rules.high_failed_rate:
            score += 5 * f.rate
            reasons.append(f"failed starts {f.failed}/{f.attempts} ({f.rate:.0%}): "
                           f"{f.refused} refused, {f.short_sessions} under 2 min and 0.1 kWh")
        if reasons:
            out.append(AttentionItem(s.station_id, s.site, round(score, 3), tuple(reasons)))
    return sorted(out, key=lambda item: (-item.score, item.station_id))


def utc(value: datetime) -> datetime:
    """An aware time in UTC (naive times are refused by ``check_range`` before this)."""
    return value.astimezone(timezone.utc)
