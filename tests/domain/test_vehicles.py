"""The vehicle catalog and charging-curve physics the trip planner relies on."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from silkcharge.domain.connectors import ConnectorStandard
from silkcharge.domain.vehicles import (
    Catalog,
    ChargingCurve,
    CompareError,
    CurveSource,
    Market,
    UnknownVehicle,
    load_catalog,
)

CATALOG = load_catalog()


def test_catalog_is_loaded_once_and_is_large():
    assert load_catalog() is CATALOG
    assert len(CATALOG) > 1000
    assert len(CATALOG.makes) > 50


def test_region_makes_are_present():
    for make in ("BYD", "Chery", "Zeekr", "XPeng", "Leapmotor", "Geely", "Changan", "Tesla",
                 "Hyundai", "Kia", "Volkswagen", "Nissan"):
        assert CATALOG.search(make=make, limit=1), make


def test_cn_spec_byd_has_gbt_inlets_and_its_eu_variant_ccs2():
    cn = CATALOG.get("byd-song-plus-comfort-2024-cn")
    eu = CATALOG.get("byd-song-plus-comfort-2024-eu")
    assert cn.market is Market.CN and eu.market is Market.EU
    assert cn.ac_inlets == (ConnectorStandard.GBT_AC,)
    assert cn.dc_inlets == (ConnectorStandard.GBT_DC,)
    assert eu.dc_inlets == (ConnectorStandard.CCS2,)
    assert eu.ac_inlets == (ConnectorStandard.TYPE2,)
    assert cn.battery_kwh == eu.battery_kwh


def test_every_cn_variant_has_gbt_and_no_other_inlet():
    cn = CATALOG.search(market="CN", limit=None)
    assert len(cn) > 100
    for vehicle in cn:
        assert set(vehicle.inlets) == {ConnectorStandard.GBT_AC, ConnectorStandard.GBT_DC}


def test_inferred_inlets_are_recorded_as_inferred():
    cn = CATALOG.get("byd-song-plus-comfort-2024-cn")
    assert cn.provenance["inlets"].startswith("inferred")
    assert CATALOG.get("byd-song-plus-comfort-2024-eu").provenance["inlets"] == "listed"


def test_every_vehicle_has_positive_battery_consumption_and_dc_power():
    for vehicle in CATALOG:
        assert vehicle.battery_kwh > 0, vehicle.id
        assert 80 <= vehicle.consumption_wh_km <= 450, vehicle.id
        assert vehicle.dc_kw > 0 and vehicle.dc_inlets, vehicle.id
        assert vehicle.consumption_basis, vehicle.id
        assert vehicle.sources, vehicle.id


def test_every_curve_peaks_at_the_vehicle_dc_power():
    for vehicle in CATALOG:
        assert vehicle.curve.peak_kw == pytest.approx(vehicle.dc_kw, rel=0.01), vehicle.id


def test_nissan_leaf_charges_dc_through_chademo():
    leaf = CATALOG.search("leaf", make="Nissan", limit=1)[0]
    assert ConnectorStandard.CHADEMO in leaf.dc_inlets


def test_default_curves_are_flagged():
    defaults = [v for v in CATALOG if v.curve_source is CurveSource.DEFAULT]
    measured = [v for v in CATALOG if v.curve_source is CurveSource.KILOWATT]
    assert defaults and measured
    for vehicle in defaults:
        assert vehicle.has_default_curve
        assert vehicle.curve_match.startswith("default shape")
    for vehicle in measured:
        assert not vehicle.has_default_curve
        assert vehicle.curve_match.startswith(("model:", "shape:"))


def test_curve_time_matches_hand_computed_value_on_flat_then_linear_curve():
    # 0-50 %: flat 100 kW; 50-100 %: linear from 100 kW down to 50 kW; battery 100 kWh.
    curve = ChargingCurve.from_pairs([(0, 100), (50, 100), (100, 50)])
    flat = 50 / 100                                   # 50 kWh at 100 kW
    taper = 50 * math.log(100 / 50) / (100 - 50)      # integral of ds / (100 - s) * 1 kWh/%
    assert curve.time_to_charge(0, 100, 100) == pytest.approx(flat + taper, rel=1e-12)
    assert curve.time_to_charge(0, 50, 100) == pytest.approx(0.5, rel=1e-12)


def test_curve_time_respects_charger_cap_exactly():
    # Cap 75 kW crosses the taper at 75 %: 0-75 % at 75 kW, 75-100 % on the curve.
    curve = ChargingCurve.from_pairs([(0, 100), (50, 100), (100, 50)])
    expected = 75 / 75 + 25 * math.log(75 / 50) / (75 - 50)
    assert curve.time_to_charge(0, 100, 100, max_power_kw=75) == pytest.approx(expected)


def test_curve_time_agrees_with_fine_numerical_integration():
    curve = CATALOG.get("byd-song-plus-comfort-2024-cn").curve
    steps = 100_000
    width = (80 - 10) / steps
    numeric = sum(width / min(curve.power_at(10 + (i + 0.5) * width), 60)
                  for i in range(steps)) * 71.8 / 100
    assert curve.time_to_charge(10, 80, 71.8, 60) == pytest.approx(numeric, rel=1e-6)


def test_power_at_interpolates_and_holds_the_ends():
    curve = ChargingCurve.from_pairs([(10, 50), (20, 100), (90, 30)])
    assert curve.power_at(15) == pytest.approx(75)
    assert curve.power_at(0) == 50
    assert curve.power_at(100) == 30


def test_curve_rejects_zero_power_and_unordered_points():
    with pytest.raises(ValueError):
        ChargingCurve.from_pairs([(0, 10), (100, 0)])
    with pytest.raises(ValueError):
        ChargingCurve.from_pairs([(50, 10), (20, 20)])


def test_time_to_charge_refuses_a_falling_target():
    curve = ChargingCurve.from_pairs([(0, 50), (100, 50)])
    with pytest.raises(ValueError):
        curve.time_to_charge(80, 20, 60)


@given(
    points=st.lists(st.floats(1, 400), min_size=2, max_size=8),
    soc_from=st.floats(0, 100),
    a=st.floats(0, 100),
    b=st.floats(0, 100),
    cap=st.one_of(st.none(), st.floats(1, 400)),
)
def test_charging_time_is_monotone_in_target_soc(points, soc_from, a, b, cap):
    socs = [100 * i / (len(points) - 1) for i in range(len(points))]
    curve = ChargingCurve(tuple(zip(socs, points)))
    low, high = sorted((max(a, soc_from), max(b, soc_from)))
    t_low = curve.time_to_charge(soc_from, low, 60, cap)
    t_high = curve.time_to_charge(soc_from, high, 60, cap)
    assert 0 <= t_low <= t_high * (1 + 1e-9) + 1e-12


def test_compare_refuses_one_or_five_vehicles():
    ids = [v.id for v in CATALOG.search(limit=5)]
    with pytest.raises(CompareError):
        CATALOG.compare(ids[:1])
    with pytest.raises(CompareError):
        CATALOG.compare(ids[:5])


def test_compare_gives_one_value_per_vehicle_per_attribute():
    ids = ["byd-song-plus-comfort-2024-cn", "byd-song-plus-comfort-2024-eu"]
    rows = CATALOG.compare(ids)
    assert rows["id"] == tuple(ids)
    assert rows["dc_inlets"] == ("GB/T DC", "CCS2")
    assert all(len(values) == 2 for values in rows.values())


def test_compare_tells_apart_two_vehicles_that_share_a_name():
    ids = ["audi-a6-e-tron-2025-eu", "audi-a6-e-tron-avant-2025-eu"]
    assert CATALOG.get(ids[0]).name == CATALOG.get(ids[1]).name  # the catalog's own names
    names = CATALOG.compare(ids)["name"]
    assert names == tuple(CATALOG.label(CATALOG.get(i)) for i in ids) and len(set(names)) == 2


def test_unknown_id_error_suggests_a_close_match():
    with pytest.raises(UnknownVehicle) as caught:
        CATALOG.get("byd-song-plus-comfort-2024-cm")
    assert "byd-song-plus-comfort-2024-cn" in caught.value.suggestions
    assert "did you mean" in str(caught.value)
    assert isinstance(caught.value, KeyError)


def test_search_filters_by_inlet_power_and_market():
    found = CATALOG.search(inlet="GB/T DC", min_dc_kw=200, market=Market.CN, limit=None)
    assert found
    for vehicle in found:
        assert vehicle.accepts(ConnectorStandard.GBT_DC) and vehicle.dc_kw >= 200
    assert len(CATALOG.search("zeekr", limit=3)) == 3


def test_catalog_refuses_duplicate_ids():
    vehicle = CATALOG.get("byd-song-plus-comfort-2024-cn")
    with pytest.raises(ValueError):
        Catalog([vehicle, vehicle])


def test_every_eu_vehicle_has_an_inlet_that_exists_in_europe():
    from silkcharge.domain.connectors import ConnectorStandard as S
    from silkcharge.domain.vehicles import Market, load_catalog

    european = {S.TYPE2, S.CCS2, S.CHADEMO}
    for vehicle in load_catalog():
        if vehicle.market is Market.EU:
            assert set(vehicle.inlets) <= european, (vehicle.id, vehicle.inlets)
            assert set(vehicle.inlets) & european, vehicle.id


def test_the_ioniq_5_carries_its_model_year_battery():
    from silkcharge.domain.vehicles import load_catalog

    catalog = load_catalog()
    assert catalog.get("hyundai-ioniq-5-2023-eu").battery_kwh == 77.4
    assert catalog.get("hyundai-ioniq-5-2025-eu").battery_kwh == 84.0


def test_every_vehicle_has_a_label_no_other_vehicle_shares():
    from silkcharge.domain.vehicles import load_catalog

    catalog = load_catalog()
    labels = [catalog.label(v) for v in catalog]
    assert len(set(labels)) == len(labels) == len(catalog)
    sportback = catalog.get("audi-q4-e-tron-sportback-2023-eu")
    assert "sportback" in catalog.label(sportback)
