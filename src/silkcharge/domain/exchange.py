"""Exchange rates entered by an operator, and amounts converted with them.

A CDR is priced in the currency of the charge point operator (CPO), with the CPO's VAT. A
driver roaming from another country is billed by their own provider (the eMSP) in their own
currency. silkcharge never invents the rate between the two: an operator enters it, with the
day it is valid for and where it comes from (for example the rate the national bank publishes
for that day), and the conversion says which entered rate it used.

The rules, each chosen so a receipt can be checked by hand:

- A rate says how many units of `to_currency` one unit of `from_currency` buys
  (KZT→UZS 24.5: 1 KZT = 24.5 UZS). It is positive, with at most `RATE_PLACES` digits after
  the point and `RATE_INTEGER_DIGITS` before it: enough for any of the region's pairs
  (UZS→USD is about 0.00008, USD→UZS about 12 700), and a bound on what the store keeps.
  A bank that publishes "per 100 units" is entered divided by 100.
- The inverse of an entered rate is used only when the operator marked that rate as usable
  both ways (`inverse_allowed`): buy and sell rates differ, and a published rate for one
  direction is not always the other's. The inverse factor is 1 / rate rounded half up to
  `INVERSE_DIGITS` significant digits; the conversion says it was inverted, and a receipt
  prints the rate as it was entered.
- Which rate applies on a day (`choose_rate`): the latest one valid on or before that day,
  an entered pair before an inverse on the same day; none, or the latest older than the
  allowed age, is refused with the pair and the day named.
- Converting a `Price` converts its total excluding VAT and its total including VAT, each from
  the CPO's amount and each rounded on its own to the target currency's minor units; the VAT
  stays the CPO's (its rate and amount are what the CPO's tax documents state), and the VAT
  a converted price shows is only the difference of the two converted totals.
- Rounding is ROUND_HALF_UP, the rounding of every other amount in silkcharge
  (`Money.round_to_minor`): commercial rounding, what the region's receipts use, and
  symmetric around zero (a refund converts to the negative of the charge).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, localcontext

from silkcharge.domain.money import Money, Price, UnknownCurrency, minor_units, to_decimal

__all__ = [
    "INVERSE_DIGITS",
    "RATE_INTEGER_DIGITS",
    "RATE_PLACES",
    "AppliedRate",
    "ConvertedTotal",
    "ExchangeRate",
    "InvalidRate",
    "NoRate",
    "StaleRate",
    "check_currency",
    "check_rate",
    "choose_rate",
    "convert_money",
    "convert_price",
]

RATE_PLACES = 12
"""Digits a rate may have after the point."""
RATE_INTEGER_DIGITS = 10
"""Digits a rate may have before the point."""
INVERSE_DIGITS = 12
"""Significant digits of the inverse of an entered rate (1 / rate, rounded half up)."""
SOURCE_MAX = 200
"""Characters of a rate's source text (the store's column)."""


class InvalidRate(ValueError):
    """A rate that cannot be entered: unknown currency, not positive, too many digits."""


class NoRate(LookupError):
    """No rate for a pair on or before a day."""

    def __init__(self, from_currency: str, to_currency: str, on: date) -> None:
        super().__init__(
            f"no exchange rate {from_currency}→{to_currency} valid on or before {on.isoformat()}: "
            f"enter one (or mark an entered {to_currency}→{from_currency} rate as usable both ways)"
        )
        self.from_currency, self.to_currency, self.on = from_currency, to_currency, on


class StaleRate(LookupError):
    """The latest rate for a pair is older than the allowed age on the day asked for."""

    def __init__(self, from_currency: str, to_currency: str, on: date, latest: date, max_age_days: int) -> None:
        super().__init__(
            f"the latest exchange rate {from_currency}→{to_currency} for {on.isoformat()} is of "
            f"{latest.isoformat()}, more than {max_age_days} days older "
            f"(exchange_rate_max_age_days): enter the rate for that day"
        )
        self.from_currency, self.to_currency, self.on, self.latest = from_currency, to_currency, on, latest


def check_currency(code: object, what: str = "currency") -> str:
    """An ISO 4217 code silkcharge knows (`money.CURRENCIES`), upper case."""
    if not isinstance(code, str):
        raise InvalidRate(f"{what}: {UnknownCurrency(code)}")
    normal = code.strip().upper()
    try:
        minor_units(normal)
    except UnknownCurrency as exc:
        raise InvalidRate(f"{what}: {exc}") from None
    return normal


def check_rate(value: object) -> Decimal:
    """A positive rate within `RATE_INTEGER_DIGITS` digits before the point and `RATE_PLACES`
    after it (trailing zeros do not count: 24.500 is 24.5)."""
    try:
        rate = to_decimal(value, "rate")
    except (TypeError, ValueError) as exc:
        raise InvalidRate(str(exc)) from None
    if rate <= 0:
        raise InvalidRate(f"rate must be positive, got {value}")
    normal = rate.normalize()
    if normal.as_tuple().exponent < -RATE_PLACES:  # type: ignore[operator]
        raise InvalidRate(f"rate {value} has more than {RATE_PLACES} digits after the point")
    if normal.adjusted() >= RATE_INTEGER_DIGITS:
        raise InvalidRate(f"rate {value} has more than {RATE_INTEGER_DIGITS} digits before the point")
    return _plain(normal)


def _plain(value: Decimal) -> Decimal:
    """Without trailing zeros and without an exponent: 20.000 and 2E+1 are both 20."""
    normal = value.normalize()
    return normal if normal.as_tuple().exponent <= 0 else Decimal(int(normal))  # type: ignore[operator]


@dataclass(frozen=True, slots=True)
class ExchangeRate:
    """A rate as an operator entered it: 1 `from_currency` = `rate` `to_currency` on `valid_on`."""

    from_currency: str
    to_currency: str
    rate: Decimal
    valid_on: date
    source: str
    """Where the rate comes from, in the operator's words ("National Bank of Kazakhstan")."""
    entered_by: str
    entered_at: datetime
    inverse_allowed: bool = False
    """The operator allows 1 / rate for the other direction."""

    def __post_init__(self) -> None:
        frm = check_currency(self.from_currency, "from_currency")
        to = check_currency(self.to_currency, "to_currency")
        if frm == to:
            raise InvalidRate(f"a rate converts between two currencies, not {frm} to itself")
        source = self.source.strip() if isinstance(self.source, str) else ""
        if not source:
            raise InvalidRate("source: say where the rate comes from (e.g. the national bank's published rate)")
        if len(source) > SOURCE_MAX:
            raise InvalidRate(f"source: at most {SOURCE_MAX} characters")
        if self.entered_at.tzinfo is None:
            raise InvalidRate("entered_at must be timezone-aware")
        object.__setattr__(self, "from_currency", frm)
        object.__setattr__(self, "to_currency", to)
        object.__setattr__(self, "rate", check_rate(self.rate))
        object.__setattr__(self, "source", source)

    def pair(self) -> str:
        return f"{self.from_currency}→{self.to_currency}"


@dataclass(frozen=True, slots=True)
class AppliedRate:
    """The factor that converts `from_currency` into `to_currency`, and the entered rate it is."""

    entered: ExchangeRate
    inverted: bool = False

    @property
    def from_currency(self) -> str:
        return self.entered.to_currency if self.inverted else self.entered.from_currency

    @property
    def to_currency(self) -> str:
        return self.entered.from_currency if self.inverted else self.entered.to_currency

    @property
    def factor(self) -> Decimal:
        if not self.inverted:
            return self.entered.rate
        with localcontext() as context:
            context.prec, context.rounding = INVERSE_DIGITS, ROUND_HALF_UP
            return _plain(Decimal(1) / self.entered.rate)

    @property
    def valid_on(self) -> date:
        return self.entered.valid_on


def choose_rate(rates: Iterable[ExchangeRate], from_currency: str, to_currency: str, on: date,
                max_age_days: int | None = None) -> AppliedRate:
    """The rate for converting `from_currency` to `to_currency` on `on`: of the entered rates for
    the pair, and those for the other direction marked `inverse_allowed`, the latest valid on or
    before `on`; on the same day the entered pair wins. NoRate if there is none; StaleRate if
    it is more than `max_age_days` older than `on`."""
    frm, to = check_currency(from_currency, "from"), check_currency(to_currency, "to")
    best: AppliedRate | None = None
    for rate in rates:
        if rate.valid_on > on:
            continue
        if rate.from_currency == frm and rate.to_currency == to:
            candidate = AppliedRate(rate)
        elif rate.from_currency == to and rate.to_currency == frm and rate.inverse_allowed:
            candidate = AppliedRate(rate, inverted=True)
        else:
            continue
        if best is None or (candidate.valid_on, not candidate.inverted) > (best.valid_on, not best.inverted):
            best = candidate
    if best is None:
        raise NoRate(frm, to, on)
    if max_age_days is not None and (on - best.valid_on).days > max_age_days:
        raise StaleRate(frm, to, on, best.valid_on, max_age_days)
    return best


def convert_money(money: Money, rate: AppliedRate) -> Money:
    """`money` in the rate's target currency, rounded half up to its minor units."""
    if money.currency != rate.from_currency:
        raise InvalidRate(f"a {rate.from_currency}→{rate.to_currency} rate cannot convert {money.currency}")
    return Money(money.amount * rate.factor, rate.to_currency).round_to_minor(ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class ConvertedTotal:
    """A CDR's total in the driver's currency beside the CPO's, with the rate that made it."""

    original: Price
    converted: Price
    rate: AppliedRate

    @property
    def currency(self) -> str:
        return self.converted.currency


def convert_price(price: Price, rate: AppliedRate) -> ConvertedTotal:
    """Both totals of `price` converted, each on its own (module docstring: the VAT stays the
    CPO's)."""
    incl = None if price.incl_vat is None else convert_money(price.incl_vat, rate)
    return ConvertedTotal(price, Price(convert_money(price.excl_vat, rate), incl), rate)
