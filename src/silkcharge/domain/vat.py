"""VAT rates by country and date, from the dataset shipped in `silkcharge/data/vat.json`.

Rates change (Kazakhstan: 12 % until 2025-12-31, 16 % from 2026-01-01), so a rate is always
asked for a date: the date of supply in the country's legal time zone. Each rate carries its
source and a confidence; callers that show a rate to an operator should show a low-confidence
rate as such. `load_vat_table()` is the only I/O here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from importlib import resources
from zoneinfo import ZoneInfo

__all__ = [
    "NoVatRate",
    "UnknownCountry",
    "VatRate",
    "VatTable",
    "load_vat_table",
    "vat_rate",
]


class UnknownCountry(KeyError):
    """No VAT data for this country code."""

    def __str__(self) -> str:
        return str(self.args[0])


class NoVatRate(LookupError):
    """The country is known but no rate in the table covers the date asked."""


@dataclass(frozen=True, slots=True)
class VatRate:
    country: str
    rate: Decimal
    """Percent, e.g. Decimal("16")."""
    valid_from: date | None
    valid_until: date | None
    """Inclusive last day; None for open-ended."""
    source: str
    source_date: str | None
    confidence: str

    def covers(self, day: date) -> bool:
        return (self.valid_from is None or self.valid_from <= day) and (
            self.valid_until is None or day <= self.valid_until
        )


@dataclass(frozen=True, slots=True)
class VatTable:
    rates: Mapping[str, tuple[VatRate, ...]]
    time_zones: Mapping[str, str]

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> VatTable:
        rates: dict[str, tuple[VatRate, ...]] = {}
        zones: dict[str, str] = {}
        countries = data["countries"]
        assert isinstance(countries, Mapping)
        for country, body in countries.items():
            zones[country] = body["time_zone"]
            rates[country] = tuple(
                VatRate(
                    country=country,
                    rate=Decimal(str(entry["rate"])),
                    valid_from=_day(entry.get("valid_from")),
                    valid_until=_day(entry.get("valid_until")),
                    source=entry["source"],
                    source_date=entry.get("source_date"),
                    confidence=entry["confidence"],
                )
                for entry in body["rates"]
            )
            _check_no_overlap(country, rates[country])
        return cls(rates=rates, time_zones=zones)

    def time_zone(self, country: str) -> ZoneInfo:
        try:
            return ZoneInfo(self.time_zones[country.upper()])
        except KeyError:
            raise UnknownCountry(_unknown_message(country, self.rates)) from None

    def entry(self, country: str, on: date | datetime) -> VatRate:
        """The rate record in force on `on` (a datetime is read in the country's time zone)."""
        code = country.upper() if isinstance(country, str) else country
        if code not in self.rates:
            raise UnknownCountry(_unknown_message(country, self.rates))
        day = self.local_date(code, on)
        for rate in self.rates[code]:
            if rate.covers(day):
                return rate
        raise NoVatRate(f"no VAT rate for {code} on {day.isoformat()} in the VAT table")

    def rate(self, country: str, on: date | datetime) -> Decimal:
        return self.entry(country, on).rate

    def local_date(self, country: str, on: date | datetime) -> date:
        if isinstance(on, datetime):
            if on.tzinfo is None:
                raise ValueError("naive datetime: pass an aware datetime or a local date")
            return on.astimezone(self.time_zone(country)).date()
        if isinstance(on, date):
            return on
        raise TypeError(f"expected a date or datetime, not {type(on).__name__}")

    def changes(self, country: str, after: date, until: date | None) -> list[date]:
        """First days of rates that start after `after` and no later than `until`."""
        code = country.upper()
        if code not in self.rates:
            raise UnknownCountry(_unknown_message(country, self.rates))
        return sorted(
            rate.valid_from
            for rate in self.rates[code]
            if rate.valid_from is not None
            and rate.valid_from > after
            and (until is None or rate.valid_from <= until)
        )


def _day(text: object) -> date | None:
    return None if text is None else date.fromisoformat(str(text))


def _check_no_overlap(country: str, rates: tuple[VatRate, ...]) -> None:
    ordered = sorted(rates, key=lambda r: r.valid_from or date.min)
    for before, after in zip(ordered, ordered[1:]):
        if before.valid_until is None or after.valid_from is None:
            raise ValueError(f"VAT table: open-ended periods overlap for {country}")
        if before.valid_until >= after.valid_from:
            raise ValueError(f"VAT table: periods overlap for {country} at {after.valid_from}")


def _unknown_message(country: object, rates: Mapping[str, object]) -> str:
    return f"no VAT data for country {country!r}; known: {', '.join(sorted(rates))}"


@cache
def load_vat_table() -> VatTable:
    text = resources.files("silkcharge.data").joinpath("vat.json").read_text(encoding="utf-8")
    return VatTable.from_dict(json.loads(text))


def vat_rate(country: str, on: date | datetime) -> Decimal:
    """The standard VAT rate in percent for `country` (ISO 3166 alpha-2) on `on`.

    A date is taken as the local date of supply; an aware datetime is converted to the
    country's legal time zone first (00:30 on 1 January in Almaty is 2026 there, though it is
    still 2025 in UTC).
    """
    return load_vat_table().rate(country, on)
