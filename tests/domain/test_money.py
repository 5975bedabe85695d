"""Money: exact decimals, one currency at a time, rounded only when asked."""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

import pytest

from silkcharge.domain.money import (
    CURRENCIES,
    CurrencyMismatch,
    Money,
    Price,
    UnknownCurrency,
    minor_units,
)


def test_money_refuses_floats_with_a_type_error() -> None:
    with pytest.raises(TypeError, match="float"):
        Money(0.1, "KZT")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="float"):
        Money("1", "KZT") * 1.5  # type: ignore[operator]


def test_money_refuses_booleans_and_non_numbers() -> None:
    with pytest.raises(TypeError):
        Money(True, "KZT")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not a number"):
        Money("ten", "KZT")
    with pytest.raises(ValueError, match="finite"):
        Money("NaN", "KZT")


def test_money_refuses_mixed_currencies_in_arithmetic_and_comparison() -> None:
    tenge, som = Money("100", "KZT"), Money("100", "KGS")
    with pytest.raises(CurrencyMismatch, match="KZT and KGS"):
        tenge + som
    with pytest.raises(CurrencyMismatch):
        tenge - som
    with pytest.raises(CurrencyMismatch):
        tenge < som  # noqa: B015


def test_unknown_currency_is_named() -> None:
    with pytest.raises(UnknownCurrency, match="'XYZ'"):
        Money("1", "XYZ")
    with pytest.raises(UnknownCurrency):
        minor_units("ABC")


def test_region_currencies_have_two_minor_units() -> None:
    for code in ("KZT", "UZS", "KGS", "TJS", "TMT", "CNY", "RUB", "USD", "EUR"):
        assert CURRENCIES[code] == 2


def test_arithmetic_is_exact() -> None:
    total = Money("0.1", "USD") + Money("0.2", "USD")
    assert total == Money("0.3", "USD")
    assert Money("95", "KZT") * Decimal("1.16") == Money("110.20", "KZT")
    assert -Money("5", "KZT") == Money("-5", "KZT")
    assert Money("3", "KZT") > Money("2", "KZT")


def test_round_to_minor_is_half_up_by_default_and_accepts_a_mode() -> None:
    assert Money("2.345", "KZT").round_to_minor() == Money("2.35", "KZT")
    assert Money("2.344", "KZT").round_to_minor() == Money("2.34", "KZT")
    assert Money("2.349", "KZT").round_to_minor(ROUND_DOWN) == Money("2.34", "KZT")
    assert Money("-2.345", "KZT").round_to_minor() == Money("-2.35", "KZT")


def test_parse_reads_amount_and_code_in_either_order() -> None:
    assert Money.parse("1234.50 KZT") == Money("1234.50", "KZT")
    assert Money.parse("uzs 5000") == Money("5000", "UZS")
    with pytest.raises(ValueError, match="expected"):
        Money.parse("1234.50")
    with pytest.raises(UnknownCurrency):
        Money.parse("10 ABC")


def test_money_is_immutable_and_hashable() -> None:
    amount = Money("10", "KZT")
    with pytest.raises(AttributeError):
        amount.amount = Decimal(11)  # type: ignore[misc]
    assert {amount, Money("10.00", "KZT")} == {amount}


def test_price_carries_vat_and_refuses_mixed_currencies() -> None:
    price = Price(Money("100", "KZT"), Money("116", "KZT"))
    assert price.vat == Money("16", "KZT")
    with pytest.raises(CurrencyMismatch):
        Price(Money("100", "KZT"), Money("116", "UZS"))
