"""What the OCPI 2.2.1 Locations and Tariffs modules share: reading a partner's JSON strictly,
and the checks of every object and class those modules carry (mod_locations.asciidoc,
mod_tariffs.asciidoc, types.asciidoc).

A partner's object is checked field by field against a *shape*: each field's checker and
whether it is required. Every problem is collected with its path ("evses[0].connectors[1].
max_voltage: ...") so a partner reads all of them in one answer; the modules turn them into an
OCPI 2001. Nothing here trusts a type: a number where a string should be, a list where an
object should be, NaN, a 40-character id all become problems, never exceptions.

Unknown fields are no error (a partner's newer minor version or custom field), but they are
not kept either (`known_fields`): what we store and serve back is what OCPI 2.2.1 defines,
every field of it checked.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any
from zoneinfo import available_timezones

from fastapi import Request

from silkcharge.roaming.auth import PartyRole
from silkcharge.roaming.wire import OcpiError, Status, parse_ocpi_datetime

Checker = Callable[[Any, str, list[str]], None]
"""Checks one value at a path, appending what is wrong to the list."""


@dataclass(frozen=True)
class Field:
    check: Checker
    required: bool = False


Shape = Mapping[str, Field]


def read_json(raw: bytes) -> Any:
    """A request body as JSON, or OCPI 2001. NaN and Infinity are not JSON and are refused;
    numbers stay floats read from their shortest text (0.25 stays 0.25 when written back)."""

    def refuse(constant: str) -> Any:
        raise ValueError(f"{constant} is not a JSON number")

    try:
        return json.loads(raw, parse_constant=refuse)
    except (ValueError, RecursionError) as exc:
        raise OcpiError(Status.INVALID_PARAMETERS, f"the body is not JSON: {exc}") from None


def known_fields(data: Any, shape: Shape) -> Any:
    """`data` with only the fields OCPI 2.2.1 defines for `shape`, at every depth: a partner's
    custom or newer fields are ignored, not stored."""
    return _object(shape).prune(data)


def check_object(data: Any, shape: Shape, where: str = "", *, partial: bool = False) -> list[str]:
    """Every problem of `data` against `shape`; `partial` (a PATCH) skips required fields that
    are absent, but checks every field present."""
    problems: list[str] = []
    _object(shape, partial)(data, where, problems)
    return problems


def refuse(problems: list[str], what: str) -> None:
    """OCPI 2001 naming the problems (the first ten, and how many more)."""
    if not problems:
        return
    shown = "; ".join(problems[:10])
    more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
    raise OcpiError(Status.INVALID_PARAMETERS, f"{what} refused: {shown}{more}")


# -- checkers ---------------------------------------------------------------------------------


def _at(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


class _ObjectChecker:
    """Checks an object of a shape; `prune` keeps only the fields the shape defines."""

    def __init__(self, shape: Shape, partial: bool = False) -> None:
        self.shape = shape
        self.partial = partial

    def __call__(self, value: Any, where: str, problems: list[str]) -> None:
        if not isinstance(value, dict):
            problems.append(f"{where or 'body'}: must be an object, not {_kind(value)}")
            return
        for name, field in self.shape.items():
            if name not in value or value[name] is None:
                if field.required and not self.partial:
                    problems.append(f"{_at(where, name)}: required")
                continue
            field.check(value[name], _at(where, name), problems)

    def prune(self, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        return {
            name: _prune(self.shape[name].check, item) for name, item in value.items() if name in self.shape
        }


def _prune(check: Checker, value: Any) -> Any:
    prune = getattr(check, "prune", None)
    return prune(value) if prune is not None else value


def _object(shape: Shape, partial: bool = False) -> _ObjectChecker:
    return _ObjectChecker(shape, partial)


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__.replace("dict", "object").replace("str", "string")


_PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]*")


def cistring(length: int, *, empty: bool = False) -> Checker:
    """CiString(n): printable ASCII, at most n characters (case-insensitive when compared)."""

    def check(value: Any, where: str, problems: list[str]) -> None:
        if not isinstance(value, str):
            problems.append(f"{where}: must be a string, not {_kind(value)}")
        elif not _PRINTABLE_ASCII.fullmatch(value):
            problems.append(f"{where}: only printable ASCII characters are allowed")
        elif len(value) > length or (not value and not empty):
            problems.append(f"{where}: must be {0 if empty else 1} to {length} characters ({len(value)})")

    return check


def string(length: int) -> Checker:
    """string(n): UTF-8 text of at most n characters."""

    def check(value: Any, where: str, problems: list[str]) -> None:
        if not isinstance(value, str):
            problems.append(f"{where}: must be a string, not {_kind(value)}")
        elif len(value) > length:
            problems.append(f"{where}: at most {length} characters ({len(value)})")

    return check


def pattern(regex: str, length: int, example: str) -> Checker:
    compiled = re.compile(regex)

    def check(value: Any, where: str, problems: list[str]) -> None:
        if not isinstance(value, str) or len(value) > length or not compiled.fullmatch(value):
            problems.append(f"{where}: {value!r} is not of the form {example}")

    return check


def enum(*values: str) -> Checker:
    allowed = frozenset(values)

    def check(value: Any, where: str, problems: list[str]) -> None:
        if not isinstance(value, str) or value not in allowed:
            problems.append(f"{where}: {value!r} is not one of {', '.join(sorted(allowed))}")

    return check


def boolean(value: Any, where: str, problems: list[str]) -> None:
    if not isinstance(value, bool):
        problems.append(f"{where}: must be true or false, not {_kind(value)}")


def integer(low: int | None = None, high: int | None = None) -> Checker:
    def check(value: Any, where: str, problems: list[str]) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            problems.append(f"{where}: must be a whole number, not {_kind(value)}")
        elif (low is not None and value < low) or (high is not None and value > high):
            problems.append(f"{where}: {value} is out of range")

    return check


def number(low: float | None = None, high: float | None = None) -> Checker:
    def check(value: Any, where: str, problems: list[str]) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            problems.append(f"{where}: must be a number, not {_kind(value)}")
        elif (low is not None and value < low) or (high is not None and value > high):
            problems.append(f"{where}: {value} is out of range")

    return check


def datetime_text(value: Any, where: str, problems: list[str]) -> None:
    try:
        parse_ocpi_datetime(value, where)
    except OcpiError as exc:
        problems.append(exc.message)


def url(value: Any, where: str, problems: list[str]) -> None:
    if not isinstance(value, str) or len(value) > 255 or not re.match(r"https?://\S+$", value):
        problems.append(f"{where}: must be an http(s) URL of at most 255 characters")


class _ListChecker:
    def __init__(self, item: Checker, at_least: int) -> None:
        self.item = item
        self.at_least = at_least

    def __call__(self, value: Any, where: str, problems: list[str]) -> None:
        if not isinstance(value, list):
            problems.append(f"{where}: must be a list, not {_kind(value)}")
            return
        if len(value) < self.at_least:
            problems.append(f"{where}: needs at least {self.at_least}")
        for index, element in enumerate(value):
            self.item(element, f"{where}[{index}]", problems)

    def prune(self, value: Any) -> Any:
        return [_prune(self.item, element) for element in value] if isinstance(value, list) else value


def listing(item: Checker, *, at_least: int = 0) -> Checker:
    return _ListChecker(item, at_least)


def time_zone(value: Any, where: str, problems: list[str]) -> None:
    if not isinstance(value, str) or len(value) > 255 or value not in _zones():
        problems.append(f"{where}: {value!r} is not an IANA time zone")


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def latitude(value: Any, where: str, problems: list[str]) -> None:
    _coordinate(value, where, problems, r"-?[0-9]{1,2}\.[0-9]{5,7}", 10, 90)


def longitude(value: Any, where: str, problems: list[str]) -> None:
    _coordinate(value, where, problems, r"-?[0-9]{1,3}\.[0-9]{5,7}", 11, 180)


def _coordinate(value: Any, where: str, problems: list[str], regex: str, length: int, bound: int) -> None:
    if not isinstance(value, str) or len(value) > length or not re.fullmatch(regex, value):
        problems.append(f"{where}: {value!r} is not decimal degrees with 5 to 7 decimals, as a string")
    elif abs(float(value)) > bound:
        problems.append(f"{where}: {value} is outside -{bound}..{bound}")


def coordinate_text(degrees: float) -> str:
    """Decimal degrees as OCPI writes them: a string with 6 decimals (about 10 cm)."""
    return f"{degrees:.6f}"


# -- shared classes (types.asciidoc, mod_locations.asciidoc) ------------------------------------

DISPLAY_TEXT: Shape = {"language": Field(string(2), True), "text": Field(string(512), True)}
GEO_LOCATION: Shape = {"latitude": Field(latitude, True), "longitude": Field(longitude, True)}
IMAGE: Shape = {
    "url": Field(url, True),
    "thumbnail": Field(url),
    "category": Field(enum("CHARGER", "ENTRANCE", "LOCATION", "NETWORK", "OPERATOR", "OTHER", "OWNER"), True),
    "type": Field(cistring(4), True),
    "width": Field(integer(0, 99999)),
    "height": Field(integer(0, 99999)),
}
BUSINESS_DETAILS: Shape = {"name": Field(string(100), True), "website": Field(url), "logo": Field(_object(IMAGE))}
ENERGY_MIX: Shape = {
    "is_green_energy": Field(boolean, True),
    "energy_sources": Field(listing(_object({
        "source": Field(enum("NUCLEAR", "GENERAL_FOSSIL", "COAL", "GAS", "GENERAL_GREEN", "SOLAR", "WIND", "WATER"), True),
        "percentage": Field(number(0, 100), True),
    }))),
    "environ_impact": Field(listing(_object({
        "category": Field(enum("NUCLEAR_WASTE", "CARBON_DIOXIDE"), True),
        "amount": Field(number(0), True),
    }))),
    "supplier_name": Field(string(64)),
    "energy_product_name": Field(string(64)),
}
PRICE: Shape = {"excl_vat": Field(number(0), True), "incl_vat": Field(number(0))}


def display_texts() -> Checker:
    return listing(_object(DISPLAY_TEXT))


def shape_checker(shape: Shape) -> Checker:
    """A checker for a nested object of `shape` (for the modules' own shapes)."""
    return _object(shape)


async def our_party(request: Request, role: str) -> PartyRole:
    """Our own party in `role` ("CPO", "EMSP") for the tenant in scope (its first, if it has
    several): the one thing these modules need of the roaming identities."""
    for identity in await request.app.state.roaming.partners.identities():
        if identity.role.upper() == role:
            return PartyRole(identity.country_code.upper(), identity.party_id.upper(), identity.role)
    raise OcpiError(Status.SERVER_ERROR, f"this network has no OCPI {role} identity yet", http_status=503)
