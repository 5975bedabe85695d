"""The retention sweep against a clock the test moves: each kind of data goes when its own
setting says, and not a moment before; meter samples of a running session or of a CDR held for
review stay. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from silkcharge.app import retention_of
from silkcharge.services.drivers import DriverService
from silkcharge.services.retention import Retention, RetentionSweep
from silkcharge.settings import Settings
from silkcharge.store.db import create_engine_for, sessionmaker_for
from silkcharge.store.schema import (
    CdrReview,
    ChargeDetailRecord,
    DriverPasswordReset,
    DriverSession,
    MeterSample,
    RoamingActiveProfile,
    RoamingChargingProfile,
    Station,
    Transaction,
)

START = datetime(2026, 3, 21, 9, 0, tzinfo=timezone.utc)
RETENTION = Retention(driver_sessions=timedelta(days=7), reset_links=timedelta(days=7),
                      meter_samples=timedelta(days=400))


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def sessions(database_url) -> AsyncIterator[async_sessionmaker]:
    engine = create_engine_for(database_url)
    try:
        yield sessionmaker_for(engine)
    finally:
        await engine.dispose()


async def count(sessions: async_sessionmaker, model) -> int:
    async with sessions() as session:
        return await session.scalar(select(func.count()).select_from(model))


async def sessions_with_samples(sessions: async_sessionmaker) -> dict[str, int]:
    """Three sessions of a year ago with two samples each: ended, ended with its CDR held, running."""
    year_ago = START - timedelta(days=365)
    ids = {}
    async with sessions.begin() as session:
        session.add(Station(id="RET-1"))
        await session.flush()
        for name, state in (("ended", "Ended"), ("held", "Ended"), ("running", "Active")):
            tx = Transaction(station_id="RET-1", station_tx_id=name, evse_id=1, connector_id=1, state=state,
                             started_at=year_ago, stopped_at=year_ago + timedelta(hours=1) if state == "Ended" else None)
            session.add(tx)
            await session.flush()
            ids[name] = tx.id
            session.add_all(MeterSample(station_id="RET-1", evse_id=1, transaction_id=tx.id,
                                        timestamp=year_ago + timedelta(minutes=minute),
                                        measurand="Energy.Active.Import.Register", value=Decimal(minute))
                            for minute in (10, 20))
        session.add(ChargeDetailRecord(id="cdr-held", transaction_id=ids["held"], currency="KZT",
                                       total_excl_vat=Decimal(0), total_incl_vat=Decimal(0), body={}, receipts={}))
        await session.flush()
        session.add(CdrReview(cdr_id="cdr-held", status="held", reasons=["energy-jump"], held_at=year_ago,
                              held_totals={}))
    return ids


async def samples_of(sessions: async_sessionmaker) -> set[int]:
    async with sessions() as session:
        return set((await session.scalars(select(MeterSample.transaction_id))).all())


async def test_meter_samples_of_ended_sessions_go_after_their_retention_but_not_held_or_running_ones(sessions):
    clock = Clock()
    ids = await sessions_with_samples(sessions)
    sweep = RetentionSweep(sessions, RETENTION, clock=clock)
    assert (await sweep.sweep())["meter samples"] == 0  # ended 365 days ago: within 400
    assert await samples_of(sessions) == set(ids.values())
    clock.now = START + timedelta(days=40)
    assert (await sweep.sweep(chunk=1))["meter samples"] == 2  # chunks of one row still get them all
    assert await samples_of(sessions) == {ids["held"], ids["running"]}
    assert await count(sessions, Transaction) == 3  # the sessions themselves stay, with their CDRs
    kept = RetentionSweep(sessions, Retention(RETENTION.driver_sessions, RETENTION.reset_links, None), clock=clock)
    clock.now = START + timedelta(days=4000)
    assert "meter samples" not in await kept.sweep()  # unset: kept forever
    assert await samples_of(sessions) == {ids["held"], ids["running"]}


async def test_ended_driver_sessions_and_reset_links_go_a_week_after_they_end(sessions):
    clock = Clock()
    drivers = DriverService(sessions, timedelta(hours=72), clock=clock)
    await drivers.register("timur@example.uz", "correct horse", "Timur", "uz")
    await drivers.login("timur@example.uz", "correct horse")
    await drivers.request_password_reset("timur@example.uz")
    sweep = RetentionSweep(sessions, RETENTION, clock=clock)

    clock.now = START + timedelta(minutes=30, days=7)  # the link expired a week ago to the minute
    assert await sweep.sweep() == {"driver sessions": 0, "password-reset links": 0, "meter samples": 0}
    clock.now += timedelta(minutes=1)
    assert await sweep.sweep() == {"driver sessions": 0, "password-reset links": 1, "meter samples": 0}
    clock.now = START + timedelta(hours=72, days=7)  # the session ended a week ago to the minute
    assert (await sweep.sweep())["driver sessions"] == 0
    clock.now += timedelta(minutes=1)
    assert (await sweep.sweep())["driver sessions"] == 1
    assert await count(sessions, DriverSession) == await count(sessions, DriverPasswordReset) == 0


async def test_roaming_charging_profile_exchanges_go_after_their_retention_and_not_before(sessions):
    clock = Clock()
    async with sessions.begin() as session:
        for days_ago, direction in ((91, "received"), (89, "pushed"), (120, "sent")):
            session.add(RoamingChargingProfile(
                partner_id=1, direction=direction, kind="SET", uid=f"uid-{days_ago}", session_id=str(days_ago),
                request={}, created_at=START - timedelta(days=days_ago)))
        for days_ago in (95, 10):
            session.add(RoamingActiveProfile(partner_id=1, session_id=f"theirs-{days_ago}", profile={},
                                             received_at=START - timedelta(days=days_ago)))
    sweep = RetentionSweep(sessions, Retention(RETENTION.driver_sessions, RETENTION.reset_links, None,
                                               roaming_profiles=timedelta(days=90)), clock=clock)
    deleted = await sweep.sweep(chunk=1)
    assert (deleted["roaming charging profiles"], deleted["profiles partners pushed"]) == (2, 1)
    async with sessions() as session:
        assert (await session.scalars(select(RoamingChargingProfile.session_id))).all() == ["89"]
        assert (await session.scalars(select(RoamingActiveProfile.session_id))).all() == ["theirs-10"]
    assert "roaming charging profiles" not in await RetentionSweep(sessions, RETENTION, clock=clock).sweep()


def test_each_kind_of_data_takes_its_retention_from_its_own_setting():
    retention = retention_of(Settings(driver_session_days=2, reset_link_days=3, meter_sample_days=None,
                                      roaming_profile_days=None))
    assert retention == Retention(timedelta(days=2), timedelta(days=3), None, None)
    assert retention_of(Settings()).meter_samples == timedelta(days=400)
    assert retention_of(Settings()).roaming_profiles == timedelta(days=90)
