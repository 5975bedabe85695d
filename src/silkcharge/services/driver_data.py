"""What the platform holds about one driver, for the driver: their charging sessions with
their CDRs and receipts, their reservations, and all of it as one JSON document (the export).

A session or reservation is the driver's when it was made with one of the driver's own
idTokens (`driver_tokens`); anything else answers as if it did not exist, so a driver learns
nothing about other people's sessions by trying ids.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from silkcharge.domain.clock import utcnow
from silkcharge.services.cdr_review import is_billed
from silkcharge.services.drivers import DriverAccount
from silkcharge.store.schema import (
    CdrReview,
    ChargeDetailRecord,
    Driver,
    DriverToken,
    IdToken,
    Reservation,
    Transaction,
)

MAX_SESSIONS = 100
EXPORT_FORMAT = "silkcharge-driver-data/1"


class NotTheDrivers(LookupError):
    """No such session, reservation or receipt among the driver's own (404)."""


@dataclass(frozen=True)
class Charge:
    """A CDR as the driver sees it: what they pay (nothing while held, or when voided)."""

    id: str
    currency: str
    total_excl_vat: Decimal
    total_incl_vat: Decimal
    billed: bool
    review: str | None
    """held, approved, corrected or voided; None when no operator had to look at it."""
    flags: tuple[str, ...]
    created_at: datetime


@dataclass(frozen=True)
class DriverCharging:
    """One charging session of the driver, with its charge once priced."""

    transaction: Transaction
    charge: Charge | None


class DriverData:
    def __init__(self, sessions: async_sessionmaker) -> None:
        self._sessions = sessions

    async def charging_sessions(
        self, driver: DriverAccount, *, limit: int = MAX_SESSIONS, before: int | None = None
    ) -> list[DriverCharging]:
        """The driver's sessions, newest first; page with `before` (the smallest id seen)."""
        if not driver.tokens:
            return []
        async with self._sessions() as session:
            query = select(Transaction).where(Transaction.id_token.in_(driver.tokens))
            if before is not None:
                query = query.where(Transaction.id < before)
            rows = (await session.scalars(query.order_by(Transaction.id.desc()).limit(limit))).all()
            charges = await _charges(session, ChargeDetailRecord.transaction_id, [tx.id for tx in rows])
        return [DriverCharging(tx, charges.get(tx.id)) for tx in rows]

    async def receipt(self, driver: DriverAccount, transaction_id: int, locale: str) -> str:
        """The printable receipt of one of the driver's sessions."""
        return await self._own_receipt(
            Transaction, ChargeDetailRecord.transaction_id, transaction_id, driver, locale,
            f"no receipt for session {transaction_id} of yours "
            "(a running session has none until it ends and is priced)")

    async def no_show_receipt(self, driver: DriverAccount, reservation_id: int, locale: str) -> str:
        """The receipt of the fee for one of the driver's reservations nobody came for."""
        return await self._own_receipt(
            Reservation, ChargeDetailRecord.reservation_id, reservation_id, driver, locale,
            f"no charge for reservation {reservation_id} of yours (only a reservation that expired unused has one)")

    async def _own_receipt(
        self, owner: type[Transaction] | type[Reservation], link: Any, owner_id: int, driver: DriverAccount,
        locale: str, missing: str,
    ) -> str:
        """The receipt of the CDR linked to a session or reservation, if the driver's token made it."""
        async with self._sessions() as session:
            row = await session.scalar(
                select(ChargeDetailRecord).join(owner, owner.id == link)
                .where(owner.id == owner_id, owner.id_token.in_(driver.tokens)))
        if row is None:
            raise NotTheDrivers(missing)
        return row.receipts[locale]

    async def export(self, driver: DriverAccount) -> dict[str, Any]:
        """Everything the platform holds about the driver, as plain JSON values (money as
        decimal strings with their currency, times in ISO 8601 UTC)."""
        async with self._sessions() as session:
            account = await session.get(Driver, driver.id)
            tokens = (await session.execute(
                select(IdToken, DriverToken.created_at).join(DriverToken, DriverToken.id_token_id == IdToken.id)
                .where(DriverToken.driver_id == driver.id).order_by(IdToken.id))).all()
            own = list(driver.tokens)
            transactions = (await session.scalars(
                select(Transaction).where(Transaction.id_token.in_(own)).order_by(Transaction.id))).all() if own else []
            reservations = (await session.scalars(
                select(Reservation).where(Reservation.id_token.in_(own)).order_by(Reservation.id))).all() if own else []
            session_charges = await _charges(session, ChargeDetailRecord.transaction_id, [t.id for t in transactions])
            no_show_charges = await _charges(session, ChargeDetailRecord.reservation_id, [r.id for r in reservations])
        charges = [*session_charges.values(), *no_show_charges.values()]
        return {
            "format": EXPORT_FORMAT,
            "exported_at": _time(utcnow()),
            "account": {"id": account.id, "email": account.email, "name": account.name,
                        "language": account.language, "created_at": _time(account.created_at)},
            "tokens": [{"id_token": token.token, "type": token.type, "status": token.status,
                        "category": token.category, "group_id": token.group_id,
                        "expires_at": _time(token.expires_at), "yours_since": _time(linked)}
                       for token, linked in tokens],
            "charging_sessions": [_session(tx, session_charges.get(tx.id)) for tx in transactions],
            "reservations": [_reservation(r, no_show_charges.get(r.id)) for r in reservations],
            "totals": _totals(charges),
        }


async def _charges(session: AsyncSession, column, ids: list[int]) -> dict[int, Charge]:
    """The charges of these sessions (or reservations), by the id in `column`."""
    if not ids:
        return {}
    rows = (await session.execute(
        select(column, ChargeDetailRecord, CdrReview)
        .outerjoin(CdrReview, CdrReview.cdr_id == ChargeDetailRecord.id).where(column.in_(ids)))).all()
    return {key: Charge(cdr.id, cdr.currency, cdr.total_excl_vat, cdr.total_incl_vat, is_billed(review),
                        review.status if review is not None else None, tuple(cdr.flags or ()), cdr.created_at)
            for key, cdr, review in rows}


def _charge(charge: Charge | None) -> dict[str, Any] | None:
    if charge is None:
        return None
    return {"cdr_id": charge.id, "currency": charge.currency, "total_excl_vat": str(charge.total_excl_vat),
            "total_incl_vat": str(charge.total_incl_vat), "billed": charge.billed, "review": charge.review,
            "flags": list(charge.flags), "created_at": _time(charge.created_at)}


def _session(tx: Transaction, charge: Charge | None) -> dict[str, Any]:
    return {"id": tx.id, "station_id": tx.station_id, "evse_id": tx.evse_id, "connector_id": tx.connector_id,
            "id_token": tx.id_token, "state": tx.state, "started_at": _time(tx.started_at),
            "stopped_at": _time(tx.stopped_at), "energy_wh": _decimal(tx.energy_wh),
            "meter_start_wh": _decimal(tx.meter_start_wh), "meter_stop_wh": _decimal(tx.meter_stop_wh),
            "stop_reason": tx.stop_reason, "reservation_id": tx.reservation_id, "charge": _charge(charge)}


def _reservation(r: Reservation, charge: Charge | None) -> dict[str, Any]:
    return {"id": r.id, "station_id": r.station_id, "evse_id": r.evse_id, "connector_id": r.connector_id,
            "id_token": r.id_token, "status": r.status, "expires_at": _time(r.expires_at),
            "created_at": _time(r.created_at), "transaction_id": r.transaction_id,
            "no_show_charge": _charge(charge)}


def _totals(charges: list[Charge]) -> list[dict[str, str]]:
    """What the driver was billed, per currency (never added across currencies)."""
    sums: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for charge in charges:
        if charge.billed:
            sums[charge.currency][0] += charge.total_excl_vat
            sums[charge.currency][1] += charge.total_incl_vat
    return [{"currency": currency, "total_excl_vat": str(excl), "total_incl_vat": str(incl)}
            for currency, (excl, incl) in sorted(sums.items())]


def _time(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _decimal(value: Decimal | None) -> str | None:
    return None if value is None else str(value)
