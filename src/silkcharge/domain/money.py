"""Money as exact decimals in a known currency.

Amounts are `Decimal`, never float: a float cannot hold 0.1 exactly, and a receipt that is off
by one tiyn is still a wrong receipt. `Money` refuses floats outright (pass a string or a
Decimal) and refuses to add or compare amounts in different currencies. Amounts keep their
full precision through arithmetic; `round_to_minor` is the one place they are rounded to what
a payment can carry (tiyn, tyiyn, fen, ...).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

__all__ = [
    "CURRENCIES",
    "CURRENCY_OF_COUNTRY",
    "CurrencyMismatch",
    "Money",
    "Price",
    "UnknownCurrency",
    "currency_of_country",
    "minor_units",
    "to_decimal",
]

CURRENCIES: dict[str, int] = {
    "KZT": 2,
    "UZS": 2,
    "KGS": 2,
    "TJS": 2,
    "TMT": 2,
    "CNY": 2,
    "RUB": 2,
    "USD": 2,
    "EUR": 2,
}
"""ISO 4217 codes silkcharge accepts, with their minor units (digits after the point)."""

CURRENCY_OF_COUNTRY: dict[str, str] = {
    "KZ": "KZT", "UZ": "UZS", "KG": "KGS", "TJ": "TJS", "TM": "TMT", "RU": "RUB", "AZ": "AZN",
    "GE": "GEL", "AM": "AMD", "MN": "MNT", "CN": "CNY", "TR": "TRY", "US": "USD",
}
"""The national currency of a country (ISO 3166 alpha-2 to ISO 4217): what a network's drivers
there are billed in."""


def currency_of_country(country: str) -> str | None:
    """The national currency of `country` (alpha-2), or None when silkcharge knows none."""
    return CURRENCY_OF_COUNTRY.get(country.upper())


class UnknownCurrency(ValueError):
    """A currency code that is not one of `CURRENCIES`."""

    def __init__(self, code: object) -> None:
        known = ", ".join(sorted(CURRENCIES))
        super().__init__(f"unknown currency {code!r}: expected one of {known}")
        self.code = code


class CurrencyMismatch(ValueError):
    """Arithmetic or comparison between two currencies."""

    def __init__(self, left: str, right: str, operation: str) -> None:
        super().__init__(
            f"cannot {operation} {left} and {right}: convert one of them first "
            "(silkcharge never converts currencies implicitly)"
        )


def minor_units(currency: str) -> int:
    """Digits after the decimal point that `currency` carries (2 for all of the region's)."""
    try:
        return CURRENCIES[currency]
    except (KeyError, TypeError):
        raise UnknownCurrency(currency) from None


def to_decimal(value: object, what: str = "amount") -> Decimal:
    """An exact, finite Decimal from a Decimal, an int or a numeric string.

    Floats are refused with a TypeError (their binary value is not the number the user
    wrote); booleans too, though Python counts them as ints.
    """
    if isinstance(value, bool) or isinstance(value, float):
        raise TypeError(
            f"{what} must be a Decimal, an int or a numeric string, not {type(value).__name__} "
            f"({value!r}): floats cannot represent money exactly"
        )
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"{what} {value!r} is not a number") from None
    else:
        raise TypeError(
            f"{what} must be a Decimal, an int or a numeric string, not {type(value).__name__}"
        )
    if not result.is_finite():
        raise ValueError(f"{what} must be finite, got {value!r}")
    return result


def _currency(code: object) -> str:
    if not isinstance(code, str):
        raise UnknownCurrency(code)
    normal = code.strip().upper()
    minor_units(normal)
    return normal


@dataclass(frozen=True, slots=True)
class Money:
    """An exact amount in one currency. Immutable; hashable; ordered within a currency."""

    amount: Decimal
    currency: str

    def __init__(self, amount: Decimal | int | str, currency: str) -> None:
        object.__setattr__(self, "amount", to_decimal(amount))
        object.__setattr__(self, "currency", _currency(currency))

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(Decimal(0), currency)

    @classmethod
    def parse(cls, text: str) -> Money:
        """Read "1234.50 KZT" or "KZT 1234.50" (a space between amount and code)."""
        if not isinstance(text, str):
            raise TypeError(f"Money.parse takes a string, not {type(text).__name__}")
        parts = text.split()
        if len(parts) != 2:
            raise ValueError(f"cannot read money from {text!r}: expected '<amount> <currency>'")
        first, second = parts
        if first.isalpha():
            return cls(second, first)
        return cls(first, second)

    def _same(self, other: object, operation: str) -> Money:
        if not isinstance(other, Money):
            raise TypeError(f"cannot {operation} Money and {type(other).__name__}")
        if other.currency != self.currency:
            raise CurrencyMismatch(self.currency, other.currency, operation)
        return other

    def __add__(self, other: Money) -> Money:
        return Money(self.amount + self._same(other, "add").amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        return Money(self.amount - self._same(other, "subtract").amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __mul__(self, factor: Decimal | int | str) -> Money:
        return Money(self.amount * to_decimal(factor, "factor"), self.currency)

    __rmul__ = __mul__

    def __lt__(self, other: Money) -> bool:
        return self.amount < self._same(other, "compare").amount

    def __le__(self, other: Money) -> bool:
        return self.amount <= self._same(other, "compare").amount

    def __gt__(self, other: Money) -> bool:
        return self.amount > self._same(other, "compare").amount

    def __ge__(self, other: Money) -> bool:
        return self.amount >= self._same(other, "compare").amount

    def is_zero(self) -> bool:
        return self.amount == 0

    def round_to_minor(self, mode: str = ROUND_HALF_UP) -> Money:
        """The amount rounded to the currency's minor unit (half up unless told otherwise)."""
        quantum = Decimal(1).scaleb(-minor_units(self.currency))
        return Money(self.amount.quantize(quantum, rounding=mode), self.currency)

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"


@dataclass(frozen=True, slots=True)
class Price:
    """OCPI's Price: an amount excluding VAT and, when VAT is known, including it."""

    excl_vat: Money
    incl_vat: Money | None = None

    def __post_init__(self) -> None:
        if self.incl_vat is not None and self.incl_vat.currency != self.excl_vat.currency:
            raise CurrencyMismatch(self.excl_vat.currency, self.incl_vat.currency, "combine")

    @property
    def currency(self) -> str:
        return self.excl_vat.currency

    @property
    def vat(self) -> Money | None:
        return None if self.incl_vat is None else self.incl_vat - self.excl_vat

    @classmethod
    def zero(cls, currency: str) -> Price:
        return cls(Money.zero(currency), Money.zero(currency))

    def __add__(self, other: Price) -> Price:
        incl = None
        if self.incl_vat is not None and other.incl_vat is not None:
            incl = self.incl_vat + other.incl_vat
        return Price(self.excl_vat + other.excl_vat, incl)

    def to_ocpi(self) -> dict[str, object]:
        """OCPI field names; numbers stay Decimal (serialise with a Decimal-aware encoder)."""
        body: dict[str, object] = {"excl_vat": self.excl_vat.amount}
        if self.incl_vat is not None:
            body["incl_vat"] = self.incl_vat.amount
        return body
