"""Real-time load management: share the site's circuits among the sessions charging now.

Given the circuit limits (A per phase) and the active sessions, `allocate` returns a current
limit per session such that no circuit carries more than its limit. The algorithm, in order:

1. **Unmanaged draw first.** A station that does not obey charging profiles is assumed to
   draw its maximum current; that draw is subtracted from every circuit on its path. If it
   alone exceeds a circuit, that circuit is reported in `overloaded` and every managed
   session below it is paused (0 A): it is all we can do.
2. **Admission (the minimum step rule).** A car either gets at least its minimum current
   (6 A by IEC 61851) or 0 A, never less. Sessions are considered in order of priority
   (highest first), then arrival (earliest first), then EVSE id; each is admitted if its
   minimum still fits on every circuit of its path, otherwise paused. So when not everyone
   fits, the lowest priority is paused first and, within a priority, the latest arrival.
3. **Strict priority; within a priority, departures first, then max-min fair (water-filling).**
   The admitted sessions hold their minimum. The remaining capacity goes to the highest
   priority class first. A car that said what energy it needs by when (ISO 15118 departure
   time, OCPP K15) has a `needed_current`: first the class's cars with one are raised toward it
   (a common level L rises and each gets clamp(L, min, min(needed, max)) until a circuit on its
   path is full or it reaches its need; then it is frozen and the level keeps rising for the
   others), so a car that must leave full is served before others share; then every session
   of the class is raised the same way toward its maximum, from where it stands. The next
   class gets what is left.
4. Allocations are rounded down to 0.1 A, the resolution OCPP carries.

Guarantees (tested as properties): no circuit over its limit (unless unmanaged draw alone
exceeds it); every admitted session at or above its minimum; on identical paths with equal
minimums, a higher priority never gets less than a lower one unless capped by its own
maximum; within a priority on the same path, a car short of its need means every car
without one there is at its minimum; on a single circuit with everyone admitted, raising the
limit never lowers any allocation. In a tree the last is *not* guaranteed: raising a sub-circuit lets its sessions
take more of a shared parent, which fair sharing then takes from sessions elsewhere.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from silkcharge.smart.site import Site

_EPS = 1e-9


@dataclass(frozen=True)
class ChargingSession:
    """A car charging on an EVSE. Higher `priority` is served first (e.g. taxi fleet = 10)."""

    evse_id: str
    circuit_path: tuple[str, ...]
    max_current: float
    arrival: datetime
    priority: int = 0
    phases: int = 3
    min_current: float = 6.0
    obeys_profiles: bool = True
    needed_current: float | None = None
    """The current that delivers what the car asked for by its departure (K15); None: it did not
    say. Served before the fair share of its priority, never beyond its maximum."""

    def __post_init__(self) -> None:
        if self.max_current < 0 or self.min_current < 0:
            raise ValueError(f"session on {self.evse_id}: negative current")


@dataclass(frozen=True)
class Allocation:
    """Current per EVSE (A per phase). `paused`: managed sessions at 0 A because they do not fit."""

    limits: dict[str, float]
    paused: tuple[str, ...] = ()
    unmanaged: tuple[str, ...] = ()
    overloaded: tuple[str, ...] = ()
    circuit_load: dict[str, float] = field(default_factory=dict)


def sessions_on_site(site: Site, specs: Iterable[dict]) -> list[ChargingSession]:
    """Sessions whose circuit path is read from the site's tree (one dict of fields each)."""
    return [ChargingSession(circuit_path=site.path(spec["evse_id"]), **spec) for spec in specs]


def _order(session: ChargingSession) -> tuple:
    return (-session.priority, session.arrival, session.evse_id)


def allocate(limits: Mapping[str, float], sessions: Iterable[ChargingSession]) -> Allocation:
    """Allocate current to `sessions` under the circuit `limits` (A per phase)."""
    sessions = sorted(sessions, key=_order)
    for session in sessions:
        missing = [c for c in session.circuit_path if c not in limits]
        if missing:
            raise ValueError(f"session on {session.evse_id}: unknown circuits {missing}")
    room = dict(limits)
    result: dict[str, float] = {}
    unmanaged = [s for s in sessions if not s.obeys_profiles]
    for session in unmanaged:
        result[session.evse_id] = session.max_current
        for circuit in session.circuit_path:
            room[circuit] -= session.max_current
    overloaded = tuple(sorted(c for c, r in room.items() if r < -_EPS))
    admitted, paused = [], []
    for session in (s for s in sessions if s.obeys_profiles):
        need = session.min_current
        if session.max_current + _EPS >= need and all(room[c] + _EPS >= need for c in session.circuit_path):
            admitted.append(session)
            for circuit in session.circuit_path:
                room[circuit] -= need
            result[session.evse_id] = need
        else:
            paused.append(session.evse_id)
            result[session.evse_id] = 0.0
    for priority in sorted({s.priority for s in admitted}, reverse=True):
        group = [s for s in admitted if s.priority == priority]
        _water_fill([s for s in group if s.needed_current], room, result, _need)
        _water_fill(group, room, result, _maximum)
    for session in admitted:
        result[session.evse_id] = max(session.min_current, math.floor(result[session.evse_id] * 10 + _EPS) / 10)
    load = {circuit: 0.0 for circuit in limits}
    for session in sessions:
        for circuit in session.circuit_path:
            load[circuit] += result[session.evse_id]
    return Allocation(result, tuple(paused), tuple(s.evse_id for s in unmanaged), overloaded, load)


def _need(session: ChargingSession) -> float:
    """The car's need, up to the next 0.1 A (allocations are rounded down to it: a need met
    exactly would otherwise be sent a little short), within its maximum."""
    need = session.needed_current or 0.0
    if math.isfinite(need):
        need = math.ceil(need * 10 - 1e-6) / 10
    return min(session.max_current, need)


def _maximum(session: ChargingSession) -> float:
    return session.max_current


def _water_fill(
    group: list[ChargingSession], room: dict[str, float], result: dict[str, float],
    cap: Callable[[ChargingSession], float],
) -> None:
    """Raise a common level over `group` (each at least at its minimum) toward each one's `cap`
    as far as `room` allows; a session already above the level keeps what it has.

    `room` is what each circuit has left; it is consumed in place. Each round finds, exactly,
    the level at which the first circuit fills or the first session reaches its cap, by
    bisection on that piecewise-linear, non-decreasing function; then freezes who is stuck.
    """
    base = {s.evse_id: result[s.evse_id] for s in group}
    active = [s for s in group if base[s.evse_id] < cap(s) - 1e-6]
    level = min((base[s.evse_id] for s in active), default=0.0)
    while active:
        def extra(at: float, circuit: str) -> float:
            return sum(
                max(min(at, cap(s)), base[s.evse_id]) - result[s.evse_id]
                for s in active
                if circuit in s.circuit_path
            )

        circuits = {c for s in active for c in s.circuit_path}
        top = max(cap(s) for s in active)

        def fits(at: float) -> bool:
            return all(extra(at, c) <= room[c] + _EPS for c in circuits)

        lo, hi = level, top
        if fits(hi):
            lo = hi
        else:
            for _ in range(60):
                mid = (lo + hi) / 2
                lo, hi = (mid, hi) if fits(mid) else (lo, mid)
        level = lo
        full = {c for c in circuits if extra(level, c) >= room[c] - 1e-6}
        for circuit in circuits:
            room[circuit] -= extra(level, circuit)
        for session in active:
            result[session.evse_id] = max(min(level, cap(session)), base[session.evse_id])
        active = [
            s
            for s in active
            if result[s.evse_id] < cap(s) - 1e-6 and not any(c in full for c in s.circuit_path)
        ]
        if level >= top - 1e-9:
            break


def changed_limits(previous: Mapping[str, float], current: Allocation, tolerance: float = 0.05) -> dict[str, float]:
    """The managed sessions whose limit differs from `previous` (new ones included).

    Only these need a new TxProfile; unmanaged stations are left out (they would ignore it).
    """
    unmanaged = set(current.unmanaged)
    return {
        evse: limit
        for evse, limit in current.limits.items()
        if evse not in unmanaged and (evse not in previous or abs(previous[evse] - limit) > tolerance)
    }
