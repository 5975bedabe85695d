"""Start the OCPI peer (tests/roaming/peer/server.py) as a process beside silkcharge, for tests.

The peer runs in its own virtual environment, `.venv-ocpi-peer` at the repository root
(`make ocpi-peer`; `make test` makes it). Without it a test that needs the peer is skipped
with the reason, except in CI (env CI set), where that is a failure.

`ocpi_peer` is one eMSP peer; `ocpi_peer_factory(**options)` starts more (or a CPO). Each
yields an `OcpiPeer`: its URLs, the token A a party registers with, and async helpers over
its debug surface (what it received, what it stored, whom it registered, and a way to make it
register with someone).
"""

from __future__ import annotations

import base64
import collections
import contextlib
import os
import queue
import secrets
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from silkcharge.security.outbound import verifying_context
from tests.guards import HANG_GUARD

REPO_ROOT = Path(__file__).resolve().parents[3]
SERVER = Path(__file__).resolve().with_name("server.py")
READY_LINE = "OCPI-PEER READY"


def peer_python() -> Path:
    """The interpreter of the peer's environment (OCPI_PEER_PYTHON overrides, e.g. for a worktree)."""
    configured = os.environ.get("OCPI_PEER_PYTHON")
    return Path(configured) if configured else REPO_ROOT / ".venv-ocpi-peer" / "bin" / "python"


def authorization(token: str) -> dict[str, str]:
    """The OCPI 2.2.1 Authorization header: the credentials token, base64-encoded."""
    return {"Authorization": "Token " + base64.b64encode(token.encode()).decode()}


@dataclass
class OcpiPeer:
    """A running peer: where it is, who it is, and what it has seen."""

    base_url: str
    token_a: str
    country_code: str
    party_id: str
    roles: tuple[str, ...]
    output: collections.deque = field(repr=False)

    @property
    def versions_url(self) -> str:
        return f"{self.base_url}/ocpi/versions"

    def log(self) -> str:
        """The peer's recent output (the library logs every request at INFO), for failure messages."""
        return "\n".join(self.output)

    async def _get(self, path: str, timeout: float = 10, **params: Any) -> Any:
        async with httpx.AsyncClient(timeout=timeout, verify=verifying_context()) as client:
            response = await client.get(f"{self.base_url}{path}", params=params)
            response.raise_for_status()
            return response.json()

    async def requests(self, after: int = 0) -> list[dict]:
        """The OCPI requests the peer received, in order, each with the answer it gave:
        {method, path, query, authorization, body, status, response}."""
        return (await self._get("/peer/requests", after=after))["requests"]

    async def wait_for_request(
        self, matches: Callable[[dict], bool], *, after: int = 0, timeout: float = HANG_GUARD
    ) -> dict:
        """The first received request from index `after` on that `matches`; waits for it.

        The peer holds each poll until a new request arrives, so this wakes on the event.
        """
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(
                    f"the peer received no matching request in {timeout} s:\n{self.log()}"
                )
            answer = await self._get(
                "/peer/requests", timeout=remaining + 10, after=after, wait=min(remaining, 30)
            )
            for request in answer["requests"]:
                if matches(request):
                    return request
            after = answer["next"]

    async def objects(self, module: str) -> list[dict]:
        """The objects the library handed to the peer's storage for a module (e.g. "locations")."""
        return await self._get(f"/peer/objects/{module}")

    async def seed(self, module: str, item: dict) -> None:
        """Give the peer an object to serve (e.g. a token its eMSP publishes)."""
        async with httpx.AsyncClient(timeout=10, verify=verifying_context()) as client:
            response = await client.put(f"{self.base_url}/peer/objects/{module}", json=item)
            response.raise_for_status()

    async def partners(self) -> list[dict]:
        """Parties registered with the peer: their_token, our_token, versions_url, roles,
        endpoints, initiated_by ("them" or "us")."""
        return await self._get("/peer/partners")

    async def register_with(
        self, versions_url: str, token_a: str, timeout: float = HANG_GUARD
    ) -> dict:
        """Make the peer start the credentials handshake with a party, as the Sender.

        Returns {"ok", "steps": [{step, url, status, body}], "credentials"}.
        """
        async with httpx.AsyncClient(timeout=timeout, verify=verifying_context()) as client:
            response = await client.post(
                f"{self.base_url}/peer/register",
                json={"versions_url": versions_url, "token": token_a},
            )
            response.raise_for_status()
            return response.json()


class PeerProcess:
    """One peer process: started, awaited until it answers, stopped."""

    def __init__(
        self, *, token_a: str, country_code: str, party_id: str, roles: tuple[str, ...]
    ) -> None:
        self.token_a = token_a
        self.country_code = country_code
        self.party_id = party_id
        self.roles = roles
        self.output: collections.deque = collections.deque(maxlen=400)
        self._lines: queue.Queue = queue.Queue()
        self._process: subprocess.Popen | None = None
        self._reader: threading.Thread | None = None
        self._workdir = tempfile.TemporaryDirectory(prefix="ocpi-peer-")

    def start(self, timeout: float = HANG_GUARD) -> OcpiPeer:
        command = [
            str(peer_python()),
            str(SERVER),
            "--port", "0",
            f"--token-a={self.token_a}",  # a token may start with "-"
            "--country-code", self.country_code,
            "--party-id", self.party_id,
            "--roles", ",".join(self.roles),
        ]  # fmt: skip
        # The library reads a .env file from its working directory: give it an empty one.
        self._process = subprocess.Popen(
            command,
            cwd=self._workdir.name,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        port = self._await_ready(time.monotonic() + timeout)
        peer = OcpiPeer(
            base_url=f"http://127.0.0.1:{port}",
            token_a=self.token_a,
            country_code=self.country_code,
            party_id=self.party_id,
            roles=self.roles,
            output=self.output,
        )
        answer = httpx.get(peer.versions_url, headers=authorization(self.token_a), timeout=timeout,
                           verify=verifying_context())
        if answer.status_code != 200 or answer.json().get("status_code") != 1000:
            raise RuntimeError(
                f"the peer's versions endpoint answered {answer.status_code} {answer.text}"
            )
        return peer

    def _read(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        for line in self._process.stdout:
            line = line.rstrip("\n")
            self.output.append(line)
            self._lines.put(line)
        self._lines.put(None)

    def _await_ready(self, deadline: float) -> int:
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise RuntimeError(
                    "the peer did not start in time:\n" + "\n".join(self.output)
                ) from None
            if line is None:
                assert self._process is not None
                code = self._process.wait()
                raise RuntimeError(f"the peer exited with {code}:\n" + "\n".join(self.output))
            if line.startswith(READY_LINE):
                return int(line.split()[-1])

    def stop(self) -> None:
        process = self._process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        if self._reader is not None:
            self._reader.join(10)
        if process is not None and process.stdout is not None:
            process.stdout.close()
        self._workdir.cleanup()


def require_peer_environment() -> None:
    """Skip (or, in CI, fail) when the peer's virtual environment is missing."""
    if peer_python().exists():
        return
    reason = f"the OCPI peer's environment is missing ({peer_python()}): run `make ocpi-peer`"
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


@contextlib.contextmanager
def running_peer(
    *,
    token_a: str | None = None,
    country_code: str = "NL",
    party_id: str = "EXW",
    roles: tuple[str, ...] = ("EMSP",),
) -> Iterator[OcpiPeer]:
    """A peer for the length of the block; its token A is random unless given."""
    require_peer_environment()
    process = PeerProcess(
        token_a=token_a or secrets.token_urlsafe(24),
        country_code=country_code,
        party_id=party_id,
        roles=roles,
    )
    try:
        yield process.start()
    finally:
        process.stop()


@pytest.fixture
def ocpi_peer() -> Iterator[OcpiPeer]:
    """An eMSP that is not silkcharge (extrawest-ocpi), listening on a free port."""
    with running_peer() as peer:
        yield peer


@pytest.fixture
def ocpi_peer_factory() -> Iterator[Callable[..., OcpiPeer]]:
    """Start peers with options (token_a, country_code, party_id, roles); all stop at the end."""
    with contextlib.ExitStack() as stack:
        yield lambda **options: stack.enter_context(running_peer(**options))
