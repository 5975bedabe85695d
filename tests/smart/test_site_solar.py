from datetime import datetime, time, timedelta, timezone
from decimal import Decimal

import pytest

from silkcharge.smart.site import (
    Circuit,
    PriceBand,
    Site,
    SiteError,
    TimeOfUsePrices,
    TimeSeries,
    kw_to_amps,
)
from silkcharge.smart.solar import PvArray, solar_position

ALMATY = PvArray(lat=43.24, lon=76.89, kwp=100, tilt=30, azimuth=180)


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def daily_kwh(array: PvArray, day: datetime) -> float:
    return sum(array.forecast(day, timedelta(minutes=15), 96).values) / 4 / 1000


def test_no_production_at_night():
    # 20:00 UTC is 01:00 in Almaty
    assert ALMATY.power_w(utc(2025, 6, 21, 20)) == 0.0
    assert ALMATY.power_w(utc(2025, 12, 21, 16)) == 0.0


def test_peak_is_near_solar_noon():
    # solar noon in Almaty is about 12:00 - 76.89 / 15 h = 06:52 UTC (give or take the equation of time)
    day = utc(2025, 6, 21)
    samples = [(ALMATY.power_w(day + timedelta(minutes=m)), m) for m in range(0, 24 * 60, 5)]
    best_minute = max(samples)[1]
    assert abs(best_minute - (12 * 60 - 76.89 * 4)) <= 20
    cos_z, azimuth = solar_position(43.24, 76.89, day + timedelta(minutes=best_minute))
    assert 160 < azimuth < 200 and cos_z > 0.9


def test_more_energy_in_june_than_in_december_in_almaty():
    june, december = daily_kwh(ALMATY, utc(2025, 6, 21)), daily_kwh(ALMATY, utc(2025, 12, 21))
    assert june > 1.5 * december > 0
    # a clear June day in Almaty: about 6-8 kWh per kWp
    assert 500 < june < 850


def test_peak_power_never_exceeds_the_peak_rating():
    assert max(ALMATY.forecast(utc(2025, 6, 21), timedelta(minutes=15), 96).values) <= 100_000


def site() -> Site:
    return Site(
        "depot",
        Circuit(
            "grid", 250,
            children=(
                Circuit("feeder-a", 160, children=(Circuit("cab-1", 63, evse_ids=("e1", "e2")),)),
                Circuit.in_kw("feeder-b", 44.16, evse_ids=("e3",)),
            ),
        ),
    )


def test_every_charger_inherits_every_limit_above_it():
    s = site()
    assert s.path("e1") == ("grid", "feeder-a", "cab-1")
    assert s.path("e3") == ("grid", "feeder-b")
    assert s.limits_a()["feeder-b"] == pytest.approx(64.0)
    assert kw_to_amps(22) == pytest.approx(31.88, abs=0.01)
    with pytest.raises(SiteError):
        s.path("nowhere")


def test_a_circuit_id_or_evse_used_twice_is_refused():
    with pytest.raises(SiteError):
        Site("x", Circuit("grid", 10, children=(Circuit("grid", 5),)))
    with pytest.raises(SiteError):
        Site("x", Circuit("grid", 10, evse_ids=("e",), children=(Circuit("c", 5, evse_ids=("e",)),)))


def test_time_of_use_prices_by_local_time_wrap_past_midnight():
    prices = TimeOfUsePrices(
        "KZT",
        (PriceBand(time(7), Decimal("30.5")), PriceBand(time(23), Decimal("12.1")), PriceBand(time(17), Decimal("45"))),
        utc_offset=timedelta(hours=5),
    )
    assert prices.price_at(utc(2025, 1, 1, 20)) == Decimal("12.1")  # 01:00 local
    assert prices.price_at(utc(2025, 1, 1, 5)) == Decimal("30.5")  # 10:00 local
    assert prices.price_at(utc(2025, 1, 1, 13)) == Decimal("45")  # 18:00 local


def test_time_series_is_zero_outside_and_averages_inside():
    series = TimeSeries(utc(2025, 1, 1), timedelta(hours=1), (100.0, 300.0))
    assert series.at(utc(2024, 12, 31, 23)) == 0.0 and series.at(utc(2025, 1, 1, 1, 30)) == 300.0
    assert series.mean(utc(2025, 1, 1, 0, 30), utc(2025, 1, 1, 1, 30)) == pytest.approx(200.0)
