"""Does heavy work hold the event loop? A station's heartbeat round trip, p50/p99, on a real OCPP
socket to a real `silkcharge serve` process (SQLite), while nothing else runs, while a one-year
analytics summary is asked for again and again, and while the availability search refreshes
its copy of a 50,000-station network (issue 14). Each scenario runs against this checkout and,
with `--baseline`, against another checkout's code (main before the change), one after the
other in the same run, on copies of the same database.

The data are SYNTHETIC (seeded RNG), not a real network:

- analytics: `--stations` stations over the last 366 days: a heartbeat every 5 minutes with
  jitter and outages, a status report or two a day (some Faulted), about 6 sessions a day
  each with a CDR, and a refused authorisation now and then;
- search: bench/search.py's 50,000 stations (one per site, two connectors each); a client adds
  a site every `--refresh-every` seconds and then searches, which makes both versions run the
  search's incremental refresh (it notices the new site id), on top of its own every minute.

The probe station sends a Heartbeat every `--interval` seconds and waits for the answer. The
machine is shared: the script prints the load average before and after each scenario.

    .venv/bin/python bench/loop_latency.py [--baseline /path/to/main/src] [--seconds 60]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import json
import os
import platform as machine
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import httpx
import websockets
from sqlalchemy import insert

from silkcharge.store.db import create_sync_engine_for
from silkcharge.store.schema import (
    ChargeDetailRecord,
    Connector,
    OcppMessage,
    Operator,
    Site,
    Station,
    Transaction,
)

sys.path.insert(0, str(Path(__file__).parent))
from search import fill_store  # noqa: E402  (bench/search.py's 50,000-station network)
from servers import API_KEY, Target, start_silkcharge  # noqa: E402

HERE = Path(__file__).resolve().parents[1] / "src"
PROBE = "PROBE-1"
PASSWORD = "probe-password-16"
YEAR = timedelta(days=366)


@dataclass
class Side:
    name: str
    src: Path

    def env(self) -> dict[str, str]:
        return {"PYTHONPATH": str(self.src)}

    def migrate(self, url: str) -> None:
        subprocess.run([sys.executable, "-m", "silkcharge.cli", "migrate"], check=True,
                       env={**os.environ, **self.env(), "SILKCHARGE_DATABASE_URL": url},
                       stdout=subprocess.DEVNULL)


@dataclass
class Result:
    side: str
    scenario: str
    beats: list[float]
    load: list[float] = field(default_factory=list)
    load_avg: tuple[str, str] = ("", "")
    note: str = ""

    def row(self) -> str:
        p50, p99, worst = percentiles(self.beats)
        load = f"{len(self.load)} × p50 {statistics.median(self.load):.2f} s" if self.load else "-"
        return (f"| {self.scenario} | {self.side} | {len(self.beats)} | {p50:.1f} | {p99:.1f} | "
                f"{worst:.0f} | {load} | {self.load_avg[0]} → {self.load_avg[1]} |")


def percentiles(samples: list[float]) -> tuple[float, float, float]:
    ordered = sorted(samples)
    return (statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
            ordered[-1])


def load_average() -> str:
    return Path("/proc/loadavg").read_text().split()[0]


# ---- data -------------------------------------------------------------------------------------


def fill_year(url: str, stations: int, now: datetime, seed: int = 2026) -> dict[str, int]:
    """A year of SYNTHETIC operations for `stations` stations (see the module)."""
    rng = random.Random(seed)
    engine = create_sync_engine_for(url)
    counts = {"frames": 0, "transactions": 0}
    start = now - YEAR
    with engine.begin() as db:
        db.execute(insert(Operator), [{"id": 1, "code": "KZ-SYN", "name": "Synthetic", "country": "KZ",
                                       "currency": "KZT"}])
        db.execute(insert(Site), [{"id": n, "code": f"ANA-{n:03d}", "operator_id": 1, "name": f"Site {n}",
                                   "city": rng.choice(["Almaty", "Astana"]), "country": "KZ",
                                   "lat": 43.2 + n / 100, "lon": 76.9, "timezone": "Asia/Almaty"}
                                  for n in range(1, stations + 1)])
        db.execute(insert(Station), [{"id": f"ANA-{n:03d}-1", "site_id": n, "heartbeat_interval": 300}
                                     for n in range(1, stations + 1)])
        db.execute(insert(Connector), [{"station_id": f"ANA-{n:03d}-1", "evse_id": e, "connector_id": 1,
                                        "standard": "ccs2", "max_power_kw": Decimal(60)}
                                       for n in range(1, stations + 1) for e in (1, 2)])
    tx_id = itertools.count(1)
    for n in range(1, stations + 1):
        sid = f"ANA-{n:03d}-1"
        frames, txs, cdrs = [], [], []
        t = start
        while t < now:
            if rng.random() < 0.0005:  # an outage of up to a day
                t += timedelta(minutes=rng.randrange(10, 1440))
            frames.append(_frame(sid, t, "in", 2, "Heartbeat", {}))
            t += timedelta(seconds=300 * rng.uniform(0.9, 1.1))
        for day in range(366):
            midnight = start + timedelta(days=day)
            for _ in range(rng.randrange(0, 3)):
                at = midnight + timedelta(minutes=rng.randrange(1440))
                frames.append(_frame(sid, at, "in", 2, "StatusNotification", {
                    "connectorId": rng.randrange(0, 3), "errorCode": "NoError",
                    "status": rng.choice(["Available", "Available", "Charging", "Faulted"])}))
            for _ in range(rng.randrange(3, 10)):
                began = midnight + timedelta(minutes=rng.randrange(1440))
                ended = began + timedelta(minutes=rng.randrange(5, 180))
                if ended >= now:
                    continue
                wh = Decimal(rng.randrange(500, 60000))
                status = "Accepted" if rng.random() < 0.95 else "Invalid"
                number = next(tx_id)
                txs.append({"id": number, "station_id": sid, "station_tx_id": str(number),
                            "evse_id": rng.randrange(1, 3), "connector_id": 1, "id_token": "CARD",
                            "token_status": status, "state": "Ended", "started_at": began,
                            "stopped_at": ended, "energy_wh": wh, "offline": False, "updated_at": ended})
                if status == "Accepted":
                    cdrs.append({"id": f"cdr-{number}", "transaction_id": number, "currency": "KZT",
                                 "total_excl_vat": wh / 1000 * 80,
                                 "total_incl_vat": wh / 1000 * 80 * Decimal("1.12"),
                                 "capped": False, "flags": [], "body": {}, "receipts": {}, "created_at": ended})
                else:
                    frames.append(_frame(sid, began, "out", 3, "Authorize",
                                         {"idTagInfo": {"status": "Invalid"}}))
        frames.sort(key=lambda f: f["at"])
        with engine.begin() as db:
            db.execute(insert(OcppMessage), frames)
            db.execute(insert(Transaction), txs)
            db.execute(insert(ChargeDetailRecord), cdrs)
        counts["frames"] += len(frames)
        counts["transactions"] += len(txs)
    engine.dispose()
    return counts


def _frame(sid: str, at: datetime, direction: str, kind: int, action: str, payload: dict) -> dict:
    body = [kind, "m", action, payload] if kind == 2 else [kind, "m", payload]
    return {"station_id": sid, "direction": direction, "message_type": kind, "message_id": "m",
            "action": action, "payload": json.dumps(body), "at": at}


def fill_search(url: str, stations: int) -> None:
    fill_store(url, stations)


# ---- load and probe -----------------------------------------------------------------------------


async def heartbeats(ocpp_url: str, seconds: float, interval: float) -> list[float]:
    """Heartbeat round trips (ms) of one station for `seconds`, one every `interval`."""
    auth = base64.b64encode(f"{PROBE}:{PASSWORD}".encode()).decode()
    async with websockets.connect(f"{ocpp_url}/{PROBE}", subprotocols=["ocpp1.6"],
                                  additional_headers={"Authorization": f"Basic {auth}"},
                                  open_timeout=30) as socket:
        await _call(socket, "boot", "BootNotification",
                    {"chargePointVendor": "Bench", "chargePointModel": "Probe"})
        samples = []
        ends = time.monotonic() + seconds
        for n in itertools.count():
            if time.monotonic() >= ends:
                return samples
            tick = time.monotonic()
            await _call(socket, f"hb{n}", "Heartbeat", {})
            samples.append((time.monotonic() - tick) * 1000)
            await asyncio.sleep(max(0.0, interval - (time.monotonic() - tick)))
    return samples


async def _call(socket, message_id: str, action: str, payload: dict) -> None:
    await socket.send(json.dumps([2, message_id, action, payload]))
    while True:
        answer = json.loads(await asyncio.wait_for(socket.recv(), 120))
        if answer[0] in (3, 4) and answer[1] == message_id:
            if answer[0] == 4:
                raise RuntimeError(f"{action} answered with {answer}")
            return


async def analytics_forever(api_url: str, durations: list[float], now: datetime) -> None:
    params = {"start": (now - timedelta(days=365)).isoformat(), "end": now.isoformat(), "group_by": "station"}
    async with httpx.AsyncClient(base_url=api_url, headers={"X-API-Key": API_KEY}, timeout=600) as client:
        while True:
            t0 = time.monotonic()
            answer = await client.get("/api/v1/analytics/summary", params=params)
            answer.raise_for_status()
            durations.append(time.monotonic() - t0)


async def refreshes_forever(api_url: str, durations: list[float], every: float) -> None:
    """A new site, then a search: the search notices the new site id and refreshes its copy."""
    async with httpx.AsyncClient(base_url=api_url, headers={"X-API-Key": API_KEY}, timeout=600) as client:
        for n in itertools.count(1):
            site = {"code": f"BENCH-{os.getpid()}-{n}", "operator": "KZ-SYN", "name": f"Bench site {n}",
                    "city": "Almaty", "country": "KZ", "lat": 43.2 + n / 1000, "lon": 76.9,
                    "timezone": "Asia/Almaty"}
            (await client.post("/api/v1/sites", json=site)).raise_for_status()
            t0 = time.monotonic()
            found = await client.get("/api/v1/search/stations",
                                     params={"lat": 43.24, "lon": 76.89, "radius_km": 5})
            found.raise_for_status()
            durations.append(time.monotonic() - t0)
            await asyncio.sleep(every)


async def measure(side: str, scenario: str, target: Target, seconds: float, interval: float,
                  load=None) -> Result:
    before = load_average()
    durations: list[float] = []
    task = asyncio.create_task(load(durations)) if load else None
    try:
        beats = await heartbeats(target.ocpp_url, seconds, interval)
    finally:
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    target.check_alive()
    return Result(side, scenario, beats, durations, (before, load_average()))


def rolled_up_to(db: Path) -> str | None:
    with sqlite3.connect(db) as con:
        try:
            return con.execute("SELECT max(day) FROM analytics_days").fetchone()[0]
        except sqlite3.OperationalError:
            return None


async def wait_for_rollups(target: Target, db: Path, now: datetime) -> float:
    """Until the roll-up job has rolled up to the day before yesterday at least (seconds)."""
    t0 = time.monotonic()
    goal = (now - timedelta(days=2)).date().isoformat()
    while (rolled_up_to(db) or "") < goal:
        target.check_alive()
        await asyncio.sleep(1)
    return time.monotonic() - t0


# ---- the run ------------------------------------------------------------------------------------


async def run(args) -> None:
    sides = [Side("this branch", HERE)]
    if args.baseline:
        sides.insert(0, Side("baseline", Path(args.baseline).resolve()))
    folder = Path(tempfile.mkdtemp(prefix="silkcharge-bench-loop-"))
    now = datetime.now(timezone.utc)
    results: list[Result] = []
    print(f"machine: {machine.processor() or machine.machine()}, {os.cpu_count()} CPUs, "
          f"Python {machine.python_version()}; load average {load_average()}", flush=True)
    try:
        year_db = folder / "year.sqlite3"
        t0 = time.monotonic()
        sides[0].migrate(f"sqlite+aiosqlite:///{year_db}")
        counts = fill_year(f"sqlite+aiosqlite:///{year_db}", args.stations, now)
        print(f"year: {args.stations} stations, {counts['frames']:,} frames, {counts['transactions']:,} "
              f"sessions, written in {time.monotonic() - t0:.0f} s", flush=True)
        search_db = folder / "search.sqlite3"
        sides[0].migrate(f"sqlite+aiosqlite:///{search_db}")
        fill_search(f"sqlite+aiosqlite:///{search_db}", args.search_stations)
        print(f"search: {args.search_stations:,} stations written", flush=True)
        for side in sides:
            results += await run_side(side, folder, year_db, search_db, now, args)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print("\n| scenario | code | heartbeats | p50 ms | p99 ms | max ms | load requests | load average |")
    print("|---|---|---:|---:|---:|---:|---|---|")
    for result in results:
        print(result.row())
    for result in results:
        if result.note:
            print(f"- {result.side}, {result.scenario}: {result.note}")


async def run_side(side: Side, folder: Path, year_db: Path, search_db: Path, now: datetime,
                   args) -> list[Result]:
    results = []
    settings = {**side.env(), "SILKCHARGE_MESSAGE_LOG_DAYS": "800", "SILKCHARGE_HEARTBEAT_INTERVAL": "300"}
    db = folder / f"year-{side.name.replace(' ', '-')}.sqlite3"
    shutil.copy(year_db, db)
    target = start_silkcharge(side.name, f"sqlite+aiosqlite:///{db}", settings=settings)
    try:
        if side.src == HERE:
            results.append(await measure(side.name, "while the roll-ups catch up on a year", target,
                                         min(args.seconds, 30), args.interval))
            took = await wait_for_rollups(target, db, now)
            results[-1].note = f"roll-up of the year finished {took + min(args.seconds, 30):.0f} s after start"
        results.append(await measure(side.name, "idle", target, args.seconds, args.interval))
        results.append(await measure(
            side.name, "one-year analytics summary, back to back", target, args.seconds, args.interval,
            lambda durations: analytics_forever(target.api_url, durations, now)))
    finally:
        target.stop()
        target.cleanup()
    db = folder / f"search-{side.name.replace(' ', '-')}.sqlite3"
    shutil.copy(search_db, db)
    target = start_silkcharge(side.name, f"sqlite+aiosqlite:///{db}", settings=settings)
    try:
        results.append(await measure(side.name, f"idle, {args.search_stations:,} stations", target,
                                     args.seconds, args.interval))
        results.append(await measure(
            side.name, f"search refresh at {args.search_stations:,} stations", target, args.seconds,
            args.interval, lambda durations: refreshes_forever(target.api_url, durations, args.refresh_every)))
    finally:
        target.stop()
        target.cleanup()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", help="src directory of the code to compare with (e.g. main's)")
    parser.add_argument("--stations", type=int, default=10, help="stations with a year of history")
    parser.add_argument("--search-stations", type=int, default=50_000)
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each measurement")
    parser.add_argument("--interval", type=float, default=0.05, help="seconds between heartbeats")
    parser.add_argument("--refresh-every", type=float, default=2.0)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
