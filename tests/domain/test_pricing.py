"""Pricing: one computation for search, charger and receipt, per OCPI 2.2.1 semantics."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from silkcharge.domain.money import Money, Price
from silkcharge.domain.pricing import (
    KeptSegments,
    MeterPoint,
    PricingError,
    SessionState,
    SessionTimeline,
    estimate,
    idle_intervals,
    price_reservation,
    price_session,
    price_text,
    unit_prices,
)
from silkcharge.domain.tariffs import (
    DayOfWeek,
    PriceComponent,
    Tariff,
    TariffDimensionType,
    TariffElement,
    TariffRestrictions,
)
from silkcharge.domain.vat import NoVatRate, UnknownCountry, load_vat_table, vat_rate

ALMATY = ZoneInfo("Asia/Almaty")
ENERGY, TIME, PARKING, FLAT = (
    TariffDimensionType.ENERGY,
    TariffDimensionType.TIME,
    TariffDimensionType.PARKING_TIME,
    TariffDimensionType.FLAT,
)


def pc(kind: TariffDimensionType, price: str, step: int = 1, **kw: object) -> PriceComponent:
    return PriceComponent(kind, Decimal(price), step_size=step, **kw)  # type: ignore[arg-type]


def kzt(amount: str) -> Money:
    return Money(amount, "KZT")


def local(y: int, mo: int, d: int, h: int, mi: int) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=ALMATY)


# Day (08:00-24:00) and night prices, parking and a session fee; VAT from the law of the day.
DAY_NIGHT = Tariff(
    id="almaty-day-night",
    currency="KZT",
    country_code="KZ",
    elements=(
        TariffElement(
            (pc(ENERGY, "80"), pc(TIME, "240", 60)),
            TariffRestrictions(start_time=time(8), end_time=time(0)),
        ),
        TariffElement((pc(ENERGY, "50"), pc(TIME, "120", 600))),
        TariffElement((pc(PARKING, "600", 300), pc(FLAT, "150"))),
    ),
)


def midnight_session(day: date) -> SessionTimeline:
    """Charging 23:20-00:37 local (30 kWh before midnight, 20 after), parked 00:37-00:55."""
    start = datetime.combine(day, time(23, 20), tzinfo=ALMATY)
    midnight = datetime.combine(day + timedelta(days=1), time(0), tzinfo=ALMATY)
    full = midnight + timedelta(minutes=37)
    leave = midnight + timedelta(minutes=55)
    meter = (
        MeterPoint(start, Decimal("1200.000"), Decimal(45)),
        MeterPoint(midnight, Decimal("1230.000"), Decimal(30)),
        MeterPoint(full, Decimal("1250.000"), Decimal(0)),
        MeterPoint(leave, Decimal("1250.000"), Decimal(0)),
    )
    return SessionTimeline(start, leave, meter, parking=((full, leave),))


def test_energy_time_parking_session_across_midnight_matches_hand_computation() -> None:
    # Hand computation, KZ VAT 16 % (session on 2026-03-10/11), amounts excl. VAT:
    #   energy, day element   30 kWh x 80        = 2400.00  VAT 384.00
    #   energy, night element 20 kWh x 50        = 1000.00  VAT 160.00
    #   time, day element     40 min x 240/h     =  160.00  VAT  25.60
    #   time, night element   37 min measured; the session's 77 charging minutes round up to
    #                         80 with the last element's 600 s step, so 40 min x 120/h
    #                                            =   80.00  VAT  12.80
    #   parking               18 min -> 20 min (300 s steps) x 600/h
    #                                            =  200.00  VAT  32.00
    #   session fee                              =  150.00  VAT  24.00
    #   total                                      3990.00  VAT 638.40  incl. 4628.40
    priced = price_session(DAY_NIGHT, "Asia/Almaty", midnight_session(date(2026, 3, 10)))
    costs = {(line.dimension, line.element_index): line.cost for line in priced.lines}
    assert costs[(ENERGY, 0)] == Price(kzt("2400.00"), kzt("2784.00"))
    assert costs[(ENERGY, 1)] == Price(kzt("1000.00"), kzt("1160.00"))
    assert costs[(TIME, 0)] == Price(kzt("160.00"), kzt("185.60"))
    assert costs[(TIME, 1)] == Price(kzt("80.00"), kzt("92.80"))
    assert costs[(PARKING, 2)] == Price(kzt("200.00"), kzt("232.00"))
    assert costs[(FLAT, 2)] == Price(kzt("150.00"), kzt("174.00"))
    assert priced.total_cost == Price(kzt("3990.00"), kzt("4628.40"))
    assert priced.total_energy_cost == Price(kzt("3400.00"), kzt("3944.00"))
    assert priced.total_time_cost == Price(kzt("240.00"), kzt("278.40"))
    assert priced.total_parking_cost == Price(kzt("200.00"), kzt("232.00"))
    assert priced.total_fixed_cost == Price(kzt("150.00"), kzt("174.00"))
    assert priced.total_energy == Decimal(50)
    assert (priced.total_time * 60).quantize(Decimal("0.000001")) == 77  # hours in OCPI
    assert (priced.total_parking_time * 60).quantize(Decimal("0.000001")) == 18


def test_tariff_change_at_midnight_splits_the_charging_period() -> None:
    priced = price_session(DAY_NIGHT, "Asia/Almaty", midnight_session(date(2026, 3, 10)))
    starts = [p.start_date_time.astimezone(ALMATY) for p in priced.charging_periods]
    assert starts == [local(2026, 3, 10, 23, 20), local(2026, 3, 11, 0, 0),
                      local(2026, 3, 11, 0, 37)]
    assert [p.state for p in priced.charging_periods] == [
        SessionState.CHARGING, SessionState.CHARGING, SessionState.PARKING]
    first, second, _ = priced.charging_periods
    assert first.volume("ENERGY") == 30 and second.volume("ENERGY") == 20
    assert first.volume("MAX_POWER") == 45 and second.volume("MAX_POWER") == 30
    assert all(p.tariff_id == "almaty-day-night" for p in priced.charging_periods)


def test_kz_vat_is_12_percent_before_2026_and_16_percent_after() -> None:
    before = price_session(DAY_NIGHT, "Asia/Almaty", midnight_session(date(2025, 3, 10)))
    after = price_session(DAY_NIGHT, "Asia/Almaty", midnight_session(date(2026, 3, 10)))
    assert before.total_cost == Price(kzt("3990.00"), kzt("4468.80"))
    assert after.total_cost == Price(kzt("3990.00"), kzt("4628.40"))


def test_session_across_new_year_takes_the_vat_of_its_end_date() -> None:
    priced = price_session(DAY_NIGHT, "Asia/Almaty", midnight_session(date(2025, 12, 31)))
    assert priced.vat_date == date(2026, 1, 1)
    assert {line.vat_rate for line in priced.lines} == {Decimal(16)}


def test_vat_table_knows_the_region_with_sources_and_confidence() -> None:
    assert vat_rate("KZ", date(2025, 12, 31)) == 12
    assert vat_rate("KZ", date(2026, 1, 1)) == 16
    # 19:30 UTC on 31 December is already 00:30 on 1 January in Almaty.
    assert vat_rate("KZ", datetime(2025, 12, 31, 19, 30, tzinfo=timezone.utc)) == 16
    assert vat_rate("UZ", date(2025, 6, 1)) == 12
    assert vat_rate("TJ", date(2025, 6, 1)) == 14
    assert vat_rate("TM", date(2025, 6, 1)) == 15
    table = load_vat_table()
    assert table.entry("KG", date(2025, 6, 1)).confidence == "low"
    for rates in table.rates.values():
        assert all(r.source and r.confidence in {"high", "medium", "low"} for r in rates)
    with pytest.raises(UnknownCountry, match="'FR'"):
        vat_rate("FR", date(2025, 1, 1))
    with pytest.raises(NoVatRate):
        vat_rate("UZ", date(2010, 1, 1))


# OCPI 2.2.1 step_size example: TIME 1.20/h before 17:00 (1800 s steps), 2.40/h from 17:00
# (900 s steps), PARKING_TIME 1.00/h before 20:00 (900 s steps); no VAT.
STEP_EXAMPLE = Tariff(
    id="ocpi-step-example",
    currency="EUR",
    elements=(
        TariffElement((pc(TIME, "1.20", 1800, vat=None),), TariffRestrictions(end_time=time(17))),
        TariffElement((pc(TIME, "2.40", 900, vat=None),), TariffRestrictions(start_time=time(17))),
        TariffElement((pc(PARKING, "1.00", 900, vat=None),), TariffRestrictions(end_time=time(20))),
    ),
)


def test_step_size_rounds_the_session_total_with_the_last_element_spec_example_2() -> None:
    # Plug in 16:35, charge 35 minutes: 25 min at 1.20/h = 0.50; the 35 minutes round up to
    # 45 with the last element's 15-minute step, so 20 min at 2.40/h = 0.80. Total 1.30.
    priced = estimate(STEP_EXAMPLE, Decimal(10), 35, local(2026, 3, 2, 16, 35))
    assert priced.total_cost.excl_vat == Money("1.30", "EUR")
    after = next(line for line in priced.lines if line.element_index == 1)
    assert (after.measured, after.billed) == (Decimal(600), Decimal(1200))


def test_step_size_of_the_element_left_behind_rounds_its_run_spec_free_parking_example() -> None:
    # 19:55, charge 10 minutes (0.40 at 2.40/h, rounded to 15 min: 0.60), then park 2 minutes
    # after 20:00, when parking is free: total 0.60.
    priced = estimate(STEP_EXAMPLE, Decimal(5), 10, local(2026, 3, 2, 19, 55), parking_minutes=2)
    assert priced.total_cost.excl_vat == Money("0.60", "EUR")


def test_spec_example_energy_start_fee_and_parking_in_15_minute_blocks() -> None:
    # OCPI: 0.25/kWh (10 % VAT) + 0.50 start (20 %) + 2.00/h parking per 15 min (20 %);
    # 20 kWh and 40 minutes parked: 7.00 excl. VAT, 7.90 incl. VAT.
    spec = Tariff(
        id="ocpi-10",
        currency="EUR",
        elements=(
            TariffElement((pc(FLAT, "0.50", vat=Decimal(20)),)),
            TariffElement((pc(ENERGY, "0.25", vat=Decimal(10)),)),
            TariffElement((pc(PARKING, "2.00", 900, vat=Decimal(20)),)),
        ),
    )
    priced = estimate(spec, 20, 60, local(2026, 3, 2, 10, 0), parking_minutes=40)
    assert priced.total_cost == Price(Money("7.00", "EUR"), Money("7.90", "EUR"))


def test_energy_step_size_is_in_wh() -> None:
    per_100_wh = Tariff(id="e", currency="EUR",
                        elements=(TariffElement((pc(ENERGY, "0.25", 100, vat=None),)),))
    priced = estimate(per_100_wh, Decimal("20.45"), 60, local(2026, 3, 2, 10, 0))
    assert priced.lines[0].billed == Decimal("20.5")
    assert priced.total_cost.excl_vat == Money("5.13", "EUR")  # 5.125 rounded half up


def test_max_price_bounds_excl_and_incl_vat_spec_example() -> None:
    capped = Tariff(
        id="ocpi-6", currency="EUR",
        max_price=Price(Money("10.00", "EUR"), Money("11.00", "EUR")),
        elements=(TariffElement((pc(FLAT, "0.50", vat=Decimal(20)),
                                 pc(ENERGY, "0.25", vat=Decimal(10))),),),
    )
    at = local(2026, 3, 2, 10, 0)
    assert estimate(capped, 50, 60, at).total_cost == Price(Money("10.00", "EUR"),
                                                            Money("11.00", "EUR"))
    below = estimate(capped, 30, 60, at)
    assert below.total_cost == Price(Money("8.00", "EUR"), Money("8.85", "EUR"))
    assert below.price_limit is None


def test_min_price_raises_a_tiny_session() -> None:
    t = Tariff(id="m", currency="KZT", country_code="KZ",
               min_price=Price(kzt("300"), kzt("348")),
               elements=(TariffElement((pc(ENERGY, "80"),)),))
    priced = estimate(t, 1, 5, local(2026, 3, 2, 10, 0))
    assert priced.total_cost == Price(kzt("300"), kzt("348"))
    assert priced.price_limit == "min_price"


def test_vat_included_tariff_charges_exactly_the_posted_gross_price() -> None:
    gross = Tariff(id="g", currency="KZT", country_code="KZ", vat_included=True,
                   elements=(TariffElement((pc(ENERGY, "100"),)),))
    priced = estimate(gross, 20, 30, local(2026, 3, 2, 10, 0))
    # 2000.00 incl. 16 % VAT: VAT = 2000 x 16/116 = 275.86, excl. 1724.14.
    assert priced.total_cost == Price(kzt("1724.14"), kzt("2000.00"))


def test_max_power_restriction_prices_energy_by_present_power_spec_example() -> None:
    # 0.20/kWh below 16 kW, 0.35 from 16 to 32 kW, 0.50 otherwise: 1 kWh at 6 kW, 40 kWh at
    # 48 kW, 0.5 kWh at 4 kW = 0.20 + 20.00 + 0.10 = 20.30.
    t = Tariff(id="p", currency="EUR", elements=(
        TariffElement((pc(ENERGY, "0.20", vat=None),), TariffRestrictions(max_power=16)),
        TariffElement((pc(ENERGY, "0.35", vat=None),), TariffRestrictions(max_power=32)),
        TariffElement((pc(ENERGY, "0.50", vat=None),)),
    ))
    t0 = datetime(2026, 3, 2, 8, tzinfo=timezone.utc)
    meter = (
        MeterPoint(t0, Decimal(0), Decimal(6)),
        MeterPoint(t0 + timedelta(minutes=10), Decimal(1), Decimal(48)),
        MeterPoint(t0 + timedelta(minutes=60), Decimal(41), Decimal(4)),
        MeterPoint(t0 + timedelta(minutes=67, seconds=30), Decimal("41.5"), Decimal(4)),
    )
    timeline = SessionTimeline(t0, meter[-1].at, meter)
    assert price_session(t, "Asia/Almaty", timeline).total_cost.excl_vat == Money("20.30", "EUR")


def test_max_duration_restriction_first_30_minutes_free_spec_example() -> None:
    t = Tariff(id="d", currency="EUR", elements=(
        TariffElement((pc(ENERGY, "0", vat=None),), TariffRestrictions(max_duration=1800)),
        TariffElement((pc(ENERGY, "0.25", vat=None),), TariffRestrictions(max_duration=3600)),
        TariffElement((pc(ENERGY, "0.40", vat=None),)),
    ))
    t0 = datetime(2026, 3, 2, 8, tzinfo=timezone.utc)
    meter = (MeterPoint(t0, Decimal(0)), MeterPoint(t0 + timedelta(minutes=30), Decimal(5)),
             MeterPoint(t0 + timedelta(minutes=40), Decimal("6.2")))
    priced = price_session(t, "UTC", SessionTimeline(t0, meter[-1].at, meter))
    assert priced.total_cost.excl_vat == Money("0.30", "EUR")


def test_kwh_restriction_splits_at_the_crossing_instant() -> None:
    t = Tariff(id="k", currency="KZT", country_code="KZ", elements=(
        TariffElement((pc(ENERGY, "90"),), TariffRestrictions(max_kwh=20)),
        TariffElement((pc(ENERGY, "60"),)),
    ))
    priced = estimate(t, 50, 60, local(2026, 3, 2, 10, 0))
    assert priced.total_energy_cost.excl_vat == kzt("3600.00")  # 20 x 90 + 30 x 60


def test_day_of_week_restriction_applies_in_local_time() -> None:
    weekend = Tariff(id="w", currency="KZT", country_code="KZ", elements=(
        TariffElement((pc(ENERGY, "40"),),
                      TariffRestrictions(day_of_week=frozenset({DayOfWeek.SATURDAY,
                                                                DayOfWeek.SUNDAY}))),
        TariffElement((pc(ENERGY, "80"),)),
    ))
    # Saturday 00:30 in Almaty is still Friday in UTC.
    saturday = estimate(weekend, 10, 20, local(2026, 3, 7, 0, 30))
    friday = estimate(weekend, 10, 20, local(2026, 3, 6, 12, 0))
    assert saturday.total_energy_cost.excl_vat == kzt("400.00")
    assert friday.total_energy_cost.excl_vat == kzt("800.00")


def test_estimate_is_price_session_on_a_synthetic_timeline() -> None:
    start = local(2026, 3, 10, 23, 20)
    by_estimate = estimate(DAY_NIGHT, 50, 77, start, parking_minutes=18)
    by_session = price_session(DAY_NIGHT, "Asia/Almaty", midnight_session(date(2026, 3, 10)))
    # Same energy, durations and midnight; the estimate spreads energy evenly, so only the
    # energy split differs: 40 min x 50/77 kWh/min before midnight.
    assert by_estimate.total_time_cost == by_session.total_time_cost
    assert by_estimate.total_parking_cost == by_session.total_parking_cost
    assert by_estimate.total_fixed_cost == by_session.total_fixed_cost


def test_idle_intervals_come_from_power_dropping_to_zero() -> None:
    t0 = datetime(2026, 3, 2, 8, tzinfo=timezone.utc)
    meter = [MeterPoint(t0, Decimal(0), Decimal(50)),
             MeterPoint(t0 + timedelta(minutes=40), Decimal(33), Decimal(0)),
             MeterPoint(t0 + timedelta(minutes=50), Decimal(33), Decimal(0))]
    end = t0 + timedelta(minutes=55)
    assert idle_intervals(meter, end) == ((t0 + timedelta(minutes=40), end),)


def test_bad_timelines_are_refused_with_a_reason() -> None:
    t0 = datetime(2026, 3, 2, 8, tzinfo=timezone.utc)
    with pytest.raises(PricingError, match="backwards"):
        SessionTimeline(t0, t0 + timedelta(hours=1),
                        (MeterPoint(t0, Decimal(5)),
                         MeterPoint(t0 + timedelta(hours=1), Decimal(4))))
    with pytest.raises(PricingError, match="naive"):
        SessionTimeline(datetime(2026, 3, 2), datetime(2026, 3, 2, 1), ())
    with pytest.raises(PricingError, match="before it starts"):
        SessionTimeline(t0, t0 - timedelta(hours=1), ())
    with pytest.raises(PricingError, match="0 minutes"):
        estimate(DAY_NIGHT, 10, 0, local(2026, 3, 2, 10, 0))


def test_a_timeline_made_in_order_equals_the_checked_one_and_still_refuses_a_bad_span() -> None:
    """`SessionTimeline.in_order` (billing's growing timeline) trusts its readings' order, not
    the rest: the same timeline as the checked constructor's, and the same refusals of a span."""
    t0 = datetime(2026, 3, 2, 8, tzinfo=timezone.utc)
    meter = (MeterPoint(t0, Decimal(0), Decimal(50)), MeterPoint(t0 + timedelta(minutes=40), Decimal(33), Decimal(0)))
    parking = ((t0 + timedelta(minutes=40), t0 + timedelta(minutes=50)),)
    end = t0 + timedelta(minutes=50)
    assert SessionTimeline.in_order(t0, end, meter, parking) == SessionTimeline(t0, end, meter, parking)
    with pytest.raises(PricingError, match="before it starts"):
        SessionTimeline.in_order(t0, t0 - timedelta(hours=1), ())
    with pytest.raises(PricingError, match="overlaps"):
        SessionTimeline.in_order(t0, end, meter, ((t0 + timedelta(minutes=40), end + timedelta(minutes=5)),))
    with pytest.raises(PricingError, match="naive"):
        SessionTimeline.in_order(datetime(2026, 3, 2), datetime(2026, 3, 2, 1), ())


def test_reservation_fee_and_no_show_fee() -> None:
    t = Tariff(id="r", currency="KZT", country_code="KZ", elements=(
        TariffElement((pc(FLAT, "200"), pc(TIME, "300", 300)),
                      TariffRestrictions(reservation="RESERVATION")),  # type: ignore[arg-type]
        TariffElement((pc(FLAT, "500"),),
                      TariffRestrictions(
                          reservation="RESERVATION_EXPIRES")),  # type: ignore[arg-type]
        TariffElement((pc(ENERGY, "80"),)),
    ))
    made = local(2026, 3, 2, 10, 0)
    used = price_reservation(t, made, made + timedelta(minutes=13), expired=False,
                             time_zone="Asia/Almaty")
    # 200 fee + 15 min (13 rounded to 300 s steps) x 300/h = 275.00 excl., 319.00 incl. 16 %.
    assert used.total_cost == Price(kzt("275.00"), kzt("319.00"))
    no_show = price_reservation(t, made, made + timedelta(minutes=30), expired=True,
                                time_zone="Asia/Almaty")
    # 200 + 500 no-show fee + 30 min x 300/h = 850.00 excl.
    assert no_show.total_cost.excl_vat == kzt("850.00")
    # A reservation element never prices the charging session itself.
    assert estimate(t, 10, 20, made).total_cost.excl_vat == kzt("800.00")


# --- properties -----------------------------------------------------------------------------

prices = st.integers(min_value=0, max_value=500).map(Decimal)
hours = st.integers(min_value=0, max_value=23).map(lambda h: time(h))


@st.composite
def restrictions(draw: st.DrawFn) -> TariffRestrictions | None:
    """Restrictions that depend on the clock and elapsed time only (see the docs on why
    kWh and power restrictions can make more energy cheaper)."""
    kind = draw(st.sampled_from(["none", "clock", "days", "duration"]))
    if kind == "clock":
        start, end = draw(hours), draw(hours)
        return TariffRestrictions(start_time=start, end_time=end) if start != end else None
    if kind == "days":
        days = draw(st.sets(st.sampled_from(list(DayOfWeek)), min_size=1))
        return TariffRestrictions(day_of_week=frozenset(days))
    if kind == "duration":
        low = draw(st.integers(0, 7200))
        return TariffRestrictions(min_duration=low, max_duration=low + draw(st.integers(1, 7200)))
    return None


@st.composite
def tariffs(draw: st.DrawFn) -> Tariff:
    elements = []
    for _ in range(draw(st.integers(0, 3))):
        kinds = draw(st.sets(st.sampled_from([ENERGY, TIME, PARKING, FLAT]), min_size=1))
        elements.append(TariffElement(tuple(pc(k, str(draw(prices))) for k in sorted(kinds)),
                                      draw(restrictions())))
    fallback = tuple(pc(k, str(draw(prices))) for k in (ENERGY, TIME, PARKING))
    elements.append(TariffElement(fallback))
    return Tariff(id="prop", currency="KZT", country_code="KZ", elements=tuple(elements),
                  vat_included=draw(st.booleans()))


@st.composite
def single_element_tariffs(draw: st.DrawFn) -> Tariff:
    """One element per dimension, with any step sizes."""
    steps = st.integers(0, 3600)
    return Tariff(id="prop-steps", currency="KZT", country_code="KZ", elements=(
        TariffElement((pc(ENERGY, str(draw(prices)), draw(steps)),
                       pc(TIME, str(draw(prices)), draw(steps)),
                       pc(PARKING, str(draw(prices)), draw(steps)),
                       pc(FLAT, str(draw(prices))))),
    ))


starts = st.builds(
    lambda day, minute: local(2026, 3, 2, 0, 0) + timedelta(days=day, minutes=minute),
    st.integers(0, 6), st.integers(0, 24 * 60 - 1),
)
any_tariff = st.one_of(tariffs(), single_element_tariffs())


def cost(t: Tariff, wh: int, minutes: int, start: datetime, parked: int = 0) -> Price:
    return estimate(t, Decimal(wh) / 1000, minutes, start, parking_minutes=parked).total_cost


@settings(max_examples=60, deadline=None)
@given(any_tariff, starts, st.integers(1, 600), st.integers(0, 150_000), st.integers(0, 50_000))
def test_cost_is_monotone_in_energy(t: Tariff, start: datetime, minutes: int, wh: int,
                                    more: int) -> None:
    less_cost, more_cost = cost(t, wh, minutes, start), cost(t, wh + more, minutes, start)
    assert less_cost.excl_vat <= more_cost.excl_vat
    assert less_cost.incl_vat <= more_cost.incl_vat


@settings(max_examples=60, deadline=None)
@given(any_tariff, starts, st.integers(0, 2000), st.integers(1, 600), st.integers(0, 300))
def test_cost_is_monotone_in_charging_time(t: Tariff, start: datetime, wh_per_minute: int,
                                           minutes: int, more: int) -> None:
    shorter = cost(t, wh_per_minute * minutes, minutes, start)
    longer = cost(t, wh_per_minute * (minutes + more), minutes + more, start)
    assert shorter.excl_vat <= longer.excl_vat
    assert shorter.incl_vat <= longer.incl_vat


@settings(max_examples=60, deadline=None)
@given(any_tariff, starts, st.integers(1, 300), st.integers(0, 300), st.integers(0, 300))
def test_cost_is_monotone_in_parking_time(t: Tariff, start: datetime, minutes: int,
                                          parked: int, more: int) -> None:
    shorter = cost(t, 20_000, minutes, start, parked)
    longer = cost(t, 20_000, minutes, start, parked + more)
    assert shorter.incl_vat <= longer.incl_vat


@settings(max_examples=60, deadline=None)
@given(any_tariff, starts, st.integers(0, 600), st.integers(0, 150_000), st.integers(0, 300))
def test_cost_is_never_negative(t: Tariff, start: datetime, minutes: int, wh: int,
                                parked: int) -> None:
    total = cost(t, wh if minutes else 0, minutes, start, parked)
    assert total.excl_vat.amount >= 0
    assert total.incl_vat is not None and total.incl_vat >= total.excl_vat


def test_ocpi_step_rule_can_make_a_longer_session_cheaper_when_the_last_step_shrinks() -> None:
    # Documented consequence of OCPI's "last element's step_size" rule (docs/tariffs.md): 29
    # minutes at an hourly-stepped day rate bill a full hour; 31 minutes end in the per-minute
    # evening element, whose step rounds the total instead.
    t = Tariff(id="n", currency="KZT", elements=(
        TariffElement((pc(TIME, "1200", 3600, vat=None),), TariffRestrictions(end_time=time(17))),
        TariffElement((pc(TIME, "60", 60, vat=None),)),
    ))
    start = local(2026, 3, 2, 16, 30)
    assert estimate(t, 0, 29, start).total_cost.excl_vat == kzt("1200.00")
    assert estimate(t, 0, 31, start).total_cost.excl_vat == kzt("601.00")


def test_unit_prices_follow_the_element_in_force_at_that_instant() -> None:
    # The DAY_NIGHT session: before midnight the day element (80/kWh, 240/h), after it the
    # night one (50/kWh, 120/h); parking 600/h and the 150 session fee throughout; + 16 % VAT.
    session = midnight_session(date(2026, 3, 10))
    day = unit_prices(DAY_NIGHT, ALMATY, session, session.start + timedelta(minutes=10))
    night = unit_prices(DAY_NIGHT, ALMATY, session)
    assert (day.per_kwh, day.per_hour, day.flat) == (Decimal("92.80"), Decimal("278.40"), Decimal("174.00"))
    assert (night.per_kwh, night.per_hour) == (Decimal("58.00"), Decimal("139.20"))
    assert night.parking_per_hour == Decimal("696.00")
    assert price_text(day) == (
        "92.80 KZT/kWh, 278.40 KZT/h charging, 174.00 KZT per session, parking 696.00 KZT/h (incl. VAT)"
    )


def test_price_text_keeps_a_unit_price_finer_than_the_minor_unit() -> None:
    t = Tariff(id="fine", currency="USD", elements=(TariffElement((pc(ENERGY, "0.2534", vat=None),)),))
    prices = unit_prices(t, "UTC", SessionTimeline(
        datetime(2026, 1, 5, 10, tzinfo=timezone.utc), datetime(2026, 1, 5, 11, tzinfo=timezone.utc), ()))
    assert price_text(prices) == "0.2534 USD/kWh (incl. VAT)"  # no VAT on this one


@st.composite
def metered_restrictions(draw: st.DrawFn) -> TariffRestrictions | None:
    """Besides the clock and elapsed time: energy so far and power, which cut a session where
    its register crosses a threshold and at every reading."""
    kind = draw(st.sampled_from(["clock", "duration", "kwh", "power"]))
    if kind == "kwh":
        low = Decimal(draw(st.integers(0, 40)))
        return TariffRestrictions(min_kwh=low, max_kwh=low + draw(st.integers(1, 40)))
    if kind == "power":
        return TariffRestrictions(min_power=Decimal(draw(st.integers(0, 60))))
    return draw(restrictions())


@st.composite
def growing_tariffs(draw: st.DrawFn) -> Tariff:
    steps = st.sampled_from([1, 60, 300, 1000, 3600])
    elements = [TariffElement(tuple(pc(k, str(draw(prices)), draw(steps)) for k in (ENERGY, TIME, PARKING)),
                              draw(metered_restrictions())) for _ in range(draw(st.integers(0, 3)))]
    elements.append(TariffElement(tuple(pc(k, str(draw(prices)), draw(steps)) for k in (ENERGY, TIME, PARKING, FLAT))))
    return Tariff(id="grow", currency="KZT", country_code="KZ", elements=tuple(elements),
                  vat_included=draw(st.booleans()))


readings = st.lists(st.tuples(
    st.integers(0, 180),  # minutes after the previous reading (0: a second reading at that instant)
    st.integers(0, 20_000),  # Wh since the previous reading
    st.one_of(st.none(), st.integers(0, 150)),  # kW reported, 0 = idle (parking)
), min_size=1, max_size=30)


@settings(max_examples=150, deadline=None)
@given(growing_tariffs(), starts, readings, st.lists(st.integers(0, 29), max_size=3), st.integers(0, 30))
def test_a_growing_session_priced_with_its_kept_segments_costs_what_a_whole_pricing_does(
        t: Tariff, start: datetime, steps: list, rewound: list[int], changed: int) -> None:
    # A running cost prices the session after each reading with the segments it kept from the
    # last pricing; the receipt prices it whole. Every growth, and a session whose history
    # changed (a late reading: `rewound` prices an earlier prefix again), costs the same both ways.
    points, at, wh = [MeterPoint(start, Decimal(0), None)], start, 0
    for minutes, more, kw in steps:
        at, wh = at + timedelta(minutes=minutes), wh + more
        points.append(MeterPoint(at, Decimal(wh) / 1000, None if kw is None else Decimal(kw)))
    prefixes = list(range(1, len(points) + 1))
    for n in rewound:
        prefixes.insert(min(n, len(prefixes)), max(1, n % len(points)))
    kept = KeptSegments()

    def same_both_ways(meter: tuple[MeterPoint, ...], parking=None) -> None:
        end = meter[-1].at
        timeline = SessionTimeline(start, end, meter, idle_intervals(meter, end) if parking is None else parking)
        assert price_session(t, ALMATY, timeline, kept=kept) == price_session(t, ALMATY, timeline)

    for n in prefixes:
        same_both_ways(tuple(points[:n]))
    # Then the history changes before the kept end while the session goes on: a reading's
    # power told otherwise, and the same readings with no parking at all.
    edited = list(points)
    index = changed % len(edited)
    edited[index] = MeterPoint(edited[index].at, edited[index].energy_kwh,
                               Decimal(0) if edited[index].power_kw else Decimal(77))
    same_both_ways(tuple(edited) + (MeterPoint(at + timedelta(minutes=5), Decimal(wh + 1) / 1000, None),))
    same_both_ways(tuple(points))
    same_both_ways(tuple(points) + (MeterPoint(at + timedelta(minutes=9), Decimal(wh + 2) / 1000, None),), ())
