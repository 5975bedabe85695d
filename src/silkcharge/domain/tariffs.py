"""Tariffs modelled on the OCPI 2.2.1 Tariff object, with silkcharge's extensions.

A `Tariff` is a list of `TariffElement`s, each a set of `PriceComponent`s (ENERGY per kWh,
TIME per hour charging, PARKING_TIME per hour not charging, FLAT once per session) and
optional `TariffRestrictions` that say when the element applies. Pricing a session with a
tariff lives in `pricing.py`.

silkcharge extensions (absent from OCPI; carried under the "silkcharge" key by `to_ocpi`
when asked, and read back by `from_ocpi`):

- `country_code` is the country whose VAT law applies (OCPI's country of the CPO).
- `PriceComponent.vat` may be `STATUTORY`: the standard rate of the tariff's country on the
  date of supply, looked up in `vat.py`, so a tariff survives a change of the VAT rate.
  A number is a fixed rate, and None means no VAT. Unlike OCPI, an OCPI price component
  without `vat` is read as STATUTORY (see `_OcpiReader.component`); no VAT is written as 0.
- `vat_included`: when True, every `price` in the tariff (and `min_price` / `max_price`
  excl_vat) is the driver-facing price *including* VAT, as price boards in the region show it;
  the price excluding VAT is derived at pricing time from the rate in force. OCPI prices
  always exclude VAT, so `to_ocpi` converts such a tariff for a given date.
- `token_groups` / `driver_categories`: the audience of a concession tariff (a taxi fleet's
  token group, "resident", "disabled", ...). An empty audience means everyone.
- Reservation and no-show fees are OCPI's own: elements restricted to `RESERVATION` (FLAT fee,
  TIME per hour reserved) and `RESERVATION_EXPIRES` (FLAT no-show fee, TIME per hour).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone
from decimal import Decimal
from enum import StrEnum
from typing import Any, Final

from silkcharge.domain.money import CURRENCIES, Money, Price, UnknownCurrency, to_decimal

__all__ = [
    "STATUTORY",
    "DayOfWeek",
    "InvalidTariff",
    "NoApplicableTariff",
    "PriceComponent",
    "ReservationRestrictionType",
    "Tariff",
    "TariffDimensionType",
    "TariffElement",
    "TariffRestrictions",
    "TariffType",
    "select_tariff",
]


class TariffType(StrEnum):
    AD_HOC_PAYMENT = "AD_HOC_PAYMENT"
    PROFILE_CHEAP = "PROFILE_CHEAP"
    PROFILE_FAST = "PROFILE_FAST"
    PROFILE_GREEN = "PROFILE_GREEN"
    REGULAR = "REGULAR"


class TariffDimensionType(StrEnum):
    ENERGY = "ENERGY"
    FLAT = "FLAT"
    PARKING_TIME = "PARKING_TIME"
    TIME = "TIME"


class DayOfWeek(StrEnum):
    MONDAY = "MONDAY"
    TUESDAY = "TUESDAY"
    WEDNESDAY = "WEDNESDAY"
    THURSDAY = "THURSDAY"
    FRIDAY = "FRIDAY"
    SATURDAY = "SATURDAY"
    SUNDAY = "SUNDAY"

    @classmethod
    def of(cls, day: date) -> DayOfWeek:
        return list(cls)[day.weekday()]


class ReservationRestrictionType(StrEnum):
    RESERVATION = "RESERVATION"
    RESERVATION_EXPIRES = "RESERVATION_EXPIRES"


class _Statutory(StrEnum):
    STATUTORY = "statutory"


STATUTORY: Final = _Statutory.STATUTORY
"""`PriceComponent.vat` value: the standard VAT rate of the tariff's country on the day."""

VatSpec = Decimal | _Statutory | None


class InvalidTariff(ValueError):
    """A tariff that cannot be published; `problems` names each one with its field path."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid tariff: " + "; ".join(self.problems))


class NoApplicableTariff(LookupError):
    """No tariff in a list applies to this driver at this moment."""


_TIME_RE = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")


@dataclass(frozen=True, slots=True)
class PriceComponent:
    type: TariffDimensionType
    price: Decimal
    """Per kWh (ENERGY), per hour (TIME, PARKING_TIME) or per session (FLAT); excluding VAT
    unless the tariff says `vat_included`."""
    vat: VatSpec = STATUTORY
    step_size: int = 1
    """Billing block in Wh (ENERGY) or seconds (TIME, PARKING_TIME); ignored for FLAT.
    0 means no rounding."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "type", TariffDimensionType(self.type))
        object.__setattr__(self, "price", _lenient_decimal(self.price))
        if self.vat is not None and self.vat is not STATUTORY:
            object.__setattr__(self, "vat", _lenient_decimal(self.vat))

    def problems(self, where: str) -> list[str]:
        found = []
        if not isinstance(self.price, Decimal) or not self.price.is_finite():
            hint = " (floats are refused: write the price as a string or Decimal)" if isinstance(
                self.price, float) else ""
            found.append(f"{where}.price: not a number ({self.price!r}){hint}")
        elif self.price < 0:
            found.append(f"{where}.price: negative ({self.price})")
        if self.vat is not None and self.vat is not STATUTORY and not isinstance(self.vat, Decimal):
            found.append(f"{where}.vat: not a number ({self.vat!r})")
        elif isinstance(self.vat, Decimal) and not (0 <= self.vat <= 100):
            found.append(f"{where}.vat: {self.vat} is not a percentage between 0 and 100")
        if isinstance(self.step_size, bool) or not isinstance(self.step_size, int):
            found.append(f"{where}.step_size: not an integer ({self.step_size!r})")
        elif self.step_size < 0:
            found.append(f"{where}.step_size: negative ({self.step_size})")
        return found

    def step_in_units(self) -> Decimal:
        """The step in the unit the price is quoted in: kWh for ENERGY, hours for times."""
        if self.type is TariffDimensionType.ENERGY:
            return Decimal(self.step_size) / 1000
        if self.type is TariffDimensionType.FLAT:
            return Decimal(0)
        return Decimal(self.step_size) / 3600


@dataclass(frozen=True, slots=True)
class TariffRestrictions:
    """When an element applies. Times of day and dates are in the site's local time.

    `start_time` later than `end_time` crosses midnight (22:00-06:00 is a night rate);
    `end_date` is exclusive, as in OCPI; durations are in seconds since the session started;
    kWh is the energy delivered so far; power (kW) and current (A) are the present values.
    """

    start_time: time | None = None
    end_time: time | None = None
    start_date: date | None = None
    end_date: date | None = None
    min_kwh: Decimal | None = None
    max_kwh: Decimal | None = None
    min_current: Decimal | None = None
    max_current: Decimal | None = None
    min_power: Decimal | None = None
    max_power: Decimal | None = None
    min_duration: int | None = None
    max_duration: int | None = None
    day_of_week: frozenset[DayOfWeek] | None = None
    reservation: ReservationRestrictionType | None = None

    def __post_init__(self) -> None:
        for name in ("start_time", "end_time"):
            value = getattr(self, name)
            if isinstance(value, str):
                object.__setattr__(self, name, time.fromisoformat(value))
        for name in ("start_date", "end_date"):
            value = getattr(self, name)
            if isinstance(value, str):
                object.__setattr__(self, name, date.fromisoformat(value))
        for name in ("min_kwh", "max_kwh", "min_current", "max_current", "min_power", "max_power"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, to_decimal(value, name))
        if self.day_of_week is not None:
            object.__setattr__(
                self, "day_of_week", frozenset(DayOfWeek(d) for d in self.day_of_week)
            )
        if self.reservation is not None:
            object.__setattr__(self, "reservation", ReservationRestrictionType(self.reservation))

    def problems(self, where: str) -> list[str]:
        found = []
        if self.start_time is not None and self.start_time == self.end_time:
            found.append(
                f"{where}: start_time equals end_time ({self.start_time:%H:%M}); "
                "leave both out for the whole day"
            )
        if self.start_date and self.end_date and self.start_date >= self.end_date:
            found.append(
                f"{where}: start_date {self.start_date} is not before end_date {self.end_date} "
                "(end_date is exclusive)"
            )
        for low, high in (
            ("min_kwh", "max_kwh"),
            ("min_current", "max_current"),
            ("min_power", "max_power"),
            ("min_duration", "max_duration"),
        ):
            lo, hi = getattr(self, low), getattr(self, high)
            for name, value in ((low, lo), (high, hi)):
                if value is not None and value < 0:
                    found.append(f"{where}.{name}: negative ({value})")
            if lo is not None and hi is not None and lo >= hi:
                found.append(f"{where}: {low} {lo} is not below {high} {hi}")
        if self.day_of_week is not None and not self.day_of_week:
            found.append(f"{where}.day_of_week: empty list, the element could never apply")
        return found

    def to_ocpi(self) -> dict[str, Any]:
        body: dict[str, Any] = {}
        for name in ("start_time", "end_time"):
            value = getattr(self, name)
            if value is not None:
                body[name] = value.strftime("%H:%M")
        for name in ("start_date", "end_date"):
            value = getattr(self, name)
            if value is not None:
                body[name] = value.isoformat()
        for name in (
            "min_kwh", "max_kwh", "min_current", "max_current", "min_power", "max_power",
            "min_duration", "max_duration",
        ):
            value = getattr(self, name)
            if value is not None:
                body[name] = value
        if self.day_of_week is not None:
            body["day_of_week"] = [d.value for d in DayOfWeek if d in self.day_of_week]
        if self.reservation is not None:
            body["reservation"] = self.reservation.value
        return body


@dataclass(frozen=True, slots=True)
class TariffElement:
    price_components: tuple[PriceComponent, ...]
    restrictions: TariffRestrictions | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "price_components", tuple(self.price_components))

    def component(self, dimension: TariffDimensionType) -> PriceComponent | None:
        for component in self.price_components:
            if component.type is dimension:
                return component
        return None

    @property
    def is_reservation(self) -> bool:
        return self.restrictions is not None and self.restrictions.reservation is not None


@dataclass(frozen=True, slots=True)
class Tariff:
    id: str
    currency: str
    elements: tuple[TariffElement, ...]
    type: TariffType | None = None
    country_code: str | None = None
    party_id: str | None = None
    min_price: Price | None = None
    max_price: Price | None = None
    start_date_time: datetime | None = None
    end_date_time: datetime | None = None
    vat_included: bool = False
    token_groups: frozenset[str] = field(default_factory=frozenset)
    driver_categories: frozenset[str] = field(default_factory=frozenset)
    last_updated: datetime | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "elements", tuple(self.elements))
        object.__setattr__(self, "token_groups", frozenset(self.token_groups))
        object.__setattr__(self, "driver_categories", frozenset(self.driver_categories))
        if self.type is not None:
            object.__setattr__(self, "type", TariffType(self.type))
        problems = self.problems()
        if problems:
            raise InvalidTariff(problems)

    def problems(self) -> list[str]:
        found: list[str] = []
        if not isinstance(self.id, str) or not self.id or len(self.id) > 36:
            found.append(f"id: must be 1 to 36 characters ({self.id!r})")
        if self.currency not in CURRENCIES:
            found.append(f"currency: {UnknownCurrency(self.currency)}")
        if not self.elements:
            found.append("elements: a tariff needs at least one element")
        for index, element in enumerate(self.elements):
            where = f"elements[{index}]"
            if not element.price_components:
                found.append(f"{where}.price_components: an element needs at least one")
            for k, component in enumerate(element.price_components):
                found.extend(component.problems(f"{where}.price_components[{k}]"))
                if component.vat is STATUTORY and not self.country_code:
                    found.append(
                        f"{where}.price_components[{k}].vat: statutory VAT needs the "
                        "tariff's country_code"
                    )
            if element.restrictions is not None:
                found.extend(element.restrictions.problems(f"{where}.restrictions"))
                if element.is_reservation:
                    for k, component in enumerate(element.price_components):
                        if component.type not in (
                            TariffDimensionType.FLAT,
                            TariffDimensionType.TIME,
                        ):
                            found.append(
                                f"{where}.price_components[{k}]: a reservation element can "
                                f"only price FLAT and TIME, not {component.type}"
                            )
        if self.vat_included and not self.country_code:
            found.append("vat_included: needs the tariff's country_code to know the rate")
        for name in ("min_price", "max_price"):
            price = getattr(self, name)
            if price is None:
                continue
            if price.currency != self.currency:
                found.append(f"{name}: in {price.currency}, the tariff is in {self.currency}")
            for part in (price.excl_vat, price.incl_vat):
                if part is not None and part.amount < 0:
                    found.append(f"{name}: negative ({part})")
        if self.min_price and self.max_price and self.min_price.excl_vat > self.max_price.excl_vat:
            found.append("min_price is above max_price")
        for name in ("start_date_time", "end_date_time", "last_updated"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                found.append(f"{name}: naive datetime, tariffs take aware UTC times")
        if self.start_date_time and self.end_date_time:
            if self.start_date_time >= self.end_date_time:
                found.append("start_date_time is not before end_date_time")
        return found

    def is_valid_at(self, moment: datetime) -> bool:
        return (self.start_date_time is None or self.start_date_time <= moment) and (
            self.end_date_time is None or moment < self.end_date_time
        )

    @property
    def is_concession(self) -> bool:
        return bool(self.token_groups or self.driver_categories)

    def uses_statutory_vat(self) -> bool:
        return any(
            component.vat is STATUTORY
            for element in self.elements
            for component in element.price_components
        )

    @classmethod
    def from_ocpi(cls, data: Mapping[str, Any]) -> Tariff:
        """Read an OCPI 2.2.1 Tariff object (plus the optional "silkcharge" extension).

        Numbers may arrive as JSON floats (the standard library's default); they are read
        through their shortest text form, so 0.25 becomes Decimal("0.25"). Parse with
        `parse_float=Decimal` to avoid floats altogether. Every problem is reported at once.
        """
        return _OcpiReader(data).tariff()

    def to_ocpi(self, vat_on: date | None = None, extensions: bool = False) -> dict[str, Any]:
        """This tariff in OCPI 2.2.1 field names.

        OCPI carries fixed VAT percentages and prices excluding VAT, so a tariff with
        statutory VAT or `vat_included` prices needs `vat_on`, the (local) date whose VAT rate
        to write; push the tariff again when the rate changes. `extensions=True` adds the
        silkcharge fields under "silkcharge" so that `from_ocpi` restores the tariff exactly.
        """
        from silkcharge.domain.vat import vat_rate

        needs_date = self.vat_included or self.uses_statutory_vat()
        if needs_date and vat_on is None and not extensions:
            raise ValueError(
                f"tariff {self.id} uses statutory VAT or VAT-inclusive prices: "
                "pass vat_on, the date whose VAT rate OCPI should carry"
            )
        statutory = (
            vat_rate(self.country_code, vat_on)
            if needs_date and vat_on is not None and self.country_code
            else None
        )
        body: dict[str, Any] = {
            "id": self.id,
            "currency": self.currency,
            "elements": [
                _element_to_ocpi(e, self.vat_included, statutory, extensions)
                for e in self.elements
            ],
        }
        if self.country_code:
            body["country_code"] = self.country_code
        if self.party_id:
            body["party_id"] = self.party_id
        if self.type is not None:
            body["type"] = self.type.value
        for name in ("min_price", "max_price"):
            price = getattr(self, name)
            if price is not None:
                body[name] = price.to_ocpi()
        for name in ("start_date_time", "end_date_time", "last_updated"):
            value = getattr(self, name)
            if value is not None:
                body[name] = _ocpi_datetime(value)
        if extensions:
            body["silkcharge"] = {
                "vat_included": self.vat_included,
                "token_groups": sorted(self.token_groups),
                "driver_categories": sorted(self.driver_categories),
            }
        return body


def _element_to_ocpi(
    element: TariffElement, vat_included: bool, statutory: Decimal | None, extensions: bool
) -> dict[str, Any]:
    components = []
    for component in element.price_components:
        if extensions:
            vat: Any = component.vat.value if component.vat is STATUTORY else component.vat
            price = component.price
        else:
            vat = statutory if component.vat is STATUTORY else component.vat
            price = component.price
            if vat_included and vat is not None:
                price = (component.price * 100 / (100 + vat)).quantize(Decimal("0.0001"))
        body: dict[str, Any] = {
            "type": component.type.value,
            "price": price,
            "step_size": component.step_size,
        }
        # No VAT is written as 0: an absent vat reads back as the statutory rate (`from_ocpi`).
        body["vat"] = Decimal(0) if vat is None else vat
        components.append(body)
    result: dict[str, Any] = {"price_components": components}
    if element.restrictions is not None:
        result["restrictions"] = element.restrictions.to_ocpi()
    return result


def _lenient_decimal(value: Any) -> Any:
    """Decimal from an int or numeric string; anything else is left for `problems` to name."""
    if isinstance(value, (bool, float)) or not isinstance(value, (int, str, Decimal)):
        return value
    try:
        return to_decimal(value)
    except ValueError:
        return value


def _ocpi_datetime(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class _OcpiReader:
    """Reads an OCPI dict into a Tariff, collecting every problem before raising."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = data
        self.problems: list[str] = []

    def tariff(self) -> Tariff:
        data = self.data
        if not isinstance(data, Mapping):
            raise InvalidTariff([f"expected an object, got {type(data).__name__}"])
        ext = data.get("silkcharge") or {}
        currency = data.get("currency")
        elements = data.get("elements")
        if not isinstance(elements, list):
            self.problems.append("elements: missing or not a list")
            elements = []
        parsed = tuple(self.element(e, f"elements[{i}]") for i, e in enumerate(elements))
        kwargs: dict[str, Any] = {
            "type": self.enum(TariffType, data.get("type"), "type"),
            "country_code": data.get("country_code"),
            "party_id": data.get("party_id"),
            "min_price": self.price(data.get("min_price"), currency, "min_price"),
            "max_price": self.price(data.get("max_price"), currency, "max_price"),
            "start_date_time": self.moment(data.get("start_date_time"), "start_date_time"),
            "end_date_time": self.moment(data.get("end_date_time"), "end_date_time"),
            "last_updated": self.moment(data.get("last_updated"), "last_updated"),
            "vat_included": bool(ext.get("vat_included", False)),
            "token_groups": frozenset(ext.get("token_groups", ())),
            "driver_categories": frozenset(ext.get("driver_categories", ())),
        }
        if self.problems:
            raise InvalidTariff(self.problems)
        return Tariff(id=data.get("id"), currency=currency, elements=parsed, **kwargs)

    def element(self, data: Any, where: str) -> TariffElement:
        if not isinstance(data, Mapping):
            self.problems.append(f"{where}: not an object")
            return TariffElement(())
        components = data.get("price_components")
        if not isinstance(components, list):
            self.problems.append(f"{where}.price_components: missing or not a list")
            components = []
        parsed = tuple(
            self.component(c, f"{where}.price_components[{k}]") for k, c in enumerate(components)
        )
        restrictions = data.get("restrictions")
        return TariffElement(
            tuple(c for c in parsed if c is not None),
            None if restrictions is None else self.restrictions(restrictions, where),
        )

    def component(self, data: Any, where: str) -> PriceComponent | None:
        if not isinstance(data, Mapping):
            self.problems.append(f"{where}: not an object")
            return None
        kind = self.enum(TariffDimensionType, data.get("type"), f"{where}.type")
        price = self.number(data.get("price"), f"{where}.price", required=True)
        raw_vat = data.get("vat")
        vat: VatSpec
        if raw_vat is None or raw_vat == STATUTORY.value:
            # OCPI reads an absent vat as "no VAT"; a tariff in a country with VAT that forgot
            # it would be under-taxed (and pass a cap incl. VAT it breaks). silkcharge applies
            # the statutory rate of the date instead; write "vat": 0 for a price without VAT.
            vat = STATUTORY
        else:
            vat = self.number(raw_vat, f"{where}.vat")
        step = data.get("step_size", 1)
        if kind is None or price is None:
            return None
        return PriceComponent(kind, price, vat, step)

    def restrictions(self, data: Any, where: str) -> TariffRestrictions | None:
        where = f"{where}.restrictions"
        if not isinstance(data, Mapping):
            self.problems.append(f"{where}: not an object")
            return None
        days = data.get("day_of_week")
        return TariffRestrictions(
            start_time=self.clock(data.get("start_time"), f"{where}.start_time"),
            end_time=self.clock(data.get("end_time"), f"{where}.end_time"),
            start_date=self.day(data.get("start_date"), f"{where}.start_date"),
            end_date=self.day(data.get("end_date"), f"{where}.end_date"),
            min_kwh=self.number(data.get("min_kwh"), f"{where}.min_kwh"),
            max_kwh=self.number(data.get("max_kwh"), f"{where}.max_kwh"),
            min_current=self.number(data.get("min_current"), f"{where}.min_current"),
            max_current=self.number(data.get("max_current"), f"{where}.max_current"),
            min_power=self.number(data.get("min_power"), f"{where}.min_power"),
            max_power=self.number(data.get("max_power"), f"{where}.max_power"),
            min_duration=self.integer(data.get("min_duration"), f"{where}.min_duration"),
            max_duration=self.integer(data.get("max_duration"), f"{where}.max_duration"),
            day_of_week=None if days is None else self.days(days, f"{where}.day_of_week"),
            reservation=self.enum(
                ReservationRestrictionType, data.get("reservation"), f"{where}.reservation"
            ),
        )

    def number(self, value: Any, where: str, required: bool = False) -> Decimal | None:
        if value is None:
            if required:
                self.problems.append(f"{where}: missing")
            return None
        if isinstance(value, float):
            value = repr(value)
        try:
            return to_decimal(value, where)
        except (TypeError, ValueError):
            self.problems.append(f"{where}: not a number ({value!r})")
            return None

    def integer(self, value: Any, where: str) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.problems.append(f"{where}: not a whole number of seconds ({value!r})")
            return None
        return value

    def enum(self, kind: type[StrEnum], value: Any, where: str) -> Any:
        if value is None:
            return None
        try:
            return kind(value)
        except ValueError:
            allowed = ", ".join(m.value for m in kind)
            self.problems.append(f"{where}: {value!r} is not one of {allowed}")
            return None

    def clock(self, value: Any, where: str) -> time | None:
        if value is None:
            return None
        if not isinstance(value, str) or not _TIME_RE.match(value):
            self.problems.append(f"{where}: {value!r} is not a time of day HH:MM")
            return None
        return time.fromisoformat(value)

    def day(self, value: Any, where: str) -> date | None:
        if value is None:
            return None
        try:
            return date.fromisoformat(value)
        except (TypeError, ValueError):
            self.problems.append(f"{where}: {value!r} is not a date YYYY-MM-DD")
            return None

    def days(self, value: Any, where: str) -> frozenset[DayOfWeek] | None:
        if not isinstance(value, list):
            self.problems.append(f"{where}: not a list")
            return None
        parsed = [self.enum(DayOfWeek, d, where) for d in value]
        return frozenset(d for d in parsed if d is not None)

    def moment(self, value: Any, where: str) -> datetime | None:
        if value is None:
            return None
        try:
            text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
            moment = datetime.fromisoformat(text)
        except (AttributeError, TypeError, ValueError):
            self.problems.append(f"{where}: {value!r} is not an RFC 3339 date-time")
            return None
        return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)

    def price(self, value: Any, currency: Any, where: str) -> Price | None:
        if value is None:
            return None
        if not isinstance(value, Mapping):
            self.problems.append(f"{where}: not an object")
            return None
        excl = self.number(value.get("excl_vat"), f"{where}.excl_vat", required=True)
        incl = self.number(value.get("incl_vat"), f"{where}.incl_vat")
        if excl is None or currency not in CURRENCIES:
            return None
        return Price(Money(excl, currency), None if incl is None else Money(incl, currency))


def select_tariff(
    tariffs: Iterable[Tariff],
    at: datetime,
    *,
    token_group: str | None = None,
    driver_category: str | None = None,
    tariff_type: TariffType | None = None,
) -> Tariff:
    """The tariff that applies to a driver: the most specific audience wins.

    Among tariffs valid at `at` (and of `tariff_type`, when given, or without a type), a
    tariff for the driver's token group beats one for their driver category, which beats a
    tariff for everyone; within a rank, list order decides. A concession for another group
    never applies.
    """
    ranked: list[tuple[int, int, Tariff]] = []
    for order, tariff in enumerate(tariffs):
        if not tariff.is_valid_at(at):
            continue
        if tariff_type is not None and tariff.type not in (tariff_type, None):
            continue
        if token_group is not None and token_group in tariff.token_groups:
            rank = 0
        elif driver_category is not None and driver_category in tariff.driver_categories:
            rank = 1
        elif not tariff.is_concession:
            rank = 2
        else:
            continue
        ranked.append((rank, order, tariff))
    if not ranked:
        raise NoApplicableTariff(
            f"no tariff applies at {at.isoformat()} for token group {token_group!r}, "
            f"driver category {driver_category!r}"
        )
    return min(ranked, key=lambda item: item[:2])[2]
