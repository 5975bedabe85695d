"""The OCPI HTTP application: everything under /ocpi, assembled in one place.

`install(api, roaming)` mounts it on the operator API's application (api/app.py). It is an
application of its own so that its answers are OCPI's, not the operator API's: an error
raised below /ocpi (an OcpiError, unreadable input, an unknown path, a wrong method) is an
OCPI envelope with its HTTP status, and a request's input never causes a 500. Its routes stay
out of the operator API's OpenAPI document and its role table: partners authenticate with
their OCPI token, not an operator's credential.

Every answer carries the request's X-Request-ID and X-Correlation-ID back (made up when a
caller sent none), as transport_and_format asks.

A module (locations, tariffs, ...) exposes `cpo_router`, `emsp_router` (either may be None)
and `ENDPOINTS` [(identifier, "SENDER"|"RECEIVER", path below /ocpi)]. Its cpo_router is
mounted at /ocpi/cpo/2.2.1, its emsp_router at /ocpi/emsp/2.2.1 (the router's own paths start
with the module, e.g. "/locations"); ENDPOINTS are what the version details list. A module that
serves both our roles at one address (hubclientinfo) exposes `router` instead, mounted at
/ocpi/2.2.1 next to credentials.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from types import ModuleType

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from silkcharge.roaming import (
    cdrs,
    charging_profiles,
    commands,
    credentials,
    hubclientinfo,
    locations,
    sender_lists,
    sessions,
    tariffs,
    tokens,
)
from silkcharge.roaming.state import Roaming
from silkcharge.roaming.wire import OCPI_VERSION, OcpiError, Status, ocpi_response

log = logging.getLogger(__name__)

PREFIX = "/ocpi"

MODULES: list[ModuleType] = [
    locations, tariffs, tokens, sessions, cdrs, sender_lists, commands, charging_profiles, hubclientinfo,
]
"""The OCPI modules mounted besides credentials (each lists its own endpoints in ENDPOINTS)."""


def endpoints(modules: Sequence[ModuleType]) -> list[tuple[str, str, str]]:
    """What `modules` list at version details: (identifier, role, path) each."""
    return [endpoint for module in modules for endpoint in module.ENDPOINTS]


def ocpi_app(roaming: Roaming | None, modules: Sequence[ModuleType] = ()) -> FastAPI:
    """The OCPI routes of `modules`. Its `state` holds `roaming` and the endpoints to list;
    an app whose state is given per request (api/app.py) is built with `roaming` None."""
    app = FastAPI(title="silkcharge OCPI", version=OCPI_VERSION, openapi_url=None, docs_url=None, redoc_url=None)
    app.state.roaming = roaming
    app.state.ocpi_endpoints = endpoints(modules)
    app.include_router(credentials.router)
    for module in modules:
        if getattr(module, "router", None) is not None:
            app.include_router(module.router, prefix=f"/{OCPI_VERSION}")
        if getattr(module, "cpo_router", None) is not None:
            app.include_router(module.cpo_router, prefix=f"/cpo/{OCPI_VERSION}")
        if getattr(module, "emsp_router", None) is not None:
            app.include_router(module.emsp_router, prefix=f"/emsp/{OCPI_VERSION}")
    _install_errors(app)
    app.add_middleware(EchoRequestIds)
    return app


def install(api: FastAPI, roaming: Roaming, modules: Sequence[ModuleType] | None = None) -> None:
    """Mount the OCPI application at /ocpi of `api`, and keep `roaming` as api.state.roaming."""
    api.state.roaming = roaming
    api.mount(PREFIX, ocpi_app(roaming, MODULES if modules is None else modules))


def _problem(error: dict) -> str:
    if error.get("type") == "json_invalid":
        return "the body is not JSON"
    where = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"
    return f"{where}: {error.get('msg', 'invalid')}"


def _install_errors(app: FastAPI) -> None:
    @app.exception_handler(OcpiError)
    async def refused(_: Request, exc: OcpiError) -> Response:
        return ocpi_response(None, status=exc.status, message=exc.message, http_status=exc.http_status)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> Response:
        message = "; ".join(_problem(e) for e in exc.errors()[:10])
        return ocpi_response(None, status=Status.INVALID_PARAMETERS, message=message, http_status=400)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        if exc.status_code == 404:
            message = f"no OCPI endpoint {request.url.path}"
        elif exc.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}"
        else:
            message = str(exc.detail)
        status = Status.CLIENT_ERROR if exc.status_code < 500 else Status.SERVER_ERROR
        return ocpi_response(None, status=status, message=message, http_status=exc.status_code)

    @app.exception_handler(Exception)
    async def failed(request: Request, exc: Exception) -> Response:
        log.exception("OCPI %s %s failed", request.method, request.url.path, exc_info=exc)
        return ocpi_response(None, status=Status.SERVER_ERROR, message="the server failed; it was logged",
                             http_status=500, headers=_ids(request.headers.get("x-request-id"),
                                                           request.headers.get("x-correlation-id")))


def _ids(request_id: str | None, correlation_id: str | None) -> dict[str, str]:
    request_id = request_id or str(uuid.uuid4())
    return {"X-Request-ID": request_id, "X-Correlation-ID": correlation_id or request_id}


class EchoRequestIds:
    """Puts the request's X-Request-ID and X-Correlation-ID on its answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = {name.lower(): value for name, value in scope.get("headers", [])}
        ids = _ids(_text(sent.get(b"x-request-id")), _text(sent.get(b"x-correlation-id")))
        echoed = [(name.lower().encode(), value.encode()) for name, value in ids.items()]

        async def send_with_ids(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [(n, v) for n, v in message.get("headers", []) if n.lower() not in (b"x-request-id",
                                                                                        b"x-correlation-id")]
                message = {**message, "headers": kept + echoed}
            await send(message)

        await self.app(scope, receive, send_with_ids)


def _text(value: bytes | None) -> str | None:
    if not value:
        return None
    text = value.decode("latin-1")[:100]
    return text if text.isprintable() else None
