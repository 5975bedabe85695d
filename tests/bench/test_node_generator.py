"""bench/ocpp_versus.py's Node side: the load generator gets right answers from the ocpp-rpc
server for every message kind of both OCPP versions, and a wrong answer fails its run.

Not a benchmark: 2 stations × 3 messages, only that the frames pass ocpp-rpc's strict schema
validation and the generator counts what happened. Nothing here installs anything: `make test`
installs bench/node's npm packages first (`make bench-node`). Without Node or those packages
these tests skip locally and fail in CI.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.guards import HANG_GUARD

NODE_DIR = Path(__file__).resolve().parents[2] / "bench" / "node"
PASSWORD = "smoke-test-password-1"
pytestmark = pytest.mark.slow


def _need(ready: bool, what: str) -> None:
    if ready:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{what} is required in CI")
    pytest.skip(f"{what} is missing")


@pytest.fixture(scope="module")
def rpc_server() -> Iterator[str]:
    _need(shutil.which("node") is not None, "node")
    _need((NODE_DIR / "node_modules" / "ocpp-rpc").is_dir(), "bench/node/node_modules (make bench-node)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        ["node", str(NODE_DIR / "rpc_server.js"), "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        first = server.stdout.readline()  # blocks until it listens, or it died
        assert first.startswith("ready"), first
        yield f"ws://127.0.0.1:{port}/ocpp"
    finally:
        server.terminate()
        server.wait(HANG_GUARD)


def generator(url: str, version: str, kind: str, prefix: str, *extra: str) -> subprocess.Popen:
    command = [
        "node", str(NODE_DIR / "generator.js"), "--url", url, "--version", version, "--kind", kind,
        "--stations", "2", "--messages", "3", "--processes", "2", "--password", PASSWORD,
        "--prefix", prefix, *extra,
    ]  # fmt: skip
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def result_of(process: subprocess.Popen) -> tuple[int, dict, list[str]]:
    out, err = process.communicate(timeout=HANG_GUARD)
    events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert events and events[-1]["event"] == "result", err
    return process.returncode, events[-1], [e["event"] for e in events]


def test_every_kind_of_both_versions_gets_right_answers(rpc_server):
    # All six at once: they are independent stations, and the test stays short.
    runs = {
        (version, kind): generator(
            rpc_server, version, kind, f"OK{version.replace('.', '')}{kind[0]}-",
            *(["--rate", "50"] if kind == "status" else []),  # the paced path too
        )
        for version in ("1.6", "2.0.1")
        for kind in ("heartbeat", "status", "meter")
    }  # fmt: skip
    for (version, kind), process in runs.items():
        code, result, events = result_of(process)
        assert (code, result["problems"]) == (0, []), (version, kind)
        assert events == ["go", "done", "result"]
        assert result["ready"] == 2
        assert result["replies"] == result["sent"] == 6
        assert result["call_errors"] == {} and result["timeouts"] == 0
        assert result["latency_ms"]["p50"] is not None and result["msgs_per_s"] > 0


def test_a_station_refused_fails_the_run_loudly(rpc_server):
    code, result, _ = result_of(generator(rpc_server, "1.6", "heartbeat", "TOFU-"))
    assert code == 0
    # The server keeps each station's first password: another one is refused at the handshake.
    code, result, _ = result_of(
        generator(rpc_server, "1.6", "heartbeat", "TOFU-", "--password", "another-password-22")
    )
    assert code == 1
    assert result["ready"] == 0 and result["replies"] == 0
    assert "stations not ready" in result["problems"][0] and "HTTP 401" in result["problems"][0]
