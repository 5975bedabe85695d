"""The connection pool serves the tasks waiting for a connection in turn (store/pool.py): a
connection given back goes to the task that waited longest, not to one that asks again at once
(on SQLite, whose pool holds one connection, a busy group commit kept every other reader out
until the pool's timeout)."""

from __future__ import annotations

import asyncio

from sqlalchemy.util import greenlet_spawn

from silkcharge.store.db import create_engine_for
from silkcharge.store.pool import InTurn


async def waiting_for(queue: InTurn, tasks: int) -> None:
    while queue.waiting < tasks:
        await asyncio.sleep(0)


async def test_a_connection_given_back_goes_to_the_waiting_task_before_one_asking_again_at_once(tmp_path):
    engine = create_engine_for(f"sqlite+aiosqlite:///{tmp_path / 'pool.sqlite3'}")
    order: list[str] = []
    try:
        held = await engine.raw_connection()  # the pool's only connection

        async def other_reader() -> None:
            connection = await engine.raw_connection()
            order.append("the task that waited")
            await greenlet_spawn(connection.close)  # the pool's rollback on return is I/O

        waiter = asyncio.create_task(other_reader())
        await waiting_for(engine.sync_engine.pool._pool._queue, 1)
        await greenlet_spawn(held.close)
        again = await engine.raw_connection()  # the holder at once asks again, as a busy lane does
        order.append("the holder, asking again")
        await greenlet_spawn(again.close)
        await waiter
    finally:
        await engine.dispose()
    assert order == ["the task that waited", "the holder, asking again"]


async def test_an_item_handed_to_a_getter_cancelled_before_it_ran_goes_to_the_next_in_line():
    queue = InTurn()
    first = asyncio.create_task(queue.get())
    second = asyncio.create_task(queue.get())
    await waiting_for(queue, 2)
    queue.put_nowait("connection")  # handed to the first...
    first.cancel()  # ...which is cancelled before it runs (a checkout's timeout, a stopping server)
    assert await second == "connection"
    assert first.cancelled() and queue.empty()


async def test_a_getter_that_gave_up_waiting_leaves_the_line_and_the_next_item_is_kept_for_whoever_asks():
    queue = InTurn()
    gave_up = asyncio.create_task(queue.get())
    await waiting_for(queue, 1)
    gave_up.cancel()
    await asyncio.gather(gave_up, return_exceptions=True)
    assert queue.waiting == 0
    queue.put_nowait("connection")
    assert queue.qsize() == 1 and await queue.get() == "connection"
