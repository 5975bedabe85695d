"""OCPP 1.6 throughput and latency: silkcharge (SQLite, PostgreSQL) beside a minimal in-memory CSMS.

For each server: start it as a process, connect N stations (each boots once), then run two
phases on the same sockets: "paced" (each station one CALL every 1/rate seconds, the way real
stations talk) and "max" (a closed loop: the next CALL as soon as the reply is in). The CALLs
are a mix of Heartbeat, StatusNotification and MeterValues. Printed as a Markdown table; see
docs/benchmarks.md for what the columns mean and the numbers of a recorded run.

    python bench/ocpp_throughput.py                       # what `make bench` runs
    python bench/ocpp_throughput.py --stations 500 --seconds 30 --json /tmp/bench.json
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import platform
import sqlite3
import sys
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import servers
from loadgen import Mix, Phase, Ready, Tally, WorkerPlan, run_worker

GAP_S = 3.0  # between phases: the last replies drain, the next phase starts from quiet
READY_TIMEOUT_S = 180.0
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


def percentile(ordered: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not ordered:
        return float("nan")
    rank = max(1, int(fraction * len(ordered) + 0.999999))
    return ordered[min(rank, len(ordered)) - 1]


# -- one server ----------------------------------------------------------------------------------


def split(items: list[str], parts: int) -> list[tuple[str, ...]]:
    return [tuple(items[i::parts]) for i in range(parts) if items[i::parts]]


def start_workers(target: servers.Target, args: argparse.Namespace, phases: tuple[Phase, ...]):
    station_ids = [f"BENCH-{n:05d}" for n in range(1, args.stations + 1)]
    context = multiprocessing.get_context("spawn")
    workers = []
    for index, ids in enumerate(split(station_ids, args.workers)):
        plan = WorkerPlan(
            target.ocpp_url, ids, phases, GAP_S, args.timeout, Mix(), args.seed + index
        )
        ours, theirs = context.Pipe()
        process = context.Process(target=run_worker, args=(plan, theirs), daemon=True)
        process.start()
        theirs.close()
        workers.append((process, ours))
    return workers


def receive(pipe, timeout_s: float, what: str):
    if not pipe.poll(timeout_s):
        raise servers.ServerFailed(f"no {what} from a load worker within {timeout_s:g} s")
    message = pipe.recv()
    if isinstance(message, BaseException):
        raise servers.ServerFailed(f"a load worker failed: {message!r}")
    return message


@dataclass(frozen=True)
class CpuSample:
    server: float
    database: float | None
    machine: float


def sample(target: servers.Target) -> CpuSample:
    database = servers.process_tree_cpu(target.database_pid) if target.database_pid else None
    return CpuSample(servers.cpu_seconds(target.pid), database, servers.machine_busy_seconds())


def measure(
    target: servers.Target, args: argparse.Namespace, phases: tuple[Phase, ...]
) -> list[Row]:
    workers = start_workers(target, args, phases)
    try:
        return drive(target, args, phases, workers)
    finally:
        for process, _ in workers:
            process.join(10)
            if process.is_alive():
                process.terminate()
                process.join(5)


def drive(
    target: servers.Target, args: argparse.Namespace, phases: tuple[Phase, ...], workers
) -> list[Row]:
    """Wait for the stations to be up, say go, sample the server around each phase, collect."""
    began = time.monotonic()
    readies: list[Ready] = [receive(pipe, READY_TIMEOUT_S, "ready") for _, pipe in workers]
    connected = sum(r.connected for r in readies)
    boots = sorted(latency for r in readies for latency in r.boot_latencies_ms)
    print(
        f"  {target.name}: {connected}/{args.stations} stations connected and booted in "
        f"{time.monotonic() - began:.1f} s (boot p50 {percentile(boots, 0.5):.1f} ms); "
        f"{sum(r.boot_rejected for r in readies)} boots not accepted",
        file=sys.stderr,
    )
    for refusal in [line for r in readies for line in r.refused][:5]:
        print(f"    refused: {refusal}", file=sys.stderr)
    t0 = time.monotonic() + 1.0
    for _, pipe in workers:
        pipe.send(t0)
    windows = []
    start = t0
    for phase in phases:
        sleep_until(start)
        before = sample(target)
        sleep_until(start + phase.seconds)
        target.check_alive()
        windows.append((before, sample(target)))
        start += phase.seconds + GAP_S
    finals = [receive(pipe, args.timeout + 4 * GAP_S + 30, "results") for _, pipe in workers]
    rss = servers.peak_rss_mb(target.pid)
    return [
        row_for(target, phase, args.stations, [f[i] for f in finals], windows[i], rss)
        for i, phase in enumerate(phases)
    ]


def sleep_until(moment: float) -> None:
    delay = moment - time.monotonic()
    if delay > 0:
        time.sleep(delay)


def row_for(target, phase: Phase, stations: int, tallies: list[Tally], window, rss: float) -> Row:
    total = Tally()
    for tally in tallies:
        total.merge(tally)
    ordered = sorted(total.latencies_ms)
    before, after = window
    server_cpu = after.server - before.server
    database_cpu = None if before.database is None else after.database - before.database
    others = after.machine - before.machine - server_cpu - (database_cpu or 0) - total.client_cpu_s
    return Row(
        target=target.name,
        phase=phase_label(phase),
        stations=stations,
        held=total.held,
        seconds=phase.seconds,
        sent=total.sent,
        msgs_per_s=total.answered_in_window / phase.seconds,
        p50_ms=percentile(ordered, 0.50),
        p95_ms=percentile(ordered, 0.95),
        p99_ms=percentile(ordered, 0.99),
        max_ms=ordered[-1] if ordered else float("nan"),
        call_errors=total.call_errors,
        timeouts=total.timeouts,
        late_replies=total.late_replies,
        lost=total.lost,
        disconnects=total.disconnects,
        server_cpu_s=server_cpu,
        server_cpu_pct=100 * server_cpu / phase.seconds,
        database_cpu_s=database_cpu,
        client_cpu_pct=100 * total.client_cpu_s / phase.seconds,
        other_cpu_pct=max(0.0, 100 * others / phase.seconds),
        peak_rss_mb=rss,
    )


def phase_label(phase: Phase) -> str:
    if phase.rate:
        return f"paced {phase.rate:g}/s/station"
    return "max" if not phase.think_s else f"closed loop, think {phase.think_s * 1000:g} ms"


# -- all servers ---------------------------------------------------------------------------------


def run_target(
    kind: str, args: argparse.Namespace, phases: tuple[Phase, ...], notes: list[str]
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


def phases_from(args: argparse.Namespace) -> tuple[Phase, ...]:
    closed_loop = Phase("max", args.seconds, think_s=args.think_ms / 1000)
    if args.paced_rate <= 0:
        return (closed_loop,)
    return (Phase("paced", args.seconds, rate=args.paced_rate), closed_loop)


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
        except (servers.ServerFailed, OSError) as error:  # the other servers' rows still count
            notes.append(f"{kind}: not measured: {error}")
    report(args, rows, notes)
    return 0 if rows else 1


if __name__ == "__main__":
    sys.exit(main())
