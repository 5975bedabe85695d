"""The load test's report: one row per phase, and what the run held at its peak.

Rates and CPU shares are over the phase's window: a steady phase's configured seconds, a
storm's or ramp's time until its last station settled (or gave up). CPU is in percent of one
core, so a process using both cores of a two-core machine shows 200 %.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from silkcharge.loadtest.probe import Sample
from silkcharge.loadtest.tally import Tally

GENERATOR_BUSY_PCT = 85.0  # a worker above this share of a core may be holding the load back


@dataclass
class Usage:
    """A process group's CPU over a phase window and its resident memory at the window's end."""

    cpu_pct: float
    rss_mib: float
    processes: int | None
    sockets: int | None  # open at the window's end

    @classmethod
    def between(cls, before: Sample, after: Sample, seconds: float) -> Usage:
        return cls(
            cpu_pct=100.0 * (after.cpu_s - before.cpu_s) / max(seconds, 1e-9),
            rss_mib=after.rss_kib / 1024,
            processes=after.processes,
            sockets=after.sockets,
        )


@dataclass
class PhaseReport:
    name: str
    kind: str  # ramp, steady, boot-storm or reconnect-storm
    seconds: float
    stations: int
    held: int
    sent: int
    answered: int
    msgs_per_s: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    call_errors: dict[str, int]
    timeouts: int
    late: int
    lost: int
    disconnects: int
    reconnects: int
    handshake_failures: dict[str, int]
    connect_p50_ms: float | None
    connect_p99_ms: float | None
    boots_accepted: int
    boots_pending: int
    boots_rejected: int
    accepted_p50_s: float | None
    accepted_p99_s: float | None
    settled: int
    absorbed_s: (
        float | None
    )  # storms and ramps: until the last station settled; None if one never did
    transactions_started: int
    transactions_stopped: int
    usage: dict[str, Usage]

    @property
    def errors(self) -> int:
        return sum(self.call_errors.values()) + self.timeouts


@dataclass
class Report:
    url: str
    stations: int
    workers: int
    source_addresses: list[str]
    phases: list[PhaseReport]
    rss_before_mib: dict[str, float]
    warnings: list[str] = field(default_factory=list)

    @property
    def connections_held(self) -> int:
        return max((p.held for p in self.phases), default=0)

    def memory_per_connection_kib(self, group: str = "server") -> float | None:
        """The group's resident memory growth per socket held, at the phase that held most."""
        if group not in self.rss_before_mib or not self.phases:
            return None
        peak = max(self.phases, key=lambda p: p.held)
        if not peak.held or group not in peak.usage:
            return None
        return 1024 * (peak.usage[group].rss_mib - self.rss_before_mib[group]) / peak.held

    def as_dict(self) -> dict:
        data = asdict(self)
        data["connections_held"] = self.connections_held
        data["memory_per_connection_kib"] = self.memory_per_connection_kib()
        for phase, row in zip(self.phases, data["phases"], strict=True):
            row["errors"] = phase.errors
        return data

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=1)

    def to_text(self) -> str:
        lines = [
            f"{self.url}: {self.stations} stations from {self.workers} worker process(es)"
            + (
                f", source addresses {', '.join(self.source_addresses)}"
                if self.source_addresses
                else ""
            ),
            "",
            "| phase | s | held | msg/s | p50 ms | p95 ms | p99 ms | errors | lost | late "
            "| disconnects | boots ok/pending/rejected | absorbed s | "
            + " | ".join(f"{g} CPU | {g} RSS MiB" for g in self._groups())
            + " |",
            "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
            + "--:|--:|" * len(self._groups()),
        ]
        for p in self.phases:
            usage = " | ".join(
                f"{p.usage[g].cpu_pct:.0f} % | {p.usage[g].rss_mib:,.0f}"
                if g in p.usage
                else "– | –"
                for g in self._groups()
            )
            lines.append(
                f"| {p.name} | {p.seconds:.1f} | {p.held} | {p.msgs_per_s:,.0f} | {_ms(p.p50_ms)} "
                f"| {_ms(p.p95_ms)} | {_ms(p.p99_ms)} | {p.errors} | {p.lost} | {p.late} "
                f"| {p.disconnects} | {p.boots_accepted}/{p.boots_pending}/{p.boots_rejected} "
                f"| {_s(p.absorbed_s)} | {usage} |"
            )
        lines.append("")
        lines.append(f"connections held at most: {self.connections_held}")
        per_connection = self.memory_per_connection_kib()
        if per_connection is not None:
            lines.append(f"server memory per connection: {per_connection:.1f} KiB")
        for p in self.phases:
            details = _details(p)
            if details:
                lines.append(f"{p.name}: {details}")
        lines.extend(f"warning: {w}" for w in self.warnings)
        return "\n".join(lines)

    def _groups(self) -> list[str]:
        names: list[str] = []
        for phase in self.phases:
            names.extend(n for n in phase.usage if n not in names)
        return names


def phase_report(
    name: str,
    kind: str,
    tally: Tally,
    seconds: float,
    window: float,
    start: float,
    usage: dict[str, Usage],
) -> PhaseReport:
    """`window` divides the in-window replies (a steady phase's length); `start` is when the
    phase began on the system-wide monotonic clock, for the time until the last station settled."""
    latencies = sorted(tally.latencies_ms)
    connects = sorted(tally.connect_ms)
    accepted = sorted(ms / 1000 for ms in tally.boot_ms)
    absorbed = None
    settles = kind != "steady"
    if settles and tally.settled >= tally.stations and tally.last_settled_at is not None:
        absorbed = tally.last_settled_at - start
    return PhaseReport(
        name=name,
        kind=kind,
        seconds=seconds,
        stations=tally.stations,
        held=tally.held,
        sent=tally.sent,
        answered=tally.answered,
        msgs_per_s=tally.answered_in_window / window if window > 0 else 0.0,
        p50_ms=_rank(latencies, 0.50),
        p95_ms=_rank(latencies, 0.95),
        p99_ms=_rank(latencies, 0.99),
        max_ms=latencies[-1] if latencies else None,
        call_errors=dict(tally.call_errors),
        timeouts=tally.timeouts,
        late=tally.late,
        lost=tally.lost,
        disconnects=tally.disconnects,
        reconnects=tally.reconnects,
        handshake_failures=dict(tally.handshake_failures),
        connect_p50_ms=_rank(connects, 0.50),
        connect_p99_ms=_rank(connects, 0.99),
        boots_accepted=tally.boots_accepted,
        boots_pending=tally.boots_pending,
        boots_rejected=tally.boots_rejected,
        accepted_p50_s=_rank(accepted, 0.50),
        accepted_p99_s=_rank(accepted, 0.99),
        settled=tally.settled,
        absorbed_s=absorbed,
        transactions_started=tally.transactions_started,
        transactions_stopped=tally.transactions_stopped,
        usage=usage,
    )


def _rank(ordered: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile of a sorted list."""
    if not ordered:
        return None
    rank = max(1, min(len(ordered), int(fraction * len(ordered) + 0.999999)))
    return ordered[rank - 1]


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:,.1f}"


def _s(value: float | None) -> str:
    return "–" if value is None else f"{value:,.1f}"


def _details(p: PhaseReport) -> str:
    parts = []
    if p.call_errors:
        parts.append(
            "CALLERRORs " + ", ".join(f"{k} {v}" for k, v in sorted(p.call_errors.items()))
        )
    if p.timeouts:
        parts.append(f"{p.timeouts} timeouts")
    if p.handshake_failures:
        parts.append(
            "handshake failures "
            + ", ".join(f"{k} {v}" for k, v in sorted(p.handshake_failures.items()))
        )
    if p.connect_p50_ms is not None:
        parts.append(f"handshake p50 {p.connect_p50_ms:.1f} ms, p99 {p.connect_p99_ms:.1f} ms")
    if p.accepted_p50_s is not None:
        parts.append(f"Accepted after p50 {p.accepted_p50_s:.2f} s, p99 {p.accepted_p99_s:.2f} s")
    if p.reconnects:
        parts.append(f"{p.reconnects} reconnects")
    if p.transactions_started or p.transactions_stopped:
        parts.append(
            f"transactions started {p.transactions_started}, stopped {p.transactions_stopped}"
        )
    if p.kind != "steady" and p.settled < p.stations:
        parts.append(f"only {p.settled} of {p.stations} stations settled")
    return "; ".join(parts)
