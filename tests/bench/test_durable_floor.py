"""bench/durable_floor_server.py, the durable floor beside which issue 20's rows are read: it
answers the load generator rightly, keeps what it answered (also across a kill -9), and refuses
a CALL that breaks the schema with a CALLERROR, storing nothing of it but the frames; and on
PostgreSQL, with several batches written at once and a meter value kept as one row.

Not a benchmark: a few stations and messages. Node and bench/node's packages come from
`make bench-node`; without them the generator tests skip locally and fail in CI.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from websockets.asyncio.client import connect

from tests.bench.test_node_generator import _need
from tests.conftest import PG_ADMIN, _pg_available
from tests.guards import HANG_GUARD

ROOT = Path(__file__).resolve().parents[2]
NODE_DIR = ROOT / "bench" / "node"
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def floor(tmp_path: Path, *options: str, database: str = "") -> Iterator[tuple[str, Path, subprocess.Popen]]:
    """The floor on a SQLite file of its own (or on `database`): its URL, the file, its process."""
    port, path = _free_port(), tmp_path / "floor.sqlite3"
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "durable_floor_server.py"), "--port", str(port),
         "--database", database or f"sqlite:///{path}", *options],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        first = server.stdout.readline()  # blocks until it listens, or it died
        assert first.startswith("ready"), first + server.stdout.read()
        yield f"ws://127.0.0.1:{port}/ocpp", path, server
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            server.wait(HANG_GUARD)


def _stored(path: Path, sql: str) -> list[tuple]:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return db.execute(sql).fetchall()


def _generate(url: str, version: str, kind: str) -> dict:
    if shutil.which("node") is None or not (NODE_DIR / "node_modules" / "ws").is_dir():
        if os.environ.get("CI"):
            pytest.fail("node and bench/node/node_modules (make bench-node) are required in CI")
        pytest.skip("node or bench/node/node_modules is missing")
    done = subprocess.run(
        ["node", str(NODE_DIR / "generator.js"), "--url", url, "--version", version, "--kind", kind,
         "--stations", "2", "--messages", "5", "--processes", "1", "--password", "floor-test-password",
         "--prefix", f"F{version.replace('.', '')}{kind[0]}-"],
        capture_output=True, text=True, timeout=HANG_GUARD,
    )  # fmt: skip
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert events and events[-1]["event"] == "result", done.stderr
    return {"code": done.returncode, **events[-1]}


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_the_floor_answers_every_kind_rightly_and_keeps_what_each_message_said(tmp_path, version):
    with floor(tmp_path) as (url, path, _):
        for kind in ("heartbeat", "status", "meter"):
            result = _generate(url, version, kind)
            assert (result["code"], result["problems"]) == (0, []), kind
            assert result["replies"] == result["sent"] == 10, kind
        prefix = f"F{version.replace('.', '')}"
        # each meter station: a transaction started, five meter values of four readings, stopped
        assert _stored(path, f"SELECT station_id, state, energy_wh IS NOT NULL FROM transactions "
                             f"WHERE station_id LIKE '{prefix}m-%' ORDER BY 1") == [
            (f"{prefix}m-1", "Completed", 1), (f"{prefix}m-2", "Completed", 1)]  # fmt: skip
        # every reading under its session (a reading repeated in the same millisecond counts once)
        readings = _stored(path, "SELECT measurand, count(*), count(transaction_id), count(DISTINCT "
                                 "transaction_id) FROM meter_samples GROUP BY 1 ORDER BY 1")
        assert [r[0] for r in readings] == [
            "Current.Import", "Energy.Active.Import.Register", "Power.Active.Import", "Voltage"]
        assert all(total == in_session > 0 and sessions == 2 for _, total, in_session, sessions in readings)
        assert _stored(path, f"SELECT count(*) FROM connectors WHERE station_id LIKE '{prefix}s-%'") == [(2,)]
        # every CALL and its reply, the boots and the transactions' starts and stops included
        calls = 3 * 2 * 5 + 3 * 2 + 2 * 2
        in_out = _stored(path, "SELECT direction, count(*) FROM ocpp_messages GROUP BY 1 ORDER BY 1")
        assert in_out == [("in", calls), ("out", calls)]


def test_a_call_against_the_schema_is_refused_and_nothing_it_says_is_kept(tmp_path):
    async def speak(url: str) -> list:
        async with connect(f"{url}/BAD-1", subprotocols=["ocpp2.0.1"]) as station:
            await station.send(json.dumps([2, "1", "StatusNotification", {"evseId": 1}]))
            return json.loads(await station.recv())

    with floor(tmp_path) as (url, path, _):
        answer = asyncio.run(speak(url))
        assert answer[:3] == [4, "1", "OccurrenceConstraintViolation"]
        assert "connectorStatus" in answer[3]
        assert _stored(path, "SELECT count(*) FROM connectors") == [(0,)]


def test_what_the_floor_answered_is_still_there_after_kill_9(tmp_path):
    async def statuses(url: str) -> None:
        async with connect(f"{url}/KILL-1", subprotocols=["ocpp1.6"]) as station:
            for n, status in enumerate(("Available", "Preparing", "Charging")):
                await station.send(json.dumps([2, str(n), "StatusNotification", {
                    "connectorId": 1, "errorCode": "NoError", "status": status,
                    "timestamp": "2026-12-07T06:00:00.000Z"}]))
                assert json.loads(await station.recv()) == [3, str(n), {}]

    with floor(tmp_path) as (url, path, server):
        asyncio.run(statuses(url))
        server.send_signal(signal.SIGKILL)
        server.wait(HANG_GUARD)
        assert _stored(path, "SELECT station_id, status FROM connectors") == [("KILL-1", "Charging")]
        assert _stored(path, "SELECT count(*) FROM ocpp_messages WHERE direction = 'in'") == [(3,)]


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A database of the test's own on the local PostgreSQL, dropped after."""
    _need(_pg_available(), "PostgreSQL on 127.0.0.1:5432")
    name = f"silkcharge_floor_test_{os.getpid()}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.postgres
def test_on_postgresql_with_batches_written_at_once_a_meter_value_is_one_packed_row(tmp_path):
    with postgres_database() as url, floor(tmp_path, "--readings", "packed", "--connections", "3",
                                            database=url) as (ws_url, _, _):
        for version in ("1.6", "2.0.1"):
            result = _generate(ws_url, version, "meter")
            assert (result["code"], result["problems"]) == (0, []), version
        with psycopg.connect(url) as db:
            sessions = db.execute("SELECT station_id, state FROM transactions ORDER BY 1").fetchall()
            assert sessions == [(f"F{v}m-{n}", "Completed") for v in ("16", "201") for n in (1, 2)]
            packed = db.execute("SELECT transaction_id, readings FROM meter_values").fetchall()
            assert db.execute("SELECT count(*) FROM meter_samples").fetchone() == (0,)
    assert packed and all(tx is not None for tx, _ in packed)
    measurands = {tuple(sorted(r.get("measurand", "Energy.Active.Import.Register") for r in json.loads(text)))
                  for _, text in packed}
    # a periodic value holds the four readings; a 2.0.1 start or end holds the register alone
    assert measurands == {
        ("Current.Import", "Energy.Active.Import.Register", "Power.Active.Import", "Voltage"),
        ("Energy.Active.Import.Register",),
    }
