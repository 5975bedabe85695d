"""The availability index on hand-built sites: nearest first, radius and box, filters, and
'available now' following the bus events."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest

from silkcharge.domain.connectors import ConnectorStandard
from silkcharge.domain.events import (
    ConnectorStatusChanged,
    StationConnected,
    StationDisconnected,
    TransactionEnded,
    TransactionStarted,
)
from silkcharge.domain.geo import haversine_km
from silkcharge.services.search import (
    BoundingBox,
    ConnectorState,
    InvalidSearch,
    LiveNetwork,
    SearchQuery,
    SiteIndex,
    SiteInfo,
    StationState,
    reference_minutes,
    standard_of,
)

AT = datetime(2026, 5, 1, 9, 0, tzinfo=timezone.utc)
ALMATY = (43.238, 76.889)

# code, lat, lon, operator, [(standard, kW, status)]
SITES = [
    ("ALA-CENTRE", 43.240, 76.890, "KZ-A", [("gbt_dc", 60, "Available"), ("type2", 22, "Available")]),
    ("ALA-EAST", 43.250, 76.950, "KZ-A", [("ccs2", 120, "Charging")]),
    ("ALA-WEST", 43.230, 76.800, "KZ-B", [("gbt_dc", 30, "Available")]),
    ("KASKELEN", 43.200, 76.620, "KZ-B", [("gbt_dc", 160, "Faulted")]),
    ("BISHKEK", 42.874, 74.590, "KG-A", [("ccs2", 60, "Available")]),
    ("TASHKENT", 41.311, 69.279, "UZ-A", [("gbt_dc", 120, "Available")]),
]


@pytest.fixture
def network() -> LiveNetwork:
    net = LiveNetwork()
    for number, (code, lat, lon, operator, connectors) in enumerate(SITES, start=1):
        net.add_site(SiteInfo(number, code, code.title(), None, lat, lon, "Asia/Almaty", operator, "KZT"))
        station = net.add_station(StationState(f"ST-{code}", number, online=True))
        for evse, (standard, kw, status) in enumerate(connectors, start=1):
            net.add_connector(station.id, ConnectorState(evse, 1, standard, Decimal(kw), status, None, AT))
    return net


def codes(matches) -> list[str]:
    return [m.site.code for m in matches]


def near(**options) -> SearchQuery:
    return SearchQuery(lat=ALMATY[0], lon=ALMATY[1], **options)


def test_radius_search_returns_sites_within_it_nearest_first(network):
    found = network.search(near(radius_km=10))
    assert codes(found) == ["ALA-CENTRE", "ALA-EAST", "ALA-WEST"]
    distances = [m.distance_km for m in found]
    assert distances == sorted(distances)
    assert distances[0] == pytest.approx(haversine_km(*ALMATY, 43.240, 76.890), rel=1e-9)


def test_a_larger_radius_reaches_the_next_city_and_limit_keeps_the_nearest(network):
    assert "BISHKEK" in codes(network.search(near(radius_km=300)))
    assert "TASHKENT" not in codes(network.search(near(radius_km=300)))
    assert codes(network.search(near(radius_km=2000, limit=2))) == ["ALA-CENTRE", "ALA-EAST"]


def test_index_agrees_with_haversine_at_the_radius_edge():
    index = SiteIndex([(1, 43.0, 76.0), (2, 43.0 + 10 / 111.2, 76.0), (3, 43.0 + 10.2 / 111.2, 76.0)])
    exact = haversine_km(43.0, 76.0, 43.0 + 10 / 111.2, 76.0)
    assert [i for i, _ in index.near(43.0, 76.0, exact + 1e-6)] == [1, 2]
    assert SiteIndex([]).near(43.0, 76.0, 50) == []


def test_bounding_box_measures_from_the_given_point_or_the_centre(network):
    box = BoundingBox(43.0, 76.5, 43.5, 77.0)
    assert set(codes(network.search(SearchQuery(bbox=box)))) == {"ALA-CENTRE", "ALA-EAST", "ALA-WEST", "KASKELEN"}
    from_kaskelen = network.search(SearchQuery(bbox=box, lat=43.2, lon=76.62))
    assert codes(from_kaskelen)[0] == "KASKELEN"


def test_filters_by_standard_power_and_operator(network):
    gbt = network.search(near(radius_km=50, standard=ConnectorStandard.GBT_DC))
    assert codes(gbt) == ["ALA-CENTRE", "ALA-WEST", "KASKELEN"]
    # only the fitting connectors are listed
    assert [c.standard for _, cs in gbt[0].stations for c in cs] == ["gbt_dc"]
    assert codes(network.search(near(radius_km=50, min_power_kw=Decimal(100)))) == ["ALA-EAST", "KASKELEN"]
    assert codes(network.search(near(radius_km=50, operator="KZ-B"))) == ["ALA-WEST", "KASKELEN"]


def test_available_now_excludes_faulted_busy_and_offline(network):
    query = near(radius_km=50, standard=ConnectorStandard.GBT_DC, available_now=True)
    assert codes(network.search(query)) == ["ALA-CENTRE", "ALA-WEST"]
    network.apply(StationDisconnected("ST-ALA-WEST", AT, "closed"))
    assert codes(network.search(query)) == ["ALA-CENTRE"]
    network.apply(TransactionStarted("ST-ALA-CENTRE", AT, 7, 1, "CARD"))
    assert codes(network.search(query)) == []
    network.apply(TransactionEnded("ST-ALA-CENTRE", AT, 7, "1000", "Local"))
    network.apply(StationConnected("ST-ALA-WEST", AT, "1.6"))
    network.apply(ConnectorStatusChanged("ST-KASKELEN", AT, 1, 1, "Available", None))
    assert codes(network.search(query)) == ["ALA-CENTRE", "ALA-WEST", "KASKELEN"]


def test_status_events_update_the_connector_and_station_wide_status(network):
    later = datetime(2026, 5, 1, 9, 5, tzinfo=timezone.utc)
    network.apply(ConnectorStatusChanged("ST-ALA-CENTRE", later, 1, 1, "Faulted", "GroundFailure"))
    connector = network.stations["ST-ALA-CENTRE"].connectors[(1, 1)]
    assert (connector.status, connector.error_code, connector.status_at) == ("Faulted", "GroundFailure", later)
    network.apply(ConnectorStatusChanged("ST-ALA-WEST", later, 0, 0, "Unavailable", None))
    query = near(radius_km=50, available_now=True)
    assert codes(network.search(query)) == ["ALA-CENTRE"]  # its Type 2 is still free
    network.apply(ConnectorStatusChanged("UNKNOWN", later, 1, 1, "Faulted", None))  # ignored


def test_a_new_site_is_indexed_on_the_next_search(network):
    assert len(network.index) == len(SITES)
    network.add_site(SiteInfo(99, "ALA-NEW", "New", None, 43.2381, 76.8891, "Asia/Almaty", "KZ-A", "KZT"))
    network.add_station(StationState("ST-NEW", 99, online=True))
    network.add_connector("ST-NEW", ConnectorState(1, 1, "ccs2", Decimal(50), "Available"))
    assert codes(network.search(near(radius_km=1)))[0] == "ALA-NEW"


@pytest.mark.parametrize("options, problem", [
    ({"lat": 43.2, "lon": 76.9, "radius_km": 0}, "radius_km"),
    ({"lat": 43.2, "lon": 76.9, "radius_km": 2001}, "radius_km"),
    ({"lat": 91, "lon": 76.9}, "lat 91"),
    ({"lat": 43.2, "lon": 181}, "lon 181"),
    ({"bbox": BoundingBox(44, 76, 43, 77)}, "inverted"),
    ({}, "give lat and lon"),
    ({"lat": 43.2, "lon": 76.9, "limit": 0}, "limit"),
])
def test_bad_queries_are_refused_with_a_reason(options, problem):
    with pytest.raises(InvalidSearch, match=problem):
        SearchQuery(**options)


def test_standards_are_read_from_drivers_words():
    assert standard_of("GB/T DC") is ConnectorStandard.GBT_DC
    assert standard_of("Type 2") is ConnectorStandard.TYPE2
    assert standard_of(None) is None
    with pytest.raises(InvalidSearch, match="unknown connector standard"):
        standard_of("Schuko")


def test_reference_session_charges_at_most_at_50_kw():
    assert reference_minutes(Decimal(30), Decimal(60)) == Decimal("36.00")
    assert reference_minutes(Decimal(30), Decimal(22)) == Decimal("81.82")
    assert reference_minutes(Decimal(30), Decimal(0)) is None
