"""The charging network as the trip planner sees it: sites, their plugs and live availability.

`ChargingSite` is a plain value, built from the store (`load_charging_sites`) or from the
packaged seed network (`sites_from_seed`). `site_choice` says how a given vehicle would charge
at a site (plug, power, adapter, availability); `sites_near` and `sites_along` list the sites a
vehicle can charge at around a point or along a route. Only `load_charging_sites` does I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from enum import StrEnum
from typing import Any

import numpy as np
from scipy.spatial import cKDTree
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from silkcharge.domain.clock import utcnow
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
    "partner_site_code",
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
    occupancy_by_hour: tuple[float, ...] = ()
    """Share of the site's EVSEs in use at each UTC hour (24 values), from its own sessions of
    the last `HISTORY_DAYS` days; empty when the site has no history."""
    roaming: str | None = None
    """A roaming partner's site: the partner's name (its code is "<party>/<location id>")."""


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
            self.lat, self.lon = lat, lon
            self.xyz = _unit_xyz(lat, lon)
            _, nodes = tree.query(self.xyz)
            self.nodes = np.asarray(nodes, dtype=np.int64)
            self.snap_km = np.array([haversine_km(s.lat, s.lon, roads.lat[n], roads.lon[n])
                                     for s, n in zip(self.sites, self.nodes)])
        else:
            self.lat = self.lon = np.zeros(0)
            self.xyz = np.zeros((0, 3))
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
    # nearest road node, so an off-road detour is never underestimated. Only the sites near
    # the line (found on a 1 km sampling of it) are projected onto it exactly.
    near = _near_line(route, index.xyz, ON_ROUTE_KM + 1.0)
    on_line = np.zeros(len(index.sites), dtype=bool)
    along = np.zeros(len(index.sites))
    offset = np.full(len(index.sites), np.inf)
    if len(near):
        along[near], offset[near] = project_onto_path(
            route.coords, route.cumulative_km, index.lat[near], index.lon[near])
        on_line = offset <= ON_ROUTE_KM
    by_road = (source[index.nodes] >= 0) & (dist[index.nodes] + index.snap_km <= corridor_km)
    found = []
    for i in np.flatnonzero(on_line | by_road):
        site, node, snap = index.sites[i], int(index.nodes[i]), float(index.snap_km[i])
        if on_line[i]:
            km, detour = float(along[i]), float(offset[i])
        else:
            km = route.cumulative_km[position[int(source[node])]]
            detour = float(dist[node]) + snap
        choice = choose(site, vehicle, adapters)
        if choice is not None:
            found.append(SiteOnRoute(choice, km, detour))
    found.sort(key=lambda s: (s.km, s.detour_km, s.choice.site.code))
    return found


def _near_line(route: Route, xyz: np.ndarray, km: float) -> np.ndarray:
    """Indices of the points (unit vectors) within about `km` of the route's line."""
    path = np.asarray(route.coords, dtype=float)
    if len(path) == 1:
        samples = path
    else:
        cum = np.asarray(route.cumulative_km, dtype=float)
        steps = np.maximum(np.ceil(np.diff(cum) / 1.0).astype(np.int64), 1)
        seg = np.repeat(np.arange(len(steps)), steps)
        frac = (np.arange(steps.sum()) - np.repeat(np.cumsum(steps) - steps, steps)) / np.repeat(steps, steps)
        samples = path[seg] + (path[seg + 1] - path[seg]) * frac[:, None]
        samples = np.vstack([samples, path[-1:]])
    tree = cKDTree(_unit_xyz(samples[:, 0], samples[:, 1]))
    chord = (km + 1.0) / 6371.0
    dist, _ = tree.query(xyz, distance_upper_bound=chord)
    return np.flatnonzero(np.isfinite(dist))


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


HISTORY_DAYS = 28


def occupancy_by_hour(intervals: Iterable[tuple[datetime, datetime]], evses: int,
                      since: datetime, until: datetime) -> tuple[float, ...]:
    """Mean share of `evses` in use at each UTC hour of the day over [since, until), from
    (start, stop) intervals of sessions. Empty when nothing is known."""
    if evses <= 0 or until <= since:
        return ()
    busy = [0.0] * 24
    seen = False
    for start, stop in intervals:
        start, stop = max(start, since), min(stop, until)
        while start < stop:
            seen = True
            hour_end = start.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
            piece = min(hour_end, stop)
            busy[start.hour] += (piece - start).total_seconds() / 3600
            start = piece
    if not seen:
        return ()
    days = (until - since).total_seconds() / 86400
    return tuple(min(b / (evses * days), 1.0) for b in busy)


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
        now = utcnow()
        since = now - timedelta(days=HISTORY_DAYS)
        history = (await session.execute(
            select(Transaction.station_id, Transaction.started_at, Transaction.stopped_at)
            .where(Transaction.started_at >= since - timedelta(days=1))
        )).all()
    by_site: dict[str, tuple[Any, str, list[SiteConnector]]] = {}
    site_of: dict[str, str] = {}
    evses: dict[str, set[tuple[str, int]]] = {}
    for site, operator, online, last_seen, connector in rows:
        site_of[connector.station_id] = site.code
        evses.setdefault(site.code, set()).add((connector.station_id, connector.evse_id))
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
    intervals: dict[str, list[tuple[datetime, datetime]]] = {}
    for station_id, started, stopped in history:
        code = site_of.get(station_id)
        if code is not None:
            intervals.setdefault(code, []).append((_aware(started), _aware(stopped or now)))
    own = [
        ChargingSite(code=site.code, name=site.name, lat=site.lat, lon=site.lon,
                     country=site.country, operator=operator, connectors=tuple(connectors),
                     city=site.city,
                     occupancy_by_hour=occupancy_by_hour(intervals.get(site.code, ()),
                                                         len(evses[site.code]), since, now))
        for site, operator, connectors in by_site.values()
    ]
    return own + await _partner_sites(sessions)


def partner_site_code(party: str, location_id: str) -> str:
    """How a roaming partner's location is named among the planner's sites."""
    return f"{party}/{location_id}"


async def _partner_sites(sessions: async_sessionmaker) -> list[ChargingSite]:
    """Roaming partners' locations (services/partner_sites.py) as the planner's sites, with the
    live status the partner sent; no history of ours, so no occupancy."""
    from silkcharge.services.partner_sites import partner_locations

    async with sessions() as session:
        locations = await partner_locations(session)
    sites = []
    for location in locations.values():
        party = location.roaming.party
        connectors = tuple(
            SiteConnector(c.standard, float(c.max_power_kw),
                          connector_availability(evse.status, station_down=False, in_transaction=False))
            for evse in location.evses for c in evse.connectors)
        sites.append(ChargingSite(
            code=partner_site_code(party, location.roaming.location_id), name=location.name, lat=location.lat,
            lon=location.lon, country=party.split("*")[0], operator=party, connectors=connectors,
            city=location.city, roaming=location.roaming.partner))
    return sites


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)
