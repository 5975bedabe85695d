"""Tariffs: the OCPI 2.2.1 structure, validation that names the problem, concessions."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from silkcharge.domain.money import Money, Price
from silkcharge.domain.pricing import estimate
from silkcharge.domain.tariffs import (
    STATUTORY,
    DayOfWeek,
    InvalidTariff,
    NoApplicableTariff,
    PriceComponent,
    Tariff,
    TariffDimensionType,
    TariffElement,
    TariffRestrictions,
    TariffType,
    select_tariff,
)

UTC = timezone.utc
ENERGY = TariffDimensionType.ENERGY


def energy(price: str, **kw: object) -> PriceComponent:
    return PriceComponent(ENERGY, Decimal(price), **kw)  # type: ignore[arg-type]


def tariff(*elements: TariffElement, **kw: object) -> Tariff:
    kw.setdefault("country_code", "KZ")
    return Tariff(id="t", currency="KZT", elements=elements, **kw)  # type: ignore[arg-type]


def problems_of(**kw: object) -> str:
    with pytest.raises(InvalidTariff) as caught:
        tariff(TariffElement((energy("80"),), TariffRestrictions(**kw)))  # type: ignore[arg-type]
    return str(caught.value)


def test_negative_price_is_refused_naming_the_component() -> None:
    with pytest.raises(InvalidTariff, match=r"elements\[0\].price_components\[0\].price: negative"):
        tariff(TariffElement((energy("-5"),)))


def test_non_numeric_and_float_prices_are_refused() -> None:
    with pytest.raises(InvalidTariff, match="not a number"):
        tariff(TariffElement((PriceComponent(ENERGY, "abc"),)))  # type: ignore[arg-type]
    with pytest.raises(InvalidTariff, match="floats are refused"):
        tariff(TariffElement((PriceComponent(ENERGY, 0.25),)))  # type: ignore[arg-type]


def test_unknown_currency_is_refused() -> None:
    with pytest.raises(InvalidTariff, match="currency: unknown currency 'XXX'"):
        Tariff(id="t", currency="XXX", elements=(TariffElement((energy("1"),)),), country_code="KZ")


def test_element_without_price_components_is_refused() -> None:
    with pytest.raises(InvalidTariff, match=r"elements\[0\].price_components: an element needs"):
        tariff(TariffElement(()))


def test_tariff_without_elements_is_refused() -> None:
    with pytest.raises(InvalidTariff, match="at least one element"):
        tariff()


def test_negative_step_size_is_refused() -> None:
    with pytest.raises(InvalidTariff, match="step_size: negative"):
        tariff(TariffElement((energy("80", step_size=-1),)))


def test_contradictory_restrictions_are_refused_each_by_name() -> None:
    assert "min_kwh 50 is not below max_kwh 20" in problems_of(min_kwh=50, max_kwh=20)
    assert "min_power" in problems_of(min_power=50, max_power=22)
    assert "min_duration" in problems_of(min_duration=3600, max_duration=600)
    assert "start_date 2026-02-01 is not before end_date 2026-01-01" in problems_of(
        start_date=date(2026, 2, 1), end_date=date(2026, 1, 1)
    )
    assert "empty list" in problems_of(day_of_week=frozenset())
    assert "start_time equals end_time" in problems_of(start_time=time(8), end_time=time(8))


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(InvalidTariff) as caught:
        Tariff(
            id="t",
            currency="KZT",
            country_code="KZ",
            elements=(
                TariffElement((energy("-1"),), TariffRestrictions(min_kwh=5, max_kwh=1)),
                TariffElement(()),
            ),
        )
    assert len(caught.value.problems) == 3


def test_statutory_vat_needs_a_country() -> None:
    with pytest.raises(InvalidTariff, match="statutory VAT needs the tariff's country_code"):
        Tariff(id="t", currency="KZT", elements=(TariffElement((energy("80"),)),))


def test_reservation_element_prices_only_flat_and_time() -> None:
    with pytest.raises(InvalidTariff, match="reservation element can only price FLAT and TIME"):
        reservation = TariffRestrictions(reservation="RESERVATION")  # type: ignore[arg-type]
        tariff(TariffElement((energy("80"),), reservation))


def test_night_restriction_may_cross_midnight() -> None:
    night = TariffRestrictions(start_time=time(22), end_time=time(6))
    tariff(TariffElement((energy("50"),), night), TariffElement((energy("80"),)))


OCPI_TARIFF = """
{
  "country_code": "KZ", "party_id": "SLK", "id": "almaty-dc", "currency": "KZT",
  "type": "REGULAR",
  "min_price": {"excl_vat": 200, "incl_vat": 232},
  "elements": [
    {"price_components": [{"type": "ENERGY", "price": 62.5, "vat": 16.0, "step_size": 1},
                          {"type": "PARKING_TIME", "price": 600, "vat": 16.0, "step_size": 300}],
     "restrictions": {"start_time": "22:00", "end_time": "06:00",
                      "day_of_week": ["MONDAY", "TUESDAY"], "min_power": 50}},
    {"price_components": [{"type": "ENERGY", "price": 80, "vat": 16.0, "step_size": 1}]}
  ],
  "start_date_time": "2026-01-01T00:00:00Z",
  "last_updated": "2025-12-01T10:00:00Z"
}
"""


def test_from_ocpi_reads_the_spec_fields_and_floats_through_their_text() -> None:
    parsed = Tariff.from_ocpi(json.loads(OCPI_TARIFF))
    assert parsed.type is TariffType.REGULAR
    first = parsed.elements[0]
    assert first.price_components[0].price == Decimal("62.5")
    assert first.price_components[0].vat == Decimal("16.0")
    assert first.restrictions is not None
    assert first.restrictions.day_of_week == {DayOfWeek.MONDAY, DayOfWeek.TUESDAY}
    assert first.restrictions.start_time == time(22)
    assert parsed.min_price == Price(Money("200", "KZT"), Money("232", "KZT"))
    assert parsed.start_date_time == datetime(2026, 1, 1, tzinfo=UTC)


def test_to_ocpi_round_trips_through_from_ocpi() -> None:
    parsed = Tariff.from_ocpi(json.loads(OCPI_TARIFF, parse_float=Decimal))
    again = Tariff.from_ocpi(parsed.to_ocpi())
    assert again == parsed


def test_from_ocpi_reports_bad_fields_by_path() -> None:
    data = json.loads(OCPI_TARIFF)
    data["elements"][0]["price_components"][0]["price"] = "cheap"
    data["elements"][0]["restrictions"]["start_time"] = "25:00"
    data["elements"][1]["price_components"][0]["type"] = "KWH"
    with pytest.raises(InvalidTariff) as caught:
        Tariff.from_ocpi(data)
    message = str(caught.value)
    assert "elements[0].price_components[0].price: not a number ('cheap')" in message
    assert "elements[0].restrictions.start_time: '25:00' is not a time of day" in message
    assert "elements[1].price_components[0].type: 'KWH' is not one of" in message


def test_statutory_vat_is_written_as_the_rate_of_the_day_for_ocpi() -> None:
    t = tariff(TariffElement((energy("80", vat=STATUTORY),)))
    with pytest.raises(ValueError, match="pass vat_on"):
        t.to_ocpi()
    assert t.to_ocpi(vat_on=date(2025, 12, 31))["elements"][0]["price_components"][0]["vat"] == 12
    assert t.to_ocpi(vat_on=date(2026, 1, 1))["elements"][0]["price_components"][0]["vat"] == 16


def test_vat_included_prices_are_converted_to_excl_vat_for_ocpi() -> None:
    t = tariff(TariffElement((energy("116"),)), vat_included=True)
    component = t.to_ocpi(vat_on=date(2026, 1, 1))["elements"][0]["price_components"][0]
    assert component["price"] == Decimal("100.0000")


def test_extensions_round_trip_concession_audience_and_statutory_vat() -> None:
    fleet = tariff(
        TariffElement((energy("60"),)), token_groups={"taxi-almaty"}, vat_included=True
    )
    assert Tariff.from_ocpi(fleet.to_ocpi(extensions=True)) == fleet


REGULAR = tariff(TariffElement((energy("80"),)), type=TariffType.REGULAR)
TAXI = Tariff(
    id="taxi", currency="KZT", country_code="KZ",
    elements=(TariffElement((energy("60"),)),), token_groups=frozenset({"taxi-almaty"}),
)
RESIDENT = Tariff(
    id="resident", currency="KZT", country_code="KZ",
    elements=(TariffElement((energy("70"),)),), driver_categories=frozenset({"resident"}),
)
NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


def test_taxi_fleet_token_group_gets_its_concession_tariff() -> None:
    chosen = select_tariff([REGULAR, RESIDENT, TAXI], NOW, token_group="taxi-almaty",
                           driver_category="resident")
    assert chosen is TAXI


def test_driver_category_concession_beats_the_general_tariff() -> None:
    assert select_tariff([REGULAR, TAXI, RESIDENT], NOW, driver_category="resident") is RESIDENT


def test_drivers_outside_the_group_get_the_general_tariff() -> None:
    assert select_tariff([TAXI, REGULAR], NOW, token_group="other-fleet") is REGULAR
    assert select_tariff([TAXI, REGULAR], NOW) is REGULAR


def test_no_tariff_for_a_driver_is_an_error_not_a_free_session() -> None:
    with pytest.raises(NoApplicableTariff):
        select_tariff([TAXI], NOW)


def test_expired_tariffs_are_not_selected() -> None:
    old = tariff(TariffElement((energy("50"),)), end_date_time=datetime(2026, 1, 1, tzinfo=UTC))
    assert select_tariff([old, REGULAR], NOW) is REGULAR


def test_an_ocpi_price_without_vat_pays_the_statutory_rate_of_the_date() -> None:
    # OCPI reads an absent vat as "no VAT"; a Kazakh tariff that forgot it was billed 0 %.
    body = {"id": "T", "currency": "KZT", "country_code": "KZ",
            "elements": [{"price_components": [{"type": "ENERGY", "price": "80"}]}]}
    parsed = Tariff.from_ocpi(body)
    assert parsed.elements[0].price_components[0].vat is STATUTORY
    almaty = ZoneInfo("Asia/Almaty")
    in_2025 = estimate(parsed, 10, 20, datetime(2025, 6, 1, 12, tzinfo=almaty))
    in_2026 = estimate(parsed, 10, 20, datetime(2026, 6, 1, 12, tzinfo=almaty))
    assert in_2025.total_cost.incl_vat == Money("896.00", "KZT")  # 800 + 12 %
    assert in_2026.total_cost.incl_vat == Money("928.00", "KZT")  # 800 + 16 %


def test_an_ocpi_price_without_vat_needs_the_tariffs_country() -> None:
    body = {"id": "T", "currency": "KZT",
            "elements": [{"price_components": [{"type": "ENERGY", "price": "80"}]}]}
    with pytest.raises(InvalidTariff, match="statutory VAT needs the tariff's country_code"):
        Tariff.from_ocpi(body)


def test_no_vat_is_written_to_ocpi_as_zero_and_read_back_as_zero() -> None:
    t = tariff(TariffElement((energy("80", vat=None),)))
    component = t.to_ocpi(extensions=True)["elements"][0]["price_components"][0]
    assert component["vat"] == 0
    assert Tariff.from_ocpi(t.to_ocpi(extensions=True)).elements[0].price_components[0].vat == 0
