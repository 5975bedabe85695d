"""A background job that runs again and again: the loop, its task and its stop, in one place.

A failed run is logged and the next one comes all the same (a bad pass must never end the
loop); `stop` cancels the task and waits for it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)


class Periodic:
    """Run `job` at start and then `every` seconds after each run ends (or first after `every`
    with `at_once=False`); `name` names the task and the log line of a failure."""

    def __init__(self, name: str, job: Callable[[], Awaitable[Any]], every: float, *, at_once: bool = True) -> None:
        self._name = name
        self._job = job
        self._every = every
        self._at_once = at_once
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self._name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        if not self._at_once:
            await asyncio.sleep(self._every)
        while True:
            try:
                await self._job()
            except Exception:
                log.exception("%s failed; it runs again in %g s", self._name, self._every)
            await asyncio.sleep(self._every)
