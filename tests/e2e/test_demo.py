"""`silkcharge demo` (what `make demo` runs): seeded network, platform and chargers, all live."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from tests.e2e.server_process import free_port

pytestmark = pytest.mark.slow


def wait_for(check, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = check()
        except httpx.HTTPError:
            value = None
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError("the demo did not get there in time")


def test_demo_serves_the_seeded_network_with_live_sessions_and_stops_on_ctrl_c(tmp_path):
    api_port, ocpp_port = free_port(), free_port()
    env = {**os.environ, "SILKCHARGE_DEMO_SESSIONS_PER_HOUR": "1500"}
    demo = subprocess.Popen(
        [sys.executable, "-m", "silkcharge.cli", "demo", "--stations", "12",
         "--api-port", str(api_port), "--ocpp-port", str(ocpp_port)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    api = httpx.Client(base_url=f"http://127.0.0.1:{api_port}", headers={"X-API-Key": "demo-key"}, timeout=5)
    try:
        stations = wait_for(lambda: api.get("/api/v1/stations").json(), timeout=60)
        assert len(stations) == 122
        online = wait_for(
            lambda: (s := api.get("/api/v1/status").json()["summary"]).get("online", 0) >= 12 and s, timeout=60
        )
        assert online["online"] == 12
        sessions = wait_for(lambda: api.get("/api/v1/transactions").json(), timeout=60)
        assert {s["id_token"][:5] for s in sessions} <= {"DEMO-", "DYU-T"}
    finally:
        demo.send_signal(signal.SIGINT)
        output, _ = demo.communicate(timeout=30)
        api.close()
    assert demo.returncode == 0, output
    assert f"http://127.0.0.1:{api_port}/docs" in output
    assert (tmp_path / "var/demo/silkcharge.sqlite3").exists()
