"""PostgreSQL's own CPU for the gateway's write of meter messages: schema and statement forms.

In the closed loop of `bench/ocpp_versus.py` on PostgreSQL, MeterValues keep PostgreSQL's
backends busier than the gateway itself (80 to 90 % of a core on a 2-core machine), so what the
database does per message sets the pace as much as the gateway's Python. This measures that
alone, with the gateway's own statement for 1.6 MeterValues of known sessions (services/
transactions.py `_batch_write`: the readings and the sessions' energy, compiled and its values
converted as store/direct.py does), every message moving its session's energy, in three forms:

- **0038, a statement per message**: the schema before 0039 (a row trigger counts each priced
  reading) and an executemany of the gateway's statement for one message (`_message_write`:
  its readings as arrays, its station, EVSE, session and tenant as scalars, its session's
  energy set by id), as the gateway wrote every batch before 2026-12-06;
- **head, a statement per message**: the same write on the current schema (0039: a statement
  trigger), as the gateway writes a small batch now (`store/direct.py` `ARRAYS_FROM`);
- **head, a statement per batch**: the gateway's write of a large batch now (`_batch_write`),
  a batch's messages in one execution.

A batch of messages (100 by default) is one round-trip, committed at its end as the direct path
sends a batch's one write. Each form has a database of its own with the same stations and
sessions; the forms rotate by round, so the machine's noise falls on all. Reported per round:
the backend's CPU per message (its user + system time from /proc: the server runs on this
machine) and the wall time per message, the commit included. At the end, every database's count
of priced readings is checked against its stored readings.

    .venv/bin/python bench/pg_meter_write.py
    .venv/bin/python bench/pg_meter_write.py --rounds 6 --messages 60 --batch 50
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import asyncpg
import psycopg
from alembic import command

from silkcharge.services.transactions import (
    _SAMPLE_COLUMNS,
    ENERGY_CHANGES,
    _batch_write,
    _message_write,
)
from silkcharge.store.db import alembic_config, create_engine_for, dispose_engine, migrate
from silkcharge.store.direct import Prepared

MEASURANDS = (
    ("Energy.Active.Import.Register", "Wh"), ("Power.Active.Import", "W"), ("Current.Import", "A"), ("Voltage", "V"),
)
FORMS = (("0038", "a statement per message"), ("head", "a statement per message"), ("head", "a statement per batch"))


def backend_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Schema:
    """A database of its own at one revision, with `stations` stations each in a session."""

    def __init__(self, admin: str, revision: str, suffix: int) -> None:
        self.revision, self.admin = revision, admin
        self.name = f"silkcharge_bench_pgmeter_{os.getpid()}_{suffix}"
        info = psycopg.conninfo.conninfo_to_dict(admin)
        self.dsn = f"postgresql://{info.get('user', 'postgres')}@{info.get('host', '127.0.0.1')}:" \
                   f"{info.get('port', 5432)}/{self.name}"
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{self.name}"')
        url = self.dsn.replace("postgresql://", "postgresql+asyncpg://")
        migrate(url)
        if revision != "head":
            command.downgrade(alembic_config(url), revision)
        self.url = url

    def drop(self) -> None:
        with psycopg.connect(self.admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


async def seed(connection, stations: int) -> dict[int, int]:
    at = datetime(2026, 12, 1, tzinfo=UTC)
    await connection.executemany(
        "INSERT INTO stations (id, registration_status, online, created_at, tenant_id) "
        "VALUES ($1, 'Accepted', true, $2, 1)",
        [(f"ST-{n}", at) for n in range(stations)])
    rows = await connection.fetch(
        "INSERT INTO transactions (station_id, station_tx_id, evse_id, connector_id, state, started_at, offline, "
        "updated_at, tenant_id, priced_readings) SELECT id, '1', 1, 1, 'Active', $1, false, $1, 1, 0 FROM stations "
        "RETURNING id, station_id", at)
    return {int(row["station_id"].removeprefix("ST-")): row["id"] for row in rows}


def message(station: int, tx: int, reading: int) -> tuple[list[dict], dict]:
    """One station's MeterValues: its four readings (sample rows) and its session's energy."""
    at = datetime(2026, 12, 1, tzinfo=UTC) + timedelta(seconds=60 * reading)
    energy = Decimal(1000 + 120 * reading)
    values = (energy, Decimal(7210), Decimal("31.3"), Decimal("230.1"))
    rows = [{"tenant_id": 1, "station_id": f"ST-{station}", "evse_id": 1, "transaction_id": tx, "timestamp": at,
             "measurand": measurand, "phase": "", "location": "Outlet", "context": "Sample.Periodic", "unit": unit,
             "value": value} for (measurand, unit), value in zip(MEASURANDS, values, strict=True)]
    return rows, {"id": tx, "meter_start_wh": Decimal(1000), "energy_wh": energy - 1000}


def batch_arguments(prepared: Prepared, messages: list[tuple[list[dict], dict]]) -> tuple:
    """`_batch_write`'s arguments for `messages`, as `_store_messages` binds a batch."""
    rows = [row for sample_rows, _ in messages for row in sample_rows]
    params = {f"s_{name}": [row[name] for row in rows] for name in _SAMPLE_COLUMNS}
    params |= {f"u_{name}": [session[name] for _, session in messages] for name in ("id", *ENERGY_CHANGES)}
    return prepared.arguments(params)


def message_arguments(prepared: Prepared, rows: list[dict], session: dict) -> tuple:
    """`_message_write`'s arguments for one message, as `_message_params` binds them."""
    params = {f"b_{name}": rows[0][name] for name in _SAMPLE_COLUMNS[:4]}
    params |= {f"s_{name}": [row[name] for row in rows] for name in _SAMPLE_COLUMNS[4:]}
    params |= {f"b_{name}": session[name] for name in ENERGY_CHANGES} | {"b_id": session["id"]}
    return prepared.arguments(params)


async def run_round(connection, prepared: Prepared, per_message: bool, sessions: dict[int, int], first: int,
                    messages: int, batch: int) -> dict[str, float]:
    pid = await connection.fetchval("SELECT pg_backend_pid()")
    cpu = wall = 0.0
    for reading in range(first, first + messages):
        made = [message(station, tx, reading) for station, tx in sessions.items()]
        for start in range(0, len(made), batch):
            chunk = made[start:start + batch]
            if per_message:
                sets = [message_arguments(prepared, *one) for one in chunk]
            before, started = backend_cpu(pid), time.perf_counter()
            if per_message:
                await connection.executemany(prepared.sql, sets)
            else:
                await connection.execute(prepared.sql, *batch_arguments(prepared, chunk))
            wall += time.perf_counter() - started
            cpu += backend_cpu(pid) - before
    sent = messages * len(sessions)
    return {"cpu_us": 1e6 * cpu / sent, "wall_us": 1e6 * wall / sent}


async def measure(args: argparse.Namespace, schemas: list[Schema]) -> None:
    engine = create_engine_for(schemas[-1].url, 1)
    try:
        one = [f"b_{name}" for name in (*_SAMPLE_COLUMNS[:4], "id", *ENERGY_CHANGES)]
        one += [f"s_{name}" for name in _SAMPLE_COLUMNS[4:]]
        every = [f"s_{name}" for name in _SAMPLE_COLUMNS] + [f"u_{name}" for name in ("id", *ENERGY_CHANGES)]
        statements = {"a statement per message": Prepared(_message_write(ENERGY_CHANGES), engine.dialect, one),
                      "a statement per batch": Prepared(_batch_write(ENERGY_CHANGES), engine.dialect, every)}
    finally:
        await dispose_engine(engine)
    connections = [await asyncpg.connect(schema.dsn) for schema in schemas]
    sessions = [await seed(connection, args.stations) for connection in connections]
    print("\n| round | schema | write | messages stored before | backend CPU µs per message | wall µs per message |")
    print("|--:|---|---|--:|--:|--:|")
    for round_ in range(args.rounds):
        for shift in range(len(FORMS)):
            index = (round_ + shift) % len(FORMS)
            revision, form = FORMS[index]
            result = await run_round(connections[index], statements[form], form.endswith("message"),
                                     sessions[index], round_ * args.messages, args.messages, args.batch)
            print(f"| {round_ + 1} | {revision} | {form} | {round_ * args.messages * args.stations:,} | "
                  f"{result['cpu_us']:.1f} | {result['wall_us']:.1f} |", flush=True)
    for connection, (revision, form) in zip(connections, FORMS):
        counted = await connection.fetchval("SELECT sum(priced_readings) FROM transactions")
        stored = await connection.fetchval("SELECT count(*) FROM meter_samples WHERE measurand IN "
                                           "('Energy.Active.Import.Register', 'Power.Active.Import')")
        if counted != stored:
            raise SystemExit(f"{revision}, {form}: {counted} readings counted, {stored} stored")
        await connection.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stations", type=int, default=200, help="stations, each with a session")
    parser.add_argument("--messages", type=int, default=40, help="messages per station per round")
    parser.add_argument("--batch", type=int, default=100, help="messages per round-trip (one transaction)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, the forms rotating")
    parser.add_argument("--pg-admin", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args(argv)
    schemas = []
    try:
        for suffix, (revision, _) in enumerate(FORMS):
            schemas.append(Schema(args.pg_admin, revision, suffix))
        with psycopg.connect(args.pg_admin) as connection:
            version = connection.execute("SHOW server_version").fetchone()[0]
        print(f"{platform.processor() or platform.machine()}; Python {platform.python_version()}, PostgreSQL "
              f"{version}; {args.stations} stations, {args.messages} messages each per round, "
              f"{args.batch} messages per round-trip")
        asyncio.run(measure(args, schemas))
    finally:
        for schema in schemas:
            schema.drop()


if __name__ == "__main__":
    main()
