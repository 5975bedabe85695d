"""Connector compatibility: direct inlets, adapters in the right direction, effective power."""

from __future__ import annotations

from silkcharge.domain.compat import best_option, effective_power, load_adapters, usable_standards
from silkcharge.domain.connectors import ConnectorStandard as S
from silkcharge.domain.vehicles import load_catalog
from silkcharge.trips.network import Availability, site_choice, sites_near
from tests.trips.helpers import line_graph, site, vehicle


def test_every_packaged_adapter_has_a_source_confidence_and_power():
    adapters = load_adapters()
    assert {a.id for a in adapters} >= {"ccs2-to-gbt-dc", "gbt-dc-to-ccs2", "type2-to-gbt-ac"}
    for adapter in adapters:
        assert adapter.source and adapter.confidence and adapter.max_kw > 0
        assert adapter.station_plug.current is adapter.car_inlet.current


def test_china_market_car_uses_gbt_directly_and_ccs2_only_through_an_adapter():
    car = load_catalog().get("byd-song-plus-comfort-2024-cn")
    direct = {a.standard for a in usable_standards(car)}
    assert direct == {S.GBT_AC, S.GBT_DC}
    adapted = {a.standard: a.adapter.id for a in usable_standards(car, load_adapters())
               if a.adapter is not None}
    assert adapted == {S.CCS2: "ccs2-to-gbt-dc", S.TYPE2: "type2-to-gbt-ac"}


def test_effective_power_is_the_minimum_of_station_car_and_adapter():
    car = vehicle(dc=(S.GBT_DC,), ac=(S.GBT_AC,), dc_kw=100)
    assert effective_power(car, S.GBT_DC, 240).power_kw == 100
    assert effective_power(car, S.GBT_DC, 60).power_kw == 60
    assert effective_power(car, S.CCS2, 150) is None
    adapted = effective_power(car, S.CCS2, 150, load_adapters())
    assert adapted.adapter.id == "ccs2-to-gbt-dc" and adapted.power_kw == 60
    assert effective_power(car, S.GBT_AC, 22).power_kw == 11  # on-board charger


def test_best_option_prefers_power_then_direct():
    car = vehicle(dc=(S.CCS2,), dc_kw=150)
    option = best_option(car, [(S.GBT_DC, 120), (S.CCS2, 50), (S.TYPE2, 22)], load_adapters())
    assert option.standard is S.GBT_DC and option.power_kw == 60 and option.adapter is not None
    option = best_option(car, [(S.GBT_DC, 120), (S.CCS2, 60)], load_adapters())
    assert option.standard is S.CCS2 and option.adapter is None  # a tie goes to direct


def test_site_choice_uses_free_connectors_first_and_reports_busy_sites():
    roads = line_graph([0, 10], {0: "West"})
    car = vehicle()
    busy = site(roads, 0, "B", (S.CCS2, 150), availability=Availability.BUSY)
    assert site_choice(busy, car).busy
    down = site(roads, 0, "D", (S.CCS2, 150), availability=Availability.UNAVAILABLE)
    assert site_choice(down, car) is None
    near = sites_near([busy, down, site(roads, 1, "F", (S.CCS2, 50))], car,
                      float(roads.lat[0]), float(roads.lon[0]), radius_km=20)
    assert [n.choice.site.code for n in near] == ["B", "F"]
