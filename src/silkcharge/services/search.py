"""Live availability search for drivers: which compatible charger near me is free, and what it
costs me.

Three parts, each with one job:

- `SiteIndex`: sites on the unit sphere in a scipy cKDTree, so a radius query touches only the
  sites near the point, at any network size.
- `LiveNetwork`: the sites, stations and connectors with their live state, held in memory and
  kept current from the bus events (status, presence, transactions), so a search never reads
  status from the database.
- `SearchService`: loads the network from the store at start, follows the bus, picks up new
  sites and connectors as they are registered, and prices each result for the asking driver
  with `pricing.estimate`, the same computation as the charger display and the receipt, capped
  like the receipt by the regulated caps that bind the site.

The update rule, in full:

- Live state (connector status, station online/offline, sessions) follows the bus events.
- New sites and connectors (and so new stations) are noticed on the next search: each search
  reads the highest site, connector and tariff ids and the tariff count (index lookups, not
  status); if the site or connector marks moved, it runs the incremental refresh below at once.
  A changed tariff list forgets the cached tariffs of only the sites it applies to.
- Every `refresh_seconds` (60 by default) an incremental refresh reads what changed since the
  last one: sites and connectors by their `updated_at` (with an overlap, so a write that
  committed late is not missed), the id lists of sites and connectors (to notice deletions),
  every station's site and presence, the operators, and the open sessions. The read, and the
  comparison with the network it holds, run on a worker thread (`store.workers`): at 50,000
  stations they took 0.5 s of the event loop every minute. The loop then applies only what
  differs; events that arrive meanwhile are replayed after it, so a status that changed
  mid-read is not lost. The k-d tree is rebuilt, in a worker thread, only when the set of site
  positions changed; until it is ready the old tree answers.
- The whole network is read only once, at start, and built (with its tree) on a worker thread.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from functools import partial
from typing import Protocol
from zoneinfo import ZoneInfo

import numpy as np
from scipy.spatial import cKDTree
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from silkcharge.bus.local import EventBus
from silkcharge.domain.caps import PriceCapRule, cap_total
from silkcharge.domain.clock import utcnow
from silkcharge.domain.connectors import ConnectorStandard, parse_standard
from silkcharge.domain.events import (
    ConnectorStatusChanged,
    Event,
    StationConnected,
    StationDisconnected,
    StationWentOffline,
    TransactionEnded,
    TransactionStarted,
)
from silkcharge.domain.geo import EARTH_RADIUS_KM
from silkcharge.domain.pricing import PricingError, estimate
from silkcharge.domain.tariffs import NoApplicableTariff, Tariff, select_tariff
from silkcharge.services.billing import BillingService, TariffRefused
from silkcharge.store.group_commit import is_unavailable
from silkcharge.store.residency import Residency, database_scope
from silkcharge.store.schema import (
    Connector,
    IdToken,
    Operator,
    Site,
    Station,
    TariffRecord,
    Transaction,
)
from silkcharge.store.workers import Workers

log = logging.getLogger(__name__)

MAX_RADIUS_KM = 2000.0
MAX_LIMIT = 200
REFERENCE_KWH = Decimal(30)
MAX_KWH = Decimal(2000)
"""The largest session search prices: above any battery on the road, and far below where
decimal arithmetic on prices would overflow."""
MAX_MINUTES = Decimal(7 * 24 * 60)
REFERENCE_POWER_CAP_KW = Decimal(50)
"""The reference session charges at the connector's power, but no faster than this: few cars
take more, and a 360 kW figure would make a time-priced charger look cheap."""

_NOT_SERVING = frozenset({"Unavailable", "Faulted"})

FOLLOWED = (ConnectorStatusChanged, StationConnected, StationDisconnected, StationWentOffline,
            TransactionStarted, TransactionEnded)
"""The events `LiveNetwork.apply` acts on, the only ones the search service subscribes to."""


class InvalidSearch(ValueError):
    """A search that cannot be answered as asked; the message says what to change."""


# -- the query --------------------------------------------------------------------------------


@dataclass(frozen=True)
class BoundingBox:
    min_lat: float
    min_lon: float
    max_lat: float
    max_lon: float

    @property
    def centre(self) -> tuple[float, float]:
        return (self.min_lat + self.max_lat) / 2, (self.min_lon + self.max_lon) / 2


@dataclass(frozen=True)
class SearchQuery:
    """Near a point (`lat`, `lon`, `radius_km`) or within `bbox`. With a bbox, distances are
    measured from `lat`/`lon` when given, else from the box's centre."""

    lat: float | None = None
    lon: float | None = None
    radius_km: float = 10.0
    bbox: BoundingBox | None = None
    standard: ConnectorStandard | None = None
    min_power_kw: Decimal | None = None
    operator: str | None = None
    available_now: bool = False
    limit: int = 20
    kwh: Decimal = REFERENCE_KWH
    minutes: Decimal | None = None
    """Reference session length; None charges `kwh` at min(connector power, 50 kW)."""
    token: str | None = None

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise InvalidSearch("; ".join(problems))

    def problems(self) -> list[str]:
        found = []
        if self.bbox is None and (self.lat is None or self.lon is None):
            found.append("give lat and lon (with radius_km), or a bounding box")
        if self.lat is not None and not -90 <= self.lat <= 90:
            found.append(f"lat {self.lat} is outside -90..90")
        if self.lon is not None and not -180 <= self.lon <= 180:
            found.append(f"lon {self.lon} is outside -180..180")
        if self.bbox is None and not 0 < self.radius_km <= MAX_RADIUS_KM:
            found.append(f"radius_km {self.radius_km} must be above 0 and at most {MAX_RADIUS_KM:g}")
        if self.bbox is not None:
            found.extend(_bbox_problems(self.bbox))
        if self.min_power_kw is not None and not (self.min_power_kw.is_finite() and self.min_power_kw >= 0):
            found.append(f"min_power_kw {self.min_power_kw} must be a number, 0 or above")
        if not 1 <= self.limit <= MAX_LIMIT:
            found.append(f"limit {self.limit} must be 1..{MAX_LIMIT}")
        if not (self.kwh.is_finite() and 0 < self.kwh <= MAX_KWH):
            found.append(f"kwh {self.kwh} must be above 0 and at most {MAX_KWH}")
        if self.minutes is not None and not (self.minutes.is_finite() and 0 < self.minutes <= MAX_MINUTES):
            found.append(f"minutes {self.minutes} must be above 0 and at most {MAX_MINUTES}")
        return found


def _bbox_problems(box: BoundingBox) -> list[str]:
    found = []
    for name in ("min_lat", "max_lat"):
        if not -90 <= getattr(box, name) <= 90:
            found.append(f"{name} {getattr(box, name)} is outside -90..90")
    for name in ("min_lon", "max_lon"):
        if not -180 <= getattr(box, name) <= 180:
            found.append(f"{name} {getattr(box, name)} is outside -180..180")
    if box.min_lat >= box.max_lat:
        found.append(f"bounding box inverted: min_lat {box.min_lat} is not below max_lat {box.max_lat}")
    if box.min_lon >= box.max_lon:
        found.append(f"bounding box inverted: min_lon {box.min_lon} is not below max_lon {box.max_lon}")
    return found


def standard_of(text: str | None) -> ConnectorStandard | None:
    """A connector standard from a driver's words ('GB/T DC', 'gbt_dc'); InvalidSearch if unknown."""
    if text is None or not text.strip():
        return None
    try:
        return parse_standard(text)
    except ValueError as exc:
        raise InvalidSearch(str(exc)) from None


# -- the spatial index ------------------------------------------------------------------------


def _unit_xyz(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    phi, lam = np.radians(lat), np.radians(lon)
    return np.column_stack((np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)))


def _haversine_km(lat: float, lon: float, lats: np.ndarray, lons: np.ndarray) -> np.ndarray:
    p1, p2 = np.radians(lat), np.radians(lats)
    h = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(np.radians(lons - lon) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.minimum(1.0, np.sqrt(h)))


class SiteIndex:
    """Site ids by position. A great-circle radius is a chord in 3-D, so a ball query on the
    unit sphere finds exactly the sites within it, with no trouble at the poles or ±180°."""

    def __init__(self, sites: Iterable[tuple[int, float, float]]) -> None:
        rows = list(sites)
        self.ids = np.array([row[0] for row in rows], dtype=np.int64)
        self.lat = np.array([row[1] for row in rows], dtype=float)
        self.lon = np.array([row[2] for row in rows], dtype=float)
        self._tree = cKDTree(_unit_xyz(self.lat, self.lon)) if rows else None

    def __len__(self) -> int:
        return len(self.ids)

    def near(self, lat: float, lon: float, radius_km: float) -> list[tuple[int, float]]:
        """(site id, distance km) within `radius_km` of the point, nearest first."""
        if self._tree is None:
            return []
        chord = 2 * np.sin(min(radius_km / EARTH_RADIUS_KM, np.pi) / 2)
        found = np.asarray(self._tree.query_ball_point(_unit_xyz(np.array([lat]), np.array([lon]))[0],
                                                       chord * (1 + 1e-12)), dtype=np.int64)
        return self._ordered(found, lat, lon, radius_km)

    def within(self, box: BoundingBox, lat: float, lon: float) -> list[tuple[int, float]]:
        """(site id, distance km from lat/lon) inside the box, nearest first."""
        found = np.flatnonzero(
            (self.lat >= box.min_lat) & (self.lat <= box.max_lat)
            & (self.lon >= box.min_lon) & (self.lon <= box.max_lon)
        )
        return self._ordered(found, lat, lon, None)

    def _ordered(self, found: np.ndarray, lat: float, lon: float, radius_km: float | None):
        distance = _haversine_km(lat, lon, self.lat[found], self.lon[found])
        order = np.argsort(distance, kind="stable")
        return [
            (int(self.ids[found[i]]), float(distance[i]))
            for i in order if radius_km is None or distance[i] <= radius_km
        ]


# -- the live network -------------------------------------------------------------------------


@dataclass(frozen=True)
class RoamingSite:
    """A roaming partner's site (services/partner_sites.py): whose it is, and what a start
    there names."""

    partner_id: int
    partner: str
    """The partner's name as registered."""
    party: str
    """The partner CPO's OCPI party, e.g. "UZ*UZE"."""
    location_id: str


@dataclass
class SiteInfo:
    id: int
    code: str
    name: str
    city: str | None
    lat: float
    lon: float
    timezone: str
    operator: str
    currency: str
    operator_id: int | None = None
    roaming: RoamingSite | None = None
    """Set for a roaming partner's site; None for our own."""


@dataclass
class ConnectorState:
    evse_id: int
    connector_id: int
    standard: str
    max_power_kw: Decimal
    status: str = "Unknown"
    error_code: str | None = None
    status_at: datetime | None = None


@dataclass
class StationState:
    id: str
    site_id: int
    online: bool = False
    status: str | None = None
    """Station-wide status (OCPP 1.6 connector 0), e.g. Unavailable for the whole station."""
    last_seen_at: datetime | None = None
    connectors: dict[tuple[int, int], ConnectorState] = field(default_factory=dict)
    sessions: dict[int, int] = field(default_factory=dict)
    """Active transaction id -> EVSE id."""

    def serving(self) -> bool:
        return self.online and self.status not in _NOT_SERVING

    def is_free(self, connector: ConnectorState) -> bool:
        """Available now: the station is online and serving, the connector reports Available,
        and no session is open on its EVSE."""
        return (self.serving() and connector.status == "Available"
                and connector.evse_id not in self.sessions.values())


@dataclass(frozen=True)
class Match:
    """A site that answers a query, with the connectors that fit it (before pricing)."""

    site: SiteInfo
    distance_km: float
    stations: tuple[tuple[StationState, tuple[ConnectorState, ...]], ...]


@dataclass
class StoreChanges:
    """What one incremental read found in the store; plain data, merged by `LiveNetwork.merge`."""

    operators: dict[int, tuple[str, str]]
    """Every operator: id -> (code, currency)."""
    site_ids: set[int]
    """Every site that exists."""
    sites: list[SiteInfo]
    """Sites new or changed since the last read."""
    stations: list[tuple[str, int | None, bool, str | None, datetime | None]]
    """Every station: id, site id, online, station-wide status, last seen."""
    connector_ids: set[int]
    """Every connector that exists, by store id."""
    connectors: list[tuple[int, str, ConnectorState]]
    """Connectors new or changed since the last read (and all of stations new to the network)."""
    sessions: list[tuple[str, int, int]]
    """Every open session: station id, transaction id, EVSE id."""


@dataclass(frozen=True)
class _Found:
    """What a refresh's worker found: the highest ids, the tariff rows, and either the changes
    to apply or (the first time) a whole new network."""

    seen: tuple[int, int]
    tariff_rows: dict[int, tuple[int, int | None]]
    plan: MergePlan | None = None
    network: LiveNetwork | None = None


@dataclass
class MergePlan:
    """The changes one refresh makes to the network, found off the loop (`LiveNetwork.plan_merge`)."""

    removed_sites: list[int]
    sites: list[SiteInfo]
    operators: dict[int, tuple[str, str]]
    renamed: dict[int, tuple[str, str]]
    new_stations: list[StationState] = field(default_factory=list)
    moved: list[tuple[str, int]] = field(default_factory=list)
    """Station id, its new site id."""
    presence: list[tuple[str, bool, str | None, datetime | None]] = field(default_factory=list)
    """Stations whose online flag, station-wide status or last-seen time differ from the store."""
    sessions: dict[str, dict[int, int]] = field(default_factory=dict)
    """Stations whose open sessions differ from the store: their sessions as stored."""
    removed_stations: list[str] = field(default_factory=list)
    removed_connectors: list[int] = field(default_factory=list)
    connectors: list[tuple[int, str, ConnectorState]] = field(default_factory=list)


class LiveNetwork:
    """Sites, stations and connectors with their live state. Pure: no I/O, no clock."""

    def __init__(self) -> None:
        self.sites: dict[int, SiteInfo] = {}
        self.stations: dict[str, StationState] = {}
        self._by_site: dict[int, list[str]] = {}
        self._connector_rows: dict[int, tuple[str, tuple[int, int]]] = {}
        """Store id of each connector -> (station id, (EVSE id, connector id)), for deletions."""
        self._index: SiteIndex | None = None
        self._index_stale = True
        self._operators: dict[int, tuple[str, str]] = {}
        self.index_rebuilding = False
        """While set, a stale tree keeps answering (a new one is being built elsewhere)."""

    # building

    def add_site(self, site: SiteInfo) -> None:
        known = self.sites.get(site.id)
        if known is None or (known.lat, known.lon) != (site.lat, site.lon):
            self._index_stale = True
        self.sites[site.id] = site
        self._by_site.setdefault(site.id, [])

    def remove_site(self, site_id: int) -> None:
        if self.sites.pop(site_id, None) is None:
            return
        self._index_stale = True
        for station_id in list(self._by_site.pop(site_id, ())):
            self.remove_station(station_id)

    def add_station(self, station: StationState) -> StationState:
        known = self.stations.get(station.id)
        if known is not None:
            return known
        self.stations[station.id] = station
        self._by_site.setdefault(station.site_id, []).append(station.id)
        return station

    def move_station(self, station_id: str, site_id: int) -> None:
        station = self.stations[station_id]
        if station.site_id == site_id:
            return
        self._unlist(station)
        station.site_id = site_id
        self._by_site.setdefault(site_id, []).append(station_id)

    def remove_station(self, station_id: str) -> None:
        station = self.stations.pop(station_id, None)
        if station is not None:
            self._unlist(station)

    def _unlist(self, station: StationState) -> None:
        listed = self._by_site.get(station.site_id)
        if listed is not None and station.id in listed:
            listed.remove(station.id)

    def add_connector(self, station_id: str, connector: ConnectorState, row_id: int | None = None) -> None:
        station = self.stations.get(station_id)
        if station is None:
            return
        key = (connector.evse_id, connector.connector_id)
        station.connectors.setdefault(key, connector)
        if row_id is not None:
            self._connector_rows[row_id] = (station_id, key)

    def put_connector(self, row_id: int, station_id: str, connector: ConnectorState) -> None:
        """Add or replace the connector stored as `row_id` (its EVSE/connector ids may have changed)."""
        self.remove_connector(row_id)
        station = self.stations.get(station_id)
        if station is not None:
            key = (connector.evse_id, connector.connector_id)
            station.connectors[key] = connector
            self._connector_rows[row_id] = (station_id, key)

    def connector_row_ids(self) -> Iterable[int]:
        """The store ids of the connectors this copy holds."""
        return self._connector_rows.keys()

    def remove_connector(self, row_id: int) -> None:
        held = self._connector_rows.pop(row_id, None)
        if held is not None and held[0] in self.stations:
            self.stations[held[0]].connectors.pop(held[1], None)

    def merge(self, changes: StoreChanges) -> None:
        """Bring the network to what the store says (see the module's update rule)."""
        self.apply_plan(self.plan_merge(changes))

    def plan_merge(self, changes: StoreChanges) -> MergePlan:
        """What `merge` would change, without changing anything: safe to run on a worker thread
        while the loop applies bus events, as long as nothing else changes the network's
        structure meanwhile (the service's refresh lock sees to that). A value an event changes
        during the comparison is put right by the replay that follows every refresh."""
        removed_sites = [site_id for site_id in self.sites if site_id not in changes.site_ids]
        gone = set(removed_sites)
        site_ids = (self.sites.keys() - gone) | {site.id for site in changes.sites}
        renamed = {op_id: named for op_id, named in changes.operators.items()
                   if self._operators.get(op_id, named) != named}
        open_sessions: dict[str, dict[int, int]] = {}
        for station_id, transaction_id, evse_id in changes.sessions:
            open_sessions.setdefault(station_id, {})[transaction_id] = evse_id
        plan = MergePlan(removed_sites, changes.sites, dict(changes.operators), renamed)
        present = set()
        for station_id, site_id, online, status, last_seen_at in changes.stations:
            if site_id not in site_ids:
                continue
            present.add(station_id)
            known = self.stations.get(station_id)
            if known is None or known.site_id in gone:  # a removed site takes its stations along
                plan.new_stations.append(StationState(station_id, site_id, online, status, last_seen_at,
                                                      sessions=open_sessions.get(station_id, {})))
                continue
            if known.site_id != site_id:
                plan.moved.append((station_id, site_id))
            if (known.online, known.status, known.last_seen_at) != (online, status, last_seen_at):
                plan.presence.append((station_id, online, status, last_seen_at))
            if known.sessions != open_sessions.get(station_id, {}):
                plan.sessions[station_id] = open_sessions.get(station_id, {})
        plan.removed_stations = [station_id for station_id in self.stations if station_id not in present]
        plan.removed_connectors = [row_id for row_id in self._connector_rows
                                   if row_id not in changes.connector_ids]
        plan.connectors = changes.connectors
        return plan

    def apply_plan(self, plan: MergePlan) -> None:
        """Make the changes `plan_merge` found; costs what changed, not the network's size."""
        for site_id in plan.removed_sites:
            self.remove_site(site_id)
        for site in plan.sites:
            self.add_site(site)
        if plan.renamed:
            for site in self.sites.values():
                if site.operator_id in plan.renamed:
                    site.operator, site.currency = plan.renamed[site.operator_id]
        self._operators = plan.operators
        for station in plan.new_stations:
            self.add_station(station)
        for station_id, site_id in plan.moved:
            self.move_station(station_id, site_id)
        for station_id, online, status, last_seen_at in plan.presence:
            station = self.stations[station_id]
            station.online, station.status, station.last_seen_at = online, status, last_seen_at
        for station_id in plan.removed_stations:
            self.remove_station(station_id)
        for row_id in plan.removed_connectors:
            self.remove_connector(row_id)
        for row_id, station_id, connector in plan.connectors:
            self.put_connector(row_id, station_id, connector)
        for station_id, sessions in plan.sessions.items():
            self.stations[station_id].sessions = sessions

    @property
    def index(self) -> SiteIndex:
        if self._index is None or (self._index_stale and not self.index_rebuilding):
            self.install_index(SiteIndex(self.positions()))
        return self._index

    @property
    def index_stale(self) -> bool:
        return self._index_stale

    def positions(self) -> list[tuple[int, float, float]]:
        """A snapshot of every site's position, for building a SiteIndex elsewhere."""
        return [(s.id, s.lat, s.lon) for s in self.sites.values()]

    def install_index(self, index: SiteIndex) -> None:
        self._index, self._index_stale = index, False

    # following the bus

    def apply(self, event: Event) -> None:
        station = self.stations.get(event.station_id)
        if station is None:
            return
        if isinstance(event, ConnectorStatusChanged):
            self._status(station, event)
        elif isinstance(event, StationConnected):
            station.online, station.last_seen_at = True, event.at
        elif isinstance(event, StationDisconnected | StationWentOffline):
            station.online = False
        elif isinstance(event, TransactionStarted):
            station.sessions[event.transaction_id] = event.evse_id
        elif isinstance(event, TransactionEnded):
            station.sessions.pop(event.transaction_id, None)

    @staticmethod
    def _status(station: StationState, event: ConnectorStatusChanged) -> None:
        if event.evse_id == 0:
            station.status = event.status
            return
        connector = station.connectors.get((event.evse_id, event.connector_id))
        if connector is not None:
            connector.status, connector.error_code, connector.status_at = event.status, event.error_code, event.at

    # searching

    def search(self, query: SearchQuery) -> list[Match]:
        if query.bbox is not None:
            lat, lon = (query.lat, query.lon) if query.lat is not None else query.bbox.centre
            candidates = self.index.within(query.bbox, lat, lon)
        else:
            candidates = self.index.near(query.lat, query.lon, query.radius_km)
        found: list[Match] = []
        for site_id, distance in candidates:
            site = self.sites.get(site_id)
            if site is None:  # deleted; the tree that still lists it is being rebuilt
                continue
            match = self._match(site, distance, query)
            if match is not None:
                found.append(match)
                if len(found) == query.limit:
                    break
        return found

    def _match(self, site: SiteInfo, distance: float, query: SearchQuery) -> Match | None:
        if query.operator is not None and site.operator != query.operator:
            return None
        stations, free = [], False
        for station_id in self._by_site.get(site.id, ()):
            station = self.stations[station_id]
            fitting = tuple(c for _, c in sorted(station.connectors.items()) if _fits(c, query))
            if fitting:
                stations.append((station, fitting))
                free = free or any(station.is_free(c) for c in fitting)
        if not stations or (query.available_now and not free):
            return None
        return Match(site, distance, tuple(stations))


def _fits(connector: ConnectorState, query: SearchQuery) -> bool:
    if query.standard is not None and connector.standard != query.standard.value:
        return False
    return query.min_power_kw is None or connector.max_power_kw >= query.min_power_kw


# -- results ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ForeignPrice:
    """A roaming partner's price of the reference session in its own currency (with its VAT),
    and the exchange rate that made the driver's price of it."""

    currency: str
    total_excl_vat: Decimal
    total_incl_vat: Decimal
    rate: Decimal | None = None
    """1 unit of `currency` in the driver's currency; None when there is no rate to use."""
    rate_valid_on: date | None = None
    rate_source: str | None = None
    rate_problem: str | None = None
    """Why the driver's price is not shown (no rate entered, or only a stale one)."""


@dataclass(frozen=True)
class Quote:
    """The price of the reference session for this driver, or why there is none."""

    kwh: Decimal
    minutes: Decimal | None
    start_local: datetime
    currency: str
    tariff: str | None = None
    total_excl_vat: Decimal | None = None
    total_incl_vat: Decimal | None = None
    reason: str | None = None
    capped_by: str | None = None
    """The regulated cap that lowered the price, when one did."""
    foreign: ForeignPrice | None = None
    """At a roaming partner's connector: the partner's own price behind this one."""


@dataclass(frozen=True)
class ConnectorResult:
    evse_id: int
    connector_id: int
    standard: str
    max_power_kw: Decimal
    status: str
    error_code: str | None
    status_at: datetime | None
    in_session: bool
    available: bool
    price: Quote


@dataclass(frozen=True)
class StationResult:
    id: str
    online: bool
    offline: bool
    status: str | None
    connectors: tuple[ConnectorResult, ...]


@dataclass(frozen=True)
class SiteResult:
    site: SiteInfo
    distance_km: float
    available: bool
    last_status_at: datetime | None
    stations: tuple[StationResult, ...]


@dataclass(frozen=True)
class Driver:
    token_group: str | None = None
    category: str = "regular"


class OtherNetworks(Protocol):
    """Stations of networks other than ours that our drivers may use: roaming partners'
    (services/partner_sites.py)."""

    async def search(self, session: AsyncSession, query: SearchQuery, now: datetime) -> list[SiteResult]:
        """Their sites that answer `query`, nearest first, priced for our driver."""
        ...


# -- the service ------------------------------------------------------------------------------


class SearchService:
    """Availability search over the live network, priced for the asking driver."""

    def __init__(
        self,
        sessions: async_sessionmaker,
        bus: EventBus,
        billing: BillingService,
        workers: Workers,
        *,
        refresh_seconds: float = 60.0,
        clock: Callable[[], datetime] = utcnow,
        others: OtherNetworks | None = None,
    ) -> None:
        self._sessions = sessions
        self._others = others
        self._bus = bus
        self._billing = billing
        self._workers = workers
        self._refresh_seconds = refresh_seconds
        self._clock = clock
        self.network = LiveNetwork()
        self._seen: tuple[int, int] | None = None
        self._since: datetime | None = None
        self._tariffs_seen: tuple[int, int] | None = None
        self._tariff_rows: dict[int, tuple[int, int | None]] = {}
        self._tariffs: dict[int, list[Tariff]] = {}
        self._estimates: dict[tuple, Quote] = {}
        self._estimates_minute: datetime | None = None
        self._lock = asyncio.Lock()
        self._replay: list[Event] | None = None
        self._tasks: list[asyncio.Task] = []
        self.full_loads = 0
        """How many times the whole network was read (once, at start); for tests and benchmarks."""

    # -- lifecycle

    async def start(self) -> None:
        """Subscribe to the bus first, then load, so no event falls between the two."""
        subscribed = asyncio.Event()
        self._tasks = [asyncio.create_task(self._follow(subscribed), name="search-events")]
        await subscribed.wait()
        await self.refresh()
        self._tasks.append(asyncio.create_task(self._refresh_periodically(), name="search-refresh"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=10)
        self._tasks = []

    async def _follow(self, subscribed: asyncio.Event) -> None:
        async with self._bus.subscribe(kinds=FOLLOWED) as events:
            subscribed.set()
            while True:
                event = await events.get()
                self.network.apply(event)
                if self._replay is not None:
                    self._replay.append(event)

    async def _refresh_periodically(self) -> None:
        while True:
            await asyncio.sleep(self._refresh_seconds)
            try:
                await self.refresh()
            except Exception:
                log.exception("search refresh failed; it runs again in %s s", self._refresh_seconds)

    async def refresh(self) -> None:
        """Merge into the network what changed in the store since the last refresh (everything,
        the first time). The read and the comparison run on a worker thread; on the loop only
        what differs is applied, then the events that arrived meanwhile are replayed."""
        async with self._lock:
            started = utcnow()  # the writers' clock, which stamps updated_at; not self._clock
            self._replay = []
            try:
                found = await self._workers.run(partial(self._read, self._since), refuse_when_busy=False)
                if found.network is not None:
                    self.full_loads += 1
                    self.network = found.network
                else:
                    self.network.apply_plan(found.plan)
                for event in self._replay:
                    self.network.apply(event)
            finally:
                self._replay = None
            self._since = started - CHANGE_OVERLAP
            self._seen = found.seen
            self._forget_tariffs(found.tariff_rows)
            await self._rebuild_index()

    async def _read(self, since: datetime | None, sessions: async_sessionmaker) -> _Found:
        """On a worker thread: what changed, and what the network must do about it. The first
        time a whole new network is built there, with its tree, and swapped in on the loop."""
        async with sessions() as session:
            changes = await read_changes(session, self.network, since)
            tariff_rows = await _tariff_rows(session)
        seen = (max(changes.site_ids, default=0), max(changes.connector_ids, default=0))
        if since is not None:
            return _Found(seen, tariff_rows, plan=self.network.plan_merge(changes))
        network = LiveNetwork()
        network.merge(changes)
        network.install_index(SiteIndex(network.positions()))
        return _Found(seen, tariff_rows, network=network)

    async def _rebuild_index(self) -> None:
        """A new k-d tree in a worker thread when site positions changed; the old one answers
        meanwhile (a search skips sites it lists that no longer exist)."""
        network = self.network
        if not network.index_stale:
            return
        network.index_rebuilding = True
        try:
            index = await asyncio.to_thread(lambda: SiteIndex(network.positions()))
            network.install_index(index)
        finally:
            network.index_rebuilding = False

    def _forget_tariffs(self, rows: dict[int, tuple[int, int | None]]) -> None:
        """Drop cached tariffs (and estimates) of the sites whose tariff list changed: a site's
        own tariff changes that site; a network-wide one, every site of its operator."""
        changed = {rows[i] for i in rows.keys() - self._tariff_rows.keys()}
        changed |= {self._tariff_rows[i] for i in self._tariff_rows.keys() - rows.keys()}
        self._tariff_rows = rows
        self._tariffs_seen = (max(rows, default=None), len(rows))
        if not changed:
            return
        sites = {site_id for _, site_id in changed if site_id is not None}
        operators = {operator_id for operator_id, site_id in changed if site_id is None}
        for site in self.network.sites.values():
            if site.id in sites or site.operator_id in operators:
                self._tariffs.pop(site.id, None)
        self._estimates = {}

    async def _catch_up(self, session: AsyncSession) -> None:
        """Notice new sites, connectors and tariffs at once (see the module's rule)."""
        site_max, connector_max, tariff_max, tariff_count = (await session.execute(select(
            select(func.max(Site.id)).scalar_subquery(),
            select(func.max(Connector.id)).scalar_subquery(),
            select(func.max(TariffRecord.id)).scalar_subquery(),
            select(func.count(TariffRecord.id)).scalar_subquery(),
        ))).one()
        if (site_max or 0, connector_max or 0) != self._seen:
            await self.refresh()
        elif (tariff_max, tariff_count) != self._tariffs_seen:
            self._forget_tariffs(await _tariff_rows(session))

    # -- searching

    async def search(self, query: SearchQuery) -> list[SiteResult]:
        now = self._clock()
        async with self._sessions() as session:
            await self._catch_up(session)
            await self._billing.caps.current(session)  # the regulated caps a quote respects
            driver = await _driver(session, query.token)
            matches = self.network.search(query)
            found = [await self._result(session, match, query, driver, now) for match in matches]
            if self._others is None:
                return found
            found += await self._others.search(session, query, now)
        found.sort(key=lambda result: result.distance_km)  # stable: ours first at equal distance
        return found[: query.limit]

    async def _result(
        self, session: AsyncSession, match: Match, query: SearchQuery, driver: Driver, now: datetime
    ) -> SiteResult:
        tariff, reason = await self._tariff_for(session, match.site, driver, now)
        start_local = now.astimezone(ZoneInfo(match.site.timezone)).replace(second=0, microsecond=0)
        stations, free, last = [], False, None
        for station, connectors in match.stations:
            rows = []
            for c in connectors:
                available = station.is_free(c)
                free = free or available
                if c.status_at is not None and (last is None or c.status_at > last):
                    last = c.status_at
                rows.append(ConnectorResult(
                    c.evse_id, c.connector_id, c.standard, c.max_power_kw, c.status, c.error_code,
                    c.status_at, c.evse_id in station.sessions.values(), available,
                    self._quote(match.site, tariff, reason, c, query, start_local),
                ))
            stations.append(StationResult(station.id, station.online, not station.online,
                                          station.status, tuple(rows)))
        return SiteResult(match.site, match.distance_km, free, last, tuple(stations))

    async def _tariff_for(
        self, session: AsyncSession, site: SiteInfo, driver: Driver, now: datetime
    ) -> tuple[Tariff | None, str | None]:
        tariffs = self._tariffs.get(site.id)
        if tariffs is None:
            row = await session.get(Site, site.id)
            if row is None:
                return None, "the site is no longer registered"
            try:
                tariffs = await self._billing.tariffs_at(session, row)
            except TariffRefused as exc:
                return None, f"the site's tariffs cannot be read: {exc}"
            self._tariffs[site.id] = tariffs
        try:
            return select_tariff(tariffs, now, token_group=driver.token_group,
                                 driver_category=driver.category), None
        except NoApplicableTariff as exc:
            return None, str(exc)

    def _quote(
        self, site: SiteInfo, tariff: Tariff | None, reason: str | None, connector: ConnectorState,
        query: SearchQuery, start_local: datetime,
    ) -> Quote:
        minutes = query.minutes if query.minutes is not None else reference_minutes(query.kwh, connector.max_power_kw)
        base = Quote(query.kwh, minutes, start_local, site.currency)
        if tariff is None:
            return replace(base, reason=reason)
        if minutes is None:
            return replace(base, reason="the connector's power is unknown, so no session can be priced")
        minute = start_local.astimezone(timezone.utc)
        if self._estimates_minute != minute:
            self._estimates, self._estimates_minute = {}, minute
        caps = tuple(self._billing.caps.binding(site.lat, site.lon, tariff.currency))
        key = (tariff.id, site.timezone, query.kwh, minutes, caps)
        quote = self._estimates.get(key)
        if quote is None:
            quote = _priced(base, tariff, caps)
            self._estimates[key] = quote
        return quote


def reference_minutes(kwh: Decimal, max_power_kw: Decimal) -> Decimal | None:
    """Minutes to charge `kwh` at min(connector power, 50 kW), to the hundredth; None if the
    connector's power is unknown (zero)."""
    power = min(max_power_kw, REFERENCE_POWER_CAP_KW)
    if power <= 0:
        return None
    return (kwh * 60 / power).quantize(Decimal("0.01"))


def _priced(base: Quote, tariff: Tariff, caps: tuple[PriceCapRule, ...] = ()) -> Quote:
    """The reference session priced by the one computation, lowered to every regulated cap that
    binds the site, as the receipt will be."""
    try:
        priced = estimate(tariff, base.kwh, base.minutes, base.start_local)
    except PricingError as exc:
        return replace(base, tariff=tariff.id, reason=str(exc))
    total, capped_by = priced.total_cost, None
    for rule in caps:
        total, record = cap_total(total, priced.total_energy, rule, parking=priced.total_parking_cost)
        capped_by = record.rule_id if record is not None else capped_by
    return replace(
        base, currency=priced.currency, tariff=tariff.id, total_excl_vat=total.excl_vat.amount,
        total_incl_vat=(total.incl_vat or total.excl_vat).amount, capped_by=capped_by,
    )


# -- loading from the store -------------------------------------------------------------------


CHANGE_OVERLAP = timedelta(minutes=2)
"""How far before the last refresh the next one looks for changed rows. `updated_at` is the
writer's clock when it flushed, not when it committed; a write that committed later than this
after its flush would be missed until the row changes again."""

_CHUNK = 500


async def read_changes(session: AsyncSession, network: LiveNetwork, since: datetime | None) -> StoreChanges:
    """What the store holds that `network` must learn: rows changed after `since` (all when
    None), plus the id lists and presence that reveal deletions and moves. Column reads only,
    no ORM objects: at 50,000 stations that is most of the cost."""
    operators = {row.id: (row.code, row.currency)
                 for row in await session.execute(select(Operator.id, Operator.code, Operator.currency))}
    site_ids = set((await session.scalars(select(Site.id))).all())
    sites = select(Site.id, Site.code, Site.name, Site.city, Site.lat, Site.lon, Site.timezone, Site.operator_id)
    if since is not None:
        sites = sites.where(Site.updated_at > since)
    site_rows = list(await session.execute(sites))
    if since is not None:
        # Rows the copy lacks though their stamp is old (an import that back-dates them).
        missing = sorted(site_ids - set(network.sites) - {r.id for r in site_rows})
        base = select(Site.id, Site.code, Site.name, Site.city, Site.lat, Site.lon, Site.timezone, Site.operator_id)
        for n in range(0, len(missing), _CHUNK):
            site_rows += await session.execute(base.where(Site.id.in_(missing[n:n + _CHUNK])))
    changed_sites = [
        SiteInfo(r.id, r.code, r.name, r.city, r.lat, r.lon, r.timezone, *operators[r.operator_id], r.operator_id)
        for r in site_rows
    ]
    stations = [tuple(r) for r in await session.execute(
        select(Station.id, Station.site_id, Station.online, Station.status, Station.last_seen_at))]
    connector_ids = set((await session.scalars(select(Connector.id))).all())
    columns = select(Connector.id, Connector.station_id, Connector.evse_id, Connector.connector_id,
                     Connector.standard, Connector.max_power_kw, Connector.status, Connector.error_code,
                     Connector.status_at)
    if since is None:
        rows = list(await session.execute(columns))
    else:
        rows = list(await session.execute(columns.where(Connector.updated_at > since)))
        arriving = [s[0] for s in stations if s[0] not in network.stations]
        for n in range(0, len(arriving), _CHUNK):
            rows += await session.execute(columns.where(Connector.station_id.in_(arriving[n:n + _CHUNK])))
        lacking = sorted(connector_ids - set(network.connector_row_ids()) - {r.id for r in rows})
        for n in range(0, len(lacking), _CHUNK):
            rows += await session.execute(columns.where(Connector.id.in_(lacking[n:n + _CHUNK])))
    connectors = [(r.id, r.station_id, ConnectorState(r.evse_id, r.connector_id, r.standard, r.max_power_kw,
                                                      r.status, r.error_code, r.status_at)) for r in rows]
    sessions = [tuple(r) for r in await session.execute(
        select(Transaction.station_id, Transaction.id, Transaction.evse_id).where(Transaction.state == "Active"))]
    return StoreChanges(operators, site_ids, changed_sites, stations, connector_ids, connectors, sessions)


async def _tariff_rows(session: AsyncSession) -> dict[int, tuple[int, int | None]]:
    """Every published tariff: id -> (operator id, site id or None for network-wide)."""
    rows = await session.execute(select(TariffRecord.id, TariffRecord.operator_id, TariffRecord.site_id))
    return {row.id: (row.operator_id, row.site_id) for row in rows}


async def _driver(session: AsyncSession, token: str | None) -> Driver:
    """The audience a token belongs to. An unknown token prices as a regular driver: search
    must not tell a stranger which tokens exist."""
    if not token:
        return Driver()
    row = await session.scalar(select(IdToken).where(IdToken.token == token))
    if row is None or row.status != "Accepted":
        return Driver()
    return Driver(row.group_id, row.category or "regular")


class SearchPerDatabase:
    """Data residency (store/residency.py): drivers see every operator's stations, wherever
    they live. Each database has its own live network (a SearchService, loaded and refreshed
    in that database's scope); a search asks each and merges the sites by distance. Station
    ids are one namespace across databases, so each network takes the events of its own."""

    RETRY_SECONDS = 30.0
    """How soon a tenant database that could not be read at start is tried again."""

    def __init__(self, residency: Residency, make: Callable[[], SearchService]) -> None:
        self._each = {key: make() for key in residency.keys}
        self._retrying: list[asyncio.Task] = []

    @property
    def network(self) -> LiveNetwork:
        """The platform database's network."""
        return self._each[None].network

    @property
    def full_loads(self) -> int:
        return sum(search.full_loads for search in self._each.values())

    async def start(self) -> None:
        for key, search in self._each.items():
            with database_scope(key):  # its tasks, and the worker jobs they ask for, keep this scope
                try:
                    await search.start()
                except Exception as error:
                    if key is None or not is_unavailable(error):
                        raise
                    # One country's database is down: drivers still find every other station,
                    # and its own join as soon as it answers.
                    log.warning("search: the database %s is unavailable; trying again in %g s", key,
                                self.RETRY_SECONDS)
                    await search.stop()
                    self._retrying.append(asyncio.create_task(self._start_later(search)))

    async def _start_later(self, search: SearchService) -> None:
        while True:
            await asyncio.sleep(self.RETRY_SECONDS)
            try:
                await search.start()
                return
            except Exception as error:
                await search.stop()
                if not is_unavailable(error):
                    log.exception("search: a tenant database's network could not be loaded")

    async def stop(self) -> None:
        for task in self._retrying:
            task.cancel()
        self._retrying = []
        for search in self._each.values():
            await search.stop()

    async def refresh(self) -> None:
        for key, search in self._each.items():
            with database_scope(key):
                await search.refresh()

    async def search(self, query: SearchQuery) -> list[SiteResult]:
        found: list[SiteResult] = []
        for key, search in self._each.items():
            with database_scope(key):
                found += await search.search(query)
        found.sort(key=lambda result: result.distance_km)  # each database's are in this order already
        return found[: query.limit]
