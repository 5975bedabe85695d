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
    .venv/bin/python bench/pg_meter_write.py --forms 0041:batch,head:batch   # 0042's keys, before and after
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import time

import asyncpg
import servers
from alembic import command
from meter_messages import START, message

from silkcharge.loadtest.probe import cpu_seconds
from silkcharge.services.transactions import (
    ENERGY_CHANGES,
    _batch_params,
    _batch_write,
    _message_params,
    _message_write,
)
from silkcharge.store.db import alembic_config, create_engine_for, dispose_engine, migrate
from silkcharge.store.direct import Prepared

FORMS = (("0038", "a statement per message"), ("head", "a statement per message"), ("head", "a statement per batch"))
WRITES = {"message": "a statement per message", "batch": "a statement per batch"}


def forms(text: str) -> tuple[tuple[str, str], ...]:
    """`--forms`: revision:write pairs, e.g. `0041:batch,head:batch` (0042's keys, before and after)."""
    chosen = []
    for pair in text.split(","):
        revision, _, write = pair.strip().partition(":")
        if write not in WRITES:
            raise argparse.ArgumentTypeError(f"{pair!r}: a revision, a colon, and 'message' or 'batch'")
        chosen.append((revision, WRITES[write]))
    return tuple(chosen)


def database_at(admin: str, revision: str, suffix: int) -> servers.PostgresDatabase:
    """A database of its own (dropped by the caller), migrated to `revision`."""
    database = servers.PostgresDatabase(admin, f"_pgmeter{suffix}")
    try:
        migrate(database.url())
        if revision != "head":
            command.downgrade(alembic_config(database.url()), revision)
    except BaseException:
        database.drop()
        raise
    return database


def plain_dsn(database: servers.PostgresDatabase) -> str:
    return database.url().replace("postgresql+asyncpg://", "postgresql://")


async def seed(connection, stations: int) -> dict[int, int]:
    await connection.executemany(
        "INSERT INTO stations (id, registration_status, online, created_at, tenant_id) "
        "VALUES ($1, 'Accepted', true, $2, 1)",
        [(f"ST-{n}", START) for n in range(stations)])
    rows = await connection.fetch(
        "INSERT INTO transactions (station_id, station_tx_id, evse_id, connector_id, state, started_at, offline, "
        "updated_at, tenant_id, priced_readings) SELECT id, '1', 1, 1, 'Active', $1, false, $1, 1, 0 FROM stations "
        "RETURNING id, station_id", START)
    return {int(row["station_id"].removeprefix("ST-")): row["id"] for row in rows}


async def run_round(connection, prepared: Prepared, per_message: bool, sessions: dict[int, int], first: int,
                    messages: int, batch: int) -> dict[str, float]:
    pid = await connection.fetchval("SELECT pg_backend_pid()")
    cpu = wall = 0.0
    for reading in range(first, first + messages):
        made = [message(station, tx, reading) for station, tx in sessions.items()]
        for start in range(0, len(made), batch):
            chunk = made[start:start + batch]
            if per_message:
                sets = [prepared.arguments(_message_params(one)) for one in chunk]
            else:
                sets = [prepared.arguments(_batch_params(chunk, ENERGY_CHANGES))]
            before, started = cpu_seconds(pid), time.perf_counter()
            await connection.executemany(prepared.sql, sets)
            wall += time.perf_counter() - started
            cpu += cpu_seconds(pid) - before
    sent = messages * len(sessions)
    return {"cpu_us": 1e6 * cpu / sent, "wall_us": 1e6 * wall / sent}


async def measure(args: argparse.Namespace, databases: list[servers.PostgresDatabase]) -> None:
    chosen = args.forms
    engine = create_engine_for(databases[-1].url(), 1)
    try:  # compiled as store/direct.py compiles them, for the keys the gateway binds
        sample = [message(0, 0, 0)]
        statements = {
            "a statement per message": Prepared(_message_write(ENERGY_CHANGES), engine.dialect,
                                                tuple(_message_params(sample[0]))),
            "a statement per batch": Prepared(_batch_write(ENERGY_CHANGES), engine.dialect,
                                              tuple(_batch_params(sample, ENERGY_CHANGES))),
        }
    finally:
        await dispose_engine(engine)
    connections = [await asyncpg.connect(plain_dsn(database)) for database in databases]
    sessions = [await seed(connection, args.stations) for connection in connections]
    print("\n| round | schema | write | messages stored before | backend CPU µs per message | wall µs per message |")
    print("|--:|---|---|--:|--:|--:|")
    for round_ in range(args.rounds):
        for shift in range(len(chosen)):
            index = (round_ + shift) % len(chosen)
            revision, form = chosen[index]
            result = await run_round(connections[index], statements[form], form.endswith("message"),
                                     sessions[index], round_ * args.messages, args.messages, args.batch)
            print(f"| {round_ + 1} | {revision} | {form} | {round_ * args.messages * args.stations:,} | "
                  f"{result['cpu_us']:.1f} | {result['wall_us']:.1f} |", flush=True)
    for connection, (revision, form) in zip(connections, chosen, strict=True):
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
    parser.add_argument("--forms", type=forms, default=FORMS,
                        help="revision:write pairs to compare, write 'message' or 'batch' (default: the three above)")
    parser.add_argument("--pg-admin", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args(argv)
    databases: list[servers.PostgresDatabase] = []
    try:
        for suffix, (revision, _) in enumerate(args.forms):
            databases.append(database_at(args.pg_admin, revision, suffix))
        print(f"{platform.processor() or platform.machine()}; Python {platform.python_version()}, PostgreSQL "
              f"{databases[0].version}; {args.stations} stations, {args.messages} messages each per round, "
              f"{args.batch} messages per round-trip")
        asyncio.run(measure(args, databases))
    finally:
        for database in databases:
            database.drop()


if __name__ == "__main__":
    main()
