"""Our drivers' charging at roaming partners' stations (our eMSP role): the CDRs partners sent
(store `roaming_cdrs`, kept by roaming/cdrs.py), as the driver sees them.

A partner's CDR is priced in the partner's currency with the partner's VAT; the driver pays
in ours. The receipt is the ordinary one (domain/cdr.py `receipt_html`) of the partner's CDR,
with the driver's currency beside it (`converted=`), the rate, its day and its source, as
stored when the CDR arrived. A charge held for review (no rate, or a stale one) has the
partner's amounts and says why the driver's amount is not there yet.

This reads store rows only: it does not import the OCPI adapter (roaming/).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from html import escape
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from silkcharge.domain import cdr as receipts
from silkcharge.domain.exchange import (
    AppliedRate,
    ConvertedTotal,
    ExchangeRate,
    InvalidRate,
    NoRate,
    StaleRate,
)
from silkcharge.domain.money import Money, Price
from silkcharge.domain.tariffs import InvalidTariff, Tariff
from silkcharge.services.exchange_rates import ExchangeRates
from silkcharge.store.schema import RoamingCdr, RoamingPartner

READY, HELD = "ready", "held"


class NoSuchRoamingCharge(LookupError):
    """No roaming CDR with that id among the driver's own (404)."""


@dataclass(frozen=True)
class RoamingCharge:
    """One roaming CDR of the driver: the partner's totals and the driver's, and the rate."""

    id: int
    cdr_id: str
    partner: str
    start: str
    end: str
    currency: str
    total_incl_vat: Decimal | None
    total_excl_vat: Decimal
    driver_currency: str | None
    driver_incl_vat: Decimal | None
    driver_excl_vat: Decimal | None
    rate: Decimal | None
    rate_valid_on: str | None
    charge_state: str
    hold_reason: str | None


def _price(currency: str, excl: Decimal | None, incl: Decimal | None) -> Price:
    return Price(Money(excl or Decimal(0), currency), None if incl is None else Money(incl, currency))


def _money_of(body: dict[str, Any], name: str, currency: str) -> Price:
    value = body.get(name)
    if not isinstance(value, dict) or value.get("excl_vat") is None:
        return Price.zero(currency)
    incl = value.get("incl_vat")
    return _price(currency, Decimal(str(value["excl_vat"])), None if incl is None else Decimal(str(incl)))


def _tariffs(body: dict[str, Any], currency: str) -> tuple[Tariff, ...]:
    """The CDR's tariffs as we read them (the CPO's country and party where a tariff omits
    them); when none can be read, a placeholder named "-", since the receipt names a tariff."""
    read = []
    party = {"country_code": body.get("country_code"), "party_id": body.get("party_id")}
    for data in body.get("tariffs") or ():
        try:
            read.append(Tariff.from_ocpi({**party, **data} if isinstance(data, dict) else data))
        except (InvalidTariff, ValueError, TypeError, KeyError):
            continue  # the receipt names the tariff; a tariff we cannot read is left out
    if read:
        return tuple(read)
    unnamed = {"id": "-", "currency": currency,
               "elements": [{"price_components": [{"type": "FLAT", "price": 0, "vat": 0, "step_size": 1}]}]}
    return (Tariff.from_ocpi(unnamed),)


def _utc(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def partner_cdr(row: RoamingCdr) -> receipts.Cdr:
    """The partner's CDR as our domain's CDR, for the receipt (totals as sent, no cost lines:
    the partner priced it)."""
    body, currency = row.body, row.currency
    total = _price(currency, row.total_excl_vat, row.total_incl_vat)
    parking = Decimal(str(body.get("total_parking_time") or 0))
    start, end = _utc(body["start_date_time"]), _utc(body["end_date_time"])
    return receipts.Cdr(
        id=row.cdr_id, start_date_time=start, end_date_time=end, currency=currency,
        tariffs=_tariffs(body, currency), charging_periods=(), lines=(),
        total_energy=Decimal(str(body.get("total_energy") or 0)),
        total_time=max(Decimal(str(body.get("total_time") or 0)) - parking, Decimal(0)),
        total_parking_time=parking, total_cost=total,
        total_fixed_cost=_money_of(body, "total_fixed_cost", currency),
        total_energy_cost=_money_of(body, "total_energy_cost", currency),
        total_time_cost=_money_of(body, "total_time_cost", currency),
        total_parking_cost=_money_of(body, "total_parking_cost", currency),
        subtotal=total, price_limit=None, vat_date=end.date(),
        country_code=row.country_code, party_id=row.party_id, session_id=row.session_id,
    )


def converted_total(row: RoamingCdr) -> ConvertedTotal | None:
    """The driver's amounts and the rate as kept when the CDR arrived; None when held or in
    our own currency."""
    if row.charge_state == HELD or row.rate is None or row.driver_currency is None:
        return None
    frm, to = (row.driver_currency, row.currency) if row.rate_inverted else (row.currency, row.driver_currency)
    entered = ExchangeRate(frm, to, row.rate, row.rate_valid_on, row.rate_source or "-", "", row.received_at
                           if row.received_at.tzinfo else row.received_at.replace(tzinfo=timezone.utc))
    return ConvertedTotal(_price(row.currency, row.total_excl_vat, row.total_incl_vat),
                          _price(row.driver_currency, row.driver_excl_vat, row.driver_incl_vat),
                          AppliedRate(entered, inverted=bool(row.rate_inverted)))


_HELD_NOTE = {
    "en": "Your amount in {currency} is not known yet: {reason}. You will not be charged before it is.",
    "ru": "Сумма в {currency} пока не известна: {reason}. Оплата не будет списана до её расчёта.",
}


def roaming_receipt_html(row: RoamingCdr, partner_name: str, locale: str = "en") -> str:
    """The driver's receipt of a roaming CDR: the partner's totals, and ours beside them."""
    cdr = partner_cdr(row)
    location = row.body.get("cdr_location") or {}
    site = receipts.Site(location.get("name") or location.get("id") or "-", "UTC",
                         ", ".join(p for p in (location.get("address"), location.get("city")) if p) or None,
                         location.get("evse_id") or location.get("evse_uid"))
    html = receipts.receipt_html(cdr, receipts.Operator(partner_name), site, locale, converted=converted_total(row))
    if row.charge_state == HELD:
        note = _HELD_NOTE.get(locale, _HELD_NOTE["en"]).format(currency=row.driver_currency or "?",
                                                               reason=row.hold_reason or "-")
        html = html.replace("</body>", f"<p class=note id=held>{escape(note)}</p></body>", 1)
    return html


async def driver_charge(rates: ExchangeRates, total: Price, currency: str | None, on: date) -> dict[str, Any]:
    """The columns of a roaming CDR's driver charge: `total` in the driver's `currency` at the
    rate for `on` (both amounts and the rate as entered), or held with the reason."""
    if currency is None:
        return {"charge_state": HELD, "hold_reason": "we have no eMSP party whose country says the driver's currency"}
    if currency == total.currency:
        return {"charge_state": READY, "driver_currency": currency, "driver_excl_vat": total.excl_vat.amount,
                "driver_incl_vat": None if total.incl_vat is None else total.incl_vat.amount, "hold_reason": None}
    try:
        converted = await rates.convert(total, currency, on)
    except (NoRate, StaleRate, InvalidRate) as reason:
        return {"charge_state": HELD, "driver_currency": currency, "hold_reason": str(reason)[:300]}
    price = converted.converted
    return {
        "charge_state": READY, "driver_currency": currency, "driver_excl_vat": price.excl_vat.amount,
        "driver_incl_vat": None if price.incl_vat is None else price.incl_vat.amount,
        "rate": converted.rate.entered.rate, "rate_valid_on": converted.rate.valid_on,
        "rate_source": converted.rate.entered.source[:200], "rate_inverted": converted.rate.inverted,
        "hold_reason": None,
    }


class RoamingCharges:
    """The driver's roaming CDRs (those whose token is one of the driver's own)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def release_held(self, rates: ExchangeRates) -> int:
        """Convert again the held charges of the tenant in scope (after a rate was entered):
        those that now convert are ready; the others keep their (updated) reason. How many
        were released."""
        async with self._sessions() as session:
            held = (await session.scalars(select(RoamingCdr).where(
                RoamingCdr.charge_state == HELD, RoamingCdr.conflict.is_(False)))).all()
        released = 0
        for row in held:
            total = _price(row.currency, row.total_excl_vat, row.total_incl_vat)
            charge = await driver_charge(rates, total, row.driver_currency, _utc(row.body["end_date_time"]).date())
            async with self._sessions.begin() as session:
                stored = await session.get(RoamingCdr, row.id)
                if stored is None or stored.charge_state != HELD:
                    continue
                for name, value in charge.items():
                    setattr(stored, name, value)
            released += charge["charge_state"] == READY
        return released

    async def receipt(self, tokens: tuple[str, ...], charge_id: int, locale: str) -> str:
        async with self._sessions() as session:
            found = (await session.execute(
                select(RoamingCdr, RoamingPartner.name).join(RoamingPartner, RoamingPartner.id == RoamingCdr.partner_id)
                .where(RoamingCdr.id == charge_id, RoamingCdr.conflict.is_(False),
                       RoamingCdr.token_uid.in_(tokens)))).first()
        if found is None:
            raise NoSuchRoamingCharge(f"no roaming charge {charge_id} of yours")
        row, partner = found
        return roaming_receipt_html(row, partner, locale)

    async def list(self, tokens: tuple[str, ...], limit: int = 50) -> list[RoamingCharge]:
        async with self._sessions() as session:
            rows = (await session.execute(
                select(RoamingCdr, RoamingPartner.name).join(RoamingPartner, RoamingPartner.id == RoamingCdr.partner_id)
                .where(RoamingCdr.conflict.is_(False), RoamingCdr.token_uid.in_(tokens))
                .order_by(RoamingCdr.id.desc()).limit(limit))).all()
        return [RoamingCharge(
            id=row.id, cdr_id=row.cdr_id, partner=name, start=row.body["start_date_time"],
            end=row.body["end_date_time"], currency=row.currency, total_incl_vat=row.total_incl_vat,
            total_excl_vat=row.total_excl_vat, driver_currency=row.driver_currency,
            driver_incl_vat=row.driver_incl_vat, driver_excl_vat=row.driver_excl_vat, rate=row.rate,
            rate_valid_on=row.rate_valid_on.isoformat() if row.rate_valid_on else None,
            charge_state=row.charge_state, hold_reason=row.hold_reason) for row, name in rows]
