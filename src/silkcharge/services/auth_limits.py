"""Limits on refused handshakes, per station id and per source address, checked before any hash.

Every wrong password costs a scrypt derivation (~15 ms of CPU), so a caller who may guess
without limit can keep a gateway busy hashing. Each refused handshake (wrong or missing
password, a handshake below the station's security profile, a refused client certificate) counts
against its station id and its source address for `window` seconds; once either has reached its
limit, further handshakes for it are answered 429 at once, without reading the database or
hashing anything, until the oldest counted failure leaves the window. Checks still under way
count too: one that could reach the limit waits until another ends, so a burst of parallel
guesses gets no more hashes than the limit.

The counts live in this process's memory: they are a brake on CPU, not a ledger, and each
gateway process brakes for itself (docs/operations.md says what that means with several).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from silkcharge.domain.security_reasons import Reason, reason

STATION, ADDRESS = "station", "address"


@dataclass(frozen=True)
class Limited:
    """A station id or address over its limit, and when it may try again."""

    scope: str  # STATION or ADDRESS
    key: str
    limit: int
    window: float
    retry_after: int  # whole seconds, at least 1

    @property
    def why(self) -> Reason:
        return reason("too_many_station" if self.scope == STATION else "too_many_address", key=self.key,
                      limit=self.limit, window=f"{self.window:g}", retry=self.retry_after)

    @property
    def reason(self) -> str:
        return self.why.text


class _Window:
    """Failure times per key within the window, for one scope."""

    def __init__(self, scope: str, limit: int, window: float, max_keys: int) -> None:
        self.scope, self.limit, self.window, self._max_keys = scope, limit, window, max_keys
        self._failures: dict[str, deque[float]] = {}
        self._checking: dict[str, int] = {}  # handshakes under way that may still fail

    def over(self, key: str, now: float) -> Limited | None:
        """Whether `key`'s failures within the window have reached the limit."""
        times = self._recent(key, now)
        if len(times) < self.limit:
            return None
        return Limited(self.scope, key, self.limit, self.window, max(1, int(times[0] + self.window - now + 0.999)))

    def room(self, key: str, now: float) -> bool:
        """Whether one more check may start: its failures and the checks under way stay below
        the limit even if all of those fail."""
        return len(self._recent(key, now)) + self._checking.get(key, 0) < self.limit

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.get(key)
        if times is None:
            return deque()
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[key]
        return times

    def reserve(self, key: str) -> None:
        self._checking[key] = self._checking.get(key, 0) + 1

    def release(self, key: str) -> None:
        left = self._checking.get(key, 0) - 1
        if left > 0:
            self._checking[key] = left
        else:
            self._checking.pop(key, None)

    def count(self, key: str, now: float) -> bool:
        """Count a failure; True when it is the one that reaches the limit."""
        times = self._failures.get(key)
        if times is None:
            if len(self._failures) >= self._max_keys:
                self._forget_oldest(now)
            times = self._failures[key] = deque(maxlen=self.limit)
        reaching = len(times) == self.limit - 1
        times.append(now)
        return reaching

    def blocked(self, now: float) -> int:
        return sum(1 for key in list(self._failures) if self.over(key, now) is not None)

    def _forget_oldest(self, now: float) -> None:
        for key in [k for k in list(self._failures) if self.over(k, now) is None]:
            self._failures.pop(key, None)
        while len(self._failures) >= self._max_keys:  # all still counting: drop the earliest seen
            self._failures.pop(next(iter(self._failures)))


class FailedAuthLimiter:
    def __init__(
        self, per_station: int, per_address: int, window: float, *,
        clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000,
    ) -> None:
        self._stations = _Window(STATION, per_station, window, max_keys)
        self._addresses = _Window(ADDRESS, per_address, window, max_keys)
        self._clock = clock
        self._waiters: set[asyncio.Future] = set()  # checks waiting for one under way to end
        self.failures_total = 0  # refused handshakes counted
        self.limited_total = 0  # handshakes answered 429 without a check

    def check(self, station_id: str | None, address: str | None) -> Limited | None:
        """Before anything costly: is this station id or address over its limit?"""
        now = self._clock()
        limited = (self._stations.over(station_id, now) if station_id else None) or (
            self._addresses.over(address, now) if address else None
        )
        if limited is not None:
            self.limited_total += 1
        return limited

    async def reserve(self, station_id: str, address: str | None) -> Limited | None:
        """Before a check that may cost a hash: the limit a station id or address has reached;
        else count this check as under way (until `release`). While the checks under way could
        still reach a limit, wait for one of them to end first: a burst of parallel guesses
        gets no more hashes than the limit, and a site's stations reconnecting together behind
        one address just queue."""
        while True:
            limited = self.check(station_id, address)
            if limited is not None:
                return limited
            now = self._clock()
            if self._stations.room(station_id, now) and (not address or self._addresses.room(address, now)):
                break
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.add(waiter)
            try:
                await waiter
            finally:
                self._waiters.discard(waiter)
        self._stations.reserve(station_id)
        if address:
            self._addresses.reserve(address)
        return None

    def release(self, station_id: str, address: str | None) -> None:
        self._stations.release(station_id)
        if address:
            self._addresses.release(address)
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)

    def failed(self, station_id: str | None, address: str | None) -> list[Limited]:
        """Count a refused handshake (one refused before its station was known, e.g. at the TLS
        layer, counts for its address only); the limits it has just reached, each once."""
        now = self._clock()
        self.failures_total += 1
        reached = []
        if station_id and self._stations.count(station_id, now):
            reached.append(self._stations.over(station_id, now))
        if address and self._addresses.count(address, now):
            reached.append(self._addresses.over(address, now))
        return [r for r in reached if r is not None]

    def blocked(self) -> dict[str, int]:
        """How many station ids and addresses are over their limit now."""
        now = self._clock()
        return {STATION: self._stations.blocked(now), ADDRESS: self._addresses.blocked(now)}
