"""Retention: data kept only as long as its purpose needs, each kind by its own setting.

One sweep, every ``retention_sweep_every`` seconds where the API runs, deletes what is past
its time. Each kind goes in chunks, a database transaction each, so the gateway's writes never
wait long behind it. The OCPP message log has its own pruning in the batch writer
(``message_log_days``, `services/writer.py`) and failed-login counts leave with their window
(`services/attempts.py`); docs/security.md lists every kind with its setting.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from silkcharge.domain.clock import utcnow
from silkcharge.store.residency import each_database
from silkcharge.store.schema import (
    CdrReview,
    ChargeDetailRecord,
    DriverPasswordReset,
    DriverSession,
    MeterSample,
    RoamingActiveProfile,
    RoamingChargingProfile,
    Transaction,
)

log = logging.getLogger(__name__)
ENDED = "Ended"


@dataclass(frozen=True)
class Retention:
    driver_sessions: timedelta
    """Ended log-in sessions (expired, logged out by a password change, of a deleted account)."""
    reset_links: timedelta
    """Password-reset links, counted from their expiry (used or not)."""
    meter_samples: timedelta | None
    """Samples of sessions that ended this long ago; None keeps them."""
    roaming_profiles: timedelta | None = None
    """OCPI charging profile exchanges with partners (requests either way, our pushes, the
    profiles partners pushed us) this old; None keeps them."""


class RetentionSweep:
    def __init__(
        self, sessions: async_sessionmaker, retention: Retention, *, every: float = 3600.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._retention = retention
        self._every = every
        self._clock = clock
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="retention-sweep")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._every)
            try:
                deleted = await self.sweep()
            except Exception:  # a sweep that fails is tried again next round; nothing is lost by waiting
                log.exception("the retention sweep failed; it runs again in %g s", self._every)
                continue
            if any(deleted.values()):
                log.info("retention sweep deleted %s", ", ".join(f"{n} {kind}" for kind, n in deleted.items()))

    async def sweep(self, chunk: int = 5_000) -> dict[str, int]:
        """Delete everything past its retention now; how many rows of each kind went."""
        now, keep = self._clock(), self._retention
        deleted = {
            "driver sessions": await self._chunked(
                DriverSession, DriverSession.expires_at < now - keep.driver_sessions, chunk),
            "password-reset links": await self._chunked(
                DriverPasswordReset, DriverPasswordReset.expires_at < now - keep.reset_links, chunk),
        }
        if keep.meter_samples is not None:  # a tenant's data: in each database (store/residency.py)
            cutoff = now - keep.meter_samples
            deleted["meter samples"] = sum(await each_database(self._sessions, lambda: self._chunked(
                MeterSample, MeterSample.transaction_id.in_(_ended_before(cutoff)), chunk)))
        if keep.roaming_profiles is not None:
            cutoff = now - keep.roaming_profiles
            deleted["roaming charging profiles"] = sum(await each_database(self._sessions, lambda: self._chunked(
                RoamingChargingProfile, RoamingChargingProfile.created_at < cutoff, chunk)))
            deleted["profiles partners pushed"] = sum(await each_database(self._sessions, lambda: self._chunked(
                RoamingActiveProfile, RoamingActiveProfile.received_at < cutoff, chunk)))
        return deleted

    async def _chunked(self, model, condition, chunk: int) -> int:
        total = 0
        while True:
            async with self._sessions.begin() as session:
                ids = select(model.id).where(condition).limit(chunk).scalar_subquery()
                result = await session.execute(delete(model).where(model.id.in_(ids)))
            total += result.rowcount or 0
            if not result.rowcount or result.rowcount < chunk:
                return total
            await asyncio.sleep(0)


def _ended_before(cutoff: datetime):
    """Sessions ended before `cutoff` whose CDR is not waiting for review (a held CDR may be
    corrected from its samples)."""
    held = (select(ChargeDetailRecord.transaction_id)
            .join(CdrReview, CdrReview.cdr_id == ChargeDetailRecord.id)
            .where(CdrReview.status == "held", ChargeDetailRecord.transaction_id.is_not(None)))
    return (select(Transaction.id)
            .where(Transaction.state == ENDED, func.coalesce(Transaction.stopped_at, Transaction.started_at) < cutoff)
            .where(Transaction.id.not_in(held)))
