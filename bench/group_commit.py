"""Group commit against one commit per message, side by side in one run.

The platform runs in this process (gateway on a real socket); the stations are raw WebSocket
clients in a second process, so the two do not share a core's event loop. Every station runs a
1.6 session and sends MeterValues back to back, each waiting for its reply (which, in both
modes, leaves only after the sample is committed). We count acknowledged messages per second
and reply latency. Modes alternate (A, B, A, B) so machine noise falls on both.

    .venv/bin/python bench/group_commit.py --stations 200 --seconds 15 --database sqlite
    .venv/bin/python bench/group_commit.py --database postgres
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime

import psycopg
from websockets.asyncio.client import connect

from silkcharge.app import build_platform
from silkcharge.settings import Settings
from silkcharge.store.db import migrate

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


async def station(url: str, sid: str, until: float, latencies: list[float]) -> int:
    async with connect(f"{url}/{sid}", subprotocols=["ocpp1.6"], ping_interval=None) as ws:
        async def call(action: str, payload: dict) -> dict:
            mid = uuid.uuid4().hex
            await ws.send(json.dumps([2, mid, action, payload]))
            while True:
                frame = json.loads(await ws.recv())
                if frame[0] == 2:  # the CSMS asks something (e.g. GetConfiguration): answer it
                    answer = {"configurationKey": []} if frame[2] == "GetConfiguration" else {}
                    await ws.send(json.dumps([3, frame[1], answer]))
                    continue
                assert frame[0] == 3 and frame[1] == mid, frame
                return frame[2]

        await call("BootNotification", {"chargePointVendor": "B", "chargePointModel": "G"})
        tx = (await call("StartTransaction", {"connectorId": 1, "idTag": "BENCH", "meterStart": 0,
                                              "timestamp": now()}))["transactionId"]
        sent, wh = 0, 0
        while time.monotonic() < until:
            wh += 10
            t0 = time.perf_counter()
            await call("MeterValues", {"connectorId": 1, "transactionId": tx, "meterValue": [
                {"timestamp": now(), "sampledValue": [{"value": str(wh)}]}]})
            latencies.append(time.perf_counter() - t0)
            sent += 1
        return sent


def load(url: str, stations: int, seconds: float, prefix: str, out) -> None:
    async def main():
        latencies: list[float] = []
        until = time.monotonic() + seconds
        counts = await asyncio.gather(*(station(url, f"{prefix}-{n}", until, latencies) for n in range(stations)))
        out.send((sum(counts), latencies))
    asyncio.run(main())


async def run_mode(url_db: str, grouped: bool, stations: int, seconds: float, round_no: int) -> dict:
    settings = Settings(database_url=url_db, ocpp_port=0, api_key="k", auto_provision=True,
                        allow_stations_without_password=True,  # its stations send no Basic auth
                        message_log_flush_seconds=0.25, heartbeat_interval=300)
    platform = build_platform(settings)
    await platform.start()
    if not grouped:
        await platform.committer.stop()  # every unit of work then commits alone
    try:
        url = f"ws://127.0.0.1:{platform.gateway.port}/ocpp"
        parent, child = multiprocessing.Pipe()
        proc = multiprocessing.Process(target=load, args=(url, stations, seconds, f"R{round_no}", child))
        proc.start()
        while not parent.poll():
            await asyncio.sleep(0.1)
        total, latencies = parent.recv()
        proc.join()
    finally:
        await platform.stop()
    latencies.sort()
    return {
        "mode": "group commit" if grouped else "commit per message",
        "msgs_per_s": total / seconds,
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[int(len(latencies) * 0.99)],
        "batches": platform.committer.batches,
        "units": platform.committer.units,
    }


def database(kind: str) -> tuple[str, callable]:
    if kind == "sqlite":
        url = f"sqlite+aiosqlite:///{tempfile.mkdtemp()}/bench.sqlite3"
        return url, lambda: None
    name = f"bench_gc_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')

    def drop():
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}", drop


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stations", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args()
    results: dict[str, list[dict]] = {}
    for r in range(args.rounds):
        for grouped in (True, False):
            url, drop = database(args.database)
            migrate(url)
            try:
                result = await run_mode(url, grouped, args.stations, args.seconds, r)
            finally:
                drop()
            results.setdefault(result["mode"], []).append(result)
            print(json.dumps(result))
    print(f"\n{args.database}, {args.stations} stations, MeterValues back to back, {args.seconds:g} s x {args.rounds}")
    print("| mode | msgs/s | p50 ms | p99 ms | units per commit |")
    print("|---|---|---|---|---|")
    for mode, rows in results.items():
        per = [r["units"] / r["batches"] if r["batches"] else 1.0 for r in rows]
        print(f"| {mode} | {statistics.median(r['msgs_per_s'] for r in rows):,.0f} "
              f"| {statistics.median(r['p50_ms'] for r in rows):.1f} "
              f"| {statistics.median(r['p99_ms'] for r in rows):.1f} | {statistics.median(per):.1f} |")


if __name__ == "__main__":
    asyncio.run(main())
