"""A meter batch's read of its sessions, by key and by two lists, as the network grows.

Every batch of meter messages the gateway writes first reads the sessions they belong to
(services/transactions.py: `_direct_updated` for 2.0.1 TransactionEvent Updated,
`_direct_transactions` for 1.6 MeterValues, which also wants the active sessions of the
stations). Until 2026-12-06 both read with two lists, `station_id IN (:stations) AND
station_tx_id IN (:names)` (1.6: `AND (state = 'Active' OR station_tx_id IN (:named))`); now
they join the table on key rows (store/direct.py `keys_direct`). This runs both forms, compiled
and bound as store/direct.py does and run on the bare driver (sqlite3, asyncpg), against one
database per engine that grows:

- **fresh**: every batch station has one active session and nothing else, as in
  `bench/ocpp_versus.py`;
- **grown**: each batch station also has `--history` ended sessions, and `--elsewhere` other
  stations have an active session each (a network some way towards Uzbekistan's plan).

Per engine, network, message kind and batch size, the forms alternate for `--rounds` rounds of
`--repeats` reads each; reported is the wall time per message of the read (median of the
rounds, after six untimed reads of each form), and both forms' rows are checked to name the same sessions. PostgreSQL is analysed
after each growth, as autovacuum would; SQLite has no statistics, as in production.

    .venv/bin/python bench/session_reads.py
    .venv/bin/python bench/session_reads.py --databases sqlite --history 500 --elsewhere 5000
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import sqlite3
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import servers
from sqlalchemy import bindparam, or_

from silkcharge.services.transactions import (
    ACTIVE,
    _direct_transactions,
    _direct_updated,
    _named_params,
    _running_columns,
    _with_their_connectors,
)
from silkcharge.store.db import create_engine_for, dispose_engine, migrate
from silkcharge.store.direct import Prepared, one_of_direct
from silkcharge.store.schema import Transaction

START = datetime(2026, 12, 1, tzinfo=UTC)
BATCHES = (10, 100, 200)
WARM_UP = 6  # reads of each form before the rounds


def two_lists(kind: str, dialect: str):
    """The statements as they were: a list of stations and a list of names."""
    t = Transaction.__table__.c
    if kind == "2.0.1":
        return _with_their_connectors(_running_columns(every=True)).where(
            one_of_direct(dialect, t.station_id, "b_stations"), one_of_direct(dialect, t.station_tx_id, "b_names"))
    return (
        _with_their_connectors(_running_columns())
        .where(one_of_direct(dialect, t.station_id, "b_stations"),
               or_(t.state == bindparam("b_active"), one_of_direct(dialect, t.station_tx_id, "b_named")))
        .order_by(t.started_at)
    )


def two_lists_params(named: list[tuple[str, str]]) -> dict:
    names = [name for _, name in named]
    return {"b_stations": [station for station, _ in named], "b_names": names, "b_named": names, "b_active": ACTIVE}


def by_key(kind: str, dialect: str):
    return _direct_updated(dialect) if kind == "2.0.1" else _direct_transactions(dialect)


def by_key_params(kind: str, dialect: str, named: list[tuple[str, str]]) -> dict:
    if kind == "2.0.1":
        return _named_params(dialect, named)
    return _named_params(dialect, named, [station for station, _ in named])


def grow_sql(dialect: str, first: int, count: int, history: int) -> list[str]:
    """Stations ST-first.. with an active session `active-N` each and `history` ended ones."""
    if dialect == "sqlite":
        numbers = (f"WITH RECURSIVE n(i) AS (SELECT {first} UNION ALL SELECT i + 1 FROM n WHERE i < {first + count - 1})"
                   " SELECT i FROM n")
        ended = (f"WITH RECURSIVE h(j) AS (SELECT 0 UNION ALL SELECT j + 1 FROM h WHERE j < {history - 1}) "
                 f"SELECT 'ST-' || i, 'old-' || j, 'Ended' FROM ({numbers}), h") if history else None
        at, false = f"'{START.strftime('%Y-%m-%d %H:%M:%S.000000')}'", "0"
    else:
        numbers = f"SELECT i FROM generate_series({first}, {first + count - 1}) AS i"
        ended = (f"SELECT 'ST-' || i, 'old-' || j, 'Ended' FROM ({numbers}) AS n, generate_series(0, {history - 1}) AS j"
                 if history else None)
        at, false = f"'{START.isoformat()}'", "false"
    columns = ("INSERT INTO transactions (station_id, station_tx_id, state, evse_id, connector_id, started_at, offline,"
               " updated_at, tenant_id, priced_readings) ")
    statements = [
        f"INSERT INTO stations (id, registration_status, online, created_at, tenant_id) "
        f"SELECT 'ST-' || i, 'Accepted', {false}, {at}, 1 FROM ({numbers}) AS s",
        columns + f"SELECT 'ST-' || i, 'active-' || i, 'Active', 1, 1, {at}, {false}, {at}, 1, 0 FROM ({numbers}) AS s",
    ]
    if ended:
        statements.append(columns + f"SELECT e.*, 1, 1, {at}, {false}, {at}, 1, 0 FROM ({ended}) AS e")
    return statements


class Database:
    """One engine's database and a bare driver connection to it."""

    def __init__(self, name: str, url: str, dialect, run, fetch) -> None:
        self.name, self.url, self.dialect = name, url, dialect
        self.run, self.fetch = run, fetch  # run(sql): a statement; fetch(sql, args): its rows


async def open_database(name: str, admin: str, folder: Path) -> tuple[Database, object]:
    if name == "sqlite":
        url = f"sqlite+aiosqlite:///{folder / 'reads.sqlite3'}"
        migrate(url)
        connection = sqlite3.connect(folder / "reads.sqlite3", isolation_level=None)

        async def run(sql: str) -> None:
            connection.execute(sql)

        async def fetch(sql: str, args: tuple) -> list:
            return connection.execute(sql, args).fetchall()

        owner = connection
    else:
        owner = servers.PostgresDatabase(admin, "_reads")
        url = owner.url()
        migrate(url)
        connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))

        async def run(sql: str) -> None:
            await connection.execute(sql)

        async def fetch(sql: str, args: tuple) -> list:
            return await connection.fetch(sql, *args)

    engine = create_engine_for(url, 1)
    dialect = engine.dialect
    await dispose_engine(engine)
    return Database(name, url, dialect, run, fetch), owner


async def measure(database: Database, network: str, args: argparse.Namespace) -> list[str]:
    lines = []
    dialect = database.dialect.name
    for kind in ("1.6", "2.0.1"):
        for batch in BATCHES:
            named = [(f"ST-{n}", f"active-{n}") for n in range(batch)]
            forms = {
                "two lists": (two_lists(kind, dialect), two_lists_params(named)),
                "by key": (by_key(kind, dialect), by_key_params(kind, dialect, named)),
            }
            prepared = {form: (Prepared(statement, database.dialect, tuple(params)), params)
                        for form, (statement, params) in forms.items()}
            for statement, params in prepared.values():  # prepared, and past PostgreSQL's custom plans
                for _ in range(WARM_UP):
                    await database.fetch(statement.sql, statement.arguments(params))
            times: dict[str, list[float]] = {form: [] for form in forms}
            found: dict[str, set] = {}
            for round_ in range(args.rounds):
                for form in (list(forms) if round_ % 2 == 0 else list(forms)[::-1]):
                    statement, params = prepared[form]
                    bound = statement.arguments(params)
                    started = time.perf_counter()
                    for _ in range(args.repeats):
                        rows = await database.fetch(statement.sql, bound)
                    times[form].append((time.perf_counter() - started) / args.repeats / batch)
                    found[form] = {(row[1], row[2]) for row in rows if row[4] == ACTIVE}
            if found["two lists"] != found["by key"]:
                raise SystemExit(f"{database.name} {network} {kind} {batch}: the forms read different sessions")
            old, new = (statistics.median(times[form]) * 1e6 for form in ("two lists", "by key"))
            lines.append(f"| {database.name} | {network} | {kind} | {batch} | {old:,.1f} | {new:,.1f} | {old / new:,.1f} |")
            print(lines[-1], flush=True)
    return lines


async def main_async(args: argparse.Namespace) -> None:
    print(f"{platform.processor() or platform.machine()}; Python {platform.python_version()}, SQLite "
          f"{sqlite3.sqlite_version}; batch stations {max(BATCHES)}, grown: {args.history} ended sessions each, "
          f"{args.elsewhere:,} active sessions elsewhere; {args.rounds} rounds of {args.repeats} reads")
    print("\n| database | network | OCPP | messages in the batch | two lists µs a message | by key µs a message | ÷ |")
    print("|---|---|---|--:|--:|--:|--:|")
    for name in args.databases.split(","):
        with tempfile.TemporaryDirectory() as folder:
            database, owner = await open_database(name, args.pg_admin, Path(folder))
            try:
                for sql in grow_sql(name, 0, max(BATCHES), 0):
                    await database.run(sql)
                await measure(database, "fresh", args)
                await database.run("DELETE FROM transactions WHERE station_id IN "
                                   "(SELECT id FROM stations WHERE id LIKE 'ST-%')")
                await database.run("DELETE FROM stations WHERE id LIKE 'ST-%'")
                for sql in grow_sql(name, 0, max(BATCHES), args.history):
                    await database.run(sql)
                for sql in grow_sql(name, max(BATCHES), args.elsewhere, 0):
                    await database.run(sql)
                if name == "postgresql":
                    await database.run("ANALYZE")
                await measure(database, "grown", args)
            finally:
                if name == "sqlite":
                    owner.close()
                else:
                    owner.drop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--databases", default="sqlite,postgresql", help="sqlite, postgresql")
    parser.add_argument("--history", type=int, default=500, help="grown: ended sessions of each batch station")
    parser.add_argument("--elsewhere", type=int, default=20_000, help="grown: stations with an active session")
    parser.add_argument("--rounds", type=int, default=5, help="rounds, the forms alternating")
    parser.add_argument("--repeats", type=int, default=20, help="reads per form per round")
    parser.add_argument("--pg-admin", default="postgresql://postgres@127.0.0.1:5432/postgres")
    asyncio.run(main_async(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
