"""Tariff texts for a charger's display, in the region's languages (OCPP 2.0.1 I01, I04-I06).

The phrases are a small table in the code, one row per language, so a translator edits one
place and the texts never depend on the web console's i18n. A charger's display takes one
language per message (MessageContentType.language) and at most 512 characters (its content's
maxLength); `tariff_message` keeps to both.

Which language a text is in (`choose_language`): the first of the candidates the caller gives,
in order, that this table has and the station can show; the caller passes the driver's own
language first (their account's), then the station's display language; English when none fits.
Amounts are the exact `Decimal` unit prices incl. VAT with their ISO currency code, written with
the language's decimal mark (a comma in ru, kk, ky, uz, tg) and no rounding beyond what the
tariff states (a price of 92.8 shows as 92.80, one of 92.805 as 92.805).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from silkcharge.domain.money import minor_units
from silkcharge.domain.pricing import UnitPrices

__all__ = ["CONTENT_MAX", "FALLBACK_LANGUAGE", "LANGUAGES", "TariffText", "choose_language",
           "format_amount", "no_tariff", "prices_text", "tariff_message", "total_cost_fallback"]

CONTENT_MAX = 512
"""MessageContentType.content maxLength in OCPP 2.0.1."""
FALLBACK_LANGUAGE = "en"


@dataclass(frozen=True)
class _Phrases:
    driver: str  # the driver's own tariff (I01): "{prices}" is filled in
    station: str  # the station's tariff for anyone (I04 TariffFallbackMessage)
    now: str  # the tariff in force from now on, during a session (I06)
    per_kwh: str
    per_hour: str
    flat: str
    parking: str
    incl_vat: str
    free: str
    cap: str
    total_cost_fallback: str  # I05 TotalCostFallbackMessage
    unknown: str  # I04 where no tariff applies to everyone: no price is better than a stale one
    separator: str = ", "
    decimal_comma: bool = False


PHRASES: dict[str, _Phrases] = {
    "en": _Phrases(
        driver="Your tariff: {prices}", station="Tariff: {prices}", now="Tariff from now: {prices}",
        per_kwh="{amount}/kWh", per_hour="{amount}/h charging", flat="{amount} per session",
        parking="parking {amount}/h", incl_vat="incl. VAT", free="free of charge",
        cap="at most {amount}/kWh",
        unknown="See the operator's app for prices.",
        total_cost_fallback="The total cost of your session will be on your receipt.",
    ),
    "ru": _Phrases(
        driver="Ваш тариф: {prices}", station="Тариф: {prices}", now="Тариф с этого момента: {prices}",
        per_kwh="{amount}/кВт·ч", per_hour="{amount}/ч зарядки", flat="{amount} за сессию",
        parking="стоянка {amount}/ч", incl_vat="с НДС", free="бесплатно",
        cap="не более {amount}/кВт·ч",
        unknown="Цены смотрите в приложении оператора.",
        total_cost_fallback="Итоговая стоимость зарядки будет в вашем чеке.", decimal_comma=True,
    ),
    "kk": _Phrases(
        driver="Сіздің тарифіңіз: {prices}", station="Тариф: {prices}", now="Осы сәттен бастап тариф: {prices}",
        per_kwh="{amount}/кВт·сағ", per_hour="{amount}/сағ зарядтау", flat="сеанс үшін {amount}",
        parking="тұрақ {amount}/сағ", incl_vat="ҚҚС-пен", free="тегін",
        cap="ең көбі {amount}/кВт·сағ",
        unknown="Бағаларды оператордың қосымшасынан қараңыз.",
        total_cost_fallback="Зарядтаудың жалпы құны сіздің чегіңізде болады.", decimal_comma=True,
    ),
    "ky": _Phrases(
        driver="Сиздин тариф: {prices}", station="Тариф: {prices}", now="Мындан ары тариф: {prices}",
        per_kwh="{amount}/кВт·саат", per_hour="{amount}/саат кубаттоо", flat="сеанс үчүн {amount}",
        parking="унаа токтотуу {amount}/саат", incl_vat="КНС менен", free="акысыз",
        cap="эң көп {amount}/кВт·саат",
        unknown="Бааларды оператордун тиркемесинен караңыз.",
        total_cost_fallback="Кубаттоонун жалпы наркы чегиңизде болот.", decimal_comma=True,
    ),
    "uz": _Phrases(
        driver="Sizning tarifingiz: {prices}", station="Tarif: {prices}", now="Hozirdan boshlab tarif: {prices}",
        per_kwh="{amount}/kVt·soat", per_hour="{amount}/soat quvvatlash", flat="seans uchun {amount}",
        parking="to‘xtab turish {amount}/soat", incl_vat="QQS bilan", free="bepul",
        cap="ko‘pi bilan {amount}/kVt·soat",
        unknown="Narxlarni operator ilovasida ko‘ring.",
        total_cost_fallback="Quvvatlashning umumiy narxi chekingizda bo‘ladi.", decimal_comma=True,
    ),
    "tg": _Phrases(
        driver="Тарифи шумо: {prices}", station="Тариф: {prices}", now="Аз ҳозир тариф: {prices}",
        per_kwh="{amount}/кВт·соат", per_hour="{amount}/соат барқгирӣ", flat="барои як сеанс {amount}",
        parking="таваққуф {amount}/соат", incl_vat="бо ААИ", free="ройгон",
        cap="на зиёда аз {amount}/кВт·соат",
        unknown="Нархҳоро дар барномаи оператор бинед.",
        total_cost_fallback="Арзиши умумии барқгирӣ дар чеки шумо хоҳад буд.", decimal_comma=True,
    ),
    "zh": _Phrases(
        driver="您的资费：{prices}", station="资费：{prices}", now="从现在起的资费：{prices}",
        per_kwh="{amount}/千瓦时", per_hour="充电 {amount}/小时", flat="每次 {amount}",
        parking="停车 {amount}/小时", incl_vat="含增值税", free="免费",
        cap="最高 {amount}/千瓦时",
        unknown="价格请查看运营商的应用。",
        total_cost_fallback="本次充电的总费用将显示在您的收据上。", separator="，",
    ),
}
LANGUAGES = tuple(PHRASES)


@dataclass(frozen=True)
class TariffText:
    """One text for a charger's display: OCPP 2.0.1 MessageContentType (format UTF8)."""

    language: str
    content: str

    def to_ocpp(self) -> dict[str, str]:
        return {"format": "UTF8", "language": self.language, "content": self.content}


def primary(language: str | None) -> str:
    """'ru-KZ' and 'ru_RU' are 'ru'."""
    return (language or "").replace("_", "-").split("-")[0].strip().lower()


def choose_language(candidates: Iterable[str | None], shown: Iterable[str] = ()) -> str:
    """The first candidate this table has and the station shows (any, when `shown` is empty);
    English when none fits (the rule in the module docstring)."""
    allowed = {primary(language) for language in shown}
    for candidate in candidates:
        language = primary(candidate)
        if language in PHRASES and (not allowed or language in allowed):
            return language
    return FALLBACK_LANGUAGE


def format_amount(value: Decimal, currency: str, language: str) -> str:
    """An exact amount with its currency: at least the currency's minor units, more only where
    the price has them; the language's decimal mark; never through a float."""
    if not isinstance(value, Decimal):
        raise TypeError(f"amounts are Decimal, not {type(value).__name__}")
    quantum = Decimal(1).scaleb(-minor_units(currency))
    rounded = value.quantize(quantum)
    # More places only where the price has them, each one kept (normalize() would round).
    text = f"{rounded:f}" if value == rounded else f"{value:f}".rstrip("0")
    if _phrases(language).decimal_comma:
        text = text.replace(".", ",")
    return f"{text} {currency}"


def prices_text(prices: UnitPrices, language: str) -> str:
    """The unit prices in force, e.g. "92,80 KZT/кВт·ч, 232,00 KZT за сессию (с НДС)"."""
    t = _phrases(language)

    def amount(value: Decimal) -> str:
        return format_amount(value, prices.currency, language)

    parts = []
    if prices.per_kwh is not None:
        parts.append(t.per_kwh.format(amount=amount(prices.per_kwh)))
    if prices.per_hour is not None:
        parts.append(t.per_hour.format(amount=amount(prices.per_hour)))
    if prices.flat is not None:
        parts.append(t.flat.format(amount=amount(prices.flat)))
    if prices.parking_per_hour is not None:
        parts.append(t.parking.format(amount=amount(prices.parking_per_hour)))
    if not parts:
        return t.free
    text = f"{t.separator.join(parts)} ({t.incl_vat})"
    if prices.cap_per_kwh is not None:
        text += f"{t.separator}{t.cap.format(amount=amount(prices.cap_per_kwh))}"
    return text


def tariff_message(prices: UnitPrices, language: str, kind: str = "driver") -> TariffText:
    """The text of one kind ("driver" I01, "station" I04, "now" I06), at most 512 characters."""
    t = _phrases(language)
    template = {"driver": t.driver, "station": t.station, "now": t.now}[kind]
    return TariffText(language, _fit(template.format(prices=prices_text(prices, language))))


def no_tariff(language: str) -> TariffText:
    return TariffText(language, _phrases(language).unknown)


def total_cost_fallback(language: str) -> TariffText:
    return TariffText(language, _phrases(language).total_cost_fallback)


def _phrases(language: str) -> _Phrases:
    return PHRASES.get(primary(language)) or PHRASES[FALLBACK_LANGUAGE]


def _fit(text: str) -> str:
    return text if len(text) <= CONTENT_MAX else text[:CONTENT_MAX - 1] + "…"
