"""Reads asked one key at a time and answered many at a time (store/gathered.py)."""

from __future__ import annotations

import asyncio

import pytest

from silkcharge.store.gathered import Gathered
from silkcharge.store.group_commit import StoreUnavailable
from silkcharge.store.residency import current_database, database_scope
from silkcharge.store.tenancy import current_tenant, tenant_scope


class Reader:
    """The read a `Gathered` makes: records each round's keys and where it ran; a round waits
    for `release` when `hold` is set."""

    def __init__(self) -> None:
        self.rounds: list[tuple[list[int], int | None, str | None]] = []
        self.hold = False
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.fail_next = False

    async def read(self, keys: list[int]) -> dict[int, str]:
        self.rounds.append((sorted(keys), current_tenant(), current_database()))
        self.started.set()
        if self.hold:
            await self.release.wait()
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("the database went away")
        return {key: f"answer {key} for tenant {current_tenant()}" for key in keys}


async def held_round(fail: bool = False) -> tuple[Reader, Gathered, asyncio.Future]:
    """A `Gathered` whose first round (of key 1) has started and waits for `reader.release`."""
    reader = Reader()
    reader.hold, reader.fail_next = True, fail
    gathered = Gathered(reader.read, name="test")
    first = asyncio.ensure_future(gathered.ask(1))
    await reader.started.wait()
    return reader, gathered, first


async def test_asks_of_one_turn_are_read_in_one_round_and_each_gets_its_own_answer():
    reader = Reader()
    gathered = Gathered(reader.read, name="test")
    answers = await asyncio.gather(*(gathered.ask(key) for key in (3, 1, 2, 1)))
    assert answers == ["answer 3 for tenant None", "answer 1 for tenant None",
                       "answer 2 for tenant None", "answer 1 for tenant None"]
    assert [keys for keys, *_ in reader.rounds] == [[1, 2, 3]]  # key 1 asked twice, read once


async def test_asks_made_while_a_round_reads_wait_and_are_read_together_next():
    reader, gathered, first = await held_round()
    later = [asyncio.ensure_future(gathered.ask(key)) for key in (2, 3, 4)]
    await asyncio.sleep(0)
    assert [keys for keys, *_ in reader.rounds] == [[1]]  # nothing else read while the first runs
    reader.release.set()
    assert await first == "answer 1 for tenant None"
    assert await asyncio.gather(*later) == [f"answer {key} for tenant None" for key in (2, 3, 4)]
    assert [keys for keys, *_ in reader.rounds] == [[1], [2, 3, 4]]


async def test_a_failed_read_fails_its_own_askers_only_and_the_next_round_is_read_anew():
    reader, gathered, failing = await held_round(fail=True)
    waiting = asyncio.ensure_future(gathered.ask(2))
    await asyncio.sleep(0)
    reader.release.set()
    with pytest.raises(RuntimeError, match="went away"):
        await failing
    assert await waiting == "answer 2 for tenant None"
    assert await gathered.ask(1) == "answer 1 for tenant None"


async def test_an_asker_that_gives_up_leaves_the_others_their_answer():
    reader = Reader()
    reader.hold = True
    gathered = Gathered(reader.read, name="test")
    leaving = asyncio.ensure_future(gathered.ask(1))
    staying = asyncio.ensure_future(gathered.ask(1))
    await reader.started.wait()
    leaving.cancel()
    reader.release.set()
    assert await staying == "answer 1 for tenant None"
    assert leaving.cancelled()


async def test_asks_of_other_tenants_and_databases_are_read_apart_each_in_its_own_scope():
    reader = Reader()
    gathered = Gathered(reader.read, name="test")

    async def ask(key: int, tenant: int | None, database: str | None) -> str:
        with tenant_scope(tenant), database_scope(database):
            return await gathered.ask(key)

    answers = await asyncio.gather(ask(1, 7, None), ask(2, 8, None), ask(3, 7, None), ask(4, None, "kz"))
    assert answers == ["answer 1 for tenant 7", "answer 2 for tenant 8", "answer 3 for tenant 7",
                       "answer 4 for tenant None"]
    assert sorted(reader.rounds, key=lambda r: r[0]) == [([1, 3], 7, None), ([2], 8, None), ([4], None, "kz")]


async def test_no_round_reads_more_than_its_bound():
    reader = Reader()
    gathered = Gathered(reader.read, name="test", at_most=2)
    await asyncio.gather(*(gathered.ask(key) for key in range(5)))
    assert [keys for keys, *_ in reader.rounds] == [[0, 1], [2, 3], [4]]


async def test_a_read_that_leaves_a_key_out_fails_that_asker_and_answers_the_rest():
    async def forgetful(keys: list[int]) -> dict[int, str]:
        return {key: "found" for key in keys if key != 2}

    gathered = Gathered(forgetful, name="test")
    found, missing = await asyncio.gather(gathered.ask(1), gathered.ask(2), return_exceptions=True)
    assert found == "found"
    assert isinstance(missing, LookupError) and "no answer for 2" in str(missing)


async def test_asks_of_a_read_cancelled_by_a_stop_hear_that_the_store_is_unavailable():
    reader, gathered, reading = await held_round()
    waiting = asyncio.ensure_future(gathered.ask(2))
    await asyncio.sleep(0)
    (task,) = [t for t in asyncio.all_tasks() if t.get_name() == "gathered-test"]
    task.cancel()
    for asked in (reading, waiting):  # an error to handle, not a cancellation of the asker
        with pytest.raises(StoreUnavailable, match="stopping"):
            await asked
    reader.hold = False
    assert await gathered.ask(3) == "answer 3 for tenant None"  # a new ask starts a new read
