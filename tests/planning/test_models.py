"""Planning models on small synthetic networks whose answers are known by hand."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from silkcharge.domain.connectors import ConnectorStandard
from silkcharge.planning import CandidateOffNetwork, CorridorError, PlanningInputError
from silkcharge.planning.adequacy import check_grid_connection, power_per_ev
from silkcharge.planning.charts import corridor_strip, site_map
from silkcharge.planning.corridors import Corridor, route_corridor, select_corridors
from silkcharge.planning.coverage import corridor_coverage, gaps_along
from silkcharge.planning.frlm import Trip, check_on_network, line_instance
from silkcharge.planning.mclp import city_demand, city_instance
from silkcharge.planning.network import site
from silkcharge.planning.rules import AFIR_2025, AFIR_2027, CoverageRule, winter_range
from silkcharge.planning.siting import Candidate, brute_force, solve
from silkcharge.trips.roads import RoadGraph

KM_PER_DEG = 111.195  # at the equator
GBT, CCS = ConnectorStandard.GBT_DC, ConnectorStandard.CCS2


@pytest.fixture(scope="module")
def line():
    """A straight 300 km road along the equator with towns A (km 0), B (km 150), C (km 300)."""
    n = 61
    lon = np.linspace(0, 300 / KM_PER_DEG, n)
    places = [{"name": name, "country": "XX", "lat": 0.0, "lon": km / KM_PER_DEG,
               "timezone": "UTC"} for name, km in (("A", 0), ("B", 150), ("C", 300))]
    places.append({"name": "Island", "country": "YY", "lat": 5.0, "lon": 0.0, "timezone": "UTC"})
    lat = np.concatenate([np.zeros(n), [5.0, 5.01]])
    lon = np.concatenate([lon, [0.0, 0.0]])
    a = np.concatenate([np.arange(n - 1), [n]])
    b = np.concatenate([np.arange(1, n), [n + 1]])
    km = np.concatenate([np.full(n - 1, 5.0), [1.1]])
    return RoadGraph(lat, lon, a, b, km, ["XX"] * n + ["YY", "YY"], places)


def at(km: float, points, code=None, offset_deg=0.0):
    return site(code or f"s{km:g}", offset_deg, km / KM_PER_DEG, points)


DC400 = [[("gbt_dc", 200)], [("gbt_dc", 200)]]


def test_gaps_on_a_300_km_road_with_pools_at_0_50_180(line):
    route = route_corridor(line, Corridor("ac", "A-C", ("A", "C")))
    sites = [at(0, DC400), at(50, DC400), at(180, DC400)]
    forward, reverse = corridor_coverage(route, sites, GBT, CoverageRule("r", "r", 100.0))
    between = [round(g.length_km) for g in forward.gaps if g.kind == "between"]
    assert between == [50, 130]
    assert [g.kind for g in forward.gaps] == ["between", "between", "end"]
    assert [round(g.length_km) for g in forward.flagged] == [130, 120]
    assert forward.share_meeting_rule == pytest.approx(50 / 300, abs=1e-3)
    assert [round(g.length_km) for g in reverse.gaps] == [120, 130, 50]
    assert reverse.origin == "C" and reverse.pools[0].km == pytest.approx(120, abs=0.5)


def test_standards_see_different_networks_and_far_sites_do_not_count(line):
    route = route_corridor(line, Corridor("ac", "A-C", ("A", "C")))
    sites = [at(100, [[("ccs2", 150)]]), at(200, [[("gbt_dc", 150)]]),
             at(150, [[("gbt_dc", 150)]], offset_deg=0.2)]  # 22 km off the road
    rule = CoverageRule("r", "r", 1000.0)
    gbt = corridor_coverage(route, sites, GBT, rule)[0]
    ccs = corridor_coverage(route, sites, CCS, rule)[0]
    assert [p.code for p in gbt.pools] == ["s200"]
    assert [p.code for p in ccs.pools] == ["s100"]


def test_afir_pool_requirements():
    ok_2025 = site("a", 0, 0, [[("ccs2", 150)], [("ccs2", 150)], [("ccs2", 100)]])
    ok_2027 = site("b", 0, 0, [[("ccs2", 300)], [("ccs2", 300)]])
    small = site("c", 0, 0, [[("ccs2", 150)], [("ccs2", 120)]])
    assert AFIR_2025.qualifies(ok_2025, CCS) and not AFIR_2027.qualifies(ok_2025, CCS)
    assert AFIR_2027.qualifies(ok_2027, CCS)
    assert not AFIR_2025.qualifies(small, CCS)
    assert not AFIR_2025.qualifies(ok_2027, GBT)


def test_no_pool_at_all_is_one_flagged_gap():
    (gap,) = gaps_along(300.0, [], 60.0, "A", "C")
    assert gap.kind == "none" and gap.flagged and gap.length_km == 300


def test_winter_range_comes_from_the_catalog():
    derived = winter_range()
    assert 150 < derived.km < 400
    assert derived.km == pytest.approx(
        derived.battery_kwh * 0.8 * 1000 / (derived.consumption_wh_km * 1.4))
    with pytest.raises(PlanningInputError):
        winter_range(winter_factor=0.5)


def _line_candidates(step: int = 5):
    kms = np.arange(0, 301, step, dtype=float)
    return [Candidate(f"c{k:g}", f"km {k:g}", 0.0, k / KM_PER_DEG) for k in kms], kms


def test_single_best_site_closes_the_130_km_gap_near_115_km():
    candidates, kms = _line_candidates()
    lines = {"x": (np.array([0.0, 50.0, 180.0]), kms, np.arange(len(kms)))}
    trips = [Trip("A", "X", "x", 0, 180, 1.0)]
    instance = line_instance(trips, lines, candidates, 100.0)
    result = solve(instance, budget_sites=1, method="milp")
    (chosen,) = result.chosen
    km = float(chosen.name.split()[1])
    assert 80 <= km <= 150  # every site here splits 130 km into stretches <= 100 km
    assert result.covered_weight == pytest.approx(1.0)
    assert result.optimality_gap == 0.0


def test_trip_needing_two_sites_and_infeasible_trips():
    candidates, kms = _line_candidates(50)
    lines = {"x": (np.array([0.0]), kms, np.arange(len(kms)))}
    trips = [Trip("A", "C", "x", 0, 300, 2.0), Trip("A", "B", "x", 0, 90, 1.0)]
    instance = line_instance(trips, lines, candidates, 120.0)
    assert instance.baseline_count == 1
    one = solve(instance, budget_sites=1, method="milp")
    two = solve(instance, budget_sites=2, method="milp")
    assert one.covered_weight == pytest.approx(1.0)  # only the short trip, already covered
    assert two.covered_weight == pytest.approx(3.0)
    sparse = line_instance(trips, {"x": (np.array([0.0]), np.array([200.0]), np.array([0]))},
                           candidates[:1], 120.0)
    assert sparse.infeasible_count == 1


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 6])  # seed 0 draws towns all within range
def test_milp_equals_brute_force_and_greedy_reports_its_gap(seed):
    rng = np.random.default_rng(seed)
    n = 9
    kms = np.sort(rng.uniform(0, 600, n))
    candidates = [Candidate(f"c{i}", f"km {k:.0f}", 0.0, 0.0) for i, k in enumerate(kms)]
    towns = np.sort(rng.uniform(0, 600, 5))
    trips = [Trip(f"t{i}", f"t{j}", "x", towns[i], towns[j], float(rng.uniform(1, 5)))
             for i, j in itertools.combinations(range(5), 2)]
    instance = line_instance(trips, {"x": (np.array([towns[0]]), kms, np.arange(n))},
                             candidates, 150.0)
    assert len(instance.weights) > 0, "the draw must leave trips to cover"
    for budget in (1, 2, 3):
        best, _ = brute_force(instance, budget)
        exact = solve(instance, budget_sites=budget, method="milp")
        assert exact.covered_weight - exact.baseline_weight == pytest.approx(best, abs=1e-6)
        greedy = solve(instance, budget_sites=budget, method="greedy")
        assert greedy.optimality_gap is not None and greedy.upper_bound >= best - 1e-6
        assert greedy.covered_weight <= exact.covered_weight + 1e-9


def test_mclp_on_a_hex_grid_picks_the_centre_first():
    cells = city_demand(43.0, 77.0, 5.0, 100_000, cell_km=1.0, decay_km=2.0)
    assert sum(c.weight for c in cells) == pytest.approx(100_000)
    centre = Candidate("centre", "centre", 43.0, 77.0, "plot")
    edge = Candidate("edge", "edge", 43.0 + 4.5 / 111.2, 77.0, "plot")
    instance = city_instance(cells, [edge, centre], [], GBT, cover_km=2.0)
    result = solve(instance, budget_sites=1, method="milp")
    assert [c.id for c in result.chosen] == ["centre"]
    assert result.unit == "people"
    exact, _ = brute_force(instance, 1)
    assert result.covered_weight == pytest.approx(exact)


def test_drop_one_and_greedy_increments_add_up():
    candidates, kms = _line_candidates(50)
    lines = {"x": (np.array([0.0]), kms, np.arange(len(kms)))}
    trips = [Trip("A", "B", "x", 0, 200, 1.0), Trip("A", "C", "x", 0, 300, 1.0)]
    result = solve(line_instance(trips, lines, candidates, 110.0), budget_sites=2,
                   method="greedy")
    assert sum(c.increment for c in result.chosen) == pytest.approx(result.covered_weight)
    assert all(c.drop_one >= 0 for c in result.chosen)


def test_bad_input_gives_clear_errors(line):
    candidates, kms = _line_candidates(100)
    instance = line_instance([Trip("A", "C", "x", 0, 300, 1.0)],
                             {"x": (np.array([0.0]), kms, np.arange(len(kms)))}, candidates, 120)
    with pytest.raises(PlanningInputError, match="at least one site"):
        solve(instance, budget_sites=0)
    with pytest.raises(PlanningInputError, match="no candidate"):
        solve(line_instance([], {}, [], 100.0), budget_sites=1)
    with pytest.raises(CandidateOffNetwork, match="far"):
        check_on_network(line, [Candidate("far", "far", 2.0, 1.0)])
    check_on_network(line, [Candidate("near", "near", 0.01, 1.0)])
    with pytest.raises(CorridorError, match="no road connects"):
        route_corridor(line, Corridor("bad", "A-Island", ("A", "Island")))
    with pytest.raises(CorridorError, match="unknown place"):
        route_corridor(line, Corridor("bad", "A-Nowhere", ("A", "Nowhere")))
    with pytest.raises(CorridorError, match="no corridors"):
        select_corridors([], [Corridor("x", "x", ("A", "C"))])
    with pytest.raises(CorridorError, match="unknown corridor"):
        select_corridors(["nope"])


def test_grid_connection_check():
    over = check_grid_connection([150, 150], 0.8, 200, 0.98)
    assert not over.ok and over.over_kw == pytest.approx(240 - 196)
    fits = check_grid_connection([60, 60], 1.0, 150, 0.9)
    assert fits.ok and fits.headroom_kw == pytest.approx(15)
    with pytest.raises(PlanningInputError):
        check_grid_connection([150], 1.5, 200)


def test_power_per_ev_uses_latest_dated_fleet_figure():
    sites = [site("k1", 43, 77, [[("gbt_dc", "120")], [("type2", "22")]], country="KZ",
                  city="Almaty")]
    rows = {r.area: r for r in power_per_ev(sites)}
    assert rows["KZ"].evs == 12655 and rows["KZ"].evs_date == "2025-02-01"
    assert rows["Almaty"].network_kw == 142
    assert rows["UZ"].network_kw == 0 and rows["UZ"].public_stations == 1399
    assert str(rows["KZ"].afir_kw_per_bev) == "1.3"


def test_charts_are_svg(line):
    route = route_corridor(line, Corridor("ac", "A-C", ("A", "C")))
    cov = corridor_coverage(route, [at(50, DC400)], GBT, CoverageRule("r", "r", 100.0))[0]
    strip = corridor_strip(cov)
    assert strip.startswith("<svg") and "#d62728" in strip and "250 km" in strip
    assert site_map([route], [at(50, DC400)], []).startswith("<svg")
