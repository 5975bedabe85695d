"""Writes that need not hold up a reply, batched: the OCPP message log and station presence.

A station's transaction data is committed before its reply (see TransactionService); the log of
frames and the 'last seen' times are kept too, but a crash may lose the last fraction of a
second of them, which is the price of not paying one database round-trip per frame.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from sqlalchemy import bindparam, insert, update
from sqlalchemy.ext.asyncio import async_sessionmaker

from silkcharge.store.schema import OcppMessage, Station

log = logging.getLogger(__name__)

_stations = Station.__table__
_TOUCH = (
    update(_stations)
    .where(_stations.c.id == bindparam("sid"))
    .values(last_seen_at=bindparam("seen"))
)


class BatchWriter:
    def __init__(self, sessions: async_sessionmaker, flush_seconds: float = 0.25) -> None:
        self._sessions = sessions
        self._flush_seconds = flush_seconds
        self._messages: list[dict] = []
        self._seen: dict[str, datetime] = {}
        self._task: asyncio.Task | None = None
        self._wake = asyncio.Event()

    def log_message(
        self,
        station_id: str,
        direction: str,
        message_type: int,
        message_id: str | None,
        action: str | None,
        payload: str,
        at: datetime,
        error_code: str | None = None,
    ) -> None:
        self._messages.append(
            {
                "station_id": station_id,
                "direction": direction,
                "message_type": message_type,
                "message_id": message_id,
                "action": action,
                "payload": payload,
                "error_code": error_code,
                "at": at,
            }
        )

    def seen(self, station_id: str, at: datetime) -> None:
        self._seen[station_id] = at

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="batch-writer")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        await self.flush()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._flush_seconds)
            try:
                await self.flush()
            except Exception:  # the log must never take the gateway down; retry next round
                log.exception("could not write the message log batch; will retry")

    async def flush(self) -> None:
        messages, self._messages = self._messages, []
        seen, self._seen = self._seen, {}
        if not messages and not seen:
            return
        try:
            async with self._sessions.begin() as session:
                if messages:
                    await session.execute(insert(OcppMessage), messages)
                if seen:
                    await session.execute(
                        _TOUCH, [{"sid": sid, "seen": at} for sid, at in seen.items()]
                    )
        except Exception:
            self._messages[:0] = messages
            for sid, at in seen.items():
                self._seen.setdefault(sid, at)
            raise
