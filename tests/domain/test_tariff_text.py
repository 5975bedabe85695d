"""Tariff texts for a charger's display (domain/tariff_text.py): language choice, exact amounts
in the region's currencies and the 2.0.1 length limit."""

from __future__ import annotations

from decimal import Decimal

import pytest

from silkcharge.domain.pricing import UnitPrices
from silkcharge.domain.tariff_text import (
    CONTENT_MAX,
    LANGUAGES,
    choose_language,
    format_amount,
    tariff_message,
    total_cost_fallback,
)


def prices(currency: str = "KZT", **values: str) -> UnitPrices:
    fields = {"per_kwh": None, "per_hour": None, "parking_per_hour": None, "flat": None}
    fields.update({k: Decimal(v) for k, v in values.items()})
    return UnitPrices(currency, **fields)


def test_every_language_of_the_region_has_the_phrases():
    assert set(LANGUAGES) == {"en", "ru", "kk", "ky", "uz", "tg", "zh"}
    for language in LANGUAGES:
        assert "{" not in tariff_message(prices(per_kwh="1", per_hour="2", flat="3", parking_per_hour="4",
                                                cap_per_kwh="5"), language).content
        assert total_cost_fallback(language).content


def test_the_drivers_language_first_where_the_station_shows_it_else_its_own_else_english():
    assert choose_language(("kk", "ru")) == "kk"
    assert choose_language(("kk-KZ", "ru"), shown=("ru", "en")) == "ru"
    assert choose_language((None, "uz_UZ")) == "uz"
    assert choose_language(("de", "fr")) == "en"
    assert choose_language((), shown=("kk",)) == "en"


def test_amounts_are_exact_with_their_currency_and_the_languages_decimal_mark():
    assert format_amount(Decimal("2500"), "UZS", "uz") == "2500,00 UZS"
    assert format_amount(Decimal("18.5"), "KGS", "ky") == "18,50 KGS"
    assert format_amount(Decimal("1.255"), "TJS", "en") == "1.255 TJS"  # no rounding of a unit price
    assert format_amount(Decimal("0.1") + Decimal("0.2"), "CNY", "zh") == "0.30 CNY"
    with pytest.raises(TypeError):
        format_amount(0.3, "KZT", "en")  # type: ignore[arg-type]


def test_a_cap_and_free_charging_are_said_so():
    capped = tariff_message(prices(per_kwh="120", cap_per_kwh="100"), "ru").content
    assert capped == "Ваш тариф: 120,00 KZT/кВт·ч (с НДС), не более 100,00 KZT/кВт·ч"
    assert tariff_message(prices(), "en", "station").content == "Tariff: free of charge"


def test_a_message_never_exceeds_the_512_characters_of_ocpp_2_0_1():
    long = prices(per_kwh="1." + "1" * 600)
    message = tariff_message(long, "tg")
    assert len(message.content) == CONTENT_MAX
    assert message.to_ocpp() == {"format": "UTF8", "language": "tg", "content": message.content}
