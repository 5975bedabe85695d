"""The plausibility rules as data: each check, its limit, the reason an operator reads, and the
operator's overrides."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from silkcharge.domain.clock import to_ocpp
from silkcharge.domain.plausibility import RULES, Action, Checks, Limits, reading

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=timezone.utc)


def test_every_rule_has_a_name_a_sentence_and_a_reason_and_limits_only_where_tunable_or_the_stores():
    names = [rule.name for rule in RULES]
    assert len(names) == len(set(names))
    for rule in RULES:
        assert rule.checks and rule.reason and rule.action in (Action.QUARANTINE, Action.FLAG)


def test_overrides_change_a_limit_and_unknown_or_store_limits_are_refused_by_name():
    limits = Limits({"power-bound.margin_percent": "20", "clock-window.behind_days": 30})
    assert limits["power-bound.margin_percent"] == 20 and limits["clock-window.behind_days"] == 30
    assert limits["power-bound.allowance_wh"] == 1000
    with pytest.raises(ValueError, match="power-bound.margin_percent"):
        Limits({"power-bound.margin": 5})
    with pytest.raises(ValueError, match="store's own"):
        Limits({"value-fits.limit": 10**20})
    with pytest.raises(ValueError, match="at least 0"):
        Limits({"power-bound.margin_percent": -1})


def test_readings_must_be_finite_fit_the_store_and_registers_be_non_negative():
    checks = Checks()
    assert checks.reading("v", Decimal("123.4"), register=True) is None
    assert checks.reading("v", reading("lots"), register=False, raw="lots").reason == "v lots is not a number"
    assert checks.reading("v", Decimal("1E+30"), register=False).rule == "value-fits"
    assert checks.reading("v", Decimal("-5"), register=True).rule == "register-non-negative"
    assert checks.reading("v", Decimal("-5"), register=False) is None  # power may be negative (export)


def test_energy_beyond_the_connectors_power_names_the_power_the_time_and_the_most_it_could_be():
    checks = Checks()
    # 22 kW for 10 min = 3667 Wh; +10 % + 1000 Wh = 5033 Wh
    assert checks.power_bound("meterStop", Decimal(5000), timedelta(minutes=10), Decimal(22), Decimal(5000)) is None
    finding = checks.power_bound("meterStop", Decimal(2 * 10**9), timedelta(minutes=10), Decimal(22),
                                 Decimal(2 * 10**9))
    assert finding.rule == "power-bound"
    assert finding.reason == ("2000000000 Wh in 10 min is more than the connector's 22 kW can deliver "
                              "(at most 5033 Wh with a 10 % margin)")
    # a connector of unknown power (0) is held to unknown_power_kw
    assert checks.power_bound("v", Decimal(900_000), timedelta(hours=1), Decimal(0), Decimal(1)) is None
    assert checks.power_bound("v", Decimal(2_000_000), timedelta(hours=1), Decimal(0), Decimal(1)) is not None


def test_a_timestamp_outside_the_window_is_replaced_by_the_receive_time_with_a_reason():
    checks = Checks()
    assert checks.timestamp("timestamp", NOW - timedelta(days=300), NOW) is None
    assert checks.timestamp("timestamp", NOW + timedelta(minutes=10), NOW) is None
    finding = checks.timestamp("timestamp", datetime(1970, 1, 1, tzinfo=timezone.utc), NOW)
    assert (finding.rule, finding.value, finding.used) == (
        "clock-window", "1970-01-01T00:00:00.000Z", "2026-12-02T12:00:00.000Z")
    assert "behind the server's clock" in finding.reason and "check the charger's clock" in finding.reason
    assert "ahead of" in checks.timestamp("timestamp", NOW + timedelta(hours=5), NOW).reason
    assert checks.timestamp("timestamp", datetime(9999, 12, 31, tzinfo=timezone.utc), NOW).used == to_ocpp(NOW)


def test_ids_and_integers_beyond_the_store_or_the_registration_range_are_named():
    checks = Checks()
    assert checks.id_in_range("evseId", 3, kind="evse") is None
    huge = checks.id_in_range("connectorId", float(2**64), kind="connector")
    assert huge.value == str(2**64) and "connector ids 0 to 16" in huge.reason
    assert checks.integer("seqNo", 2**40).rule == "number-fits"
    assert checks.integer("seqNo", 7) is None


def test_a_register_going_back_is_flagged_within_its_tolerance():
    checks = Checks(Limits({"register-monotonic.tolerance_wh": 5}))
    assert checks.monotonic("v", Decimal(1000), Decimal(996)) is None
    assert checks.monotonic("v", Decimal(1000), Decimal(900)).reason == (
        "v went back from 1000 Wh to 900 Wh within the transaction")


def test_a_unit_longer_than_the_store_keeps_is_named():
    checks = Checks()
    assert checks.unit("unit", "kWh") is None and checks.unit("unit", None) is None
    assert checks.unit("unit", "MegawattHoursPerDay").rule == "text-fits"
