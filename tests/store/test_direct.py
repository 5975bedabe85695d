"""The direct path (store/direct.py): a batch of bulk items written in one hand-over to the
driver, with what a session would have stored, and through a session whenever it cannot."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.util import greenlet_spawn

from silkcharge.domain.charging import ConnectorStatus, MeterSample, StatusReport
from silkcharge.domain.clock import utcnow
from silkcharge.services import writer as writer_module
from silkcharge.services.plausibility import Plausibility
from silkcharge.services.stations import _StatusBulk
from silkcharge.services.transactions import _Meter, _MeterValuesBulk
from silkcharge.services.writer import BatchWriter
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

    async with sessions() as session:
        tx = await session.get(Transaction, tx_id)
        samples = (await session.execute(
            select(MeterRow.timestamp, MeterRow.measurand, MeterRow.value, MeterRow.tenant_id, MeterRow.transaction_id)
            .where(MeterRow.station_id == "DIR-7").order_by(MeterRow.timestamp, MeterRow.measurand)
        )).all()
    assert (tx.meter_start_wh, tx.energy_wh) == (Decimal(1000), Decimal(2500))
    assert [(s.measurand, s.value) for s in samples] == [
        ("Energy.Active.Import.Register", Decimal(1000)), ("Power.Active.Import", Decimal("11000.5")),
        ("Energy.Active.Import.Register", Decimal(3500)), ("Power.Active.Import", Decimal("11000.5")),
    ]
    assert {s.transaction_id for s in samples} == {tx_id}
    assert samples[2].timestamp == start + timedelta(minutes=5)
    assert samples[2].tenant_id == samples[0].tenant_id, "the direct rows got the tenant the session gave"


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
