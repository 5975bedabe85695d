"""Two versions of silkcharge under the same light load at the same time (issue 20).

A light-load p50 is a few milliseconds, and on this virtual machine the same code measured a
quarter apart from one run to the next as the host's load changed (docs/benchmarks.md, issue 20,
"Ninth"), more than most changes move it. Run one after the other, as bench/ocpp_versus.py runs
its targets, two versions differ by the minute they ran in. Here both run at once: each on its
own database (a SQLite file, or with `--database postgres` a database of the local PostgreSQL
server, which the two then share as they share the machine), each with its own Node load generator (bench/node/generator.js) paced at
`--rate` CALLs a second per station, started together (the one started first alternating by
round), so whatever the host does meanwhile it does to both. A light load leaves the machine
mostly idle, so the two do not crowd each other out; their combined CPU is printed to show it.

The base is a git revision of this repository, checked out into a temporary directory; the
other side is this checkout's working tree (uncommitted changes included). Each side's server
runs from its own `src/` with this checkout's virtual environment.

    .venv/bin/python bench/light_side_by_side.py --base HEAD~1
    .venv/bin/python bench/light_side_by_side.py --base 8bbc7d2 --kinds status,meter \\
        --versions 1.6,2.0.1 --rounds 4 --messages 20
    .venv/bin/python bench/light_side_by_side.py --base HEAD~1 --database postgres
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import ocpp_versus
import servers
from ocpp_throughput import machine

ROOT = Path(__file__).resolve().parents[1]
KINDS = ocpp_versus.KINDS
VERSIONS = ocpp_versus.VERSIONS
START_GAP_S = 0.05  # between the two generators' starts, so their connection storms do not meet


@dataclass
class Side:
    """One version: where its source is and the server running it."""

    name: str
    source: Path
    target: servers.Target | None = None
    database: servers.PostgresDatabase | None = None


@dataclass
class Result:
    version: str
    kind: str
    round_: int
    rows: dict[str, ocpp_versus.Row]


def check_out(revision: str, into: Path) -> Path:
    """`revision` of this repository, checked out (no working tree of ours is touched)."""
    subprocess.run(["git", "clone", "--quiet", "--shared", "--no-checkout", str(ROOT), str(into)], check=True)
    checkout = subprocess.run(["git", "-C", str(into), "checkout", "--quiet", "--detach", revision],
                              capture_output=True, text=True)
    if checkout.returncode != 0:
        raise SystemExit(f"cannot check out --base {revision}: {checkout.stderr.strip()}")
    return into


def start(side: Side, args: argparse.Namespace, suffix: str) -> servers.Target:
    settings = {"PYTHONPATH": str(side.source / "src")}
    if args.database == "sqlite":
        side.target = servers.start_silkcharge_sqlite(side.name, settings)
    else:
        side.database = servers.PostgresDatabase(args.pg_admin, suffix)
        side.target = servers.start_silkcharge_postgres(side.database, side.name, settings)
    return side.target


def stop(side: Side) -> None:
    if side.target is not None:
        side.target.stop()
        side.target.cleanup()
    if side.database is not None:
        side.database.drop()


def at_once(sides: list[Side], run, first: int) -> dict[str, object]:
    """`run(side)` for both sides at the same time, side `first` started first; each side's
    result by name, once both have ended (the first failure raised then)."""
    results: dict[str, object] = {}
    failures: list[BaseException] = []

    def one(side: Side) -> None:
        try:
            results[side.name] = run(side)
        except BaseException as error:  # reported after both have ended
            failures.append(error)

    order = sides[first:] + sides[:first]
    threads = [threading.Thread(target=one, args=(side,)) for side in order]
    for thread in threads:
        thread.start()
        time.sleep(START_GAP_S)
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    return results


def light_round(sides: list[Side], args: argparse.Namespace, version: str, kind: str, round_: int) -> Result:
    """Both generators at once; the side that starts first alternates by round."""
    rows = at_once(sides, lambda side: ocpp_versus.run_generator(
        side.target, args, version, kind, load="light", round_=round_), first=(round_ + 1) % 2)
    return Result(version, kind, round_, rows)  # type: ignore[arg-type]


def measure(sides: list[Side], args: argparse.Namespace) -> list[Result]:
    for n, side in enumerate(sides):
        print(f"starting {side.name} from {side.source} on {args.database} ...", file=sys.stderr)
        target = start(side, args, f"_{n}")
        ocpp_versus.seed_tokens(target, args.stations)
    results = []
    for version in args.versions:
        for kind in args.kinds:
            # A short closed loop first: stations, connectors and (meter values) transactions
            # exist before the measured rounds, as in ocpp_versus. Both sides at once, so that
            # neither starts round 1 still busy with what its warm-up left (ended sessions'
            # follow-ups) while the other is already quiet: one after the other, the side warmed
            # up second used 10 points more CPU in round 1 of the meter rows.
            at_once(sides, lambda side: ocpp_versus.run_generator(
                side.target, args, version, kind, load="closed loop", round_=0), first=0)
            for round_ in range(1, args.rounds + 1):
                result = light_round(sides, args, version, kind, round_)
                print("  " + progress(sides, result), file=sys.stderr)
                results.append(result)
    return results


def progress(sides: list[Side], result: Result) -> str:
    parts = [f"{result.version} {result.kind} round {result.round_}:"]
    for side in sides:
        row = result.rows[side.name]
        parts.append(f"{side.name} p50 {row.p50_ms:.2f} ms, CPU {row.server_cpu_pct:.0f} %")
    return " ".join(parts)


def table(sides: list[Side], results: list[Result]) -> str:
    base, new = (side.name for side in sides)
    lines = [
        f"| OCPP | message | round | {base} p50 ms | {new} p50 ms | ÷ | {base} p95 ms | {new} p95 ms "
        f"| {base} server CPU | {new} server CPU | machine CPU | problems |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    for result in results:
        b, n = result.rows[base], result.rows[new]
        problems = "; ".join(f"{name}: {p}" for name, row in result.rows.items() for p in row.problems)
        lines.append(
            f"| {result.version} | {ocpp_versus.KIND_NAMES[result.kind]} | {result.round_} "
            f"| {b.p50_ms:.2f} | {n.p50_ms:.2f} | {ocpp_versus.ratio(n.p50_ms, b.p50_ms)} "
            f"| {b.p95_ms:.2f} | {n.p95_ms:.2f} | {ocpp_versus.pct(b.server_cpu_pct)} "
            f"| {ocpp_versus.pct(n.server_cpu_pct)} | {ocpp_versus.pct(max(b.machine_cpu_pct, n.machine_cpu_pct))} "
            f"| {problems or '–'} |"
        )
    return "\n".join(lines)


def summary(sides: list[Side], results: list[Result]) -> str:
    """Per row, the median over the rounds of each side's p50 and server CPU."""
    base, new = (side.name for side in sides)
    lines = [
        f"| OCPP | message | rounds | {base} p50 ms | {new} p50 ms | ÷ | {base} server CPU | {new} server CPU |",
        "|---|---|--:|--:|--:|--:|--:|--:|",
    ]
    keys = list(dict.fromkeys((r.version, r.kind) for r in results))
    for version, kind in keys:
        group = [r for r in results if (r.version, r.kind) == (version, kind)]
        p50 = {name: statistics.median(r.rows[name].p50_ms for r in group) for name in (base, new)}
        cpu = {name: statistics.median(r.rows[name].server_cpu_pct for r in group) for name in (base, new)}
        lines.append(
            f"| {version} | {ocpp_versus.KIND_NAMES[kind]} | {len(group)} | {p50[base]:.2f} | {p50[new]:.2f} "
            f"| {ocpp_versus.ratio(p50[new], p50[base])} | {ocpp_versus.pct(cpu[base])} | {ocpp_versus.pct(cpu[new])} |"
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True, help="the git revision to compare this working tree with")
    parser.add_argument("--versions", default="1.6", help="OCPP versions: 1.6, 2.0.1")
    parser.add_argument("--kinds", default="status", help=f"from {', '.join(KINDS)}")
    parser.add_argument("--stations", type=int, default=200, help="stations (sockets) per side")
    parser.add_argument("--rate", type=float, default=1.0, help="CALLs a second per station")
    parser.add_argument("--messages", type=int, default=20, help="CALLs per station in each round")
    parser.add_argument("--rounds", type=int, default=4, help="rounds of both sides at once")
    parser.add_argument("--warm-up", type=int, default=10, help="closed-loop CALLs per station before the rounds")
    parser.add_argument("--processes", type=int, default=1, help="generator processes per side")
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite",
                        help="each side's own SQLite file, or its own database on --pg-admin's server")
    parser.add_argument("--pg-admin", default="postgresql://postgres@127.0.0.1:5432/postgres",
                        help="where to create (and drop) the sides' PostgreSQL databases")
    args = parser.parse_args(argv)
    args.versions = ocpp_versus._choices(args.versions, VERSIONS, "versions", parser)
    args.kinds = ocpp_versus._choices(args.kinds, KINDS, "kinds", parser)
    if not (1 <= args.stations <= 2_000 and 1 <= args.messages <= 10_000 and 1 <= args.rounds <= 20):
        parser.error("keep to 1-2000 stations, 1-10000 messages and 1-20 rounds")
    if args.rate <= 0 or args.warm_up < 1 or not (1 <= args.processes <= 8):
        parser.error("keep to a positive --rate, --warm-up of 1 or more and 1-8 processes")
    # What ocpp_versus.run_generator reads: the closed loop is the warm-up, the light load a round.
    args.messages, args.light_messages = args.warm_up, args.messages
    args.light_rate, args.timeout, args.run_timeout = args.rate, 10.0, 600.0
    return args


def describe(tree: Path) -> str:
    """The commit a tree is at, and whether it holds uncommitted changes."""
    head = subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True, check=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(tree), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True, check=True).stdout.strip()
    return f"{head} with uncommitted changes" if dirty else head


def postgres_version(args: argparse.Namespace) -> str:
    import psycopg

    with psycopg.connect(args.pg_admin, autocommit=True, connect_timeout=5) as admin:
        version = admin.execute("SHOW server_version").fetchone()[0]
        commit = admin.execute("SHOW synchronous_commit").fetchone()[0]
    return f"{version} (synchronous_commit={commit})"


def main(argv: list[str] | None = None) -> list[Result]:
    args = parse_args(argv)
    servers.ensure_node_packages()
    with tempfile.TemporaryDirectory(prefix="silkcharge-base-") as folder:
        base = check_out(args.base, Path(folder) / "base")
        sides = [Side(f"base {describe(base)}", base), Side("this tree", ROOT)]
        try:
            results = measure(sides, args)
        finally:
            for side in sides:
                stop(side)
    host = machine()
    database = f"SQLite {host['sqlite']}" if args.database == "sqlite" else f"PostgreSQL {postgres_version(args)}"
    print(f"\n{host['cpu']}, {host['cores']} cores, {host['ram_gib']} GiB RAM; Python {host['python']}, "
          f"{database}; {host['date']}; this tree: {describe(ROOT)}.\n{args.stations} stations a side, {args.rate:g} CALL/s "
          f"each, {args.light_messages} CALLs per station a round, both sides at once.\n")
    print(table(sides, results))
    print()
    print(summary(sides, results))
    return results


if __name__ == "__main__":
    main()
