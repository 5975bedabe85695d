"""Run `silkcharge serve` as a real process, for tests that kill it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator

import httpx
import uvicorn

from tests.guards import HANG_GUARD


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.asynccontextmanager
async def serving(server: uvicorn.Server) -> AsyncIterator[uvicorn.Server]:
    """`server` serving in this event loop until the block ends. uvicorn offers no event for
    "listening", so its `started` flag is polled; a server that fails to start raises here,
    and one that never starts is reported after the hang guard."""
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(HANG_GUARD):
            while not server.started:
                if task.done():
                    task.result()
                    raise RuntimeError("uvicorn stopped before it listened")
                await asyncio.sleep(0.02)
        yield server
    finally:
        server.should_exit = True
        await task


class ServerProcess:
    def __init__(self, database_url: str, api_key: str) -> None:
        self.api_port = free_port()
        self.ocpp_port = free_port()
        self.env = {
            **os.environ,
            "SILKCHARGE_DATABASE_URL": database_url,
            "SILKCHARGE_API_KEY": api_key,
            "SILKCHARGE_API_PORT": str(self.api_port),
            "SILKCHARGE_OCPP_PORT": str(self.ocpp_port),
            "SILKCHARGE_LOG_LEVEL": "WARNING",
        }
        self.process: subprocess.Popen | None = None

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def ocpp_url(self) -> str:
        return f"ws://127.0.0.1:{self.ocpp_port}/ocpp"

    def start(self, timeout: float = 2 * HANG_GUARD) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "silkcharge.cli", "serve"], env=self.env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}")
            try:
                if httpx.get(f"{self.api_url}/api/v1/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("server did not start in time")

    def kill_hard(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
