"""The composition root: one Settings object in, the running platform out. No module-level state."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import resource
import socket
import subprocess
import sys
from dataclasses import dataclass
from datetime import timedelta

import uvicorn
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from silkcharge.bus.local import EventBus, LocalRouter
from silkcharge.ocpp.adapter import Adapter
from silkcharge.ocpp.gateway import Gateway
from silkcharge.ocpp.v16 import V16Adapter
from silkcharge.ocpp.v201 import V201Adapter
from silkcharge.services.billing import BillingService
from silkcharge.services.charger_cost import ChargerCostService
from silkcharge.services.commands import CommandService
from silkcharge.services.drivers import DriverService
from silkcharge.services.reservations import ReservationLedger, ReservationService
from silkcharge.services.search import SearchService
from silkcharge.services.smart import SmartChargingService
from silkcharge.services.stations import StationService
from silkcharge.services.transactions import TransactionService
from silkcharge.services.writer import BatchWriter
from silkcharge.settings import Settings
from silkcharge.store.db import create_engine_for, migrate, sessionmaker_for
from silkcharge.store.group_commit import GroupCommitter

log = logging.getLogger(__name__)


@dataclass
class Platform:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker
    bus: EventBus
    router: LocalRouter
    writer: BatchWriter
    committer: GroupCommitter
    stations: StationService
    transactions: TransactionService
    commands: CommandService
    billing: BillingService
    reservations: ReservationService
    gateway: Gateway
    search: SearchService
    drivers: DriverService
    charger_costs: ChargerCostService | None = None
    smart: SmartChargingService | None = None

    async def start(self) -> None:
        self.bus.start()
        self.router.start()
        self.writer.start()
        self.committer.start()
        await self.stations.reset_presence()
        self.billing.start()
        self.reservations.start()
        await self.search.start()
        if self.smart is not None and self.settings.role != "gateway":
            self.smart.start()  # one load manager per deployment: where the API runs
        if self.charger_costs is not None:
            await self.charger_costs.start()
        if self.settings.role != "api":
            await self.gateway.start()

    async def stop(self) -> None:
        await self.gateway.stop()
        if self.smart is not None:
            await self.smart.stop()
        if self.charger_costs is not None:
            await self.charger_costs.stop()
        await self.search.stop()
        await self.reservations.stop()
        await self.billing.stop()
        await self.committer.stop()
        await self.writer.stop()
        await self.router.stop()
        await self.bus.stop()
        await self.engine.dispose()


def bus_and_router(settings: Settings) -> tuple[EventBus, LocalRouter]:
    """In one process, the in-memory bus; with Redis, the bus and router shared by every node."""
    if not settings.redis_url:
        return EventBus(), LocalRouter()
    from redis.asyncio import Redis

    from silkcharge.bus.redis import RedisEventBus, RedisRouter

    redis = Redis.from_url(
        settings.redis_url, socket_connect_timeout=2, socket_timeout=30, health_check_interval=15
    )
    node = settings.node_id or default_node_name()
    return RedisEventBus(redis, node), RedisRouter(redis, node, serves_stations=settings.role != "api")


def build_platform(settings: Settings) -> Platform:
    engine = create_engine_for(settings.database_url, settings.database_pool_size)
    sessions = sessionmaker_for(engine)
    bus, router = bus_and_router(settings)
    writer = BatchWriter(
        sessions, settings.message_log_flush_seconds, keep=timedelta(days=settings.message_log_days)
    )
    committer = GroupCommitter(
        sessions, max_batch=settings.write_batch_max,
        lanes=1 if settings.is_sqlite else max(1, settings.database_pool_size // 4),
    )
    stations = StationService(sessions, bus, writer, settings, committer)
    ledger = ReservationLedger(sessions)
    transactions = TransactionService(sessions, bus, ledger, committer)
    adapters: dict[str, Adapter] = {
        adapter.version: adapter
        for adapter in (
            V16Adapter(stations, transactions, ledger), V201Adapter(stations, transactions, ledger)
        )
    }
    commands = CommandService(sessions, router, adapters, stations, settings.call_timeout)
    reservations = ReservationService(
        sessions, ledger, commands,
        max_ahead=timedelta(hours=settings.reservation_max_hours),
        check_every=settings.reservation_check_every,
        adapters=adapters,
    )
    billing = BillingService(sessions, bus, stale_after=timedelta(hours=settings.stale_session_hours))
    gateway = Gateway(settings, stations, adapters, router, writer)
    search = SearchService(sessions, bus, billing)
    drivers = DriverService(sessions, timedelta(hours=settings.driver_session_hours))
    charger_costs = ChargerCostService(
        sessions, bus, billing, commands, adapters, every=settings.cost_update_every
    )
    for adapter in adapters.values():
        adapter.costs = charger_costs
    smart = SmartChargingService(
        sessions, bus, commands,
        rebalance_delay=settings.smart_rebalance_delay,
        check_every=settings.smart_check_every,
        over_limit_tolerance_a=settings.smart_over_limit_tolerance_a,
    )
    for adapter in adapters.values():
        adapter.smart = smart
    return Platform(
        settings, engine, sessions, bus, router, writer, committer, stations, transactions, commands, billing,
        reservations, gateway, search, drivers, charger_costs=charger_costs, smart=smart,
    )


def check_deployment(settings: Settings) -> None:
    """Refuse combinations that would lose data or split the network, saying what to change."""
    several = settings.gateway_processes > 1 or settings.role != "all"
    if several and settings.is_sqlite:
        raise SystemExit(
            "several processes need PostgreSQL (SILKCHARGE_DATABASE_URL=postgresql+asyncpg://...): "
            "SQLite has one writer and lives on one machine"
        )
    if several and not settings.redis_url:
        raise SystemExit(
            "several processes need Redis for routing commands and live events: set SILKCHARGE_REDIS_URL"
        )
    if settings.role != "gateway" and not settings.api_key:
        raise SystemExit("set SILKCHARGE_API_KEY: the operator API needs a key")


def tune_garbage_collector() -> None:
    """A gateway keeps tens of objects alive per socket for as long as the station stays, and
    CPython's collector walks the long-lived ones again and again as their number grows: in a
    50,000-station ramp it took 64 % of a gateway process's CPU (py-spy --native), pausing the
    loop for seconds (Redis connects timed out). What start-up loaded is frozen out of
    collection for good, and young collections run every 50,000 allocations, not every 700.
    Reference counting still frees everything that is not in a cycle at once."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def raise_file_limit() -> int:
    """Every station holds a socket: lift the soft open-file limit to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def _spawn_gateways(settings: Settings) -> list[subprocess.Popen]:
    """Extra gateway processes on the same OCPP port (SO_REUSEPORT: the kernel spreads new
    connections over them), so one machine's cores all hold sockets."""
    base = settings.node_id or default_node_name()
    children = []
    for index in range(1, settings.gateway_processes):
        env = dict(os.environ)
        env.update(
            SILKCHARGE_ROLE="gateway",
            SILKCHARGE_GATEWAY_PROCESSES="1",
            SILKCHARGE_OCPP_REUSE_PORT="true",
            SILKCHARGE_NODE_ID=f"{base}/gw{index}",
            SILKCHARGE_DATABASE_URL=settings.database_url,
            SILKCHARGE_REDIS_URL=settings.redis_url or "",
            SILKCHARGE_OCPP_HOST=settings.ocpp_host,
            SILKCHARGE_OCPP_PORT=str(settings.ocpp_port),
            SILKCHARGE_PARENT_PID=str(os.getpid()),
        )
        children.append(
            subprocess.Popen([sys.executable, "-m", "silkcharge.cli", "serve"], env=env)
        )
    return children


async def _until_orphaned() -> None:
    """A gateway process started by another `serve` stops when that parent is gone (killed
    with -9, say), instead of holding its stations' sockets with nobody to stop it."""
    parent = os.environ.get("SILKCHARGE_PARENT_PID")
    if not parent:
        await asyncio.Event().wait()
        return
    while os.getppid() == int(parent):
        await asyncio.sleep(1)
    log.warning("the parent process %s is gone; this gateway stops", parent)


async def _wait_for_gateways(platform: Platform, children: list[subprocess.Popen]) -> None:
    """Ready means every gateway process is taking stations: each announces itself in Redis."""
    from silkcharge.bus.redis import RedisRouter

    assert isinstance(platform.router, RedisRouter)
    names = [f"{platform.router.node}/gw{i}" for i in range(1, len(children) + 1)]
    for _ in range(600):
        if any(child.poll() is not None for child in children):
            raise SystemExit("a gateway process exited during start-up; see its log above")
        if await platform.router.alive(names):
            log.info("%d gateway processes share port %d", len(children) + 1, platform.settings.ocpp_port)
            return
        await asyncio.sleep(0.1)
    raise SystemExit("the extra gateway processes did not start within 60 s")


def default_node_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


async def serve(settings: Settings, *, ready: asyncio.Event | None = None) -> None:
    """Run this process's part of the platform until cancelled: by default the OCPP gateway and
    the HTTP API together; with `role` only one of them; with `gateway_processes` above 1,
    extra gateway processes beside this one (docs/operations.md)."""
    from silkcharge.api.app import create_api

    check_deployment(settings)
    raise_file_limit()
    await asyncio.to_thread(migrate, settings.database_url)
    tune_garbage_collector()
    if settings.gateway_processes > 1:
        settings = settings.model_copy(update={"ocpp_reuse_port": True})
    platform = build_platform(settings)
    children: list[subprocess.Popen] = []
    try:
        await platform.start()
        if settings.role != "api":
            children = _spawn_gateways(settings)
            if children:
                await _wait_for_gateways(platform, children)
        if settings.role == "gateway":
            if ready is not None:
                ready.set()
            await _until_orphaned()  # or until cancelled
            return
        await _serve_api(create_api(platform), settings, ready)
    finally:
        for child in children:
            child.terminate()
        for child in children:
            try:
                await asyncio.to_thread(child.wait, 10)
            except subprocess.TimeoutExpired:
                child.kill()
        await platform.stop()


async def _serve_api(api, settings: Settings, ready: asyncio.Event | None) -> None:
    config = uvicorn.Config(
        api, host=settings.api_host, port=settings.api_port, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # the CLI owns signals
    try:
        api_task = asyncio.create_task(server.serve())
        while not server.started:
            if api_task.done():
                api_task.result()
                raise SystemExit("the HTTP API could not start")
            await asyncio.sleep(0.05)
        log.info("API on http://%s:%d (docs at /docs)", settings.api_host, settings.api_port)
        if ready is not None:
            ready.set()
        await api_task
    finally:
        server.should_exit = True
