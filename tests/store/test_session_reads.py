"""A meter batch reads its sessions by key: the work per message stays flat as the batch grows
and as the network and its stations' histories grow (services/transactions.py, `_named_or_active`;
store/direct.py, `keys_direct`).

The work is what the database itself counts: on SQLite the virtual machine's steps (a progress
handler), on PostgreSQL the index scans started on `transactions` and the rows read from it in the current
transaction (`pg_stat_xact_*`). Before, a 2.0.1 batch probed every combination of its stations
and transaction names (a hundred messages: ten thousand probes), and a 1.6 batch read every
active session of the network or every session a listed station ever had."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from silkcharge.services.transactions import (
    _direct_transactions,
    _direct_updated,
    _named_params,
)
from silkcharge.store.db import create_engine_for, dispose_engine, sessionmaker_for

BATCH = 100
HISTORY = 1_000  # ended sessions of each batch station (PostgreSQL reads a smaller table whole)
ELSEWHERE = 1_000  # stations with an active session outside the batch


@pytest.fixture
async def sessions(database_url):
    engine = create_engine_for(database_url, 2)
    yield sessionmaker_for(engine)
    await dispose_engine(engine)


def station(n: int) -> str:
    return f"KEY-{n:05d}"


async def add_network(sessions, stations: range, *, history: int) -> None:
    """`stations`, each with one active session (named `active-N`) and `history` ended ones,
    made by the database itself (a hundred thousand rows sent from here took seconds)."""
    async with sessions.begin() as session:
        sqlite = session.bind.dialect.name == "sqlite"

        def numbers(first: int, last: int) -> str:  # the integers first..last, as a table of `i`
            if sqlite:
                return (f"(WITH RECURSIVE n(i) AS (SELECT {first} UNION ALL SELECT i + 1 FROM n WHERE i < {last})"
                        " SELECT i FROM n)")
            return f"(SELECT i FROM generate_series({first}, {last}) AS i)"

        name = "'KEY-' || substr('0000' || s.i, -5)" if sqlite else "'KEY-' || lpad(s.i::text, 5, '0')"
        at, false = ("datetime('now')", "0") if sqlite else ("now()", "false")
        stations_ = f"{numbers(stations.start, stations.stop - 1)} AS s"
        columns = ("INSERT INTO transactions (station_id, station_tx_id, state, started_at, evse_id, connector_id,"
                   " offline, updated_at, tenant_id) ")
        await session.execute(text(
            f"INSERT INTO stations (id, registration_status, online, planned, created_at, tenant_id) "
            f"SELECT {name}, 'Accepted', {false}, {false}, {at}, 1 FROM {stations_}"))
        await session.execute(text(
            columns + f"SELECT {name}, 'active-' || s.i, 'Active', {at}, 1, 1, {false}, {at}, 1 FROM {stations_}"))
        if history:
            await session.execute(text(
                columns + f"SELECT {name}, 'old-' || s.i || '-' || h.i, 'Ended', {at}, 1, 1, {false}, {at}, 1 "
                f"FROM {stations_}, {numbers(0, history - 1)} AS h"))
        if not sqlite:
            await session.execute(text("ANALYZE transactions"))


async def work_of(sessions, statement, params) -> tuple[int, set[str]]:
    """What the database counts while running `statement`, and the transactions it returned."""
    async with sessions() as session:
        dialect = session.bind.dialect.name
        if dialect == "sqlite":
            driver = (await (await session.connection()).get_raw_connection()).driver_connection
            steps = 0

            def step() -> int:
                nonlocal steps
                steps += 1
                return 0

            await driver.set_progress_handler(step, 10)
            rows = (await session.execute(statement, params)).all()
            await driver.set_progress_handler(None, 10)
            return steps, {row.station_tx_id for row in rows}
        counted = text("SELECT coalesce(idx_scan, 0) + coalesce(idx_tup_fetch, 0) + seq_tup_read"
                       " FROM pg_stat_xact_user_tables WHERE relname = 'transactions'")
        before = (await session.execute(counted)).scalar_one()
        rows = (await session.execute(statement, params)).all()
        after = (await session.execute(counted)).scalar_one()
        return int(after - before), {row.station_tx_id for row in rows}


async def per_message(sessions, kind: str, batch: range) -> tuple[float, set[str]]:
    dialect = sessions.kw["bind"].dialect.name
    named = [(station(n), f"active-{n}") for n in batch]
    if kind == "1.6":
        statement, params = _direct_transactions(dialect), _named_params(dialect, named, [s for s, _ in named])
    else:
        statement, params = _direct_updated(dialect), _named_params(dialect, named)
    work, found = await work_of(sessions, statement, params)
    return work / len(batch), found


@pytest.mark.parametrize("kind", ["1.6", "2.0.1"])
async def test_a_meter_batchs_read_of_its_sessions_costs_the_same_per_message_whatever_the_batch_and_network(
    sessions, kind
):
    # A small batch on a small network: stations without history, nothing active elsewhere.
    await add_network(sessions, range(10), history=0)
    small, found = await per_message(sessions, kind, range(10))
    assert found == {f"active-{n}" for n in range(10)}

    # Ten times the batch, each station with a long history, and a thousand sessions elsewhere.
    await add_network(sessions, range(10, BATCH), history=HISTORY)
    await add_network(sessions, range(BATCH, BATCH + ELSEWHERE), history=0)
    large, found = await per_message(sessions, kind, range(BATCH))
    assert found == {f"active-{n}" for n in range(BATCH)}  # the active ones, not their history

    # PostgreSQL may instead read the network's active sessions once, through the index on the
    # state, where its statistics say that is cheaper than a lookup per station (here: 1,100
    # rows against 100 lookups); a cost that grows with the network, not the batch times it.
    once = BATCH + ELSEWHERE if kind == "1.6" and sessions.kw["bind"].dialect.name == "postgresql" else 0
    assert large * BATCH <= 2 * small * BATCH + once, f"{large:.1f} against {small:.1f} a message"


async def test_a_1_6_batch_finds_a_named_ended_session_and_the_active_one_of_a_station_that_names_none(sessions):
    await add_network(sessions, range(3), history=2)
    dialect = sessions.kw["bind"].dialect.name
    # Station 0 names one of its ended sessions; station 1 names none (its active one is
    # wanted); station 2 names station 0's ended session, which is not its own.
    named = [(station(0), "old-0-1"), (station(2), "old-0-0")]
    _, found = await work_of(sessions, _direct_transactions(dialect),
                             _named_params(dialect, named, [station(0), station(1), station(2)]))
    assert found == {"old-0-1", "active-0", "active-1", "active-2"}
