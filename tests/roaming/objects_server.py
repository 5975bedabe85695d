"""A real OCPI server for the Locations and Tariffs tests: uvicorn on a free port over the
test's migrated database, with the modules' routers mounted where roaming/http.py mounts them.

Two stand-ins for ocpi-core's parts, which these tests do not exercise: the partner directory
(`StaticPartners`: which token is which registered partner, what roaming/partners.py answers
from its table) and our own roaming identity (`StaticIdentities`). The error envelope is
answered as roaming/http.py does it. Everything else is the product: routers, store, tenancy.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError

from silkcharge.bus.local import EventBus
from silkcharge.roaming import locations, tariffs
from silkcharge.roaming.auth import Caller, PartyRole
from silkcharge.roaming.state import Roaming
from silkcharge.roaming.wire import OcpiError, Status, ocpi_response
from silkcharge.server import api_server
from silkcharge.settings import Settings
from silkcharge.store.db import create_engine_for, sessionmaker_for
from tests.e2e.server_process import free_port


@dataclass
class StaticPartners:
    callers: dict[str, Caller]

    async def caller_for(self, tokens: list[str]) -> Caller | None:
        return next((self.callers[token] for token in tokens if token in self.callers), None)


@dataclass
class StaticIdentities:
    parties: dict[str, PartyRole]

    async def ours(self, role: str) -> PartyRole | None:
        return self.parties.get(role)


def objects_api(roaming: Roaming) -> FastAPI:
    app = FastAPI()
    app.state.roaming = roaming

    @app.exception_handler(OcpiError)
    async def ocpi_error(request: Request, error: OcpiError):
        return ocpi_response(None, status=error.status, message=error.message, http_status=error.http_status)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError):
        return ocpi_response(None, status=Status.INVALID_PARAMETERS, message=str(error.errors()), http_status=400)

    for module in (locations, tariffs):
        app.include_router(module.cpo_router, prefix=f"/ocpi/cpo/2.2.1/{module.MODULE}")
        app.include_router(module.emsp_router, prefix=f"/ocpi/emsp/2.2.1/{module.MODULE}")
    return app


def token_header(token: str) -> dict[str, str]:
    return {"Authorization": "Token " + base64.b64encode(token.encode()).decode()}


@dataclass
class Served:
    url: str
    roaming: Roaming

    def client(self, token: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, headers=token_header(token), timeout=30)


@contextlib.asynccontextmanager
async def serving(database_url: str, callers: dict[str, Caller], ours: dict[str, PartyRole]) -> AsyncIterator[Served]:
    settings = Settings(database_url=database_url, api_host="127.0.0.1", api_port=free_port())
    engine = create_engine_for(database_url)
    roaming = Roaming(settings=settings, sessions=sessionmaker_for(engine), bus=EventBus(),
                      partners=StaticPartners(callers))  # type: ignore[arg-type]
    roaming.identities = StaticIdentities(ours)  # type: ignore[attr-defined]
    server = api_server(objects_api(roaming), settings)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:  # uvicorn has no readiness event; it sets this flag
            if task.done():
                task.result()
            await asyncio.sleep(0.02)
        yield Served(f"http://127.0.0.1:{settings.api_port}", roaming)
    finally:
        server.should_exit = True
        await task
        await engine.dispose()
