"""OCPP 1.6 throughput and latency: silkcharge (SQLite, PostgreSQL) beside a minimal in-memory CSMS.

For each server: start it as a process, connect N stations (each boots once), then run two
phases on the same sockets: "paced" (each station one CALL every 1/rate seconds, the way real
stations talk) and "max" (a closed loop: the next CALL as soon as the reply is in). The CALLs
are a mix of Heartbeat, StatusNotification and MeterValues, sent by the load generator of
`silkcharge loadtest` (silkcharge.loadtest). Printed as a Markdown table; see
docs/benchmarks.md for what the columns mean and the numbers of a recorded run.

    python bench/ocpp_throughput.py                       # what `make bench` runs
    python bench/ocpp_throughput.py --stations 500 --seconds 30 --json /tmp/bench.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sqlite3
import sys
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import servers

from silkcharge.loadtest import LoadTest, LoadTestFailed, Mix, PhaseReport, Ramp, Steady, run

GAP_S = 3.0  # between phases: the last replies drain, the next phase starts from quiet
RAMP_RATE = 200.0  # connections a second while the stations come up (not measured)
MIX = Mix(heartbeat=0.2, status=0.2, meter_values=0.6, transaction=0.0)
TARGETS = ("sqlite", "postgres", "baseline")


@dataclass
class Row:
    target: str
    phase: str
    stations: int
    held: int
    seconds: float
    sent: int
    msgs_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    call_errors: dict[str, int]
    timeouts: int
    late_replies: int
    lost: int
    disconnects: int
    server_cpu_s: float
    server_cpu_pct: float
    database_cpu_s: float | None
    client_cpu_pct: float
    other_cpu_pct: float
    peak_rss_mb: float

    @property
    def errors(self) -> int:
        return sum(self.call_errors.values()) + self.timeouts


# -- one server ----------------------------------------------------------------------------------


def measure(
    target: servers.Target, args: argparse.Namespace, phases: tuple[Steady, ...]
) -> list[Row]:
    """Bring the stations up (reported on stderr, not in the table), then run the phases."""
    test = LoadTest(
        target.ocpp_url,
        args.stations,
        (Ramp(rate=RAMP_RATE, deadline=120), *phases),
        workers=args.workers,
        mix=MIX,
        timeout_s=args.timeout,
        id_prefix="BENCH-",
        seed=args.seed,
        gap_s=GAP_S,
    )
    report = run(test, target.measured())
    target.check_alive()
    ramp = report.phases[0]
    print(
        f"  {target.name}: {ramp.held}/{args.stations} stations connected and booted in "
        f"{ramp.seconds:.1f} s; {ramp.stations - ramp.boots_accepted} boots not accepted",
        file=sys.stderr,
    )
    for refusal, count in ramp.handshake_failures.items():
        print(f"    refused: {refusal} x{count}", file=sys.stderr)
    peak_rss = max(p.usage["server"].rss_mib for p in report.phases)
    return [row_for(target.name, phase, args.stations, peak_rss) for phase in report.phases[1:]]


def row_for(name: str, phase: PhaseReport, stations: int, peak_rss: float) -> Row:
    usage = phase.usage
    database = usage.get("database")
    server_cpu_s = usage["server"].cpu_pct * phase.seconds / 100
    database_cpu_s = None if database is None else database.cpu_pct * phase.seconds / 100
    others = (
        usage["machine"].cpu_pct
        - usage["server"].cpu_pct
        - (database.cpu_pct if database else 0)
        - usage["loadgen"].cpu_pct
    )
    nan = float("nan")
    return Row(
        target=name,
        phase=phase.name,
        stations=stations,
        held=phase.held,
        seconds=phase.seconds,
        sent=phase.sent,
        msgs_per_s=phase.msgs_per_s,
        p50_ms=nan if phase.p50_ms is None else phase.p50_ms,
        p95_ms=nan if phase.p95_ms is None else phase.p95_ms,
        p99_ms=nan if phase.p99_ms is None else phase.p99_ms,
        max_ms=nan if phase.max_ms is None else phase.max_ms,
        call_errors=phase.call_errors,
        timeouts=phase.timeouts,
        late_replies=phase.late,
        lost=phase.lost,
        disconnects=phase.disconnects,
        server_cpu_s=server_cpu_s,
        server_cpu_pct=usage["server"].cpu_pct,
        database_cpu_s=database_cpu_s,
        client_cpu_pct=usage["loadgen"].cpu_pct,
        other_cpu_pct=max(0.0, others),
        peak_rss_mb=peak_rss,
    )


# -- all servers ---------------------------------------------------------------------------------


def run_target(
    kind: str, args: argparse.Namespace, phases: tuple[Steady, ...], notes: list[str]
) -> list[Row]:
    database = None
    target = None
    try:
        if kind == "sqlite":
            target = servers.start_silkcharge_sqlite()
        elif kind == "postgres":
            database = servers.PostgresDatabase(args.pg_admin)
            notes.append(
                f"PostgreSQL {database.version} (fsync={database.fsync}, "
                f"synchronous_commit={database.synchronous_commit}), database {database.name}"
            )
            target = servers.start_silkcharge_postgres(database)
        else:
            target = servers.start_baseline()
        rows = measure(target, args, phases)
        errors = target.logged_errors()
        if errors:
            notes.append(
                f"{target.name} logged {len(errors)} error lines, first: {errors[0][:300]}"
            )
        return rows
    finally:
        if target is not None:
            target.stop()
            notes.extend(f"{target.name}: {note}" for note in target.notes)
            if not args.keep:
                target.cleanup()
            else:
                notes.append(f"{target.name}: files kept in {target.workdir}")
        if database is not None:
            notes.append(
                f"PostgreSQL sessions opened on the run's database: {database.sessions_opened()}"
            )
            database.drop()


def machine() -> dict[str, str]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal:")
    )
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "ram_gib": f"{mem_kb / 1024 / 1024:.1f}",
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "kernel": platform.release(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def number(value: float | None, digits: int = 1) -> str:
    if value is None or math.isnan(value):
        return "–"
    return f"{value:,.{digits}f}"


def markdown(rows: list[Row]) -> str:
    head = (
        "| server | load | held | msg/s | p50 ms | p95 ms | p99 ms | max ms | errors | lost "
        "| server CPU | DB CPU | loadgen CPU | other CPU | peak RSS MiB |\n"
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n"
    )
    lines = []
    for r in rows:
        db = "–" if r.database_cpu_s is None else f"{100 * r.database_cpu_s / r.seconds:.0f} %"
        lines.append(
            f"| {r.target} | {r.phase} | {r.held}/{r.stations} | {number(r.msgs_per_s, 0)} "
            f"| {number(r.p50_ms)} | {number(r.p95_ms)} | {number(r.p99_ms)} | {number(r.max_ms)} "
            f"| {r.errors} | {r.lost} | {r.server_cpu_pct:.0f} % | {db} | {r.client_cpu_pct:.0f} % "
            f"| {r.other_cpu_pct:.0f} % | {r.peak_rss_mb:.0f} |"
        )
    return head + "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--stations", type=int, default=200, help="simulated stations (sockets) per server"
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each phase")
    parser.add_argument(
        "--paced-rate",
        type=float,
        default=1.0,
        help="CALLs per station and second in the paced phase (0: skip the phase)",
    )
    parser.add_argument(
        "--think-ms",
        type=float,
        default=0.0,
        help="pause after each reply in the closed-loop phase (0: as fast as it goes)",
    )
    parser.add_argument(
        "--targets", default=",".join(TARGETS), help=f"comma-separated, from {TARGETS}"
    )
    parser.add_argument("--workers", type=int, default=1, help="load generator processes")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for a reply")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--pg-admin",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="where to create (and drop) the PostgreSQL database of the run",
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--keep", action="store_true", help="keep the servers' logs and SQLite file"
    )
    args = parser.parse_args(argv)
    unknown = set(args.targets.split(",")) - set(TARGETS)
    if unknown:
        parser.error(f"unknown targets {sorted(unknown)}; choose from {TARGETS}")
    if not (1 <= args.stations <= 20_000 and 1 <= args.workers <= 16 and 1 <= args.seconds <= 600):
        parser.error("keep to 1-20000 stations, 1-16 workers and 1-600 s per phase")
    return args


def phases_from(args: argparse.Namespace) -> tuple[Steady, ...]:
    closed_loop = Steady(
        args.seconds,
        rate=0.0,
        think_s=args.think_ms / 1000,
        label=("max" if not args.think_ms else f"closed loop, think {args.think_ms:g} ms"),
    )
    if args.paced_rate <= 0:
        return (closed_loop,)
    paced = Steady(args.seconds, rate=args.paced_rate, label=f"paced {args.paced_rate:g}/s/station")
    return (paced, closed_loop)


def report(args: argparse.Namespace, rows: list[Row], notes: list[str]) -> None:
    info = machine()
    print(
        f"\n{info['cpu']}, {info['cores']} cores, {info['ram_gib']} GiB RAM, "
        f"Python {info['python']}, SQLite {info['sqlite']}, {info['date']}; "
        f"{args.stations} stations, {args.seconds:g} s per phase, {args.workers} load process(es)\n"
    )
    print(markdown(rows))
    for note in notes:
        print(f"\n- {note}")
    if args.json:
        payload = {
            "machine": info,
            "args": {k: str(v) for k, v in vars(args).items()},
            "rows": [asdict(r) | {"errors": r.errors} for r in rows],
            "notes": notes,
        }
        args.json.write_text(json.dumps(payload, indent=1))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    phases = phases_from(args)
    rows: list[Row] = []
    notes: list[str] = []
    for kind in args.targets.split(","):
        print(f"measuring {kind} ...", file=sys.stderr)
        try:
            rows.extend(run_target(kind, args, phases, notes))
        except (servers.ServerFailed, LoadTestFailed, OSError) as error:  # the others still count
            notes.append(f"{kind}: not measured: {error}")
    report(args, rows, notes)
    return 0 if rows else 1


if __name__ == "__main__":
    sys.exit(main())
