"""Coverage rules: how far apart charging pools may be and what a pool must offer.

Two presets ship. AFIR (Regulation (EU) 2023/1804, Art. 3(4)(a)) for the TEN-T core network:
pools at most 60 km apart in each direction, each with at least 400 kW and one point of at least
150 kW by the end of 2025, and 600 kW with two such points by the end of 2027. The region has
no such law; AFIR is the clearest quantitative yardstick there is.

The winter rule asks whether a typical regional EV can drive from one pool to the next in
winter: its range is the catalog's median battery, less a reserve, over the catalog's median
consumption times a winter factor. The factor (default 1.4) is an assumption inside the 1.3-1.5
band commonly reported for heated cabins at -10 to -20 °C, the region's winter; the reserve
(default 20 %) covers a cold battery's lost capacity, the last kilometres to the charger and
an occupied charger. Both are parameters.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from decimal import Decimal

from silkcharge.domain.connectors import ConnectorStandard
from silkcharge.domain.vehicles import Catalog, Market, load_catalog
from silkcharge.planning.corridors import PlanningInputError
from silkcharge.planning.network import ChargingSite

WINTER_FACTOR = 1.4
RESERVE = 0.2


@dataclass(frozen=True)
class CoverageRule:
    id: str
    name: str
    max_gap_km: float
    min_pool_kw: Decimal = Decimal(0)
    fast_point_kw: Decimal = Decimal(150)
    min_fast_points: int = 0
    min_point_kw: Decimal = Decimal(50)
    """A DC point below this power does not count as fast charging at all."""
    source: str = ""

    def qualifies(self, site: ChargingSite, standard: ConnectorStandard) -> bool:
        """Whether the site is a pool that meets this rule for drivers of ``standard``."""
        points = [kw for kw in site.dc_points(standard) if kw >= self.min_point_kw]
        return (bool(points) and sum(points, Decimal(0)) >= self.min_pool_kw
                and sum(kw >= self.fast_point_kw for kw in points) >= self.min_fast_points)


AFIR_2025 = CoverageRule(
    id="afir", name="AFIR TEN-T core, end 2025", max_gap_km=60.0, min_pool_kw=Decimal(400),
    min_fast_points=1,
    source="Regulation (EU) 2023/1804 (AFIR) Art. 3(4)(a)(i): every 60 km, >=400 kW, "
           "one point >=150 kW, by 31 Dec 2025",
)
AFIR_2027 = CoverageRule(
    id="afir-2027", name="AFIR TEN-T core, end 2027", max_gap_km=60.0, min_pool_kw=Decimal(600),
    min_fast_points=2,
    source="Regulation (EU) 2023/1804 (AFIR) Art. 3(4)(a)(ii): every 60 km, >=600 kW, "
           "two points >=150 kW, by 31 Dec 2027",
)


@dataclass(frozen=True)
class WinterRange:
    """The range behind the winter rule, with what it was derived from."""

    km: float
    battery_kwh: float
    consumption_wh_km: float
    winter_factor: float
    reserve: float
    vehicles: int
    market: str


def winter_range(catalog: Catalog | None = None, *, market: Market | None = None,
                 winter_factor: float = WINTER_FACTOR, reserve: float = RESERVE) -> WinterRange:
    """Range of the median catalog vehicle (of ``market`` when given).

    The whole catalog is the default: China-market cars dominate the region, but their
    consumption is rated on CLTC, the most optimistic cycle, so their median alone would
    overstate a winter range.
    """
    if not 1.0 <= winter_factor <= 3.0 or not 0.0 <= reserve < 1.0:
        raise PlanningInputError("winter_factor must be 1-3 and reserve 0-1 (a fraction)")
    vehicles = [v for v in (catalog or load_catalog()) if market is None or v.market is market]
    if not vehicles:
        raise PlanningInputError(f"the vehicle catalog has no {market} vehicles")
    battery = statistics.median(v.battery_kwh for v in vehicles)
    consumption = statistics.median(v.consumption_wh_km for v in vehicles)
    km = battery * (1 - reserve) * 1000 / (consumption * winter_factor)
    return WinterRange(km, battery, consumption, winter_factor, reserve, len(vehicles),
                       str(market) if market else "all")


def winter_rule(catalog: Catalog | None = None, **options: object) -> CoverageRule:
    derived = winter_range(catalog, **options)  # type: ignore[arg-type]
    return CoverageRule(
        id="winter", name=f"typical regional EV in winter ({derived.km:.0f} km)",
        max_gap_km=round(derived.km, 1),
        source=(f"median of {derived.vehicles} catalog vehicles ({derived.market} markets): "
                f"{derived.battery_kwh:.0f} kWh x (1 - {derived.reserve:.0%} reserve) / "
                f"({derived.consumption_wh_km:.0f} Wh/km x winter factor "
                f"{derived.winter_factor})"),
    )


def rule_by_id(rule_id: str) -> CoverageRule:
    presets = {"afir": AFIR_2025, "afir-2027": AFIR_2027}
    if rule_id == "winter":
        return winter_rule()
    if rule_id not in presets:
        raise PlanningInputError(f"unknown rule {rule_id!r}; known: afir, afir-2027, winter")
    return presets[rule_id]
