"""Limits on attempts (password checks, reset requests), counted in the database.

The API scales out to several processes on PostgreSQL, so a counter in process memory would
let a guesser spread attempts over them; every process reads and writes the same
`auth_attempts` rows instead. A limit is a sliding window: at most ``most`` attempts under one
key (an email, a client address) in the last ``window``.

An attempt is written *before* it is counted and checked, so concurrent attempts cannot all
see the same old count: the k-th attempt to commit counts at least k rows. An attempt that is
refused is deleted again (nothing was checked, so it is not a guess), which lets the window
drain while a guesser keeps knocking. Rows older than the longest window are pruned.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from silkcharge.domain.clock import utcnow
from silkcharge.store.schema import AuthAttempt

PRUNE_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class Limit:
    scope: str
    """What is counted and under which key, e.g. ``login-email``; at most 16 characters."""
    most: int
    window: timedelta
    refusal: str
    """Said when the limit is reached; must not reveal whether an account exists."""


class TooManyAttempts(Exception):
    """A limit is reached: the message says which, `retry_after` when to try again."""

    def __init__(self, reason: str, retry_after: timedelta) -> None:
        minutes = max(1, math.ceil(retry_after.total_seconds() / 60))
        super().__init__(f"{reason}; try again in {minutes} minute{'s' if minutes > 1 else ''}")
        self.retry_after = retry_after

    @property
    def retry_after_seconds(self) -> int:
        return max(1, math.ceil(self.retry_after.total_seconds()))


@dataclass(frozen=True)
class Attempt:
    """The rows one attempt wrote, by scope, so a success can take its own back."""

    ids: dict[str, int]


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class AttemptLimiter:
    def __init__(
        self, sessions: async_sessionmaker, longest_window: timedelta,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._keep = longest_window
        self._clock = clock
        self._pruned_at: datetime | None = None

    async def begin(self, under: list[tuple[Limit, str | None]]) -> Attempt:
        """Count one attempt under each (limit, key); a None key is not counted. Raises
        `TooManyAttempts` (counting nothing) if any limit is over with this attempt."""
        now = self._clock()
        await self._prune(now)
        counted = [(limit, key_digest(key)) for limit, key in under if key]
        async with self._sessions.begin() as session:
            rows = [AuthAttempt(scope=limit.scope, key_hash=digest, at=now)
                    for limit, digest in counted]
            session.add_all(rows)
            await session.flush()
            ids = {row.scope: row.id for row in rows}
        for limit, digest in counted:
            retry_after = await self._over(limit, digest, now)
            if retry_after is not None:
                await self._delete(list(ids.values()))
                raise TooManyAttempts(limit.refusal, retry_after)
        return Attempt(ids)

    async def forgive(self, attempt: Attempt, limit: Limit) -> None:
        """Take back this attempt's count under `limit` (it turned out not to be a failure)."""
        if limit.scope in attempt.ids:
            await self._delete([attempt.ids[limit.scope]])

    async def clear(self, limit: Limit, key: str) -> None:
        """Start the count under `key` afresh (a successful login resets its email's count)."""
        async with self._sessions.begin() as session:
            await session.execute(delete(AuthAttempt).where(
                AuthAttempt.scope == limit.scope, AuthAttempt.key_hash == key_digest(key)))

    async def _over(self, limit: Limit, digest: str, now: datetime) -> timedelta | None:
        """None if the attempts in the window, this one included, are within the limit; else
        how long until enough of the earlier ones leave the window for one more."""
        async with self._sessions() as session:
            times = (await session.scalars(
                select(AuthAttempt.at).where(
                    AuthAttempt.scope == limit.scope, AuthAttempt.key_hash == digest,
                    AuthAttempt.at > now - limit.window)
                .order_by(AuthAttempt.at, AuthAttempt.id)
            )).all()
        if len(times) <= limit.most:
            return None
        earlier = len(times) - 1  # without this attempt, which will be deleted
        leaves = times[earlier - limit.most]  # once it leaves, `most - 1` earlier ones remain
        return max(leaves + limit.window - now, timedelta(seconds=1))

    async def _delete(self, ids: list[int]) -> None:
        async with self._sessions.begin() as session:
            await session.execute(delete(AuthAttempt).where(AuthAttempt.id.in_(ids)))

    async def _prune(self, now: datetime) -> None:
        """Drop attempts no window can see any more; at most once a minute per process."""
        if self._pruned_at is not None and now - self._pruned_at < PRUNE_EVERY:
            return
        self._pruned_at = now
        async with self._sessions.begin() as session:
            await session.execute(delete(AuthAttempt).where(AuthAttempt.at <= now - self._keep))
