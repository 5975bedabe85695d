"""The shipped seed network: coverage of the region, well-formed ids, honest provenance."""

from __future__ import annotations

import copy
import importlib.util
import math
import sys
from collections import Counter
from decimal import Decimal
from importlib.resources import files
from pathlib import Path

import numpy as np
import pytest

from silkcharge.data.seed import load_seed_network, validate_seed_network
from silkcharge.domain.connectors import ConnectorStandard
from silkcharge.trips.roads import load_road_graph

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"

REQUIRED_CITIES = (
    "Almaty", "Astana", "Shymkent", "Bishkek", "Osh", "Tashkent", "Samarkand", "Bukhara",
    "Dushanbe", "Khujand",
)
REQUIRED_CORRIDORS = (
    "Almaty-Bishkek", "Bishkek-Taraz-Shymkent-Tashkent", "Tashkent-Samarkand-Bukhara",
    "Tashkent-Khujand-Dushanbe", "Bishkek-Osh", "Almaty-Balkhash-Karaganda-Astana",
    "Almaty-Khorgos",
)
CURRENCIES = {"KZ": "KZT", "KG": "KGS", "UZ": "UZS", "TJ": "TJS", "TM": "TMT", "CN": "CNY"}
TIMEZONES = {
    "KZ": "Asia/Almaty", "KG": "Asia/Bishkek", "UZ": "Asia/Tashkent", "TJ": "Asia/Dushanbe",
    "TM": "Asia/Ashgabat", "CN": "Asia/Shanghai",
}
IRS_KM_MARKERS = (11, 15, 107, 130, 284, 300, 322)


@pytest.fixture(scope="module")
def network() -> dict:
    return load_seed_network()


def stations(network: dict) -> list[dict]:
    return [station for site in network["sites"] for station in site["stations"]]


def connectors(network: dict) -> list[dict]:
    return [c for s in stations(network) for evse in s["evses"] for c in evse["connectors"]]


def test_every_named_city_has_a_city_site(network):
    cities = {site["city"] for site in network["sites"] if site["corridor"] is None}
    assert set(REQUIRED_CITIES) <= cities


def test_every_named_corridor_has_sites(network):
    per_corridor = Counter(site["corridor"] for site in network["sites"])
    for corridor in REQUIRED_CORRIDORS:
        assert per_corridor[corridor] >= 2, corridor


def test_all_irs_m34_km_marker_sites_are_seeded(network):
    names = " ".join(site["name"] for site in network["sites"])
    for km in IRS_KM_MARKERS:
        assert f"IRS km {km} " in names


def test_station_count_fits_the_hundred_charger_demo(network):
    assert 100 <= len(stations(network)) <= 130


def test_each_site_has_one_to_four_stations(network):
    assert all(1 <= len(site["stations"]) <= 4 for site in network["sites"])


def test_site_codes_and_station_ids_are_unique(network):
    codes = [site["code"] for site in network["sites"]]
    ids = [station["station_id"] for station in stations(network)]
    assert len(codes) == len(set(codes))
    assert len(ids) == len(set(ids))


def test_station_ids_are_short_ascii_and_start_with_their_site_code(network):
    for site in network["sites"]:
        for station in site["stations"]:
            station_id = station["station_id"]
            assert len(station_id) <= 48 and station_id.isascii()
            assert station_id.replace("-", "").isalnum()
            assert station_id.startswith(site["code"] + "-")


def test_all_connector_standards_are_known(network):
    known = {standard.value for standard in ConnectorStandard}
    assert {c["standard"] for c in connectors(network)} <= known


def test_power_is_a_positive_decimal_string_never_a_float(network):
    for connector in connectors(network):
        assert isinstance(connector["max_power_kw"], str)
        assert Decimal(connector["max_power_kw"]) > 0


def test_mix_of_ocpp_versions_connectors_and_vendors(network):
    versions = Counter(station["ocpp_version"] for station in stations(network))
    standards = {c["standard"] for c in connectors(network)}
    vendors = {station["vendor"] for station in stations(network)}
    assert versions["1.6"] >= 20 and versions["2.0.1"] >= 20
    # 2.1 only where the demo needs it: the Dushanbe taxi depot's bidirectional (V2G) charger
    assert set(versions) == {"1.6", "2.0.1", "2.1"} and versions["2.1"] == 1
    assert {"gbt_dc", "gbt_ac", "ccs2", "type2"} <= standards
    assert len(vendors) >= 4


def test_ocpp16_stations_have_one_connector_per_evse(network):
    for station in stations(network):
        if station["ocpp_version"] == "1.6":
            assert all(len(evse["connectors"]) == 1 for evse in station["evses"])


def test_one_operator_per_country_with_its_currency(network):
    operators = {op["country"]: op for op in network["operators"]}
    assert len(operators) == len(network["operators"])
    assert {country: op["currency"] for country, op in operators.items()} == CURRENCIES
    assert operators["KZ"]["vat_percent"] == "16"
    assert {site["country"] for site in network["sites"]} <= set(operators)
    for site in network["sites"]:
        assert site["operator"] == operators[site["country"]]["code"]


def test_site_timezone_follows_its_country(network):
    for site in network["sites"]:
        assert site["timezone"] == TIMEZONES[site["country"]], site["code"]


def test_turkmenistan_is_a_charging_desert_with_only_arkadag(network):
    tm = [site for site in network["sites"] if site["country"] == "TM"]
    assert [site["city"] for site in tm] == ["Arkadag"]


def test_every_site_says_what_is_sourced_and_what_is_illustrative(network):
    for site in network["sites"]:
        provenance = site["provenance"]
        assert provenance["source"] and provenance["date"], site["code"]
        assert provenance["confidence"] in {"high", "medium", "low"}
        assert "Sourced:" in provenance["note"] and "Illustrative:" in provenance["note"]
        assert "not surveyed" in provenance["note"]


def test_corridor_sites_credit_openstreetmap(network):
    for site in network["sites"]:
        if site["corridor"] is not None:
            assert "© OpenStreetMap contributors, ODbL-1.0" in site["provenance"]["note"]


def test_meta_states_sources_licences_and_that_it_is_never_complete(network):
    meta = network["meta"]
    assert meta["generated"] == "2026-11-21"
    assert "never complete" in meta["caveat"]
    assert "ODbL-1.0" in {source["licence"] for source in meta["sources"]}
    assert all(source["name"] and source["note"] for source in meta["sources"])


def test_readme_ships_the_openstreetmap_attribution():
    readme = files("silkcharge.data.seed").joinpath("README.md").read_text(encoding="utf-8")
    assert "© OpenStreetMap contributors" in readme and "ODbL-1.0" in readme


def first_station(data: dict) -> dict:
    return data["sites"][0]["stations"][0]


@pytest.mark.parametrize(
    ("corrupt", "message"),
    [
        (lambda d: first_station(d)["evses"][0]["connectors"][0].update(standard="gbt"),
         "unknown connector standard 'gbt'"),
        (lambda d: d["sites"][1]["stations"][0].update(
            station_id=first_station(d)["station_id"]), "duplicate station id"),
        (lambda d: d["sites"][0].update(lat=91.0), "outside Central Asia"),
        (lambda d: d["sites"][0].update(lon="76.9"), "coordinates must be numbers"),
        (lambda d: d["sites"][0].update(operator="XX-NOPE"), "unknown operator 'XX-NOPE'"),
        (lambda d: first_station(d)["evses"][0]["connectors"][0].update(max_power_kw=120.0),
         "must be a decimal string"),
        (lambda d: first_station(d).update(station_id="KZ ALA 001 A"), "1-48 ASCII"),
        (lambda d: first_station(d).update(ocpp_version="2.2"), "OCPP version '2.2'"),
        (lambda d: d["sites"][0]["provenance"].pop("confidence"), "provenance lacks confidence"),
        (lambda d: d["sites"][1].update(code=d["sites"][0]["code"]), "duplicate site code"),
    ],
    ids=[
        "unknown-standard", "duplicate-station-id", "latitude-out-of-region",
        "coordinate-not-a-number", "unknown-operator", "float-power", "bad-station-id",
        "unknown-ocpp-version", "missing-confidence", "duplicate-site-code",
    ],
)
def test_validation_names_the_problem(network, corrupt, message):
    data = copy.deepcopy(network)
    corrupt(data)
    with pytest.raises(ValueError, match=message):
        validate_seed_network(data)


def test_validation_message_names_the_site(network):
    data = copy.deepcopy(network)
    data["sites"][2]["lat"] = 0.0
    with pytest.raises(ValueError, match=data["sites"][2]["code"]):
        validate_seed_network(data)


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="needs the shared source data folder")
def test_build_script_reproduces_the_shipped_file(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location(
        "build_seed_network", REPO_ROOT / "scripts" / "build_seed_network.py"
    )
    script = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, script)
    monkeypatch.setattr(sys, "path", [*sys.path])
    spec.loader.exec_module(script)
    output = tmp_path / "network.json"
    script.main([str(SHARED_DATA), "--output", str(output)])
    shipped = files("silkcharge.data.seed").joinpath("network.json").read_bytes()
    assert output.read_bytes() == shipped


def km_off_polyline(coords: list[tuple[float, float]], lat: float, lon: float) -> float:
    """Distance in km from a point to a polyline, in a local flat projection."""
    path = (np.asarray(coords) - [lat, lon]) * [110.57, 111.32 * math.cos(math.radians(lat))]
    a, ab = path[:-1], path[1:] - path[:-1]
    t = np.clip(-(a * ab).sum(1) / np.maximum((ab * ab).sum(1), 1e-12), 0.0, 1.0)
    return float(np.hypot(*(a + ab * t[:, None]).T).min())


def test_corridor_sites_lie_on_the_shared_road_route_of_their_corridor(network):
    """Plans and network planning route on silkcharge.trips.roads, so a corridor site off that
    module's route is a charger no plan passes (once a 589 km gap on Almaty-Astana)."""
    roads = load_road_graph()
    routes = network["meta"]["corridors"]
    corridor_sites = [site for site in network["sites"] if site["corridor"] is not None]
    assert {site["corridor"] for site in corridor_sites} <= set(routes)
    for name, how in routes.items():
        legs = [roads.shortest_path(a, b, private_car=how["private_car"])
                for a, b in zip(how["stops"], how["stops"][1:])]
        coords = [point for leg in legs for point in leg.coords]
        for site in (s for s in corridor_sites if s["corridor"] == name):
            assert km_off_polyline(coords, site["lat"], site["lon"]) <= 3.0, site["code"]
