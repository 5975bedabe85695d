"""Scale, side by side in one run: silkcharge on PostgreSQL with one gateway process, with two,
and the minimal in-memory `ocpp`-package server (bench/baseline_server.py) as the yardstick.

Each server gets the same load from `silkcharge loadtest`'s generator (silkcharge.loadtest):

1. ramp: every station connects (at --ramp-rate a second) and boots;
2. steady: the realistic mix (Heartbeat, StatusNotification, MeterValues, Start- and
   StopTransaction) at --rate CALLs per station and second, for --seconds;
3. max: a closed loop on the first --max-stations stations (the rest stay connected), for
   --seconds: the most the server answers;
4. boot-storm: every socket drops at once and every station comes back within --storm-window
   seconds and boots, honouring Pending; absorbed when all are Accepted again;
5. reconnect-storm: every station drops and reconnects at once, half of them while the old
   socket is still closing.

It prints the per-phase table of each server and a summary: connections held and server memory
per connection, steady and max msg/s with p50/p99, boot-storm absorption, errors and lost CALLs.

    python bench/scale.py                                    # the full measurement: 50,000 stations
    python bench/scale.py --stations 2000 --seconds 30       # a quick look (development size)

See docs/benchmarks.md, "Load testing", for what the machine needs for the full run.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
from dataclasses import dataclass
from pathlib import Path

import servers
from ocpp_throughput import machine

from silkcharge.loadtest import (
    BootStorm,
    LoadTest,
    LoadTestFailed,
    Ramp,
    ReconnectStorm,
    Report,
    Steady,
    run,
)
from silkcharge.loadtest.sockets import FILES_BESIDES_SOCKETS
from silkcharge.settings import Settings

TARGETS = ("one-gateway", "two-gateways", "three-gateways", "baseline")
NAMES = {
    "one-gateway": "silkcharge PostgreSQL, 1 gateway process",
    "two-gateways": "silkcharge PostgreSQL, 2 gateway processes",
    "three-gateways": "silkcharge PostgreSQL, 3 gateway processes",
    "baseline": "baseline in-memory (ocpp package)",
}
GATEWAYS = {"two-gateways": 2, "three-gateways": 3}


@dataclass
class Outcome:
    target: str
    report: Report | None
    note: str = ""


def phases(args: argparse.Namespace) -> tuple:
    return (
        Ramp(rate=args.ramp_rate, deadline=args.deadline),
        Steady(args.seconds, rate=args.rate),
        Steady(
            args.seconds, rate=0.0, participants=min(args.max_stations, args.stations), label="max"
        ),
        BootStorm(window=args.storm_window, deadline=args.deadline),
        ReconnectStorm(fraction=1.0, overlap=0.5, rounds=1, window=1.0, deadline=args.deadline),
    )


def gateway_settings(args: argparse.Namespace, processes: int) -> dict[str, str] | str:
    """The settings for several gateway processes on one port, or why they cannot run here."""
    if "gateway_processes" not in Settings.model_fields:
        return "this silkcharge has no SILKCHARGE_GATEWAY_PROCESSES setting (multi-process mode)"
    try:
        return servers.gateway_processes(processes, args.redis_url)
    except servers.ServerFailed as error:
        return str(error)


def start(
    kind: str, args: argparse.Namespace
) -> tuple[servers.Target, servers.PostgresDatabase | None]:
    if kind == "baseline":
        return servers.start_baseline(), None
    settings = {"SILKCHARGE_HEARTBEAT_INTERVAL": "300"}
    if args.no_passwords:  # the stations come without Basic auth: let them in (insecure, on purpose)
        settings["SILKCHARGE_ALLOW_STATIONS_WITHOUT_PASSWORD"] = "true"
    if kind in GATEWAYS:
        extra = gateway_settings(args, GATEWAYS[kind])
        if isinstance(extra, str):
            raise servers.ServerFailed(extra)
        settings |= extra
    database = servers.PostgresDatabase(args.pg_admin)
    try:
        return servers.start_silkcharge_postgres(database, NAMES[kind], settings), database
    except BaseException:
        database.drop()
        raise


def measure(kind: str, args: argparse.Namespace) -> Outcome:
    print(f"measuring {NAMES[kind]} ...", file=sys.stderr)
    try:
        target, database = start(kind, args)
    except (servers.ServerFailed, OSError) as error:
        return Outcome(kind, None, f"not measured: {error}")
    try:
        test = LoadTest(
            target.ocpp_url,
            args.stations,
            phases(args),
            workers=args.workers,
            timeout_s=args.timeout,
            id_prefix="SCALE-",
            seed=args.seed,
            password_prefix=None if args.no_passwords else "loadtest-password-",
            gap_s=3.0,
        )
        report = run(
            test, target.measured(), progress=lambda line: print(f"  {line}", file=sys.stderr)
        )
        target.check_alive()
        errors = target.logged_errors()
        note = (
            f"{len(errors)} error lines in the server log, first: {errors[0][:200]}"
            if errors
            else ""
        )
        return Outcome(kind, report, note)
    except (servers.ServerFailed, LoadTestFailed, OSError) as error:
        return Outcome(kind, None, f"failed: {error}")
    finally:
        target.stop()
        if args.keep:
            print(f"  {target.name}: files kept in {target.workdir}", file=sys.stderr)
        else:
            target.cleanup()
        if database is not None:
            database.drop()


def cell(value: float | None, digits: int = 0) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


COLUMNS = (
    "server", "held", "server RSS MiB", "KiB per connection", "steady msg/s", "steady p50 / p99 ms",
    "max msg/s", "max p50 / p99 ms", "boot storm absorbed s", "Pending replies",
    "reconnect storm absorbed s", "errors", "lost", "server CPU (max)", "DB CPU (max)",
)  # fmt: skip


def summary_cells(report: Report) -> list[str]:
    by = {p.name: p for p in report.phases}
    peak = max(report.phases, key=lambda p: p.held)
    steady, most, boot = by["steady"], by["max"], by["boot-storm"]
    database = [p.usage["database"].cpu_pct for p in report.phases if "database" in p.usage]
    return [
        f"{report.connections_held:,}",
        cell(peak.usage["server"].rss_mib),
        cell(report.memory_per_connection_kib(), 1),
        cell(steady.msgs_per_s),
        f"{cell(steady.p50_ms, 1)} / {cell(steady.p99_ms, 1)}",
        cell(most.msgs_per_s),
        f"{cell(most.p50_ms, 1)} / {cell(most.p99_ms, 1)}",
        cell(boot.absorbed_s, 1),
        f"{boot.boots_pending:,}",
        cell(by["reconnect-storm"].absorbed_s, 1),
        f"{sum(p.errors for p in report.phases):,}",
        f"{sum(p.lost for p in report.phases):,}",
        f"{max(p.usage['server'].cpu_pct for p in report.phases):.0f} %",
        f"{max(database):.0f} %" if database else "–",
    ]


def summary(outcomes: list[Outcome]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|---|" + "--:|" * (len(COLUMNS) - 1)]
    for outcome in outcomes:
        if outcome.report is None:
            cells = [outcome.note] + [""] * (len(COLUMNS) - 2)
        else:
            cells = summary_cells(outcome.report)
        lines.append("| " + " | ".join([NAMES[outcome.target], *cells]) + " |")
    return "\n".join(lines)


def open_files_note(stations: int) -> str | None:
    """Every server here inherits this process's open-file limits; say when they cannot hold all."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard != resource.RLIM_INFINITY and hard < stations + FILES_BESIDES_SOCKETS:
        return (
            f"the hard open-file limit is {hard} (`ulimit -Hn`), so one server process can hold at "
            f"most ~{hard - FILES_BESIDES_SOCKETS:,} of the {stations:,} sockets: raise it "
            f"(as root: `ulimit -Hn 1048576` in the shell that runs this, or LimitNOFILE=) first"
        )
    return None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stations", type=int, default=50_000)
    parser.add_argument(
        "--seconds", type=float, default=60.0, help="length of the steady and max phases"
    )
    parser.add_argument(
        "--rate", type=float, default=0.02, help="steady: CALLs per station and second"
    )
    parser.add_argument(
        "--max-stations", type=int, default=1000, help="max: stations in the closed loop"
    )
    parser.add_argument(
        "--ramp-rate", type=float, default=1000.0, help="ramp: connections a second"
    )
    parser.add_argument(
        "--storm-window", type=float, default=10.0, help="boot storm: seconds to all reconnect"
    )
    parser.add_argument(
        "--deadline", type=float, default=900.0, help="ramp and storms: give up after"
    )
    parser.add_argument(
        "--workers", type=int, default=0, help="load processes (0: one per 12,500 stations)"
    )
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for a reply")
    parser.add_argument(
        "--targets", default=",".join(TARGETS), help=f"comma-separated, from {TARGETS}"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--no-passwords", action="store_true",
        help="stations send no Basic auth: leaves out the one scrypt hash per new station "
        "(about 15 ms of CPU each) that auto-provisioning pays at first contact",
    )
    parser.add_argument("--pg-admin", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument(
        "--redis-url", default="redis://127.0.0.1:6379/14", help="for two gateway processes"
    )
    parser.add_argument("--json", type=Path, help="also write every report here")
    parser.add_argument("--keep", action="store_true", help="keep the servers' logs")
    args = parser.parse_args(argv)
    unknown = set(args.targets.split(",")) - set(TARGETS)
    if unknown:
        parser.error(f"unknown targets {sorted(unknown)}; choose from {TARGETS}")
    if args.stations < 1 or args.seconds <= 0:
        parser.error("give at least one station and a positive --seconds")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    limit_note = open_files_note(args.stations)
    if limit_note:
        print(f"warning: {limit_note}", file=sys.stderr)
    outcomes = [measure(kind, args) for kind in args.targets.split(",")]
    info = machine()
    print(
        f"\n{info['cpu']}, {info['cores']} cores, {info['ram_gib']} GiB RAM, "
        f"Python {info['python']}, {info['date']}; {args.stations:,} stations; steady "
        f"{args.rate:g} CALL/s/station and max ({min(args.max_stations, args.stations):,} "
        f"stations, closed loop) {args.seconds:g} s each; boot storm within "
        f"{args.storm_window:g} s\n"
    )
    print(summary(outcomes))
    for outcome in outcomes:
        if outcome.report is not None:
            print(f"\n### {NAMES[outcome.target]}\n\n{outcome.report.to_text()}")
        if outcome.note:
            print(f"\n- {NAMES[outcome.target]}: {outcome.note}")
    if limit_note:
        print(f"\n- {limit_note}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "machine": info,
                    "args": {k: str(v) for k, v in vars(args).items()},
                    "reports": {
                        o.target: o.report.as_dict() if o.report else None for o in outcomes
                    },
                    "notes": {o.target: o.note for o in outcomes if o.note}
                    | ({"limits": limit_note} if limit_note else {}),
                },
                indent=1,
            )
        )
    return 0 if any(o.report for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
