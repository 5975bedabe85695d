"""Availability search benchmark: 50,000 SYNTHETIC stations, build time and query latency.

The stations are synthetic (seeded RNG), not a real network: 60 % cluster around the region's
capitals and largest cities (normal spread, sigma 0.25 degrees), the rest spread uniformly over
lat 36-55, lon 50-88. One station per site, two connectors each from an illustrative mix, live
states drawn at random (most Available, some Charging, Faulted or offline), one network-wide
tariff per operator. They are written to a fresh SQLite store; the platform is built on it as
in production, so "build" is the real load from the store plus the index.

Latency is measured against the service (`platform.search.search`, prices included, no HTTP)
and through the API with httpx's ASGITransport (no network socket).

    .venv/bin/python bench/search.py [--stations 50000] [--queries 300]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform as machine
import statistics
import tempfile
import time
from datetime import datetime, timezone
from decimal import Decimal

import httpx
import numpy as np
from sqlalchemy import create_engine, insert, update

from silkcharge.api.app import create_api
from silkcharge.app import build_platform
from silkcharge.domain.connectors import ConnectorStandard as S
from silkcharge.server import shorten_thread_switching, tune_garbage_collector
from silkcharge.services.search import BoundingBox, SearchQuery, SearchService
from silkcharge.settings import Settings
from silkcharge.store.db import migrate
from silkcharge.store.schema import Connector, Operator, Site, Station, TariffRecord

# city, lat, lon, weight, operator
CITIES = [
    ("Almaty", 43.238, 76.889, 5, "KZ"), ("Astana", 51.169, 71.449, 4, "KZ"),
    ("Shymkent", 42.342, 69.590, 2, "KZ"), ("Tashkent", 41.311, 69.279, 5, "UZ"),
    ("Samarkand", 39.654, 66.976, 1, "UZ"), ("Bishkek", 42.874, 74.590, 3, "KG"),
    ("Dushanbe", 38.560, 68.787, 2, "TJ"), ("Ashgabat", 37.960, 58.326, 1, "TM"),
    ("Urumqi", 43.825, 87.617, 3, "CN"),
]
OPERATORS = {"KZ": ("KZT", "Asia/Almaty"), "UZ": ("UZS", "Asia/Tashkent"), "KG": ("KGS", "Asia/Bishkek"),
             "TJ": ("TJS", "Asia/Dushanbe"), "TM": ("TMT", "Asia/Ashgabat"), "CN": ("CNY", "Asia/Urumqi")}
MIX = [((S.GBT_DC, 120), (S.GBT_AC, 7)), ((S.GBT_DC, 60), (S.CCS2, 60)), ((S.CCS2, 150), (S.TYPE2, 22)),
       ((S.GBT_DC, 160), (S.CCS2, 160)), ((S.TYPE2, 22), (S.GBT_AC, 7))]
STATUSES = (["Available"] * 7) + ["Charging", "Charging", "Faulted"]
ALMATY = (43.238, 76.889)
REGISTERED = datetime(2026, 1, 1, tzinfo=timezone.utc)
"""When the synthetic network last changed: long before the run, as for a network built over time
(rows stamped "now" would all fall inside the refresh's look-back and be read again)."""


def synthetic_network(count: int, seed: int = 20260501) -> list[tuple[float, float, str]]:
    rng = np.random.default_rng(seed)
    weights = np.array([c[3] for c in CITIES], dtype=float)
    clustered = int(count * 0.6)
    pick = rng.choice(len(CITIES), size=clustered, p=weights / weights.sum())
    sites = [(CITIES[i][1] + rng.normal(0, 0.25), CITIES[i][2] + rng.normal(0, 0.25), CITIES[i][4]) for i in pick]
    for _ in range(count - clustered):
        lat, lon = rng.uniform(36, 55), rng.uniform(50, 88)
        nearest = min(CITIES, key=lambda c: (c[1] - lat) ** 2 + (c[2] - lon) ** 2)
        sites.append((lat, lon, nearest[4]))
    return sites


def fill_store(url: str, count: int) -> None:
    rng = np.random.default_rng(7)
    engine = create_engine(url.replace("+aiosqlite", ""))
    with engine.begin() as db:
        db.execute(insert(Operator), [
            {"id": n, "code": f"{country}-SYN", "name": f"Synthetic {country}", "country": country,
             "currency": currency} for n, (country, (currency, _)) in enumerate(OPERATORS.items(), start=1)
        ])
        operator_ids = {country: n for n, country in enumerate(OPERATORS, start=1)}
        sites, stations, connectors = [], [], []
        for n, (lat, lon, country) in enumerate(synthetic_network(count), start=1):
            sites.append({"id": n, "code": f"SYN-{n:05d}", "operator_id": operator_ids[country],
                          "name": f"Synthetic site {n}", "city": None, "country": country, "lat": lat,
                          "lon": lon, "timezone": OPERATORS[country][1], "updated_at": REGISTERED})
            stations.append({"id": f"SYN-{n:05d}-1", "site_id": n, "online": bool(rng.random() < 0.95)})
            for evse, (standard, kw) in enumerate(MIX[n % len(MIX)], start=1):
                connectors.append({"station_id": f"SYN-{n:05d}-1", "evse_id": evse, "connector_id": 1,
                                   "standard": standard.value, "max_power_kw": Decimal(kw),
                                   "status": STATUSES[int(rng.integers(len(STATUSES)))],
                                   "updated_at": REGISTERED})
        db.execute(insert(Site), sites)
        db.execute(insert(Station), stations)
        db.execute(insert(Connector), connectors)
        db.execute(insert(TariffRecord), [
            {"code": f"{country}-STD", "operator_id": operator_ids[country], "site_id": None,
             "body": {"id": f"{country}-STD", "currency": currency, "country_code": country, "party_id": "SYN",
                      "elements": [{"price_components": [
                          {"type": "ENERGY", "price": "80", "vat": 12, "step_size": 1},
                          {"type": "FLAT", "price": "200", "vat": 12, "step_size": 1}]}]}}
            for country, (currency, _) in OPERATORS.items()
        ])
    engine.dispose()


def queries(count: int, seed: int = 11) -> dict[str, list[SearchQuery]]:
    rng = np.random.default_rng(seed)
    jitter = lambda: (ALMATY[0] + rng.normal(0, 0.05), ALMATY[1] + rng.normal(0, 0.05))  # noqa: E731
    city = lambda: CITIES[int(rng.integers(len(CITIES)))]  # noqa: E731
    return {
        "radius 10 km, Almaty, GB/T DC, available now": [
            SearchQuery(*jitter(), radius_km=10, standard=S.GBT_DC, available_now=True) for _ in range(count)],
        "radius 50 km, any capital, no filter": [
            SearchQuery(c[1], c[2], radius_km=50) for c in (city() for _ in range(count))],
        "bbox 0.6 x 0.8 deg around Almaty": [
            SearchQuery(bbox=BoundingBox(lat - 0.3, lon - 0.4, lat + 0.3, lon + 0.4))
            for lat, lon in (jitter() for _ in range(count))],
    }


def params(query: SearchQuery) -> dict:
    if query.bbox is not None:
        box = query.bbox
        found = {"min_lat": box.min_lat, "min_lon": box.min_lon, "max_lat": box.max_lat, "max_lon": box.max_lon}
    else:
        found = {"lat": query.lat, "lon": query.lon, "radius_km": query.radius_km}
    if query.standard:
        found["standard"] = query.standard.value
    if query.available_now:
        found["available"] = "true"
    return found


def summary(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


async def run(stations: int, count: int) -> None:
    folder = tempfile.mkdtemp(prefix="silkcharge-bench-search-")
    url = f"sqlite+aiosqlite:///{folder}/bench.sqlite3"
    migrate(url)
    settings = Settings(database_url=url, ocpp_host="127.0.0.1", ocpp_port=0, api_key="bench")
    platform = build_platform(settings)
    await platform.start()  # before filling: start-up marks every station offline
    try:
        started = time.perf_counter()
        fill_store(url, stations)
        print(f"store filled with {stations:,} synthetic stations in {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        await platform.search.refresh()
        loaded = time.perf_counter() - started
        started = time.perf_counter()
        _ = platform.search.network.index
        indexed = time.perf_counter() - started
        print(f"build: load from store {loaded * 1000:.0f} ms, cKDTree over "
              f"{len(platform.search.network.sites):,} sites {indexed * 1000:.1f} ms")
        tune_garbage_collector()  # as `serve` does: the refresh's stalls are otherwise mostly
        shorten_thread_switching(1.0)  # the collector's, and the GIL's 5 ms hand-overs
        await refresh_costs(platform, url)
        api = create_api(platform)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url="http://bench") as client:
            print("| query | results (mean) | service p50 ms | service p99 ms | API p50 ms | API p99 ms |")
            print("|---|---:|---:|---:|---:|---:|")
            for name, batch in queries(count).items():
                for query in batch:  # the first look at a site loads its tariffs; measure the warm path
                    await platform.search.search(query)
                service, api_times, found = [], [], []
                for query in batch:
                    t0 = time.perf_counter()
                    results = await platform.search.search(query)
                    service.append((time.perf_counter() - t0) * 1000)
                    found.append(len(results))
                for query in batch:
                    t0 = time.perf_counter()
                    response = await client.get("/api/v1/search/stations", params=params(query))
                    api_times.append((time.perf_counter() - t0) * 1000)
                    assert response.status_code == 200, response.text
                (s50, s99), (a50, a99) = summary(service), summary(api_times)
                print(f"| {name} | {statistics.mean(found):.1f} | {s50:.2f} | {s99:.2f} | {a50:.2f} | {a99:.2f} |")
    finally:
        await platform.stop()
    print(f"\nMachine: {machine.machine()}, {machine.system()}, Python {machine.python_version()}, "
          f"{os.cpu_count()} CPUs")


async def timed_refresh(service: SearchService) -> tuple[float, float]:
    """Wall time of one refresh, and the longest the event loop was held meanwhile (ms)."""
    stalls, done = [0.0], asyncio.Event()

    async def probe() -> None:
        while not done.is_set():
            t0 = time.perf_counter()
            await asyncio.sleep(0.001)
            stalls[0] = max(stalls[0], time.perf_counter() - t0 - 0.001)

    watcher = asyncio.create_task(probe())
    t0 = time.perf_counter()
    await service.refresh()
    took = time.perf_counter() - t0
    done.set()
    await watcher
    return took * 1000, stalls[0] * 1000


async def refresh_costs(platform, url: str) -> None:
    """The periodic refresh: a whole read (what every refresh did before) against incremental
    ones with nothing changed and with 100 sites moved and 200 connectors edited. Measured on a
    service that read the filled store at its start (the platform's own started on an empty one)."""
    fresh = SearchService(platform.sessions, platform.bus, platform.billing, platform.workers)
    full, full_stall = await timed_refresh(fresh)
    idle = [await timed_refresh(fresh) for _ in range(5)]
    engine = create_engine(url.replace("+aiosqlite", ""))
    with engine.begin() as db:
        for n in range(1, 101):
            db.execute(update(Site).where(Site.id == n * 400).values(lat=Site.lat + 0.01))
        for n in range(1, 201):
            db.execute(update(Connector).where(Connector.id == n * 450).values(max_power_kw=Decimal(200)))
    engine.dispose()
    changed, changed_stall = await timed_refresh(fresh)
    print("| refresh | wall ms | longest event-loop stall ms |\n|---|---:|---:|")
    print(f"| whole network read (start-up) | {full:.0f} | {full_stall:.0f} |")
    print(f"| incremental, nothing changed (median of 5) | {statistics.median(t for t, _ in idle):.0f} | "
          f"{max(s for _, s in idle):.0f} |")
    print(f"| incremental, 100 sites moved + 200 connectors edited (tree rebuilt) | {changed:.0f} | "
          f"{changed_stall:.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=50_000)
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args()
    asyncio.run(run(args.stations, args.queries))


if __name__ == "__main__":
    main()
