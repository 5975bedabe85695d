"""The sender on a clock the test moves: the backoff it stores grows and stops at its cap, one
probe per partner per delay, and sent rows leave after their keeping time, a chunk per
transaction, while parked ones stay.
Real database, real HTTP to the partner; only time is the test's (no waiting on it)."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import event, select

from silkcharge.roaming import outbox as outbox_module
from silkcharge.roaming.outbox import Backoff, Outbox, OutboxSender, SenderTiming
from silkcharge.roaming.partners import PartnerService
from silkcharge.roaming.push import OcpiPartnerLink
from silkcharge.store.db import create_engine_for, sessionmaker_for
from silkcharge.store.schema import RoamingOutboxRow
from silkcharge.store.tenancy import DEFAULT_TENANT
from tests.roaming.fake_partner import FakePartner
from tests.roaming.test_outbox import add_partner_to, patch


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 4, 10, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def parts(settings) -> AsyncIterator[tuple]:
    engine = create_engine_for(settings.database_url, 4)
    sessions = sessionmaker_for(engine)
    partner = FakePartner()
    await partner.start()
    clock = Clock()
    link = OcpiPartnerLink(sessions, PartnerService(sessions, settings))
    timing = SenderTiming(backoff=Backoff(base=2.0, cap=60.0), keep_sent=timedelta(days=1))
    sender = OutboxSender(sessions, link, timing, clock=clock, rng=random.Random(16))
    try:
        yield sessions, partner, clock, Outbox(sessions, clock=clock), sender
    finally:
        await link.aclose()
        await partner.stop()
        await engine.dispose()


async def stored(sessions) -> list[RoamingOutboxRow]:
    async with sessions() as session:
        return list((await session.scalars(select(RoamingOutboxRow).order_by(RoamingOutboxRow.id))).all())


async def test_the_backoff_doubles_up_to_its_cap_with_one_probe_per_delay(parts):
    sessions, partner, clock, outbox, sender = parts
    partner_id = await add_partner_to(sessions, partner.endpoint)
    partner.unavailable = True
    await outbox.enqueue_after_commit([patch(partner_id, f"E{n}", "CHARGING", n) for n in range(5)],
                                      tenant_id=DEFAULT_TENANT)
    waits = []
    for failure in range(1, 10):
        assert await sender.run_once() == 0
        assert len(partner.attempts) == failure  # one probe a round, not one per row
        due = max(row.next_attempt_at for row in await stored(sessions))  # the last failure's
        waits.append((due - clock.now).total_seconds())
        assert await sender.run_once() == 0 and len(partner.attempts) == failure  # held until then
        clock.now = due
    for failure, wait in enumerate(waits, start=1):
        ceiling = min(60.0, 2.0 * 2 ** (failure - 1))
        assert ceiling / 2 <= wait <= ceiling, (failure, wait)
    assert waits[-1] <= 60.0 and waits[-1] >= 30.0  # capped: 2, 4, 8, 16, 32, then 60 at most
    partner.unavailable = False
    assert await sender.run_once() == 5  # back: everything in one round


async def test_sent_rows_leave_after_their_keeping_time_and_parked_ones_stay(parts):
    sessions, partner, clock, outbox, sender = parts
    partner_id = await add_partner_to(sessions, partner.endpoint)
    partner.refused.add("KZ/SLK/ALA-001/E2")
    await outbox.enqueue_after_commit([patch(partner_id, "E1", "CHARGING", 1), patch(partner_id, "E2", "CHARGING", 2)],
                                      tenant_id=DEFAULT_TENANT)
    assert await sender.run_once() == 1
    assert sorted(row.state for row in await stored(sessions)) == ["parked", "sent"]
    clock.now += timedelta(days=1, hours=2)  # past a day's keeping, and the hour between prunes
    await sender.run_once()
    assert [row.state for row in await stored(sessions)] == ["parked"]


async def test_old_sent_rows_leave_a_chunk_per_transaction_and_newer_and_pending_ones_stay(parts, monkeypatch):
    sessions, partner, clock, outbox, sender = parts
    monkeypatch.setattr(outbox_module, "PRUNE_CHUNK", 3)
    partner_id = await add_partner_to(sessions, partner.endpoint)
    await outbox.enqueue_after_commit([patch(partner_id, f"E{n}", "CHARGING", n) for n in range(10)],
                                      tenant_id=DEFAULT_TENANT)
    assert await sender.run_once() == 10
    clock.now += timedelta(hours=23)
    await outbox.enqueue_after_commit([patch(partner_id, "E-new", "CHARGING", 10)], tenant_id=DEFAULT_TENANT)
    assert await sender.run_once() == 1  # sent now: kept a day from now
    partner.unavailable = True
    await outbox.enqueue_after_commit([patch(partner_id, "E-later", "CHARGING", 11)], tenant_id=DEFAULT_TENANT)
    deletes: list[str] = []

    def note(_conn, _cursor, statement, *_rest) -> None:
        if statement.lstrip().upper().startswith("DELETE FROM ROAMING_OUTBOX"):
            deletes.append(statement)

    engine = sessions.kw["bind"].sync_engine
    event.listen(engine, "before_cursor_execute", note)
    try:
        clock.now += timedelta(hours=3)  # the ten are past a day's keeping, and an hour since the last prune
        await sender.run_once()
    finally:
        event.remove(engine, "before_cursor_execute", note)
    assert sorted((row.object_key.rsplit("/", 1)[1], row.state) for row in await stored(sessions)) == [
        ("E-later", "pending"), ("E-new", "sent")]
    assert len(deletes) == 4  # 3 + 3 + 3 + 1 of the ten, a transaction each
