"""Regulated caps: the Almaty 100 KZT/kWh rule binds an area, refuses tariffs (whoever they are for,
with time and flat fees counted at the site's slowest connector) and caps every session."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from silkcharge.domain.caps import (
    InvalidCap,
    Jurisdiction,
    apply_cap,
    check_tariff,
    load_jurisdictions,
    load_price_caps,
)
from silkcharge.domain.cdr import build_cdr
from silkcharge.domain.money import Money, Price
from silkcharge.domain.pricing import MeterPoint, SessionTimeline
from silkcharge.domain.tariffs import PriceComponent, Tariff, TariffDimensionType, TariffElement

ALMATY = ZoneInfo("Asia/Almaty")
RULE = load_price_caps()["kz-almaty-2025-100kzt"]
ALMATY_CITY = load_jurisdictions()["kz-almaty-city"]
ENERGY, TIME, PARKING = (
    TariffDimensionType.ENERGY, TariffDimensionType.TIME, TariffDimensionType.PARKING_TIME,
)


def kzt(amount: str) -> Money:
    return Money(amount, "KZT")


def tariff(*components: PriceComponent, **kw: object) -> Tariff:
    return Tariff(id="almaty", currency="KZT", country_code="KZ",
                  elements=(TariffElement(components),), **kw)  # type: ignore[arg-type]


def pc(kind: TariffDimensionType, price: str) -> PriceComponent:
    return PriceComponent(kind, Decimal(price))


def test_almaty_rule_is_data_with_its_source_and_belongs_to_the_city_area() -> None:
    assert RULE.max_price_per_kwh_incl_vat == 100
    assert RULE.currency == "KZT" and RULE.country == "KZ"
    assert "kursiv.media 2025-05-22" in RULE.source
    assert RULE.jurisdiction == ALMATY_CITY.code
    assert "public domain" in ALMATY_CITY.licence and "Natural Earth" in ALMATY_CITY.source


def test_almaty_area_holds_the_city_and_not_its_neighbours() -> None:
    assert ALMATY_CITY.contains(43.238, 76.946)  # the centre (Republic Square)
    assert ALMATY_CITY.contains(43.2476, 76.9021)  # the demo network's KZ-ALA-001
    assert not ALMATY_CITY.contains(43.867, 77.063)  # Konaev (Kapshagay), 70 km north
    assert not ALMATY_CITY.contains(43.3208, 75.7697)  # on the Almaty-Bishkek road
    assert not ALMATY_CITY.contains(51.128, 71.430)  # Astana


def test_an_area_with_a_hole_leaves_the_hole_out() -> None:
    square = [[76.0, 43.0], [78.0, 43.0], [78.0, 44.0], [76.0, 44.0], [76.0, 43.0]]
    hole = [[76.5, 43.2], [77.5, 43.2], [77.5, 43.8], [76.5, 43.8]]
    area = Jurisdiction.from_dict({"code": "x", "country": "KZ", "polygon": [square, hole]})
    assert area.contains(43.1, 76.2) and not area.contains(43.5, 77.0)


def test_a_malformed_area_is_refused_with_every_reason() -> None:
    with pytest.raises(InvalidCap) as refused:
        Jurisdiction.from_dict({"code": "x", "country": "kz", "polygon": [[[200, 43], [77, 43]]]})
    assert any("alpha-2" in p for p in refused.value.problems)
    assert any("outside lon" in p for p in refused.value.problems)
    assert any("three distinct points" in p for p in refused.value.problems)


def test_energy_price_over_the_cap_with_vat_is_refused_with_the_arithmetic() -> None:
    violations = check_tariff(tariff(pc(ENERGY, "95")), RULE, on=date(2026, 2, 1),
                              time_zone="Asia/Almaty")
    assert len(violations) == 1
    assert "95 KZT + 16 % VAT = 110.20 KZT" in violations[0].message
    assert "cap of 100 KZT/kWh" in violations[0].message
    assert violations[0].price_per_kwh_incl_vat == Decimal("110.20")


def test_tariff_legal_at_12_percent_is_refused_for_its_life_after_the_vat_change() -> None:
    # 88 + 12 % = 98.56 is within the cap in 2025; 88 + 16 % = 102.08 is not from 2026.
    violations = check_tariff(tariff(pc(ENERGY, "88")), RULE, on=date(2025, 11, 1),
                              time_zone="Asia/Almaty")
    assert [v.effective_from for v in violations] == [date(2026, 1, 1)]
    assert "102.08" in violations[0].message


def test_tariff_within_the_cap_passes() -> None:
    assert check_tariff(tariff(pc(ENERGY, "86")), RULE, on=date(2026, 2, 1),
                        time_zone="Asia/Almaty") == []


def test_time_fees_count_through_the_reference_session() -> None:
    # 80/kWh + 600/h: 30 kWh at 60 kW take 30 min, (2400 + 300) x 1.16 / 30 = 104.40/kWh.
    violations = check_tariff(tariff(pc(ENERGY, "80"), pc(TIME, "600")), RULE,
                              on=date(2026, 2, 1), time_zone="Asia/Almaty")
    assert len(violations) == 1
    assert "reference session of 30 kWh at 60 kW" in violations[0].message
    assert violations[0].price_per_kwh_incl_vat == Decimal("104.40")


def test_a_fleet_or_resident_tariff_must_satisfy_the_cap_too() -> None:
    for audience in ({"token_groups": {"taxi-almaty"}}, {"driver_categories": {"resident"}}):
        concession = tariff(pc(ENERGY, "95"), **audience)
        violations = check_tariff(concession, RULE, on=date(2026, 2, 1), time_zone="Asia/Almaty")
        assert [v.price_per_kwh_incl_vat for v in violations] == [Decimal("110.20")]


def test_a_time_fee_breaks_the_cap_at_the_sites_slowest_connector() -> None:
    # 60/kWh + 300/h: at 60 kW, (1800 + 150) x 1.16 / 30 = 75.40/kWh, within the cap; at a 7 kW
    # AC connector 30 kWh take 15,429 s (rounded up to the second): (1800 + 1285.75) x 1.16 / 30
    # = 119.32/kWh.
    slow_fee = tariff(pc(ENERGY, "60"), pc(TIME, "300"))
    on = date(2026, 2, 1)
    assert check_tariff(slow_fee, RULE, on=on, time_zone="Asia/Almaty", powers_kw=[Decimal(60)]) == []
    violations = check_tariff(slow_fee, RULE, on=on, time_zone="Asia/Almaty",
                              powers_kw=[Decimal(60), Decimal(7)])
    assert len(violations) == 1
    assert "at 7 kW" in violations[0].message
    assert violations[0].price_per_kwh_incl_vat == Decimal("119.32")


def test_a_flat_fee_counts_per_kwh_of_the_reference_session() -> None:
    # 85/kWh + 500 per session: (2550 + 500) x 1.16 / 30 = 117.93/kWh.
    violations = check_tariff(tariff(pc(ENERGY, "85"), pc(TariffDimensionType.FLAT, "500")), RULE,
                              on=date(2026, 2, 1), time_zone="Asia/Almaty")
    assert [v.price_per_kwh_incl_vat for v in violations] == [Decimal("117.93")]


def test_a_price_without_vat_in_ocpi_is_checked_with_the_statutory_rate() -> None:
    # 90 KZT "without vat" is 104.40 incl. the 16 % a Kazakh driver pays from 2026.
    ocpi = Tariff.from_ocpi({"id": "no-vat", "currency": "KZT", "country_code": "KZ",
                             "elements": [{"price_components": [{"type": "ENERGY", "price": "90"}]}]})
    violations = check_tariff(ocpi, RULE, on=date(2026, 2, 1), time_zone="Asia/Almaty")
    assert [v.price_per_kwh_incl_vat for v in violations] == [Decimal("104.40")]


# Legal at publication (reference session: (2400 + 100) x 1.16 / 30 = 96.67/kWh) but a slow
# car pays mostly for time.
LEGAL = tariff(pc(ENERGY, "80"), pc(TIME, "200"), pc(PARKING, "300"))


def slow_session() -> SessionTimeline:
    """10 kWh over 2 hours at 5 kW, then 30 minutes parked."""
    start = datetime(2026, 2, 3, 14, 0, tzinfo=ALMATY)
    full = start + timedelta(hours=2)
    leave = full + timedelta(minutes=30)
    meter = (MeterPoint(start, Decimal(0), Decimal(5)), MeterPoint(full, Decimal(10), Decimal(0)),
             MeterPoint(leave, Decimal(10), Decimal(0)))
    return SessionTimeline(start, leave, meter, parking=((full, leave),))


def test_session_over_the_cap_is_capped_and_the_capping_recorded() -> None:
    assert check_tariff(LEGAL, RULE, on=date(2026, 2, 1), time_zone="Asia/Almaty") == []
    cdr = build_cdr("cdr-1", LEGAL, "Asia/Almaty", slow_session())
    # Charging: 10 x 80 + 2 h x 200 = 1200.00 + 16 % = 1392.00 (139.20/kWh); parking
    # 0.5 h x 300 = 150.00 + 16 % = 174.00 (outside the cap). Total 1350.00 / 1566.00.
    assert cdr.total_cost == Price(kzt("1350.00"), kzt("1566.00"))
    result = apply_cap(cdr, RULE)
    # Charging may cost at most 10 kWh x 100 = 1000.00 incl. VAT: 392.00 comes off the gross
    # total (1174.00) and 392 x 1350/1566 = 337.93 off the net total (1012.07).
    assert result.capped
    assert result.cdr.total_cost == Price(kzt("1012.07"), kzt("1174.00"))
    record = result.cdr.cap
    assert record is not None and record is result.record
    assert record.rule_id == RULE.id
    assert record.original == Price(kzt("1350.00"), kzt("1566.00"))
    assert record.capped == result.cdr.total_cost
    assert record.limit == kzt("1000.00")
    assert "139.20 KZT/kWh" in record.reason


def test_session_within_the_cap_is_left_alone() -> None:
    fast = SessionTimeline(
        datetime(2026, 2, 3, 14, tzinfo=ALMATY), datetime(2026, 2, 3, 14, 30, tzinfo=ALMATY),
        (MeterPoint(datetime(2026, 2, 3, 14, tzinfo=ALMATY), Decimal(0), Decimal(60)),
         MeterPoint(datetime(2026, 2, 3, 14, 30, tzinfo=ALMATY), Decimal(30), Decimal(60))),
    )
    cdr = build_cdr("cdr-2", LEGAL, "Asia/Almaty", fast)
    result = apply_cap(cdr, RULE)
    assert not result.capped and result.cdr is cdr and cdr.cap is None


def test_a_concession_session_is_capped_like_any_other() -> None:
    resident = tariff(pc(ENERGY, "80"), pc(TIME, "200"), pc(PARKING, "300"),
                      driver_categories={"resident"})
    cdr = build_cdr("cdr-3", resident, "Asia/Almaty", slow_session())
    assert apply_cap(cdr, RULE).cdr.total_cost == Price(kzt("1012.07"), kzt("1174.00"))


def test_cap_refuses_a_cdr_in_another_currency() -> None:
    som = Tariff(id="kg", currency="KGS", country_code="KG",
                 elements=(TariffElement((pc(ENERGY, "20"),)),))
    cdr = build_cdr("cdr-4", som, "Asia/Bishkek", slow_session())
    with pytest.raises(ValueError, match="KGS"):
        apply_cap(cdr, RULE)
