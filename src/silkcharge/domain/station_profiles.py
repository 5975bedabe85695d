"""Station profiles: what a kind of charger supports and needs, as data (evcc's templates are
the model), so commands and smart charging ask a fact instead of branching on a vendor.

A profile matches stations by OCPP version, vendor, model and a firmware range, and states
facts (`FACTS`). A station's *effective* profile is built in three layers, each fact taken
from the last layer that states it:

1. the generic profiles (they match by OCPP version only): the specification's defaults and
   silkcharge's policies;
2. what the station's own configuration says (1.6 keys, 2.0.1 variables), read by its
   protocol adapter: a station knows its own settings better than a default;
3. the profiles that name a vendor, a model or a firmware range, least specific first: a
   documented quirk of that kind of charger overrides what the charger says about itself.

Every fact of the effective profile carries where it came from, so an operator can see why.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any


class ProfileError(ValueError):
    """A profile that cannot be used as written; the message names the field."""


@dataclass(frozen=True)
class Fact:
    name: str
    kind: str  # bool | amps | measurands | rate_units | text
    meaning: str


FACTS: dict[str, Fact] = {f.name: f for f in (
    Fact("reservations", "bool", "takes reservations at all (ReserveNow)"),
    Fact("reservations_station_wide", "bool",
         "takes a reservation of the whole station (1.6 connector 0, 2.0.1 without evseId)"),
    Fact("cost_display", "bool", "shows the running and final cost of a session"),
    Fact("tariff_display", "bool",
         "shows the driver's tariff and the tariff fallback messages (2.0.1 I01, I04-I06)"),
    Fact("measurands", "measurands", "what its meter values report during a transaction"),
    Fact("charging_rate_units", "rate_units", "units its charging schedules accept (A, W)"),
    Fact("min_current_a", "amps", "the least current per phase it can charge with, above 0"),
    Fact("current_step_a", "amps", "the step its current limits are set in"),
    Fact("resend_limits_after_boot", "bool",
         "loses its charging profiles on a reboot: silkcharge sends them again"),
    Fact("resend_limits_after_reconnect", "bool",
         "stops honouring its charging profiles after a reconnect: silkcharge sends them again"),
    Fact("master_pass_group_id", "text",
         "idTokens of this group may stop any transaction but start none (2.0.1 C16)"),
)}

_RATE_UNITS = ("A", "W")


def parse_facts(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Facts as stored and served: bools, amperes as Decimal, lists of names. `None` leaves a
    fact to the layers below. Unknown names and wrong types raise `ProfileError`."""
    facts: dict[str, Any] = {}
    for name, value in raw.items():
        fact = FACTS.get(name)
        if fact is None:
            raise ProfileError(f"unknown fact {name!r}; known: {', '.join(FACTS)}")
        facts[name] = None if value is None else _parse(fact, value)
    return facts


def _parse(fact: Fact, value: Any) -> Any:
    if fact.kind == "bool":
        if not isinstance(value, bool):
            raise ProfileError(f"{fact.name} is true or false, not {value!r}")
        return value
    if fact.kind == "amps":
        try:
            amps = Decimal(str(value))
        except InvalidOperation:
            amps = None
        if amps is None or isinstance(value, bool) or not amps.is_finite() or amps <= 0:
            raise ProfileError(f"{fact.name} is a positive number of amperes, not {value!r}")
        return amps
    if fact.kind in ("measurands", "rate_units"):
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise ProfileError(f"{fact.name} is a list of names, not {value!r}")
        if fact.kind == "rate_units" and not set(value) <= set(_RATE_UNITS):
            raise ProfileError(f"{fact.name} lists A and/or W, not {value!r}")
        return list(value)
    if not isinstance(value, str) or not value or len(value) > 36:
        raise ProfileError(f"{fact.name} is a text of 1 to 36 characters, not {value!r}")
    return value


def fact_json(value: Any) -> Any:
    """A fact as JSON: amperes as decimal strings (never a float)."""
    return str(value) if isinstance(value, Decimal) else value


def version_key(text: str) -> tuple:
    """Firmware versions compared part by part, numbers as numbers: '1.10' after '1.9'."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part.lower())
                 for part in re.split(r"[^0-9A-Za-z]+", text.strip()) if part)


@dataclass(frozen=True)
class ProfileMatch:
    """Which stations a profile describes. Vendor and model are case-insensitive glob patterns
    (any of a list); the firmware range includes `firmware_from` and excludes `firmware_before`."""

    ocpp_version: str | None = None
    vendor: tuple[str, ...] = ()
    model: tuple[str, ...] = ()
    firmware_from: str | None = None
    firmware_before: str | None = None

    @property
    def specificity(self) -> int:
        """0 for a generic profile; one more for each of vendor, model, firmware it names."""
        firmware = self.firmware_from is not None or self.firmware_before is not None
        return bool(self.vendor) + bool(self.model) + firmware

    def matches(self, version: str | None, vendor: str | None, model: str | None,
                firmware: str | None) -> bool:
        if self.ocpp_version is not None and self.ocpp_version != version:
            return False
        if self.vendor and not _any_glob(self.vendor, vendor):
            return False
        if self.model and not _any_glob(self.model, model):
            return False
        if self.firmware_from is None and self.firmware_before is None:
            return True
        if not firmware:
            return False
        key = version_key(firmware)
        if self.firmware_from is not None and key < version_key(self.firmware_from):
            return False
        return self.firmware_before is None or key < version_key(self.firmware_before)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ocpp_version": self.ocpp_version, "vendor": list(self.vendor), "model": list(self.model),
            "firmware_from": self.firmware_from, "firmware_before": self.firmware_before,
        }


def _any_glob(patterns: Iterable[str], value: str | None) -> bool:
    return value is not None and any(
        fnmatch.fnmatchcase(value.casefold(), pattern.casefold()) for pattern in patterns
    )


def match_from(raw: Mapping[str, Any]) -> ProfileMatch:
    def patterns(key: str) -> tuple[str, ...]:
        value = raw.get(key)
        if value is None:
            return ()
        values = [value] if isinstance(value, str) else value
        if not isinstance(values, list) or not all(isinstance(v, str) and v for v in values):
            raise ProfileError(f"match.{key} is a pattern or a list of patterns, not {value!r}")
        return tuple(values)

    unknown = set(raw) - {"ocpp_version", "vendor", "model", "firmware_from", "firmware_before"}
    if unknown:
        raise ProfileError(f"match has no field {', '.join(sorted(unknown))}")
    version = raw.get("ocpp_version")
    if version not in (None, "1.6", "2.0.1", "2.1"):
        raise ProfileError(f"match.ocpp_version is 1.6, 2.0.1 or 2.1, not {version!r}")
    return ProfileMatch(version, patterns("vendor"), patterns("model"),
                        raw.get("firmware_from"), raw.get("firmware_before"))


@dataclass(frozen=True)
class StationProfile:
    name: str
    match: ProfileMatch
    facts: dict[str, Any]
    note: str | None = None
    sources: dict[str, str] = field(default_factory=dict)
    """Per fact, where it is documented (a specification clause, an issue, a policy)."""
    origin: str = "shipped"  # shipped | stored | edited (a shipped profile changed by an operator)


@dataclass(frozen=True)
class FactValue:
    value: Any
    source: str
    """'profile NAME' or 'configuration KEY'."""


@dataclass(frozen=True)
class EffectiveProfile:
    facts: dict[str, FactValue]
    profiles: tuple[str, ...]
    """The names of the profiles that matched, least specific first."""

    def get(self, name: str) -> Any:
        found = self.facts.get(name)
        return None if found is None else found.value

    def source(self, name: str) -> str | None:
        found = self.facts.get(name)
        return None if found is None else found.source


def effective(
    profiles: Iterable[StationProfile], version: str | None, vendor: str | None,
    model: str | None, firmware: str | None, learned: Mapping[str, tuple[Any, str]],
) -> EffectiveProfile:
    """The station's facts: generic profiles, then its configuration (`learned`: fact ->
    (value, key)), then the specific profiles that match it (see the module's docstring)."""
    matching = sorted(
        (p for p in profiles if p.match.matches(version, vendor, model, firmware)),
        key=lambda p: (p.match.specificity, p.name),
    )
    facts: dict[str, FactValue] = {}
    for profile in (p for p in matching if p.match.specificity == 0):
        _overlay(facts, profile)
    for name, (value, key) in learned.items():
        if value is not None:
            facts[name] = FactValue(value, f"configuration {key}")
    for profile in (p for p in matching if p.match.specificity > 0):
        _overlay(facts, profile)
    return EffectiveProfile(facts, tuple(p.name for p in matching))


def _overlay(facts: dict[str, FactValue], profile: StationProfile) -> None:
    for name, value in profile.facts.items():
        if value is not None:
            facts[name] = FactValue(value, f"profile {profile.name}")
