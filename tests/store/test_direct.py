"""The direct path (store/direct.py): a batch of bulk items written in one hand-over to the
driver, with what a session would have stored, and through a session whenever it cannot."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.dialects.postgresql.asyncpg import dialect as postgresql_dialect
from sqlalchemy.dialects.sqlite import dialect as sqlite_dialect
from sqlalchemy.util import greenlet_spawn

from silkcharge.bus.local import EventBus
from silkcharge.domain.charging import ConnectorStatus, MeterSample, StatusReport, TransactionUpdate
from silkcharge.domain.clock import utcnow
from silkcharge.services import writer as writer_module
from silkcharge.services.plausibility import Plausibility
from silkcharge.services.reservations import ReservationLedger
from silkcharge.services.stations import _StatusBulk
from silkcharge.services.transactions import TransactionService, _Meter, _MeterValuesBulk
from silkcharge.services.writer import BatchWriter
from silkcharge.store import direct as direct_module
from silkcharge.store.db import create_engine_for, dispose_engine, sessionmaker_for
from silkcharge.store.direct import Direct, NeedsSession, Prepared
from silkcharge.store.group_commit import GroupCommitter, StoreUnavailable
from silkcharge.store.schema import (
    Connector,
    Evse,
    IdToken,
    OcppMessage,
    PlausibilityFlag,
    Station,
    Tenant,
    Transaction,
)
from silkcharge.store.schema import MeterSample as MeterRow
from silkcharge.store.tenancy import forget_parent


@pytest.fixture
async def engine(database_url):
    engine = create_engine_for(database_url, 5)
    yield engine
    await dispose_engine(engine)


@pytest.fixture
async def sessions(engine):
    return sessionmaker_for(engine)


@pytest.fixture
async def committer(engine, sessions):
    running = GroupCommitter(sessions, direct=Direct(engine))
    running.start()
    yield running
    await running.stop()


async def add_station(sessions, station_id: str, connectors: int = 2) -> None:
    async with sessions.begin() as session:
        session.add(Station(id=station_id))
        await session.flush()
        for n in range(1, connectors + 1):
            session.add(Evse(station_id=station_id, evse_id=n))
            session.add(Connector(station_id=station_id, evse_id=n, connector_id=1, standard="CCS2",
                                  max_power_kw=50, status="Available"))


async def connector_rows(sessions, station_id: str) -> dict[int, tuple]:
    async with sessions() as session:
        rows = await session.execute(
            select(Connector.evse_id, Connector.status, Connector.error_code, Connector.status_at, Evse.status)
            .join(Evse, (Evse.station_id == Connector.station_id) & (Evse.evse_id == Connector.evse_id))
            .where(Connector.station_id == station_id)
        )
        return {row[0]: tuple(row[1:]) for row in rows}


def report(evse: int, status: ConnectorStatus, at, error: str = "NoError") -> StatusReport:
    return StatusReport(evse_id=evse, connector_id=1, status=status, protocol_status=status.value,
                        error_code=error, timestamp=at)


async def test_status_reports_of_one_batch_are_written_directly_as_a_session_would_write_them(
    committer, sessions
):
    await add_station(sessions, "DIR-1")
    await add_station(sessions, "DIR-2")
    bulk = _StatusBulk()
    at = utcnow().replace(microsecond=123000)
    await asyncio.gather(
        committer.run_bulk(bulk, "DIR-1", ("DIR-1", report(1, ConnectorStatus.CHARGING, at))),
        committer.run_bulk(bulk, "DIR-1", ("DIR-1", report(2, ConnectorStatus.FAULTED, at, "GroundFailure"))),
        committer.run_bulk(bulk, "DIR-2", ("DIR-2", report(1, ConnectorStatus.OCCUPIED, at))),
    )
    assert committer.direct_batches == committer.batches >= 1
    assert await connector_rows(sessions, "DIR-1") == {
        1: ("Charging", "NoError", at, "Charging"),
        2: ("Faulted", "GroundFailure", at, "Faulted"),
    }
    assert (await connector_rows(sessions, "DIR-2"))[1] == ("Occupied", "NoError", at, "Occupied")

    # A report older than the stored one changes nothing, as through a session.
    await committer.run_bulk(bulk, "DIR-2", ("DIR-2", report(1, ConnectorStatus.AVAILABLE, at - timedelta(seconds=5))))
    assert (await connector_rows(sessions, "DIR-2"))[1] == ("Occupied", "NoError", at, "Occupied")


async def test_a_connector_nobody_registered_sends_the_batch_through_a_session_which_creates_it(
    committer, sessions
):
    await add_station(sessions, "DIR-3", connectors=1)
    bulk = _StatusBulk()
    at = utcnow()
    await asyncio.gather(
        committer.run_bulk(bulk, "DIR-3", ("DIR-3", report(1, ConnectorStatus.AVAILABLE, at))),
        committer.run_bulk(bulk, "DIR-3", ("DIR-3", report(2, ConnectorStatus.CHARGING, at))),
    )
    rows = await connector_rows(sessions, "DIR-3")
    assert rows[1][0] == "Available" and rows[2][0] == "Charging"
    assert committer.direct_batches < committer.batches, "the batch with connector 2 went through a session"


class RefusingBulk:
    """Writes directly, then finds it cannot go on: what it wrote must not stay."""

    def __init__(self) -> None:
        self.through_session: list[str] = []
        self._mark = update(Connector.__table__).values(status="Faulted")

    async def apply(self, session, items: list[str]) -> list[str]:
        self.through_session.extend(items)
        return [f"session {item}" for item in items]

    async def apply_direct(self, db, items: list[str]) -> list[str]:
        await db.execute_many(self._mark, [{}])
        raise NeedsSession("not this one")


async def test_a_direct_batch_given_up_midway_leaves_nothing_and_is_written_through_a_session(
    committer, sessions
):
    await add_station(sessions, "DIR-4", connectors=1)
    bulk = RefusingBulk()
    assert await committer.run_bulk(bulk, "DIR-4", "R1") == "session R1"
    assert bulk.through_session == ["R1"]
    assert (await connector_rows(sessions, "DIR-4"))[1][0] == "Available", "the direct write was rolled back"
    assert committer.direct_batches == 0


class TenantRowBulk:
    """Inserts a row whose tenant only a session's context can give (the tenancy default reads
    it): the direct path cannot compute it."""

    async def apply(self, session, items: list[str]) -> list[str]:
        session.add_all(IdToken(token=item, status="Accepted") for item in items)
        await session.flush()
        return items

    async def apply_direct(self, db, items: list[str]) -> list[str]:
        await db.execute_many(IdToken.__table__.insert(), [{"token": item, "status": "Accepted"} for item in items])
        return items


async def test_a_statement_the_direct_path_cannot_complete_is_reported_and_written_through_a_session(
    committer, sessions, caplog
):
    with caplog.at_level(logging.ERROR, logger="silkcharge.store.group_commit"):
        assert await committer.run_bulk(TenantRowBulk(), "token", "RFID-77") == "RFID-77"
    async with sessions() as session:
        assert await session.scalar(select(IdToken.token).where(IdToken.token == "RFID-77")) == "RFID-77"
    assert committer.direct_batches == 0
    assert "a direct batch of 1 failed" in caplog.text, "a bug of the direct path does not pass unseen"


@pytest.mark.parametrize("dialect", [sqlite_dialect(), postgresql_dialect()], ids=["sqlite", "postgresql"])
def test_a_prepared_statements_arguments_are_its_parameters_in_order_each_converted_by_its_type(dialect):
    at = datetime(2026, 12, 5, 9, 1, 2, tzinfo=timezone.utc)
    frame = {"station_id": "S-1", "direction": "in", "message_type": 2, "message_id": "m1", "action": None,
             "payload": "[]", "error_code": None, "at": at, "tenant_id": 1}
    log = Prepared(writer_module._LOG, dialect, tuple(frame))
    stored_at = "2026-12-05 09:01:02.000000" if dialect.name == "sqlite" else at
    assert log.arguments(frame) == ("S-1", "in", 2, "m1", None, "[]", None, stored_at, 1)
    one = Prepared(select(Station.id).where(Station.id == bindparam("sid")), dialect, ("sid",))
    assert one.arguments({"sid": "S-1"}) == ("S-1",)
    assert Prepared(select(func.count(Station.id)), dialect).arguments({}) == ()
    with pytest.raises(KeyError):
        one.arguments({})


async def test_a_direct_statement_sets_the_columns_python_side_defaults_as_a_session_would(engine, sessions):
    await add_station(sessions, "DIR-5", connectors=1)
    async with sessions() as session:
        before = await session.scalar(select(Connector.updated_at).where(Connector.station_id == "DIR-5"))
    fault = update(Connector.__table__).where(Connector.__table__.c.station_id == "DIR-5").values(status="Faulted")
    assert "updated_at" in Prepared(fault, engine.dialect).sql, "its onupdate default is written"
    await Direct(engine).run(lambda db: db.execute_many(fault, [{}]))
    async with sessions() as session:
        status, after = (await session.execute(
            select(Connector.status, Connector.updated_at).where(Connector.station_id == "DIR-5"))).one()
    assert status == "Faulted"
    assert after > before and after.tzinfo is not None


# On PostgreSQL the work is awaited on the event loop, where it may await anything.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_on_sqlite_a_direct_write_that_awaits_anything_else_is_refused_and_rolled_back(engine, sessions):
    await add_station(sessions, "DIR-6", connectors=1)
    fault = update(Connector.__table__).where(Connector.__table__.c.station_id == "DIR-6").values(status="Faulted")

    async def suspends(db):
        await db.execute_many(fault, [{}])
        await asyncio.sleep(0)

    with pytest.raises(RuntimeError, match="awaited something other than its connection"):
        await Direct(engine).run(suspends)
    assert (await connector_rows(sessions, "DIR-6"))[1][0] == "Available"


async def start_transaction(sessions, station_id: str, station_tx_id: str, at) -> int:
    async with sessions.begin() as session:
        tx = Transaction(station_id=station_id, station_tx_id=station_tx_id, evse_id=1, connector_id=1,
                         started_at=at, state="Active")
        session.add(tx)
        await session.flush()
        return tx.id


def register(at, wh: int) -> tuple[MeterSample, ...]:
    return (
        MeterSample(at, "Energy.Active.Import.Register", Decimal(wh), "Wh"),
        MeterSample(at, "Power.Active.Import", Decimal("11000.5"), "W"),
    )


async def session_and_samples(sessions, tx_id: int, station_id: str) -> tuple[Transaction, list]:
    """The stored session, and the station's stored samples in the order they were taken."""
    async with sessions() as session:
        tx = await session.get(Transaction, tx_id)
        samples = (await session.execute(
            select(MeterRow.timestamp, MeterRow.measurand, MeterRow.value, MeterRow.tenant_id,
                   MeterRow.transaction_id, MeterRow.evse_id)
            .where(MeterRow.station_id == station_id).order_by(MeterRow.timestamp, MeterRow.measurand)
        )).all()
    return tx, samples


async def test_meter_values_of_a_known_stations_session_are_written_directly_with_its_energy(
    committer, sessions
):
    await add_station(sessions, "DIR-7", connectors=1)
    start = utcnow() - timedelta(minutes=10)
    tx_id = await start_transaction(sessions, "DIR-7", "T-7", start)
    bulk = _MeterValuesBulk(Plausibility(sessions))

    # Where the station's tenant is not known without a statement, a batch goes through a
    # session, which looks it up; from then on its meter values are written directly.
    forget_parent("stations", "DIR-7")
    await committer.run_bulk(bulk, "DIR-7", _Meter("DIR-7", 1, "T-7", register(start + timedelta(minutes=1), 1000)))
    assert committer.direct_batches == 0
    await committer.run_bulk(bulk, "DIR-7", _Meter("DIR-7", 1, None, register(start + timedelta(minutes=5), 3500)))
    assert committer.direct_batches == 1

    tx, samples = await session_and_samples(sessions, tx_id, "DIR-7")
    assert (tx.meter_start_wh, tx.energy_wh) == (Decimal(1000), Decimal(2500))
    assert [(s.measurand, s.value) for s in samples] == [
        ("Energy.Active.Import.Register", Decimal(1000)), ("Power.Active.Import", Decimal("11000.5")),
        ("Energy.Active.Import.Register", Decimal(3500)), ("Power.Active.Import", Decimal("11000.5")),
    ]
    assert {s.transaction_id for s in samples} == {tx_id}
    assert samples[2].timestamp == start + timedelta(minutes=5)
    assert samples[2].tenant_id == samples[0].tenant_id, "the direct rows got the tenant the session gave"


async def test_meter_values_outside_a_session_and_a_replayed_message_are_stored_once_directly(committer, sessions):
    await add_station(sessions, "DIR-18", connectors=2)
    start = utcnow().replace(microsecond=0) - timedelta(minutes=10)
    await start_transaction(sessions, "DIR-18", "T-18", start)  # on EVSE 1
    bulk = _MeterValuesBulk(Plausibility(sessions))
    idle = _Meter("DIR-18", 2, None, register(start + timedelta(minutes=1), 500))  # EVSE 2: no session
    charging = _Meter("DIR-18", 1, None, register(start + timedelta(minutes=1), 700))
    for message in (idle, charging, idle):
        await committer.run_bulk(bulk, "DIR-18", message)
    assert committer.direct_batches == committer.batches == 3
    _, samples = await session_and_samples(sessions, 0, "DIR-18")
    assert sorted((s.evse_id, s.transaction_id is None, s.value) for s in samples) == [
        (1, False, Decimal(700)), (1, False, Decimal("11000.5")),  # the session's, on EVSE 1
        (2, True, Decimal(500)), (2, True, Decimal("11000.5")),  # EVSE 2's, once though sent twice
    ]


async def test_meter_values_with_a_finding_to_record_go_through_a_session_which_records_it(committer, sessions):
    await add_station(sessions, "DIR-8", connectors=1)  # connectors of 50 kW
    start = utcnow() - timedelta(minutes=10)
    tx_id = await start_transaction(sessions, "DIR-8", "T-8", start)
    bulk = _MeterValuesBulk(Plausibility(sessions))
    await committer.run_bulk(bulk, "DIR-8", _Meter("DIR-8", 1, "T-8", register(start + timedelta(minutes=1), 1000)))
    assert committer.direct_batches == 1
    # 900 kWh in four minutes on a 50 kW connector: beyond what it can deliver.
    await committer.run_bulk(bulk, "DIR-8", _Meter("DIR-8", 1, "T-8", register(start + timedelta(minutes=5), 901_000)))
    assert committer.direct_batches == 1, "the batch with a finding went through a session"
    async with sessions() as session:
        flags = (await session.scalars(select(PlausibilityFlag.rule).where(PlausibilityFlag.transaction_id == tx_id))).all()
    assert flags, "the implausible energy was recorded"


async def test_a_connection_given_back_after_a_direct_write_holds_no_transaction(engine, sessions):
    await add_station(sessions, "DIR-9", connectors=1)
    fault = update(Connector.__table__).where(Connector.__table__.c.station_id == "DIR-9").values(status="Faulted")
    await Direct(engine).run(lambda db: db.execute_many(fault, [{}]))
    pooled = await engine.raw_connection()
    try:
        if engine.dialect.name == "sqlite":
            assert not pooled.driver_connection._conn.in_transaction
        else:
            assert not pooled.driver_connection.is_in_transaction()
    finally:
        await greenlet_spawn(pooled.close)
    # And a write through a session right after it is not held up by a lock left behind.
    async with sessions.begin() as session:
        await session.execute(update(Connector).where(Connector.station_id == "DIR-9").values(status="Available"))
    assert (await connector_rows(sessions, "DIR-9"))[1][0] == "Available"


# Nothing listens on port 1; SQLite cannot open a directory as its database file.
@pytest.mark.parametrize("url", ["postgresql+asyncpg://postgres@127.0.0.1:1/none", "sqlite+aiosqlite:////tmp"])
async def test_an_unreachable_database_is_unavailable_on_the_direct_path_too_and_no_bug_is_reported(url, caplog):
    engine = create_engine_for(url, 1)
    committer = GroupCommitter(sessionmaker_for(engine), direct=Direct(engine))
    committer.start()
    try:
        with caplog.at_level(logging.ERROR, logger="silkcharge.store.group_commit"):
            with pytest.raises(StoreUnavailable):
                await committer.run_bulk(_StatusBulk(), "DIR-X", ("DIR-X", report(1, ConnectorStatus.FAULTED, utcnow())))
    finally:
        await committer.stop()
        await dispose_engine(engine)
    assert "direct batch" not in caplog.text


# On SQLite a direct write never suspends, so it cannot be cancelled midway.
@pytest.mark.parametrize("database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
async def test_a_direct_write_cancelled_midway_on_postgresql_leaves_nothing_and_no_open_transaction(engine, sessions):
    await add_station(sessions, "DIR-10", connectors=1)
    fault = update(Connector.__table__).where(Connector.__table__.c.station_id == "DIR-10").values(status="Faulted")
    written, never = asyncio.Event(), asyncio.Event()

    async def stalls(db):
        await db.execute_many(fault, [{}])
        # A read after a write sends the write, in the transaction the read then runs in.
        assert await db.fetch(status_of("DIR-10"), {}) == [("Faulted",)]
        written.set()
        await never.wait()

    task = asyncio.create_task(Direct(engine).run(stalls))
    await written.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert (await connector_rows(sessions, "DIR-10"))[1][0] == "Available", "the cancelled write was rolled back"
    # Every pooled connection is usable and none holds the cancelled transaction.
    await Direct(engine).run(lambda db: db.execute_many(fault, [{}]))
    assert (await connector_rows(sessions, "DIR-10"))[1][0] == "Faulted"


# -- PostgreSQL: round-trips (a transaction only where the work needs one) -----------------------

on_postgresql = pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)


def status_of(station_id: str):
    return select(Connector.__table__.c.status).where(Connector.__table__.c.station_id == station_id)


@pytest.fixture
async def one_connection(database_url):
    """An engine whose pool holds one connection, and the statements that connection sends
    (asyncpg's query logger; BEGIN and COMMIT are statements too)."""
    engine = create_engine_for(database_url, 1)
    pooled = await engine.raw_connection()
    sent: list[str] = []
    pooled.driver_connection.add_query_logger(lambda query: sent.append(query.query.split()[0]))
    await greenlet_spawn(pooled.close)
    yield engine, sent
    await dispose_engine(engine)


async def statements_sent(sent: list[str]) -> list[str]:
    """What was sent since the last call (asyncpg calls its loggers at the loop's next turn)."""
    await asyncio.sleep(0)
    done = list(sent)
    sent.clear()
    return done


@on_postgresql
async def test_on_postgresql_a_status_batch_is_one_statement_that_commits_itself(one_connection):
    engine, sent = one_connection
    sessions = sessionmaker_for(engine)
    await add_station(sessions, "DIR-11")
    await add_station(sessions, "DIR-12")
    committer = GroupCommitter(sessions, direct=Direct(engine))
    committer.start()
    try:
        at, bulk = utcnow().replace(microsecond=0), _StatusBulk()
        # The first batch on a connection also has asyncpg look up the types it binds.
        await committer.run_bulk(bulk, "DIR-12", ("DIR-12", report(2, ConnectorStatus.UNAVAILABLE, at)))
        await statements_sent(sent)
        await asyncio.gather(
            committer.run_bulk(bulk, "DIR-11", ("DIR-11", report(1, ConnectorStatus.CHARGING, at))),
            committer.run_bulk(bulk, "DIR-11", ("DIR-11", report(2, ConnectorStatus.FAULTED, at, "GroundFailure"))),
            committer.run_bulk(bulk, "DIR-12", ("DIR-12", report(1, ConnectorStatus.OCCUPIED, at))),
        )
        # Every connector and its EVSE in one statement, with no read before it. (DIR-11's second
        # report waits for its first to be applied, so the batch applies twice: two statements,
        # in one transaction.)
        assert await statements_sent(sent) == ["BEGIN;", "WITH", "WITH", "COMMIT;"]
        assert committer.direct_batches == committer.batches == 2
        await committer.run_bulk(bulk, "DIR-12", ("DIR-12", report(2, ConnectorStatus.AVAILABLE, at)))
        assert await statements_sent(sent) == ["WITH"], "one round-trip, committed by itself"
    finally:
        await committer.stop()
    assert await connector_rows(sessions, "DIR-11") == {
        1: ("Charging", "NoError", at, "Charging"),
        2: ("Faulted", "GroundFailure", at, "Faulted"),
    }
    assert await connector_rows(sessions, "DIR-12") == {
        1: ("Occupied", "NoError", at, "Occupied"),
        2: ("Available", "NoError", at, "Available"),
    }


@on_postgresql
async def test_on_postgresql_a_status_batch_naming_a_connector_nobody_registered_writes_nothing_directly(
    engine, sessions
):
    await add_station(sessions, "DIR-31", connectors=1)
    await add_station(sessions, "DIR-32", connectors=1)
    at, bulk = utcnow().replace(microsecond=0), _StatusBulk()
    batch = [("DIR-31", report(1, ConnectorStatus.CHARGING, at)), ("DIR-32", report(2, ConnectorStatus.FAULTED, at))]
    with pytest.raises(NeedsSession):
        await Direct(engine).run(lambda db: bulk.apply_direct(db, batch))
    assert (await connector_rows(sessions, "DIR-31"))[1][0] == "Available", "the registered one was not written either"
    assert 2 not in await connector_rows(sessions, "DIR-32")


@on_postgresql
async def test_on_postgresql_a_read_after_a_write_sees_it_and_both_share_one_committed_transaction(one_connection):
    engine, sent = one_connection
    sessions = sessionmaker_for(engine)
    await add_station(sessions, "DIR-15", connectors=1)
    fault = update(Connector.__table__).where(Connector.__table__.c.station_id == "DIR-15").values(status="Faulted")

    async def write_then_read(db):
        await db.execute_many(fault, [{}])
        return await db.fetch(status_of("DIR-15"), {})

    await statements_sent(sent)
    assert await Direct(engine).run(write_then_read) == [("Faulted",)]
    assert await statements_sent(sent) == ["BEGIN;", "UPDATE", "SELECT", "COMMIT;"]
    assert (await connector_rows(sessions, "DIR-15"))[1][0] == "Faulted"


def move_connectors(station_id: str):
    """Moves the station's connector on EVSE `b_from` to EVSE `b_to`: a unique violation if
    that EVSE has a connector 1 already."""
    c = Connector.__table__.c
    return (update(Connector.__table__)
            .where(c.station_id == station_id, c.evse_id == bindparam("b_from"))
            .values(evse_id=bindparam("b_to")))


@on_postgresql
async def test_on_postgresql_a_second_write_that_fails_leaves_the_first_unwritten(engine, sessions):
    await add_station(sessions, "DIR-13", connectors=2)
    fault = update(Connector.__table__).where(Connector.__table__.c.station_id == "DIR-13").values(status="Faulted")

    async def two_writes(db):
        await db.execute_many(fault, [{}])
        await db.execute_many(move_connectors("DIR-13"), [{"b_from": 1, "b_to": 2}])

    with pytest.raises(Exception, match="unique|duplicate"):
        await Direct(engine).run(two_writes)
    assert await connector_rows(sessions, "DIR-13") == {
        1: ("Available", None, None, None), 2: ("Available", None, None, None)}
    await Direct(engine).run(lambda db: db.execute_many(fault, [{}]))  # and the pool's connections are usable
    assert (await connector_rows(sessions, "DIR-13"))[1][0] == "Faulted"


@on_postgresql
async def test_on_postgresql_one_write_sent_alone_is_all_or_nothing_across_its_rows(engine, sessions):
    await add_station(sessions, "DIR-14", connectors=2)
    # The first row moves EVSE 2's connector to EVSE 3; the second would put EVSE 1's there too.
    rows = [{"b_from": 2, "b_to": 3}, {"b_from": 1, "b_to": 3}]
    with pytest.raises(Exception, match="unique|duplicate"):
        await Direct(engine).run(lambda db: db.execute_many(move_connectors("DIR-14"), rows))
    async with sessions() as session:
        on = set(await session.scalars(select(Connector.evse_id).where(Connector.station_id == "DIR-14")))
    assert on == {1, 2}, "the first row's move was undone with the second's failure"


async def test_updated_events_of_a_known_session_are_written_directly_with_their_samples_and_changes(
    committer, sessions
):
    await add_station(sessions, "DIR-16", connectors=1)
    start = utcnow().replace(microsecond=0) - timedelta(minutes=10)
    tx_id = await start_transaction(sessions, "DIR-16", "T-16", start)
    service = TransactionService(sessions, EventBus(), ReservationLedger(sessions), committer)
    first = TransactionUpdate("T-16", start + timedelta(minutes=1), charging_state="Charging", seq_no=1,
                              samples=register(start + timedelta(minutes=1), 1000))
    second = TransactionUpdate("T-16", start + timedelta(minutes=3), seq_no=3,
                               samples=register(start + timedelta(minutes=3), 2200))
    assert (await service.update("DIR-16", first)).id == tx_id
    await service.update("DIR-16", second)
    await service.update("DIR-16", second)  # replayed: its samples are not stored twice
    assert committer.direct_batches == committer.batches == 3

    tx, samples = await session_and_samples(sessions, tx_id, "DIR-16")
    assert (tx.meter_start_wh, tx.energy_wh, tx.last_seq_no, tx.missing_seq_nos, tx.charging_state) == (
        Decimal(1000), Decimal(1200), 3, [0, 2], "Charging")  # no Started (seqNo 0) was stored here
    assert tx.priced_readings == 4, "each stored register and power reading counted, the replay's not"
    assert [(s.timestamp, s.measurand, s.value) for s in samples] == [
        (start + timedelta(minutes=1), "Energy.Active.Import.Register", Decimal(1000)),
        (start + timedelta(minutes=1), "Power.Active.Import", Decimal("11000.5")),
        (start + timedelta(minutes=3), "Energy.Active.Import.Register", Decimal(2200)),
        (start + timedelta(minutes=3), "Power.Active.Import", Decimal("11000.5")),
    ]
    assert {(s.transaction_id, s.evse_id) for s in samples} == {(tx_id, 1)}
    assert (await connector_rows(sessions, "DIR-16"))[1][0] == "Charging"


@on_postgresql
async def test_on_postgresql_a_meter_message_is_its_read_then_one_statement_for_samples_and_session(
    one_connection
):
    engine, sent = one_connection
    sessions = sessionmaker_for(engine)
    await add_station(sessions, "DIR-17", connectors=1)
    start = utcnow().replace(microsecond=0) - timedelta(minutes=10)
    tx_id = await start_transaction(sessions, "DIR-17", "T-17", start)
    committer = GroupCommitter(sessions, direct=Direct(engine))
    committer.start()
    try:
        service = TransactionService(sessions, EventBus(), ReservationLedger(sessions), committer)
        await service.update("DIR-17", TransactionUpdate(
            "T-17", start + timedelta(minutes=1), charging_state="Charging", samples=register(start, 1000)))
        await statements_sent(sent)
        await service.update("DIR-17", TransactionUpdate(
            "T-17", start + timedelta(minutes=2), samples=register(start + timedelta(minutes=2), 1500)))
        # The session with its connectors, then its samples and its changes in one statement
        # that commits itself. (The first update also marked the connector Charging: two writes,
        # so BEGIN and COMMIT around them.)
        assert await statements_sent(sent) == ["SELECT", "WITH"]
        # An update with no samples (the car paused) is one statement as well.
        await service.update("DIR-17", TransactionUpdate(
            "T-17", start + timedelta(minutes=2, seconds=30), charging_state="SuspendedEV"))
        assert await statements_sent(sent) == ["SELECT", "WITH"]
        # And 1.6 MeterValues the same way.
        meter = _Meter("DIR-17", 1, "T-17", register(start + timedelta(minutes=3), 1800))
        await committer.run_bulk(_MeterValuesBulk(Plausibility(sessions)), "DIR-17", meter)
        assert await statements_sent(sent) == ["SELECT", "WITH"]
        assert committer.direct_batches == committer.batches == 4
    finally:
        await committer.stop()
    async with sessions() as session:
        tx = await session.get(Transaction, tx_id)
        stored = await session.scalar(select(func.count()).select_from(MeterRow).where(MeterRow.transaction_id == tx_id))
    assert (tx.energy_wh, tx.charging_state, stored) == (Decimal(800), "SuspendedEV", 6)
    assert tx.priced_readings == 6, "the statement's readings counted once its session's update was in"


@on_postgresql
@pytest.mark.parametrize(("arrays_from", "mixed"), [
    (1, ["SELECT", "WITH"]),  # every batch as arrays: one statement whatever it holds
    (100, ["SELECT", "BEGIN;", "WITH", "INSERT", "COMMIT;"]),  # a statement per message, by kind
])
async def test_on_postgresql_a_batch_of_meter_messages_from_several_stations_is_one_write(
    one_connection, monkeypatch, arrays_from, mixed
):
    monkeypatch.setattr(direct_module, "ARRAYS_FROM", arrays_from)
    engine, sent = one_connection
    sessions = sessionmaker_for(engine)
    start = utcnow().replace(microsecond=0) - timedelta(minutes=10)
    stations = ["DIR-21", "DIR-22", "DIR-23"]
    ids = {}
    for station in stations:
        await add_station(sessions, station, connectors=1)
        ids[station] = await start_transaction(sessions, station, "T-1", start)
    committer = GroupCommitter(sessions, direct=Direct(engine))
    committer.start()
    try:
        service = TransactionService(sessions, EventBus(), ReservationLedger(sessions), committer)
        for n, station in enumerate(stations):  # each session charging, its register read once
            await service.update(station, TransactionUpdate(
                "T-1", start + timedelta(minutes=1), charging_state="Charging", seq_no=1,
                samples=register(start + timedelta(minutes=1), 1000 * (n + 1))))
        await statements_sent(sent)
        at = start + timedelta(minutes=4)
        await asyncio.gather(*(
            service.update(station, TransactionUpdate(
                "T-1", at, seq_no=seq, samples=register(at, 1000 * (n + 1) + 400)))
            for n, (station, seq) in enumerate(zip(stations, (2, 3, 2)))  # DIR-22 skipped its seqNo 2
        ))
        assert committer.batches == 4, "the three updates were one batch"
        # The sessions with their connectors, then every sample and every session's changes in
        # one write that commits itself.
        assert await statements_sent(sent) == ["SELECT", "WITH"]
        # 1.6 MeterValues too, a session whose energy did not move among them: a message that
        # changes nothing on its session is a statement of another kind.
        bulk = _MeterValuesBulk(Plausibility(sessions))
        later = at + timedelta(minutes=1)
        await asyncio.gather(*(
            committer.run_bulk(bulk, station, _Meter(station, 1, None, register(later, 1000 * (n + 1) + wh)))
            for n, (station, wh) in enumerate(zip(stations, (900, 400, 700)))
        ))
        assert await statements_sent(sent) == mixed
        assert committer.direct_batches == committer.batches == 5
    finally:
        await committer.stop()
    stored = {}
    for n, station in enumerate(stations):
        tx, samples = await session_and_samples(sessions, ids[station], station)
        stored[station] = (tx.energy_wh, tx.last_seq_no, tx.missing_seq_nos, tx.charging_state, tx.priced_readings,
                           [s.value for s in samples if s.measurand == "Energy.Active.Import.Register"])
        assert {s.transaction_id for s in samples} == {ids[station]}
    assert stored == {
        "DIR-21": (Decimal(900), 2, [0], "Charging", 6, [1000, 1400, 1900]),
        "DIR-22": (Decimal(400), 3, [0, 2], "Charging", 6, [2000, 2400, 2400]),
        "DIR-23": (Decimal(700), 2, [0], "Charging", 6, [3000, 3400, 3700]),
    }


# -- the message log (services/writer.py) ---------------------------------------------------------


async def logged_frames(sessions) -> list[tuple]:
    async with sessions() as session:
        rows = await session.execute(
            select(OcppMessage.station_id, OcppMessage.tenant_id, OcppMessage.direction, OcppMessage.message_type,
                   OcppMessage.message_id, OcppMessage.action, OcppMessage.payload, OcppMessage.error_code,
                   OcppMessage.at).order_by(OcppMessage.id)
        )
        return [tuple(row) for row in rows]


def log_frames(writer: BatchWriter, at) -> None:
    writer.log_message("LOG-1", "in", 2, "m1", "Heartbeat", "[2,\"m1\",\"Heartbeat\",{}]", at)
    writer.log_message("LOG-2", "out", 4, "m2", "Authorize", "[4,\"m2\",\"FormationViolation\",\"\",{}]", at,
                       error_code="FormationViolation")
    writer.log_message("NOBODY", "in", 2, "m3", None, "[2,\"m3\",\"BootNotification\",{}]", at)
    writer.seen("LOG-1", at)


async def test_the_message_log_flushed_directly_stores_what_a_session_stores_tenants_included(engine, sessions):
    async with sessions.begin() as session:
        session.add(Tenant(id=2, code="other", name="Another network"))
        await session.flush()
        session.add(Station(id="LOG-1"))
        session.add(Station(id="LOG-2", tenant_id=2))
    at = utcnow().replace(microsecond=250000)
    through_a_session = BatchWriter(sessions)
    log_frames(through_a_session, at)
    await through_a_session.flush()
    expected = await logged_frames(sessions)
    async with sessions.begin() as session:
        await session.execute(delete(OcppMessage))
        await session.execute(update(Station).values(last_seen_at=None))
    # Tenants not looked up before: the direct flush reads them itself.
    forget_parent("stations", "LOG-1")
    forget_parent("stations", "LOG-2")

    directly = BatchWriter(sessions, direct=Direct(engine))
    log_frames(directly, at)
    await directly.flush()
    assert directly.direct_flushes == 1
    assert await logged_frames(sessions) == expected
    assert [row[1] for row in expected] == [1, 2, 1], "a frame of a station not stored goes to the first tenant"
    async with sessions() as session:
        assert (await session.get(Station, "LOG-1")).last_seen_at == at


async def direct_writer_of_chunks(engine, sessions, monkeypatch, chunk: int) -> BatchWriter:
    """A message log writing straight to the driver, `chunk` frames a transaction, for station LOG-1."""
    monkeypatch.setattr(writer_module, "CHUNK", chunk)
    async with sessions.begin() as session:
        session.add(Station(id="LOG-1"))
    return BatchWriter(sessions, direct=Direct(engine))


async def test_a_large_message_log_flush_is_written_in_chunks_keeping_every_frame_in_order(
    engine, sessions, monkeypatch
):
    writer = await direct_writer_of_chunks(engine, sessions, monkeypatch, 40)
    at = utcnow()
    for n in range(100):
        writer.log_message("LOG-1", "in", 2, f"m{n}", "Heartbeat", "[]", at)
    # A station's status committed while the flush is under way is written too.
    committer = GroupCommitter(sessions, direct=Direct(engine))
    committer.start()
    await add_station(sessions, "DIR-11", connectors=1)
    try:
        await asyncio.gather(
            writer.flush(),
            committer.run_bulk(_StatusBulk(), "DIR-11", ("DIR-11", report(1, ConnectorStatus.FAULTED, at))),
        )
    finally:
        await committer.stop()
    assert writer.direct_flushes == 3
    assert [row[4] for row in await logged_frames(sessions)] == [f"m{n}" for n in range(100)]
    assert (await connector_rows(sessions, "DIR-11"))[1][0] == "Faulted"


async def test_a_message_log_flush_that_fails_midway_keeps_only_the_frames_not_written_for_the_next(
    engine, sessions, monkeypatch
):
    writer = await direct_writer_of_chunks(engine, sessions, monkeypatch, 2)
    at = utcnow()
    writer.log_message("LOG-1", "in", 2, "m1", "Heartbeat", "[]", at)
    writer.log_message("LOG-1", "out", 3, "m1", "Heartbeat", "[]", at)
    writer.log_message("LOG-1", "in", 2, "m2", "Heartbeat", None, at)  # no payload: the database refuses it
    writer.log_message("LOG-1", "out", 3, "m2", "Heartbeat", "[]", at)
    with pytest.raises(Exception):
        await writer.flush()
    assert writer.direct_flushes == 1
    assert [(row[2], row[4]) for row in await logged_frames(sessions)] == [("in", "m1"), ("out", "m1")]
    # The first chunk is not written twice: what waits for the next flush is what was not written.
    assert [(m["direction"], m["message_id"]) for m in writer._messages] == [("in", "m2"), ("out", "m2")]


# Nothing listens on port 1; SQLite cannot open a directory as its database file.
@pytest.mark.parametrize("url", ["postgresql+asyncpg://postgres@127.0.0.1:1/none", "sqlite+aiosqlite:////tmp"])
async def test_last_seen_times_a_flush_could_not_write_wait_for_the_next_flush(url):
    engine = create_engine_for(url, 1)
    writer = BatchWriter(sessionmaker_for(engine), direct=Direct(engine))
    at = utcnow()
    writer.seen("LOG-9", at)
    try:
        with pytest.raises(Exception):
            await writer.flush()
    finally:
        await dispose_engine(engine)
    assert writer._seen == {"LOG-9": at}, "nothing was written, so the time waits for the next flush"
