"""A stand-in for another vendor's OCPI platform that misbehaves on purpose: its versions and
version details answer whatever a test sets, on a real port (uvicorn). It is the true
external boundary of these tests: silkcharge cannot be made to send such answers itself."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from tests.e2e.server_process import listening_socket, port_of, serving


def envelope(data: Any, status: int = 1000) -> dict:
    return {"data": data, "status_code": status, "timestamp": "2026-12-04T10:00:00Z"}


@dataclass
class Foreign:
    url: str
    versions: Any = None
    """What GET /versions answers: a body (dict or list, sent as JSON) or raw bytes."""
    details: Any = None
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    """Each request received: method, path, headers."""
    routes: dict[str, Callable[[Request], Response]] = field(default_factory=dict)
    """Other paths (without the leading slash) and how they answer."""

    @property
    def versions_url(self) -> str:
        return f"{self.url}/versions"


def _answer(body: Any) -> Response:
    if isinstance(body, bytes):
        return Response(body, media_type="text/html")
    return JSONResponse(body)


@contextlib.asynccontextmanager
async def foreign_platform() -> AsyncIterator[Foreign]:
    sock = listening_socket()
    port = port_of(sock)
    foreign = Foreign(f"http://127.0.0.1:{port}")
    app = FastAPI()

    @app.api_route("/{path:path}", methods=["GET", "POST", "PUT", "DELETE"])
    async def anything(path: str, request: Request) -> Response:
        foreign.requests.append((request.method, "/" + path, dict(request.headers)))
        if path == "versions":
            return _answer(foreign.versions)
        if path == "details":
            return _answer(foreign.details)
        if path in foreign.routes:
            return foreign.routes[path](request)
        return JSONResponse(envelope(None, 2000), status_code=404)

    async with serving(uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                                     lifespan="off")), sock):
        yield foreign
