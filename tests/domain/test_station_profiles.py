"""Station profiles as data: matching by version, vendor, model and firmware range, and the
three layers of a station's effective profile (generic, its configuration, model quirks)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from silkcharge.domain.station_profiles import (
    ProfileError,
    StationProfile,
    effective,
    match_from,
    parse_facts,
)
from silkcharge.services.station_profiles import load_shipped


def profile(name: str, match: dict, facts: dict) -> StationProfile:
    return StationProfile(name, match_from(match), parse_facts(facts))


GENERIC = profile("generic", {"ocpp_version": "1.6"}, {"reservations_station_wide": True, "min_current_a": "6"})
QUIRK = profile("acme-old", {"vendor": "ACME*", "model": ["Wall*", "Pole"], "firmware_before": "2.0"},
                {"reservations_station_wide": False})


def test_a_model_quirk_overrides_what_the_station_says_which_overrides_the_generic_default():
    learned = {"reservations_station_wide": (True, "ReserveConnectorZeroSupported")}
    old = effective([GENERIC, QUIRK], "1.6", "acme gmbh", "WallBox", "1.9.3", learned)
    new = effective([GENERIC, QUIRK], "1.6", "ACME GmbH", "WallBox", "2.0", learned)
    bare = effective([GENERIC, QUIRK], "1.6", "Other", "X", "1.0", {})
    assert (old.get("reservations_station_wide"), old.source("reservations_station_wide")) == (False, "profile acme-old")
    assert (new.get("reservations_station_wide"), new.source("reservations_station_wide")) == (
        True, "configuration ReserveConnectorZeroSupported")
    assert (bare.get("reservations_station_wide"), bare.source("reservations_station_wide")) == (True, "profile generic")
    assert old.get("min_current_a") == Decimal(6) and old.profiles == ("generic", "acme-old")


def test_firmware_ranges_compare_numbers_as_numbers():
    ranged = match_from({"firmware_from": "1.9", "firmware_before": "1.10"})
    assert ranged.matches(None, None, None, "1.9.7")
    assert not ranged.matches(None, None, None, "1.10")
    assert not ranged.matches(None, None, None, None)  # unknown firmware matches no range


@pytest.mark.parametrize("facts, problem", [
    ({"colour": "red"}, "unknown fact 'colour'"),
    ({"min_current_a": "-1"}, "positive number of amperes"),
    ({"cost_display": "yes"}, "true or false"),
    ({"charging_rate_units": ["kW"]}, "A and/or W"),
])
def test_a_wrong_fact_is_refused_with_its_name(facts, problem):
    with pytest.raises(ProfileError, match=problem):
        parse_facts(facts)


def test_the_shipped_profiles_load_and_every_fact_names_its_source():
    shipped = load_shipped()
    assert {"generic-ocpp1.6", "generic-ocpp2.0.1", "go-e-firmware-56.2"} <= set(shipped)
    for p in shipped.values():
        assert set(p.facts) == set(p.sources), p.name
    go_e = effective(shipped.values(), "1.6", "go-e GmbH", "go-eCharger", "56.2", {})
    assert go_e.get("resend_limits_after_reconnect") is True
    assert effective(shipped.values(), "1.6", "go-e GmbH", "go-eCharger", "55.8", {}).get(
        "resend_limits_after_reconnect") is False
