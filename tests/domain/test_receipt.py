"""CDR and receipt: totals that match a hand computation, printable without the network."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from silkcharge.domain.caps import apply_cap, load_price_caps
from silkcharge.domain.cdr import Operator, Site, build_cdr, format_money, receipt_html
from silkcharge.domain.money import Money
from silkcharge.domain.pricing import MeterPoint, SessionTimeline
from silkcharge.domain.tariffs import (
    PriceComponent,
    Tariff,
    TariffDimensionType,
    TariffElement,
    TariffRestrictions,
)

ALMATY = ZoneInfo("Asia/Almaty")
ENERGY, TIME, PARKING, FLAT = (
    TariffDimensionType.ENERGY, TariffDimensionType.TIME,
    TariffDimensionType.PARKING_TIME, TariffDimensionType.FLAT,
)
TARIFF = Tariff(
    id="almaty-day-night", currency="KZT", country_code="KZ", party_id="SLK",
    elements=(
        TariffElement((PriceComponent(ENERGY, Decimal(80)),
                       PriceComponent(TIME, Decimal(240), step_size=60)),
                      TariffRestrictions(start_time=time(8), end_time=time(0))),
        TariffElement((PriceComponent(ENERGY, Decimal(50)),
                       PriceComponent(TIME, Decimal(120), step_size=600))),
        TariffElement((PriceComponent(PARKING, Decimal(600), step_size=300),
                       PriceComponent(FLAT, Decimal(150)))),
    ),
)
OPERATOR = Operator("Jasyl <Charge> LLP", tax_id="123456789012", address="Almaty")
SITE = Site("Abay Ave 10", time_zone="Asia/Almaty", evse_id="KZ*SLK*E1001*1")


def cdr():  # type: ignore[no-untyped-def]
    start = datetime(2026, 3, 10, 23, 20, tzinfo=ALMATY)
    midnight = datetime(2026, 3, 11, 0, 0, tzinfo=ALMATY)
    full, leave = midnight + timedelta(minutes=37), midnight + timedelta(minutes=55)
    meter = (MeterPoint(start, Decimal(0), Decimal(45)),
             MeterPoint(midnight, Decimal(30), Decimal(30)),
             MeterPoint(full, Decimal(50), Decimal(0)), MeterPoint(leave, Decimal(50), Decimal(0)))
    timeline = SessionTimeline(start, leave, meter, parking=((full, leave),))
    return build_cdr("CDR-2026-0001", TARIFF, "Asia/Almaty", timeline, session_id="S-1")


def cell(html: str, cell_id: str) -> str:
    match = re.search(rf'id={cell_id}>([^<]*)<', html)
    assert match, cell_id
    return match.group(1)


def test_receipt_totals_match_the_hand_computed_session() -> None:
    # Same session as tests/domain/test_pricing.py: 3990.00 + 638.40 VAT (16 %) = 4628.40.
    html = receipt_html(cdr(), OPERATOR, SITE)
    assert cell(html, "total-excl") == "3,990.00 KZT"
    assert cell(html, "vat") == "638.40 KZT"
    assert cell(html, "total-incl") == "4,628.40 KZT"
    assert "VAT (16 %)" in html
    assert "50.000 kWh" in html
    assert "1:17:00" in html and "0:18:00" in html  # charging and parking time
    assert "0:40:00 (measured 0:37:00)" in html  # the step-size rounding is shown


def test_receipt_is_self_contained_and_escapes_names() -> None:
    html = receipt_html(cdr(), OPERATOR, SITE)
    assert html.startswith("<!DOCTYPE html>")
    for external in ("http://", "https://", "<script", "src=", "<link", "@import"):
        assert external not in html
    assert "Jasyl &lt;Charge&gt; LLP" in html
    assert "2026-03-10 23:20:00" in html  # local time of the site


def test_receipt_in_russian_formats_numbers_the_local_way() -> None:
    html = receipt_html(cdr(), OPERATOR, SITE, locale="ru")
    assert cell(html, "total-incl") == "4\u00a0628,40 KZT"
    assert "К оплате" in html and 'lang="ru"' in html


def test_unknown_locale_is_refused() -> None:
    with pytest.raises(ValueError, match="locale 'xx'"):
        receipt_html(cdr(), OPERATOR, SITE, locale="xx")


def test_capped_receipt_shows_the_cap_line_and_the_capped_total() -> None:
    rule = load_price_caps()["kz-almaty-2025-100kzt"]
    # The midnight session stays within the cap: 4628.40 - 232.00 parking = 4396.40 incl. VAT
    # for 50 kWh, below 50 x 100 = 5000.00.
    assert apply_cap(cdr(), rule).cdr.cap is None
    expensive = Tariff(id="x", currency="KZT", country_code="KZ",
                       elements=(TariffElement((PriceComponent(ENERGY, Decimal(120)),)),))
    start = datetime(2026, 3, 10, 12, tzinfo=ALMATY)
    timeline = SessionTimeline(start, start + timedelta(hours=1), (
        MeterPoint(start, Decimal(0), Decimal(20)),
        MeterPoint(start + timedelta(hours=1), Decimal(20), Decimal(20))))
    result = apply_cap(build_cdr("CDR-2", expensive, "Asia/Almaty", timeline), rule)
    html = receipt_html(result.cdr, OPERATOR, SITE)
    # 20 kWh x 120 = 2400.00 + 16 % = 2784.00, capped at 2000.00.
    assert "Regulated price cap (kz-almaty-2025-100kzt)" in html
    assert cell(html, "total-incl") == "2,000.00 KZT"


def test_cdr_to_ocpi_uses_spec_field_names_and_utc() -> None:
    body = cdr().to_ocpi()
    assert body["start_date_time"] == "2026-03-10T18:20:00Z"
    assert [p["start_date_time"] for p in body["charging_periods"]] == [
        "2026-03-10T18:20:00Z", "2026-03-10T19:00:00Z", "2026-03-10T19:37:00Z"]
    assert body["total_cost"] == {"excl_vat": Decimal("3990.00"), "incl_vat": Decimal("4628.40")}
    assert body["total_energy"] == 50
    assert body["tariffs"][0]["elements"][0]["price_components"][0]["vat"] == 16
    assert {"total_fixed_cost", "total_energy_cost", "total_time_cost", "total_parking_time",
            "total_parking_cost", "currency", "session_id"} <= body.keys()


def test_money_format_uses_the_minor_units() -> None:
    assert format_money(Money("1234.5", "UZS")) == "1,234.50 UZS"
    assert format_money(Money("-0.005", "KZT")) == "-0.01 KZT"


def test_a_tariff_switched_mid_session_prices_each_part_by_its_tariff_with_the_fee_once_and_caps_per_tariff() -> None:
    from silkcharge.domain.cdr import Cdr
    from silkcharge.domain.pricing import split_timeline

    dear = Tariff(id="dear", currency="KZT", country_code="KZ", elements=(
        TariffElement((PriceComponent(ENERGY, Decimal(150)), PriceComponent(FLAT, Decimal(100)))),))
    cheap = Tariff(id="cheap", currency="KZT", country_code="KZ", elements=(
        TariffElement((PriceComponent(FLAT, Decimal(300)),)),
        TariffElement((PriceComponent(ENERGY, Decimal(50)),)),))
    start = datetime(2026, 3, 10, 20, 0, tzinfo=ALMATY)
    switch, end = start + timedelta(minutes=30), start + timedelta(hours=1)
    meter = (MeterPoint(start, Decimal(0), Decimal(20)), MeterPoint(start + timedelta(minutes=15), Decimal("2.5")),
             MeterPoint(start + timedelta(minutes=45), Decimal("7.5")), MeterPoint(end, Decimal(10)))
    timeline = SessionTimeline(start, end, meter)
    before, after = split_timeline(timeline, [switch])
    assert (before.start, before.end, after.start, after.end) == (start, switch, switch, end)
    assert before.energy_at(switch) == 5 and after.energy_at(switch) == 5 and after.energy_at(end) == 10

    rule = load_price_caps()["kz-almaty-2025-100kzt"]
    day = end.date()
    first = apply_cap(build_cdr("C", dear, ALMATY, before, vat_date=day), rule)
    second = apply_cap(build_cdr("C", cheap, ALMATY, after, vat_date=day, flat=False), rule)
    # 5 kWh at 150 + the 100 fee is over 100 KZT/kWh incl. VAT: capped; 5 kWh at 50 is not
    assert first.capped and not second.capped
    combined = Cdr.combined("C", [first.cdr, second.cdr], session_id="S-9")
    assert [t.id for t in combined.tariffs] == ["dear", "cheap"]
    assert [p.tariff_id for p in combined.charging_periods] == ["dear", "cheap"]
    assert combined.total_energy == 10 and combined.session_id == "S-9"
    assert combined.total_fixed_cost.excl_vat == Money(Decimal(100), "KZT")  # the first tariff's fee, once
    assert combined.total_energy_cost.excl_vat == Money(Decimal(1000), "KZT")  # 5 x 150 + 5 x 50
    assert combined.total_cost == first.cdr.total_cost + second.cdr.total_cost
    # the cap held per tariff: the dear part at 100 KZT/kWh, the cheap one as it was; one cap over
    # the whole session would have let the dear part's excess fill the cheap part's room
    whole_cap = apply_cap(build_cdr("W", dear, ALMATY, timeline), rule).cdr.total_cost
    assert combined.total_cost.incl_vat < whole_cap.incl_vat
    assert combined.cap is not None and combined.cap.rule_id == rule.id
    body = combined.to_ocpi()
    assert [t["id"] for t in body["tariffs"]] == ["dear", "cheap"]
    assert [p["tariff_id"] for p in body["charging_periods"]] == ["dear", "cheap"]
    html = receipt_html(combined, OPERATOR, SITE)  # each line labelled by the tariff that priced it
    assert "cap" in html.lower() and "dear" in html


# -- the driver's currency (issue 16): test rates, not any bank's ---------------------------------


def converted_total(value: str = "20.005", *, inverted: bool = False):  # type: ignore[no-untyped-def]
    from silkcharge.domain.exchange import AppliedRate, ExchangeRate, convert_price

    at = datetime(2026, 3, 10, 9, tzinfo=ZoneInfo("UTC"))
    pair = ("UZS", "KZT") if inverted else ("KZT", "UZS")
    entered = ExchangeRate(*pair, Decimal(value), cdr().vat_date, "Test bank <fixture>", "tester", at,
                           inverse_allowed=inverted)
    return convert_price(cdr().total_cost, AppliedRate(entered, inverted=inverted))


def test_receipt_shows_the_drivers_currency_beside_the_operators_with_the_rate() -> None:
    html = receipt_html(cdr(), OPERATOR, SITE, converted=converted_total())
    assert cell(html, "total-incl") == "4,628.40 KZT"  # the operator's amounts stay as they are
    assert cell(html, "vat") == "638.40 KZT"
    assert cell(html, "converted-excl") == "79,819.95 UZS"  # 3990.00 x 20.005
    assert cell(html, "converted-incl") == "92,591.14 UZS"  # 4628.40 x 20.005 = 92591.142, half up
    day = cdr().vat_date.isoformat()
    assert cell(html, "rate") == (f"Exchange rate: 1 KZT = 20.005 UZS, of {day}; "
                                  "source: Test bank &lt;fixture&gt;.")
    assert "In UZS" in html and "Total to pay in UZS" in html and "VAT is the operator&#x27;s, charged in KZT" in html


def test_receipt_in_russian_shows_the_converted_total_and_rate_the_local_way() -> None:
    html = receipt_html(cdr(), OPERATOR, SITE, locale="ru", converted=converted_total())
    assert cell(html, "converted-incl") == "92\u00a0591,14 UZS"
    assert "Курс: 1 KZT = 20,005 UZS на " in html
    assert "К оплате в UZS" in html and "НДС начислен оператором в KZT" in html


def test_receipt_says_when_the_rate_is_the_inverse_of_the_one_entered() -> None:
    html = receipt_html(cdr(), OPERATOR, SITE, converted=converted_total("0.05", inverted=True))
    assert cell(html, "converted-incl") == "92,568.00 UZS"  # 4628.40 x 20
    assert "1 KZT = 20 UZS, the inverse of the rate 1 UZS = 0.05 KZT" in cell(html, "rate")


def test_receipt_without_a_conversion_has_no_converted_part() -> None:
    html = receipt_html(cdr(), OPERATOR, SITE)
    assert "id=converted" not in html and "Exchange rate" not in html


def test_a_conversion_of_another_currency_is_refused_on_the_receipt() -> None:
    from silkcharge.domain.exchange import AppliedRate, ExchangeRate, convert_price
    from silkcharge.domain.money import Price

    at = datetime(2026, 3, 10, 9, tzinfo=ZoneInfo("UTC"))
    other = convert_price(Price(Money("1", "USD")),
                          AppliedRate(ExchangeRate("USD", "UZS", Decimal(2), cdr().vat_date, "test", "t", at)))
    with pytest.raises(ValueError, match="USD amount, the receipt's is KZT"):
        receipt_html(cdr(), OPERATOR, SITE, converted=other)
