"""A connection pool that serves its waiters in turn.

SQLAlchemy's asyncio pool keeps its free connections in an `asyncio.Queue`, and a checkout
first takes a free one without waiting. When a connection is returned while others wait for
it, the queue wakes the longest waiting, but only wakes it: a task that asks before the woken
one runs (the group committer, going straight on to its next batch) takes the connection, and
the woken one waits again, at the back. On SQLite, whose pool holds one connection, a gateway
under steady load so kept it from the periodic jobs and the event followers for the pool's
whole 30-second timeout (their reads failed with "QueuePool limit of size 1 overflow 0
reached"). Here a returned connection is handed to the longest waiting task directly, and a
task that asks while others wait joins the line behind them.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy.pool import AsyncAdaptedQueuePool
from sqlalchemy.util.langhelpers import memoized_property
from sqlalchemy.util.queue import AsyncAdaptedQueue


class InTurn(asyncio.Queue):
    """An asyncio queue whose getters are served first come, first served: an item put while
    one waits is handed to it, never left for whoever asks next. (So an item is queued only
    while nobody waits, and `get_nowait` takes one only then.)"""

    def put_nowait(self, item: Any) -> None:
        while self._getters:  # type: ignore[attr-defined]
            getter = self._getters.popleft()  # type: ignore[attr-defined]
            if not getter.done():
                getter.set_result(item)
                return
        super().put_nowait(item)

    @property
    def waiting(self) -> int:
        """Tasks waiting for an item now."""
        return sum(not getter.done() for getter in self._getters)  # type: ignore[attr-defined]

    async def get(self) -> Any:
        if not self.empty():
            return self.get_nowait()
        getter = asyncio.get_running_loop().create_future()
        self._getters.append(getter)  # type: ignore[attr-defined]
        try:
            return await getter
        except BaseException:
            if getter.done() and not getter.cancelled():
                self.put_nowait(getter.result())  # handed over as this task gave up: to the next
            else:
                getter.cancel()
                try:
                    self._getters.remove(getter)  # type: ignore[attr-defined]
                except ValueError:
                    pass
            raise


class _InTurnAdapted(AsyncAdaptedQueue):
    @memoized_property
    def _queue(self) -> asyncio.Queue:  # made at first use, on the loop that uses it (as SQLAlchemy's)
        return InTurn(maxsize=self.maxsize)


class InTurnPool(AsyncAdaptedQueuePool):
    """SQLAlchemy's asyncio queue pool, serving the tasks that wait for a connection in turn."""

    _queue_class = _InTurnAdapted
