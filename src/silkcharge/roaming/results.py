"""What the commands and chargingprofiles desks share: a request accepted now and answered
later. The work runs in the background (the request's response already went); its result is
POSTed to the partner's `response_url`, tried `attempts` times, `retry_delay` apart and
doubling; the request's row keeps when the result was delivered or why the last try failed.
Both modules' rows (RoamingCommand, RoamingChargingProfile) have `delivered_at` and
`delivery_error` for this."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import async_sessionmaker

from silkcharge.domain.clock import utcnow
from silkcharge.roaming.partners import PartnerService
from silkcharge.store.schema import RoamingPartner

log = logging.getLogger(__name__)


class AsyncResults:
    """The background work of one desk, and the posting of its results."""

    def __init__(
        self, sessions: async_sessionmaker, partners: PartnerService, table: Any, what: str, *,
        attempts: int, retry_delay: float,
    ) -> None:
        self._sessions = sessions
        self._partners = partners
        self._table = table
        self._what = what  # for the log: "roaming command", ...
        self.attempts = attempts
        self.retry_delay = retry_delay
        self._running: set[asyncio.Task] = set()

    def run(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` in the background, until done or `stop`."""
        task = asyncio.create_task(work)
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def stop(self) -> None:
        """Stop the work still running (a stopping server sends no more results)."""
        for task in list(self._running):
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)

    async def idle(self) -> None:
        """Wait until all work started so far has its result posted (or given up)."""
        while self._running:
            await asyncio.gather(*list(self._running), return_exceptions=True)

    async def post(self, row_id: int, partner_id: int, response_url: str, body: dict[str, Any]) -> None:
        """POST `body` to the partner's `response_url`, recording on row `row_id` how it went."""
        delay = self.retry_delay
        for attempt in range(1, self.attempts + 1):
            try:
                async with self._sessions() as session:
                    partner = await session.get(RoamingPartner, partner_id)
                async with await self._partners.client_for(partner) as client:
                    await client.post(response_url, body)
            except Exception as exc:  # the partner's refusal (OcpiPeerError), its absence, anything: tried again
                error = f"posting the result failed (attempt {attempt} of {self.attempts}): {exc}"
                log.warning("%s %s: %s", self._what, row_id, error)
                await self._record(row_id, delivery_error=error[:500])
                if attempt < self.attempts:
                    await asyncio.sleep(delay)
                    delay *= 2
                continue
            await self._record(row_id, delivered_at=utcnow(), delivery_error=None)
            return
        log.error("%s %s: its result %s never reached the partner", self._what, row_id, body.get("result"))

    async def _record(self, row_id: int, **values: Any) -> None:
        async with self._sessions.begin() as session:
            await session.execute(update(self._table).where(self._table.id == row_id).values(**values))
