"""Reviewing CDRs built on flagged input: they are held, not billed, until an operator decides.

Billing holds a CDR when any input of its session was flagged by the plausibility rules
(`services/plausibility.py`), with the flags' reasons. An operator then

- *approves* it: the charger was right after all (say, the connector's power was registered
  too low); the CDR is billed as priced;
- *corrects* it: sets the energy and/or the start and end to what really happened; the price is
  computed again by the same pricing code (tariff, caps, reservation fee), from a meter timeline
  of the corrected values;
- *voids* it: nothing is billed.

Each decision keeps the operator's note, the CDR's totals when it was held, and renders the
receipts again, so a receipt always says whether the session is held, corrected or voided.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from silkcharge.domain.clock import to_ocpp, utcnow
from silkcharge.domain.plausibility import Checks
from silkcharge.domain.pricing import MeterPoint, PricingError, SessionTimeline
from silkcharge.domain.tariffs import NoApplicableTariff
from silkcharge.services.billing import BillingService, Unpriceable, ending_flags
from silkcharge.services.plausibility import max_power
from silkcharge.store.schema import CdrReview, ChargeDetailRecord, Transaction

HELD, APPROVED, CORRECTED, VOIDED = "held", "approved", "corrected", "voided"
STATUSES = (HELD, APPROVED, CORRECTED, VOIDED)
BILLED = (APPROVED, CORRECTED)
"""A CDR with no review, or one of these decisions, is billed."""


class UnknownCdr(LookupError):
    pass


class ReviewRefused(ValueError):
    """The decision cannot be taken: the correction cannot be true, or the CDR not priced."""


class NotHeld(ReviewRefused):
    """The CDR is not (or no longer) held: it was billed without review, or decided already."""


@dataclass(frozen=True)
class Correction:
    """What really happened, as the operator established it; None keeps what is stored."""

    energy_wh: Decimal | None = None
    started_at: datetime | None = None
    stopped_at: datetime | None = None

    def as_json(self) -> dict[str, str]:
        given = {
            "energy_wh": str(self.energy_wh) if self.energy_wh is not None else None,
            "started_at": to_ocpp(self.started_at) if self.started_at else None,
            "stopped_at": to_ocpp(self.stopped_at) if self.stopped_at else None,
        }
        return {name: value for name, value in given.items() if value is not None}


def is_billed(review: CdrReview | None) -> bool:
    return review is None or review.status in BILLED


class CdrReviews:
    def __init__(self, sessions: async_sessionmaker, billing: BillingService, checks: Checks) -> None:
        self._sessions = sessions
        self._billing = billing
        self._checks = checks

    async def find(
        self, status: str | None = None, limit: int = 100
    ) -> list[tuple[ChargeDetailRecord, CdrReview | None]]:
        """CDRs newest first, with their review; `status` keeps those reviewed so (held...)."""
        query = (
            select(ChargeDetailRecord, CdrReview)
            .outerjoin(CdrReview, CdrReview.cdr_id == ChargeDetailRecord.id)
            .order_by(ChargeDetailRecord.created_at.desc(), ChargeDetailRecord.id.desc())
            .limit(limit)
        )
        if status is not None:
            query = query.where(CdrReview.status == status)
        async with self._sessions() as session:
            return [(cdr, review) for cdr, review in (await session.execute(query)).all()]

    async def get(self, cdr_id: str) -> tuple[ChargeDetailRecord, CdrReview | None]:
        async with self._sessions() as session:
            cdr = await session.get(ChargeDetailRecord, cdr_id)
            if cdr is None:
                raise UnknownCdr(f"no CDR {cdr_id}")
            return cdr, await session.get(CdrReview, cdr_id)

    # -- decisions ----------------------------------------------------------------------------

    async def approve(self, cdr_id: str, note: str | None) -> tuple[ChargeDetailRecord, CdrReview | None]:
        return await self._decide(cdr_id, APPROVED, note)

    async def void(self, cdr_id: str, note: str) -> tuple[ChargeDetailRecord, CdrReview | None]:
        return await self._decide(cdr_id, VOIDED, note)

    async def correct(
        self, cdr_id: str, correction: Correction, note: str
    ) -> tuple[ChargeDetailRecord, CdrReview | None]:
        if correction == Correction():
            raise ReviewRefused("a correction sets energy_wh, started_at or stopped_at (or several)")
        return await self._decide(cdr_id, CORRECTED, note, correction)

    async def _decide(
        self, cdr_id: str, status: str, note: str | None, correction: Correction | None = None
    ) -> tuple[ChargeDetailRecord, CdrReview | None]:
        async with self._sessions.begin() as session:
            cdr = await session.get(ChargeDetailRecord, cdr_id, with_for_update=True)
            review = await session.get(CdrReview, cdr_id) if cdr is not None else None
            if cdr is None:
                raise UnknownCdr(f"no CDR {cdr_id}")
            if review is None or review.status != HELD:
                state = "billed without review" if review is None else review.status
                raise NotHeld(f"CDR {cdr_id} is not held for review (it is {state})")
            tx = await session.get(Transaction, cdr.transaction_id) if cdr.transaction_id else None
            if tx is None:
                raise ReviewRefused(f"CDR {cdr_id} has no session to price again")
            timeline = await self._corrected(session, tx, correction) if correction else None
            flags = ending_flags(tx) + ({CORRECTED: ("corrected",), VOIDED: ("voided",)}.get(status, ()))
            try:
                priced = await self._billing.build(session, tx, cdr.id, flags, timeline)
            except (NoApplicableTariff, PricingError, Unpriceable) as exc:
                raise ReviewRefused(f"CDR {cdr_id} cannot be priced again: {exc}") from None
            _take_over(cdr, priced)
            review.status, review.decided_at, review.note = status, utcnow(), note
            tx.updated_at = review.decided_at  # the analytics roll-ups recount its day's revenue
            review.correction = correction.as_json() if correction else None
        return await self.get(cdr_id)  # as stored: amounts read back as every other read shows them

    async def _corrected(self, session: AsyncSession, tx: Transaction, correction: Correction) -> SessionTimeline:
        """The session as the operator says it was: from start to end at the corrected energy
        (linear in between), refused when it could not have happened either."""
        start = correction.started_at or tx.started_at
        end = correction.stopped_at or tx.stopped_at or tx.updated_at
        energy = correction.energy_wh if correction.energy_wh is not None else (tx.energy_wh or Decimal(0))
        if end < start:
            raise ReviewRefused(f"the session cannot end ({to_ocpp(end)}) before it starts ({to_ocpp(start)})")
        if end > utcnow():
            raise ReviewRefused(f"the session cannot end in the future ({to_ocpp(end)})")
        powers = await max_power(session, [(tx.station_id, tx.evse_id)])
        problem = self._checks.reading("energy_wh", energy, register=True) or self._checks.power_bound(
            "energy_wh", energy, end - start, powers.get((tx.station_id, tx.evse_id)), energy
        )
        if problem is not None:
            raise ReviewRefused(f"the correction cannot be true either: {problem.reason}")
        points = (MeterPoint(start, Decimal(0)), MeterPoint(end, energy / 1000))
        return SessionTimeline(start, end, points)


def _take_over(cdr: ChargeDetailRecord, priced: ChargeDetailRecord) -> None:
    """Give the stored CDR (same id) the new price, body, flags and receipts."""
    for name in ("tariff_code", "currency", "total_excl_vat", "total_incl_vat", "capped", "cap", "flags",
                 "body", "receipts"):
        setattr(cdr, name, getattr(priced, name))


__all__ = [
    "APPROVED",
    "CORRECTED",
    "HELD",
    "STATUSES",
    "VOIDED",
    "CdrReviews",
    "Correction",
    "NotHeld",
    "ReviewRefused",
    "UnknownCdr",
    "is_billed",
]
