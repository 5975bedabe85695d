"""Processes a parent starts (the demo's partner platform and simulated chargers, extra gateway
processes) stop by themselves when that parent is killed with -9, instead of holding their
ports and reconnecting for ever. Real processes: a parent that starts `silkcharge serve` or
`silkcharge simulate` with SILKCHARGE_PARENT_PID, and is then killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from silkcharge.security.outbound import verifying_context
from tests.e2e.server_process import free_port
from tests.guards import HANG_GUARD

PARENT = """
import os, subprocess, sys
child = subprocess.Popen(sys.argv[1:], env={**os.environ, "SILKCHARGE_PARENT_PID": str(os.getpid())})
print(child.pid, flush=True)
child.wait()
"""


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


def _until_gone(pid: int) -> bool:
    deadline = time.monotonic() + HANG_GUARD
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.1)
    return False


def _start_under_a_parent(command: list[str], env: dict[str, str]) -> tuple[subprocess.Popen, int]:
    parent = subprocess.Popen([sys.executable, "-c", PARENT, *command], env=env, stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    return parent, int(parent.stdout.readline())


def _wait_until(check, what: str) -> None:
    deadline = time.monotonic() + 2 * HANG_GUARD
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{what} did not happen in time")


def test_a_platform_whose_parent_was_killed_with_9_stops_by_itself(tmp_path):
    port = free_port()
    env = {**os.environ, "SILKCHARGE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/orphan.sqlite3",
           "SILKCHARGE_API_PORT": str(port), "SILKCHARGE_OCPP_PORT": "0", "SILKCHARGE_API_KEY": "orphan-key",
           "SILKCHARGE_LOG_LEVEL": "WARNING"}
    parent, child = _start_under_a_parent([sys.executable, "-m", "silkcharge.cli", "serve"], env)
    try:
        _wait_until(lambda: httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=2,
                                                  verify=verifying_context()).status_code == 200,
                    "the platform's start")
        parent.send_signal(signal.SIGKILL)  # the parent cannot stop its child itself
        parent.wait()
        assert _until_gone(child), "the orphaned platform kept running"
    finally:
        if _alive(child):
            os.kill(child, signal.SIGKILL)


def test_simulated_chargers_whose_parent_was_killed_with_9_stop_by_themselves(tmp_path):
    fleet = tmp_path / "fleet.json"
    fleet.write_text('[{"station_id": "ORPHAN-1", "password": "orphan-password-1", "ocpp_version": "1.6", '
                     '"vendor": "V", "model": "M", "firmware_version": "1.0", "connectors": [{"evse_id": 1, "connector_id": 1, '
                     '"standard": "type2", "max_power_kw": "22"}]}]')
    nobody = f"ws://127.0.0.1:{free_port()}/ocpp"  # no CSMS: the charger keeps trying to connect
    parent, child = _start_under_a_parent(
        [sys.executable, "-m", "silkcharge.cli", "simulate", "--fleet", str(fleet), "--url", nobody], dict(os.environ))
    try:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        assert _until_gone(child), "the orphaned simulator kept running"
    finally:
        if _alive(child):
            os.kill(child, signal.SIGKILL)
