"""The `silkcharge` command: serve the platform, manage its database, simulate chargers, demo."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import signal
import sys
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path

import typer
from rich.console import Console

from silkcharge.planning.cli import planning_app
from silkcharge.settings import Settings

app = typer.Typer(help="silkcharge: EV charging platform for Central Asia.", no_args_is_help=True)
app.add_typer(planning_app, name="plan-network")
console = Console(soft_wrap=True)

DEMO_DIR = Path("var/demo")
DEMO_API_KEY = "demo-key"
DEMO_SESSIONS_PER_HOUR = float(os.environ.get("SILKCHARGE_DEMO_SESSIONS_PER_HOUR", "12"))
DEMO_TOKENS = [
    {"token": f"DEMO-RFID-{n:04d}", "type": "ISO14443", "label": "demo driver card (synthetic)"}
    for n in range(1, 21)
] + [
    {"token": f"DYU-TAXI-{n:03d}", "type": "ISO14443", "group_id": "dushanbe-taxi",
     "label": "demo taxi fleet card (synthetic)"}
    for n in range(1, 11)
]
# The demo's driver account (docs/driver.md), who owns the first demo card.
DEMO_DRIVER = {"email": "driver@example.kz", "password": "demo-driver", "name": "Demo Driver",
               "language": "en", "tokens": ["DEMO-RFID-0001"]}


def _logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def _run(coro) -> None:
    try:
        asyncio.run(coro)
    except KeyboardInterrupt:
        pass


@app.command()
def serve() -> None:
    """Run the OCPP gateway and the operator API (configured by SILKCHARGE_* variables)."""
    from silkcharge.app import serve as serve_platform

    settings = Settings()
    _logging(settings)
    _run(_until_signal(serve_platform(settings)))


STOP_GRACE_SECONDS = float(os.environ.get("SILKCHARGE_STOP_GRACE_SECONDS", "30"))


async def _until_signal(coro) -> None:
    """Run `coro` until SIGINT or SIGTERM, then stop it gracefully. A stop that takes longer
    than STOP_GRACE_SECONDS logs what it is still waiting for and ends the process: an
    orchestrator's restart must not hang on one stuck task (and its log says which)."""
    task = asyncio.ensure_future(coro)
    loop = asyncio.get_running_loop()

    def stop() -> None:
        if not task.done():
            task.cancel()
            loop.call_later(STOP_GRACE_SECONDS, _stop_overdue)

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop)
    try:
        await task
    except asyncio.CancelledError:
        pass


def _awaiting(coro) -> list[str]:
    """Where a suspended coroutine waits: its frame, then the frames of what it awaits."""
    chain = []
    while coro is not None and len(chain) < 12:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is None:
            chain.append(type(coro).__name__)
            break
        chain.append(f"{frame.f_code.co_name} ({Path(frame.f_code.co_filename).name}:{frame.f_lineno})")
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    return chain


def _stop_overdue() -> None:
    log = logging.getLogger("silkcharge.cli")
    pending = [t for t in asyncio.all_tasks() if not t.done()]
    log.error("stop took over %g s; %d tasks still running, ending the process", STOP_GRACE_SECONDS, len(pending))
    for t in pending[:20]:
        log.error("still running: %s: %s", t.get_name(), " -> ".join(_awaiting(t.get_coro())))
    logging.shutdown()
    os._exit(1)


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema."""
    from silkcharge.store.db import migrate as run_migrations

    settings = Settings()
    run_migrations(settings.database_url)
    console.print(f"database at [bold]{settings.database_url}[/] is up to date")


@app.command()
def seed(
    fleet: Path = typer.Option(Path("var/fleet.json"), help="where to write the simulator's fleet file"),
    tokens: bool = typer.Option(True, help="also add the synthetic demo driver and taxi cards"),
) -> None:
    """Load the curated Central Asian seed network; write a fleet file for `silkcharge simulate`."""
    settings = Settings()
    count = asyncio.run(_seed(settings, fleet, DEMO_TOKENS if tokens else []))
    console.print(f"seeded {count} new stations; fleet file: {fleet}")


async def _seed(settings: Settings, fleet: Path, tokens: list[dict]) -> int:
    from silkcharge.data.seed import load_seed_network
    from silkcharge.services.drivers import DriverService
    from silkcharge.services.seeding import seed_network
    from silkcharge.store.db import create_engine_for, sessionmaker_for
    from silkcharge.store.db import migrate as run_migrations

    await asyncio.to_thread(run_migrations, settings.database_url)
    engine = create_engine_for(settings.database_url)
    try:
        sessions = sessionmaker_for(engine)
        created = await seed_network(sessions, load_seed_network(), tokens=tokens)
        if any(t["token"] in DEMO_DRIVER["tokens"] for t in tokens):
            await DriverService(sessions, timedelta(hours=settings.driver_session_hours)).ensure(
                **DEMO_DRIVER)
    finally:
        await engine.dispose()
    fleet.parent.mkdir(parents=True, exist_ok=True)
    specs = [
        {**asdict(s), "firmware_version": "1.0.0"} for s in created
    ]
    if fleet.exists() and not created:
        return 0
    fleet.write_text(json.dumps(specs, indent=1))
    return len(created)


@app.command()
def simulate(
    fleet: Path = typer.Option(Path("var/fleet.json"), help="fleet file written by `silkcharge seed`"),
    url: str = typer.Option("ws://127.0.0.1:9000/ocpp", help="the CSMS OCPP endpoint"),
    limit: int = typer.Option(0, help="simulate only the first N stations (0: all)"),
    sessions_per_hour: float = typer.Option(6.0, help="average sessions started per station and hour"),
    meter_interval: float = typer.Option(10.0, help="seconds between meter values while charging"),
) -> None:
    """Run virtual chargers (OCPP 1.6 and 2.0.1) that boot, charge and answer commands."""
    from silkcharge.sim.fleet import load_fleet, run_fleet

    if not fleet.exists():
        console.print(f"[red]no fleet file at {fleet}[/]: run `silkcharge seed` first")
        raise typer.Exit(2)
    specs = load_fleet(fleet)
    if limit:
        specs = specs[:limit]
    logging.basicConfig(level=logging.WARNING)
    tokens = [t["token"] for t in DEMO_TOKENS]
    console.print(f"simulating {len(specs)} chargers against {url}")

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_fleet(
            url, specs, session_rate_per_hour=sessions_per_hour, tokens=tokens,
            meter_interval=meter_interval, stop=stop,
        )

    _run(main())


@app.command()
def demo(
    stations: int = typer.Option(100, help="how many seeded stations to simulate"),
    api_port: int = typer.Option(8080),
    ocpp_port: int = typer.Option(9000),
) -> None:
    """A fresh SQLite database with the seeded network of the region, the platform, and ~100
    simulated chargers. Runs until Ctrl-C."""
    from silkcharge.app import serve as serve_platform

    if DEMO_DIR.exists():
        shutil.rmtree(DEMO_DIR)  # the demo always starts from the seed, never from old state
    DEMO_DIR.mkdir(parents=True)
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{DEMO_DIR}/silkcharge.sqlite3",
        api_key=DEMO_API_KEY, api_port=api_port, ocpp_port=ocpp_port, heartbeat_interval=60,
        log_level=os.environ.get("SILKCHARGE_LOG_LEVEL", "WARNING"),
    )
    _logging(settings)
    fleet = DEMO_DIR / "fleet.json"
    seeded = asyncio.run(_seed(settings, fleet, DEMO_TOKENS))
    api = f"http://127.0.0.1:{api_port}"
    console.print(f"[bold green]silkcharge demo[/]: {seeded} seeded stations, simulating {stations}")
    console.print(f"  operator console:     {api}/   (sign in with the key {DEMO_API_KEY})")
    console.print(f"  driver pages:         {api}/#/find   (log in as {DEMO_DRIVER['email']}, "
                  f"password {DEMO_DRIVER['password']})")
    console.print(f"  API docs (OpenAPI):   {api}/docs")
    console.print(f"  live status:          {api}/api/v1/status   (header X-API-Key: {DEMO_API_KEY})")
    console.print(f"  live events (SSE):    {api}/api/v1/events")
    console.print(f"  stations:             {api}/api/v1/stations")
    console.print(f"  sessions:             {api}/api/v1/transactions")
    console.print(f"  OCPP endpoint:        ws://127.0.0.1:{ocpp_port}/ocpp/{{stationId}}")
    console.print(f"  try: curl -H 'X-API-Key: {DEMO_API_KEY}' {api}/api/v1/status")
    console.print("Ctrl-C stops everything.")
    _run(_until_signal(_demo(settings, fleet, stations, serve_platform)))


async def _demo(settings: Settings, fleet: Path, stations: int, serve_platform) -> None:
    """Serve the platform; once it listens, start the simulated chargers in their own process."""
    ready = asyncio.Event()
    platform = asyncio.create_task(serve_platform(settings, ready=ready))
    waiting = asyncio.create_task(ready.wait())
    await asyncio.wait({platform, waiting}, return_when=asyncio.FIRST_COMPLETED)
    if platform.done():
        waiting.cancel()
        platform.result()
        return
    simulator = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "silkcharge.cli", "simulate", "--fleet", str(fleet),
        "--url", f"ws://127.0.0.1:{settings.ocpp_port}/ocpp", "--limit", str(stations),
        "--sessions-per-hour", str(DEMO_SESSIONS_PER_HOUR), "--meter-interval", "15",
    )
    try:
        await platform
    finally:
        if simulator.returncode is None:
            simulator.terminate()
            try:
                await asyncio.wait_for(simulator.wait(), 10)
            except asyncio.TimeoutError:
                simulator.kill()
        platform.cancel()


# ---- load testing (issue 8) ---------------------------------------------------------------


LOADTEST_HELP = (
    "Drive many simulated OCPP 1.6 stations at a CSMS and report what it held.\n\n"
    "Per phase: sockets held, messages per second, latency p50/p95/p99, CALLERRORs, timeouts, "
    "lost CALLs (never answered), boots Accepted/Pending/Rejected (stations honour the interval), "
    "the time until a ramp or storm was absorbed, and the CPU and memory of the server "
    "(--server-pid), the database (--database-pid) and the generator itself.\n\n"
    "Start silkcharge with SILKCHARGE_AUTO_PROVISION=true so the stations are admitted. "
    "See docs/benchmarks.md, 'Load testing'."
)


@app.command(help=LOADTEST_HELP)
def loadtest(
    url: str = typer.Option("ws://127.0.0.1:9000/ocpp", help="the CSMS's OCPP endpoint; a station connects to URL/<its id>"),
    stations: int = typer.Option(1000, min=1, help="simulated OCPP 1.6 stations, one socket each"),
    phases: str = typer.Option(
        "ramp,steady,boot-storm,reconnect-storm",
        help="run in this order, from: ramp (connect at --ramp-rate and boot), steady (the mix at "
        "--rate), max (closed loop: next CALL when the reply is in), boot-storm (all drop, come back "
        "within --storm-window and boot), reconnect-storm (drop and reconnect at once, some while "
        "the old socket is still closing)",
    ),
    workers: int = typer.Option(0, min=0, help="load processes (0: one per 12,500 stations)"),
    ramp_rate: float = typer.Option(500.0, help="ramp: new connections per second, over all workers"),
    seconds: float = typer.Option(60.0, help="steady and max: length of the phase"),
    rate: float = typer.Option(0.1, help="steady: CALLs per station and second"),
    max_stations: int = typer.Option(0, min=0, help="max: only the first N stations take part (0: all)"),
    mix: str = typer.Option(
        "heartbeat=0.15,status=0.15,meter_values=0.6,transaction=0.1",
        help="steady and max: shares of the CALL kinds; a transaction pick starts or stops a session",
    ),
    storm_window: float = typer.Option(5.0, help="boot-storm: seconds within which every station reconnects"),
    deadline: float = typer.Option(600.0, help="ramp and storms: seconds before a station that is not back gives up"),
    reconnect_fraction: float = typer.Option(1.0, help="reconnect-storm: share of stations that drop"),
    reconnect_overlap: float = typer.Option(0.5, help="reconnect-storm: share reconnecting while the old socket still closes"),
    reconnect_rounds: int = typer.Option(1, min=1, help="reconnect-storm: how many times"),
    timeout: float = typer.Option(10.0, help="seconds to wait for a handshake or a reply"),
    server_pid: list[int] = typer.Option([], help="report this process's CPU and memory, with its children; repeatable"),
    database_pid: list[int] = typer.Option([], help="the same for the database (e.g. the postmaster); repeatable"),
    source_address: list[str] = typer.Option([], help="bind client sockets to these addresses (default: spread over 127.0.0.x for a loopback server)"),
    id_prefix: str = typer.Option("LOAD-", help="station ids are this plus a number"),
    password_prefix: str = typer.Option("loadtest-password-", help="Basic-auth password: this plus the station id ('' for none)"),
    id_tag: str = typer.Option("LOADTEST", help="idTag of StartTransaction"),
    seed: int = typer.Option(1),
    json_out: Path = typer.Option(None, "--json", help="also write the report here as JSON"),
) -> None:
    from silkcharge.loadtest import LoadTest, LoadTestFailed, Mix, ProcessGroup, run
    from silkcharge.loadtest.phases import scenario
    from silkcharge.loadtest.sockets import LimitTooLow

    try:
        test = LoadTest(
            url, stations,
            scenario(
                phases, ramp_rate=ramp_rate, seconds=seconds, rate=rate,
                max_participants=max_stations or None, storm_window=storm_window,
                deadline=deadline, reconnect_fraction=reconnect_fraction,
                reconnect_overlap=reconnect_overlap, reconnect_rounds=reconnect_rounds,
            ),
            workers=workers, mix=Mix.parse(mix), timeout_s=timeout, id_prefix=id_prefix,
            password_prefix=password_prefix or None, id_tag=id_tag, seed=seed,
            sources=tuple(source_address) or None,
        )
        groups = [ProcessGroup(name, tuple(pids)) for name, pids in
                  (("server", server_pid), ("database", database_pid)) if pids]
        console.print(f"{stations} stations against {url}, phases {phases}")
        report = run(test, tuple(groups), progress=lambda line: console.print(f"  {line}"))
    except (ValueError, OSError, LimitTooLow, LoadTestFailed) as exc:
        console.print(f"[red]loadtest: {exc}[/]")
        raise typer.Exit(2) from None
    console.print(report.to_text(), markup=False, highlight=False)
    if json_out is not None:
        json_out.write_text(report.to_json())
    if report.connections_held == 0:
        console.print("[red]loadtest: no station got connected[/]")
        raise typer.Exit(1)


# ---- vehicles and trip planning (issue 4) ------------------------------------------------

vehicles_app = typer.Typer(help="Search and compare the vehicle catalog.", no_args_is_help=True)
app.add_typer(vehicles_app, name="vehicles")


@vehicles_app.command("search")
def vehicles_search(
    text: str = typer.Argument("", help="words that must all occur, e.g. 'byd song'"),
    inlet: str = typer.Option(None, help="a connector the car takes, e.g. 'GB/T DC'"),
    market: str = typer.Option(None, help="CN, EU or global"),
    min_dc_kw: float = typer.Option(None, help="at least this DC power"),
    limit: int = typer.Option(30),
) -> None:
    """List vehicles matching every filter."""
    from rich.table import Table

    from silkcharge.domain.vehicles import load_catalog

    found = load_catalog().search(text or None, inlet=inlet, market=market, min_dc_kw=min_dc_kw,
                                  limit=limit)
    table = Table("id", "name", "battery kWh", "Wh/km", "DC", "DC kW", "AC")
    for v in found:
        table.add_row(v.id, v.name, f"{v.battery_kwh:g}", f"{v.consumption_wh_km:g}",
                      ", ".join(s.label for s in v.dc_inlets), f"{v.dc_kw:g}",
                      ", ".join(s.label for s in v.ac_inlets))
    console.print(table)


@vehicles_app.command("compare")
def vehicles_compare(ids: list[str] = typer.Argument(..., help="2 to 4 vehicle ids")) -> None:
    """Compare vehicles side by side."""
    from rich.table import Table

    from silkcharge.domain.vehicles import CompareError, UnknownVehicle, load_catalog

    try:
        rows = load_catalog().compare(ids)
    except (CompareError, UnknownVehicle) as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None
    table = Table("", *[str(i) for i in rows["id"]])
    for name, values in rows.items():
        if name != "id":
            table.add_row(name, *["" if x is None else str(x) for x in values])
    console.print(table)


@app.command("plan-trip")
def plan_trip_command(
    origin: str = typer.Argument(..., help="a place, e.g. Almaty"),
    destination: str = typer.Argument(..., help="a place, e.g. Samarkand"),
    vehicle: str = typer.Option(..., "--vehicle", help="vehicle id (see `silkcharge vehicles search`)"),
    via: list[str] = typer.Option([], "--via", help="a waypoint; repeat for more"),
    start_soc: float = typer.Option(90.0, help="charge at departure, %"),
    min_arrival_soc: float = typer.Option(10.0, help="least charge on arriving at a stop, %"),
    min_destination_soc: float = typer.Option(15.0, help="least charge at the destination, %"),
    max_charge_soc: float = typer.Option(80.0, help="charge at most to this at a stop, %"),
    overhead_min: float = typer.Option(5.0, help="minutes lost per stop"),
    speed_kmh: float = typer.Option(80.0, help="average driving speed"),
    winter: bool = typer.Option(False, help="use 1.3 x the catalog consumption"),
    adapters: bool = typer.Option(False, help="use the adapters in data/adapters.json"),
    avoid_border: list[str] = typer.Option([], help="crossing id or country pair (KZ-KG)"),
    exclude_operator: list[str] = typer.Option([], help="never stop at this operator"),
) -> None:
    """Plan charging stops: the fastest plan for the vehicle on the charging network."""
    from silkcharge.domain.vehicles import UnknownVehicle, load_catalog
    from silkcharge.trips.network import SiteIndex
    from silkcharge.trips.planner import TripError, TripRequest, plan_trip
    from silkcharge.trips.roads import UnknownPlace, load_road_graph

    try:
        car = load_catalog().get(vehicle)
    except UnknownVehicle as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None
    sites, source = asyncio.run(_charging_sites(Settings()))
    request = TripRequest(
        origin, destination, car, via=tuple(via), start_soc=start_soc,
        min_arrival_soc=min_arrival_soc, min_destination_soc=min_destination_soc,
        max_charge_soc=max_charge_soc, overhead_min=overhead_min, speed_kmh=speed_kmh,
        consumption_factor=1.3 if winter else 1.0, use_adapters=adapters,
        avoid_borders=tuple(avoid_border), exclude_operators=tuple(exclude_operator),
    )
    try:
        plan = plan_trip(request, SiteIndex(load_road_graph(), sites))
    except (TripError, UnknownPlace) as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None
    console.print(f"stations: {source}")
    _print_plan(plan)


async def _charging_sites(settings: Settings):
    """Sites from the configured database when it has any, else the packaged seed network."""
    from silkcharge.data.seed import load_seed_network
    from silkcharge.store.db import create_engine_for, sessionmaker_for
    from silkcharge.trips.network import load_charging_sites, sites_from_seed

    engine = create_engine_for(settings.database_url)
    try:
        sites = await load_charging_sites(sessionmaker_for(engine))
    except Exception:  # no database or no schema yet: fall back to the seed
        sites = []
    finally:
        await engine.dispose()
    if sites:
        return sites, f"{len(sites)} sites from the database {settings.database_url} (live availability)"
    seed = sites_from_seed(load_seed_network())
    return seed, f"{len(seed)} sites from the packaged seed network (illustrative, no live availability)"


def _print_plan(plan) -> None:
    from rich.table import Table

    table = Table(title=f"{plan.vehicle_name}: {' → '.join([plan.origin, *plan.via, plan.destination])}")
    for column in ("from", "to", "km", "drive", "border", "SoC", "charge at stop", "min", "cost"):
        table.add_column(column)
    for leg in plan.legs:
        crossing = ", ".join(f"{c.name} {c.wait_min:g}′" for c in leg.crossings)
        stop, charge, minutes, cost = leg.stop, "", "", ""
        if stop is not None:
            adapter = f" via {stop.adapter}" if stop.adapter else ""
            charge = (f"{stop.arrival_soc:.0f}→{stop.departure_soc:.0f} % {stop.standard} "
                      f"{stop.power_kw:g} kW{adapter}")
            minutes = f"{stop.charge_min:.0f}+{stop.overhead_min + stop.wait_min:g}"
            cost = "?" if stop.cost is None else f"{stop.cost.amount} {stop.cost.currency}"
        table.add_row(leg.start, leg.end, f"{leg.km:.0f}", _hm(leg.drive_min), crossing,
                      f"{leg.departure_soc:.0f}→{leg.arrival_soc:.0f} %", charge, minutes, cost)
    console.print(table)
    console.print(
        f"total {_hm(plan.total_min)}: driving {_hm(plan.drive_min)}, charging "
        f"{_hm(plan.charge_min)} at {len(plan.stops)} stops, overhead {_hm(plan.overhead_min)}, "
        f"borders {_hm(plan.border_wait_min)}; {plan.km:.0f} km; arrive with {plan.arrival_soc:.0f} %")
    console.print("cost: unknown until tariffs exist (issue 3)" if plan.cost is None else
                  "cost: " + ", ".join(f"{c.amount} {c.currency}" for c in plan.cost))
    for warning in plan.warnings:
        console.print(f"[yellow]note:[/] {warning}")


def _hm(minutes: float) -> str:
    return f"{int(minutes // 60)}h{int(round(minutes % 60)):02d}"


# ---- smart charging (issue 5) ------------------------------------------------------------

smart_app = typer.Typer(help="Smart charging: what a site's connection can do.", no_args_is_help=True)
app.add_typer(smart_app, name="smart")


@smart_app.command("what-if")
def smart_what_if(
    vehicles: int = typer.Option(..., help="how many vehicles charge overnight"),
    power_kw: float = typer.Option(..., help="each vehicle's maximum charging power"),
    connection_kw: float = typer.Option(..., help="the site's grid connection"),
    energy_kwh: float = typer.Option(40.0, help="energy each vehicle needs"),
    arrive: str = typer.Option("18:00-23:00", help="arrivals spread over this local window"),
    depart: str = typer.Option("05:00-07:00", help="departures spread over this window"),
    base_load_kw: float = typer.Option(0.0, help="other load on the connection"),
) -> None:
    """Does everyone leave full? e.g. --vehicles 40 --power-kw 22 --connection-kw 250"""
    from datetime import time as clock

    from silkcharge.smart.whatif import Scenario, what_if

    try:
        (a0, a1), (d0, d1) = ([clock.fromisoformat(t) for t in w.split("-")] for w in (arrive, depart))
        answer = what_if(Scenario(vehicles, power_kw, connection_kw, energy_kwh, a0, a1, d0, d1, base_load_kw))
    except ValueError as exc:
        console.print(f"[red]{exc}[/] (windows are HH:MM-HH:MM)")
        raise typer.Exit(2) from None
    verdict = "yes, everyone leaves full" if answer["everyone_leaves_full"] else (
        f"no: {answer['vehicles_short']} of {vehicles} vehicles leave short, "
        f"{answer['shortfall_kwh']} kWh in all (worst {answer['worst_shortfall_kwh']} kWh)")
    console.print(f"{vehicles} vehicles × {power_kw:g} kW, {energy_kwh:g} kWh each, on {connection_kw:g} kW: {verdict}")
    console.print(f"energy needed {answer['energy_needed_kwh']} kWh; planned peak {answer['planned_peak_kw']} kW; "
                  f"everyone at full power would peak at {answer['uncontrolled_peak_kw']} kW "
                  f"and leave {answer['uncontrolled_vehicles_short']} short under this connection")


if __name__ == "__main__":
    app()
