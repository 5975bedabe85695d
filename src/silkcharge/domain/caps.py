"""Regulated price caps: which sites a cap binds, which tariffs break it, what a session may cost.

A cap such as "at most 100 KZT per kWh including VAT at public chargers in Almaty" is data
(`silkcharge/data/price_caps.json`, installed into the store and managed through the API) and
belongs to a `Jurisdiction`: an area given as a polygon (`silkcharge/data/jurisdictions.json`).
It binds every site whose location lies inside the area, whoever operates it, and every tariff
there, whoever it is for (a fleet's or a resident's price included). This module answers three
questions, with no I/O beyond reading the packaged defaults:

- `check_tariff`: does any price the tariff can produce at a site exceed the cap? Two tests, each
  on the day asked and again on every later VAT change the tariff lives to see (a tariff legal
  at 12 % VAT can break the cap at 16 %):
  1. every ENERGY component, converted to incl. VAT, must be within the cap;
  2. time and flat fees count through a reference session: the rule's `reference_kwh` charged
     at each power the site's connectors deliver (the slowest one is where a per-hour fee weighs
     most), started at every hour of a week when the tariff's prices depend on the clock: total
     incl. VAT (parking excluded unless the rule includes it) divided by the energy, worst case.
- `apply_cap` (on every session, priced or running): if the session's capped part costs more
  than the cap times its energy, its total is lowered to that and the capping recorded.
- `Jurisdiction.contains`: is a site inside the area?
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_DOWN, Decimal
from functools import cache
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

from silkcharge.domain.cdr import CapRecord, Cdr
from silkcharge.domain.geo import polygon_contains
from silkcharge.domain.money import CURRENCIES, Money, Price, to_decimal
from silkcharge.domain.pricing import estimate
from silkcharge.domain.tariffs import STATUTORY, Tariff, TariffDimensionType
from silkcharge.domain.vat import VatTable, load_vat_table

__all__ = [
    "CappedResult",
    "InvalidCap",
    "Jurisdiction",
    "PriceCapRule",
    "Violation",
    "apply_cap",
    "cap_total",
    "check_tariff",
    "load_jurisdictions",
    "load_price_caps",
]


class InvalidCap(ValueError):
    """A cap or an area that cannot be stored; `problems` names each reason."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


Ring = tuple[tuple[float, float], ...]


@dataclass(frozen=True, slots=True)
class Jurisdiction:
    """An area a cap binds: the first ring of `polygon` ([lon, lat] points) is its outline,
    any further ring a hole."""

    code: str
    name: str
    country: str
    polygon: tuple[Ring, ...]
    source: str = ""
    source_date: str | None = None
    licence: str = ""
    confidence: str = "low"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Jurisdiction:
        problems = []
        rings: list[Ring] = []
        polygon = data.get("polygon")
        if not isinstance(polygon, list) or not polygon:
            problems.append("polygon: a list of rings of [lon, lat] points is required")
            polygon = []
        for r, ring in enumerate(polygon):
            try:
                points = tuple((float(p[0]), float(p[1])) for p in ring)
            except (TypeError, ValueError, IndexError):
                problems.append(f"polygon[{r}]: every point must be [lon, lat] in degrees")
                continue
            if any(not (-180 <= x <= 180 and -90 <= y <= 90) for x, y in points):
                problems.append(f"polygon[{r}]: a point lies outside lon -180..180 / lat -90..90")
            if points and points[0] != points[-1]:
                points = (*points, points[0])
            if len(points) < 4:
                problems.append(f"polygon[{r}]: a ring needs at least three distinct points")
            rings.append(points)
        country = str(data.get("country", ""))
        if len(country) != 2 or not country.isalpha() or not country.isupper():
            problems.append(f"country: {country!r} is not an ISO 3166-1 alpha-2 code")
        if problems:
            raise InvalidCap(problems)
        return cls(
            code=str(data["code"]), name=str(data.get("name") or data["code"]), country=country,
            polygon=tuple(rings), source=str(data.get("source", "")),
            source_date=data.get("source_date"), licence=str(data.get("licence", "")),
            confidence=str(data.get("confidence", "low")),
        )

    def contains(self, lat: float, lon: float) -> bool:
        return polygon_contains(self.polygon, lat, lon)

    def bounds(self) -> tuple[float, float, float, float]:
        """min lon, min lat, max lon, max lat of the outline."""
        xs = [x for x, _ in self.polygon[0]]
        ys = [y for _, y in self.polygon[0]]
        return min(xs), min(ys), max(xs), max(ys)


@dataclass(frozen=True, slots=True)
class PriceCapRule:
    id: str
    jurisdiction: str
    """Code of the `Jurisdiction` (area) the cap binds."""
    country: str
    """ISO 3166-1 alpha-2 country whose VAT the cap's price includes."""
    currency: str
    max_price_per_kwh_incl_vat: Decimal
    includes_parking: bool = False
    reference_kwh: Decimal = Decimal(30)
    reference_power_kw: Decimal = Decimal(60)
    """The power of the reference session at a site whose connectors are not known yet."""
    description: str = ""
    covers: str = ""
    source: str = ""
    source_date: str | None = None
    confidence: str = "low"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PriceCapRule:
        problems = []
        numbers: dict[str, Decimal] = {}
        for name, default in (("max_price_per_kwh_incl_vat", None), ("reference_kwh", "30"),
                              ("reference_power_kw", "60")):
            raw = data.get(name, default)
            try:
                numbers[name] = to_decimal(raw if not isinstance(raw, float) else repr(raw), name)
            except (TypeError, ValueError):
                problems.append(f"{name}: not a number ({raw!r})")
                continue
            if not numbers[name].is_finite() or numbers[name] <= 0:
                problems.append(f"{name}: must be above 0 ({raw})")
        currency = str(data.get("currency", ""))
        if currency not in CURRENCIES:
            problems.append(f"currency: {currency!r} is not one of {', '.join(sorted(CURRENCIES))}")
        for name in ("id", "jurisdiction", "country"):
            if not data.get(name):
                problems.append(f"{name}: required")
        if problems:
            raise InvalidCap(problems)
        return cls(
            id=str(data["id"]),
            jurisdiction=str(data["jurisdiction"]),
            country=str(data["country"]),
            currency=currency,
            max_price_per_kwh_incl_vat=numbers["max_price_per_kwh_incl_vat"],
            includes_parking=bool(data.get("includes_parking", False)),
            reference_kwh=numbers["reference_kwh"],
            reference_power_kw=numbers["reference_power_kw"],
            description=str(data.get("description", "")),
            covers=str(data.get("covers", "")),
            source=str(data.get("source", "")),
            source_date=data.get("source_date"),
            confidence=str(data.get("confidence", "low")),
        )

    def to_dict(self) -> dict[str, Any]:
        body = dataclasses.asdict(self)
        for name in ("max_price_per_kwh_incl_vat", "reference_kwh", "reference_power_kw"):
            body[name] = str(body[name])
        return body

    @property
    def cap(self) -> Money:
        return Money(self.max_price_per_kwh_incl_vat, self.currency)


def _packaged(name: str) -> dict[str, Any]:
    return json.loads(resources.files("silkcharge.data").joinpath(name).read_text("utf-8"))


@cache
def load_price_caps() -> dict[str, PriceCapRule]:
    """The caps silkcharge ships (installed into the store, where the API manages them)."""
    return {rule["id"]: PriceCapRule.from_dict(rule) for rule in _packaged("price_caps.json")["rules"]}


@cache
def load_jurisdictions() -> dict[str, Jurisdiction]:
    """The areas silkcharge ships, by code."""
    return {area["code"]: Jurisdiction.from_dict(area) for area in _packaged("jurisdictions.json")["areas"]}


@dataclass(frozen=True, slots=True)
class Violation:
    rule_id: str
    message: str
    effective_from: date
    element_index: int | None = None
    price_per_kwh_incl_vat: Decimal | None = None


def check_tariff(
    tariff: Tariff,
    rule: PriceCapRule,
    *,
    on: date,
    time_zone: str,
    powers_kw: Iterable[Decimal] = (),
    vat_table: VatTable | None = None,
) -> list[Violation]:
    """Every way `tariff`, in force on `on` at a site in `time_zone` whose connectors deliver
    `powers_kw` (their rated powers; none known: the rule's reference power), breaks `rule`.
    Every tariff is checked, whatever audience it is for."""
    if tariff.currency != rule.currency:
        return [
            Violation(
                rule.id,
                f"tariff {tariff.id} is in {tariff.currency}; rule {rule.id} caps prices in "
                f"{rule.currency} and cannot be checked",
                on,
            )
        ]
    table = vat_table or load_vat_table()
    zone = ZoneInfo(time_zone)
    last = tariff.end_date_time.astimezone(zone).date() if tariff.end_date_time else None
    first = max(on, tariff.start_date_time.astimezone(zone).date()) if \
        tariff.start_date_time else on
    powers = sorted({Decimal(p) for p in powers_kw if p and p > 0}) or [rule.reference_power_kw]
    found: list[Violation] = []
    for day in [first, *table.changes(rule.country, first, last)]:
        energy = _energy_violations(tariff, rule, day, table)
        found += energy or _reference_violations(tariff, rule, day, zone, table, powers)
    return found


def _statutory_or_fixed(tariff: Tariff, vat: object, day: date, table: VatTable) -> Decimal:
    if vat is STATUTORY:
        return table.rate(tariff.country_code or "", day)
    return vat if isinstance(vat, Decimal) else Decimal(0)


def _energy_violations(
    tariff: Tariff, rule: PriceCapRule, day: date, table: VatTable
) -> list[Violation]:
    found = []
    cap = rule.max_price_per_kwh_incl_vat
    for index, element in enumerate(tariff.elements):
        component = element.component(TariffDimensionType.ENERGY)
        if component is None or element.is_reservation:
            continue
        rate = _statutory_or_fixed(tariff, component.vat, day, table)
        if tariff.vat_included:
            gross = component.price
            how = f"{component.price} {tariff.currency} incl. {_pct(rate)} VAT"
        else:
            gross = (component.price * (1 + rate / 100)).quantize(Decimal("0.01"))
            currency = tariff.currency
            how = f"{component.price} {currency} + {_pct(rate)} VAT = {gross} {currency}"
        if gross > cap:
            found.append(
                Violation(
                    rule.id,
                    f"elements[{index}] ENERGY price {how} per kWh exceeds the cap of "
                    f"{cap} {rule.currency}/kWh incl. VAT (rule {rule.id}) from {day}",
                    day,
                    index,
                    gross,
                )
            )
    return found


def _clock_dependent(tariff: Tariff) -> bool:
    """Whether the tariff's prices can depend on when a session starts (time of day, weekday,
    date): then the reference session is tried at every hour of a week, else once."""
    return any(
        r is not None and (r.start_time or r.end_time or r.day_of_week or r.start_date or r.end_date)
        for r in (element.restrictions for element in tariff.elements)
    )


def _reference_violations(
    tariff: Tariff, rule: PriceCapRule, day: date, zone: ZoneInfo, table: VatTable,
    powers: Sequence[Decimal],
) -> list[Violation]:
    kwh = rule.reference_kwh
    hours = [(offset, hour) for offset in range(7) for hour in range(24)] if \
        _clock_dependent(tariff) else [(0, 12)]
    worst: tuple[Decimal, datetime, Decimal] | None = None
    for power in powers:
        minutes = kwh / power * 60
        for offset, hour in hours:
            start = datetime.combine(day + timedelta(days=offset), time(hour), tzinfo=zone)
            if not tariff.is_valid_at(start):
                continue
            priced = estimate(tariff, kwh, minutes, start, vat_date=day, vat_table=table)
            paid = priced.total_cost.incl_vat or priced.total_cost.excl_vat
            if not rule.includes_parking:
                paid = paid - (priced.total_parking_cost.incl_vat or Money.zero(paid.currency))
            per_kwh = paid.amount / kwh
            if worst is None or per_kwh > worst[0]:
                worst = (per_kwh, start, power)
    if worst is None or worst[0] <= rule.max_price_per_kwh_incl_vat:
        return []
    per_kwh = worst[0].quantize(Decimal("0.01"))
    when = f" starting {worst[1]:%A %H:%M}" if len(hours) > 1 else ""
    return [
        Violation(
            rule.id,
            f"a reference session of {kwh} kWh at {worst[2].normalize():f} kW{when} costs "
            f"{per_kwh} {rule.currency} per kWh incl. VAT with the tariff's time and fixed fees, "
            f"above the cap of {rule.max_price_per_kwh_incl_vat} {rule.currency}/kWh "
            f"(rule {rule.id}) from {day}",
            day,
            None,
            per_kwh,
        )
    ]


def _pct(rate: Decimal) -> str:
    return format(rate.normalize(), "f") + " %"


@dataclass(frozen=True, slots=True)
class CappedResult:
    cdr: Cdr
    capped: bool
    record: CapRecord | None


def cap_total(
    total: Price,
    energy_kwh: Decimal,
    rule: PriceCapRule,
    *,
    parking: Price | None = None,
    reservation: Price | None = None,
) -> tuple[Price, CapRecord | None]:
    """A session's total lowered to what `rule` allows, with the record of why (None when the
    total is within it). The capped part is the total minus parking (unless the rule includes
    parking) and minus a reservation fee (a fee for holding the charger, not per kWh); it may
    cost at most cap x energy, rounded down to the minor unit. The reduction comes off the
    incl. VAT total; the excl. VAT total drops in the session's own VAT proportion."""
    gross = total.incl_vat or total.excl_vat
    currency = gross.currency
    if currency != rule.currency:
        raise ValueError(f"a total in {currency} cannot be capped by rule {rule.id} in {rule.currency}")
    capped_part = gross
    if not rule.includes_parking and parking is not None:
        capped_part = capped_part - (parking.incl_vat or parking.excl_vat)
    if reservation is not None:
        capped_part = capped_part - (reservation.incl_vat or reservation.excl_vat)
    limit = (rule.cap * energy_kwh).round_to_minor(ROUND_DOWN)
    if capped_part <= limit:
        return total, None
    reduction = capped_part - limit
    net_share = total.excl_vat.amount / gross.amount if gross.amount else Decimal(1)
    new = Price(total.excl_vat - (reduction * net_share).round_to_minor(), gross - reduction)
    per_kwh = (capped_part.amount / energy_kwh).quantize(Decimal("0.01")) if energy_kwh else None
    reason = (
        f"{capped_part} incl. VAT for {energy_kwh} kWh"
        + (f" ({per_kwh} {currency}/kWh)" if per_kwh is not None else "")
        + f" exceeds {rule.cap}/kWh; charged {limit}"
    )
    return new, CapRecord(rule.id, total, new, limit, reason)


def apply_cap(cdr: Cdr, rule: PriceCapRule) -> CappedResult:
    """Lower a session's total to the cap if it exceeds it, and record that. Every session at a
    site the rule binds is capped, whoever the driver and whatever tariff they pay."""
    if cdr.currency != rule.currency:
        raise ValueError(
            f"CDR {cdr.id} is in {cdr.currency}; rule {rule.id} caps prices in {rule.currency}"
        )
    new, record = cap_total(
        cdr.total_cost, cdr.total_energy, rule,
        parking=cdr.total_parking_cost, reservation=cdr.total_reservation_cost,
    )
    if record is None:
        return CappedResult(cdr, False, None)
    return CappedResult(dataclasses.replace(cdr, total_cost=new, cap=record), True, record)
