"""The composition root: one Settings object in, the running platform out. No module-level state."""

from __future__ import annotations

import asyncio
import logging
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
from silkcharge.services.commands import CommandService
from silkcharge.services.reservations import ReservationLedger, ReservationService
from silkcharge.services.search import SearchService
from silkcharge.services.stations import StationService
from silkcharge.services.transactions import TransactionService
from silkcharge.services.writer import BatchWriter
from silkcharge.settings import Settings
from silkcharge.store.db import create_engine_for, migrate, sessionmaker_for

log = logging.getLogger(__name__)


@dataclass
class Platform:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker
    bus: EventBus
    router: LocalRouter
    writer: BatchWriter
    stations: StationService
    transactions: TransactionService
    commands: CommandService
    billing: BillingService
    reservations: ReservationService
    gateway: Gateway
    search: SearchService

    async def start(self) -> None:
        self.writer.start()
        await self.stations.reset_presence()
        self.billing.start()
        self.reservations.start()
        await self.search.start()
        await self.gateway.start()

    async def stop(self) -> None:
        await self.gateway.stop()
        await self.search.stop()
        await self.reservations.stop()
        await self.billing.stop()
        await self.writer.stop()
        await self.engine.dispose()


def build_platform(settings: Settings) -> Platform:
    engine = create_engine_for(settings.database_url, settings.database_pool_size)
    sessions = sessionmaker_for(engine)
    bus = EventBus()
    router = LocalRouter()
    writer = BatchWriter(sessions, settings.message_log_flush_seconds)
    stations = StationService(sessions, bus, writer, settings)
    ledger = ReservationLedger(sessions)
    transactions = TransactionService(sessions, bus, ledger)
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
    )
    billing = BillingService(sessions, bus, stale_after=timedelta(hours=settings.stale_session_hours))
    gateway = Gateway(settings, stations, adapters, router, writer)
    search = SearchService(sessions, bus, billing)
    return Platform(
        settings, engine, sessions, bus, router, writer, stations, transactions, commands, billing,
        reservations, gateway, search,
    )


async def serve(settings: Settings, *, ready: asyncio.Event | None = None) -> None:
    """Run the OCPP gateway and the HTTP API in one process until cancelled."""
    from silkcharge.api.app import create_api

    if not settings.api_key:
        raise SystemExit("set SILKCHARGE_API_KEY: the operator API needs a key")
    await asyncio.to_thread(migrate, settings.database_url)
    platform = build_platform(settings)
    await platform.start()
    api = create_api(platform)
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
        await platform.stop()
