"""Running the platform as a process: the OCPP gateway and the HTTP API in one event loop, or
one role of several (docs/operations.md), extra gateway processes on one port, and the
process-level tuning a gateway needs. `app.py` wires the platform; this module runs it."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import resource
import subprocess
import sys

import uvicorn

from silkcharge.api import http_protocol
from silkcharge.api.app import create_api
from silkcharge.app import Platform, build_platform, default_node_name
from silkcharge.settings import Settings
from silkcharge.store.db import migrate
from silkcharge.store.group_commit import is_unavailable
from silkcharge.store.residency import database_key

log = logging.getLogger(__name__)


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


def shorten_thread_switching(milliseconds: float) -> None:
    """Heavy requests compute on worker threads (store/workers.py), and the event loop must
    win the GIL back each time it wakes for a socket. CPython makes a waiting thread wait up to
    its switch interval, 5 ms, per hand-over; with one worker computing back to back, a
    heartbeat's round trip went from p50 6.0 / p99 59 ms to 2.0 / 15 ms at 1 ms
    (docs/benchmarks.md, "Event-loop latency under heavy work")."""
    sys.setswitchinterval(milliseconds / 1000)


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
        env.update(_transport_security_env(settings))
        children.append(
            subprocess.Popen([sys.executable, "-m", "silkcharge.cli", "serve"], env=env)
        )
    return children


def _transport_security_env(settings: Settings) -> dict[str, str]:
    """The TLS listener's settings, for gateway processes that share its port too."""
    values = {
        "SILKCHARGE_OCPP_PLAIN_ENABLED": str(settings.ocpp_plain_enabled).lower(),
        "SILKCHARGE_OCPP_TLS_PORT": settings.ocpp_tls_port,
        "SILKCHARGE_TLS_CERT_FILE": settings.tls_cert_file,
        "SILKCHARGE_TLS_KEY_FILE": settings.tls_key_file,
        "SILKCHARGE_TLS_CLIENT_CA_FILE": settings.tls_client_ca_file,
    }
    return {name: str(value) for name, value in values.items() if value is not None}


async def until_orphaned() -> None:
    """Return when the process that started this one is gone (killed with -9, say), if it said
    so with SILKCHARGE_PARENT_PID: a gateway process started by another `serve`, the demo's
    partner platform and its simulated chargers stop then, instead of holding sockets and ports
    with nobody left to stop them. Without the variable, never returns."""
    parent = os.environ.get("SILKCHARGE_PARENT_PID")
    if not parent:
        await asyncio.Event().wait()
        return
    while os.getppid() == int(parent):
        await asyncio.sleep(1)
    log.warning("the parent process %s is gone; this process stops", parent)


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


async def migrate_tenant_databases(settings: Settings) -> None:
    """Data residency: each tenant database gets the same migrations at start. One that cannot
    be reached does not keep the others' tenants waiting: it is logged, and the platform treats
    it as down until it answers (docs/operations.md, "Data residency")."""
    for url in settings.all_database_urls()[1:]:
        try:
            await asyncio.to_thread(migrate, url)
        except Exception as error:
            if not is_unavailable(error):
                raise  # a migration that fails on a reachable database stops the start, as on the platform's
            log.exception("could not migrate the tenant database %s; run `silkcharge migrate` when it is back",
                          database_key(url))


async def serve(settings: Settings, *, ready: asyncio.Event | None = None) -> None:
    """Run this process's part of the platform until cancelled: by default the OCPP gateway and
    the HTTP API together; with `role` only one of them; with `gateway_processes` above 1,
    extra gateway processes beside this one (docs/operations.md)."""
    check_deployment(settings)
    raise_file_limit()
    await asyncio.to_thread(migrate, settings.database_url)
    await migrate_tenant_databases(settings)
    tune_garbage_collector()
    shorten_thread_switching(settings.gil_switch_interval_ms)
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
            await until_orphaned()  # or until cancelled
            return
        api = asyncio.create_task(_serve_api(create_api(platform), settings, ready))
        orphaned = asyncio.create_task(until_orphaned())
        try:
            done, _ = await asyncio.wait({api, orphaned}, return_when=asyncio.FIRST_COMPLETED)
            if api in done:
                api.result()  # the API stopped by itself: its failure, if any, is this process's
        finally:
            for task in (api, orphaned):
                task.cancel()
            await asyncio.gather(api, orphaned, return_exceptions=True)
    finally:
        for child in children:
            child.terminate()
        for child in children:
            try:
                await asyncio.to_thread(child.wait, 10)
            except subprocess.TimeoutExpired:
                child.kill()
        await platform.stop()


def api_server(api, settings: Settings) -> uvicorn.Server:
    """uvicorn serving `api` on `api_host:api_port` with the HTTP limits of `settings`
    (docs/operations.md, "Limits and their settings"): request deadlines, idle keep-alive,
    header size. The body size limit is the API's own middleware (`api/limits.py`)."""
    config = uvicorn.Config(
        api, host=settings.api_host, port=settings.api_port, log_level="warning", lifespan="off",
        http=http_protocol.protocol(  # type: ignore[arg-type]
            settings.http_header_timeout, settings.http_body_timeout
        ),
        ws="none",  # the API has no WebSocket routes; stations connect to the OCPP gateway
        timeout_keep_alive=settings.http_idle_timeout,  # type: ignore[arg-type]
        h11_max_incomplete_event_size=settings.http_max_header_bytes,
    )
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # the CLI owns signals
    return server


async def _serve_api(api, settings: Settings, ready: asyncio.Event | None) -> None:
    server = api_server(api, settings)
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
