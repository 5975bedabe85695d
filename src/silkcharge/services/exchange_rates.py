"""The exchange rates a tenant's operators enter, and conversions with them.

An operator records a rate for a currency pair and a day, with its source (the national bank's
published rate, say); silkcharge never fetches or invents one. A conversion for a session's
day uses the latest rate valid on or before that day (domain/exchange.py `choose_rate`: an
inverse only where the operator allowed it) and is refused, naming the pair and the day, when
there is none or when the latest is more than `exchange_rate_max_age_days` older.

Rates are kept as entered: one per pair and day in a tenant, never changed, because receipts
name the rate they used. The table belongs to the tenant in scope (store/tenancy.py), so each
tenant sees and uses only its own rates.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from silkcharge.domain.clock import utcnow
from silkcharge.domain.exchange import (
    AppliedRate,
    ConvertedTotal,
    ExchangeRate,
    InvalidRate,
    check_currency,
    choose_rate,
    convert_price,
)
from silkcharge.domain.money import Price
from silkcharge.store.schema import ExchangeRateRecord

__all__ = ["DuplicateRate", "ExchangeRates", "RateQuery"]

FUTURE_DAYS = 1
"""How far past today (UTC) a rate's day may be: banks publish tomorrow's rate today, and in
the region's time zones (UTC+5, UTC+6) the local date is often the UTC date plus one."""


class DuplicateRate(ValueError):
    """A rate for the same pair and day is already entered."""


@dataclass(frozen=True)
class RateQuery:
    """Which entered rates to list: a pair or one side of it, a range of days (both ends in)."""

    from_currency: str | None = None
    to_currency: str | None = None
    since: date | None = None
    until: date | None = None
    limit: int = 100


def _rate(row: ExchangeRateRecord) -> ExchangeRate:
    return ExchangeRate(
        from_currency=row.from_currency, to_currency=row.to_currency, rate=row.rate, valid_on=row.valid_on,
        source=row.source, entered_by=row.entered_by, entered_at=row.entered_at,
        inverse_allowed=row.inverse_allowed,
    )


class ExchangeRates:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], max_age_days: int,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self._sessions = sessions
        self._max_age_days = max_age_days
        self._clock = clock

    async def record(self, *, from_currency: str, to_currency: str, rate: Decimal | str, valid_on: date,
                     source: str, entered_by: str, inverse_allowed: bool = False) -> ExchangeRate:
        """Keep a rate for the tenant in scope; InvalidRate for a value that cannot be a rate
        (and for a day past tomorrow), DuplicateRate if the pair has one for that day."""
        now = self._clock()
        entered = ExchangeRate(from_currency, to_currency, rate, valid_on, source, entered_by[:200], now,
                               inverse_allowed)
        latest = now.date() + timedelta(days=FUTURE_DAYS)
        if valid_on > latest:
            raise InvalidRate(f"valid_on {valid_on.isoformat()} is in the future: a rate may be entered "
                              f"for {latest.isoformat()} at the latest")
        async with self._sessions() as session:
            existing = await session.scalar(select(ExchangeRateRecord).where(
                ExchangeRateRecord.from_currency == entered.from_currency,
                ExchangeRateRecord.to_currency == entered.to_currency,
                ExchangeRateRecord.valid_on == valid_on,
            ))
            if existing is not None:
                raise _duplicate(entered, existing.rate, existing.source)
            session.add(ExchangeRateRecord(
                from_currency=entered.from_currency, to_currency=entered.to_currency, rate=entered.rate,
                valid_on=valid_on, source=entered.source, inverse_allowed=inverse_allowed,
                entered_by=entered.entered_by, entered_at=now,
            ))
            try:
                await session.commit()
            except IntegrityError:  # entered at the same moment by another request
                raise _duplicate(entered, None, None) from None
        return entered

    async def find(self, query: RateQuery) -> list[ExchangeRate]:
        """Entered rates, the latest day first (then by pair)."""
        table = ExchangeRateRecord
        statement = select(table)
        if query.from_currency:
            statement = statement.where(table.from_currency == check_currency(query.from_currency, "from"))
        if query.to_currency:
            statement = statement.where(table.to_currency == check_currency(query.to_currency, "to"))
        if query.since:
            statement = statement.where(table.valid_on >= query.since)
        if query.until:
            statement = statement.where(table.valid_on <= query.until)
        statement = statement.order_by(table.valid_on.desc(), table.from_currency, table.to_currency, table.id)
        async with self._sessions() as session:
            rows = (await session.scalars(statement.limit(query.limit))).all()
        return [_rate(row) for row in rows]

    async def rate_on(self, from_currency: str, to_currency: str, on: date,
                      session: AsyncSession | None = None) -> AppliedRate:
        """The rate that converts `from_currency` to `to_currency` for a session of day `on`
        (domain/exchange.py `choose_rate`): NoRate or StaleRate when there is none to use. In
        `session` when given (a caller that holds one: SQLite has a single connection)."""
        frm, to = check_currency(from_currency, "from"), check_currency(to_currency, "to")
        if frm == to:
            raise InvalidRate(f"{frm} to {frm} needs no exchange rate")
        table = ExchangeRateRecord
        latest_first = (table.valid_on.desc(),)
        direct = select(table).where(table.from_currency == frm, table.to_currency == to, table.valid_on <= on)
        inverse = select(table).where(table.from_currency == to, table.to_currency == frm,
                                      table.inverse_allowed.is_(True), table.valid_on <= on)
        async with contextlib.AsyncExitStack() as stack:
            if session is None:
                session = await stack.enter_async_context(self._sessions())
            rows: Sequence[ExchangeRateRecord] = [
                row for statement in (direct, inverse)
                for row in (await session.scalars(statement.order_by(*latest_first).limit(1))).all()
            ]
        return choose_rate([_rate(row) for row in rows], frm, to, on, self._max_age_days)

    async def convert(self, price: Price, to_currency: str, on: date) -> ConvertedTotal:
        """`price` (a CDR's total, in the CPO's currency) in `to_currency` at the rate for `on`."""
        return convert_price(price, await self.rate_on(price.currency, to_currency, on))


def _duplicate(entered: ExchangeRate, rate: Decimal | None, source: str | None) -> DuplicateRate:
    kept = f" ({rate} from {source})" if rate is not None else ""
    return DuplicateRate(
        f"a {entered.pair()} rate for {entered.valid_on.isoformat()} is already entered{kept}: rates are kept "
        "as entered, because receipts name the rate they used"
    )
