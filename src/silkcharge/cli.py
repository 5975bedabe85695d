"""The `silkcharge` command: serve the platform, manage its database, simulate chargers, demo."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import shutil
import signal
import sys
from collections.abc import Callable
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path

import typer
from rich.console import Console

from silkcharge.planning.cli import planning_app
from silkcharge.settings import Settings
from silkcharge.shutdown import run_until_signal

app = typer.Typer(help="silkcharge: EV charging platform for Central Asia.", no_args_is_help=True)
app.add_typer(planning_app, name="plan-network")
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

DEMO_DIR = Path("var/demo")
DEMO_API_KEY = "demo-key"
DEMO_SESSIONS_PER_HOUR = float(os.environ.get("SILKCHARGE_DEMO_SESSIONS_PER_HOUR", "12"))
DEMO_TOKENS = [
    {"token": f"DEMO-RFID-{n:04d}", "type": "ISO14443", "label": "demo driver card (synthetic)"}
    for n in range(1, 21)
] + [
    {"token": f"DYU-TAXI-{n:03d}", "type": "ISO15693", "group_id": "dushanbe-taxi",
     "label": "demo taxi fleet card (synthetic)"}
    for n in range(1, 11)
]
DEMO_TOKEN_PLACES = {"DYU-TAXI-": "TJ-DUS-"}
"""Cards that charge in one place only, by their prefix: the Dushanbe taxis at Dushanbe's stations."""
# The demo's driver account (docs/driver.md), who owns the first demo card.
DEMO_DRIVER = {"email": "driver@example.kz", "password": "demo-driver", "name": "Demo Driver",
               "language": "en", "tokens": ["DEMO-RFID-0001"]}


# Exit codes (README, "The command line"): 0 done; 1 the work could not be done (no plan
# exists, no station got connected); 2 the command was given something wrong (an unknown
# vehicle or place, a bad value, a missing file), as for typer's own usage errors.
EXIT_FAILED, EXIT_USAGE = 1, 2

# The trip request's field names as the flags of `plan-trip`, so an error names what to change.
TRIP_FLAGS = {
    "start_soc": "--start-soc", "min_arrival_soc": "--min-arrival-soc",
    "min_destination_soc": "--min-destination-soc", "max_charge_soc": "--max-charge-soc",
    "overhead_min": "--overhead-min", "speed_kmh": "--speed-kmh",
}


def fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    """Print `message` as an error on stderr; return the Exit to raise with `code`."""
    from rich.markup import escape

    err_console.print(f"[red]error:[/] {escape(message)}", highlight=False)
    return typer.Exit(code)


def _flags(message: str) -> str:
    return re.sub(r"\b(" + "|".join(TRIP_FLAGS) + r")\b", lambda m: TRIP_FLAGS[m.group(1)], message)


def nearest_vehicles(catalog, vehicle_id: str, n: int = 3) -> list[str]:
    """The catalog ids closest to a mistyped one: by spelling, else by shared words."""
    import difflib

    ids = [v.id for v in catalog.search(None, limit=100_000)]
    close = difflib.get_close_matches(vehicle_id.lower(), ids, n=n, cutoff=0.6)
    if close:
        return close
    words = {w for w in re.split(r"[^a-z0-9]+", vehicle_id.lower()) if w}
    scored = sorted(((len(words & set(i.split("-"))),
                      difflib.SequenceMatcher(None, vehicle_id.lower(), i).ratio(), i) for i in ids),
                    reverse=True)
    return [i for shared, _, i in scored[:n] if shared]


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
    from silkcharge.server import serve as serve_platform

    settings = Settings()
    _logging(settings)
    until_signal(serve_platform(settings), settings)


def until_signal(coro, settings: Settings | None = None) -> None:
    """Run `coro` on the configured event loop (`event_loop`) until SIGINT or SIGTERM, then stop
    it gracefully; a stop that takes longer than `stop_grace_seconds` logs what it waits for and
    ends the process (`silkcharge.shutdown`)."""
    settings = settings or Settings()
    run_until_signal(coro, settings.stop_grace_seconds, event_loop_factory(settings.event_loop))


def event_loop_factory(name: str):
    """What makes the event loop named in the settings: uvloop's, or None for asyncio's own.
    uvloop runs the same asyncio code with libuv's compiled loop and transports: 1 to 16 % more
    OCPP messages a second than asyncio's loop, measured (docs/benchmarks.md, issue 20)."""
    if name != "uvloop":
        return None
    try:
        import uvloop
    except ImportError:
        raise SystemExit(
            "SILKCHARGE_EVENT_LOOP=uvloop, but uvloop is not installed (pip install uvloop), "
            "or set SILKCHARGE_EVENT_LOOP=asyncio"
        ) from None
    return uvloop.new_event_loop


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema: the platform's, and each tenant database (data residency)."""
    from silkcharge.store.db import migrate as run_migrations
    from silkcharge.store.residency import database_key

    settings = Settings()
    # Data residency: every tenant's own database has the same schema (docs/operations.md).
    for url in settings.all_database_urls():
        run_migrations(url)
        console.print(f"database at [bold]{database_key(url)}[/] is up to date")


@app.command("create-key")
def create_key(
    name: str = typer.Option(..., help="what the key is for, shown in the key list"),
    role: str = typer.Option("platform_admin", help="platform_admin, operator_admin, operator_staff, "
                             "technician, finance, viewer or regulator"),
    tenant: str | None = typer.Option(None, help="the tenant's code, for a role bound to one tenant"),
) -> None:
    """Make an API key (the first platform administrator's, say) and print it once."""
    from silkcharge.domain.roles import Role
    from silkcharge.services.access import AccessInvalid, AccessService, Principal, UnknownAccess
    from silkcharge.store.db import create_engine_for, sessionmaker_for
    from silkcharge.store.db import migrate as run_migrations

    try:
        wanted = Role(role)
    except ValueError:
        raise fail(f"no role {role}: one of {', '.join(r.value for r in Role)}") from None
    settings = Settings()

    async def make() -> str:
        await asyncio.to_thread(run_migrations, settings.database_url)
        engine = create_engine_for(settings.database_url)
        try:
            access = AccessService(sessionmaker_for(engine), None)
            tenant_id = (await access.tenant_by_code(tenant)).id if tenant else None
            shell = Principal("cli", None, "silkcharge create-key", Role.PLATFORM_ADMIN, None)
            _, secret = await access.create_key(shell, name, wanted, tenant_id, None)
            return secret
        finally:
            await engine.dispose()

    try:
        secret = asyncio.run(make())
    except (AccessInvalid, UnknownAccess) as exc:
        raise fail(str(exc)) from None
    console.print(secret, highlight=False, soft_wrap=True)


@app.command()
def seed(
    fleet: Path = typer.Option(Path("var/fleet.json"), help="where to write the simulator's fleet file"),
    tokens: bool = typer.Option(True, help="also add the synthetic demo driver and taxi cards"),
) -> None:
    """Load the curated Central Asian seed network; write a fleet file for `silkcharge simulate`."""
    settings = Settings()
    count = asyncio.run(_seed(settings, fleet, DEMO_TOKENS if tokens else []))
    console.print(f"seeded {count} new stations; fleet file: {fleet}")


async def _seed(settings: Settings, fleet: Path, tokens: list[dict], *, ocpp21_among: int = 0,
                say: Callable[[str], None] = lambda line: None) -> int:
    """Seed the network and write the fleet file. `ocpp21_among`: the first 2.0.1 station among
    the first that many speaks OCPP 2.1 in the simulator (the demo's 2.1 charger; illustrative:
    the seed's hardware is not surveyed). `say` hears of each step (the demo shows them)."""
    from silkcharge.data.seed import load_seed_network
    from silkcharge.services.drivers import DriverService
    from silkcharge.services.seeding import seed_network
    from silkcharge.store.db import create_engine_for, sessionmaker_for
    from silkcharge.store.db import migrate as run_migrations

    say("  database: migrating to the current schema")
    await asyncio.to_thread(run_migrations, settings.database_url)
    engine = create_engine_for(settings.database_url)
    try:
        sessions = sessionmaker_for(engine)
        created = await seed_network(sessions, load_seed_network(), tokens=tokens,
                                     progress=lambda done, total: say(f"  seeding: {done} of {total} stations"))
        if any(t["token"] in DEMO_DRIVER["tokens"] for t in tokens):
            await DriverService(sessions, timedelta(hours=settings.driver_session_hours)).ensure(
                **DEMO_DRIVER)
    finally:
        await engine.dispose()
    from silkcharge.sim.spec import save_fleet

    specs = [
        {**asdict(s), "firmware_version": "1.0.0"} for s in created
    ]
    for spec in specs[:ocpp21_among]:
        if spec["ocpp_version"] == "2.0.1":
            spec["ocpp_version"] = "2.1"
            break
    if fleet.exists() and not created:
        fleet.chmod(0o600)  # it holds station passwords: never left readable by others
        return 0
    save_fleet(fleet, specs)
    return len(created)


@app.command()
def simulate(
    fleet: Path = typer.Option(Path("var/fleet.json"), help="fleet file written by `silkcharge seed`"),
    url: str = typer.Option("ws://127.0.0.1:9000/ocpp", help="the CSMS OCPP endpoint"),
    limit: int = typer.Option(0, help="simulate only the first N stations (0: all)"),
    sessions_per_hour: float = typer.Option(6.0, help="average sessions started per station and hour"),
    meter_interval: float = typer.Option(10.0, help="seconds between meter values while charging"),
    tls_url: str | None = typer.Option(
        None, help="the CSMS's wss:// endpoint, for stations at security profile 2 or 3 (and upgrades)"),
    ca_file: Path | None = typer.Option(None, help="PEM: the CA the chargers trust for wss (default: the system's)"),
    depot_taxis: bool = typer.Option(
        False, help="park the demo depot's opted-in V2G taxis (business.json) on their chargers for the whole run"),
    roaming_cards: bool = typer.Option(
        False, help="drivers also come with the demo roaming partner's cards (accepted once the partner is registered)"),
) -> None:
    """Run virtual chargers (OCPP 1.6, 2.0.1 and 2.1) that boot, charge and answer commands."""
    from silkcharge.sim.fleet import load_fleet, run_fleet

    if not fleet.exists():
        raise fail(f"no fleet file at {fleet}: run `silkcharge seed` first (or give --fleet)")
    specs = load_fleet(fleet)
    if limit:
        specs = specs[:limit]
    logging.basicConfig(level=logging.WARNING)
    tokens = [t["token"] for t in DEMO_TOKENS]
    if roaming_cards:
        from silkcharge.demo.roaming import PARTNER_CARDS

        # Drivers come in turn (sim/fleet.py): a partner's driver first, then one in every few.
        every = max(1, len(tokens) // len(PARTNER_CARDS))
        for n, card in enumerate(PARTNER_CARDS):
            tokens.insert(n * (every + 1), card["token"])
    parked = []
    if depot_taxis:
        from silkcharge.demo.business import load_business, parked_taxis

        parked = parked_taxis(load_business())
    console.print(f"simulating {len(specs)} chargers against {url}")

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        from silkcharge.server import until_orphaned

        async def stop_when_orphaned() -> None:  # the demo that started us was killed
            await until_orphaned()
            stop.set()

        watch = asyncio.create_task(stop_when_orphaned())
        try:
            await run_fleet(
                url, specs, session_rate_per_hour=sessions_per_hour, tokens=tokens,
                meter_interval=meter_interval, stop=stop, tls_url=tls_url,
                ca_file=str(ca_file) if ca_file else None,
                token_types={t["token"]: t["type"] for t in DEMO_TOKENS}, parked=parked,
                token_places={token: place for token in tokens for prefix, place in DEMO_TOKEN_PLACES.items()
                              if token.startswith(prefix)},
            )
        finally:
            watch.cancel()

    _run(main())


@app.command()
def demo(
    stations: int = typer.Option(0, min=0, help="how many seeded stations to simulate (0: all); the others are marked planned"),
    api_port: int = typer.Option(8080),
    ocpp_port: int = typer.Option(9000),
    tls_port: int = typer.Option(9443, help="wss:// port with the demo CA's server certificate (0: none)"),
    partner_port: int = typer.Option(8081, min=0, help=(
        "API port of the demo's roaming partner, a second silkcharge (an eMSP) registered over OCPI (0: none)")),
) -> None:
    """A fresh SQLite database with the seeded network of the region, the platform, and ~100
    simulated chargers. Runs until Ctrl-C. A demo CA is made under var/demo/pki: it signs the
    stations' certificates (they ask for one after their first boot) and the TLS server's."""
    from silkcharge.server import serve as serve_platform

    if DEMO_DIR.exists():
        shutil.rmtree(DEMO_DIR)  # the demo always starts from the seed, never from old state
    DEMO_DIR.mkdir(parents=True)
    err_console.print("silkcharge demo: preparing (the first run after a fresh clone takes a minute)")
    pki_files = _demo_pki(DEMO_DIR / "pki")
    tls = {"ocpp_tls_port": tls_port, "tls_cert_file": pki_files["server.pem"],
           "tls_key_file": pki_files["server.key"], "tls_client_ca_file": pki_files["ca.pem"]} if tls_port else {}
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{DEMO_DIR}/silkcharge.sqlite3",
        api_key=DEMO_API_KEY, api_port=api_port, ocpp_port=ocpp_port, heartbeat_interval=60,
        public_url=f"http://127.0.0.1:{api_port}",  # what the roaming partner calls us at
        log_level=os.environ.get("SILKCHARGE_LOG_LEVEL", "WARNING"),
        ca_cert_file=pki_files["ca.pem"], ca_key_file=pki_files["ca.key"], **tls,
    )
    _logging(settings)
    fleet = DEMO_DIR / "fleet.json"
    # The 2.1 charger is the first 2.0.1 station among those simulated (all by default).
    seeded = asyncio.run(_seed(settings, fleet, DEMO_TOKENS, ocpp21_among=stations or 10**6,
                               say=lambda line: err_console.print(line, highlight=False)))
    from silkcharge.sim.spec import load_fleet

    simulated = [spec.station_id for spec in load_fleet(fleet)]
    stations = min(stations or len(simulated), len(simulated))
    history, people = asyncio.run(_demo_business(settings, simulated[:stations], planned=simulated[stations:]))
    api = f"http://127.0.0.1:{api_port}"
    console.print(f"[bold green]silkcharge demo[/]: {seeded} seeded stations, simulating {stations}; "
                  f"illustrative tariffs for every operator; a week of demo history "
                  f"({history.sessions} sessions, {history.priced} priced)")
    console.print(f"  operator console:     {api}/   (sign in as a person below, or with the key {DEMO_API_KEY})")
    for person in people:
        tenant = person["tenant"] or "all tenants"
        console.print(f"    {person['role']:<15} {person['email']:<36} password {person['password']:<20} ({tenant})",
                      highlight=False)
    console.print(f"  driver pages:         {api}/#/find   (log in as {DEMO_DRIVER['email']}, "
                  f"password {DEMO_DRIVER['password']})")
    if partner_port:
        partner = f"http://127.0.0.1:{partner_port}"
        console.print(f"  roaming (OCPI 2.2.1): {api}/#/roaming   (a demo partner eMSP registered with this network)")
        console.print(f"    the partner's app:  {partner}/#/find   (this network's stations as its drivers see them: "
                      f"roaming, priced in KGS at example rates; its key is {DEMO_API_KEY} too)")
    console.print(f"  API docs (OpenAPI):   {api}/docs")
    console.print(f"  live status:          {api}/api/v1/status   (header X-API-Key: {DEMO_API_KEY})")
    console.print(f"  live events (SSE):    {api}/api/v1/events")
    console.print(f"  stations:             {api}/api/v1/stations")
    console.print(f"  sessions:             {api}/api/v1/transactions")
    console.print(f"  OCPP endpoint:        ws://127.0.0.1:{ocpp_port}/ocpp/{{stationId}}")
    if tls_port:
        console.print(f"  OCPP over TLS:        wss://127.0.0.1:{tls_port}/ocpp/{{stationId}}   "
                      f"(trust {pki_files['ca.pem']})")
    console.print(f"  certificates:         {api}/api/v1/certificates/expiring, "
                  f"{api}/api/v1/stations/{{stationId}}/certificates")
    console.print(f"  try: curl -H 'X-API-Key: {DEMO_API_KEY}' {api}/api/v1/status")
    console.print("Ctrl-C stops everything.")
    until_signal(_demo(settings, fleet, stations, serve_platform, partner_port), settings)


async def _demo_business(settings: Settings, station_ids: list[str], planned: list[str] = ()):
    """Illustrative tariffs, a second small tenant, an account per role and a week of demo
    history, through the platform's own services (silkcharge.demo), before the chargers
    connect; returns the history's report and the demo's people. The seeded stations not
    simulated are marked planned: none of them will connect, so none may raise an alert."""
    from sqlalchemy import update

    from silkcharge.app import build_platform
    from silkcharge.demo.business import load_business, publish_tariffs, set_up_tenants_and_people
    from silkcharge.demo.history import write_history
    from silkcharge.store.db import dispose_engine
    from silkcharge.store.schema import Station

    platform = build_platform(settings)
    if platform.residency is not None:  # resident tenants' rows go to their databases, here too
        await platform.residency.attach()
    platform.bus.start()
    platform.committer.start()
    await platform.billing.caps.install_shipped()
    try:
        async with platform.sessions.begin() as session:
            await session.execute(update(Station).values(planned=False))
            if planned:
                await session.execute(update(Station).where(Station.id.in_(list(planned))).values(planned=True))
        business = load_business()
        err_console.print("  demo business: tariffs, tenants and their people", highlight=False)
        await publish_tariffs(platform.billing, business)
        people = await set_up_tenants_and_people(platform, business)
        tokens = [t["token"] for t in DEMO_TOKENS if t["token"].startswith("DEMO-")]
        history = await write_history(
            platform, station_ids, tokens,
            progress=lambda done, total: err_console.print(f"  demo history: {done} of {total} sessions"))
        return history, people
    finally:
        await platform.committer.stop()
        await platform.bus.stop()
        if platform.residency is not None:
            await platform.residency.dispose()
        await dispose_engine(platform.engine)


async def _demo_smart_charging(api_port: int) -> None:
    """The managed site and the taxi depot with tonight's plan, set up through the API."""
    import httpx

    from silkcharge.demo.business import load_business, set_up_smart_charging

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{api_port}",
                                 headers={"X-API-Key": DEMO_API_KEY}, timeout=60) as api:
        for _ in range(120):  # the API listens a moment after the gateway
            try:
                await api.get("/api/v1/status")
                break
            except httpx.TransportError:
                await asyncio.sleep(0.25)
        try:
            await set_up_smart_charging(api, load_business())
        except (RuntimeError, httpx.HTTPError) as exc:
            err_console.print(f"[yellow]demo: the smart-charging site was not set up: {exc}[/]")


def _demo_pki(folder: Path) -> dict[str, Path]:
    """The demo's CA (it signs station CSRs and the TLS server certificate) and a server
    certificate for 127.0.0.1 and localhost, as PEM files readable by their owner only."""
    from silkcharge.security import pki

    folder.mkdir(parents=True, exist_ok=True)
    ca = pki.new_ca("silkcharge demo CA", "silkcharge demo")
    server = pki.issue_server_certificate(ca, ["127.0.0.1", "localhost"], organization="silkcharge demo")
    texts = {
        "ca.pem": pki.certificate_pem(ca.certificate), "ca.key": pki.key_pem(ca.key),
        "server.pem": pki.certificate_pem(server.certificate) + pki.certificate_pem(ca.certificate),
        "server.key": pki.key_pem(server.key),
    }
    files = {}
    for name, text in texts.items():
        path = folder / name
        path.touch(mode=0o600)
        path.write_text(text)
        files[name] = path
    return files


async def _demo_partner(partner_port: int) -> asyncio.subprocess.Process:
    """The demo's roaming partner: a second silkcharge in its own process and database, with no
    chargers (an eMSP), its API on `partner_port`."""
    env = {**os.environ, "SILKCHARGE_DATABASE_URL": f"sqlite+aiosqlite:///{DEMO_DIR.resolve()}/partner.sqlite3",
           "SILKCHARGE_API_PORT": str(partner_port), "SILKCHARGE_OCPP_PORT": "0",
           "SILKCHARGE_API_KEY": DEMO_API_KEY, "SILKCHARGE_PUBLIC_URL": f"http://127.0.0.1:{partner_port}",
           "SILKCHARGE_PARENT_PID": str(os.getpid()),  # it stops if the demo is killed
           "SILKCHARGE_LOG_LEVEL": os.environ.get("SILKCHARGE_LOG_LEVEL", "WARNING")}
    for name in ("SILKCHARGE_OCPP_TLS_PORT", "SILKCHARGE_REDIS_URL", "SILKCHARGE_TENANT_DATABASES"):
        env.pop(name, None)
    return await asyncio.create_subprocess_exec(sys.executable, "-m", "silkcharge.cli", "serve", env=env)


async def _demo_roaming(api_port: int, partner_port: int) -> bool:
    """Register the partner with the demo network over OCPI, pull our stations into it and push
    its drivers' cards to us. False (and a warning) if that did not work."""
    import httpx

    from silkcharge.demo.roaming import RoamingSetupFailed, set_up_roaming, until_listening

    key = {"X-API-Key": DEMO_API_KEY}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{api_port}", headers=key, timeout=120) as ours, \
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{partner_port}", headers=key, timeout=120) as theirs:
        try:
            await until_listening(ours)
            await until_listening(theirs)
            report = await set_up_roaming(ours, theirs)
            err_console.print(f"  demo roaming: the partner pulled {report['locations']} locations and "
                              f"{report['tariffs']} tariffs; its {len(report['cards'])} driver cards charge at "
                              f"our stations", highlight=False)
            return True
        except (RoamingSetupFailed, httpx.HTTPError) as exc:
            err_console.print(f"[yellow]demo: the roaming partner was not set up: {exc}[/]")
            return False
        except Exception:  # a bug here must not take the rest of the demo down with it
            logging.getLogger(__name__).exception("demo: the roaming partner was not set up")
            return False


async def _demo_charging_profiles(api_port: int, partner_port: int) -> None:
    """Once a partner's driver charges at one of our stations, the partner sets a charging
    profile on the session and our operator lowers the station's maximum, so both Roaming pages
    show the exchange (silkcharge.demo.roaming.show_charging_profiles). Bounded; a warning, never
    a failure of the demo, when it could not be shown."""
    import httpx

    from silkcharge.demo.roaming import RoamingSetupFailed, show_charging_profiles

    key = {"X-API-Key": DEMO_API_KEY}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{api_port}", headers=key, timeout=60) as ours, \
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{partner_port}", headers=key, timeout=60) as theirs:
        try:
            done = await show_charging_profiles(ours, theirs)
        except (RoamingSetupFailed, httpx.HTTPError) as exc:
            err_console.print(f"[yellow]demo: no roaming charging profile shown: {exc}[/]")
            return
        except Exception:  # a bug here must not take the rest of the demo down with it
            logging.getLogger(__name__).exception("demo: no roaming charging profile shown")
            return
    err_console.print(
        f"  demo roaming: the partner set {done['partner_limit_a']} A on its driver's session {done['session_id']} "
        f"at {done['station_id']}; we lowered {done['station_id']}'s maximum to {done['station_maximum_a']} A and "
        f"pushed the session's active charging profile to the partner (both Roaming pages list them)",
        highlight=False)


async def _demo(settings: Settings, fleet: Path, stations: int, serve_platform, partner_port: int = 0) -> None:
    """Serve the platform; once it listens, start the simulated chargers in their own process,
    and the roaming partner in its own."""
    ready = asyncio.Event()
    platform = asyncio.create_task(serve_platform(settings, ready=ready))
    waiting = asyncio.create_task(ready.wait())
    await asyncio.wait({platform, waiting}, return_when=asyncio.FIRST_COMPLETED)
    if platform.done():
        waiting.cancel()
        platform.result()
        return
    child_env = {**os.environ, "SILKCHARGE_PARENT_PID": str(os.getpid())}  # they stop if the demo is killed
    smart = asyncio.create_task(_demo_smart_charging(settings.api_port))
    partner = await _demo_partner(partner_port) if partner_port else None
    roaming = asyncio.create_task(_demo_roaming(settings.api_port, partner_port)) if partner_port else None
    simulator = None
    profiles = None
    try:
        # The chargers start once the partner's cards are with us, so its drivers are not refused
        # and the first of them charges at once (the simulator hands out cards in turn).
        if roaming is not None:
            await asyncio.wait({platform, roaming}, return_when=asyncio.FIRST_COMPLETED)
        if not platform.done():
            cards = roaming is not None and roaming.result()
            # The demo CA signed the TLS server's certificate: trusting it, a charger raised to
            # security profile 2 or 3 from the console comes back over wss.
            tls = ["--tls-url", f"wss://127.0.0.1:{settings.ocpp_tls_port}/ocpp",
                   "--ca-file", str(settings.tls_client_ca_file)] if settings.ocpp_tls_port else []
            simulator = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "silkcharge.cli", "simulate", "--fleet", str(fleet),
                "--url", f"ws://127.0.0.1:{settings.ocpp_port}/ocpp", "--limit", str(stations),
                "--sessions-per-hour", str(DEMO_SESSIONS_PER_HOUR), "--meter-interval", "15", "--depot-taxis",
                *tls, *(["--roaming-cards"] if cards else []), env=child_env,
            )
            if cards:
                profiles = asyncio.create_task(_demo_charging_profiles(settings.api_port, partner_port))
        await platform
    finally:
        for task in (roaming, profiles):
            if task is not None:
                task.cancel()
        for child in (simulator, partner):
            if child is None or child.returncode is not None:
                continue
            child.terminate()
            try:
                await asyncio.wait_for(child.wait(), 10)
            except asyncio.TimeoutError:
                child.kill()
        smart.cancel()
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
    except (ValueError, LimitTooLow) as exc:
        raise fail(f"loadtest: {exc}") from None
    except (OSError, LoadTestFailed) as exc:
        raise fail(f"loadtest: {exc}", EXIT_FAILED) from None
    console.print(report.to_text(), markup=False, highlight=False)
    if json_out is not None:
        json_out.write_text(report.to_json())
    if report.connections_held == 0:
        raise fail("loadtest: no station got connected", EXIT_FAILED)


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
    except UnknownVehicle as exc:
        raise fail(_unknown_vehicle(exc)) from None
    except CompareError as exc:
        raise fail(str(exc)) from None
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
    min_arrival_soc: float = typer.Option(10.0, help="least charge anywhere on the way and on arriving at a stop, %"),
    min_destination_soc: float = typer.Option(15.0, help="least charge at the destination, %"),
    max_charge_soc: float = typer.Option(100.0, help="never charge above this at a stop, % (the plan charges to what the next legs need)"),
    overhead_min: float = typer.Option(5.0, help="minutes lost per stop"),
    speed_kmh: float = typer.Option(80.0, help="speed on main roads (mountain roads and passes are slower)"),
    date_: str = typer.Option("", "--date", help="trip date YYYY-MM-DD: its normal temperatures, closures and crossing days (default: today)"),
    winter: bool = typer.Option(False, help="plan for mid-January weather (the coming 15 January) unless --date is given"),
    adapters: bool = typer.Option(False, help="use the adapters in data/adapters.json"),
    avoid_border: list[str] = typer.Option([], help="crossing id or country pair (KZ-KG)"),
    exclude_operator: list[str] = typer.Option([], help="never stop at this operator"),
    avoid_busy: bool = typer.Option(False, help="never plan a stop at a station whose plugs are all busy"),
    profile: bool = typer.Option(False, help="print each leg's elevation and charge profile"),
) -> None:
    """Plan charging stops: the fastest plan for the vehicle on the charging network."""
    from datetime import date

    from silkcharge.domain.vehicles import UnknownVehicle, load_catalog
    from silkcharge.trips.network import SiteIndex
    from silkcharge.trips.planner import (
        NoFeasiblePlan,
        TripError,
        TripRequest,
        Unreachable,
        plan_trip,
    )
    from silkcharge.trips.roads import UnknownPlace, load_road_graph

    try:
        car = load_catalog().get(vehicle)
    except UnknownVehicle as exc:
        raise fail(_unknown_vehicle(exc)) from None
    today = date.today()
    try:
        on_date = date.fromisoformat(date_) if date_ else (
            date(today.year + (today.month > 1), 1, 15) if winter else today)
    except ValueError:
        raise fail(f"--date must be YYYY-MM-DD, got {date_!r}") from None
    sites, source = asyncio.run(_charging_sites(Settings()))
    try:
        request = TripRequest(
            origin, destination, car, via=tuple(via), start_soc=start_soc,
            min_arrival_soc=min_arrival_soc, min_destination_soc=min_destination_soc,
            max_charge_soc=max_charge_soc, overhead_min=overhead_min, speed_kmh=speed_kmh,
            use_adapters=adapters, on_date=on_date, avoid_borders=tuple(avoid_border),
            exclude_operators=tuple(exclude_operator), busy_wait_min=None if avoid_busy else 20.0,
        )
        plan = plan_trip(request, SiteIndex(load_road_graph(), sites))
    except TripError as exc:  # worded with this command's flags
        code = EXIT_FAILED if isinstance(exc, (Unreachable, NoFeasiblePlan)) else EXIT_USAGE
        raise fail(_flags(exc.render("cli")), code) from None
    except UnknownPlace as exc:
        raise fail(str(exc)) from None
    console.print(f"stations: {source}")
    console.print(f"date: {on_date.isoformat()} (normal temperatures of that day; closures)")
    _print_plan(plan, profile=profile)


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


def _unknown_vehicle(exc) -> str:
    from silkcharge.domain.vehicles import load_catalog

    near = list(exc.suggestions) or nearest_vehicles(load_catalog(), exc.vehicle_id)
    hint = f"; did you mean {', '.join(near)}?" if near else ""
    return (f"unknown vehicle {exc.vehicle_id!r}{hint} "
            "(`silkcharge vehicles search WORDS` lists the ids)")


def _print_plan(plan, *, profile: bool = False) -> None:
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
        low = (f" (low {leg.lowest_soc:.0f})" if leg.lowest_soc < leg.arrival_soc - 0.5 else "")
        table.add_row(leg.start, leg.end, f"{leg.km:.0f}", _hm(leg.drive_min), crossing,
                      f"{leg.departure_soc:.0f}→{leg.arrival_soc:.0f} %{low}", charge, minutes, cost)
    console.print(table)
    for leg in plan.legs:
        temp = "" if leg.temp_c is None else f", about {leg.temp_c:.0f} °C"
        line = (f"{leg.start} → {leg.end}: climb {leg.climb_m:.0f} m, descent "
                f"{leg.descent_m:.0f} m, {leg.energy_kwh:.1f} kWh, lowest charge "
                f"{leg.lowest_soc:.0f} %{temp}")
        if profile:
            line += "; " + ", ".join(
                f"km {km:.0f} {'?' if elev is None else f'{elev:.0f} m'} {soc:.0f} %"
                for km, elev, soc in leg.profile)
        console.print(line)
    console.print(
        f"total {_hm(plan.total_min)}: driving {_hm(plan.drive_min)}, charging "
        f"{_hm(plan.charge_min)} at {len(plan.stops)} stops, overhead {_hm(plan.overhead_min)}, "
        f"borders {_hm(plan.border_wait_min)}; {plan.km:.0f} km; arrive with {plan.arrival_soc:.0f} %")
    console.print("cost: unknown (no tariff applies at these stops)" if plan.cost is None else
                  "cost: " + ", ".join(f"{c.amount} {c.currency}" for c in plan.cost))
    from silkcharge.trips.explain import render

    for note in plan.notes:
        console.print(f"[yellow]note:[/] {render(note, 'cli')}")


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
        raise fail(f"{exc} (windows are HH:MM-HH:MM)") from None
    verdict = "yes, everyone leaves full" if answer["everyone_leaves_full"] else (
        f"no: {answer['vehicles_short']} of {vehicles} vehicles leave short, "
        f"{answer['shortfall_kwh']} kWh in all (worst {answer['worst_shortfall_kwh']} kWh)")
    console.print(f"{vehicles} vehicles × {power_kw:g} kW, {energy_kwh:g} kWh each, on {connection_kw:g} kW: {verdict}")
    console.print(f"energy needed {answer['energy_needed_kwh']} kWh; planned peak {answer['planned_peak_kw']} kW; "
                  f"everyone at full power would peak at {answer['uncontrolled_peak_kw']} kW "
                  f"and leave {answer['uncontrolled_vehicles_short']} short under this connection")


if __name__ == "__main__":
    app()
