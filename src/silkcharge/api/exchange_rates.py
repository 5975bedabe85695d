"""Operator routes for exchange rates (services/exchange_rates.py): list the rates a tenant
entered, enter one (with its day and source, kept as entered), and convert an amount the way a
roaming driver's bill would (the rate for the day, rounded to the target's minor units).
Area "exchange rates": money:read to read and convert, money:write to enter (domain/roles.py).

Refusals: a value that cannot be a rate, a day past tomorrow, an unknown currency: 422; a rate
already entered for the pair and day: 409; no rate for the day: 404; only a rate older than
`exchange_rate_max_age_days`: 409. Each says which pair and day.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from silkcharge.api.bounds import FiniteDecimal
from silkcharge.api.errors import answers
from silkcharge.domain.exchange import (
    AppliedRate,
    ExchangeRate,
    InvalidRate,
    NoRate,
    StaleRate,
    convert_money,
)
from silkcharge.domain.money import Money
from silkcharge.services.exchange_rates import DuplicateRate, ExchangeRates, RateQuery
from silkcharge.services.roaming_charges import RoamingCharges

router = APIRouter(tags=["exchange rates"])

Currency = Annotated[str, Field(min_length=3, max_length=3, pattern="^[A-Za-z]{3}$",
                                description="ISO 4217 code silkcharge knows (KZT, UZS, KGS, TJS, TMT, CNY, RUB, USD, EUR)")]
AMOUNT_BOUND = Decimal("1E14")
"""What a stored amount holds (NUMERIC(20, 6), store/types.py): an amount to convert stays below it."""


def exchange_rates(request: Request) -> ExchangeRates:
    platform = request.app.state.platform
    return ExchangeRates(platform.sessions, platform.settings.exchange_rate_max_age_days)


class ExchangeRateIn(BaseModel):
    """1 `from_currency` = `rate` `to_currency` on `valid_on`, from `source`."""

    model_config = ConfigDict(extra="forbid")
    from_currency: Currency
    to_currency: Currency
    rate: FiniteDecimal = Field(description="units of to_currency for one of from_currency: positive, at most "
                                "10 digits before the point and 12 after (enter a rate published per 100 "
                                "units divided by 100)")
    valid_on: date = Field(description="the day the rate is for; at the latest tomorrow (UTC)")
    source: str = Field(min_length=1, max_length=200,
                        description="where the rate comes from, e.g. the national bank's published rate")
    inverse_allowed: bool = Field(default=False, description="1 / rate may be used for the other direction")


class ExchangeRateOut(BaseModel):
    from_currency: str
    to_currency: str
    rate: Decimal
    valid_on: date
    source: str
    inverse_allowed: bool
    entered_by: str
    entered_at: datetime

    @classmethod
    def of(cls, rate: ExchangeRate) -> ExchangeRateOut:
        return cls(from_currency=rate.from_currency, to_currency=rate.to_currency, rate=rate.rate,
                   valid_on=rate.valid_on, source=rate.source, inverse_allowed=rate.inverse_allowed,
                   entered_by=rate.entered_by, entered_at=rate.entered_at)


class MoneyOut(BaseModel):
    amount: Decimal
    currency: str


class ConversionOut(BaseModel):
    amount: MoneyOut = Field(description="the amount asked about, as given")
    converted: MoneyOut = Field(description="in the target currency, rounded half up to its minor units")
    factor: Decimal = Field(description="what the amount was multiplied by: the entered rate, or 1 / rate "
                            "to 12 significant digits when the entered rate is the other direction's")
    inverted: bool = Field(description="the entered rate is for the other direction (it allows its inverse)")
    rate: ExchangeRateOut = Field(description="the rate as entered: the latest on or before the day")
    on: date


@router.get("/exchange-rates", response_model=list[ExchangeRateOut])
async def list_exchange_rates(
    request: Request,
    from_currency: Currency | None = Query(None, alias="from"),
    to_currency: Currency | None = Query(None, alias="to"),
    since: date | None = Query(None, description="only rates for this day or later"),
    until: date | None = Query(None, description="only rates for this day or earlier"),
    limit: int = Query(100, ge=1, le=1000),
):
    """The tenant's entered rates, the latest day first."""
    try:
        found = await exchange_rates(request).find(RateQuery(from_currency, to_currency, since, until, limit))
    except InvalidRate as exc:
        raise HTTPException(422, str(exc)) from None
    return [ExchangeRateOut.of(rate) for rate in found]


@router.post("/exchange-rates", response_model=ExchangeRateOut, status_code=201, responses=answers(409))
async def enter_exchange_rate(body: ExchangeRateIn, request: Request):
    """Enter a rate for a pair and day. It is kept as entered (receipts name it): a second one
    for the same pair and day is refused."""
    who = getattr(request.state, "principal", None)
    try:
        entered = await exchange_rates(request).record(
            from_currency=body.from_currency, to_currency=body.to_currency, rate=body.rate,
            valid_on=body.valid_on, source=body.source, inverse_allowed=body.inverse_allowed,
            entered_by=who.label if who is not None else "unknown",
        )
    except InvalidRate as exc:
        raise HTTPException(422, str(exc)) from None
    except DuplicateRate as exc:
        raise HTTPException(409, str(exc)) from None
    # Roaming charges held for want of a rate are converted now, if this one serves them.
    await RoamingCharges(request.app.state.platform.sessions).release_held(exchange_rates(request))
    return ExchangeRateOut.of(entered)


@router.get("/exchange-rates/convert", response_model=ConversionOut, responses=answers(404, 409))
async def convert_amount(
    request: Request,
    amount: FiniteDecimal = Query(gt=-AMOUNT_BOUND, lt=AMOUNT_BOUND,
                                  description="the amount in `from`, e.g. a session's total incl. VAT"),
    from_currency: Currency = Query(alias="from"),
    to_currency: Currency = Query(alias="to"),
    on: date | None = Query(None, description="the session's day; today (UTC) when not given"),
):
    """What an amount comes to in another currency at the rate for a day: the latest rate on
    or before it (404 if none, 409 if older than `exchange_rate_max_age_days`)."""
    day = on or datetime.now(timezone.utc).date()
    try:
        money = Money(amount, from_currency)
        applied: AppliedRate = await exchange_rates(request).rate_on(from_currency, to_currency, day)
        converted = convert_money(money, applied)
    except (InvalidRate, ValueError) as exc:
        raise HTTPException(422, str(exc)) from None
    except NoRate as exc:
        raise HTTPException(404, str(exc)) from None
    except StaleRate as exc:
        raise HTTPException(409, str(exc)) from None
    return ConversionOut(
        amount=MoneyOut(amount=money.amount, currency=money.currency),
        converted=MoneyOut(amount=converted.amount, currency=converted.currency),
        factor=applied.factor, inverted=applied.inverted, rate=ExchangeRateOut.of(applied.entered), on=day,
    )
