"""Exchange rates and conversions: what may be entered, which rate a day uses, how amounts round.

The rates here are test values (1 KZT = 20 UZS and the like), not any bank's."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from silkcharge.domain.exchange import (
    AppliedRate,
    ExchangeRate,
    InvalidRate,
    NoRate,
    StaleRate,
    check_rate,
    choose_rate,
    convert_money,
    convert_price,
)
from silkcharge.domain.money import Money, Price

AT = datetime(2026, 3, 10, 9, tzinfo=timezone.utc)


def rate(frm: str, to: str, value: str, on: date, *, inverse: bool = False) -> ExchangeRate:
    return ExchangeRate(frm, to, Decimal(value), on, "test value", "tester", AT, inverse_allowed=inverse)


def test_a_rate_names_two_known_different_currencies_and_its_source() -> None:
    entered = rate("kzt", " uzs", "20", date(2026, 3, 10))
    assert (entered.from_currency, entered.to_currency, entered.pair()) == ("KZT", "UZS", "KZT→UZS")
    with pytest.raises(InvalidRate, match="unknown currency 'XXX'"):
        rate("XXX", "UZS", "20", date(2026, 3, 10))
    with pytest.raises(InvalidRate, match="KZT to itself"):
        rate("KZT", "KZT", "1", date(2026, 3, 10))
    with pytest.raises(InvalidRate, match="source"):
        ExchangeRate("KZT", "UZS", Decimal(20), date(2026, 3, 10), "  ", "tester", AT)


@pytest.mark.parametrize("value, reason", [
    ("0", "positive"), ("-1.5", "positive"), ("NaN", "finite"), ("Infinity", "finite"),
    ("0.0000000000001", "more than 12 digits after the point"),
    ("12345678901", "more than 10 digits before the point"), ("twenty", "not a number"),
])
def test_a_rate_is_positive_with_bounded_digits(value: str, reason: str) -> None:
    with pytest.raises(InvalidRate, match=reason):
        check_rate(value)


def test_a_float_rate_is_refused_and_trailing_zeros_do_not_count_as_digits() -> None:
    with pytest.raises(InvalidRate, match="floats"):
        check_rate(24.5)
    assert check_rate("24.500000000000000") == Decimal("24.5")
    assert check_rate("0.000078500000") == Decimal("0.0000785")
    assert check_rate("1E+3") == Decimal(1000)


def test_the_latest_rate_on_or_before_the_day_is_chosen() -> None:
    rates = [rate("KZT", "UZS", "20", date(2026, 3, 1)), rate("KZT", "UZS", "21", date(2026, 3, 9)),
             rate("KZT", "UZS", "22", date(2026, 3, 11))]
    chosen = choose_rate(rates, "KZT", "UZS", date(2026, 3, 10))
    assert (chosen.factor, chosen.valid_on, chosen.inverted) == (Decimal(21), date(2026, 3, 9), False)


def test_no_rate_before_the_day_is_refused_naming_the_pair_and_the_day() -> None:
    rates = [rate("KZT", "UZS", "22", date(2026, 3, 11))]
    with pytest.raises(NoRate, match="KZT→UZS valid on or before 2026-03-10"):
        choose_rate(rates, "KZT", "UZS", date(2026, 3, 10))


def test_a_rate_older_than_the_allowed_age_is_refused() -> None:
    rates = [rate("KZT", "UZS", "20", date(2026, 3, 1))]
    assert choose_rate(rates, "KZT", "UZS", date(2026, 3, 8), max_age_days=7).factor == 20
    with pytest.raises(StaleRate, match="KZT→UZS for 2026-03-09 is of 2026-03-01, more than 7 days older"):
        choose_rate(rates, "KZT", "UZS", date(2026, 3, 9), max_age_days=7)


def test_the_inverse_is_used_only_where_the_operator_allowed_it() -> None:
    one_way = [rate("UZS", "KZT", "0.05", date(2026, 3, 10))]
    with pytest.raises(NoRate):
        choose_rate(one_way, "KZT", "UZS", date(2026, 3, 10))
    both_ways = [rate("UZS", "KZT", "0.03", date(2026, 3, 10), inverse=True)]
    chosen = choose_rate(both_ways, "KZT", "UZS", date(2026, 3, 10))
    assert chosen.inverted and (chosen.from_currency, chosen.to_currency) == ("KZT", "UZS")
    assert chosen.factor == Decimal("33.3333333333")  # 1 / 0.03 to 12 significant digits, half up
    assert choose_rate(both_ways, "UZS", "KZT", date(2026, 3, 10)).factor == Decimal("0.03")


def test_on_the_same_day_the_entered_pair_wins_over_an_inverse_and_a_newer_inverse_wins() -> None:
    rates = [rate("KZT", "UZS", "20", date(2026, 3, 9)), rate("UZS", "KZT", "0.04", date(2026, 3, 9), inverse=True)]
    assert not choose_rate(rates, "KZT", "UZS", date(2026, 3, 10)).inverted
    newer = [*rates, rate("UZS", "KZT", "0.04", date(2026, 3, 10), inverse=True)]
    assert choose_rate(newer, "KZT", "UZS", date(2026, 3, 10)).factor == 25


def test_conversion_rounds_half_up_to_the_target_minor_units() -> None:
    applied = AppliedRate(rate("KZT", "UZS", "0.125", date(2026, 3, 10)))
    assert convert_money(Money("0.20", "KZT"), applied) == Money("0.03", "UZS")  # 0.025 -> 0.03
    assert convert_money(Money("-0.20", "KZT"), applied) == Money("-0.03", "UZS")  # a refund mirrors it
    with pytest.raises(InvalidRate, match="cannot convert USD"):
        convert_money(Money("1", "USD"), applied)


def test_a_price_converts_both_totals_each_from_the_cpo_amount() -> None:
    applied = AppliedRate(rate("KZT", "UZS", "20.005", date(2026, 3, 10)))
    cpo = Price(Money("3990.00", "KZT"), Money("4628.40", "KZT"))  # 16 % VAT: 638.40
    converted = convert_price(cpo, applied)
    assert converted.converted.excl_vat == Money("79819.95", "UZS")  # 3990 x 20.005
    assert converted.converted.incl_vat == Money("92591.14", "UZS")  # 4628.40 x 20.005 = 92591.142
    assert converted.converted.vat == Money("12771.19", "UZS")  # only the difference
    assert converted.original is cpo and converted.currency == "UZS"
    assert convert_price(Price(Money("10", "KZT")), applied).converted.incl_vat is None


amounts = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("1000000000"), places=2)
rates = st.decimals(min_value=Decimal("0.000001"), max_value=Decimal("100000"), places=6).filter(lambda r: r > 0)


@settings(max_examples=300, deadline=None)
@given(amounts, rates)
def test_a_round_trip_through_the_inverse_comes_back_within_rounding(amount: Decimal, value: Decimal) -> None:
    entered = rate("KZT", "UZS", str(value), date(2026, 3, 10), inverse=True)
    there = convert_money(Money(amount, "KZT"), AppliedRate(entered))
    back = convert_money(there, AppliedRate(entered, inverted=True))
    # Half a minor unit lost going there is worth 0.005 / rate back; half a unit coming back;
    # and the inverse's 12 significant digits are off by at most 5e-12 relative.
    bound = Decimal("0.005") / value + Decimal("0.005") + amount * Decimal("1e-11")
    assert abs(back.amount - amount) <= bound


@settings(max_examples=300, deadline=None)
@given(amounts, rates)
def test_a_conversion_is_within_half_a_minor_unit_of_the_exact_product(amount: Decimal, value: Decimal) -> None:
    applied = AppliedRate(rate("KZT", "UZS", str(value), date(2026, 3, 10)))
    assert abs(convert_money(Money(amount, "KZT"), applied).amount - amount * value) <= Decimal("0.005")
