"""Charge detail records (a subset of the OCPI 2.2.1 CDR) and the driver's printable receipt.

A `Cdr` is built from a `PricedSession` (`build_cdr` prices and builds in one step). Its
`total_cost` is final: min_price / max_price and any regulated cap (see `caps.apply_cap`,
recorded in `cap`) are already applied, while the per-dimension totals and the cost lines
show the price before those adjustments, so the receipt can show both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timezone, tzinfo
from decimal import Decimal
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

from silkcharge.domain.exchange import ConvertedTotal
from silkcharge.domain.money import Money, Price, minor_units
from silkcharge.domain.pricing import (
    ChargingPeriod,
    CostLine,
    KeptSegments,
    PricedReservation,
    PricedSession,
    SessionTimeline,
    price_session,
)
from silkcharge.domain.tariffs import Tariff, TariffDimensionType
from silkcharge.domain.vat import VatTable

__all__ = [
    "CapRecord",
    "Cdr",
    "Operator",
    "Site",
    "build_cdr",
    "format_money",
    "receipt_html",
]


@dataclass(frozen=True, slots=True)
class CapRecord:
    """A regulated cap that lowered a session's price: what it would have cost and why not."""

    rule_id: str
    original: Price
    capped: Price
    limit: Money
    """The most the capped part of the session may cost incl. VAT (cap x energy)."""
    reason: str


@dataclass(frozen=True, slots=True)
class Cdr:
    id: str
    start_date_time: datetime
    end_date_time: datetime
    currency: str
    tariffs: tuple[Tariff, ...]
    charging_periods: tuple[ChargingPeriod, ...]
    lines: tuple[CostLine, ...]
    total_energy: Decimal
    total_time: Decimal
    total_parking_time: Decimal
    total_cost: Price
    total_fixed_cost: Price
    total_energy_cost: Price
    total_time_cost: Price
    total_parking_cost: Price
    subtotal: Price
    price_limit: str | None
    vat_date: date
    country_code: str | None = None
    party_id: str | None = None
    session_id: str | None = None
    auth_id: str | None = None
    evse_uid: str | None = None
    cap: CapRecord | None = None
    flags: tuple[str, ...] = field(default=())
    """E.g. "closed-without-stop" for a session the CSMS had to close itself."""
    total_reservation_cost: Price | None = None
    """The reservation's fee (OCPI 2.2.1 total_reservation_cost), already in total_cost."""

    @classmethod
    def from_priced(
        cls,
        cdr_id: str,
        tariff: Tariff,
        priced: PricedSession,
        reservation: PricedReservation | None = None,
        **extra: Any,
    ) -> Cdr:
        """The CDR of a priced session; a reservation it used adds its lines and its fee."""
        fee = reservation.total_cost if reservation is not None else None
        return cls(
            id=cdr_id,
            start_date_time=priced.start,
            end_date_time=priced.end,
            currency=priced.currency,
            tariffs=(tariff,),
            charging_periods=priced.charging_periods,
            lines=(reservation.lines if reservation else ()) + priced.lines,
            total_energy=priced.total_energy,
            total_time=priced.total_time,
            total_parking_time=priced.total_parking_time,
            total_cost=priced.total_cost + fee if fee else priced.total_cost,
            total_fixed_cost=priced.total_fixed_cost,
            total_energy_cost=priced.total_energy_cost,
            total_time_cost=priced.total_time_cost,
            total_parking_cost=priced.total_parking_cost,
            subtotal=priced.subtotal + fee if fee else priced.subtotal,
            price_limit=priced.price_limit,
            vat_date=priced.vat_date,
            country_code=tariff.country_code,
            party_id=tariff.party_id,
            total_reservation_cost=fee,
            **extra,
        )

    @classmethod
    def for_no_show(cls, cdr_id: str, tariff: Tariff, reservation: PricedReservation,
                    reserved_from: datetime, reserved_until: datetime, **extra: Any) -> Cdr:
        """The CDR of a reservation nobody came for: no energy, no time, only its fees."""
        zero = Price.zero(tariff.currency)
        return cls(
            id=cdr_id, start_date_time=reserved_from, end_date_time=reserved_until,
            currency=tariff.currency, tariffs=(tariff,), charging_periods=(),
            lines=reservation.lines, total_energy=Decimal(0), total_time=Decimal(0),
            total_parking_time=Decimal(0), total_cost=reservation.total_cost,
            total_fixed_cost=zero, total_energy_cost=zero, total_time_cost=zero,
            total_parking_cost=zero, subtotal=reservation.total_cost, price_limit=None,
            vat_date=reservation.vat_date, country_code=tariff.country_code,
            party_id=tariff.party_id, total_reservation_cost=reservation.total_cost, **extra,
        )

    @classmethod
    def combined(cls, cdr_id: str, parts: Sequence[Cdr], **extra: Any) -> Cdr:
        """One CDR of a session priced in consecutive parts, each by its own tariff (a tariff
        switched mid-session, OCPP 2.1 ChangeTransactionTariff): every tariff listed, each
        charging period naming its tariff, each cost line the tariff that priced it, totals the
        sum of the parts'. Each part's total is already bounded by its tariff's min/max price and
        capped by the caps that bind it; the cap record, if any part was capped, sums theirs."""
        if not parts:
            raise ValueError("a combined CDR needs at least one part")
        currencies = {p.currency for p in parts}
        if len(currencies) != 1:
            raise ValueError(f"the parts of one session are priced in {', '.join(sorted(currencies))}: one currency only")
        first, last = parts[0], parts[-1]

        def total(name: str) -> Price:
            return sum((getattr(p, name) for p in parts[1:]), getattr(first, name))

        tariffs: dict[str, Tariff] = {}
        for part in parts:
            for tariff in part.tariffs:
                tariffs.setdefault(tariff.id, tariff)
        lines = tuple(
            line if line.tariff_id else replace(line, tariff_id=part.tariffs[0].id)
            for part in parts for line in part.lines
        )
        capped = [p.cap for p in parts if p.cap is not None]
        cap = None
        if capped:
            originals = [p.cap.original if p.cap is not None else p.total_cost for p in parts]
            cap = CapRecord(
                rule_id=", ".join(dict.fromkeys(c.rule_id for c in capped)),
                original=sum(originals[1:], originals[0]),
                capped=total("total_cost"),
                limit=sum((c.limit for c in capped[1:]), capped[0].limit),
                reason="; ".join(dict.fromkeys(c.reason for c in capped)),
            )
        fees = [p.total_reservation_cost for p in parts if p.total_reservation_cost is not None]
        flags = tuple(dict.fromkeys(flag for p in parts for flag in p.flags))
        return cls(
            id=cdr_id, start_date_time=first.start_date_time, end_date_time=last.end_date_time,
            currency=first.currency, tariffs=tuple(tariffs.values()),
            charging_periods=tuple(period for p in parts for period in p.charging_periods),
            lines=lines,
            total_energy=sum((p.total_energy for p in parts), Decimal(0)),
            total_time=sum((p.total_time for p in parts), Decimal(0)),
            total_parking_time=sum((p.total_parking_time for p in parts), Decimal(0)),
            total_cost=total("total_cost"), total_fixed_cost=total("total_fixed_cost"),
            total_energy_cost=total("total_energy_cost"), total_time_cost=total("total_time_cost"),
            total_parking_cost=total("total_parking_cost"), subtotal=total("subtotal"),
            price_limit=next((p.price_limit for p in parts if p.price_limit), None), vat_date=last.vat_date,
            country_code=first.country_code, party_id=first.party_id, cap=cap, flags=flags,
            total_reservation_cost=sum(fees[1:], fees[0]) if fees else None,
            **{"session_id": first.session_id, "auth_id": first.auth_id, "evse_uid": first.evse_uid, **extra},
        )

    def vat_rates(self) -> list[Decimal | None]:
        return sorted({line.vat_rate for line in self.lines}, key=lambda r: (r is None, r))

    def to_ocpi(self) -> dict[str, Any]:
        """OCPI 2.2.1 CDR fields this core knows (location, token and signed data are added by
        the service that owns them). Times in UTC; numbers as Decimal."""
        body: dict[str, Any] = {
            "id": self.id,
            "start_date_time": _utc(self.start_date_time),
            "end_date_time": _utc(self.end_date_time),
            "currency": self.currency,
            "tariffs": [t.to_ocpi(vat_on=self.vat_date) for t in self.tariffs],
            "charging_periods": [
                {
                    "start_date_time": _utc(p.start_date_time),
                    "dimensions": [{"type": d.type, "volume": d.volume} for d in p.dimensions],
                    "tariff_id": p.tariff_id,
                }
                for p in self.charging_periods
            ],
            "total_cost": self.total_cost.to_ocpi(),
            "total_fixed_cost": self.total_fixed_cost.to_ocpi(),
            "total_energy": self.total_energy,
            "total_energy_cost": self.total_energy_cost.to_ocpi(),
            "total_time": self.total_time + self.total_parking_time,
            "total_time_cost": self.total_time_cost.to_ocpi(),
            "total_parking_time": self.total_parking_time,
            "total_parking_cost": self.total_parking_cost.to_ocpi(),
        }
        if self.total_reservation_cost is not None:
            body["total_reservation_cost"] = self.total_reservation_cost.to_ocpi()
        for name in ("country_code", "party_id", "session_id"):
            if getattr(self, name):
                body[name] = getattr(self, name)
        remarks = []
        if self.price_limit:
            remarks.append(f"total bounded by the tariff's {self.price_limit}")
        if self.cap is not None:
            remarks.append(f"capped by rule {self.cap.rule_id}: {self.cap.reason}")
        if remarks:
            body["remark"] = "; ".join(remarks)[:255]
        return body


def build_cdr(
    cdr_id: str,
    tariff: Tariff,
    time_zone: str | tzinfo,
    timeline: SessionTimeline,
    *,
    vat_table: VatTable | None = None,
    reservation: PricedReservation | None = None,
    vat_date: date | None = None,
    flat: bool = True,
    kept: KeptSegments | None = None,
    **extra: Any,
) -> Cdr:
    """Price `timeline` with `tariff` and wrap the result as a CDR (with the fee of the
    reservation the session used, when there is one). `vat_date`, `flat` and `kept`: see
    `price_session` (a part of a session after a tariff switch; a growing session)."""
    priced = price_session(tariff, time_zone, timeline, vat_table=vat_table, vat_date=vat_date, flat=flat,
                           kept=kept)
    return Cdr.from_priced(cdr_id, tariff, priced, reservation, **extra)


def _utc(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- receipt --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Operator:
    name: str
    tax_id: str | None = None
    address: str | None = None


@dataclass(frozen=True, slots=True)
class Site:
    name: str
    time_zone: str
    address: str | None = None
    evse_id: str | None = None


_LABELS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Charging receipt",
        "receipt": "Receipt",
        "operator": "Operator",
        "tax_id": "Tax ID",
        "site": "Site",
        "evse": "Charge point",
        "start": "Start",
        "end": "End",
        "energy": "Energy",
        "charging": "Charging time",
        "parking": "Parking time",
        "item": "Item",
        "quantity": "Quantity",
        "unit_price": "Unit price",
        "vat_rate": "VAT",
        "excl": "Excl. VAT",
        "incl": "Incl. VAT",
        "ENERGY": "Energy",
        "TIME": "Charging time",
        "PARKING_TIME": "Parking time",
        "FLAT": "Session fee",
        "RESERVATION_FLAT": "Reservation fee",
        "RESERVATION_TIME": "Reservation time",
        "no-show": "The reservation expired unused; the no-show fee applies.",
        "subtotal": "Subtotal",
        "min_price": "Minimum price of the tariff",
        "max_price": "Maximum price of the tariff",
        "cap": "Regulated price cap",
        "total_excl": "Total excl. VAT",
        "vat": "VAT",
        "total_incl": "Total to pay",
        "no_vat": "no VAT",
        "prices_incl": "Unit prices include VAT.",
        "prices_excl": "Unit prices exclude VAT.",
        "per_kwh": "/kWh",
        "per_hour": "/h",
        "measured": "measured",
        "tariff": "Tariff",
        "closed-without-stop": "The station did not report the end of this session; "
        "it was closed by the operator's rule.",
        "ended-by-operator": "The station did not report the end of this session; "
        "the operator ended it.",
        "held-for-review": "Held for review: this session is not billed until the operator "
        "has checked what the charger reported.",
        "voided": "Voided by the operator: nothing is billed for this session.",
        "corrected": "Corrected by the operator after review of what the charger reported.",
        "converted": "In {currency}",
        "converted_excl": "Total excl. VAT in {currency}",
        "converted_incl": "Total to pay in {currency}",
        "rate": "Exchange rate: 1 {frm} = {rate} {to}, of {day}; source: {source}.",
        "rate_inverse": "Exchange rate: 1 {frm} = {rate} {to}, the inverse of the rate 1 {to} = {entered} {frm} "
        "of {day}; source: {source}.",
        "converted_vat": "VAT is the operator's, charged in {currency}; each total is converted on its own "
        "and rounded to the {target} minor unit.",
    },
    "ru": {
        "title": "Чек за зарядку",
        "receipt": "Чек",
        "operator": "Оператор",
        "tax_id": "БИН/ИНН",
        "site": "Станция",
        "evse": "Зарядная точка",
        "start": "Начало",
        "end": "Окончание",
        "energy": "Энергия",
        "charging": "Время зарядки",
        "parking": "Время простоя",
        "item": "Позиция",
        "quantity": "Количество",
        "unit_price": "Цена",
        "vat_rate": "НДС",
        "excl": "Без НДС",
        "incl": "С НДС",
        "ENERGY": "Энергия",
        "TIME": "Время зарядки",
        "PARKING_TIME": "Время простоя",
        "FLAT": "Плата за сессию",
        "RESERVATION_FLAT": "Плата за бронирование",
        "RESERVATION_TIME": "Время бронирования",
        "no-show": "Бронирование истекло без использования; взимается плата за неявку.",
        "subtotal": "Промежуточный итог",
        "min_price": "Минимальная цена тарифа",
        "max_price": "Максимальная цена тарифа",
        "cap": "Предельная цена (регулирование)",
        "total_excl": "Итого без НДС",
        "vat": "НДС",
        "total_incl": "К оплате",
        "no_vat": "без НДС",
        "prices_incl": "Цены указаны с НДС.",
        "prices_excl": "Цены указаны без НДС.",
        "per_kwh": "/кВт·ч",
        "per_hour": "/ч",
        "measured": "измерено",
        "tariff": "Тариф",
        "closed-without-stop": "Станция не сообщила об окончании сессии; "
        "сессия закрыта по правилу оператора.",
        "ended-by-operator": "Станция не сообщила об окончании сессии; "
        "сессию завершил оператор.",
        "held-for-review": "На проверке: сессия не оплачивается, пока оператор не проверит "
        "данные зарядной станции.",
        "voided": "Аннулировано оператором: за эту сессию ничего не взимается.",
        "corrected": "Исправлено оператором после проверки данных зарядной станции.",
        # Exchange-rate words (issue 16): written with the code, not yet read by a native speaker.
        "converted": "В валюте {currency}",
        "converted_excl": "Итого без НДС в {currency}",
        "converted_incl": "К оплате в {currency}",
        "rate": "Курс: 1 {frm} = {rate} {to} на {day}; источник: {source}.",
        "rate_inverse": "Курс: 1 {frm} = {rate} {to}, обратный курсу 1 {to} = {entered} {frm} на {day}; "
        "источник: {source}.",
        "converted_vat": "НДС начислен оператором в {currency}; каждая сумма пересчитана отдельно "
        "и округлена до минимальной единицы {target}.",
    },
}


def format_money(money: Money, locale: str = "en") -> str:
    """Grouped digits, the currency's minor units, then the ISO code: "1,234.50 KZT" (en),
    "1 234,50 KZT" (ru, with no-break spaces)."""
    return f"{_group(money.round_to_minor().amount, minor_units(money.currency), locale)} " \
        f"{money.currency}"


def _group(value: Decimal, places: int, locale: str) -> str:
    text = f"{abs(value):,.{places}f}"
    if locale == "ru":
        text = text.replace(",", "\u00a0").replace(".", ",")
    return ("-" if value < 0 else "") + text


def _number(value: Decimal, places: int, locale: str) -> str:
    return _group(value.quantize(Decimal(1).scaleb(-places)), places, locale)


def _duration(hours: Decimal) -> str:
    seconds = int((hours * 3600).to_integral_value())
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def receipt_html(cdr: Cdr, operator: Operator, site: Site, locale: str = "en",
                 converted: ConvertedTotal | None = None) -> str:
    """A self-contained printable HTML receipt (inline CSS, no scripts, no external assets).

    `converted`: the total in the driver's currency (a roaming driver billed by their own
    provider, domain/exchange.py), shown below the operator's totals with the rate, its day
    and its source; the operator's amounts and VAT stay as they are."""
    if locale not in _LABELS:
        raise ValueError(f"no receipt texts for locale {locale!r}; have {', '.join(_LABELS)}")
    t = _LABELS[locale]
    zone = ZoneInfo(site.time_zone)
    places = minor_units(cdr.currency)
    money = lambda m: escape(format_money(m, locale))  # noqa: E731
    tariff = cdr.tariffs[0]

    facts = [
        (t["receipt"], cdr.id),
        (t["operator"], operator.name),
        *([(t["tax_id"], operator.tax_id)] if operator.tax_id else []),
        (t["site"], site.name + (f", {site.address}" if site.address else "")),
        *([(t["evse"], site.evse_id)] if site.evse_id else []),
        (t["tariff"], tariff.id),
        (t["start"], cdr.start_date_time.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z")),
        (t["end"], cdr.end_date_time.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z")),
        (t["energy"], f"{_number(cdr.total_energy, 3, locale)} kWh"),
        (t["charging"], _duration(cdr.total_time)),
        (t["parking"], _duration(cdr.total_parking_time)),
    ]
    rows = []
    for line in cdr.lines:
        rows.append(
            "<tr>"
            f"<td>{escape(t[_label(cdr.tariffs, line)])}</td>"
            f"<td class=num>{escape(_quantity(line, locale, t))}</td>"
            f"<td class=num>{escape(_unit_price(line, cdr.currency, places, locale, t))}</td>"
            f"<td class=num>{escape(_rate(line.vat_rate, locale, t))}</td>"
            f"<td class=num>{money(line.cost.excl_vat)}</td>"
            f"<td class=num>{money(line.cost.incl_vat or line.cost.excl_vat)}</td>"
            "</tr>"
        )
    adjustments = []
    if cdr.price_limit:
        adjustments.append((t[cdr.price_limit], cdr.subtotal, _before_cap(cdr)))
    if cdr.cap is not None:
        adjustments.append((f"{t['cap']} ({cdr.cap.rule_id})", cdr.cap.original, cdr.cap.capped))
    adjustment_rows = [
        "<tr class=adj>"
        f"<td colspan=4>{escape(label)}</td>"
        f"<td class=num>{money(after.excl_vat - before.excl_vat)}</td>"
        f"<td class=num>{money(_incl(after) - _incl(before))}</td>"
        "</tr>"
        for label, before, after in adjustments
    ]
    total = cdr.total_cost
    vat_amount = _incl(total) - total.excl_vat
    rates = ", ".join(_rate(rate, locale, t) for rate in cdr.vat_rates()) or t["no_vat"]
    notes = [t["prices_incl"] if tariff.vat_included else t["prices_excl"]]
    notes += [t[flag] for flag in cdr.flags if flag in t and flag not in _BANNERS]
    banners = "".join(f"<p class=banner>{escape(t[flag])}</p>" for flag in cdr.flags if flag in _BANNERS)
    fact_rows = "".join(
        f"<tr><th>{escape(label)}</th><td>{escape(str(value))}</td></tr>" for label, value in facts
    )
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="{locale}"><head><meta charset="utf-8">'
        f"<title>{escape(t['title'])} {escape(cdr.id)}</title>"
        f"<style>{_CSS}</style></head><body>"
        f"<h1>{escape(t['title'])}</h1>"
        f"{banners}"
        f"<table class=facts>{fact_rows}</table>"
        "<table class=lines><thead><tr>"
        f"<th>{escape(t['item'])}</th><th>{escape(t['quantity'])}</th>"
        f"<th>{escape(t['unit_price'])}</th><th>{escape(t['vat_rate'])}</th>"
        f"<th>{escape(t['excl'])}</th><th>{escape(t['incl'])}</th></tr></thead><tbody>"
        + "".join(rows)
        + "<tr class=sub>"
        f"<td colspan=4>{escape(t['subtotal'])}</td>"
        f"<td class=num>{money(cdr.subtotal.excl_vat)}</td>"
        f"<td class=num>{money(_incl(cdr.subtotal))}</td></tr>"
        + "".join(adjustment_rows)
        + "</tbody></table>"
        "<table class=totals>"
        f"<tr><th>{escape(t['total_excl'])}</th><td class=num id=total-excl>"
        f"{money(total.excl_vat)}</td></tr>"
        f"<tr><th>{escape(t['vat'])} ({escape(rates)})</th><td class=num id=vat>"
        f"{money(vat_amount)}</td></tr>"
        f"<tr class=grand><th>{escape(t['total_incl'])}</th><td class=num id=total-incl>"
        f"{money(_incl(total))}</td></tr>"
        "</table>"
        + (_converted_html(cdr, converted, locale, t) if converted is not None else "")
        + "".join(f"<p class=note>{escape(note)}</p>" for note in notes)
        + "</body></html>\n"
    )


def _converted_html(cdr: Cdr, converted: ConvertedTotal, locale: str, t: dict[str, str]) -> str:
    """The driver's currency: both converted totals, the rate that made them, and whose VAT."""
    if converted.original.currency != cdr.currency:
        raise ValueError(f"the converted total is of a {converted.original.currency} amount, "
                         f"the receipt's is {cdr.currency}")
    money = lambda m: escape(format_money(m, locale))  # noqa: E731
    applied = converted.rate
    number = lambda value: _decimal_text(value, locale)  # noqa: E731
    words = {"frm": applied.from_currency, "to": applied.to_currency, "rate": number(applied.factor),
             "entered": number(applied.entered.rate), "day": applied.valid_on.isoformat(),
             "source": applied.entered.source}
    rate = t["rate_inverse" if applied.inverted else "rate"].format(**words)
    vat = t["converted_vat"].format(currency=cdr.currency, target=converted.currency)
    total = converted.converted
    return (
        f"<table class=\"totals converted\"><caption>{escape(t['converted'].format(currency=converted.currency))}"
        "</caption>"
        f"<tr><th>{escape(t['converted_excl'].format(currency=converted.currency))}</th><td class=num id=converted-excl>"
        f"{money(total.excl_vat)}</td></tr>"
        f"<tr class=grand><th>{escape(t['converted_incl'].format(currency=converted.currency))}</th><td class=num id=converted-incl>"
        f"{money(_incl(total))}</td></tr>"
        "</table>"
        f"<p class=note id=rate>{escape(rate)}</p><p class=note>{escape(vat)}</p>"
    )


def _decimal_text(value: Decimal, locale: str) -> str:
    text = format(value, "f")
    return text.replace(".", ",") if locale == "ru" else text


_BANNERS = frozenset({"held-for-review", "voided"})
"""Flags that say, above everything else on a receipt, that nothing is billed (yet)."""


def _label(tariffs: Sequence[Tariff], line: CostLine) -> str:
    tariff = next((t for t in tariffs if t.id == line.tariff_id), tariffs[0])
    if tariff.elements[line.element_index].is_reservation:
        return f"RESERVATION_{line.dimension.value}"
    return line.dimension.value


def _incl(price: Price) -> Money:
    return price.incl_vat if price.incl_vat is not None else price.excl_vat


def _before_cap(cdr: Cdr) -> Price:
    return cdr.cap.original if cdr.cap is not None else cdr.total_cost


def _quantity(line: CostLine, locale: str, t: dict[str, str]) -> str:
    if line.dimension is TariffDimensionType.FLAT:
        return "1"
    if line.dimension is TariffDimensionType.ENERGY:
        text = f"{_number(line.billed, 3, locale)} kWh"
        if line.billed != line.measured:
            text += f" ({t['measured']} {_number(line.measured, 3, locale)})"
        return text
    text = _duration(line.billed / 3600)
    if line.billed != line.measured:
        text += f" ({t['measured']} {_duration(line.measured / 3600)})"
    return text


def _unit_price(line: CostLine, currency: str, places: int, locale: str, t: dict) -> str:
    price = f"{_number(line.unit_price, places, locale)} {currency}"
    if line.dimension is TariffDimensionType.ENERGY:
        return price + t["per_kwh"]
    if line.dimension is TariffDimensionType.FLAT:
        return price
    return price + t["per_hour"]


def _rate(rate: Decimal | None, locale: str, t: dict[str, str]) -> str:
    if rate is None:
        return t["no_vat"]
    text = format(rate.normalize(), "f")
    return (text.replace(".", ",") if locale == "ru" else text) + " %"


_CSS = (
    "body{font-family:system-ui,sans-serif;max-width:48rem;margin:2rem auto;color:#111}"
    "h1{font-size:1.4rem}table{border-collapse:collapse;width:100%;margin:1rem 0}"
    "th,td{padding:.3rem .5rem;text-align:left;border-bottom:1px solid #ddd}"
    ".num{text-align:right;white-space:nowrap}.facts th{width:12rem;font-weight:600}"
    ".lines thead th{border-bottom:2px solid #111}.sub td,.adj td{font-style:italic}"
    ".totals{width:auto;margin-left:auto}.grand th,.grand td{font-weight:700;"
    "border-top:2px solid #111}.note{font-size:.85rem;color:#444}"
    ".banner{border:2px solid #b45309;background:#fffbeb;padding:.5rem .8rem;font-weight:600}"
    ".converted caption{text-align:right;font-weight:600;padding:.3rem .5rem}"
    "@media print{body{margin:0}}"
)
