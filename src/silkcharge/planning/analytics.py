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
  ``[t, t + heartbeat interval + grace]``; uptime is the share of the observed range so covered.
  *Station-wide faults* come from inbound StatusNotification frames (receipt time): connector
  0 Faulted (OCPP 1.6), or every connector the station reported Faulted. *Available* is
  present and not station-wide faulted.
* *Failed starts*: answers to Authorize, StartTransaction or TransactionEvent whose
  idTagInfo/idTokenInfo status is not Accepted, plus sessions stopped within 2 minutes with
  less than 0.1 kWh. The rate divides by attempts = sessions + refused answers.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Iterable, Sequence
from zoneinfo import ZoneInfo

GROUPINGS = ("operator", "city", "corridor", "site", "station")
SHORT_SESSION = timedelta(minutes=2)
SHORT_SESSION_WH = Decimal(100)
FAULTED = "Faulted"
NO_VALUE = "(none)"
_AUTH_ACTIONS = ("Authorize", "StartTransaction", "TransactionEvent")
Interval = tuple[datetime, datetime]


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
    if end == start:
        raise AnalyticsInputError(f"the range {start.isoformat()} to {end.isoformat()} is empty")
    if end < start:
        raise AnalyticsInputError(f"the range is inverted: end {end.isoformat()} is before "
                                  f"start {start.isoformat()}")
    if as_of is not None and start >= as_of:
        raise AnalyticsInputError(f"the range starts at {start.isoformat()}, in the future: "
                                  "nothing has happened yet")


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


def seconds(intervals: Iterable[Interval]) -> float:
    return sum((b - a).total_seconds() for a, b in intervals)


def hour_seconds(intervals: Iterable[Interval], tz: ZoneInfo) -> list[float]:
    """Seconds of the intervals falling in each hour of day on the clock of ``tz``.

    Steps from UTC instant to the next local hour boundary, so DST changes and zones offset by
    a fraction of an hour are handled without wall-clock arithmetic.
    """
    buckets = [0.0] * 24
    for a, b in intervals:
        t = a
        while t < b:
            local = t.astimezone(tz)
            into = local.minute * 60 + local.second + local.microsecond / 1e6
            step = min(b, t + timedelta(seconds=3600 - into))
            buckets[local.hour] += (step - t).total_seconds()
            t = step
    return buckets


def _share(part: float, whole: float) -> float:
    return round(part / whole, 6) if whole > 0 else 0.0


# ---- utilisation --------------------------------------------------------------------------


def occupied(data: OperationsData) -> dict[tuple[str, int, int], list[Interval]]:
    """Per (station, evse, connector): merged transaction time within the observed range."""
    raw: dict[tuple[str, int, int], list[Interval]] = defaultdict(list)
    for s in data.sessions:
        raw[(s.station_id, s.evse_id, s.connector_id)].append(
            (s.started_at, s.stopped_at or data.as_of))
    return {k: clip(merge(v), data.start, data.observed_end) for k, v in raw.items()}


def utilisation(data: OperationsData) -> list[ConnectorUtilisation]:
    check_range(data.start, data.end, data.as_of)
    busy = occupied(data)
    whole = [(data.start, data.observed_end)]
    total = seconds(whole)
    out = []
    for station in data.stations:
        tz = ZoneInfo(station.timezone)
        hours_in_range = hour_seconds(whole, tz)
        for c in station.connectors:
            spans = busy.get((station.station_id, c.evse_id, c.connector_id), [])
            per_hour = hour_seconds(spans, tz)
            out.append(ConnectorUtilisation(
                station.station_id, c.evse_id, c.connector_id, station.site, station.timezone,
                seconds(spans), _share(seconds(spans), total),
                tuple(_share(p, h) for p, h in zip(per_hour, hours_in_range))))
    return out


# ---- uptime -------------------------------------------------------------------------------


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


def status_changes(frames: Iterable[FrameRow]) -> list[tuple[datetime, tuple[int, int], str]]:
    """(receipt time, (evse, connector), status) from inbound StatusNotification frames.

    OCPP 1.6 reports ``connectorId`` and ``status`` (EVSE n is connector n; 0 is the station);
    2.0.1 reports ``evseId``, ``connectorId`` and ``connectorStatus``.
    """
    out = []
    for f in frames:
        if f.direction != "in" or f.message_type != 2 or f.action != "StatusNotification":
            continue
        p = frame_payload(f)
        if "connectorStatus" in p:
            out.append((f.at, (int(p.get("evseId", 0)), int(p.get("connectorId", 0))),
                        str(p["connectorStatus"])))
        elif "status" in p:
            n = int(p.get("connectorId", 0))
            out.append((f.at, (n, 1 if n else 0), str(p["status"])))
    return sorted(out, key=lambda change: change[0])


def faulted_periods(changes: Sequence[tuple[datetime, tuple[int, int], str]], until: datetime,
                    outlets: frozenset[tuple[int, int]] = frozenset(),
                    ) -> tuple[dict[tuple[int, int], list[Interval]], list[Interval]]:
    """Per connector, when it was Faulted; and when the whole station was: connector 0
    Faulted, or every one of ``outlets`` (the station's registered connectors; those that have
    reported when none are registered) Faulted at once."""
    per: dict[tuple[int, int], list[Interval]] = defaultdict(list)
    current: dict[tuple[int, int], str] = {}
    since: dict[tuple[int, int], datetime] = {}
    station: list[Interval] = []
    down_since: datetime | None = None
    for at, key, status in changes:
        if at >= until:
            break
        if current.get(key) == FAULTED and status != FAULTED:
            per[key].append((since.pop(key), at))
        elif status == FAULTED and current.get(key) != FAULTED:
            since[key] = at
        current[key] = status
        whole = _station_faulted(current, outlets)
        if whole and down_since is None:
            down_since = at
        elif not whole and down_since is not None:
            station.append((down_since, at))
            down_since = None
    if down_since is not None:
        station.append((down_since, until))
    for key, at in since.items():
        per[key].append((at, until))
    return dict(per), station


def _station_faulted(current: dict[tuple[int, int], str],
                     outlets: frozenset[tuple[int, int]]) -> bool:
    keys = outlets or {k for k in current if k != (0, 0)}
    return current.get((0, 0)) == FAULTED or (
        bool(keys) and all(current.get(k) == FAULTED for k in keys))


def uptime(data: OperationsData) -> list[StationUptime]:
    check_range(data.start, data.end, data.as_of)
    by_station: dict[str, list[FrameRow]] = defaultdict(list)
    for f in data.frames:
        by_station[f.station_id].append(f)
    end = data.observed_end
    total = (end - data.start).total_seconds()
    out = []
    for station in data.stations:
        frames = by_station.get(station.station_id, [])
        window = timedelta(seconds=station.heartbeat_interval + data.grace_seconds)
        present = clip(presence(frames, window), data.start, end)
        outlets = frozenset((c.evse_id, c.connector_id) for c in station.connectors)
        per, whole = faulted_periods(status_changes(frames), end, outlets)
        faulted = clip(merge(whole), data.start, end)
        available = _subtract(present, faulted)
        out.append(StationUptime(
            station.station_id, _share(seconds(present), total), _share(seconds(faulted), total),
            _share(seconds(available), total), _gaps(present, data.start, end),
            {f"{e}/{c}": seconds(clip(v, data.start, end)) for (e, c), v in sorted(per.items())
             if (e, c) != (0, 0)}))
    return out


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


# ---- failed starts ------------------------------------------------------------------------


def refused_answer(frame: FrameRow) -> bool:
    """An outbound answer to Authorize/StartTransaction/TransactionEvent refusing the token."""
    if frame.direction != "out" or frame.message_type != 3 or frame.action not in _AUTH_ACTIONS:
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


def failed_starts(data: OperationsData) -> dict[str, FailedStarts]:
    check_range(data.start, data.end, data.as_of)
    end = data.observed_end
    refused: dict[str, int] = defaultdict(int)
    for f in data.frames:
        if data.start <= f.at < end and refused_answer(f):
            refused[f.station_id] += 1
    sessions: dict[str, list[SessionRow]] = defaultdict(list)
    for s in _sessions_in_range(data):
        sessions[s.station_id].append(s)
    return {
        st.station_id: FailedStarts(
            refused[st.station_id], sum(is_short(s) for s in sessions[st.station_id]),
            len(sessions[st.station_id]) + refused[st.station_id])
        for st in data.stations
    }


def _sessions_in_range(data: OperationsData) -> list[SessionRow]:
    return [s for s in data.sessions
            if data.start <= s.started_at < data.observed_end and is_session(s)]


# ---- summary and attention ----------------------------------------------------------------


def summary(data: OperationsData, group_by: str) -> list[GroupSummary]:
    check_group_by(group_by)
    check_range(data.start, data.end, data.as_of)
    station_group = {s.station_id: group_key(s, group_by) for s in data.stations}
    groups = sorted(set(station_group.values()))
    sessions = _sessions_in_range(data)
    cdrs = {c.transaction_id: c for c in data.cdrs}
    util = utilisation(data)
    up = {u.station_id: u for u in uptime(data)}
    fails = failed_starts(data)
    out = []
    for group in groups:
        members = [s for s in data.stations if station_group[s.station_id] == group]
        ids = {s.station_id for s in members}
        mine = [s for s in sessions if s.station_id in ids]
        shares = [u.share for u in util if u.station_id in ids]
        f = FailedStarts(*(sum(getattr(fails[i], n) for i in ids)
                           for n in ("refused", "short_sessions", "attempts")))
        out.append(GroupSummary(
            group, len(members), sum(len(s.connectors) for s in members), len(mine),
            sum((s.energy_wh or Decimal(0) for s in mine), Decimal(0)) / 1000,
            revenue(cdrs[s.transaction_id] for s in mine if s.transaction_id in cdrs),
            _mean(shares), _mean([up[i].present_share for i in ids]), f, f.rate))
    return out


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


def attention(data: OperationsData,
              rules: AttentionRules = AttentionRules()) -> list[AttentionItem]:
    """Stations ranked by how much they need a visit or a call, each with plain reasons.

    Score: offline now 3; each connector Faulted now 2; uptime below the threshold, 10 per
    missing tenth of the range; failed-start rate above the threshold (with enough attempts),
    5 × the rate. Stations with no reason are left out.
    """
    up = {u.station_id: u for u in uptime(data)}
    fails = failed_starts(data)
    out = []
    for s in data.stations:
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
