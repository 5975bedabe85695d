"""Small hand-built road graphs, vehicles and sites for planner tests."""

from __future__ import annotations

from silkcharge.domain.connectors import ConnectorStandard as S
from silkcharge.domain.vehicles import ChargingCurve, CurveSource, Market, Vehicle
from silkcharge.trips.network import Availability, ChargingSite, SiteConnector, SiteIndex
from silkcharge.trips.roads import RoadGraph

LAT = 43.0
KM_PER_DEG_LON = 81.3  # at 43° N, near enough for placing test nodes


def vehicle(*, dc=(S.CCS2,), ac=(S.TYPE2,), battery=50.0, wh_km=200.0, dc_kw=100.0,
            curve=((0, 100), (50, 100), (100, 20)), vid="test-car") -> Vehicle:
    return Vehicle(
        id=vid, make="Test", model="Car", trim="base", year=2025, market=Market.EU, body=None,
        battery_kwh=battery, chemistry=None, consumption_wh_km=wh_km, consumption_basis="test",
        rated_range_km={}, ac_inlets=tuple(ac), ac_kw=11.0, dc_inlets=tuple(dc), dc_kw=dc_kw,
        voltage_class=None, curve=ChargingCurve.from_pairs(curve),
        curve_source=CurveSource.KILOWATT, curve_match="test",
    )


def line_graph(km_marks: list[float], names: dict[int, str], countries: list[str] | None = None,
               crossings: list[dict] = ()) -> RoadGraph:
    """Nodes on a west-east line at the given km; places named by node index."""
    lon = [70.0 + km / KM_PER_DEG_LON for km in km_marks]
    n = len(km_marks)
    countries = countries or ["KZ"] * n
    return RoadGraph(
        lat=[LAT] * n, lon=lon, edge_a=list(range(n - 1)), edge_b=list(range(1, n)),
        km=[b - a for a, b in zip(km_marks, km_marks[1:])], country=countries,
        places=[{"name": name, "country": countries[i], "lat": LAT, "lon": lon[i],
                 "timezone": "Asia/Almaty"} for i, name in names.items()],
        crossings=crossings,
    )


def site(roads: RoadGraph, node: int, code: str, *connectors: tuple[S, float],
         operator: str = "OP", availability: Availability = Availability.UNKNOWN) -> ChargingSite:
    return ChargingSite(
        code=code, name=code, lat=float(roads.lat[node]), lon=float(roads.lon[node]),
        country=str(roads.country[node]), operator=operator,
        connectors=tuple(SiteConnector(s, kw, availability) for s, kw in connectors),
    )


def index(roads: RoadGraph, *sites: ChargingSite) -> SiteIndex:
    return SiteIndex(roads, list(sites))
