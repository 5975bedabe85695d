"""SQLite's cost of the gateway's write of meter messages, by the keys of `meter_samples`.

On SQLite the gateway's writes run on one thread, and in the closed loop of
`bench/ocpp_versus.py` that thread is the busier half of the server. A 1.6 MeterValues stores
four readings and its session's energy; what each reading's insert and each batch's commit
cost depends on the table's keys, and on how large the table has grown. This measures the
gateway's own write (services/transactions.py `_store_messages` on store/direct.py's SQLite
connection: statements compiled and values converted as the gateway does) on three schemas:

- **0041**: the unique key led by the station, and the station a foreign key (the index that
  leads with it serves the key);
- **head**: 0042's unique key led by the reading's time, no foreign key on the station;
- **head + station index**: head with an index on the station, what keeping the foreign key
  would need (SQLite finds a deleted station's rows through it).

Each schema has a database file of its own with the same stations and one session each, first
filled with `--fill` messages a station (not measured), then written `--messages` more a round,
`--batch` messages a transaction, committed as the gateway commits (`PRAGMA synchronous=FULL`,
WAL). The schemas rotate by round, so the machine's noise falls on all. Reported per round: the
writing thread's CPU per message (user + system, `time.thread_time`), split into the statements
and the commit, and the wall time per message.

    .venv/bin/python bench/sqlite_meter_write.py
    .venv/bin/python bench/sqlite_meter_write.py --fill 1250 --rounds 3   # a million readings first
"""

from __future__ import annotations

import argparse
import platform
import sqlite3
import tempfile
import time
from pathlib import Path

from alembic import command
from meter_messages import START, message
from sqlalchemy.dialects import sqlite as sqlite_dialect

from silkcharge.services.transactions import _store_messages
from silkcharge.store.db import _sqlite_pragmas, alembic_config, migrate
from silkcharge.store.direct import _SQLiteConnection, _Statements, _to_the_end

SCHEMAS = (("0041", None), ("head", None), ("head + station index", "CREATE INDEX ix_bench_station ON meter_samples (station_id)"))


def database_at(directory: Path, name: str, revision: str, extra: str | None) -> Path:
    path = directory / f"{name.replace(' ', '_').replace('+', '')}.sqlite3"
    url = f"sqlite+aiosqlite:///{path}"
    migrate(url)
    if revision != "head":
        command.downgrade(alembic_config(url), revision)
    if extra:
        with sqlite3.connect(path) as connection:
            connection.execute(extra)
    return path


def connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    _sqlite_pragmas(connection, None)  # the gateway's: WAL, synchronous=FULL, foreign keys, cache
    connection.isolation_level = ""  # back to the driver's implicit transactions, as aiosqlite's
    return connection


def seed(connection: sqlite3.Connection, stations: int) -> dict[int, int]:
    at = START.strftime("%Y-%m-%d %H:%M:%S.%f")
    connection.executemany(
        "INSERT INTO stations (id, registration_status, online, created_at, tenant_id) VALUES (?, 'Accepted', 1, ?, 1)",
        [(f"ST-{n}", at) for n in range(stations)])
    connection.execute(
        "INSERT INTO transactions (station_id, station_tx_id, evse_id, connector_id, state, started_at, offline, "
        "updated_at, tenant_id, priced_readings) SELECT id, '1', 1, 1, 'Active', ?, 0, ?, 1, 0 FROM stations",
        (at, at))
    connection.commit()
    rows = connection.execute("SELECT id, station_id FROM transactions").fetchall()
    return {int(station.removeprefix("ST-")): tx for tx, station in rows}


def write(connection: sqlite3.Connection, sessions: dict[int, int], first: int, messages: int,
          batch: int) -> dict[str, float]:
    """`messages` a station from reading number `first`, the stations interleaved as a closed
    loop sends them, `batch` to a transaction."""
    db = _SQLiteConnection(connection, _Statements(sqlite_dialect.dialect()), None)
    statements = commit = wall = 0.0
    sent = 0
    for reading in range(first, first + messages):
        made = [message(station, tx, reading) for station, tx in sessions.items()]
        for start in range(0, len(made), batch):
            chunk = made[start:start + batch]
            began, cpu = time.perf_counter(), time.thread_time()
            _to_the_end(_store_messages(db, chunk))
            written = time.thread_time()
            connection.commit()
            committed = time.thread_time()
            wall += time.perf_counter() - began
            statements += written - cpu
            commit += committed - written
            sent += len(chunk)
    return {"statements_us": 1e6 * statements / sent, "commit_us": 1e6 * commit / sent, "wall_us": 1e6 * wall / sent}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stations", type=int, default=200, help="stations, each with a session")
    parser.add_argument("--fill", type=int, default=250, help="messages a station stored before the first round")
    parser.add_argument("--messages", type=int, default=25, help="messages a station per round")
    parser.add_argument("--batch", type=int, default=60, help="messages a transaction")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, the schemas rotating")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="silkcharge-sqlite-meter-") as directory:
        connections, sessions = [], []
        for name, extra in SCHEMAS:
            path = database_at(Path(directory), name, "0041" if name == "0041" else "head", extra)
            connection = connect(path)
            connections.append(connection)
            sessions.append(seed(connection, args.stations))
        print(f"{platform.processor() or platform.machine()}; Python {platform.python_version()}, SQLite "
              f"{sqlite3.sqlite_version}; {args.stations} stations, {args.fill} messages each stored first, "
              f"{args.messages} more a round, {args.batch} messages a transaction; four readings a message")
        for connection, held in zip(connections, sessions, strict=True):
            write(connection, held, 0, args.fill, 1000)
        print("\n| round | schema | readings stored before | CPU µs per message: statements | commit | all "
              "| wall µs per message |")
        print("|--:|---|--:|--:|--:|--:|--:|")
        for round_ in range(args.rounds):
            first = args.fill + round_ * args.messages
            for shift in range(len(SCHEMAS)):
                index = (round_ + shift) % len(SCHEMAS)
                result = write(connections[index], sessions[index], first, args.messages, args.batch)
                print(f"| {round_ + 1} | {SCHEMAS[index][0]} | {4 * first * args.stations:,} | "
                      f"{result['statements_us']:.1f} | {result['commit_us']:.1f} | "
                      f"{result['statements_us'] + result['commit_us']:.1f} | {result['wall_us']:.1f} |", flush=True)
        for connection, (name, _) in zip(connections, SCHEMAS, strict=True):
            stored = connection.execute("SELECT count(*) FROM meter_samples").fetchone()[0]
            expected = 4 * args.stations * (args.fill + args.rounds * args.messages)
            if stored != expected:
                raise SystemExit(f"{name}: {stored} readings stored, {expected} written")
            connection.close()


if __name__ == "__main__":
    main()
