"""silkcharge beside the fastest in-memory OCPP server, side by side in one run (issue 20).

The targets: silkcharge on SQLite and on PostgreSQL (every message committed before it is
answered), a minimal in-memory CSMS on the Node `ocpp-rpc` package with its strict schema
validation (bench/node/rpc_server.js), and the Python in-memory baseline on the `ocpp` package
(bench/baseline_server.py, OCPP 1.6 only). Each target runs as its own process, one after the
other. For each OCPP version and message kind, the Node load generator (bench/node/generator.js,
raw WebSockets, several processes) connects N stations that each send M CALLs in a closed loop,
for several rounds, and then a light paced load for the p50 latency. Every answer is checked:
a CALLERROR, a wrong reply, a timeout or a boot not Accepted fails the row instead of counting
as speed. Printed as Markdown tables with the ratios to ocpp-rpc; see docs/benchmarks.md.

    python bench/ocpp_versus.py                      # what `make bench-versus` runs
    python bench/ocpp_versus.py --targets ocpp-rpc,sqlite --versions 2.0.1 --kinds status \\
        --stations 20 --messages 10 --rounds 1 --json /tmp/versus.json
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from statistics import mean

import servers
from ocpp_throughput import machine, number

from silkcharge.loadtest.probe import Machine, ProcessGroup, Sample

TARGETS = (
    "sqlite", "postgres", "ocpp-rpc", "baseline", "postgres-2", "websockets", "picows",
    "floor-sqlite", "floor-postgres",
)
DEFAULT_TARGETS = TARGETS[:4]  # the others are asked for by name
TARGET_NAMES = {
    "sqlite": "silkcharge SQLite",
    "postgres": "silkcharge PostgreSQL",
    "postgres-2": "silkcharge PostgreSQL, 2 gateway processes",
    "ocpp-rpc": "ocpp-rpc in-memory",
    "baseline": "ocpp (Python) in-memory",
    "websockets": "websockets layer alone",
    "picows": "picows layer alone",
    "floor-sqlite": "durable floor SQLite",
    "floor-postgres": "durable floor PostgreSQL",
}
SILKCHARGE = ("sqlite", "postgres", "postgres-2")
VERSIONS = ("1.6", "2.0.1")
SUPPORTED_VERSIONS = {"baseline": ("1.6",)}  # bench/baseline_server.py speaks 1.6 only
# bench/ws_layer_server.py answers Boot and Heartbeat only: the layer's own cost per message
SUPPORTED_KINDS = {"websockets": ("heartbeat",), "picows": ("heartbeat",)}
KINDS = ("heartbeat", "status", "meter")
KIND_NAMES = {
    "heartbeat": "Heartbeat",
    "status": "StatusNotification",
    "meter": "MeterValues in a transaction",  # 2.0.1: TransactionEvent Updated with meter values
}
REFERENCE = "ocpp-rpc"  # the ratios divide by this target's numbers
PASSWORD = "silkcharge-bench-password"  # 25 characters: inside OCPP 1.6's 16..40 for a key
ID_TAG = "BENCH-"  # + a station's number: its own token (one token holds one transaction at a time)
GAP_S = 2.0  # between two runs: the last closes and writes settle, the next starts from quiet
GENERATOR = servers.NODE_DIR / "generator.js"
BUSY_GENERATOR_PCT = 70.0  # a generator process this busy may be what sets the pace


@dataclass
class Row:
    target: str
    version: str
    kind: str
    load: str  # "closed loop" or "light"
    round: int
    stations: int
    messages: int
    seconds: float = math.nan
    msgs_per_s: float = math.nan
    p50_ms: float = math.nan
    p95_ms: float = math.nan
    p99_ms: float = math.nan
    max_ms: float = math.nan
    server_cpu_pct: float = math.nan
    database_cpu_pct: float | None = None
    generator_cpu_pct: float = math.nan  # all generator processes together, from /proc
    generator_worker_max_pct: float = math.nan  # the busiest worker, as it measured itself
    machine_cpu_pct: float = math.nan  # all cores busy, in % of one core (2 cores: up to 200)
    logged_pct: float | None = None  # of the phase's frames (a CALL and its reply each), in the log at its end
    server_calls: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


# -- one generator run ---------------------------------------------------------------------------


def _cpu_pct(before: Sample, after: Sample, seconds: float) -> float:
    return 100 * (after.cpu_s - before.cpu_s) / seconds if seconds > 0 else math.nan


def run_generator(
    target: servers.Target,
    args: argparse.Namespace,
    version: str,
    kind: str,
    *,
    load: str,
    round_: int,
) -> Row:
    """One run of bench/node/generator.js against `target`; the CPU of the server, PostgreSQL,
    the generator and the machine is sampled at the generator's "go" and "done" lines, so it
    covers the measured phase alone (not the connecting, booting or closing)."""
    light = load == "light"
    messages = args.light_messages if light else args.messages
    row = Row(target.name, version, kind, load, round_, args.stations, messages)
    command = [
        "node", str(GENERATOR),
        "--url", target.ocpp_url,
        "--version", version,
        "--kind", kind,
        "--stations", str(args.stations),
        "--messages", str(messages),
        "--processes", str(args.processes),
        "--rate", str(args.light_rate if light else 0),
        "--password", PASSWORD,
        "--prefix", _prefix(version),
        "--id-tag", ID_TAG,
        "--timeout", str(args.timeout),
        "--sync-stdin", "yes",
    ]  # fmt: skip
    stderr_path = (
        target.workdir / f"generator-{version}-{kind}-{load.replace(' ', '-')}-{round_}.log"
    )
    with open(stderr_path, "wb") as stderr:
        process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, text=True
        )
    # A generator that hangs (a server that never answers and never closes) is ended here.
    watchdog = threading.Timer(args.run_timeout, process.kill)
    watchdog.start()
    groups = {"server": ProcessGroup("server", (target.pid,))}
    if target.database_pid:
        groups["database"] = ProcessGroup("database", (target.database_pid,))
    groups["machine"] = Machine()
    at_go: dict[str, Sample] = {}
    at_done: dict[str, Sample] = {}
    go_time = done_time = 0.0
    go_wall = datetime.now(timezone.utc)
    result = None
    try:
        assert process.stdout is not None
        for line in process.stdout:
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            if event.get("event") == "go":
                go_time, at_go = time.monotonic(), {n: g.sample() for n, g in groups.items()}
                go_wall = datetime.now(timezone.utc)
            elif event.get("event") == "done":
                done_time, at_done = time.monotonic(), {n: g.sample() for n, g in groups.items()}
                if at_go and not light:
                    # A log that keeps up holds the phase's frames but the last fraction of a
                    # second's; one kept from the database while the load lasts holds few.
                    logged = target.frames_logged_since(go_wall)
                    if logged is not None:
                        row.logged_pct = 100 * logged / (2 * args.stations * messages)
                assert process.stdin is not None
                process.stdin.write("sampled\n")  # now it may stop transactions and close
                process.stdin.close()
            elif event.get("event") == "result":
                result = event
        process.wait()
    finally:
        watchdog.cancel()
        if process.poll() is None:
            process.kill()
            process.wait()
    target.check_alive()
    if result is None:
        tail = stderr_path.read_text(errors="replace")[-1500:]
        killed = (
            " (killed after --run-timeout)" if process.returncode and process.returncode < 0 else ""
        )
        row.problems.append(f"generator gave no result, exit {process.returncode}{killed}: {tail}")
        return row

    latency = result["latency_ms"]
    nan = math.nan
    row.seconds = result["seconds"]
    row.msgs_per_s = result["msgs_per_s"]
    row.p50_ms, row.p95_ms, row.p99_ms, row.max_ms = (
        nan if latency[p] is None else latency[p] for p in ("p50", "p95", "p99", "max")
    )
    # The generator's CPU as its processes measured it over the measured phase: /proc cannot
    # see a worker that exits before the orchestrator samples it.
    row.generator_cpu_pct = sum(result["generator_cpu_pct"]) + result["coordinator_cpu_pct"]
    row.generator_worker_max_pct = max(result["generator_cpu_pct"], default=nan)
    row.server_calls = result["server_calls"]
    row.problems.extend(result["problems"])
    if at_go and at_done:
        window = done_time - go_time
        row.server_cpu_pct = _cpu_pct(at_go["server"], at_done["server"], window)
        row.machine_cpu_pct = _cpu_pct(at_go["machine"], at_done["machine"], window)
        if "database" in groups:
            row.database_cpu_pct = _cpu_pct(at_go["database"], at_done["database"], window)
    return row


# -- one target ----------------------------------------------------------------------------------


def _post(target: servers.Target, path: str, body: dict) -> None:
    """One operator API POST; 409 (already there) is fine, anything else ends the run."""
    request = urllib.request.Request(
        f"{target.api_url}/api/v1/{path}",
        data=json.dumps(body).encode(),
        headers={"X-API-Key": servers.API_KEY, "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30):
            pass
    except urllib.error.HTTPError as error:
        if error.code != 409:
            detail = error.read().decode(errors="replace")[:300]
            raise servers.ServerFailed(f"could not seed {path}: HTTP {error.code} {detail}") from None


def _numbered(prefix: str, stations: int) -> list[str]:
    """The generator numbers stations (and their tokens) from 1, zero-padded to one width."""
    width = len(str(stations))
    return [f"{prefix}{n:0{width}d}" for n in range(1, stations + 1)]


def seed_tokens(target: servers.Target, stations: int) -> None:
    """Each station's idTag as an Accepted token, through the operator API, so StartTransaction
    and TransactionEvent Started are authorized on silkcharge as on the in-memory servers (which
    accept any). Not measured."""
    for token in _numbered(ID_TAG, stations):
        _post(target, "tokens", {"token": token, "label": "bench/ocpp_versus.py"})


def seed_priced_network(target: servers.Target, stations: int, versions: list[str]) -> None:
    """--priced: every station registered on one site with a network tariff (50 KZT/kWh + 16 %
    VAT), so each session is priced as it runs: a 2.0.1 station gets its cost so far in every
    TransactionEvent reply, as on a real network. Without it the stations provision themselves
    onto no site and no session can be priced. Not measured."""
    _post(target, "operators", {"code": "BENCH", "name": "Benchmark network", "country": "KZ", "currency": "KZT"})
    _post(target, "sites", {
        "code": "BENCH-SITE", "operator": "BENCH", "name": "Benchmark site", "country": "KZ",
        "lat": 43.2, "lon": 76.62, "timezone": "Asia/Almaty",
    })
    _post(target, "tariffs", {"code": "BENCH-50", "operator": "BENCH", "tariff": {
        "currency": "KZT", "country_code": "KZ",
        "elements": [{"price_components": [{"type": "ENERGY", "price": "50", "vat": 16, "step_size": 1}]}],
    }})
    for version in versions:
        for station in _numbered(_prefix(version), stations):
            _post(target, "stations", {
                "id": station, "site": "BENCH-SITE", "password": PASSWORD,
                "connectors": [{"evse_id": 1, "connector_id": 1, "standard": "ccs2", "max_power_kw": "150"}],
            })


def _prefix(version: str) -> str:
    return f"VS{version.replace('.', '')}-"


def start_target(kind: str, args: argparse.Namespace, notes: list[str]):
    """The target running, and the PostgreSQL database made for it (or None)."""
    if kind == "sqlite":
        target = servers.start_silkcharge_sqlite()
    elif kind == "floor-sqlite":
        notes.append(f"durable floor SQLite: readings {args.floor_readings}")
        target = servers.start_floor(readings=args.floor_readings)
    elif kind in ("postgres", "postgres-2", "floor-postgres"):
        database = servers.PostgresDatabase(args.pg_admin)
        notes.append(
            f"PostgreSQL {database.version} (fsync={database.fsync}, "
            f"synchronous_commit={database.synchronous_commit}), database {database.name}"
        )
        try:
            if kind == "postgres":
                target = servers.start_silkcharge_postgres(database)
            elif kind == "floor-postgres":
                notes.append(f"durable floor PostgreSQL: readings {args.floor_readings}, "
                             f"{args.floor_connections} connection(s)")
                target = servers.start_floor(database, args.floor_readings, args.floor_connections)
            else:
                target = servers.start_silkcharge_postgres(
                    database, settings=servers.gateway_processes(2, args.redis_url)
                )
        except BaseException:
            database.drop()
            raise
        return target, database
    elif kind == "ocpp-rpc":
        target = servers.start_ocpp_rpc()
    elif kind in SUPPORTED_KINDS:
        target = servers.start_ws_layer(kind)
    else:
        target = servers.start_baseline()
    return target, None


def measure_target(kind: str, args: argparse.Namespace, notes: list[str]) -> list[Row]:
    target, database = start_target(kind, args, notes)
    target.name = TARGET_NAMES[kind]
    rows: list[Row] = []
    try:
        if kind in SILKCHARGE:
            seed_tokens(target, args.stations)
            if args.priced:
                seed_priced_network(target, args.stations, args.versions)
        for version in args.versions:
            if version not in SUPPORTED_VERSIONS.get(kind, VERSIONS):
                continue
            for message_kind in args.kinds:
                if message_kind not in SUPPORTED_KINDS.get(kind, KINDS):
                    continue
                loads = [("closed loop", r) for r in range(1, args.rounds + 1)]
                if args.light_messages > 0:
                    loads.append(("light", 1))
                for load, round_ in loads:
                    time.sleep(GAP_S)
                    row = run_generator(
                        target, args, version, message_kind, load=load, round_=round_
                    )
                    print(f"  {progress(row)}", file=sys.stderr)
                    rows.append(row)
        errors = target.logged_errors()
        if errors:
            notes.append(
                f"{target.name} logged {len(errors)} error lines, first: {errors[0][:300]}"
            )
        return rows
    finally:
        target.stop()
        notes.extend(f"{target.name}: {note}" for note in target.notes)
        if args.keep:
            notes.append(f"{target.name}: logs kept in {target.workdir}")
        else:
            target.cleanup()
        if database is not None:
            database.drop()


def progress(row: Row) -> str:
    what = f"{row.target}, OCPP {row.version}, {KIND_NAMES[row.kind]}, {row.load} {row.round}"
    if not row.ok:
        return f"{what}: FAILED: {'; '.join(row.problems)}"
    return f"{what}: {row.msgs_per_s:,.0f} msg/s, p50 {row.p50_ms:.1f} ms"


# -- the report ----------------------------------------------------------------------------------


def _reference(rows: list[Row], row: Row) -> list[Row]:
    """The ocpp-rpc rows of the same version, kind and load (and round, for the closed loop)."""
    return [
        r for r in rows
        if r.target == TARGET_NAMES[REFERENCE] and r.ok
        and (r.version, r.kind, r.load, r.round) == (row.version, row.kind, row.load, row.round)
    ]  # fmt: skip


def ratio(value: float, reference: float) -> str:
    if math.isnan(value) or math.isnan(reference) or reference <= 0:
        return "–"
    return f"{value / reference:.2f}"


def pct(value: float | None) -> str:
    return "–" if value is None or math.isnan(value) else f"{value:.0f} %"


def side_by_side(rows: list[Row]) -> list[Row]:
    """Rows of one version, kind and round together, targets in their usual order."""
    order = list(TARGET_NAMES.values())
    return sorted(
        rows,
        key=lambda r: (
            VERSIONS.index(r.version),
            KINDS.index(r.kind),
            r.round,
            order.index(r.target),
        ),
    )


def closed_loop_table(rows: list[Row]) -> str:
    lines = [
        "| OCPP | message | server | round | msg/s | ÷ ocpp-rpc | p50 ms | p95 ms | p99 ms "
        "| server CPU | DB CPU | generator CPU | machine CPU | logged at the end |",
        "|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in side_by_side(rows):
        if r.load != "closed loop":
            continue
        reference = _reference(rows, r)
        throughput = number(r.msgs_per_s, 0) if r.ok else "**FAILED**"
        lines.append(
            f"| {r.version} | {KIND_NAMES[r.kind]} | {r.target} | {r.round} | {throughput} "
            f"| {ratio(r.msgs_per_s, reference[0].msgs_per_s) if reference and r.ok else '–'} "
            f"| {number(r.p50_ms)} | {number(r.p95_ms)} | {number(r.p99_ms)} "
            f"| {pct(r.server_cpu_pct)} | {pct(r.database_cpu_pct)} | {pct(r.generator_cpu_pct)} "
            f"| {pct(r.machine_cpu_pct)} | {pct(r.logged_pct)} |"
        )
    return "\n".join(lines)


def light_table(rows: list[Row]) -> str:
    lines = [
        "| OCPP | message | server | msg/s | p50 ms | p50 ÷ ocpp-rpc | p95 ms | p99 ms | server CPU |",
        "|---|---|---|--:|--:|--:|--:|--:|--:|",
    ]
    for r in side_by_side(rows):
        if r.load != "light":
            continue
        reference = _reference(rows, r)
        p50 = number(r.p50_ms) if r.ok else "**FAILED**"
        lines.append(
            f"| {r.version} | {KIND_NAMES[r.kind]} | {r.target} | {number(r.msgs_per_s, 0)} | {p50} "
            f"| {ratio(r.p50_ms, reference[0].p50_ms) if reference and r.ok else '–'} "
            f"| {number(r.p95_ms)} | {number(r.p99_ms)} | {pct(r.server_cpu_pct)} |"
        )
    return "\n".join(lines)


def summary_table(rows: list[Row]) -> str:
    """The issue's question at a glance: mean closed-loop msg/s over the rounds, and the ratio
    of each target to ocpp-rpc (1.00 or more: at or above it). A failed round leaves a cell empty."""
    names = [n for n in TARGET_NAMES.values() if any(r.target == n for r in rows)]
    others = [n for n in names if n != TARGET_NAMES[REFERENCE]]
    head = (
        "| OCPP | message | "
        + " | ".join(
            ([f"{TARGET_NAMES[REFERENCE]} msg/s"] if TARGET_NAMES[REFERENCE] in names else [])
            + [f"{n} msg/s | ÷" for n in others]
        )
        + " |"
    )
    columns = head.count("|") - 1
    lines = [head, "|---|---|" + "--:|" * (columns - 2)]
    for version in VERSIONS:
        for kind in KINDS:

            def mean_of(name: str) -> float:
                picked = [
                    r for r in rows
                    if (r.target, r.version, r.kind, r.load) == (name, version, kind, "closed loop")
                ]  # fmt: skip
                if not picked or not all(r.ok for r in picked):
                    return math.nan
                return mean(r.msgs_per_s for r in picked)

            means = {n: mean_of(n) for n in names}
            if all(math.isnan(v) for v in means.values()) and not any(
                r.version == version and r.kind == kind for r in rows
            ):
                continue
            reference = means.get(TARGET_NAMES[REFERENCE], math.nan)
            cells = [number(reference, 0)] if TARGET_NAMES[REFERENCE] in names else []
            for n in others:
                cells += [number(means[n], 0), ratio(means[n], reference)]
            lines.append(f"| {version} | {KIND_NAMES[kind]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def versions_info(databases: list[str]) -> dict[str, str]:
    info = machine()
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    info.update(
        node=node.lstrip("v") or "?",
        ocpp_rpc=servers.node_package_version("ocpp-rpc"),
        ws=servers.node_package_version("ws"),
        websockets=metadata.version("websockets"),
        ocpp=metadata.version("ocpp"),
        commit=subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
            cwd=Path(__file__).resolve().parent,
        ).stdout.strip() or "?",
    )  # fmt: skip
    if databases:
        info["postgresql"] = ", ".join(databases)
    return info


def report(args: argparse.Namespace, rows: list[Row], notes: list[str]) -> None:
    pg = [
        n.split(" (")[0].removeprefix("PostgreSQL ") for n in notes if n.startswith("PostgreSQL ")
    ]
    info = versions_info(pg)
    if "picows" in args.targets:
        info["websockets"] += f", picows {servers.picows_version()}"
    print(
        f"\n{info['cpu']}, {info['cores']} cores, {info['ram_gib']} GiB RAM; Python {info['python']}, "
        f"SQLite {info['sqlite']}, {'PostgreSQL ' + info['postgresql'] + ', ' if pg else ''}"
        f"Node {info['node']}, ocpp-rpc {info['ocpp_rpc']}, ws {info['ws']}, "
        f"websockets {info['websockets']}, ocpp {info['ocpp']}; silkcharge {info['commit']}; "
        f"{info['date']}.\n{args.stations} stations × {args.messages} messages in a closed loop, "
        f"{args.rounds} round(s); light load {args.light_rate:g} msg/s/station × "
        f"{args.light_messages}; generator: {args.processes} Node process(es)"
        f"{'; silkcharge stations on a site with a tariff (--priced)' if args.priced else ''}.\n"
    )
    print("Closed loop, mean of the rounds (÷: this server's msg/s ÷ ocpp-rpc's):\n")
    print(summary_table(rows))
    print("\nClosed loop, each round:\n")
    print(closed_loop_table(rows))
    if any(r.load == "light" for r in rows):
        print(f"\nLight load ({args.light_rate:g} msg/s per station), for the p50 latency:\n")
        print(light_table(rows))
    busy = [r for r in rows if r.generator_worker_max_pct > BUSY_GENERATOR_PCT]
    if busy:
        notes.append(
            f"a generator process was above {BUSY_GENERATOR_PCT:g} % of a core in {len(busy)} run(s): "
            "use more --processes, it may have set the pace"
        )
    for r in rows:
        if r.server_calls:
            notes.append(
                f"{r.target} sent the stations CALLs (answered NotImplemented): {r.server_calls}"
            )
        if not r.ok:
            notes.append(
                f"FAILED {r.target}, OCPP {r.version}, {KIND_NAMES[r.kind]}, {r.load} {r.round}: "
                + "; ".join(r.problems)
            )
    for note in dict.fromkeys(notes):  # in order, once each
        print(f"\n- {note}")
    if args.json:
        payload = {
            "machine": info,
            "args": {k: str(v) for k, v in vars(args).items()},
            "rows": [asdict(r) | {"ok": r.ok} for r in rows],
            "notes": notes,
        }
        args.json.write_text(json.dumps(payload, indent=1))


# -- the command ---------------------------------------------------------------------------------


def _choices(text: str, allowed: tuple[str, ...], what: str, parser) -> list[str]:
    picked = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [p for p in picked if p not in allowed]
    if unknown or not picked:
        parser.error(f"unknown {what} {unknown}; choose from {', '.join(allowed)}")
    return picked


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stations", type=int, default=200, help="stations (sockets) per run")
    parser.add_argument("--messages", type=int, default=50, help="CALLs per station, closed loop")
    parser.add_argument("--rounds", type=int, default=2, help="closed-loop runs per row")
    parser.add_argument(
        "--targets", default=",".join(DEFAULT_TARGETS),
        help=f"from {', '.join(TARGETS)} (default: {', '.join(DEFAULT_TARGETS)}; websockets and picows "
        "are a bare Boot/Heartbeat responder on each WebSocket layer, bench/ws_layer_server.py; "
        "floor-* the durable floor, bench/durable_floor_server.py)",
    )
    parser.add_argument("--versions", default=",".join(VERSIONS), help="OCPP versions: 1.6, 2.0.1")
    parser.add_argument("--kinds", default=",".join(KINDS), help=f"from {', '.join(KINDS)}")
    parser.add_argument(
        "--light-rate", type=float, default=1.0, help="CALLs a second per station at light load"
    )
    parser.add_argument(
        "--light-messages", type=int, default=10,
        help="CALLs per station at light load (0: no light-load run)",
    )  # fmt: skip
    parser.add_argument(
        "--processes", type=int, default=2, help="generator processes sharing the stations"
    )
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for a reply")
    parser.add_argument(
        "--run-timeout", type=float, default=600.0, help="seconds before a generator run is ended"
    )
    parser.add_argument(
        "--pg-admin",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="where to create (and drop) the PostgreSQL database of the run",
    )
    parser.add_argument(
        "--redis-url", default="redis://127.0.0.1:6379/13",
        help="for postgres-2: the Redis database its gateway processes share (emptied first)",
    )
    parser.add_argument(
        "--floor-readings", choices=("rows", "packed"), default="rows",
        help="for floor-*: a row a reading as silkcharge keeps them (default), or a row a meter value",
    )
    parser.add_argument(
        "--floor-connections", type=int, default=1,
        help="for floor-postgres: batches written at once, a connection each (default 1)",
    )
    parser.add_argument(
        "--priced", action="store_true",
        help="silkcharge's stations on a site with a tariff: every session priced as it runs",
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--keep", action="store_true", help="keep the servers' and generator's logs"
    )
    args = parser.parse_args(argv)
    args.targets = _choices(args.targets, TARGETS, "targets", parser)
    args.versions = _choices(args.versions, VERSIONS, "versions", parser)
    args.kinds = _choices(args.kinds, KINDS, "kinds", parser)
    if not (
        1 <= args.stations <= 20_000 and 1 <= args.messages <= 100_000 and 1 <= args.rounds <= 10
    ):
        parser.error("keep to 1-20000 stations, 1-100000 messages and 1-10 rounds")
    if not (1 <= args.processes <= 16) or args.light_rate <= 0 or args.light_messages < 0:
        parser.error("keep to 1-16 processes, a positive --light-rate and --light-messages >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        servers.ensure_node_packages()  # the generator needs them, whatever the targets
    except servers.ServerFailed as error:
        print(f"cannot run: {error}", file=sys.stderr)
        return 1
    rows: list[Row] = []
    notes: list[str] = []
    for kind in args.targets:
        print(f"measuring {TARGET_NAMES[kind]} ...", file=sys.stderr)
        try:
            rows.extend(measure_target(kind, args, notes))
        except (servers.ServerFailed, OSError) as error:  # the other targets still count
            notes.append(f"{TARGET_NAMES[kind]}: not measured: {error}")
    report(args, rows, notes)
    measured_all = len({r.target for r in rows}) == len(args.targets)
    return 0 if rows and measured_all and all(r.ok for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
