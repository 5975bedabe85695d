"""A roaming partner's locations RECEIVER on a real socket, for the outbox tests.

The true external boundary of the push: another company's OCPI platform. It records every
request it took, can be told to answer 503, to refuse some objects with OCPI 2001, to hold a
request without answering, or to go away altogether (its server stopped: connections refused),
and lets a test wait until it has taken N pushes.
"""

from __future__ import annotations

import asyncio
import socket
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.e2e.server_process import listening_socket, port_of, serve_without_exit
from tests.guards import HANG_GUARD

MODULE_PATH = "/ocpi/emsp/2.2.1/locations"




@dataclass
class Taken:
    method: str
    path: str
    body: Any
    authorization: str | None
    headers: dict[str, str] = field(default_factory=dict)


class FakePartner:
    def __init__(self) -> None:
        self._socket: socket.socket | None = listening_socket()
        self.port = port_of(self._socket)
        self.taken: list[Taken] = []
        self.attempts: list[tuple[float, str]] = []
        """Every request that reached us, taken or not: (monotonic time, path)."""
        self.unavailable = False
        """Answer HTTP 503 (with OCPI 3000) to everything."""
        self.refused: set[str] = set()
        """Paths answered HTTP 400 with OCPI 2001."""
        self.hold = False
        """Keep requests waiting without an answer."""
        self._changed = asyncio.Condition()
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task | None = None
        self.app = self._build()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}{MODULE_PATH}"

    def _build(self) -> FastAPI:
        app = FastAPI()

        @app.api_route(MODULE_PATH + "/{path:path}", methods=["PUT", "PATCH", "POST", "DELETE"])
        async def receive(path: str, request: Request) -> JSONResponse:
            body = await request.json() if await request.body() else None
            await self._note(lambda: self.attempts.append((time.monotonic(), path)))
            if self.hold:
                await asyncio.Event().wait()
            if self.unavailable:
                return _envelope(3000, "down for maintenance", 503)
            if path in self.refused:
                return _envelope(2001, "evse uid not known in this shape", 400)
            await self._note(lambda: self.taken.append(Taken(
                request.method, path, body, request.headers.get("authorization"), dict(request.headers))))
            return _envelope(1000, None, 200)

        return app

    async def _note(self, change) -> None:
        async with self._changed:
            change()
            self._changed.notify_all()

    async def until_taken(self, count: int) -> list[Taken]:
        """Wait until we took at least `count` pushes."""
        async with asyncio.timeout(HANG_GUARD), self._changed:
            await self._changed.wait_for(lambda: len(self.taken) >= count)
        return list(self.taken)

    async def until_attempted(self, count: int) -> list[tuple[float, str]]:
        """Wait until at least `count` requests reached us, whatever we answered."""
        async with asyncio.timeout(HANG_GUARD), self._changed:
            await self._changed.wait_for(lambda: len(self.attempts) >= count)
        return list(self.attempts)

    async def start(self) -> None:
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off",
                                timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        # the first start takes the socket bound at creation; a restart binds the same port again
        sock, self._socket = self._socket or listening_socket(self.port), None
        self._task = asyncio.create_task(serve_without_exit(self._server, sock))
        async with asyncio.timeout(HANG_GUARD):
            while not self._server.started:  # uvicorn offers no event for this
                if self._task.done():
                    self._task.result()
                await asyncio.sleep(0.01)

    async def stop(self) -> None:
        """Go away: from now on, connections are refused."""
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            self._server.force_exit = True
            await self._task
        self._server = self._task = None
        if self._socket is not None:  # never started
            self._socket.close()
            self._socket = None

    def of(self, path: str) -> list[Any]:
        """The bodies we took for one object, in the order taken."""
        return [taken.body for taken in self.taken if taken.path == path]


def _envelope(status: int, message: str | None, http_status: int) -> JSONResponse:
    body: dict[str, Any] = {"data": None, "status_code": status, "timestamp": "2026-12-04T10:00:00Z"}
    if message:
        body["status_message"] = message
    return JSONResponse(body, status_code=http_status)
