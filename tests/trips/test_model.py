"""The energy model, the weather of the date, mountain roads and honest refusals (issue 18)."""

from __future__ import annotations

import copy
from datetime import date

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from silkcharge.data.seed import load_seed_network
from silkcharge.domain.connectors import ConnectorStandard as S
from silkcharge.domain.vehicles import load_catalog
from silkcharge.trips.energy import CYCLE_TO_REAL, EnergyModel, charge_rate_factor, load_climate
from silkcharge.trips.explain import MESSAGES, OPTIONS, Message, render
from silkcharge.trips.network import ChargingSite, SiteConnector, SiteIndex, sites_from_seed
from silkcharge.trips.planner import (
    NoFeasiblePlan,
    TripRequest,
    Unreachable,
    _build_graph,
    _Search,
    plan_trip,
)
from silkcharge.trips.roads import RoadGraph, load_road_graph
from tests.trips.helpers import KM_PER_DEG_LON, LAT, index, site, vehicle

ALA_BEL_KM = 222  # road km from Bishkek (data/roads/profiles.json)


@pytest.fixture(scope="module")
def shipped():
    return SiteIndex(load_road_graph(), sites_from_seed(load_seed_network()))


# ---- the model ----------------------------------------------------------------------------


def test_a_cltc_rating_is_converted_to_real_world_consumption():
    car = load_catalog().get("chery-eq7-2024-cn")
    assert car.consumption_basis == "cltc"
    model = EnergyModel.for_vehicle(car)
    assert model.real_wh_km == pytest.approx(car.consumption_wh_km * CYCLE_TO_REAL["cltc"][0])
    assert float(model.flat_wh_km(80)) == pytest.approx(model.real_wh_km)
    assert all(source for _, source in CYCLE_TO_REAL.values())


def test_consumption_rises_with_speed_cold_and_climbing_and_descents_give_some_back():
    model = EnergyModel.for_vehicle(load_catalog().get("hyundai-ioniq-5-2024-eu"))
    assert model.flat_wh_km(110) > model.flat_wh_km(80) > model.flat_wh_km(55)
    assert model.flat_wh_km(80, -15) > 1.25 * model.flat_wh_km(80, 15)
    flat = float(model.edge_kwh(50, 55, 0))
    up, down = float(model.edge_kwh(50, 55, 1500)), float(model.edge_kwh(50, 55, -1500))
    assert up > flat > down
    assert up + down > 2 * flat  # a round trip over a pass costs more than on the flat


def test_the_climate_is_colder_in_january_and_on_the_pass():
    climate = load_climate()
    bishkek = dict(lat=42.87, lon=74.59, elev_m=800)
    assert climate.temperature(**bishkek, day=date(2026, 1, 15))[0] < 0
    assert climate.temperature(**bishkek, day=date(2026, 7, 15))[0] > 20
    tunnel = climate.temperature(42.337, 73.806, 3200, date(2026, 7, 15))[0]
    assert tunnel < climate.temperature(**bishkek, day=date(2026, 7, 15))[0] - 10
    assert charge_rate_factor(25.0) == 1.0 and charge_rate_factor(0.0) == pytest.approx(0.64)


# ---- the shipped roads --------------------------------------------------------------------


def test_bishkek_osh_plan_stays_in_kyrgyzstan(shipped):
    car = load_catalog().get("byd-song-plus-comfort-2024-cn")
    plan = plan_trip(TripRequest("Bishkek", "Osh", car, on_date=date(2026, 7, 15)), shipped)
    assert plan.border_wait_min == 0
    assert all(leg.crossings == () for leg in plan.legs)
    assert {stop.country for stop in plan.stops} <= {"KG"}
    assert plan.route_km == pytest.approx(650, rel=0.05)
    assert max(leg.climb_m for leg in plan.legs) > 2000
    assert any(e is not None and e > 3000 for leg in plan.legs for _, e, _ in leg.profile)


def test_a_plan_over_the_anzob_tunnel_climbs_and_costs_more_than_the_same_road_flat():
    roads = load_road_graph()
    flat = copy.copy(roads)  # the same route, classes, heights for air and weather: no climbing
    flat.edge_rise = np.zeros_like(roads.edge_rise)
    car = vehicle(battery=150.0, wh_km=180.0)
    request = TripRequest("Khujand", "Dushanbe", car, start_soc=100, on_date=date(2026, 7, 15))
    (leg,) = plan_trip(request, SiteIndex(roads, [])).legs
    (flat_leg,) = plan_trip(request, SiteIndex(flat, [])).legs
    assert leg.km == pytest.approx(330, rel=0.02) and leg.km == flat_leg.km
    assert leg.climb_m > 3000 and leg.descent_m > 2500
    heights = [e for _, e, _ in leg.profile]
    assert None not in heights and max(heights) == pytest.approx(2720)  # the Anzob tunnel
    assert leg.energy_kwh > 1.1 * flat_leg.energy_kwh


def test_a_plan_over_the_pamir_highway_climbs_to_ak_baital_and_crosses_kyzyl_art():
    roads = load_road_graph()
    car = vehicle(battery=150.0, wh_km=180.0)
    murghab = (38.168, 73.965)  # graph node; Ak-Baital is GLOBE's 4,562 m (~4,655 m [memory])
    request = TripRequest("Osh", murghab, car, start_soc=100, on_date=date(2026, 7, 15))
    (leg,) = plan_trip(request, SiteIndex(roads, [])).legs
    heights = [e for _, e, _ in leg.profile]
    assert None not in heights and max(heights) == pytest.approx(4562)
    assert leg.climb_m > 4000
    assert [c.id for c in leg.crossings] == ["kyzyl-art"]


def test_a_cltc_rated_car_stops_before_ala_bel_or_is_refused_there(shipped):
    car = load_catalog().get("chery-eq7-2024-cn")
    for day in (date(2026, 7, 15), date(2026, 1, 15)):
        try:
            plan = plan_trip(TripRequest("Bishkek", "Osh", car, start_soc=62, on_date=day),
                             shipped)
        except NoFeasiblePlan as refusal:
            assert refusal.explanation.code in ("no_charger_in_reach", "start_charge_too_low")
            continue
        at = 0.0
        stops_before_pass = []
        for leg in plan.legs:
            at += leg.km
            if leg.stop is not None and at < ALA_BEL_KM:
                stops_before_pass.append(leg.stop.site_name)
            assert leg.lowest_soc >= 10 - 1e-6, (leg.start, leg.end, leg.lowest_soc)
        assert stops_before_pass, [leg.end for leg in plan.legs]


def test_a_january_plan_is_longer_than_a_july_one(shipped):
    car = load_catalog().get("chery-eq7-2024-cn")
    january = plan_trip(TripRequest("Bishkek", "Osh", car, on_date=date(2027, 1, 15)), shipped)
    july = plan_trip(TripRequest("Bishkek", "Osh", car, on_date=date(2026, 7, 15)), shipped)
    assert january.total_min > july.total_min
    assert january.energy_kwh > july.energy_kwh
    assert january.legs[0].temp_c < 0 < july.legs[0].temp_c


def test_a_crossing_closed_to_private_cars_is_explained_as_such_not_as_a_date(shipped):
    car = load_catalog().get("byd-song-plus-comfort-2024-cn")
    with pytest.raises(Unreachable) as caught:
        plan_trip(TripRequest("Almaty", "Urumqi", car, on_date=date(2026, 7, 15)), shipped)
    assert caught.value.explanation.code == "crossing_closed_to_private_cars"
    assert "another date" not in str(caught.value)


def test_a_crossing_closed_on_the_date_is_explained_as_closed_then():
    crossing = {"id": "weekday", "name": "Weekday Post", "countries": ["KZ", "KG"],
                "lat": LAT, "lon": 70.0 + 100 / KM_PER_DEG_LON, "radius_km": 5,
                "typical_wait_min": 20, "open_to_private_cars": True, "source": "test",
                "confidence": "test", "open_days": [0, 1, 2, 3, 4], "opens": "09:00",
                "closes": "18:00", "timezone": "Asia/Bishkek"}
    marks = [0, 99, 101, 200]
    roads = RoadGraph(lat=[LAT] * 4, lon=[70.0 + k / KM_PER_DEG_LON for k in marks],
                      edge_a=[0, 1, 2], edge_b=[1, 2, 3], km=[99, 2, 99],
                      country=["KZ", "KZ", "KG", "KG"],
                      places=[{"name": "West", "country": "KZ", "lat": LAT, "lon": 70.0,
                               "timezone": "x"},
                              {"name": "East", "country": "KG", "lat": LAT,
                               "lon": 70.0 + 200 / KM_PER_DEG_LON, "timezone": "x"}],
                      crossings=[crossing])
    saturday = date(2026, 7, 18)
    with pytest.raises(Unreachable) as caught:
        plan_trip(TripRequest("West", "East", vehicle(battery=80), on_date=saturday), index(roads))
    assert caught.value.explanation.code == "closed_on_date"
    (closure,) = caught.value.explanation.params["closures"]  # a name to translate
    assert (closure.key, str(closure)) == ("crossing.weekday", "Weekday Post")
    assert caught.value.explanation.options == ("other_date",)
    assert "--date" in caught.value.render("cli")
    plan = plan_trip(TripRequest("West", "East", vehicle(battery=80), on_date=date(2026, 7, 15)),
                     index(roads))
    assert [c.id for leg in plan.legs for c in leg.crossings] == ["weekday"]


def test_an_arrival_after_closing_waits_for_the_opening():
    from datetime import datetime, timezone

    crossing = {"id": "day", "name": "Day Post", "countries": ["KZ", "KG"],
                "lat": LAT, "lon": 70.0 + 100 / KM_PER_DEG_LON, "radius_km": 5,
                "typical_wait_min": 20, "open_to_private_cars": True, "source": "test",
                "confidence": "test", "opens": "09:00", "closes": "18:00", "timezone": "UTC"}
    marks = [0, 99, 101, 200]
    roads = RoadGraph(lat=[LAT] * 4, lon=[70.0 + k / KM_PER_DEG_LON for k in marks],
                      edge_a=[0, 1, 2], edge_b=[1, 2, 3], km=[99, 2, 99],
                      country=["KZ", "KZ", "KG", "KG"],
                      places=[{"name": "West", "country": "KZ", "lat": LAT, "lon": 70.0,
                               "timezone": "x"},
                              {"name": "East", "country": "KG", "lat": LAT,
                               "lon": 70.0 + 200 / KM_PER_DEG_LON, "timezone": "x"}],
                      crossings=[crossing])
    late = datetime(2026, 7, 15, 20, 0, tzinfo=timezone.utc)
    plan = plan_trip(TripRequest("West", "East", vehicle(battery=80), depart_at=late), index(roads))
    (waiting,) = [c for leg in plan.legs for c in leg.crossings]
    assert waiting.opening_wait_min > 10 * 60  # from about 21:15 to 09:00
    assert any(n.code == "crossing_waits_for_opening" for n in plan.notes)
    arrive = plan.legs[-1].arrive_at
    assert (arrive - late).total_seconds() / 60 == pytest.approx(plan.total_min)


def test_every_message_code_and_option_has_english_wording():
    for code in MESSAGES:
        assert render(Message(code, _params(MESSAGES[code]))).strip()
    for option, wording in OPTIONS.items():
        assert set(wording) == {"api", "cli"}


def test_every_message_code_and_option_is_translated_in_the_console():
    import json
    from pathlib import Path

    english = json.loads((Path(__file__).parents[2] / "web/src/i18n/en.json").read_text("utf-8"))
    assert {f"trip.why.{code}" for code in MESSAGES} <= set(english)
    assert {f"trip.option.{option}" for option in OPTIONS} <= set(english)
    for code, template in MESSAGES.items():  # the console words the same parameters
        assert set(_params(english[f"trip.why.{code}"])) == set(_params(template)), code


def _params(template: str) -> dict:
    import string

    return {name: 1 for _, name, _, _ in string.Formatter().parse(template) if name}


# ---- optimality on the new model ----------------------------------------------------------


def mountain_graph(marks, elev, classes):
    n = len(marks)
    lon = [70.0 + k / KM_PER_DEG_LON for k in marks]
    return RoadGraph(
        lat=[LAT] * n, lon=lon, edge_a=list(range(n - 1)), edge_b=list(range(1, n)),
        km=[b - a for a, b in zip(marks, marks[1:])], country=["KG"] * n,
        places=[{"name": "West", "country": "KG", "lat": LAT, "lon": lon[0], "timezone": "x"},
                {"name": "East", "country": "KG", "lat": LAT, "lon": lon[-1], "timezone": "x"}],
        elev=elev, edge_class=classes)


def brute_force_mountain(car, marks, elev, classes, stations, *, start, min_arr, min_dest,
                         max_soc, step, overhead_min=5.0, speed=80.0):
    """Best minutes over every station subset and departure SoC on the grid, walking the road
    edge by edge with the energy model: the charge may not fall below `min_arr` anywhere."""
    model = EnergyModel.for_vehicle(car)
    speeds = {0: speed, 1: min(55.0, speed), 2: min(40.0, speed)}
    per_edge = []
    for k in range(len(marks) - 1):
        km = marks[k + 1] - marks[k]
        v = speeds[classes[k]]
        kwh = float(model.edge_kwh(km, v, elev[k + 1] - elev[k], 15.0,
                                   (elev[k] + elev[k + 1]) / 2))
        per_edge.append((kwh / car.battery_kwh * 100, km / v * 60))
    grid = [step * k for k in range(1, int(max_soc / step + 1e-9) + 1)]
    best = float("inf")
    station_at = dict(stations)

    def drive(soc, a, b):
        """(SoC at b, minutes) driving node a -> b, or None if the charge dips too low."""
        minutes = 0.0
        for k in range(a, b):
            soc = min(soc - per_edge[k][0], 100.0)
            minutes += per_edge[k][1]
            if soc < min_arr - 1e-9:
                return None
        return soc, minutes

    def go(node, soc, minutes):
        nonlocal best
        end = drive(soc, node, len(marks) - 1)
        if end is not None and end[0] >= min_dest - 1e-9:
            best = min(best, minutes + end[1])
        for nxt in sorted(station_at):
            if nxt <= node:
                continue
            reached = drive(soc, node, nxt)
            if reached is None:
                continue
            here, drive_min = reached
            for target in grid:
                if target > here + 1e-9:
                    charge = car.dc_charge_hours(here, target, station_at[nxt]) * 60
                    go(nxt, target, minutes + drive_min + charge + overhead_min)

    go(0, start, 0.0)
    return best


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    heights=st.lists(st.integers(500, 3200), min_size=6, max_size=6),
    classes=st.lists(st.sampled_from([0, 1, 2]), min_size=5, max_size=5),
    stations=st.lists(st.tuples(st.integers(1, 4), st.sampled_from([50, 120])), min_size=1,
                      max_size=3, unique_by=lambda s: s[0]),
    start=st.integers(40, 100),
)
def test_plans_on_mountain_roads_match_an_independent_brute_force(heights, classes, stations,
                                                                  start):
    marks = [0, 60, 110, 150, 210, 260]
    roads = mountain_graph(marks, heights, classes)
    car = vehicle(curve=((0, 90), (40, 100), (60, 80), (100, 15)), wh_km=180)
    sites = [site(roads, node, f"S{node}", (S.CCS2, kw)) for node, kw in stations]
    request = TripRequest("West", "East", car, start_soc=start, min_arrival_soc=10,
                          min_destination_soc=15, max_charge_soc=90, soc_step=5)
    best = brute_force_mountain(car, marks, heights, classes, stations, start=start,
                                min_arr=10, min_dest=15, max_soc=90, step=5)
    try:
        plan = plan_trip(request, index(roads, *sites))
    except NoFeasiblePlan:
        assert best == float("inf")
        return
    for leg in plan.legs:
        assert leg.lowest_soc >= 10 - 1e-6
    assert plan.total_min <= best + 1e-6
    assert np.isfinite(best)


class _SearchKeepingEveryLabel(_Search):
    """The label search without retiring beaten labels (only the exact feasibility cuts)."""

    def _beaten(self, lead):
        return np.zeros(len(self._live), dtype=bool)


@pytest.mark.parametrize("trip", [("Bishkek", "Osh", ()), ("Almaty", "Samarkand", ("Tashkent",))])
def test_retiring_beaten_labels_changes_no_front(trip):
    """The search drops labels that another one beats everywhere ahead; every node's Pareto
    front must come out exactly as if they had been kept, on mountain roads with many sites."""
    roads = load_road_graph()
    rng = np.random.default_rng(7)
    synthetic = [
        ChargingSite(f"R{k}", f"random {k}", float(roads.lat[n]), float(roads.lon[n]),
                     str(roads.country[n]), "OP",
                     (SiteConnector(S.GBT_DC, float(rng.choice([60, 120, 160]))),
                      SiteConnector(S.CCS2, float(rng.choice([50, 150])))))
        for k, n in enumerate(rng.choice(roads.node_count, size=1500, replace=False))]
    network = SiteIndex(roads, sites_from_seed(load_seed_network()) + synthetic)
    origin, destination, via = trip
    for vehicle_id in ("byd-song-plus-comfort-2024-cn", "hyundai-ioniq-5-2024-eu"):
        request = TripRequest(origin, destination, load_catalog().get(vehicle_id), via=via,
                              on_date=date(2026, 7, 15))
        graph = _build_graph(request, network, (), request.on_date)
        pruned, full = _Search(request, graph), _SearchKeepingEveryLabel(request, graph)
        assert pruned.run() == full.run()
        assert len(pruned._live) < len(full._live)
        for mine, theirs in zip(pruned.front, full.front):
            for x, y in zip(mine, theirs):
                assert np.array_equal(x, y)


# ---- predicted waits ------------------------------------------------------------------------


def test_occupancy_history_is_the_share_of_evses_in_use_per_utc_hour():
    from datetime import datetime, timedelta, timezone

    from silkcharge.trips.network import occupancy_by_hour

    since = datetime(2026, 7, 1, tzinfo=timezone.utc)
    until = since + timedelta(days=2)
    # one of two EVSEs busy 08:00-10:00 on both days, and 08:30-09:00 on the first
    sessions = [(since + timedelta(days=d, hours=8), since + timedelta(days=d, hours=10))
                for d in (0, 1)]
    sessions.append((since + timedelta(hours=8, minutes=30), since + timedelta(hours=9)))
    share = occupancy_by_hour(sessions, 2, since, until)
    assert share[8] == pytest.approx((2 + 0.5) / (2 * 2))
    assert share[9] == pytest.approx(2 / (2 * 2))
    assert share[12] == 0
    assert occupancy_by_hour([], 2, since, until) == ()


def test_a_station_busy_at_the_arrival_hour_predicts_a_wait_and_a_quiet_hour_none():
    from dataclasses import replace
    from datetime import datetime, timezone

    roads = mountain_graph([0, 150, 300], [None, None, None], [0, 0])
    busy_at_eight = tuple(0.9 if h == 8 else 0.0 for h in range(24))
    charger = replace(site(roads, 1, "MID", (S.CCS2, 150)), occupancy_by_hour=busy_at_eight)
    net = index(roads, charger)
    car = vehicle()

    def stop_at(hour):
        start = datetime(2026, 7, 15, hour, 30, tzinfo=timezone.utc)  # the stop: 1 h 52 later
        plan = plan_trip(TripRequest("West", "East", car, start_soc=70, depart_at=start,
                                     busy_wait_min=20), net)
        (stop,) = plan.stops
        return stop

    rush = stop_at(6)
    assert rush.wait_basis == "history" and rush.wait_min == pytest.approx(0.9 * 20)
    quiet = stop_at(12)
    assert quiet.wait_min == 0


def test_when_the_shortest_road_has_no_charger_the_road_through_another_crossing_is_compared():
    # West(KZ) - a - |Short| - b - East(KG): 300 km, no charger. West - c(charger) - |Long| - d -
    # East: 360 km with a charger at c.
    lon = [70.0, 71.5, 71.6, 73.5, 71.5, 71.6]
    lat = [43.0, 43.0, 43.0, 43.0, 44.0, 44.0]
    crossing = dict(typical_wait_min=10, source="test", confidence="test", radius_km=5,
                    open_to_private_cars=True, countries=["KZ", "KG"])
    roads = RoadGraph(
        lat=lat, lon=lon, edge_a=[0, 1, 2, 0, 4, 5], edge_b=[1, 2, 3, 4, 5, 3],
        km=[140, 10, 150, 150, 10, 200], country=["KZ", "KZ", "KG", "KG", "KZ", "KG"],
        places=[{"name": "West", "country": "KZ", "lat": 43.0, "lon": 70.0, "timezone": "x"},
                {"name": "East", "country": "KG", "lat": 43.0, "lon": 73.5, "timezone": "x"}],
        crossings=[{**crossing, "id": "short", "name": "Short Post", "lat": 43.0, "lon": 71.55},
                   {**crossing, "id": "long", "name": "Long Post", "lat": 44.0, "lon": 71.55}])
    net = index(roads, site(roads, 4, "C", (S.CCS2, 150)))
    plan = plan_trip(TripRequest("West", "East", vehicle(), start_soc=90), net)
    assert [s.site_code for s in plan.stops] == ["C"]
    assert [c.id for leg in plan.legs for c in leg.crossings] == ["long"]
    (note,) = [n for n in plan.notes if n.code == "route_for_chargers"]
    assert str(note.params["avoided"]) == "Short Post" and note.params["shortest_km"] == 300
