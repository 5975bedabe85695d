"""What the platform holds about one driver, for the driver: their charging sessions with
their CDRs and receipts, their reservations, and all of it as one JSON document (the export).

A session or reservation is the driver's when it was made with one of the driver's own
idTokens (`driver_tokens`); anything else answers as if it did not exist, so a driver learns
nothing about other people's sessions by trying ids.

Data residency (store/residency.py): a driver's reservations at an operator's station are in
that operator's database; the export gathers them from every database.
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
from silkcharge.services.reservations import ReservationConflict
from silkcharge.store.residency import database_scope, residency_of
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

    async def no_show_receipt(
        self, driver: DriverAccount, reservation_id: int, locale: str, station_id: str | None = None,
    ) -> str:
        """The receipt of the fee for one of the driver's reservations nobody came for. With data
        residency, from whichever database holds the reservation: ids are per database, so
        `station_id` tells apart two of the driver's with one id, both charged."""
        missing = f"no charge for reservation {reservation_id} of yours (only a reservation that expired unused has one)"
        where = () if station_id is None else (Reservation.station_id == station_id,)
        residency = residency_of(self._sessions)
        if residency is None:
            return await self._own_receipt(
                Reservation, ChargeDetailRecord.reservation_id, reservation_id, driver, locale, missing, *where)
        found = []
        for database in residency.keys:
            with database_scope(database):
                row = await self._own_cdr(Reservation, ChargeDetailRecord.reservation_id, reservation_id, driver, *where)
            if row is not None:
                found.append(row)
        if len(found) > 1:
            raise ReservationConflict(f"you were charged for reservation {reservation_id} at stations of "
                                      "two operators: say which with station_id")
        if not found:
            raise NotTheDrivers(missing)
        return found[0].receipts[locale]

    async def _own_receipt(
        self, owner: type[Transaction] | type[Reservation], link: Any, owner_id: int, driver: DriverAccount,
        locale: str, missing: str, *where: Any,
    ) -> str:
        """The receipt of the CDR linked to a session or reservation, if the driver's token made it."""
        row = await self._own_cdr(owner, link, owner_id, driver, *where)
        if row is None:
            raise NotTheDrivers(missing)
        return row.receipts[locale]

    async def _own_cdr(
        self, owner: type[Transaction] | type[Reservation], link: Any, owner_id: int, driver: DriverAccount,
        *where: Any,
    ) -> ChargeDetailRecord | None:
        """The CDR linked to a session or reservation the driver's token made, in the database in use."""
        async with self._sessions() as session:
            return await session.scalar(
                select(ChargeDetailRecord).join(owner, owner.id == link)
                .where(owner.id == owner_id, owner.id_token.in_(driver.tokens), *where))

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
            session_charges = await _charges(session, ChargeDetailRecord.transaction_id, [t.id for t in transactions])
        reservations = await self._reservations(own)
        charges = [*session_charges.values(), *(charge for _, charge in reservations if charge is not None)]
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
            "reservations": [_reservation(r, charge) for r, charge in reservations],
            "totals": _totals(charges),
        }

    async def _reservations(self, own: list[str]) -> list[tuple[Reservation, Charge | None]]:
        """The reservations made with these tokens, each with its no-show charge, from every
        database (data residency; ids are per database, so each is paired where it is). A
        database that cannot be reached fails the export (503) rather than leave its part out."""
        if not own:
            return []
        residency = residency_of(self._sessions)
        found = []
        for database in [None] if residency is None else residency.keys:
            with database_scope(database):
                async with self._sessions() as session:
                    reservations = (await session.scalars(
                        select(Reservation).where(Reservation.id_token.in_(own)).order_by(Reservation.id))).all()
                    charges = await _charges(session, ChargeDetailRecord.reservation_id, [r.id for r in reservations])
            found += [(reservation, charges.get(reservation.id)) for reservation in reservations]
        return found


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
