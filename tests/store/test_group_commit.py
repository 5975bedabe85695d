"""Group commit: one commit for many units of work, each caller still told its own outcome."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from silkcharge.domain.clock import utcnow
from silkcharge.services.writer import BatchWriter
from silkcharge.store.db import create_engine_for, sessionmaker_for
from silkcharge.store.group_commit import GroupCommitter, StoreUnavailable, after_commit
from silkcharge.store.schema import IdToken, OcppMessage
from tests.guards import HANG_GUARD


@pytest.fixture
async def sessions(database_url):
    engine = create_engine_for(database_url, 5)
    yield sessionmaker_for(engine)
    await engine.dispose()


@pytest.fixture
async def committer(sessions):
    running = GroupCommitter(sessions)
    running.start()
    yield running
    await running.stop()


def add_token(token: str):
    async def work(session: AsyncSession) -> str:
        session.add(IdToken(token=token, status="Accepted"))
        await session.flush()
        return token
    return work


async def stored_tokens(sessions) -> set[str]:
    async with sessions() as session:
        return set(await session.scalars(select(IdToken.token)))


async def test_concurrent_units_share_commits_and_each_caller_gets_its_own_result(committer, sessions):
    results = await asyncio.gather(*(committer.run(add_token(f"T{n}")) for n in range(60)))
    assert results == [f"T{n}" for n in range(60)]
    assert await stored_tokens(sessions) == {f"T{n}" for n in range(60)}
    assert committer.units == 60
    assert committer.batches < 60, "units arriving together were committed together"


async def test_a_failing_unit_costs_only_its_own_caller(committer, sessions):
    async def broken(session: AsyncSession) -> None:
        raise ValueError("this message is wrong")

    outcomes = await asyncio.gather(
        committer.run(add_token("A")), committer.run(broken), committer.run(add_token("B")),
        return_exceptions=True,
    )
    assert outcomes[0] == "A" and outcomes[2] == "B"
    assert isinstance(outcomes[1], ValueError)
    assert await stored_tokens(sessions) == {"A", "B"}


async def test_a_duplicate_in_the_batch_fails_alone_and_the_rest_is_stored(committer, sessions):
    outcomes = await asyncio.gather(
        committer.run(add_token("X")), committer.run(add_token("X")), committer.run(add_token("Y")),
        return_exceptions=True,
    )
    assert outcomes.count("X") == 1 and "Y" in outcomes
    assert sum(isinstance(o, Exception) for o in outcomes) == 1
    assert await stored_tokens(sessions) == {"X", "Y"}


async def test_after_commit_callbacks_run_only_for_committed_work(committer):
    announced: list[str] = []

    def announcing(token: str, fail: bool):
        async def work(session: AsyncSession) -> None:
            after_commit(session, lambda: announced.append(token))
            session.add(IdToken(token=token, status="Accepted"))
            await session.flush()
            if fail:
                raise ValueError("rolled back")
        return work

    await asyncio.gather(
        committer.run(announcing("OK", False)), committer.run(announcing("NO", True)),
        return_exceptions=True,
    )
    assert announced == ["OK"]


async def test_an_unreachable_database_is_reported_as_unavailable_not_as_a_bug():
    engine = create_engine_for("postgresql+asyncpg://postgres@127.0.0.1:1/none", 1)
    committer = GroupCommitter(sessionmaker_for(engine))
    committer.start()
    try:
        with pytest.raises(StoreUnavailable):
            await committer.run(add_token("Z"))
    finally:
        await committer.stop()
        await engine.dispose()


async def test_a_pool_with_every_connection_busy_is_reported_as_unavailable(database_url):
    # One connection, held by a reader that does not let go: the committer's batch waits for
    # the pool, times out, and its caller hears "unavailable" (a retryable CALLERROR), not a bug.
    engine = create_async_engine(database_url, pool_size=1, max_overflow=0, pool_timeout=0.2)
    sessions = sessionmaker_for(engine)
    committer = GroupCommitter(sessions)
    committer.start()
    try:
        async with engine.connect():
            with pytest.raises(StoreUnavailable):
                await committer.run(add_token("P"))
    finally:
        await committer.stop()
        await engine.dispose()


async def test_message_log_retention_deletes_only_frames_older_than_the_period(sessions):
    writer = BatchWriter(sessions, keep=timedelta(days=30))
    now = utcnow()
    for age_days in (1, 29, 31, 400):
        writer.log_message("ST", "in", 2, "m", "Heartbeat", "[]", now - timedelta(days=age_days))
    await writer.flush()
    assert await writer.prune(chunk=1) == 2
    async with sessions() as session:
        left = await session.scalar(select(func.count()).select_from(OcppMessage))
    assert left == 2


class TokenBulk:
    """A bulk kind for the tests: stores each payload as a token, and records how it was called."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.calls: list[list[str]] = []
        self.order: list[str] = []
        self._fail_on = fail_on

    async def apply(self, session: AsyncSession, items: list[str]) -> list[str]:
        self.calls.append(list(items))
        if self._fail_on in items and len(items) > 1:
            raise ValueError("one item in this batch is bad")
        if self._fail_on in items:
            raise ValueError(f"{self._fail_on} is bad")
        session.add_all(IdToken(token=token, status="Accepted") for token in items)
        await session.flush()
        self.order.extend(items)
        return [f"stored {token}" for token in items]


async def test_bulk_items_of_one_batch_are_applied_in_one_call_each_caller_getting_its_result(committer, sessions):
    bulk = TokenBulk()
    results = await asyncio.gather(*(committer.run_bulk(bulk, f"station-{n}", f"B{n}") for n in range(40)))
    assert results == [f"stored B{n}" for n in range(40)]
    assert await stored_tokens(sessions) == {f"B{n}" for n in range(40)}
    assert len(bulk.calls) < 40, "items arriving together were applied together"
    assert sum(len(call) for call in bulk.calls) == 40


class GatedBulk(TokenBulk):
    """Holds its first batch open until the test lets it go."""

    def __init__(self) -> None:
        super().__init__()
        self.writing, self.go = asyncio.Event(), asyncio.Event()

    async def apply(self, session: AsyncSession, items: list[str]) -> list[str]:
        if not self.calls:
            self.writing.set()
            await self.go.wait()
        return await super().apply(session, items)


async def test_work_queued_behind_a_batch_is_the_next_batch_and_stop_commits_it(sessions):
    committer = GroupCommitter(sessions, lanes=1)
    committer.start()
    bulk = GatedBulk()
    first = asyncio.create_task(committer.run_bulk(bulk, "s1", "Q1"))
    await bulk.writing.wait()
    queued = [asyncio.create_task(committer.run_bulk(bulk, f"s{n}", f"Q{n}")) for n in (2, 3, 4)]
    await asyncio.sleep(0)  # one turn of the loop: each submitter has queued its item
    assert committer.depth == 3, "one lane: the rest waits for the batch in it"
    stopping = asyncio.create_task(committer.stop())
    bulk.go.set()
    await stopping
    assert [await task for task in (first, *queued)] == [f"stored Q{n}" for n in (1, 2, 3, 4)]
    assert bulk.calls == [["Q1"], ["Q2", "Q3", "Q4"]], "what queued meanwhile went in one batch"
    assert (committer.batches, committer.depth) == (2, 0)
    assert await stored_tokens(sessions) == {"Q1", "Q2", "Q3", "Q4"}


async def test_a_lane_cancelled_before_its_first_step_gives_its_place_back(sessions):
    committer = GroupCommitter(sessions, lanes=1)
    committer.start()
    bulk = TokenBulk()
    first = asyncio.create_task(committer.run_bulk(bulk, "s1", "C1"))
    await asyncio.sleep(0)  # one turn of the loop: the submitter queued its item and made a lane
    (lane,) = committer._in_flight
    lane.cancel()  # as a loop torn down cancels every task, before the lane ever ran
    second = asyncio.create_task(committer.run_bulk(bulk, "s2", "C2"))
    done = await asyncio.wait_for(asyncio.gather(first, second), HANG_GUARD)
    assert done == ["stored C1", "stored C2"], "the next submitter found the lane free and both were stored"
    await committer.stop()
    assert await stored_tokens(sessions) == {"C1", "C2"}


async def test_a_bad_bulk_item_fails_alone_and_the_rest_of_its_batch_is_stored(committer, sessions):
    bulk = TokenBulk(fail_on="BAD")
    outcomes = await asyncio.gather(
        committer.run_bulk(bulk, "s1", "G1"), committer.run_bulk(bulk, "s2", "BAD"),
        committer.run_bulk(bulk, "s3", "G2"), return_exceptions=True,
    )
    assert outcomes[0] == "stored G1" and outcomes[2] == "stored G2"
    assert isinstance(outcomes[1], ValueError) and "BAD is bad" in str(outcomes[1])
    assert await stored_tokens(sessions) == {"G1", "G2"}


async def test_a_stations_unit_runs_after_its_waiting_bulk_item_and_other_stations_stay_grouped(sessions):
    bulk = TokenBulk()
    seen_by_unit: list[set[str]] = []

    def unit_for(station: str):
        async def work(session: AsyncSession) -> None:
            seen_by_unit.append(set(await session.scalars(select(IdToken.token))))
        return work

    # Queued before the committer starts, so that all of them land in one batch, in this order.
    committer = GroupCommitter(sessions)
    committer.start()
    calls = [
        committer.run_bulk(bulk, "A", "A1"),
        committer.run_bulk(bulk, "B", "B1"),
        committer.run(unit_for("C"), key="C"),  # another station: A1 and B1 may keep waiting
        committer.run_bulk(bulk, "C", "C1"),
        committer.run(unit_for("A"), key="A"),  # A's own write must be visible to it
    ]
    try:
        await asyncio.gather(*calls)
    finally:
        await committer.stop()
    assert seen_by_unit[0] == set(), "an unrelated station's unit did not force the bulk items out"
    assert {"A1"} <= seen_by_unit[1], "station A's unit saw its earlier bulk item"
    assert bulk.calls[0] == ["A1", "B1", "C1"], "the three stations' items were applied together"
