"""Which station plugs a vehicle can charge from, directly or through an adapter, and how fast.

An `Adapter` goes from a station plug to a car inlet: a "CCS2 to GB/T DC" adapter lets a
China-market car (GB/T DC inlet) charge at a CCS2 station. Adapters are data
(`data/adapters.json`), each with the power it is rated for and how sure we are of it.

The power a car draws at a connector is capped by the connector, the car (`dc_kw` on DC,
`ac_kw` on AC) and the adapter when one is needed; the car's DC curve caps it further by state of
charge, which `ChargingCurve.time_to_charge` applies. `load_adapters()` is the only I/O here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources

from silkcharge.domain.connectors import ConnectorStandard, CurrentType
from silkcharge.domain.vehicles import Vehicle

__all__ = [
    "Access",
    "Adapter",
    "ChargeOption",
    "adapters_from_dict",
    "best_option",
    "effective_power",
    "load_adapters",
    "usable_standards",
]


@dataclass(frozen=True, slots=True)
class Adapter:
    """A cable or converter from a station plug to a car inlet, with its power limit."""

    id: str
    name: str
    station_plug: ConnectorStandard
    car_inlet: ConnectorStandard
    max_kw: float
    source: str
    confidence: str
    max_current_a: float | None = None

    def __post_init__(self) -> None:
        if self.station_plug.current is not self.car_inlet.current:
            raise ValueError(f"adapter {self.id}: an adapter cannot turn AC into DC or back")
        if self.max_kw <= 0:
            raise ValueError(f"adapter {self.id}: max_kw must be positive")


@dataclass(frozen=True, slots=True)
class Access:
    """A station plug a vehicle can use: directly (`adapter` None) or through an adapter."""

    standard: ConnectorStandard
    adapter: Adapter | None = None

    @property
    def direct(self) -> bool:
        return self.adapter is None


@dataclass(frozen=True, slots=True)
class ChargeOption:
    """How a vehicle charges at one station connector: plug, power caps and adapter."""

    standard: ConnectorStandard
    station_kw: float
    power_kw: float
    """The cap on charging power: min(station, car's AC/DC maximum, adapter)."""
    adapter: Adapter | None = None

    @property
    def current(self) -> CurrentType:
        return self.standard.current


def usable_standards(vehicle: Vehicle, adapters: Iterable[Adapter] = ()) -> tuple[Access, ...]:
    """Every station plug the vehicle can charge from: its own inlets first, then adapters.

    A plug the car takes directly is never also listed with an adapter.
    """
    direct = tuple(Access(s) for s in vehicle.inlets)
    own = set(vehicle.inlets)
    adapted = tuple(
        Access(a.station_plug, a) for a in adapters
        if a.car_inlet in own and a.station_plug not in own
    )
    return direct + adapted


def _vehicle_kw(vehicle: Vehicle, standard: ConnectorStandard) -> float:
    if standard.current is CurrentType.DC:
        return vehicle.dc_kw
    return vehicle.ac_kw if vehicle.ac_kw is not None else 0.0


def effective_power(vehicle: Vehicle, standard: ConnectorStandard, station_kw: float,
                    adapters: Iterable[Adapter] = ()) -> ChargeOption | None:
    """The fastest way the vehicle charges at a `standard` connector of `station_kw`.

    Direct use wins when the car has the inlet; otherwise the adapter allowing the most power.
    None when no inlet or adapter fits (or the car cannot take that current at all).
    """
    return _effective_power(vehicle, standard, station_kw, usable_standards(vehicle, adapters))


def _effective_power(vehicle: Vehicle, standard: ConnectorStandard, station_kw: float,
                     accesses: tuple[Access, ...]) -> ChargeOption | None:
    best: ChargeOption | None = None
    for access in accesses:
        if access.standard is not standard:
            continue
        inlet = standard if access.adapter is None else access.adapter.car_inlet
        caps = [station_kw, _vehicle_kw(vehicle, inlet)]
        if access.adapter is not None:
            caps.append(access.adapter.max_kw)
        power = min(caps)
        if power <= 0:
            continue
        if best is None or power > best.power_kw:
            best = ChargeOption(standard, station_kw, power, access.adapter)
        if access.adapter is None:
            break
    return best


def best_option(vehicle: Vehicle, connectors: Iterable[tuple[ConnectorStandard, float]],
                adapters: Iterable[Adapter] = ()) -> ChargeOption | None:
    """The most powerful option among (standard, station kW) connectors; ties prefer direct."""
    accesses = usable_standards(vehicle, adapters)  # once, not per connector
    best: ChargeOption | None = None
    for standard, kw in connectors:
        option = _effective_power(vehicle, standard, kw, accesses)
        if option is None:
            continue
        if best is None or (option.power_kw, option.adapter is None) > (
                best.power_kw, best.adapter is None):
            best = option
    return best


def adapters_from_dict(data: dict) -> tuple[Adapter, ...]:
    """Adapters from the packaged JSON layout (see `data/adapters.json`)."""
    return tuple(
        Adapter(
            id=row["id"], name=row["name"],
            station_plug=ConnectorStandard(row["station_plug"]),
            car_inlet=ConnectorStandard(row["car_inlet"]),
            max_kw=float(row["max_kw"]), source=row["source"], confidence=row["confidence"],
            max_current_a=row.get("max_current_a"),
        )
        for row in data["adapters"]
    )


@cache
def load_adapters() -> tuple[Adapter, ...]:
    """The packaged adapters, read once per process."""
    text = resources.files("silkcharge.data").joinpath("adapters.json").read_text(encoding="utf-8")
    return adapters_from_dict(json.loads(text))
