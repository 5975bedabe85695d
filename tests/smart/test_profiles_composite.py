from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from silkcharge.ocpp.schemas import validate
from silkcharge.smart.composite import ActiveTransaction, InstalledProfile, composite_schedule
from silkcharge.smart.profiles import (
    ChargingProfile,
    ChargingRateUnit,
    ChargingSchedule,
    ProfileError,
    RecurrencyKind,
    from_ocpp16,
    from_ocpp201,
    set_charging_profile_request,
)
from silkcharge.smart.profiles import (
    ChargingProfileKind as Kind,
)
from silkcharge.smart.profiles import (
    ChargingProfilePurpose as Purpose,
)
from silkcharge.smart.profiles import (
    ChargingSchedulePeriod as Period,
)

DAY = datetime(2025, 3, 1, tzinfo=timezone.utc)


def at(hour: int, minute: int = 0, day: int = 0) -> datetime:
    return DAY + timedelta(days=day, hours=hour, minutes=minute)


def profile(pid, purpose, periods, *, stack=0, kind=Kind.ABSOLUTE, start=DAY, unit="A", **kw):
    schedule_kw = {k: kw.pop(k) for k in ("duration", "min_charging_rate") if k in kw}
    schedule = ChargingSchedule(
        rate_unit=unit,
        periods=tuple(Period(s, Decimal(str(limit)), *ph) for s, limit, *ph in periods),
        start_schedule=None if kind is Kind.RELATIVE else start,
        **schedule_kw,
    )
    return ChargingProfile(pid, stack, purpose, kind, schedule, **kw)


SAMPLES = [
    profile(1, Purpose.CHARGING_STATION_MAX, [(0, 32)]),
    profile(2, Purpose.TX_DEFAULT, [(0, 16), (18 * 3600, 10.25, 1)], stack=1, valid_from=DAY, valid_to=at(0, day=3)),
    profile(3, Purpose.TX, [(0, 11000), (900, 7360.55)], unit="W", kind=Kind.RELATIVE, transaction_id="42", duration=3600, min_charging_rate=Decimal("1380.04")),
    profile(4, Purpose.TX_DEFAULT, [(0, 6)], kind=Kind.RECURRING, recurrency=RecurrencyKind.DAILY, start=at(22)),
]


@pytest.mark.parametrize("item", SAMPLES, ids=lambda p: p.purpose.value)
def test_profiles_round_trip_through_both_versions_and_match_the_official_schemas(item):
    for version, reader, key in (("1.6", from_ocpp16, "csChargingProfiles"), ("2.0.1", from_ocpp201, "chargingProfile")):
        payload = set_charging_profile_request(version, 1, item)
        validate(version, "SetChargingProfile", payload, response=False, message_id="t")
        back = reader(payload[key])
        assert back.purpose is item.purpose and back.kind is item.kind and back.stack_level == item.stack_level
        assert back.transaction_id == item.transaction_id and back.recurrency == item.recurrency
        assert back.valid_from == item.valid_from and back.valid_to == item.valid_to
        assert back.schedule.start_schedule == item.schedule.start_schedule
        for mine, theirs in zip(item.schedule.periods, back.schedule.periods):
            assert theirs.limit == mine.limit.quantize(Decimal("0.1"), rounding="ROUND_DOWN")
            assert theirs.number_phases == mine.number_phases


def test_limits_on_the_wire_have_one_decimal_rounded_down():
    payload = set_charging_profile_request("1.6", 1, SAMPLES[2])["csChargingProfiles"]
    limits = [p["limit"] for p in payload["chargingSchedule"]["chargingSchedulePeriod"]]
    assert limits == [11000, 7360.5]
    assert payload["chargingSchedule"]["minChargingRate"] == 1380.0
    assert payload["chargingProfilePurpose"] == "TxProfile" and payload["transactionId"] == 42


def test_ocpp16_names_the_station_maximum_charge_point_max():
    body = set_charging_profile_request("1.6", 0, SAMPLES[0])["csChargingProfiles"]
    assert body["chargingProfilePurpose"] == "ChargePointMaxProfile"
    assert from_ocpp16(body).purpose is Purpose.CHARGING_STATION_MAX


@pytest.mark.parametrize(
    "build",
    [
        lambda: profile(1, Purpose.TX, [(0, 16), (0, 10)]),
        lambda: profile(1, Purpose.TX, [(60, 16)]),
        lambda: profile(1, Purpose.TX, [(0, 16)], kind=Kind.RECURRING),
        lambda: profile(1, Purpose.TX_DEFAULT, [(0, 16)], transaction_id="1"),
        lambda: profile(1, Purpose.TX, [(0, -1)]),
        lambda: ChargingProfile(1, 0, Purpose.TX, Kind.ABSOLUTE, ChargingSchedule("A", (Period(0, Decimal(1)),))),
    ],
)
def test_profiles_that_break_the_specs_are_refused(build):
    with pytest.raises(ProfileError):
        build()


def test_external_constraints_do_not_exist_in_ocpp16():
    item = profile(9, Purpose.EXTERNAL_CONSTRAINTS, [(0, 20)])
    with pytest.raises(ProfileError, match="1.6"):
        set_charging_profile_request("1.6", 0, item)


def limits(schedule):
    return [(p.start_period, p.limit) for p in schedule.periods]


def test_max_32a_with_txdefault_16a_then_10a_from_1800():
    installed = [
        InstalledProfile(0, profile(1, Purpose.CHARGING_STATION_MAX, [(0, 32)])),
        InstalledProfile(0, profile(2, Purpose.TX_DEFAULT, [(0, 16), (18 * 3600, 10)], start=DAY)),
    ]
    result = composite_schedule(installed, evse_id=1, start=at(12), duration=12 * 3600)
    assert limits(result) == [(0, Decimal(16)), (6 * 3600, Decimal(10))]
    station = composite_schedule(installed, evse_id=0, start=at(12), duration=3600)
    assert limits(station) == [(0, Decimal(32))]
    payload = result.to_ocpp16()
    validate("1.6", "GetCompositeSchedule", payload, response=True, message_id="t")
    validate("2.0.1", "GetCompositeSchedule", result.to_ocpp201(), response=True, message_id="t")


def test_station_max_below_the_default_wins():
    installed = [
        InstalledProfile(0, profile(1, Purpose.CHARGING_STATION_MAX, [(0, 32), (19 * 3600, 8)])),
        InstalledProfile(1, profile(2, Purpose.TX_DEFAULT, [(0, 16), (18 * 3600, 10)])),
    ]
    result = composite_schedule(installed, evse_id=1, start=at(17), duration=3 * 3600)
    assert limits(result) == [(0, Decimal(16)), (3600, Decimal(10)), (7200, Decimal(8))]


def test_a_higher_stack_level_overrides_only_while_it_is_valid():
    installed = [
        InstalledProfile(0, profile(1, Purpose.TX_DEFAULT, [(0, 16)], stack=0)),
        InstalledProfile(0, profile(2, Purpose.TX_DEFAULT, [(0, 6)], stack=5, valid_from=at(8), valid_to=at(10))),
        InstalledProfile(0, profile(3, Purpose.TX_DEFAULT, [(0, 20)], stack=3, start=at(9), duration=3 * 3600)),
    ]
    result = composite_schedule(installed, evse_id=2, start=at(7), duration=7 * 3600)
    # 07-08 level 0 (16); 08-10 level 5 (6); 10-12 level 3 (20); 12-14 level 0 again (16)
    assert limits(result) == [(0, Decimal(16)), (3600, Decimal(6)), (3 * 3600, Decimal(20)), (5 * 3600, Decimal(16))]


def test_evse_specific_txdefault_beats_the_station_wide_one_at_equal_level():
    installed = [
        InstalledProfile(0, profile(1, Purpose.TX_DEFAULT, [(0, 16)])),
        InstalledProfile(2, profile(2, Purpose.TX_DEFAULT, [(0, 12)])),
    ]
    assert limits(composite_schedule(installed, evse_id=2, start=at(0), duration=60)) == [(0, Decimal(12))]
    assert limits(composite_schedule(installed, evse_id=1, start=at(0), duration=60)) == [(0, Decimal(16))]


def test_tx_profile_overrides_txdefault_only_during_its_transaction():
    tx = profile(5, Purpose.TX, [(0, 8), (1800, 24)], kind=Kind.RELATIVE, duration=3600, transaction_id="7")
    installed = [InstalledProfile(0, profile(1, Purpose.TX_DEFAULT, [(0, 16)])), InstalledProfile(1, tx)]
    running = ActiveTransaction(started=at(10), transaction_id="7")
    result = composite_schedule(installed, evse_id=1, start=at(9, 30), duration=7200, transaction=running)
    # before the transaction: TxDefault; then 8 A, 24 A for half an hour each; TxDefault after
    assert limits(result) == [(0, Decimal(16)), (1800, Decimal(8)), (3600, Decimal(24)), (5400, Decimal(16))]
    other = ActiveTransaction(started=at(10), transaction_id="8")
    assert limits(composite_schedule(installed, evse_id=1, start=at(10), duration=60, transaction=other)) == [(0, Decimal(16))]
    assert limits(composite_schedule(installed, evse_id=1, start=at(10), duration=60)) == [(0, Decimal(16))]


def test_recurring_daily_profile_crossing_midnight():
    night = profile(
        1, Purpose.TX_DEFAULT, [(0, 10), (4 * 3600, 32)], kind=Kind.RECURRING,
        recurrency=RecurrencyKind.DAILY, start=at(22, day=-5), duration=8 * 3600, stack=1,
    )
    installed = [InstalledProfile(0, night), InstalledProfile(0, profile(2, Purpose.TX_DEFAULT, [(0, 16)]))]
    result = composite_schedule(installed, evse_id=1, start=at(20), duration=12 * 3600)
    # 20-22 fallback 16; 22-02 10 A; 02-06 32 A; 06-08 fallback 16 (the recurrence has ended)
    assert limits(result) == [(0, Decimal(16)), (7200, Decimal(10)), (6 * 3600, Decimal(32)), (10 * 3600, Decimal(16))]
    assert result.limit_at(at(1, day=1)) == Decimal(10)


def test_weekly_recurrence_repeats_after_seven_days():
    weekly = profile(1, Purpose.CHARGING_STATION_MAX, [(0, 20)], kind=Kind.RECURRING, recurrency=RecurrencyKind.WEEKLY, start=at(0), duration=3600)
    result = composite_schedule([InstalledProfile(0, weekly)], evse_id=0, start=at(0, day=7), duration=7200, unlimited=Decimal(63))
    assert limits(result) == [(0, Decimal(20)), (3600, Decimal(63))]


def test_amps_and_watts_are_compared_through_voltage_and_phases():
    installed = [
        InstalledProfile(0, profile(1, Purpose.CHARGING_STATION_MAX, [(0, 11000)], unit="W")),
        InstalledProfile(0, profile(2, Purpose.TX_DEFAULT, [(0, 32), (3600, 10, 1)])),
    ]
    amps = composite_schedule(installed, evse_id=1, start=at(0), duration=7200, voltage=230, phases=3)
    # 11 kW / (230 V x 3) = 15.94 A -> 15.9; then 10 A on one phase
    assert [(p.start_period, p.limit, p.number_phases) for p in amps.periods] == [(0, Decimal("15.9"), None), (3600, Decimal(10), 1)]
    watts = composite_schedule(installed, evse_id=1, start=at(0), duration=7200, rate_unit=ChargingRateUnit.W, voltage=230)
    assert limits(watts) == [(0, Decimal(11000)), (3600, Decimal(2300))]


def test_without_any_profile_the_rating_is_reported_or_nothing():
    result = composite_schedule([], evse_id=1, start=at(0), duration=60)
    assert limits(result) == [(0, None)]
    with pytest.raises(ProfileError):
        result.to_ocpp16()
