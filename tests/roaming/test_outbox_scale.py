"""The outbox's sender costs the same per look whatever it keeps: the pushes it sent (kept 30
days for audits) are never read again by its looks for what is due (roaming/outbox.py).

The work is SQLite's own count of virtual-machine steps, over every connection the sender uses.
Before, the look for partners with something due and the look for the next moment something
is due read every kept row (tens of milliseconds at 300,000 rows, at every look)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event, select, text
from sqlalchemy.util.concurrency import await_only

from silkcharge.domain.clock import utcnow
from silkcharge.roaming.outbox import Backoff, OutboxSender, Push, SenderTiming, enqueue
from silkcharge.store.db import create_engine_for, dispose_engine, sessionmaker_for
from silkcharge.store.schema import RoamingOutboxRow, RoamingPartner
from silkcharge.store.tenancy import DEFAULT_TENANT
from tests.conftest import recycled_sqlite_database

KEY = "KZ/SLK/ALA-001/ALA-001*1"
KEPT = 20_000  # sent pushes kept: of the object that has one pending, and of others


class Partner:
    """The partner at the other end of the link (the true external boundary): takes all."""

    def __init__(self) -> None:
        self.taken: list[tuple[int, str, dict]] = []

    async def send(self, partner_id: int, module: str, method: str, path: str, body) -> None:
        self.taken.append((partner_id, path, body))

    async def noted(self, partner_id: int, pushed_at, error) -> None:
        pass


@pytest.fixture
async def counted():
    """A fresh SQLite database's sessions, and a counter of SQLite's steps on every connection
    its engine opens."""
    with recycled_sqlite_database() as url:
        engine = create_engine_for(url, 3)
        try:
            yield sessionmaker_for(engine), steps_counted(engine)
        finally:
            await dispose_engine(engine)


def steps_counted(engine) -> list[int]:
    steps = [0]

    def step() -> int:
        steps[0] += 1
        return 0

    @event.listens_for(engine.sync_engine, "connect")
    def count(dbapi_connection, _record) -> None:
        await_only(dbapi_connection._connection.set_progress_handler(step, 10))

    return steps


async def add_partner(sessions) -> int:
    async with sessions.begin() as session:
        partner = RoamingPartner(tenant_id=DEFAULT_TENANT, name="Steppe eMSP", state="registered", version="2.2.1")
        session.add(partner)
        await session.flush()
        return partner.id


async def keep_sent(sessions, partner_id: int, count: int, first: int) -> None:
    """`count` sent pushes, half of them of KEY's object, made by the database itself."""
    at = (utcnow() - timedelta(days=1)).isoformat(" ", "microseconds")[:26]
    async with sessions.begin() as session:
        await session.execute(text(
            f"WITH RECURSIVE n(i) AS (SELECT {first} UNION ALL SELECT i + 1 FROM n WHERE i < {first + count - 1}) "
            "INSERT INTO roaming_outbox (tenant_id, partner_id, module, object_key, method, path, body, sequence,"
            " state, created_at, attempts, next_attempt_at, sent_at) "
            f"SELECT 1, {partner_id}, 'locations', CASE i % 2 WHEN 0 THEN '{KEY}' ELSE 'other/' || i END, 'PATCH',"
            f" '{KEY}', '{{}}', i - 100000000, 'sent', '{at}', 1, '{at}', '{at}' FROM n"))  # before the pending ones


async def work_of_a_push(sessions, steps, partner_id: int, sender: OutboxSender, partner: Partner, n: int) -> int:
    """SQLite's steps for a look that finds a push due and sends it, and the sender's next pause."""
    async with sessions.begin() as session:
        await enqueue(session, Push(partner_id, "locations", KEY, "PATCH", KEY, {"n": n}), tenant_id=DEFAULT_TENANT)
    before = steps[0]
    await sender.run_once()
    await sender._pause()
    return steps[0] - before


async def test_the_senders_looks_cost_the_same_with_a_month_of_sent_pushes_kept(counted):
    sessions, steps = counted
    partner_id = await add_partner(sessions)
    partner = Partner()
    sender = OutboxSender(sessions, partner, SenderTiming(Backoff(0.05, 0.4), keep_sent=None))
    await keep_sent(sessions, partner_id, 10, 1)
    few = await work_of_a_push(sessions, steps, partner_id, sender, partner, 1)
    await keep_sent(sessions, partner_id, KEPT, 100)
    many = await work_of_a_push(sessions, steps, partner_id, sender, partner, 2)

    assert [body["n"] for _, _, body in partner.taken] == [1, 2]
    async with sessions() as session:
        assert await session.scalar(select(RoamingOutboxRow.state).where(
            RoamingOutboxRow.body["n"].as_integer() == 2)) == "sent"
    assert many <= 2 * few, f"{many} steps with {KEPT:,} sent pushes kept against {few} with 10"
