"""SQLite's page cache and checkpoint interval, for the gateway's meter-value batches.

The gateway stores a batch of MeterValues as one executemany into `meter_samples` and one commit
(store/direct.py). This measures that write alone, on the project's own migrated schema (its
unique key, indexes, foreign keys and the trigger that counts priced readings), with two
configurations side by side in one run, each on a fresh database file:

- **SQLite's defaults**: WAL, synchronous=FULL, foreign keys on, a 2 MiB page cache, a
  checkpoint every 1,000 WAL pages;
- **silkcharge's pragmas**: the same plus `store/db.py`'s cache size and checkpoint interval.

Each batch holds one reading of four measurands for every station (200 by default: 800 rows),
as a closed loop of 200 stations sends them. The configurations alternate in rounds (A, B, A,
B), so the machine's noise falls on both; each round continues its own database, so the table
grows as a gateway's does. The statement is the gateway's own (`insert_ignoring`, compiled
by store/direct.py's `Prepared`), and each batch's values are converted as the direct path
converts them before the clock starts. Reported per round: CPU and wall time per stored reading
(this process's user + system time: SQLite runs on the calling thread) and the commit's wall
time.

    .venv/bin/python bench/sqlite_pages.py
    .venv/bin/python bench/sqlite_pages.py --stations 200 --batches 100 --rounds 3
"""

from __future__ import annotations

import argparse
import platform
import resource
import sqlite3
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy.dialects import sqlite

from silkcharge.store.db import (
    SQLITE_CACHE_KIB,
    SQLITE_CHECKPOINT_PAGES,
    SQLITE_WAL_KEEP_BYTES,
    migrate,
)
from silkcharge.store.direct import Prepared
from silkcharge.store.schema import MeterSample
from silkcharge.store.upsert import insert_ignoring

ROW_KEYS = ("station_id", "evse_id", "transaction_id", "timestamp", "measurand", "phase", "location", "context",
            "unit", "value", "tenant_id")
# The gateway's own statement (services/transactions.py's direct write), compiled as store/direct.py
# compiles it: the same SQL and the same conversion of each value.
INSERT = Prepared(insert_ignoring("sqlite", MeterSample.__table__), sqlite.dialect(), ROW_KEYS)
MEASURANDS = (
    ("Energy.Active.Import.Register", "Wh"), ("Power.Active.Import", "W"), ("Current.Import", "A"), ("Voltage", "V"),
)
CONFIGURATIONS = {
    "SQLite's defaults": [],
    "silkcharge's pragmas": [
        f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}",
        f"PRAGMA wal_autocheckpoint={SQLITE_CHECKPOINT_PAGES}",
        f"PRAGMA journal_size_limit={SQLITE_WAL_KEEP_BYTES}",
    ],
}


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def open_database(path: Path, stations: int, pragmas: list[str]) -> sqlite3.Connection:
    migrate(f"sqlite+aiosqlite:///{path}")
    db = sqlite3.connect(path, isolation_level=None)
    for pragma in ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", "PRAGMA foreign_keys=ON", *pragmas):
        db.execute(pragma)
    at = "2026-12-01 00:00:00"
    db.execute("BEGIN")
    for n in range(stations):
        db.execute(
            "INSERT INTO stations (id, registration_status, online, planned, local_list_version, created_at,"
            " security_profile, tenant_id) VALUES (?, 'Accepted', 0, 0, 0, ?, 1, 1)", (f"ST-{n}", at),
        )
        db.execute(
            "INSERT INTO transactions (id, station_id, station_tx_id, evse_id, connector_id, state, started_at,"
            " meter_start_wh, energy_wh, offline, last_seq_no, updated_at, messages_in_queue, tenant_id,"
            " priced_readings) VALUES (?, ?, ?, 1, 1, 'Active', ?, 0, 0, 0, 0, ?, 0, 1, 0)",
            (n + 1, f"ST-{n}", str(n + 1), at, at),
        )
    db.execute("COMMIT")
    return db


def batch_rows(stations: int, reading: int) -> list[tuple]:
    """One reading of every measurand for every station, converted for the driver (untimed)."""
    at = datetime(2026, 12, 1, tzinfo=UTC) + timedelta(seconds=reading)
    rows = []
    for n in range(stations):
        values = (Decimal(1000 + 2 * reading), Decimal(7210), Decimal("31.3"), Decimal("230.1"))
        for (measurand, unit), value in zip(MEASURANDS, values, strict=True):
            row = dict(zip(ROW_KEYS, (f"ST-{n}", 1, n + 1, at, measurand, "", "Outlet", "Sample.Periodic", unit,
                                      value, 1), strict=True))
            rows.append(INSERT.arguments(row))
    return rows


def run_round(db: sqlite3.Connection, stations: int, first: int, batches: int) -> dict[str, float]:
    prepared = [batch_rows(stations, reading) for reading in range(first, first + batches)]
    cpu, wall, committing = cpu_seconds(), time.perf_counter(), 0.0
    for rows in prepared:
        db.execute("BEGIN")
        db.executemany(INSERT.sql, rows)
        started = time.perf_counter()
        db.execute("COMMIT")
        committing += time.perf_counter() - started
    readings = stations * len(MEASURANDS) * batches
    return {
        "cpu_us": 1e6 * (cpu_seconds() - cpu) / readings,
        "wall_us": 1e6 * (time.perf_counter() - wall) / readings,
        "commit_ms": 1e3 * committing / batches,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stations", type=int, default=200, help="stations, each with a session")
    parser.add_argument("--batches", type=int, default=100, help="batches per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per configuration, alternating")
    args = parser.parse_args()
    print(f"{platform.processor() or platform.machine()}; Python {platform.python_version()}, "
          f"SQLite {sqlite3.sqlite_version}; {args.stations} stations, {args.batches} batches of "
          f"{args.stations * len(MEASURANDS)} readings per round")
    with tempfile.TemporaryDirectory() as folder:
        databases = {
            name: open_database(Path(folder) / f"{i}.db", args.stations, pragmas)
            for i, (name, pragmas) in enumerate(CONFIGURATIONS.items())
        }
        print("\n| round | configuration | readings stored before | CPU µs per reading | wall µs per reading | commit ms |")
        print("|--:|---|--:|--:|--:|--:|")
        for round_ in range(args.rounds):
            first = round_ * args.batches
            for name, db in databases.items():
                result = run_round(db, args.stations, first, args.batches)
                stored = first * args.stations * len(MEASURANDS)
                print(f"| {round_ + 1} | {name} | {stored:,} | {result['cpu_us']:.1f} | {result['wall_us']:.1f} "
                      f"| {result['commit_ms']:.2f} |")
        for db in databases.values():
            db.close()


if __name__ == "__main__":
    main()
