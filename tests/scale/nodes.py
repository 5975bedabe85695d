"""silkcharge nodes as real processes: one with the API and a gateway, others gateway-only."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx

from silkcharge.security.outbound import verifying_context
from tests.conftest import API_KEY
from tests.e2e.server_process import free_port
from tests.guards import HANG_GUARD


class Node:
    def __init__(self, name: str, database_url: str, redis_url: str | None, *, role: str = "all",
                 ocpp_port: int | None = None, **settings: object) -> None:
        self.name = name
        self.role = role
        self.api_port = free_port()
        self.ocpp_port = ocpp_port or free_port()
        self.env = {
            **os.environ,
            "SILKCHARGE_DATABASE_URL": database_url,
            "SILKCHARGE_API_KEY": API_KEY,
            "SILKCHARGE_API_PORT": str(self.api_port),
            "SILKCHARGE_OCPP_PORT": str(self.ocpp_port),
            "SILKCHARGE_ROLE": role,
            "SILKCHARGE_NODE_ID": name,
            "SILKCHARGE_AUTO_PROVISION": "true",
            # These stations prove routing and failover, not authentication: they connect without one.
            "SILKCHARGE_ALLOW_STATIONS_WITHOUT_PASSWORD": "true",
            "SILKCHARGE_LOG_LEVEL": "WARNING",
            "SILKCHARGE_CALL_TIMEOUT": "5",
            "SILKCHARGE_BOOT_RETRY_INTERVAL": "1",
        }
        if redis_url:
            self.env["SILKCHARGE_REDIS_URL"] = redis_url
        for key, value in settings.items():
            self.env[f"SILKCHARGE_{key.upper()}"] = str(value)
        self.process: subprocess.Popen | None = None

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def ocpp_url(self) -> str:
        return f"ws://127.0.0.1:{self.ocpp_port}/ocpp"

    def start(self, timeout: float = 2 * HANG_GUARD) -> Node:
        """A process imports the whole platform before it answers: on a loaded machine that
        alone can take most of a minute."""
        self.process = subprocess.Popen([sys.executable, "-m", "silkcharge.cli", "serve"], env=self.env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"node {self.name} exited with {self.process.returncode}")
            if self._ready():
                return self
            time.sleep(0.1)
        raise RuntimeError(f"node {self.name} did not start in time")

    def _ready(self) -> bool:
        if self.role != "gateway":
            try:
                return httpx.get(f"{self.api_url}/api/v1/health", timeout=1, verify=verifying_context()).status_code == 200
            except httpx.HTTPError:
                return False
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", self.ocpp_port)) == 0

    def kill_hard(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
