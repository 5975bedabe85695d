"""Regulated price caps: refuse a tariff that breaks one, cap a session that would.

A `PriceCapRule` such as "at most 100 KZT per kWh including VAT for regular drivers" is data
(`silkcharge/data/price_caps.json`). Which sites a rule binds is the operator's statement
(the rule's `site_tag`); this module answers two questions for a rule that binds:

- `check_tariff` (at publish time): does any price the tariff can produce exceed the cap?
  Two tests, each on the publish date and again on every later VAT change the tariff lives to
  see (a tariff legal at 12 % VAT can break the cap at 16 %):
  1. every ENERGY component, converted to incl. VAT, must be within the cap;
  2. "per kWh" for a tariff with time or flat components is its *effective* price for a
     reference session (the rule's `reference_kwh` at `reference_power_kw`, the site's typical
     fast-charging session), started at every hour of a week: total incl. VAT (parking
     excluded unless the rule includes it) divided by the energy, worst case.
- `apply_cap` (on every completed session): if the session's capped part costs more than the
  cap times its energy, its total is lowered to that and the capping recorded.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_DOWN, Decimal
from functools import cache
from importlib import resources
from zoneinfo import ZoneInfo

from silkcharge.domain.cdr import CapRecord, Cdr
from silkcharge.domain.money import Money, Price, to_decimal
from silkcharge.domain.pricing import estimate
from silkcharge.domain.tariffs import STATUTORY, Tariff, TariffDimensionType
from silkcharge.domain.vat import VatTable, load_vat_table

__all__ = [
    "CappedResult",
    "PriceCapRule",
    "Violation",
    "apply_cap",
    "check_tariff",
    "load_price_caps",
]


@dataclass(frozen=True, slots=True)
class PriceCapRule:
    id: str
    jurisdiction: str
    """ISO 3166-1 alpha-2 country whose VAT applies."""
    currency: str
    max_price_per_kwh_incl_vat: Decimal
    driver_categories: frozenset[str]
    """Categories the cap protects; tariffs for other audiences (fleets) are out of scope."""
    includes_parking: bool = False
    reference_kwh: Decimal = Decimal(30)
    reference_power_kw: Decimal = Decimal(60)
    area: str = ""
    description: str = ""
    covers: str = ""
    site_tag: str | None = None
    source: str = ""
    source_date: str | None = None
    confidence: str = "low"

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> PriceCapRule:
        return cls(
            id=str(data["id"]),
            jurisdiction=str(data["jurisdiction"]),
            currency=str(data["currency"]),
            max_price_per_kwh_incl_vat=to_decimal(data["max_price_per_kwh_incl_vat"]),
            driver_categories=frozenset(data.get("driver_categories", ("regular",))),
            includes_parking=bool(data.get("includes_parking", False)),
            reference_kwh=to_decimal(data.get("reference_kwh", "30")),
            reference_power_kw=to_decimal(data.get("reference_power_kw", "60")),
            area=str(data.get("area", "")),
            description=str(data.get("description", "")),
            covers=str(data.get("covers", "")),
            site_tag=data.get("site_tag"),  # type: ignore[arg-type]
            source=str(data.get("source", "")),
            source_date=data.get("source_date"),  # type: ignore[arg-type]
            confidence=str(data.get("confidence", "low")),
        )

    @property
    def cap(self) -> Money:
        return Money(self.max_price_per_kwh_incl_vat, self.currency)

    def applies_to_tariff(self, tariff: Tariff) -> bool:
        """A tariff for everyone, or for one of the protected driver categories."""
        if not tariff.is_concession:
            return True
        return bool(tariff.driver_categories & self.driver_categories)


@cache
def load_price_caps() -> dict[str, PriceCapRule]:
    text = resources.files("silkcharge.data").joinpath("price_caps.json").read_text("utf-8")
    return {rule["id"]: PriceCapRule.from_dict(rule) for rule in json.loads(text)["rules"]}


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
    vat_table: VatTable | None = None,
) -> list[Violation]:
    """Every way `tariff`, published on `on` at a site in `time_zone`, breaks `rule`."""
    if not rule.applies_to_tariff(tariff):
        return []
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
    found: list[Violation] = []
    for day in [first, *table.changes(rule.jurisdiction, first, last)]:
        energy = _energy_violations(tariff, rule, day, table)
        found += energy or _reference_violations(tariff, rule, day, zone, table)
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


def _reference_violations(
    tariff: Tariff, rule: PriceCapRule, day: date, zone: ZoneInfo, table: VatTable
) -> list[Violation]:
    kwh, power = rule.reference_kwh, rule.reference_power_kw
    minutes = kwh / power * 60
    worst: tuple[Decimal, datetime] | None = None
    for offset in range(7):
        for hour in range(24):
            start = datetime.combine(day + timedelta(days=offset), time(hour), tzinfo=zone)
            if not tariff.is_valid_at(start):
                continue
            priced = estimate(tariff, kwh, minutes, start, vat_date=day, vat_table=table)
            paid = priced.total_cost.incl_vat or priced.total_cost.excl_vat
            if not rule.includes_parking:
                paid = paid - (priced.total_parking_cost.incl_vat or Money.zero(paid.currency))
            per_kwh = paid.amount / kwh
            if worst is None or per_kwh > worst[0]:
                worst = (per_kwh, start)
    if worst is None or worst[0] <= rule.max_price_per_kwh_incl_vat:
        return []
    per_kwh = worst[0].quantize(Decimal("0.01"))
    return [
        Violation(
            rule.id,
            f"a reference session of {kwh} kWh at {power} kW starting "
            f"{worst[1]:%A %H:%M} costs {per_kwh} {rule.currency} per kWh incl. VAT with the "
            f"tariff's time and fixed fees, above the cap of {rule.max_price_per_kwh_incl_vat} "
            f"{rule.currency}/kWh (rule {rule.id}) from {day}",
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


def apply_cap(cdr: Cdr, rule: PriceCapRule, driver_category: str = "regular") -> CappedResult:
    """Lower a completed session's total to the cap if it exceeds it, and record that.

    The capped part is the total minus parking (unless the rule includes parking); its most
    allowed cost is cap x energy, rounded down to the minor unit. The reduction comes off the
    incl. VAT total; the excl. VAT total drops in the session's own VAT proportion.
    """
    if driver_category not in rule.driver_categories:
        return CappedResult(cdr, False, None)
    if cdr.currency != rule.currency:
        raise ValueError(
            f"CDR {cdr.id} is in {cdr.currency}; rule {rule.id} caps prices in {rule.currency}"
        )
    total = cdr.total_cost
    gross = total.incl_vat or total.excl_vat
    capped_part = gross
    if not rule.includes_parking:
        capped_part = gross - (cdr.total_parking_cost.incl_vat or Money.zero(cdr.currency))
    if cdr.total_reservation_cost is not None:  # a fee for holding the charger, not per kWh
        capped_part = capped_part - (cdr.total_reservation_cost.incl_vat or Money.zero(cdr.currency))
    limit = (rule.cap * cdr.total_energy).round_to_minor(ROUND_DOWN)
    if capped_part <= limit:
        return CappedResult(cdr, False, None)
    reduction = capped_part - limit
    net_share = total.excl_vat.amount / gross.amount if gross.amount else Decimal(1)
    new_excl = total.excl_vat - (reduction * net_share).round_to_minor()
    new = Price(new_excl, gross - reduction)
    per_kwh = (capped_part.amount / cdr.total_energy).quantize(Decimal("0.01")) if \
        cdr.total_energy else None
    reason = (
        f"{capped_part} incl. VAT for {cdr.total_energy} kWh"
        + (f" ({per_kwh} {cdr.currency}/kWh)" if per_kwh is not None else "")
        + f" exceeds {rule.cap}/kWh; charged {limit}"
    )
    record = CapRecord(rule.id, total, new, limit, reason)
    return CappedResult(dataclasses.replace(cdr, total_cost=new, cap=record), True, record)
