"""Plausibility findings: where they are kept and how operators read them.

The rules are data in `domain/plausibility.py`; the services that receive a station's values
(stations, transactions) apply them and hand what they find to `record`, inside their own
database transaction, so a value and the flag that explains it are committed together. A flag
names the frame (message id) the message log keeps, so the raw value is never lost.

A station whose clock is wrong is an *alert* for operators ("check the charger's clock") for
`clock-window.alert_hours` after its last wrong timestamp.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from silkcharge.domain.charging import (
    MeterSample,
    StatusReport,
    TransactionStart,
    TransactionStop,
    TransactionUpdate,
)
from silkcharge.domain.clock import utcnow
from silkcharge.domain.plausibility import (
    EVSE_FIELD,
    INTEGER_COLUMN_LIMIT,
    RULES,
    Action,
    Checks,
    Finding,
    Implausible,
    Limits,
    Origin,
    Rule,
)
from silkcharge.store.schema import Connector, PlausibilityFlag
from silkcharge.store.upsert import one_of

CLOCK_RULE = "clock-window"


@dataclass(frozen=True)
class FlagQuery:
    station_id: str | None = None
    transaction_id: int | None = None
    rule: str | None = None
    limit: int = 100
    before_id: int | None = None


@dataclass(frozen=True)
class ClockAlert:
    station_id: str
    last_at: datetime
    """When silkcharge last received a timestamp outside the window from this station."""
    station_time: str
    """That timestamp, as the station sent it."""
    count: int
    reason: str


class Plausibility:
    def __init__(self, sessions: async_sessionmaker, limits: Limits | None = None) -> None:
        self._sessions = sessions
        self.checks = Checks(limits)

    @property
    def limits(self) -> Limits:
        return self.checks.limits

    def rules(self) -> list[tuple[Rule, dict]]:
        """Every rule with the limits in force (defaults and overrides)."""
        return [(rule, self.limits.of(rule)) for rule in RULES]

    # -- keeping findings -------------------------------------------------------------------

    @staticmethod
    def record(
        session: AsyncSession,
        station_id: str,
        transaction_id: int | None,
        findings: Iterable[Finding],
        origin: Origin,
    ) -> None:
        """Add the findings to `session`: committed with the values they explain."""
        session.add_all(
            PlausibilityFlag(
                station_id=station_id, transaction_id=transaction_id, rule=f.rule, field=f.field[:64],
                value=f.value, used=f.used, reason=f.reason, message_id=origin.message_id,
                action=origin.action, at=origin.received_at,
            )
            for f in findings
        )

    async def record_now(
        self, station_id: str, transaction_id: int | None, findings: list[Finding], origin: Origin | None = None
    ) -> None:
        """Keep findings in a database transaction of their own (a status report's wrong clock,
        a sweep that could not use a row)."""
        async with self._sessions.begin() as session:
            self.record(session, station_id, transaction_id, findings, origin or Origin.now())

    # -- reading them -----------------------------------------------------------------------

    @staticmethod
    async def of_transactions(session: AsyncSession, ids: Iterable[int]) -> dict[int, list[PlausibilityFlag]]:
        """The flags of each transaction, oldest first, in one query."""
        wanted = set(ids)
        found: dict[int, list[PlausibilityFlag]] = defaultdict(list)
        if not wanted:
            return found
        rows = await session.scalars(
            select(PlausibilityFlag)
            .where(one_of(session, PlausibilityFlag.transaction_id, wanted))
            .order_by(PlausibilityFlag.id)
        )
        for row in rows:
            found[row.transaction_id].append(row)
        return found

    @staticmethod
    async def reasons(session: AsyncSession, transaction_id: int) -> list[str]:
        """Why a session's CDR must wait for an operator: each distinct reason once."""
        rows = await session.scalars(
            select(PlausibilityFlag.reason)
            .where(PlausibilityFlag.transaction_id == transaction_id)
            .order_by(PlausibilityFlag.id)
        )
        return list(dict.fromkeys(rows))

    async def find(self, query: FlagQuery) -> list[PlausibilityFlag]:
        statement = select(PlausibilityFlag).order_by(PlausibilityFlag.id.desc()).limit(query.limit)
        if query.station_id is not None:
            statement = statement.where(PlausibilityFlag.station_id == query.station_id)
        if query.transaction_id is not None:
            statement = statement.where(PlausibilityFlag.transaction_id == query.transaction_id)
        if query.rule is not None:
            statement = statement.where(PlausibilityFlag.rule == query.rule)
        if query.before_id is not None:
            statement = statement.where(PlausibilityFlag.id < query.before_id)
        async with self._sessions() as session:
            return list((await session.scalars(statement)).all())

    async def clock_alerts(self, now: datetime | None = None) -> list[ClockAlert]:
        """Stations that sent a timestamp outside the window in the last `alert_hours`."""
        now = now or utcnow()
        since = now - timedelta(hours=float(self.limits["clock-window.alert_hours"]))
        flag = PlausibilityFlag
        async with self._sessions() as session:
            latest = (await session.execute(
                select(flag.station_id, func.max(flag.id), func.count())
                .where(flag.rule == CLOCK_RULE, flag.at >= since)
                .group_by(flag.station_id)
            )).all()
            last = {
                row.id: row for row in await session.scalars(
                    select(flag).where(one_of(session, flag.id, {last_id for _, last_id, _ in latest}))
                )
            } if latest else {}
        alerts = [
            ClockAlert(station_id, last[last_id].at, last[last_id].value, count, last[last_id].reason)
            for station_id, last_id, count in latest
        ]
        return sorted(alerts, key=lambda a: a.last_at, reverse=True)


# -- screening a station's message before it is stored -------------------------------------------
#
# What can be judged from the message alone: numbers, ids, timestamps. Each screen returns the
# message with quarantined values taken out (or replaced by the receive time) and the findings.
# Checks that need the store (a connector's power, the session so far) are `energy_findings`.


def _unique(findings: Iterable[Finding]) -> list[Finding]:
    """One finding per rule and field in a message: a wrong clock on every sample is one flag."""
    seen: dict[tuple[str, str], Finding] = {}
    for finding in findings:
        seen.setdefault((finding.rule, finding.field), finding)
    return list(seen.values())


def screen_samples(
    checks: Checks, samples: Sequence[MeterSample], origin: Origin, field: str = "meterValue"
) -> tuple[tuple[MeterSample, ...], list[Finding]]:
    kept, findings = [], []
    clocks: dict[datetime, Finding | None] = {}  # the samples of one meterValue share its time
    for sample in samples:
        finding = checks.reading(
            f"{field}.sampledValue.value", sample.value, register=sample.is_energy_register, raw=sample.raw
        ) or checks.unit(f"{field}.sampledValue.unit", sample.unit)
        if finding is not None:
            findings.append(finding)
            continue
        if sample.timestamp not in clocks:
            clocks[sample.timestamp] = checks.timestamp(f"{field}.timestamp", sample.timestamp, origin.received_at)
        clock = clocks[sample.timestamp]
        if clock is not None:
            findings.append(clock)
            sample = replace(sample, timestamp=origin.received_at)
        kept.append(sample)
    return tuple(kept), findings


def _column_id(checks: Checks, field: str, value: int | float | None) -> tuple[int | None, Finding | None]:
    """An id as an int the store can hold, or None and the finding that says why not."""
    if value is None:
        return None, None
    finding = checks.integer(field, value)
    return (None, finding) if finding is not None else (int(value), None)


def screen_start(checks: Checks, start: TransactionStart, origin: Origin) -> tuple[TransactionStart, list[Finding]]:
    findings: list[Finding] = []
    changes: dict = {}
    clock = checks.timestamp("timestamp", start.timestamp, origin.received_at)
    if clock is not None:
        findings.append(clock)
        changes["timestamp"] = origin.received_at
    for name, field in (("evse_id", EVSE_FIELD), ("connector_id", "connectorId")):
        value, finding = _column_id(checks, field, getattr(start, name))
        if finding is not None:
            findings.append(finding)
        changes[name] = value if value is not None else 0
    for name, field in (("reservation_id", "reservationId"), ("remote_start_id", "remoteStartId"),
                        ("seq_no", "seqNo")):
        value, finding = _column_id(checks, field, getattr(start, name))
        if finding is not None:
            findings.append(finding)
        changes[name] = value
    if start.meter_start_wh is not None:
        finding = checks.reading("meterStart", start.meter_start_wh, register=True)
        if finding is not None:
            findings.append(finding)
            changes["meter_start_wh"] = None
    changes["samples"], found = screen_samples(checks, start.samples, origin)
    return replace(start, **changes), _unique(findings + found)


def screen_update(
    checks: Checks, change: TransactionUpdate, origin: Origin
) -> tuple[TransactionUpdate, list[Finding]]:
    findings: list[Finding] = []
    changes: dict = {}
    clock = checks.timestamp("timestamp", change.timestamp, origin.received_at)
    if clock is not None:
        findings.append(clock)
        changes["timestamp"] = origin.received_at
    for name, field in (("evse_id", EVSE_FIELD), ("connector_id", "connectorId"), ("seq_no", "seqNo")):
        value, finding = _column_id(checks, field, getattr(change, name))
        if finding is not None:
            findings.append(finding)
        changes[name] = value
    changes["samples"], found = screen_samples(checks, change.samples, origin)
    return replace(change, **changes), _unique(findings + found)


def screen_stop(checks: Checks, stop: TransactionStop, origin: Origin) -> tuple[TransactionStop, list[Finding]]:
    findings: list[Finding] = []
    changes: dict = {}
    clock = checks.timestamp("timestamp", stop.timestamp, origin.received_at)
    if clock is not None:
        findings.append(clock)
        changes["timestamp"] = origin.received_at
    value, finding = _column_id(checks, "seqNo", stop.seq_no)
    if finding is not None:
        findings.append(finding)
    changes["seq_no"] = value
    if stop.meter_stop_wh is not None:
        finding = checks.reading("meterStop", stop.meter_stop_wh, register=True)
        if finding is not None:
            findings.append(finding)
            changes["meter_stop_wh"] = None
    changes["samples"], found = screen_samples(checks, stop.samples, origin)
    return replace(stop, **changes), _unique(findings + found)


def refused(findings: Iterable[Finding]) -> list[Finding]:
    """What a message that is not about a transaction is refused for: a value set aside. (A
    wrong clock is not refused: the receive time is used, and the station flagged.)"""
    return [f for f in findings if f.action is Action.QUARANTINE and f.rule != CLOCK_RULE]


def refuse(findings: Iterable[Finding]) -> None:
    problems = refused(findings)
    if problems:
        raise Implausible(problems)


def screen_status(checks: Checks, report: StatusReport, origin: Origin) -> tuple[StatusReport, list[Finding]]:
    """A status report's clock (replaced when wrong) and ids beyond the range that may be
    registered on report (refused by the caller unless the station registered them)."""
    findings: list[Finding] = []
    changes: dict = {}
    clock = checks.timestamp("timestamp", report.timestamp, origin.received_at)
    if clock is not None:
        findings.append(clock)
        changes["timestamp"] = origin.received_at
    for name, field, kind in (("evse_id", EVSE_FIELD, "evse"), ("connector_id", "connectorId", "connector")):
        value = getattr(report, name)
        finding = checks.id_in_range(field, value, kind=kind)
        if finding is not None:
            findings.append(finding)
        elif isinstance(value, float):
            changes[name] = int(value)
    return (replace(report, **changes) if changes else report), findings


async def registered(session: AsyncSession, station_id: str, evse_id: int | float, connector_id: int | float) -> bool:
    """Whether the station has this connector registered (an operator may register ids above
    the range a station's report registers)."""
    if not all(float(v).is_integer() and 0 <= v <= INTEGER_COLUMN_LIMIT for v in (evse_id, connector_id)):
        return False
    found = await session.scalar(
        select(Connector.id).where(
            Connector.station_id == station_id, Connector.evse_id == int(evse_id),
            Connector.connector_id == int(connector_id),
        )
    )
    return found is not None


# -- what needs the session so far ------------------------------------------------------------


@dataclass(frozen=True)
class SessionSoFar:
    """What the energy checks need of a stored transaction."""

    started_at: datetime
    meter_start_wh: Decimal | None
    energy_wh: Decimal | None
    max_power_kw: Decimal | None


def energy_findings(
    checks: Checks,
    so_far: SessionSoFar,
    samples: Sequence[MeterSample],
    *,
    meter_stop_wh: Decimal | None = None,
    stopped_at: datetime | None = None,
) -> list[Finding]:
    """Registers never going back (below the meter start, within the message, below the
    highest reading at the stop) and never beyond the connector's power over the time since
    the start."""
    findings: list[Finding] = []
    registers = sorted((s for s in samples if s.is_energy_register), key=lambda s: s.timestamp)
    start_wh = so_far.meter_start_wh
    if start_wh is None and registers:
        start_wh = registers[0].energy_wh
    if start_wh is None:
        return findings
    previous = start_wh
    for sample in registers:
        value = sample.energy_wh
        finding = checks.monotonic("meterValue.sampledValue.value", previous, value)
        if finding is None:
            finding = checks.power_bound(
                "meterValue.sampledValue.value", value - start_wh, sample.timestamp - so_far.started_at,
                so_far.max_power_kw, value,
            )
        if finding is not None:
            findings.append(finding)
        previous = max(previous, value)
    if meter_stop_wh is not None:
        highest = max(previous, start_wh + (so_far.energy_wh or Decimal(0)))
        finding = checks.monotonic("meterStop", highest, meter_stop_wh) or checks.power_bound(
            "meterStop", meter_stop_wh - start_wh, (stopped_at or so_far.started_at) - so_far.started_at,
            so_far.max_power_kw, meter_stop_wh,
        )
        if finding is not None:
            findings.append(finding)
    return _unique(findings)


async def max_power(session: AsyncSession, keys: Iterable[tuple[str, int]]) -> dict[tuple[str, int], Decimal]:
    """The largest maximum power of each (station, EVSE)'s connectors; 0 where unknown. One
    query for any number of EVSEs (compared in Python: SQLite keeps exact decimals as text)."""
    wanted = set(keys)
    if not wanted:
        return {}
    c = Connector.__table__.c
    rows = await session.execute(
        select(c.station_id, c.evse_id, c.max_power_kw)
        .where(one_of(session, c.station_id, {station_id for station_id, _ in wanted}))
    )
    return largest_powers(rows, wanted)


def largest_powers(
    rows: Iterable[tuple[str, int, Decimal | None]], wanted: set[tuple[str, int]]
) -> dict[tuple[str, int], Decimal]:
    """From (station, EVSE, a connector's maximum power) rows, each wanted EVSE's largest."""
    found: dict[tuple[str, int], Decimal] = {}
    for station_id, evse_id, power in rows:
        key = (station_id, evse_id)
        if key in wanted:
            found[key] = max(found.get(key, Decimal(0)), power or Decimal(0))
    return found


async def station_powers(session: AsyncSession, station_id: str) -> dict[int, Decimal]:
    """Each of a station's EVSEs (registered or reported) with its connectors' largest power."""
    found: dict[int, Decimal] = {}
    rows = await session.execute(
        select(Connector.evse_id, Connector.max_power_kw).where(Connector.station_id == station_id)
    )
    for evse_id, power in rows:
        found[evse_id] = max(found.get(evse_id, Decimal(0)), power or Decimal(0))
    return found
