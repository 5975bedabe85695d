"""What a batch of one costs before its statements: the fixed price of a direct write on SQLite.

At light load every message is a batch of its own, so what a batch costs whatever it holds is
what a reply waits for and what the server's CPU goes to (docs/benchmarks.md, issue 20). This
times, in one process on a migrated SQLite file, each layer of that fixed price alone:

- `Direct.run` of a write that runs `SELECT 1` (store/direct.py): the pool's checkout, one
  hand-over to aiosqlite's thread with the commit, the connection given back;
- one hand-over to aiosqlite's thread and back, doing nothing (`_execute` of a no-op);
- `greenlet_spawn` of a no-op (SQLAlchemy's bridge from the loop into its synchronous code);
- a pool checkout and return (`engine.raw_connection()`, then `close()`), which rolls back;
- a pool checkout and the return of a connection whose transaction ended, as `Direct.run`
  gives back one it committed (no rollback: no hand-over).

Wall and CPU time (this process's user + system, every thread) per call, the mean of
`--calls` calls after a warm-up.

    .venv/bin/python bench/direct_overhead.py
    .venv/bin/python bench/direct_overhead.py --calls 5000
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import resource
import sqlite3
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from sqlalchemy import literal, select
from sqlalchemy.util import greenlet_spawn

from silkcharge.store.db import create_engine_for, dispose_engine, migrate
from silkcharge.store.direct import Direct, _give_back

WARM_UP = 200


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def timed(calls: int, step: Callable[[], Awaitable[object]]) -> tuple[float, float]:
    """(wall µs, CPU µs) per call of `step`."""
    for _ in range(WARM_UP):
        await step()
    cpu, wall = cpu_seconds(), time.perf_counter()
    for _ in range(calls):
        await step()
    return 1e6 * (time.perf_counter() - wall) / calls, 1e6 * (cpu_seconds() - cpu) / calls


async def measure(folder: Path, calls: int) -> list[tuple[str, float, float]]:
    url = f"sqlite+aiosqlite:///{folder / 'direct.db'}"
    migrate(url)
    engine = create_engine_for(url)
    try:
        direct = Direct(engine)
        one = select(literal(1))

        async def direct_write() -> object:
            return await direct.run(lambda db: db.fetch(one, {}))

        async def checkout_and_return() -> None:
            pooled = await engine.raw_connection()
            await greenlet_spawn(pooled.close)

        rows = [("Direct.run of SELECT 1, committed", *await timed(calls, direct_write))]
        pooled = await engine.raw_connection()
        try:
            driver = pooled.driver_connection
            rows.append(("one hand-over to aiosqlite's thread and back",
                         *await timed(calls, lambda: driver._execute(lambda: None))))
        finally:
            await greenlet_spawn(pooled.close)
        rows.append(("greenlet_spawn of a no-op", *await timed(calls, lambda: greenlet_spawn(lambda: None))))
        rows.append(("pool checkout and return (with its rollback)", *await timed(calls, checkout_and_return)))

        async def checkout_and_committed_return() -> None:
            _give_back(await engine.raw_connection(), True)

        rows.append(("pool checkout and return of a committed connection",
                     *await timed(calls, checkout_and_committed_return)))
        return rows
    finally:
        await dispose_engine(engine)


def main(argv: list[str] | None = None) -> list[tuple[str, float, float]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000, help="timed calls of each step")
    args = parser.parse_args(argv)
    print(f"{platform.processor() or platform.machine()}; Python {platform.python_version()}, "
          f"SQLite {sqlite3.sqlite_version}; {args.calls} calls each after {WARM_UP} to warm up\n")
    with tempfile.TemporaryDirectory() as folder:
        rows = asyncio.run(measure(Path(folder), args.calls))
    print("| step | wall µs per call | CPU µs per call |")
    print("|---|--:|--:|")
    for name, wall, cpu in rows:
        print(f"| {name} | {wall:.0f} | {cpu:.0f} |")
    return rows


if __name__ == "__main__":
    main()
