"""Run `silkcharge serve` as a real process, for tests that kill it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator

import httpx
import uvicorn

from silkcharge.security.outbound import verifying_context
from tests.guards import HANG_GUARD


def _ephemeral_floor() -> int:
    try:
        return int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A port no one listens on now, for a server started in another process (one started in
    this process takes a `listening_socket` instead, which closes the race entirely).

    Chosen below the system's ephemeral range: a port the system hands out for `bind(0)` comes
    from the range outgoing connections take their local ports from, and on a busy machine one
    of them (a database connection, an HTTP client) took it before the server bound it, which
    uvicorn reports as SystemExit(3)."""
    floor = _ephemeral_floor()
    for _ in range(200):
        port = random.randrange(max(1024, floor - 20000), floor)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port below the ephemeral range")


def listening_socket(port: int = 0) -> socket.socket:
    """A TCP socket bound on 127.0.0.1, for a uvicorn server in this process to take over
    (`serving(server, sock)`): the port is held from here on, so nothing can take it between
    choosing it and listening on it. Port 0: the system picks one.

    Made with IPPROTO_TCP named: accepted sockets inherit the listener's protocol number, and
    asyncio turns Nagle's algorithm off (TCP_NODELAY) only on sockets that say IPPROTO_TCP. With
    the default 0, every request after the first on a kept-alive connection waited about 40 ms
    for the client's delayed ACK (uvicorn issue #3149)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError:
        sock.close()
        raise
    return sock


def port_of(sock: socket.socket) -> int:
    return sock.getsockname()[1]


@contextlib.asynccontextmanager
async def serving(server: uvicorn.Server, sock: socket.socket | None = None) -> AsyncIterator[uvicorn.Server]:
    """`server` serving in this event loop until the block ends, on `sock` if given (see
    `listening_socket`). uvicorn offers no event for "listening", so its `started` flag is
    polled; a server that fails to start raises RuntimeError here, and one that never starts is
    reported after the hang guard."""
    task = asyncio.create_task(serve_without_exit(server, sock))
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


async def serve_without_exit(server: uvicorn.Server, sock: socket.socket | None = None) -> None:
    """`server.serve()`, with a start-up failure raised as RuntimeError. uvicorn raises
    SystemExit when it cannot bind; asyncio lets SystemExit out of a task through the event loop
    itself, which ends the test's loop in the middle of its fixtures and breaks every later test
    in the same worker."""
    prompt(server)
    try:
        await server.serve(sockets=[sock] if sock is not None else None)
    except SystemExit as exit_:
        raise RuntimeError(f"uvicorn could not start (exit {exit_.code}); its log above says why") from None
    finally:
        if sock is not None:
            sock.close()


PROMPT_TICK = 0.01
"""Seconds between a test server's looks at `should_exit` (uvicorn's own: 0.1)."""


def prompt(server: uvicorn.Server) -> None:
    """Make `server` stop as soon as a test tells it to. uvicorn looks at `should_exit` every
    0.1 s and, in its shutdown, pauses 0.1 s more before it waits for connections; a roaming
    test stops two servers, so each test paid about 0.4 s for nothing. Here the look comes every
    10 ms (uvicorn's tick also refreshes the Date header, which still happens), and a server told
    to `force_exit`, which waits for no connection anyway, skips the pause, and the requests
    still being answered are cancelled."""
    tick = server.on_tick

    async def main_loop() -> None:
        counter = 0
        while not await tick(counter):
            counter = (counter + 1) % 864000
            await asyncio.sleep(PROMPT_TICK)

    shutdown = server.shutdown

    async def prompt_shutdown(sockets: list[socket.socket] | None = None) -> None:
        if not server.force_exit:
            await shutdown(sockets)
            return
        for listener in server.servers:
            listener.close()
        for sock in sockets or []:
            sock.close()
        for connection in list(server.server_state.connections):
            connection.shutdown()
        # uvicorn forced to exit leaves the requests it was answering running. Here they would
        # outlive the test's platform, which stops next: a request that reached the database
        # after the platform's engine was disposed opened a connection in the engine's new pool,
        # and the next test leasing that engine got a connection of this test's event loop
        # ("attached to a different loop", seen once in a full run). Cancelled, and waited for.
        unfinished = list(server.server_state.tasks)
        for task in unfinished:
            task.cancel()
        await asyncio.gather(*unfinished, return_exceptions=True)
        for listener in server.servers:
            await listener.wait_closed()

    server.main_loop = main_loop  # type: ignore[method-assign]
    server.shutdown = prompt_shutdown  # type: ignore[method-assign]


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
        # one client for every poll: a new one would load the CA bundle again (~30 ms of CPU)
        with httpx.Client(timeout=1, verify=verifying_context()) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"server exited with {self.process.returncode}")
                try:
                    if client.get(f"{self.api_url}/api/v1/health").status_code == 200:
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
