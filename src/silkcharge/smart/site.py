"""A site: its grid connection, a tree of circuits, and the optional base load, solar and prices.

**Internal unit: amperes per phase.** Fuses and breakers are rated per phase, so every circuit
limit is kept in A; a limit given in kW is converted as A = kW x 1000 / (V x 3) (a balanced
three-phase circuit). Real-time load management counts a session's current against *every*
phase of each circuit it passes: without knowing how single-phase chargers are rotated across
phases, the worst case is that they all sit on the same one, and this is safe for that case.

Every charger (EVSE) hangs from one circuit and inherits every limit above it, up to the grid
connection, which is the root circuit.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Protocol


class SiteError(ValueError):
    """A site description that cannot be right (the message says what)."""


def kw_to_amps(kw: float, voltage: float = 230.0, phases: int = 3) -> float:
    return kw * 1000.0 / (voltage * phases)


def amps_to_kw(amps: float, voltage: float = 230.0, phases: int = 3) -> float:
    return amps * voltage * phases / 1000.0


@dataclass(frozen=True)
class Circuit:
    """A fuse or breaker: its limit in A per phase, the circuits below it, the EVSEs on it."""

    id: str
    limit_a: float
    children: tuple[Circuit, ...] = ()
    evse_ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.limit_a < 0:
            raise SiteError(f"circuit {self.id}: limit {self.limit_a} A is negative")

    @classmethod
    def in_kw(cls, id: str, kw: float, voltage: float = 230.0, **kw_args) -> Circuit:
        return cls(id, kw_to_amps(kw, voltage), **kw_args)

    def walk(self, path: tuple[str, ...] = ()) -> Iterator[tuple[Circuit, tuple[str, ...]]]:
        here = (*path, self.id)
        yield self, here
        for child in self.children:
            yield from child.walk(here)


@dataclass(frozen=True)
class TimeSeries:
    """Values (W for loads and production) constant over slots of `step` from `start`."""

    start: datetime
    step: timedelta
    values: tuple[float, ...]

    def at(self, moment: datetime) -> float:
        """The value at `moment`; 0 outside the series."""
        index = (moment - self.start) // self.step
        return self.values[index] if 0 <= index < len(self.values) else 0.0

    def mean(self, begin: datetime, end: datetime, samples: int = 4) -> float:
        span = end - begin
        return sum(self.at(begin + span * ((k + 0.5) / samples)) for k in range(samples)) / samples


@dataclass(frozen=True)
class PriceBand:
    starts: time  # local clock time at which this price begins
    price_per_kwh: Decimal


@dataclass(frozen=True)
class TimeOfUsePrices:
    """Energy prices by local time of day, plus a demand charge per kW of peak grid draw.

    Central Asian utilities publish two- and three-zone tariffs by local clock time, so bands
    are given in local time with the zone's fixed UTC offset (Almaty and Dushanbe: +5).
    """

    currency: str
    bands: tuple[PriceBand, ...]
    utc_offset: timedelta = timedelta(0)
    demand_charge_per_kw: Decimal = Decimal(0)

    def __post_init__(self) -> None:
        if not self.bands:
            raise SiteError("time-of-use prices need at least one band")
        object.__setattr__(self, "bands", tuple(sorted(self.bands, key=lambda b: b.starts)))

    def price_at(self, moment: datetime) -> Decimal:
        local = (moment + self.utc_offset).time()
        current = self.bands[-1]  # the last band of the day runs past midnight
        for band in self.bands:
            if band.starts <= local:
                current = band
        return current.price_per_kwh


class SolarForecast(Protocol):
    """Production of the site's panels (W); `solar.PvArray` is the clear-sky one."""

    def power_w(self, moment: datetime) -> float: ...

    def forecast(self, start: datetime, step: timedelta, count: int) -> TimeSeries: ...


@dataclass(frozen=True)
class Site:
    """A site: `grid` is the root circuit (the connection); `voltage` is phase-to-neutral."""

    id: str
    grid: Circuit
    voltage: float = 230.0
    base_load: TimeSeries | None = None
    solar: SolarForecast | None = None
    prices: TimeOfUsePrices | None = None
    _paths: dict[str, tuple[str, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        paths: dict[str, tuple[str, ...]] = {}
        seen: set[str] = set()
        for circuit, path in self.grid.walk():
            if circuit.id in seen:
                raise SiteError(f"circuit id {circuit.id!r} appears twice")
            seen.add(circuit.id)
            for evse in circuit.evse_ids:
                if evse in paths:
                    raise SiteError(f"EVSE {evse!r} hangs from two circuits")
                paths[evse] = path
        object.__setattr__(self, "_paths", paths)

    def path(self, evse_id: str) -> tuple[str, ...]:
        """The circuits from the grid connection down to the one `evse_id` hangs from."""
        try:
            return self._paths[evse_id]
        except KeyError:
            raise SiteError(f"EVSE {evse_id!r} is on no circuit of site {self.id}") from None

    def limits_a(self) -> dict[str, float]:
        return {circuit.id: circuit.limit_a for circuit, _ in self.grid.walk()}

    @property
    def evse_ids(self) -> tuple[str, ...]:
        return tuple(self._paths)
