"""The charging network as the trip planner sees it: sites, their plugs and live availability.

`ChargingSite` is a plain value, built from the store (`load_charging_sites`) or from the
packaged seed network (`sites_from_seed`). `site_choice` says how a given vehicle would charge
at a site (plug, power, adapter, availability); `sites_near` and `sites_along` list the sites a
vehicle can charge at around a point or along a route. Only `load_charging_sites` does I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

import numpy as np
from scipy.spatial import cKDTree
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from silkcharge.domain.compat import Adapter, ChargeOption, best_option
from silkcharge.domain.connectors import ConnectorStandard
from silkcharge.domain.geo import haversine_km, project_onto_path
from silkcharge.domain.vehicles import Vehicle
from silkcharge.trips.roads import RoadGraph, Route

__all__ = [
    "Availability",
    "ChargingSite",
    "SiteChoice",
    "SiteConnector",
    "SiteIndex",
    "SiteNearby",
    "SiteOnRoute",
    "load_charging_sites",
    "site_choice",
    "sites_along",
    "sites_from_seed",
    "sites_near",
]


class Availability(StrEnum):
    AVAILABLE = "available"
    BUSY = "busy"
    """Occupied (charging, preparing, finishing, reserved): usable after a wait."""
    UNAVAILABLE = "unavailable"
    """Faulted, taken out of service, or on a station we know is offline."""
    UNKNOWN = "unknown"
    """No live status (never connected, or a network without live data): assumed usable."""


_BUSY_STATUSES = frozenset({"Occupied", "Preparing", "Charging", "SuspendedEV", "SuspendedEVSE",
                            "Finishing", "Reserved"})
_DOWN_STATUSES = frozenset({"Unavailable", "Faulted"})


@dataclass(frozen=True, slots=True)
class SiteConnector:
    standard: ConnectorStandard
    max_power_kw: float
    availability: Availability = Availability.UNKNOWN

    @property
    def available(self) -> bool | None:
        """True: free now; False: busy or down; None: no live status."""
        if self.availability is Availability.UNKNOWN:
            return None
        return self.availability is Availability.AVAILABLE


@dataclass(frozen=True, slots=True)
class ChargingSite:
    code: str
    name: str
    lat: float
    lon: float
    country: str
    operator: str
    connectors: tuple[SiteConnector, ...]
    city: str | None = None


@dataclass(frozen=True, slots=True)
class SiteChoice:
    """How one vehicle would charge at one site."""

    site: ChargingSite
    option: ChargeOption
    availability: Availability

    @property
    def busy(self) -> bool:
        return self.availability is Availability.BUSY


def site_choice(site: ChargingSite, vehicle: Vehicle,
                adapters: Iterable[Adapter] = ()) -> SiteChoice | None:
    """The best plug for the vehicle at the site, or None if it cannot charge there now.

    Free or unknown connectors come first, then the fastest of them; a site whose compatible
    connectors are all busy is returned as busy; all down (or none compatible) gives None.
    """
    adapters = tuple(adapters)
    usable = [c for c in site.connectors
              if c.availability in (Availability.AVAILABLE, Availability.UNKNOWN)]
    option = best_option(vehicle, ((c.standard, c.max_power_kw) for c in usable), adapters)
    if option is not None:
        free = any(c.availability is Availability.AVAILABLE and c.standard is option.standard
                   and c.max_power_kw == option.station_kw for c in usable)
        return SiteChoice(site, option, Availability.AVAILABLE if free else Availability.UNKNOWN)
    busy = [c for c in site.connectors if c.availability is Availability.BUSY]
    option = best_option(vehicle, ((c.standard, c.max_power_kw) for c in busy), adapters)
    return None if option is None else SiteChoice(site, option, Availability.BUSY)


# ---- where ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SiteNearby:
    choice: SiteChoice
    distance_km: float
    """Straight-line distance from the point."""


@dataclass(frozen=True, slots=True)
class SiteOnRoute:
    choice: SiteChoice
    km: float
    """Road km from the route's start to the point where the detour to the site leaves it."""
    detour_km: float
    """One-way road km from the route to the site (plus the site's distance to its road)."""


def sites_near(sites: Iterable[ChargingSite], vehicle: Vehicle, lat: float, lon: float,
               radius_km: float = 25.0, adapters: Iterable[Adapter] = ()) -> list[SiteNearby]:
    """Sites within `radius_km` (straight line) where the vehicle can charge, nearest first."""
    adapters = tuple(adapters)
    found = []
    for site in sites:
        distance = haversine_km(lat, lon, site.lat, site.lon)
        if distance > radius_km:
            continue
        choice = site_choice(site, vehicle, adapters)
        if choice is not None:
            found.append(SiteNearby(choice, distance))
    found.sort(key=lambda s: (s.distance_km, s.choice.site.code))
    return found


ON_ROUTE_KM = 2.0
"""A site this close to the route's line is taken to stand on the road itself."""


class SiteIndex:
    """Sites snapped once to their nearest road node, for repeated corridor queries."""

    def __init__(self, roads: RoadGraph, sites: Sequence[ChargingSite]) -> None:
        self.roads = roads
        self.sites = tuple(sites)
        if self.sites:
            tree = cKDTree(_unit_xyz(roads.lat, roads.lon))
            lat = np.array([s.lat for s in self.sites])
            lon = np.array([s.lon for s in self.sites])
            _, nodes = tree.query(_unit_xyz(lat, lon))
            self.nodes = np.asarray(nodes, dtype=np.int64)
            self.snap_km = np.array([haversine_km(s.lat, s.lon, roads.lat[n], roads.lon[n])
                                     for s, n in zip(self.sites, self.nodes)])
        else:
            self.nodes = np.zeros(0, dtype=np.int64)
            self.snap_km = np.zeros(0)


def sites_along(index: SiteIndex, route: Route, vehicle: Vehicle, corridor_km: float = 15.0,
                adapters: Iterable[Adapter] = (), *, choose=site_choice,
                **road_options: Any) -> list[SiteOnRoute]:
    """Sites within `corridor_km` road km of the route where the vehicle can charge, by km.

    `road_options` are the restrictions of `RoadGraph.shortest_path` (avoid_borders,
    closed_on, private_car), so a detour never uses a road the route may not use.
    `choose` decides per site (the planner passes one that also applies operator rules).
    """
    adapters = tuple(adapters)
    if not index.sites:
        return []
    dist, source = index.roads.distances_from(list(route.nodes), limit_km=corridor_km,
                                              **road_options)
    position = {node: i for i, node in enumerate(route.nodes)}
    # A site on the route line itself is reached where it lies, even in the middle of a long
    # simplified edge whose nearest node may be a hundred km away; any other site by its
    # nearest road node, so an off-road detour is never underestimated.
    along, offset = project_onto_path(
        route.coords, route.cumulative_km, (s.lat for s in index.sites), (s.lon for s in index.sites)
    )
    found = []
    for i, (site, node, snap) in enumerate(zip(index.sites, index.nodes, index.snap_km)):
        if offset[i] <= ON_ROUTE_KM:
            km, detour = float(along[i]), float(offset[i])
        elif source[node] >= 0 and float(dist[node]) + float(snap) <= corridor_km:
            km = route.cumulative_km[position[int(source[node])]]
            detour = float(dist[node]) + float(snap)
        else:
            continue
        choice = choose(site, vehicle, adapters)
        if choice is not None:
            found.append(SiteOnRoute(choice, km, detour))
    found.sort(key=lambda s: (s.km, s.detour_km, s.choice.site.code))
    return found


def _unit_xyz(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    phi, lam = np.radians(np.asarray(lat, dtype=float)), np.radians(np.asarray(lon, dtype=float))
    return np.column_stack([np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)])


# ---- sources ----------------------------------------------------------------------------


def sites_from_seed(network: Mapping[str, Any]) -> list[ChargingSite]:
    """Sites of a seed network (`data.seed.load_seed_network()`), with no live availability."""
    return [
        ChargingSite(
            code=site["code"], name=site["name"], lat=site["lat"], lon=site["lon"],
            country=site["country"], operator=site["operator"], city=site.get("city"),
            connectors=tuple(
                SiteConnector(ConnectorStandard(c["standard"]), float(Decimal(c["max_power_kw"])))
                for station in site["stations"] for evse in station["evses"]
                for c in evse["connectors"]
            ),
        )
        for site in network["sites"]
    ]


def connector_availability(status: str | None, *, station_down: bool,
                           in_transaction: bool) -> Availability:
    """Live availability of one stored connector (OCPP 1.6 and 2.0.1 status names)."""
    if station_down or status in _DOWN_STATUSES:
        return Availability.UNAVAILABLE
    if in_transaction or status in _BUSY_STATUSES:
        return Availability.BUSY
    if status == "Available":
        return Availability.AVAILABLE
    return Availability.UNKNOWN


async def load_charging_sites(sessions: async_sessionmaker) -> list[ChargingSite]:
    """Every stored site with at least one connector, with live availability.

    A station that has been seen but is now offline makes its connectors unavailable; one never
    seen (seeded, not yet connected) leaves them unknown, which the planner treats as usable.
    An active transaction makes every connector of its EVSE busy (an EVSE charges one car).
    """
    from silkcharge.store.schema import Connector, Operator, Site, Station, Transaction

    async with sessions() as session:
        rows = (await session.execute(
            select(Site, Operator.code, Station.online, Station.last_seen_at, Connector)
            .join(Operator, Operator.id == Site.operator_id)
            .join(Station, Station.site_id == Site.id)
            .join(Connector, Connector.station_id == Station.id)
            .order_by(Site.code, Station.id, Connector.evse_id, Connector.connector_id)
        )).all()
        active = set((await session.execute(
            select(Transaction.station_id, Transaction.evse_id).where(Transaction.state == "Active")
        )).all())
    by_site: dict[str, tuple[Any, str, list[SiteConnector]]] = {}
    for site, operator, online, last_seen, connector in rows:
        try:
            standard = ConnectorStandard(connector.standard)
        except ValueError:
            continue
        availability = connector_availability(
            connector.status, station_down=not online and last_seen is not None,
            in_transaction=(connector.station_id, connector.evse_id) in active,
        )
        entry = by_site.setdefault(site.code, (site, operator, []))
        entry[2].append(SiteConnector(standard, float(connector.max_power_kw), availability))
    return [
        ChargingSite(code=site.code, name=site.name, lat=site.lat, lon=site.lon,
                     country=site.country, operator=operator, connectors=tuple(connectors),
                     city=site.city)
        for site, operator, connectors in by_site.values()
    ]
