"""Exchange rates kept per tenant, on SQLite and PostgreSQL: entered once per pair and day, chosen
for a session's day, refused when missing or stale. Rates are test values, not any bank's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker

from silkcharge.domain.exchange import InvalidRate, NoRate, StaleRate
from silkcharge.domain.money import Money, Price
from silkcharge.services.exchange_rates import DuplicateRate, ExchangeRates, RateQuery
from silkcharge.store.db import create_engine_for, sessionmaker_for
from silkcharge.store.schema import Tenant
from silkcharge.store.tenancy import tenant_scope

NOW = datetime(2026, 3, 10, 20, 30, tzinfo=timezone.utc)


@pytest.fixture
async def sessions(database_url) -> AsyncIterator[async_sessionmaker]:
    engine = create_engine_for(database_url)
    try:
        yield sessionmaker_for(engine)
    finally:
        await engine.dispose()


@pytest.fixture
def rates(sessions) -> ExchangeRates:
    return ExchangeRates(sessions, max_age_days=7, clock=lambda: NOW)


async def enter(rates: ExchangeRates, frm: str, to: str, value: str, on: date, **extra):
    return await rates.record(from_currency=frm, to_currency=to, rate=value, valid_on=on,
                              source="test value", entered_by="key:1:tester", **extra)


async def test_a_rate_is_kept_exactly_as_entered_and_listed_by_pair_and_days(rates) -> None:
    await enter(rates, "UZS", "USD", "0.000078512345", date(2026, 3, 9))
    await enter(rates, "KZT", "UZS", "20.5", date(2026, 3, 10))
    await enter(rates, "KZT", "UZS", "20", date(2026, 3, 2))
    listed = await rates.find(RateQuery())
    assert [(r.pair(), r.valid_on.day) for r in listed] == [("KZT→UZS", 10), ("UZS→USD", 9), ("KZT→UZS", 2)]
    assert listed[1].rate == Decimal("0.000078512345")  # twelve places survive NUMERIC(22, 12)
    assert (listed[0].source, listed[0].entered_by, listed[0].entered_at) == ("test value", "key:1:tester", NOW)
    window = await rates.find(RateQuery(from_currency="kzt", since=date(2026, 3, 3), until=date(2026, 3, 10)))
    assert [r.rate for r in window] == [Decimal("20.5")]


async def test_a_second_rate_for_the_same_pair_and_day_is_refused(rates) -> None:
    await enter(rates, "KZT", "UZS", "20", date(2026, 3, 10))
    with pytest.raises(DuplicateRate, match=r"KZT→UZS rate for 2026-03-10 is already entered \(20 from test value\)"):
        await enter(rates, "KZT", "UZS", "21", date(2026, 3, 10))
    await enter(rates, "UZS", "KZT", "0.05", date(2026, 3, 10))  # the other direction is another pair


async def test_a_rate_for_a_day_past_tomorrow_is_refused(rates) -> None:
    await enter(rates, "KZT", "UZS", "20", date(2026, 3, 11))  # tomorrow (UTC): published a day ahead
    with pytest.raises(InvalidRate, match="2026-03-12 is in the future"):
        await enter(rates, "KZT", "UZS", "20", date(2026, 3, 12))
    with pytest.raises(InvalidRate, match="positive"):
        await enter(rates, "KZT", "UZS", "0", date(2026, 3, 10))
    with pytest.raises(InvalidRate, match="unknown currency"):
        await enter(rates, "KZT", "ABC", "1", date(2026, 3, 10))
    assert await rates.find(RateQuery()) != []


async def test_a_session_uses_the_latest_rate_on_or_before_its_day(rates) -> None:
    await enter(rates, "KZT", "UZS", "20", date(2026, 3, 2))
    await enter(rates, "KZT", "UZS", "22", date(2026, 3, 6))
    await enter(rates, "KZT", "UZS", "25", date(2026, 3, 9))
    applied = await rates.rate_on("KZT", "UZS", date(2026, 3, 8))
    assert (applied.factor, applied.valid_on) == (Decimal(22), date(2026, 3, 6))
    converted = await rates.convert(Price(Money("100.00", "KZT"), Money("116.00", "KZT")), "UZS", date(2026, 3, 8))
    assert converted.converted == Price(Money("2200.00", "UZS"), Money("2552.00", "UZS"))


async def test_a_missing_or_stale_rate_is_refused_naming_the_pair_and_day(rates) -> None:
    with pytest.raises(NoRate, match="KZT→UZS valid on or before 2026-03-10"):
        await rates.rate_on("KZT", "UZS", date(2026, 3, 10))
    await enter(rates, "KZT", "UZS", "20", date(2026, 3, 1))
    assert (await rates.rate_on("KZT", "UZS", date(2026, 3, 8))).factor == 20
    with pytest.raises(StaleRate, match="2026-03-09 is of 2026-03-01, more than 7 days older"):
        await rates.rate_on("KZT", "UZS", date(2026, 3, 9))


async def test_the_other_direction_is_used_only_when_the_operator_allowed_it(rates) -> None:
    await enter(rates, "UZS", "KZT", "0.04", date(2026, 3, 9))
    with pytest.raises(NoRate):
        await rates.rate_on("KZT", "UZS", date(2026, 3, 10))
    await enter(rates, "UZS", "KZT", "0.05", date(2026, 3, 10), inverse_allowed=True)
    applied = await rates.rate_on("KZT", "UZS", date(2026, 3, 10))
    assert applied.inverted and applied.factor == 20 and applied.entered.rate == Decimal("0.05")


async def test_each_tenant_sees_and_uses_only_its_own_rates(rates, sessions) -> None:
    async with sessions() as session:
        session.add(Tenant(id=2, code="beta", name="Beta"))
        await session.commit()
    with tenant_scope(1):
        await enter(rates, "KZT", "UZS", "20", date(2026, 3, 10))
    with tenant_scope(2):
        assert await rates.find(RateQuery()) == []
        with pytest.raises(NoRate):
            await rates.rate_on("KZT", "UZS", date(2026, 3, 10))
        await enter(rates, "KZT", "UZS", "30", date(2026, 3, 10))  # its own, for the same day
        assert (await rates.rate_on("KZT", "UZS", date(2026, 3, 10))).factor == 30
    with tenant_scope(1):
        assert (await rates.rate_on("KZT", "UZS", date(2026, 3, 10))).factor == 20
