"""The failed-auth brake: per station id and per address, a sliding window, bounded memory."""

from __future__ import annotations

import asyncio

from silkcharge.services.auth_limits import ADDRESS, STATION, FailedAuthLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_limit_reached_is_reported_once_and_holds_until_the_oldest_failure_leaves_the_window():
    clock = Clock()
    limits = FailedAuthLimiter(per_station=3, per_address=100, window=60, clock=clock)
    assert [limits.failed("ST-1", "10.0.0.1") for _ in range(2)] == [[], []]
    clock.now += 10
    reached = limits.failed("ST-1", "10.0.0.1")
    assert [(r.scope, r.key) for r in reached] == [(STATION, "ST-1")]
    limited = limits.check("ST-1", "10.0.0.9")
    assert limited is not None and limited.retry_after == 50 and "ST-1" in limited.reason
    assert limits.check("ST-2", "10.0.0.1") is None  # another station from the same address
    clock.now += 50
    assert limits.check("ST-1", "10.0.0.1") is None
    assert limits.blocked() == {STATION: 0, ADDRESS: 0}


def test_the_address_limit_spans_station_ids_and_a_refusal_before_any_id_counts_for_its_address():
    limits = FailedAuthLimiter(per_station=100, per_address=2, window=60, clock=Clock())
    limits.failed("ST-1", "10.0.0.1")
    limits.failed(None, "10.0.0.1")
    limited = limits.check("ST-3", "10.0.0.1")
    assert limited is not None and limited.scope == ADDRESS and "10.0.0.1" in limited.reason
    assert limits.limited_total == 1 and limits.failures_total == 2


def test_memory_stays_bounded_when_many_keys_fail():
    limits = FailedAuthLimiter(per_station=5, per_address=5, window=60, clock=Clock(), max_keys=100)
    for n in range(1000):
        limits.failed(f"ST-{n}", f"10.0.{n // 250}.{n % 250}")
    assert len(limits._stations._failures) <= 100


async def test_checks_under_way_count_so_a_burst_of_parallel_guesses_gets_no_more_hashes_than_the_limit():
    limits = FailedAuthLimiter(per_station=3, per_address=100, window=60, clock=Clock())
    first = [await limits.reserve("ST-1", "10.0.0.1") for _ in range(3)]
    assert first == [None, None, None]
    waiting = [asyncio.create_task(limits.reserve("ST-1", "10.0.0.1")) for _ in range(2)]
    await asyncio.sleep(0)
    assert not any(task.done() for task in waiting)  # they wait for a check under way to end
    for _ in range(3):
        limits.failed("ST-1", "10.0.0.1")
        limits.release("ST-1", "10.0.0.1")
    limited = await asyncio.gather(*waiting)
    assert all(answer is not None and answer.scope == STATION for answer in limited)
    assert limits.failed("ST-1", "10.0.0.1") == []  # a late failure: the limit is reported once


async def test_checks_that_succeed_let_the_waiting_ones_through():
    limits = FailedAuthLimiter(per_station=100, per_address=2, window=60, clock=Clock())
    assert [await limits.reserve(f"ST-{n}", "10.0.0.1") for n in range(2)] == [None, None]
    third = asyncio.create_task(limits.reserve("ST-2", "10.0.0.1"))
    await asyncio.sleep(0)
    assert not third.done()
    limits.release("ST-0", "10.0.0.1")  # accepted: no failure counted
    assert await third is None
