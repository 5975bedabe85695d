"""Analytics roll-ups answer as the raw rows do: per-day totals kept in the store, plus raw rows
for the partial days, give the same sessions, energy, revenue, utilisation, uptime, faults and
failed starts as the raw rows of the whole range, on both databases; and changes made after a
day was rolled up (a stop reported late, a CDR made the next day) are counted at once."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import func, select, update

from silkcharge.planning import analytics as ops
from silkcharge.planning import rollups
from silkcharge.planning.rollups import RollupJob, load_range
from silkcharge.planning.store import load_operations
from silkcharge.store.db import create_engine_for, sessionmaker_for
from silkcharge.store.schema import (
    AnalyticsDay,
    AnalyticsStationDay,
    ChargeDetailRecord,
    Connector,
    OcppMessage,
    Operator,
    Site,
    Station,
    Transaction,
)
from silkcharge.store.workers import Workers

DAY0 = datetime(2026, 10, 1, tzinfo=timezone.utc)
DAYS = 12
NOW = DAY0 + timedelta(days=DAYS, hours=9, minutes=17)  # the 13th day is under way
GRACE = 60
OPTIONS = {"default_heartbeat": 300, "grace_seconds": GRACE}
STATIONS = {  # id: (site, time zone, heartbeat interval, connectors)
    "ALA-1": ("ALA", "Asia/Almaty", 300, 2),
    "ALA-2": ("ALA", "Asia/Almaty", 600, 1),
    "KTM-1": ("KTM", "Asia/Kathmandu", 300, 2),  # UTC+5:45: hour buckets cut across UTC hours
}


def history(seed: int = 14) -> tuple[list[dict], list[dict], list[dict]]:
    """A reproducible fortnight: heartbeats with gaps (a station off for hours, across midnight),
    status reports (one connector faulted for days, the whole station faulted across midnight,
    a 2.0.1 report, a malformed one), refused authorisations, sessions (across midnight, short
    ones, refused tokens, one still running, one in 1.6 starting before the history) and CDRs in
    two currencies."""
    rng = random.Random(seed)
    frames, txs, cdrs = [], [], []

    def frame(sid, at, action, payload, direction="in", kind=2):
        body = [kind, "m", action, payload] if kind == 2 else [kind, "m", payload]
        frames.append({"station_id": sid, "direction": direction, "message_type": kind,
                       "message_id": "m", "action": action, "payload": json.dumps(body), "at": at})

    for sid, (_, _, beat, connectors) in STATIONS.items():
        t = DAY0 - timedelta(hours=3)
        while t < NOW:
            outage = DAY0 + timedelta(days=3, hours=20) <= t < DAY0 + timedelta(days=4, hours=5)
            if not (sid == "ALA-2" and outage):
                frame(sid, t, "Heartbeat", {})
            t += timedelta(seconds=beat * rng.uniform(0.5, 1.4))
        for n in range(40):
            at = DAY0 + timedelta(minutes=rng.randrange(0, int((NOW - DAY0).total_seconds() // 60)))
            connector = rng.randrange(0, connectors + 1)
            frame(sid, at, "StatusNotification", {"connectorId": connector, "errorCode": "NoError",
                                                   "status": rng.choice(["Available", "Faulted", "Charging"])})
        for n in range(15):
            at = DAY0 + timedelta(minutes=rng.randrange(0, DAYS * 1440))
            status = rng.choice(["Invalid", "Accepted", "Blocked"])
            frame(sid, at, "Authorize", {"idTagInfo": {"status": status}}, "out", 3)
    frame("ALA-1", DAY0 - timedelta(days=2), "StatusNotification",  # before the history: carried
          {"connectorId": 2, "errorCode": "GroundFailure", "status": "Faulted"})
    frame("KTM-1", DAY0 + timedelta(days=5, hours=23), "StatusNotification", {
        "timestamp": "2026-10-06T23:00:00.000Z", "connectorStatus": "Faulted", "evseId": 1, "connectorId": 1})
    frame("KTM-1", DAY0 + timedelta(days=5, hours=23, minutes=30), "StatusNotification",
          {"connectorId": "two", "status": "Faulted"})  # malformed: answered with a CALLERROR, logged
    frame("ALA-2", DAY0 + timedelta(days=7, hours=22), "StatusNotification",
          {"connectorId": 0, "errorCode": "PowerMeterFailure", "status": "Faulted"})
    frame("ALA-2", DAY0 + timedelta(days=8, hours=2), "StatusNotification",
          {"connectorId": 0, "errorCode": "NoError", "status": "Available"})

    tx_id = 0
    for sid, (_, _, _, connectors) in STATIONS.items():
        for n in range(30):
            tx_id += 1
            started = DAY0 + timedelta(minutes=rng.randrange(-600, DAYS * 1440))
            minutes = rng.choice([1, 5, 45, 90, 240, 700])
            wh = Decimal(rng.choice([50, 900, 12345, 30000])) + Decimal("0.125")
            stopped = started + timedelta(minutes=minutes, seconds=rng.randrange(60))
            status = rng.choice(["Accepted"] * 5 + ["Invalid", "ConcurrentTx"])
            txs.append(_tx(tx_id, sid, rng.randrange(1, connectors + 1), started, stopped, wh, status))
            if status == "Accepted" and rng.random() < 0.8:
                currency = "KZT" if sid.startswith("ALA") else rng.choice(["NPR", "USD"])
                cdrs.append(_cdr(tx_id, currency, Decimal(rng.randrange(100, 90000)) / 100,
                                 DAY0 + timedelta(days=DAYS)))
    tx_id += 1
    txs.append(_tx(tx_id, "ALA-1", 1, NOW - timedelta(days=2, hours=3), None, Decimal(8000), "Accepted"))
    return frames, txs, cdrs


def _tx(tx_id, sid, evse, started, stopped, wh, status) -> dict:
    return {"id": tx_id, "station_id": sid, "station_tx_id": str(tx_id), "evse_id": evse,
            "connector_id": 1, "id_token": "CARD", "token_status": status,
            "state": "Ended" if stopped else "Active", "started_at": started, "stopped_at": stopped,
            "energy_wh": wh, "offline": False, "updated_at": (stopped or started)}


def _cdr(tx_id, currency, total, made) -> dict:
    return {"id": f"cdr-{tx_id}", "transaction_id": tx_id, "currency": currency,
            "total_excl_vat": total, "total_incl_vat": total * Decimal("1.12"), "capped": False,
            "flags": [], "body": {}, "receipts": {}, "created_at": made}


@pytest.fixture
async def store(database_url):
    engine = create_engine_for(database_url)
    sessions = sessionmaker_for(engine)
    frames, txs, cdrs = history()
    async with sessions.begin() as session:
        session.add_all([Operator(id=1, code="KZ-OP", name="KZ", country="KZ", currency="KZT"),
                         Operator(id=2, code="NP-OP", name="NP", country="NP", currency="NPR")])
        await session.flush()
        session.add_all([
            Site(id=1, code="ALA", operator_id=1, name="Almaty", city="Almaty", country="KZ",
                 lat=43.2, lon=76.9, timezone="Asia/Almaty"),
            Site(id=2, code="KTM", operator_id=2, name="Kathmandu", city="Kathmandu", country="NP",
                 lat=27.7, lon=85.3, timezone="Asia/Kathmandu")])
        await session.flush()
        for sid, (site, _, beat, connectors) in STATIONS.items():
            session.add(Station(id=sid, site_id=1 if site == "ALA" else 2, heartbeat_interval=beat))
            await session.flush()
            for evse in range(1, connectors + 1):
                session.add(Connector(station_id=sid, evse_id=evse, connector_id=1, standard="ccs2",
                                      max_power_kw=Decimal(50)))
        await session.flush()
        await session.execute(OcppMessage.__table__.insert(), frames)
        await session.execute(Transaction.__table__.insert(), txs)
        await session.execute(ChargeDetailRecord.__table__.insert(), cdrs)
    workers = Workers(database_url, threads=1, queue=0)
    await workers.start()
    try:
        yield sessions, workers
    finally:
        await workers.stop()
        await engine.dispose()


async def roll_up(workers: Workers, now: datetime = NOW) -> list:
    job = RollupJob(workers, every=3600, max_days=400, **OPTIONS)
    return await job.run_once(now=now)


async def direct(sessions, start, end, now=NOW) -> ops.RangeTotals:
    """The raw computation, reading statuses from far enough back to see every report."""
    data = await load_operations(sessions, start, end, lookback=timedelta(days=60), as_of=now,
                                 **OPTIONS)
    return ops.range_totals(data)


async def rolled(workers, start, end, now=NOW) -> ops.RangeTotals:
    return await workers.run(lambda sessions: load_range(sessions, start, end, max_days=400,
                                                         as_of=now, **OPTIONS))


def answers(totals: ops.RangeTotals) -> tuple:
    return (ops.summary(totals, "station"), ops.summary(totals, "operator"), ops.uptime(totals),
            ops.utilisation(totals), ops.failed_starts(totals), ops.attention(totals))


RANGES = [
    (DAY0, DAY0 + timedelta(days=DAYS)),                                    # whole days
    (DAY0 + timedelta(hours=7, minutes=13), NOW + timedelta(days=2)),       # partial ends, to now
    (DAY0 - timedelta(days=3), DAY0 + timedelta(days=4, hours=1)),          # from before the data
    (DAY0 + timedelta(days=3, hours=21), DAY0 + timedelta(days=4, hours=4)),  # within one gap
    (DAY0 + timedelta(days=11, hours=1), NOW - timedelta(minutes=5)),       # today's partial day
]


@pytest.mark.parametrize("slice_frames", [None, 1], ids=["day-slices", "hour-slices"])
async def test_rolled_up_days_answer_as_the_raw_rows_do(store, monkeypatch, slice_frames):
    """Also when raw rows are read an hour at a time, as for a large network."""
    if slice_frames is not None:
        monkeypatch.setattr(rollups, "SLICE_FRAMES", slice_frames)
    sessions, workers = store
    days = await roll_up(workers)
    assert days[0] == (DAY0 - timedelta(days=2)).date(), "from the day of the oldest frame"
    assert days[-1] == (NOW - timedelta(days=1)).date() and len(days) == DAYS + 2
    for start, end in RANGES:
        raw, fast = await direct(sessions, start, end), await rolled(workers, start, end)
        assert fast.totals == raw.totals, (start, end)
        assert answers(fast) == answers(raw), (start, end)
    ala1 = (await rolled(workers, DAY0, DAY0 + timedelta(days=DAYS))).of("ALA-1")
    assert ala1.connector_faulted[(2, 1)] > timedelta(0), "a fault reported before the range is carried"


async def test_without_roll_ups_the_raw_rows_answer(store):
    sessions, workers = store
    start, end = RANGES[1]
    data = await load_operations(sessions, start, end, as_of=NOW, **OPTIONS)
    assert (await rolled(workers, start, end)).totals == ops.range_totals(data).totals


async def test_changes_after_a_day_was_rolled_up_count_at_once_and_are_folded_in(store):
    sessions, workers = store
    await roll_up(workers)
    late = NOW + timedelta(minutes=30)
    async with sessions.begin() as session:
        # The running session's stop arrives from the past, and a CDR is made for it.
        running = await session.scalar(select(Transaction).where(Transaction.state == "Active"))
        running.state, running.energy_wh = "Ended", Decimal(41000)
        running.stopped_at = NOW - timedelta(days=1, hours=20)
        running.updated_at = late
        session.add(ChargeDetailRecord(**_cdr(running.id, "KZT", Decimal("3100.50"), late)))
        # A 1.6 station that was offline reports a session of three days ago.
        offline = _tx(999, "KTM-1", 2, DAY0 + timedelta(days=9, hours=23),
                      DAY0 + timedelta(days=10, hours=2), Decimal(22000), "Accepted")
        session.add(Transaction(**{**offline, "updated_at": late, "offline": True}))
    start, end = DAY0, late
    expected = answers(await direct(sessions, start, end, now=late))
    assert answers(await rolled(workers, start, end, now=late)) == expected, "counted before the job runs"

    job = RollupJob(workers, every=3600, max_days=400, **OPTIONS)
    await job.run_once(now=late + timedelta(minutes=1))
    async with sessions() as session:
        assert await session.scalar(select(func.min(AnalyticsDay.checked_until))) == late + timedelta(minutes=1)
    assert answers(await rolled(workers, start, end, now=late)) == expected, "folded into the rows"
    days = DAY0 + timedelta(days=9), DAY0 + timedelta(days=11)
    with_late_session = (await direct(sessions, *days, now=late)).of("KTM-1").energy_wh
    async with sessions.begin() as session:  # changed behind the job's back: the rows alone answer
        await session.execute(update(Transaction).where(Transaction.id == 999).values(
            energy_wh=Decimal(1), updated_at=DAY0))
    assert (await rolled(workers, *days, now=late)).of("KTM-1").energy_wh == with_late_session


async def test_a_day_is_rolled_up_once_and_only_when_it_has_settled(store):
    sessions, workers = store
    first, second = (DAY0 - timedelta(days=2)).date(), (DAY0 - timedelta(days=1)).date()
    assert await roll_up(workers, now=DAY0 + timedelta(minutes=3)) == [first], "yesterday has not settled"
    assert await roll_up(workers, now=DAY0 + timedelta(minutes=3)) == []
    assert await roll_up(workers, now=DAY0 + timedelta(minutes=6)) == [second]
    async with sessions() as session:
        rows = await session.scalar(select(func.count()).select_from(AnalyticsStationDay))
    assert rows == 2 * len(STATIONS)
