"""The shipped road graph routes the region's corridors at believable distances."""

from __future__ import annotations

import json
import time
from datetime import date
from importlib import resources

import numpy as np
import pytest

from silkcharge.domain.geo import bearing, haversine_km
from silkcharge.trips.roads import NoRoute, UnknownPlace, load_road_graph, node_elevations

ROADS = resources.files("silkcharge.data") / "roads"


@pytest.fixture(scope="module")
def roads():
    return load_road_graph()


def test_haversine_almaty_bishkek_is_about_196_km_as_the_crow_flies():
    assert haversine_km(43.238, 76.946, 42.875, 74.603) == pytest.approx(195, abs=3)
    assert bearing(0, 0, 1, 0) == pytest.approx(0)
    assert bearing(0, 0, 0, 1) == pytest.approx(90)


def test_graph_is_one_connected_component_of_12405_osm_nodes_and_the_curated_waypoints(roads):
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    profiles = json.loads((ROADS / "profiles.json").read_text(encoding="utf-8"))["roads"]
    curated = sum(len(road["points"]) for road in profiles if road["adds_road"])
    assert roads.node_count == 12405 + curated and curated >= 15
    n = roads.node_count
    adjacency = coo_matrix((np.ones(roads.edge_count), (roads.edge_a, roads.edge_b)), shape=(n, n))
    assert connected_components(adjacency, directed=False)[0] == 1


def test_every_node_has_a_height_and_known_cities_sit_at_theirs(roads):
    assert np.isfinite(roads.elev).all()
    assert roads.elev.min() >= -50 and roads.elev.max() < 5000
    # round public figures: Tashkent 455 m, Naryn 2,030 m, Kashgar 1,290 m, Termez 300 m
    for name, height in [("Tashkent", 455), ("Naryn", 2030), ("Kashgar", 1290), ("Termez", 300)]:
        assert roads.elev[roads.place(name).node] == pytest.approx(height, abs=150), name


def test_elevations_built_for_another_road_graph_are_refused():
    with np.load(ROADS / "highways.npz") as graph:
        lat_e3, lon_e3 = graph["lat_e3"], graph["lon_e3"].copy()
    assert len(node_elevations(ROADS / "elevation.npz", lat_e3, lon_e3)) == len(lat_e3)
    lon_e3[7] += 1
    with pytest.raises(ValueError, match="build_elevations"):
        node_elevations(ROADS / "elevation.npz", lat_e3, lon_e3)


def _climb(roads, route) -> tuple[float, float]:
    steps = [roads.edge_elevation(e, u) for e, u in zip(route.edges, route.nodes)]
    return sum(up for up, _ in steps), sum(down for _, down in steps)


def test_khujand_dushanbe_climbs_over_the_shahristan_and_anzob_tunnels_at_330_km(roads):
    route = roads.shortest_path("Khujand", "Dushanbe")
    assert route.km == pytest.approx(330, rel=0.02)
    heights = roads.elev[list(route.nodes)]
    assert heights.max() == 2720  # the Anzob tunnel (facts.md §3.1)
    up, down = _climb(roads, route)
    # Khujand ~300 m, two tunnels at ~2,650 and 2,720 m, Dushanbe ~800 m
    assert up > 3000 and down > 2500 and up - down == pytest.approx(
        heights[-1] - heights[0])


def test_almaty_bishkek_climbs_the_kordai_pass_and_termez_road_its_ridge(roads):
    kordai = roads.shortest_path("Almaty", "Bishkek")
    assert roads.elev[list(kordai.nodes)].max() >= 1200
    termez = roads.shortest_path("Tashkent", "Termez")
    assert termez.km == pytest.approx(708, rel=0.02)
    assert roads.elev[list(termez.nodes)].max() >= 1500


def test_routed_almaty_bishkek_is_within_10_percent_of_240_km(roads):
    assert roads.distance_km("Almaty", "Bishkek") == pytest.approx(240, rel=0.10)


def test_khujand_dushanbe_routes_about_330_km_after_correction(roads):
    assert roads.distance_km("Khujand", "Dushanbe") == pytest.approx(330, rel=0.02)


def test_corrected_legs_route_at_their_reference_and_keep_osm_km(roads):
    assert roads.distance_km("Tashkent", "Termez") == pytest.approx(708, rel=0.02)
    assert roads.distance_km("Bishkek", "Osh") == pytest.approx(650, rel=0.02)
    assert roads.distance_km("Almaty", "Astana") == pytest.approx(1245, rel=0.02)
    assert (roads.km >= roads.km_osm - 1e-3).all()
    assert (roads.km > roads.km_osm * 1.05).sum() > 50


def test_uncorrected_neighbours_of_corrected_legs_stay_near_reference(roads):
    assert roads.distance_km("Tashkent", "Samarkand") == pytest.approx(300, rel=0.05)
    assert roads.distance_km("Karaganda", "Astana") == pytest.approx(215, rel=0.05)


def test_almaty_tashkent_passes_a_kz_kg_or_kz_uz_crossing_with_its_wait(roads):
    route = roads.shortest_path("Almaty", "Tashkent")
    pairs = {frozenset(p.crossing.countries) for p in route.border_crossings}
    assert pairs & {frozenset({"KZ", "KG"}), frozenset({"KZ", "UZ"})}
    assert all(p.wait_min > 0 for p in route.border_crossings)
    assert route.border_wait_min >= 30


def test_avoiding_a_border_gives_a_longer_route_or_no_route(roads):
    direct = roads.shortest_path("Almaty", "Bishkek")
    assert [p.crossing.id for p in direct.border_crossings] == ["kordai-akzhol"]
    detour = roads.shortest_path("Almaty", "Bishkek", avoid_borders=["kordai-akzhol"])
    assert detour.km > direct.km
    assert "kordai-akzhol" not in [p.crossing.id for p in detour.border_crossings]
    around = roads.shortest_path("Almaty", "Bishkek", avoid_borders=["KZ-KG"])
    assert around.km > detour.km >= direct.km
    every_kz_border = [f"KZ-{other}" for other in ("KG", "UZ", "CN", "RU", "TM")]
    with pytest.raises(NoRoute):
        roads.shortest_path("Almaty", "Bishkek", avoid_borders=every_kz_border)


def test_crossing_closed_to_private_cars_is_not_used_by_private_cars(roads):
    truck = roads.shortest_path("Osh", "Kashgar", private_car=False)
    assert "irkeshtam" in [p.crossing.id for p in truck.border_crossings]
    closed = {c.id for c in roads.crossings if not c.open_to_private_cars}
    assert "irkeshtam" in closed
    # Every listed road into China is closed to independent private cars, so there is none.
    with pytest.raises(NoRoute):
        roads.shortest_path("Osh", "Kashgar", private_car=True)
    car = roads.shortest_path("Tashkent", "Termez", private_car=True)
    assert not closed & {p.crossing.id for p in car.border_crossings}


def test_unknown_place_suggests_close_matches(roads):
    with pytest.raises(UnknownPlace) as error:
        roads.place("Samarkant")
    assert "Samarkand" in error.value.suggestions
    assert "Samarkand" in str(error.value)


def test_places_resolve_by_alias_case_insensitively(roads):
    assert roads.place("алматы").name == "Almaty"
    assert roads.place("alma-ata").name == "Almaty"
    assert roads.place("Toshkent").name == "Tashkent"
    assert roads.place("KARA BALTA").name == "Kara-Balta"


def test_bishkek_osh_in_january_shows_the_pass_hazards(roads):
    route = roads.shortest_path("Bishkek", "Osh", closed_on=date(2026, 1, 14))
    assert {"too-ashuu", "ala-bel"} <= {h.id for h in route.hazards}
    summer = roads.shortest_path("Bishkek", "Osh", closed_on=date(2026, 7, 14))
    assert not {"too-ashuu", "ala-bel"} & {h.id for h in summer.hazards}


def test_weekend_closure_removes_the_timed_crossing(roads):
    weekday = roads.shortest_path("Osh", "Kashgar", private_car=False, closed_on=date(2026, 7, 15))
    assert "irkeshtam" in [p.crossing.id for p in weekday.border_crossings]
    # every KG-CN and TJ-CN road crossing works on weekdays only
    with pytest.raises(NoRoute):
        roads.shortest_path("Osh", "Kashgar", private_car=False, closed_on=date(2026, 7, 18))


def test_bishkek_osh_stays_in_kyrgyzstan_over_too_ashuu_and_ala_bel_at_about_650_km(roads):
    route = roads.shortest_path("Bishkek", "Osh")
    assert set(roads.country[list(route.nodes)]) == {"KG"}
    assert route.border_crossings == () and route.border_notes == ()
    assert route.km == pytest.approx(650, rel=0.05)
    top = max(float(roads.elev[n]) for n in route.nodes if np.isfinite(roads.elev[n]))
    assert top >= 3100  # the Too-Ashuu tunnel and the Ala-Bel pass
    back = roads.shortest_path("Osh", "Jalal-Abad")
    assert set(roads.country[list(back.nodes)]) == {"KG"} and back.km < 120


MURGHAB = (38.168, 73.965)  # the graph node at Murghab, Pamir Highway (data/roads/profiles.json)


def _curated(road_id: str) -> dict[str, dict]:
    roads = json.loads((ROADS / "profiles.json").read_text(encoding="utf-8"))["roads"]
    (road,) = [r for r in roads if r["id"] == road_id]
    return {p["name"]: p for p in road["points"]}


def test_curated_passes_are_at_the_height_of_their_globe_lowest_crossing():
    """Every waypoint placed by scripts/lowest_crossing.py carries the height it found."""
    roads = json.loads((ROADS / "profiles.json").read_text(encoding="utf-8"))["roads"]
    found = [(p["elev_m"], p["elev_source"]) for r in roads for p in r["points"]
             if p.get("elev_source", "").startswith("GLOBE lowest crossing")]
    assert len(found) >= 12
    for elev, source in found:
        quoted = int(source.split("(")[1].split(" m")[0].replace(",", ""))
        assert abs(elev - quoted) <= 5, source


def test_the_pamir_highway_climbs_kyzyl_art_and_ak_baital_at_their_globe_heights(roads):
    pamir = _curated("m41-pamir-highway")
    route = roads.shortest_path("Osh", MURGHAB)
    heights = roads.elev[list(route.nodes)]
    # GLOBE's lowest crossings; published about 4,655 m and 4,280 m [memory]
    assert heights.max() == pamir["Ak-Baital pass"]["elev_m"] == 4562
    assert pamir["Kyzyl-Art pass (KG – TJ border)"]["elev_m"] in heights
    assert [p.crossing.id for p in route.border_crossings] == ["kyzyl-art"]
    assert route.border_notes == ()
    up, down = _climb(roads, route)
    assert up > 4000 and down > 1000  # the straight edge Sary-Tash - Murghab counted 550 m up
    assert route.km == pytest.approx(349, abs=1)  # curating keeps the graph's km


def test_osh_irkeshtam_crosses_the_taldyk_pass_and_the_ridge_east_of_sary_tash(roads):
    route = roads.shortest_path("Osh", "Kashgar", private_car=False)
    heights = roads.elev[list(route.nodes)]
    assert _curated("osh-sary-tash")["Taldyk pass"]["elev_m"] == 3513 and 3513 in heights
    assert heights.max() == 3520  # east of Sary-Tash; Taldyk is published at ~3,615 m [memory]
    assert [p.crossing.id for p in route.border_crossings] == ["irkeshtam"]
    assert route.border_notes == ()
    # facts.md §3.2: Osh - Kashgar ~420 km [memory]; the graph's 403 km is within 5 %
    assert route.km == pytest.approx(420, rel=0.05)
    assert "taldyk" in {h.id for h in route.hazards}


def test_bishkek_naryn_torugart_crosses_the_dolon_and_torugart_passes(roads):
    to_naryn = roads.shortest_path("Bishkek", "Naryn")
    assert roads.elev[list(to_naryn.nodes)].max() == 3016  # Dolon, ~3,030 m [memory]
    assert set(roads.country[list(to_naryn.nodes)]) == {"KG"}
    to_china = roads.shortest_path("Naryn", "Kashgar", private_car=False)
    heights = roads.elev[list(to_china.nodes)]
    torugart = _curated("naryn-torugart")["Torugart pass (KG – CN border)"]
    assert torugart["elev_m"] == 3649 and 3649 in heights  # ~3,752 m published [memory]
    assert [p.crossing.id for p in to_china.border_crossings] == ["torugart"]
    assert to_china.border_notes == ()
    # the border edge starts at the pass: the crossing is reported there
    (passage,) = to_china.border_crossings
    index = to_china.coords.index((torugart["lat"], torugart["lon"]))
    assert passage.km == pytest.approx(to_china.cumulative_km[index])


def test_the_pamir_highway_west_climbs_the_khaburabot_pass(roads):
    route = roads.shortest_path((37.49, 71.55), "Dushanbe")  # from Khorog
    assert roads.elev[list(route.nodes)].max() == 3236  # ~3,252 m published [memory]


def test_checked_bishkek_osh_waypoints_take_their_globe_heights():
    points = _curated("bishkek-osh")
    assert points["ridge between Toktogul and Kara-Köl"]["elev_m"] == 1280
    assert points["Kara-Köl"]["elev_m"] == 900
    assert points["Kara-Suu (Kyrgyz side)"]["elev_m"] == 740
    assert [p["km"] for p in points.values()] == sorted(p["km"] for p in points.values())


def test_crossing_hours_delay_an_arrival_after_closing_to_the_next_opening(roads):
    from datetime import datetime, timezone

    alat = roads.crossing("alat-farap")
    late = datetime(2026, 7, 15, 18, 0, tzinfo=timezone.utc)  # 23:00 in Ashgabat
    opens = alat.next_open(late)
    assert opens.astimezone(timezone.utc) == datetime(2026, 7, 16, 4, 0, tzinfo=timezone.utc)
    noon = datetime(2026, 7, 15, 7, 0, tzinfo=timezone.utc)
    assert alat.next_open(noon) == noon
    assert roads.crossing("kordai-akzhol").always_open


def test_km_along_walks_the_route(roads):
    route = roads.shortest_path("Almaty", "Bishkek")
    assert roads.km_along(route, 0) == route.coords[0]
    assert roads.km_along(route, route.km + 50) == route.coords[-1]
    lat, lon = roads.km_along(route, route.km / 2)
    start, end = route.coords[0], route.coords[-1]
    assert haversine_km(*start, lat, lon) > 50 and haversine_km(*end, lat, lon) > 50


def test_nearest_node_of_a_place_is_close(roads):
    node = roads.nearest_node(41.311, 69.240)
    assert haversine_km(41.311, 69.240, roads.lat[node], roads.lon[node]) < 5


def test_repeated_queries_are_fast(roads):
    roads.shortest_path("Almaty", "Samarkand")
    started = time.perf_counter()
    for _ in range(20):
        roads.shortest_path("Almaty", "Samarkand")
    assert (time.perf_counter() - started) / 20 < 0.05
