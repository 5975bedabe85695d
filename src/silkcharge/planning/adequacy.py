"""Adequacy: public charging power per registered EV, and a site's power against its grid link.

Fleet and station counts are dated, sourced data (``silkcharge/data/fleet.json``). Charging
power comes from a given network: the seed network is an illustrative sample, so kW per EV
computed from it is illustrative too, while the station counts beside it are sourced. AFIR's
1.3 kW per battery EV (Art. 3(1)) is the reference line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from importlib import resources
from typing import Any, Sequence

from silkcharge.planning.corridors import PlanningInputError
from silkcharge.planning.network import ChargingSite

AFIR_KW_PER_BEV = Decimal("1.3")


@dataclass(frozen=True)
class AreaAdequacy:
    area: str
    kind: str
    country: str
    evs: int | None
    evs_date: str | None
    evs_source: str | None
    public_stations: int | None
    """Sourced public station count (not from the network), when known."""
    stations_date: str | None
    stations_source: str | None
    evs_per_station: float | None
    network_sites: int
    network_kw: Decimal
    kw_per_ev: Decimal | None
    afir_kw_per_bev: Decimal
    meets_afir: bool | None
    note: str


@cache
def load_fleet() -> dict[str, Any]:
    return json.loads((resources.files("silkcharge.data") / "fleet.json").read_text("utf-8"))


def latest(rows: Sequence[dict[str, Any]], area: str) -> dict[str, Any] | None:
    """The most recent row for an area (dates sort as text: ISO dates, years, 'undated')."""
    found = [r for r in rows if r["area"] == area]
    return max(found, key=lambda r: r["date"] if r["date"][0].isdigit() else "", default=None)


def power_per_ev(sites: Sequence[ChargingSite], fleet: dict[str, Any] | None = None,
                 network_note: str = "") -> list[AreaAdequacy]:
    """kW of public charging per registered EV for every area with a fleet figure.

    A country's network is its sites; a city's is the sites whose ``city`` names it.
    """
    fleet = fleet or load_fleet()
    areas = dict.fromkeys((r["area"], r["kind"], r["country"]) for r in fleet["fleet"])
    result = []
    for area, kind, country in areas:
        ev = latest(fleet["fleet"], area)
        count = latest(fleet.get("stations", []), area)
        mine = [s for s in sites if (s.country == area if kind == "country"
                                     else (s.city or "").casefold() == area.casefold())]
        kw = sum((s.all_kw() for s in mine), Decimal(0))
        per_ev = (kw / ev["evs"]).quantize(Decimal("0.001"), ROUND_HALF_UP) if ev else None
        result.append(AreaAdequacy(
            area=area, kind=kind, country=country,
            evs=ev["evs"] if ev else None, evs_date=ev["date"] if ev else None,
            evs_source=ev["source"] if ev else None,
            public_stations=count["stations"] if count else None,
            stations_date=count["date"] if count else None,
            stations_source=count["source"] if count else None,
            evs_per_station=round(ev["evs"] / count["stations"], 1) if ev and count else None,
            network_sites=len(mine), network_kw=kw, kw_per_ev=per_ev,
            afir_kw_per_bev=AFIR_KW_PER_BEV,
            meets_afir=None if per_ev is None else per_ev >= AFIR_KW_PER_BEV,
            note=network_note,
        ))
    return result


@dataclass(frozen=True)
class GridCheck:
    demand_kw: float
    capacity_kw: float
    ok: bool
    over_kw: float
    """How far the simultaneous demand exceeds the connection (0 when it fits)."""
    headroom_kw: float

    @property
    def message(self) -> str:
        if self.ok:
            return f"ok: {self.demand_kw:.0f} kW fits {self.capacity_kw:.0f} kW " \
                   f"({self.headroom_kw:.0f} kW spare)"
        return f"over by {self.over_kw:.0f} kW: {self.demand_kw:.0f} kW on a " \
               f"{self.capacity_kw:.0f} kW connection"


def check_grid_connection(charger_kw: Sequence[float], simultaneity: float, grid_kva: float,
                          power_factor: float = 0.98) -> GridCheck:
    """Whether the chargers' simultaneous demand fits the grid connection.

    Demand is the chargers' rated kW times the simultaneity factor (the share of rated power
    drawn at the busiest moment); the connection carries kVA x power factor of real power.
    """
    if not charger_kw or any(kw <= 0 for kw in charger_kw):
        raise PlanningInputError("give at least one charger, each with a positive kW")
    if not 0 < simultaneity <= 1:
        raise PlanningInputError(f"simultaneity must lie in (0, 1], got {simultaneity}")
    if grid_kva <= 0:
        raise PlanningInputError(f"grid connection must be positive kVA, got {grid_kva}")
    if not 0 < power_factor <= 1:
        raise PlanningInputError(f"power factor must lie in (0, 1], got {power_factor}")
    demand = float(sum(charger_kw)) * simultaneity
    capacity = grid_kva * power_factor
    return GridCheck(round(demand, 3), round(capacity, 3), demand <= capacity + 1e-9,
                     round(max(0.0, demand - capacity), 3), round(max(0.0, capacity - demand), 3))
