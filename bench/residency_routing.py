"""What data residency costs per statement: the routing decision alone, and a small ORM read
through plain sessions (no residency configured) against routing sessions (residency
configured), on SQLite files in a temporary folder. docs/benchmarks.md has a recorded run.

    PYTHONPATH=src python bench/residency_routing.py [--reads 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from silkcharge.store.db import create_engine_for, migrate, sessionmaker_for
from silkcharge.store.residency import Residency, database_scope
from silkcharge.store.schema import Station, Tenant


def _per_call_ns(fn, calls: int = 200_000) -> float:
    start = time.perf_counter_ns()
    for _ in range(calls):
        fn()
    return (time.perf_counter_ns() - start) / calls


async def _reads(sessions, reads: int) -> float:
    """Microseconds per `session.get`-sized read, each in its own session."""
    start = time.perf_counter()
    for _ in range(reads):
        async with sessions() as session:
            await session.scalar(select(Station.id).where(Station.id == "NONE"))
    return (time.perf_counter() - start) / reads * 1e6


async def main(reads: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        home, kz = (f"sqlite+aiosqlite:///{Path(folder) / name}.sqlite3" for name in ("platform", "kz"))
        for url in (home, kz):
            migrate(url)
        plain_engine = create_engine_for(home)
        plain = sessionmaker_for(plain_engine)
        routed_engine = create_engine_for(home)
        residency = Residency(routed_engine, {"kz-op": kz}, create_engine_for)
        routed = residency.sessionmaker()
        key = residency.keys[1]

        mapper = Station.__mapper__
        platform_mapper = Tenant.__mapper__
        plain_session = Session(bind=plain_engine.sync_engine)
        print("routing decision per statement (ns):")
        print(f"  Session.get_bind, one database:  {_per_call_ns(lambda: plain_session.get_bind(mapper)):.0f}")
        print(f"  Residency.bind, platform scope:  {_per_call_ns(lambda: residency.bind(mapper)):.0f}")
        with database_scope(key):
            print(f"  Residency.bind, tenant database: {_per_call_ns(lambda: residency.bind(mapper)):.0f}")
        print(f"  Residency.bind, platform table:  {_per_call_ns(lambda: residency.bind(platform_mapper)):.0f}")

        results: dict[str, list[float]] = {"plain": [], "routed, platform": [], "routed, tenant db": []}
        await _reads(plain, 200)  # warm both paths
        await _reads(routed, 200)
        for _ in range(rounds):
            results["plain"].append(await _reads(plain, reads))
            results["routed, platform"].append(await _reads(routed, reads))
            with database_scope(key):
                results["routed, tenant db"].append(await _reads(routed, reads))
        print(f"one small read in its own session (µs, median of {rounds} rounds of {reads}):")
        for name, values in results.items():
            print(f"  {name:18} {statistics.median(values):7.1f}   (min {min(values):.1f}, max {max(values):.1f})")
        await residency.dispose()
        await routed_engine.dispose()
        await plain_engine.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reads", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.reads, args.rounds))
