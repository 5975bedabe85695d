"""A month of roaming with each partner, as the two operators settle it.

Two directions, each from the CDRs of sessions that ended in the month (UTC):

- **Their drivers at our chargers** (we are the CPO; the partner owes us): our CDRs of
  transactions started with the partner's tokens (`roaming_transactions`), in our currency with
  our VAT, as they were pushed to the partner. A CDR held for review is counted apart and not
  in the totals; a voided one not at all.
- **Our drivers at their chargers** (we are the eMSP; we owe the partner): the CDRs the partner
  sent (`roaming_cdrs`), in its currency with its VAT, and what we charge our drivers for them
  in ours at the rate of each session's day. A CDR whose rate is not entered yet is counted as
  held (its partner amount is in the totals: we owe it whatever the rate); a conflicting copy
  of a CDR already received is counted apart and never added.

Amounts stay per currency: nothing is netted across currencies. Reads store rows only.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from silkcharge.domain.clock import stored_time
from silkcharge.store.schema import (
    CdrReview,
    ChargeDetailRecord,
    RoamingCdr,
    RoamingPartner,
    RoamingTransaction,
    Transaction,
)

LATE_CDRS = timedelta(days=62)
"""How long after its month a partner's CDR may still arrive and count in it."""


class InvalidMonth(ValueError):
    """A month that is not YYYY-MM (422)."""


def month_of(text: str) -> date:
    try:
        first = datetime.strptime(text, "%Y-%m").date()
    except ValueError:
        raise InvalidMonth(f"month {text!r} must be YYYY-MM, e.g. 2026-12") from None
    if not 2000 <= first.year <= 2100:
        raise InvalidMonth(f"month {text!r} is outside 2000..2100")
    return first


@dataclass
class Totals:
    """CDRs and their amounts, per currency."""

    cdrs: int = 0
    energy_kwh: Decimal = Decimal(0)
    excl_vat: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    incl_vat: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))

    def add(self, currency: str, excl: Decimal, incl: Decimal | None, energy: Decimal) -> None:
        self.cdrs += 1
        self.energy_kwh += energy
        self.excl_vat[currency] += excl
        self.incl_vat[currency] += incl if incl is not None else excl


@dataclass
class PartnerMonth:
    partner_id: int
    partner: str
    state: str
    theirs_at_ours: Totals = field(default_factory=Totals)
    """Their drivers at our chargers: what the partner owes us."""
    theirs_held: int = 0
    """Of those, CDRs held for review (not in the totals)."""
    ours_at_theirs: Totals = field(default_factory=Totals)
    """Our drivers at their chargers: what we owe the partner, in its currency."""
    charged_to_our_drivers: Totals = field(default_factory=Totals)
    """The same CDRs as we charge our drivers, in our currency (converted ones only)."""
    ours_held: int = 0
    """CDRs whose driver amount waits for an exchange rate."""
    conflicts: int = 0
    """Conflicting copies of CDRs already received, kept for review, in no total."""


class RoamingSettlement:
    def __init__(self, sessions: async_sessionmaker) -> None:
        self._sessions = sessions

    async def month(self, first: date) -> list[PartnerMonth]:
        start = datetime(first.year, first.month, 1, tzinfo=timezone.utc)
        end = datetime(first.year + (first.month == 12), first.month % 12 + 1, 1, tzinfo=timezone.utc)
        async with self._sessions() as session:
            partners = (await session.scalars(select(RoamingPartner).order_by(RoamingPartner.id))).all()
            months = {p.id: PartnerMonth(p.id, p.name, p.state) for p in partners}
            ours = await session.execute(
                select(RoamingTransaction.partner_id, ChargeDetailRecord, CdrReview.status)
                .join(Transaction, Transaction.id == RoamingTransaction.transaction_id)
                .join(ChargeDetailRecord, ChargeDetailRecord.transaction_id == Transaction.id)
                .outerjoin(CdrReview, CdrReview.cdr_id == ChargeDetailRecord.id)
                .where(Transaction.stopped_at >= start, Transaction.stopped_at < end))
            for partner_id, cdr, review in ours:
                month = months.get(partner_id)
                if month is None or review == "voided":
                    continue
                if review == "held":
                    month.theirs_held += 1
                    continue
                month.theirs_at_ours.add(cdr.currency, cdr.total_excl_vat, cdr.total_incl_vat,
                                         _energy(cdr.body.get("total_energy")))
            theirs = (await session.scalars(select(RoamingCdr).where(
                RoamingCdr.received_at >= start, RoamingCdr.received_at < end + LATE_CDRS))).all()
        for cdr in theirs:
            month = months.get(cdr.partner_id)
            ended = stored_time(cdr.body.get("end_date_time"))
            if month is None or ended is None or not start <= ended < end:
                continue
            if cdr.conflict:
                month.conflicts += 1
                continue
            energy = _energy(cdr.body.get("total_energy"))
            month.ours_at_theirs.add(cdr.currency, cdr.total_excl_vat, cdr.total_incl_vat, energy)
            if cdr.driver_currency is None or cdr.driver_excl_vat is None:
                month.ours_held += 1
            else:
                month.charged_to_our_drivers.add(cdr.driver_currency, cdr.driver_excl_vat, cdr.driver_incl_vat,
                                                 energy)
        return [m for m in months.values()
                if m.state == "registered" or m.theirs_at_ours.cdrs or m.ours_at_theirs.cdrs or m.theirs_held
                or m.conflicts]


def _energy(value: object) -> Decimal:
    try:
        return Decimal(str(value)) if value is not None else Decimal(0)
    except ArithmeticError:
        return Decimal(0)
