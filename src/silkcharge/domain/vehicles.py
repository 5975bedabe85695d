"""Electric vehicles as the trip planner and the driver pages need them.

A `Vehicle` is one trim of one model year for one market: a China-market (CN) car carries
GB/T inlets, its export twin CCS2 and Type 2, so they are two vehicles with two ids. Its
`ChargingCurve` gives DC power by state of charge, either measured (from the Kilowatt open EV
dataset) or a default shape built from the peak power and chemistry; `curve_source` says
which, and the planner should treat default curves as rough.

Physical quantities are floats: kWh, kW, Wh/km, km, hours. The packaged catalog is built by
`scripts/build_vehicle_catalog.py`; `load_catalog()` is the only I/O in this module.
"""

from __future__ import annotations

import bisect
import difflib
import json
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from importlib import resources

from silkcharge.domain.connectors import ConnectorStandard, CurrentType, parse_standard

__all__ = [
    "Catalog",
    "ChargingCurve",
    "CompareError",
    "CurveSource",
    "Market",
    "UnknownVehicle",
    "Vehicle",
    "catalog_from_dict",
    "load_catalog",
]

COMPARE_MIN = 2
COMPARE_MAX = 4


class Market(StrEnum):
    CN = "CN"
    EU = "EU"
    GLOBAL = "global"


class CurveSource(StrEnum):
    KILOWATT = "kilowatt"
    """Measured curve from the Kilowatt dataset: of this car, or of a similar one (see
    `Vehicle.curve_match`), scaled to this car's peak power."""
    DEFAULT = "default"
    """Generic shape from peak power and chemistry: no measured curve fitted."""


class UnknownVehicle(KeyError):
    """No vehicle has this id; `suggestions` holds the closest ids."""

    def __init__(self, vehicle_id: str, suggestions: Sequence[str]) -> None:
        super().__init__(vehicle_id)
        self.vehicle_id = vehicle_id
        self.suggestions = tuple(suggestions)

    def __str__(self) -> str:
        hint = f"; did you mean {', '.join(self.suggestions)}?" if self.suggestions else ""
        return f"unknown vehicle {self.vehicle_id!r}{hint}"


class CompareError(ValueError):
    """A comparison needs between two and four distinct, known vehicles."""


@dataclass(frozen=True, slots=True)
class ChargingCurve:
    """DC charging power (kW) against state of charge (%), linear between points.

    Below the first and above the last point the end powers hold. Powers must be positive:
    a zero would make the time to charge through it infinite.
    """

    points: tuple[tuple[float, float], ...]

    def __post_init__(self) -> None:
        if len(self.points) < 2:
            raise ValueError("a charging curve needs at least two points")
        socs = [soc for soc, _ in self.points]
        if any(b <= a for a, b in zip(socs, socs[1:])):
            raise ValueError(f"curve SoC values must increase strictly: {socs}")
        if socs[0] < 0 or socs[-1] > 100:
            raise ValueError(f"curve SoC values must lie in 0..100: {socs}")
        if any(kw <= 0 for _, kw in self.points):
            raise ValueError("curve powers must be positive")

    @classmethod
    def from_pairs(cls, pairs: Iterable[Sequence[float]]) -> ChargingCurve:
        return cls(tuple((float(soc), float(kw)) for soc, kw in pairs))

    @property
    def peak_kw(self) -> float:
        return max(kw for _, kw in self.points)

    def power_at(self, soc: float) -> float:
        """Power in kW the car accepts at `soc` percent (no charger limit)."""
        socs = [s for s, _ in self.points]
        if soc <= socs[0]:
            return self.points[0][1]
        if soc >= socs[-1]:
            return self.points[-1][1]
        i = bisect.bisect_right(socs, soc)
        (s0, p0), (s1, p1) = self.points[i - 1], self.points[i]
        return p0 + (p1 - p0) * (soc - s0) / (s1 - s0)

    def time_to_charge(self, soc_from: float, soc_to: float, battery_kwh: float,
                       max_power_kw: float | None = None) -> float:
        """Hours to raise the battery from `soc_from` to `soc_to` percent.

        Power is min(curve, `max_power_kw`) (the charger's or cable's limit; None for none).
        The integral of energy over power is exact for the piecewise-linear curve: the range
        is cut at every curve point and where the curve crosses the cap, and on each piece
        dt = (battery/100) ds / (a + b s) integrates to a logarithm. Energy is on the battery
        side: charger losses are not included.
        """
        _check_soc(soc_from, "soc_from")
        _check_soc(soc_to, "soc_to")
        if soc_to < soc_from:
            raise ValueError(f"soc_to ({soc_to}) is below soc_from ({soc_from})")
        if battery_kwh <= 0:
            raise ValueError("battery_kwh must be positive")
        if max_power_kw is not None and max_power_kw <= 0:
            raise ValueError("max_power_kw must be positive")
        cap = math.inf if max_power_kw is None else max_power_kw
        hours = 0.0
        cuts = self._cuts(soc_from, soc_to, cap)
        for a, b in zip(cuts, cuts[1:]):
            if self.power_at((a + b) / 2) >= cap:  # pieces lie wholly on one side of cap
                hours += (b - a) / cap
            else:
                hours += _segment_hours(b - a, min(self.power_at(a), cap),
                                        min(self.power_at(b), cap))
        return hours * battery_kwh / 100.0

    def _cuts(self, soc_from: float, soc_to: float, cap: float) -> list[float]:
        cuts = {soc_from, soc_to}
        cuts.update(s for s, _ in self.points if soc_from < s < soc_to)
        for (s0, p0), (s1, p1) in zip(self.points, self.points[1:]):
            if (p0 - cap) * (p1 - cap) < 0:
                crossing = s0 + (cap - p0) * (s1 - s0) / (p1 - p0)
                if soc_from < crossing < soc_to:
                    cuts.add(crossing)
        return sorted(cuts)


def _unique_labels(vehicles: Iterable[Vehicle]) -> dict[str, str]:
    groups: dict[str, list[Vehicle]] = {}
    for v in vehicles:
        groups.setdefault(v.name, []).append(v)
    labels: dict[str, str] = {}
    for name, group in groups.items():
        if len(group) == 1:
            continue
        for v in group:
            labels[v.id] = f"{name} · {_variant_slug(v) or 'base'}"
        if len({labels[v.id] for v in group}) < len(group):
            for v in group:
                labels[v.id] = f"{labels[v.id]} · {v.battery_kwh:g} kWh, {v.dc_kw:g} kW"
        if len({labels[v.id] for v in group}) < len(group):
            for v in group:
                labels[v.id] = f"{name} · {v.id}"
    return labels


def _variant_slug(v: Vehicle) -> str:
    """What the id adds to make, model, trim, year and market (e.g. 'sportback')."""
    words = v.id.split("-")
    known = set("-".join([v.make, v.model, v.trim, str(v.year), str(v.market)]).lower()
                .replace(" ", "-").split("-"))
    return " ".join(w for w in words if w not in known)


def _segment_hours(width: float, pa: float, pb: float) -> float:
    """Integral of ds / p(s) over a piece of width `width` where p runs linearly pa -> pb."""
    if width == 0:
        return 0.0
    ratio = (pb - pa) / pa
    if abs(ratio) < 1e-12:
        return width / pa
    return width * math.log1p(ratio) / (pb - pa)


def _check_soc(value: float, name: str) -> None:
    if not 0 <= value <= 100:
        raise ValueError(f"{name} must be a percentage in 0..100, got {value}")


@dataclass(frozen=True, slots=True)
class Vehicle:
    """One trim, model year and market. `provenance` says where each value came from."""

    id: str
    make: str
    model: str
    trim: str
    year: int
    market: Market
    body: str | None
    battery_kwh: float
    chemistry: str | None
    consumption_wh_km: float
    consumption_basis: str
    rated_range_km: Mapping[str, float]
    ac_inlets: tuple[ConnectorStandard, ...]
    ac_kw: float | None
    dc_inlets: tuple[ConnectorStandard, ...]
    dc_kw: float
    voltage_class: str | None
    curve: ChargingCurve
    curve_source: CurveSource
    curve_match: str
    provenance: Mapping[str, str] = field(default_factory=dict)
    sources: tuple[Mapping[str, str], ...] = ()

    @property
    def name(self) -> str:
        trim = "" if self.trim.lower() in ("base", "standard") else f" {self.trim}"
        return f"{self.make} {self.model}{trim} ({self.year}, {self.market})"

    @property
    def inlets(self) -> tuple[ConnectorStandard, ...]:
        return self.ac_inlets + tuple(s for s in self.dc_inlets if s not in self.ac_inlets)

    @property
    def has_default_curve(self) -> bool:
        return self.curve_source is CurveSource.DEFAULT

    def accepts(self, standard: ConnectorStandard) -> bool:
        return standard in self.ac_inlets or standard in self.dc_inlets

    def range_km(self, soc_percent: float = 100.0) -> float:
        """Distance on `soc_percent` of the battery at the catalog consumption."""
        _check_soc(soc_percent, "soc_percent")
        return self.battery_kwh * soc_percent / 100 * 1000 / self.consumption_wh_km

    def dc_charge_hours(self, soc_from: float, soc_to: float,
                        charger_kw: float | None = None) -> float:
        """Hours on a DC charger of `charger_kw` (None: unlimited) from one SoC to another."""
        return self.curve.time_to_charge(soc_from, soc_to, self.battery_kwh, charger_kw)


class Catalog:
    """The vehicles, by id, with lookup, search and side-by-side comparison."""

    def __init__(self, vehicles: Iterable[Vehicle],
                 sources: Mapping[str, Mapping[str, object]] | None = None) -> None:
        self._by_id: dict[str, Vehicle] = {}
        for vehicle in vehicles:
            if vehicle.id in self._by_id:
                raise ValueError(f"duplicate vehicle id {vehicle.id!r}")
            self._by_id[vehicle.id] = vehicle
        self.sources = dict(sources or {})
        self._labels = _unique_labels(self._by_id.values())

    def label(self, vehicle: Vehicle) -> str:
        """The vehicle's name, told apart from any other of the same name (body variant from
        its id, else battery and DC power, else the id)."""
        return self._labels.get(vehicle.id, vehicle.name)

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[Vehicle]:
        return iter(self._by_id.values())

    def __contains__(self, vehicle_id: object) -> bool:
        return vehicle_id in self._by_id

    @property
    def makes(self) -> tuple[str, ...]:
        return tuple(sorted({v.make for v in self}))

    def get(self, vehicle_id: str) -> Vehicle:
        try:
            return self._by_id[vehicle_id]
        except KeyError:
            close = difflib.get_close_matches(vehicle_id.lower(), self._by_id, n=3, cutoff=0.6)
            raise UnknownVehicle(vehicle_id, close) from None

    def search(self, text: str | None = None, make: str | None = None,
               inlet: ConnectorStandard | str | None = None, min_dc_kw: float | None = None,
               market: Market | str | None = None, limit: int | None = 20) -> list[Vehicle]:
        """Vehicles matching every given filter, by make, model, newest year first.

        `text`: every word must occur in the make, model, trim, year or id. `inlet`: the car
        has that inlet (a ConnectorStandard, or text such as 'GB/T DC' or 'ccs2').
        """
        words = text.lower().split() if text else []
        standard = parse_standard(inlet) if isinstance(inlet, str) else inlet
        wanted_market = Market(market) if market is not None else None
        found = []
        for vehicle in self:
            haystack = f"{vehicle.make} {vehicle.model} {vehicle.trim} {vehicle.year} {vehicle.id}"
            if any(word not in haystack.lower() for word in words):
                continue
            if make is not None and vehicle.make.lower() != make.lower():
                continue
            if standard is not None and not vehicle.accepts(standard):
                continue
            if min_dc_kw is not None and vehicle.dc_kw < min_dc_kw:
                continue
            if wanted_market is not None and vehicle.market is not wanted_market:
                continue
            found.append(vehicle)
        found.sort(key=lambda v: (v.make.lower(), v.model.lower(), -v.year, v.id))
        return found if limit is None else found[:limit]

    def compare(self, ids: Sequence[str]) -> dict[str, tuple[object, ...]]:
        """Rows of attribute name -> one value per vehicle, in the order of `ids`."""
        if not COMPARE_MIN <= len(ids) <= COMPARE_MAX:
            raise CompareError(
                f"compare takes {COMPARE_MIN} to {COMPARE_MAX} vehicles, got {len(ids)}")
        if len(set(ids)) != len(ids):
            raise CompareError("compare needs distinct vehicle ids")
        vehicles = [self.get(i) for i in ids]
        rows = {name: tuple(value(v) for v in vehicles) for name, value in _COMPARE_ROWS}
        rows["name"] = tuple(self.label(v) for v in vehicles)  # two of one name told apart
        return rows


def _labels(standards: Iterable[ConnectorStandard]) -> str:
    return ", ".join(s.label for s in standards)


_COMPARE_ROWS = (
    ("id", lambda v: v.id),
    ("name", lambda v: v.name),
    ("market", lambda v: str(v.market)),
    ("body", lambda v: v.body),
    ("battery_kwh", lambda v: v.battery_kwh),
    ("chemistry", lambda v: v.chemistry),
    ("consumption_wh_km", lambda v: v.consumption_wh_km),
    ("consumption_basis", lambda v: v.consumption_basis),
    ("range_km", lambda v: round(v.range_km())),
    ("ac_inlets", lambda v: _labels(v.ac_inlets)),
    ("ac_kw", lambda v: v.ac_kw),
    ("dc_inlets", lambda v: _labels(v.dc_inlets)),
    ("dc_kw", lambda v: v.dc_kw),
    ("dc_10_80_min", lambda v: round(v.dc_charge_hours(10, 80) * 60)),
    ("curve_source", lambda v: str(v.curve_source)),
)


def _vehicle_from_dict(row: Mapping) -> Vehicle:
    ac = tuple(ConnectorStandard(s) for s in row["ac_inlets"])
    dc = tuple(ConnectorStandard(s) for s in row["dc_inlets"])
    if any(s.current is not CurrentType.DC for s in dc):
        raise ValueError(f"{row['id']}: an AC standard is listed as a DC inlet")
    return Vehicle(
        id=row["id"], make=row["make"], model=row["model"], trim=row["trim"],
        year=int(row["year"]), market=Market(row["market"]), body=row.get("body"),
        battery_kwh=float(row["battery_kwh"]), chemistry=row.get("chemistry"),
        consumption_wh_km=float(row["consumption_wh_km"]),
        consumption_basis=row["consumption_basis"],
        rated_range_km={k: float(v) for k, v in row.get("rated_range_km", {}).items()},
        ac_inlets=ac, ac_kw=float(row["ac_kw"]) if row.get("ac_kw") else None,
        dc_inlets=dc, dc_kw=float(row["dc_kw"]), voltage_class=row.get("voltage_class"),
        curve=ChargingCurve.from_pairs(row["curve"]),
        curve_source=CurveSource(row["curve_source"]), curve_match=row["curve_match"],
        provenance=dict(row.get("provenance", {})),
        sources=tuple(dict(s) for s in row.get("sources", ())),
    )


def catalog_from_dict(data: Mapping) -> Catalog:
    """A catalog from the packaged JSON layout (see data/vehicles/README.md)."""
    return Catalog((_vehicle_from_dict(row) for row in data["vehicles"]), data.get("sources"))


@cache
def load_catalog() -> Catalog:
    """The packaged catalog, read once per process."""
    path = resources.files("silkcharge.data").joinpath("vehicles", "catalog.json")
    return catalog_from_dict(json.loads(path.read_text(encoding="utf-8")))
