"""OCPP 2.1 local cost and payment, the pure parts: silkcharge tariffs as 2.1 Tariff objects
(checked against the official 2.1 schema), what 2.1 cannot say refused with its reason, the
station's cost compared with the platform's, and VAT numbers checked by their country's rules."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest

from silkcharge.domain.commands import CommandNotSupported
from silkcharge.domain.local_cost import StationCost, compare
from silkcharge.domain.money import Money
from silkcharge.domain.payments import vat_number_problem
from silkcharge.domain.tariffs import Tariff
from silkcharge.ocpp import schemas
from silkcharge.ocpp.v21_tariffs import station_cost, tariff_21

AT = datetime(2026, 12, 3, 9, 0, tzinfo=timezone.utc)


def ocpi(*elements: dict, **extra) -> dict:
    body = {"id": "KZ-STD", "currency": "KZT", "country_code": "KZ", "elements": list(elements), **extra}
    return Tariff.from_ocpi(body).to_ocpi(vat_on=AT.date())


def component(kind: str, price: str, vat: int = 16) -> dict:
    return {"type": kind, "price": price, "vat": vat, "step_size": 1}


def valid_21(tariff: dict) -> dict:
    schemas.validate("2.1", "SetDefaultTariff", {"evseId": 0, "tariff": tariff}, response=False, message_id="1")
    return tariff


def test_every_ocpi_dimension_maps_to_its_21_price_with_the_vat_of_the_day():
    tariff = valid_21(tariff_21(ocpi(
        {"price_components": [component("ENERGY", "80"), component("FLAT", "200")]},
        {"price_components": [component("TIME", "300"), component("PARKING_TIME", "600")]},
        min_price={"excl_vat": "500", "incl_vat": "580"},
    )))
    assert tariff["tariffId"] == "KZ-STD" and tariff["currency"] == "KZT"
    assert tariff["energy"] == {"prices": [{"priceKwh": 80}], "taxRates": [{"type": "VAT", "tax": 16}]}
    assert tariff["fixedFee"]["prices"] == [{"priceFixed": 200}]
    assert tariff["chargingTime"]["prices"] == [{"priceMinute": 5}]  # 300 per hour
    assert tariff["idleTime"]["prices"] == [{"priceMinute": 10}]
    assert tariff["minCost"] == {"exclTax": 500, "inclTax": 580}


def test_restrictions_become_21_conditions_in_the_21_units():
    night = {"start_time": "22:00", "end_time": "06:00", "day_of_week": ["MONDAY", "SUNDAY"],
             "min_kwh": "20", "max_power": "22", "min_duration": 600}
    tariff = valid_21(tariff_21(ocpi(
        {"price_components": [component("ENERGY", "60")], "restrictions": night},
        {"price_components": [component("ENERGY", "80")]},
    )))
    first, second = tariff["energy"]["prices"]
    assert first["conditions"] == {"startTimeOfDay": "22:00", "endTimeOfDay": "06:00",
                                   "dayOfWeek": ["Monday", "Sunday"], "minEnergy": 20000,
                                   "maxPower": 22000, "minTime": 600}
    assert second == {"priceKwh": 80}  # the first price whose conditions hold, as in OCPI


def test_a_per_hour_price_becomes_a_per_minute_price_never_above_it():
    tariff = tariff_21(ocpi({"price_components": [component("TIME", "100")]}))
    per_minute = Decimal(repr(tariff["chargingTime"]["prices"][0]["priceMinute"]))
    assert per_minute == Decimal("1.666666") and per_minute * 60 <= 100


@pytest.mark.parametrize(("elements", "extra", "reason"), [
    ([{"price_components": [component("ENERGY", "80", 16)]},
      {"price_components": [component("ENERGY", "60", 0)], "restrictions": {"start_time": "22:00", "end_time": "06:00"}}],
     {}, "VAT rates"),
    ([{"price_components": [component("FLAT", "200")], "restrictions": {"min_kwh": "5"}}], {}, "FLAT fee restricted by minEnergy"),
    ([{"price_components": [component("ENERGY", "80")]}], {"end_date_time": "2027-01-01T00:00:00Z"}, "has no end"),
])
def test_what_21_cannot_say_is_refused_with_the_reason_never_sent_changed(elements, extra, reason):
    with pytest.raises(CommandNotSupported, match=reason):
        tariff_21(ocpi(*elements, **extra))


def test_no_show_fees_stay_with_the_platform():
    tariff = valid_21(tariff_21(ocpi(
        {"price_components": [component("ENERGY", "80")]},
        {"price_components": [component("FLAT", "500")], "restrictions": {"reservation": "RESERVATION_EXPIRES"}},
        {"price_components": [component("TIME", "120")], "restrictions": {"reservation": "RESERVATION"}},
    )))
    assert "fixedFee" not in tariff and "reservationFixed" not in tariff
    assert tariff["reservationTime"]["prices"] == [{"priceMinute": 2}]


def test_cost_details_are_read_exactly_and_compared_within_a_tolerance():
    details = {"totalCost": {"currency": "KZT", "typeOfCost": "NormalCost", "total": {"exclTax": 1000.1, "inclTax": 1160.12}},
               "totalUsage": {"energy": 12500, "chargingTime": 1800, "idleTime": 0},
               "chargingPeriods": [{"startPeriod": "2026-12-03T09:00:00.000Z", "tariffId": "KZ-STD"}]}
    cost = station_cost("Ended", AT, details, None)
    assert cost.total_incl_vat == Decimal("1160.12") and cost.tariff_id == "KZ-STD" and cost.energy_wh == 12500
    assert compare(cost, Money("1160.12", "KZT")).agrees is True
    apart = compare(cost, Money("1000", "KZT"))
    assert apart.agrees is False and apart.difference == Money("160.12", "KZT") and "differs" in apart.reason
    assert compare(cost, Money("1160", "USD")).agrees is False
    failed = StationCost(AT, "Ended", None, None, None, failure_reason="no tariff")
    assert compare(failed, Money("1", "KZT")).agrees is False
    assert compare(None, Money("1", "KZT")).agrees is None


def test_vat_numbers_are_checked_by_the_rules_of_the_sites_country():
    # 1..11 weighted: 296 % 11 = 10, so weighted again 3..11, 1, 2: 377 % 11 = 3
    assert vat_number_problem("KZ", "123456789013") is None
    assert "check digit" in vat_number_problem("KZ", "123456789012")
    assert "12 digits" in vat_number_problem("KZ", "12345")
    assert vat_number_problem("UZ", "123456789") is None
    assert "cannot be checked" in vat_number_problem("TM", "1")


def test_a_card_receipt_says_when_the_card_paid_another_amount_than_the_session_costs():
    from silkcharge.domain.payments import Settlement, SettlementStatus, payment_section

    paid = Settlement("PSP-1", SettlementStatus.SETTLED, Decimal("5000"), AT, vat_number="123456789013")
    capped = payment_section(paid, "KZT", time_zone="Asia/Almaty", locale="en", billed=Money("1160", "KZT"))
    assert "5,000.00 KZT" in capped and "the session costs 1,160.00 KZT" in capped and "123456789013" in capped
    assert "2026-12-03 14:00:00" in capped  # settled at 09:00 UTC, told in the site's time
    same = payment_section(paid, "KZT", time_zone="Asia/Almaty", locale="ru", billed=Money("5000.00", "KZT"))
    assert "Оплачено банковской картой" in same and "Разницу" not in same
    pending = payment_section(paid, "KZT", time_zone="UTC", locale="en", billed=None)
    assert "once it is priced" in pending
