"""Reads asked for one key at a time, answered many keys at a time.

Many callers asking the store the same question about different keys at the same moment (each
station's reply in a committed batch asks for its session's running cost) can share one read:
`Gathered.ask(key)` waits while the read in progress finishes, then all keys asked meanwhile
are read together, in one session and one statement. With no read in progress, an ask waits
one turn of the event loop for others made in the same turn, and no longer. The same key asked
twice in one round is read once.

A read runs as the first asker's unit of work would: asks are gathered per tenant and database
in scope (store/tenancy.py, store/residency.py), and each round runs in the context of the
first of its askers, so its sessions go where each asker's own would.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

from silkcharge.store.group_commit import StoreUnavailable
from silkcharge.store.residency import current_database
from silkcharge.store.tenancy import current_tenant

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

_Place = tuple[int | None, str | None]


class _Round(Generic[K, V]):
    def __init__(self, context: contextvars.Context) -> None:
        self.context = context
        self.asked: dict[K, asyncio.Future[V]] = {}


class Gathered(Generic[K, V]):
    """`read` answers a list of keys with a dict holding every one of them; at most `at_most`
    keys are read at once (more wait for the next round)."""

    def __init__(self, read: Callable[[list[K]], Awaitable[dict[K, V]]], *, name: str, at_most: int = 500) -> None:
        self._read = read
        self._name = name
        self._at_most = at_most
        self._waiting: dict[_Place, _Round[K, V]] = {}
        self._reading: dict[_Place, asyncio.Task] = {}
        self.rounds = 0
        """Reads made so far (for tests and metrics)."""

    async def ask(self, key: K) -> V:
        place = (current_tenant(), current_database())
        waiting = self._waiting.get(place)
        if waiting is None:
            waiting = self._waiting[place] = _Round(contextvars.copy_context())
        future = waiting.asked.get(key)
        if future is None:
            future = waiting.asked[key] = asyncio.get_running_loop().create_future()
        if place not in self._reading:
            task = asyncio.create_task(self._rounds(place), name=f"gathered-{self._name}", context=waiting.context)
            self._reading[place] = task
        # Shielded: an asker that gives up (its station went away) cancels nothing shared.
        return await asyncio.shield(future)

    async def _rounds(self, place: _Place) -> None:
        try:
            await asyncio.sleep(0)  # the asks of this turn of the loop join the first
            while self._waiting.get(place):
                taken = self._take(place)
                self.rounds += 1
                try:
                    answers = await self._read(list(taken))
                except Exception as error:  # this round's askers get the error; the next round is read anew
                    for future in taken.values():
                        if not future.done():
                            future.set_exception(error)
                    continue
                except BaseException:  # the read was cancelled: the server is stopping
                    for future in taken.values():
                        if not future.done():
                            future.set_exception(StoreUnavailable("the server is stopping"))
                    raise
                for key, future in taken.items():
                    if future.done():
                        continue
                    if key in answers:
                        future.set_result(answers[key])
                    else:
                        future.set_exception(LookupError(f"{self._name}: no answer for {key!r}"))
        finally:
            self._reading.pop(place, None)
            # Only a cancelled task (the server stopping) leaves asks behind: they hear it now.
            left = self._waiting.pop(place, None)
            for future in left.asked.values() if left else ():
                if not future.done():
                    future.set_exception(StoreUnavailable("the server is stopping"))

    def _take(self, place: _Place) -> dict[K, asyncio.Future[V]]:
        waiting = self._waiting[place]
        if len(waiting.asked) <= self._at_most:
            del self._waiting[place]
            return waiting.asked
        keys = list(waiting.asked)[: self._at_most]
        return {key: waiting.asked.pop(key) for key in keys}
