"""What the platform holds about one driver, for the driver: their charging sessions with
their CDRs and receipts, their reservations, and all of it as one JSON document (the export).

A session or reservation is the driver's when it was made with one of the driver's own
idTokens (`driver_tokens`); anything else answers as if it did not exist, so a driver learns
nothing about other people's sessions by trying ids.

Data residency (store/residency.py): a driver's sessions and reservations at an operator's
station, and their CDRs, are in that operator's database; the lists, the receipts and the
export gather them from every database (ids are per database: `station_id` tells apart two
of the driver's with one id).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from silkcharge.domain.clock import utcnow
from silkcharge.services.cdr_review import is_billed
from silkcharge.services.drivers import DriverAccount
from silkcharge.services.reservations import ReservationConflict
from silkcharge.store.residency import database_scope, each_database, residency_of
from silkcharge.store.schema import (
    CdrReview,
    ChargeDetailRecord,
    Driver,
    DriverToken,
    IdToken,
    Reservation,
    Transaction,
)

T = TypeVar("T")

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

    @property
    def ids_per_database(self) -> bool:
        """Whether a session's or reservation's id names it only together with its station's
        database (data residency), so a link to it says the station too."""
        return residency_of(self._sessions) is not None

    async def charging_sessions(
        self, driver: DriverAccount, *, limit: int = MAX_SESSIONS, before: int | None = None,
        started_before: datetime | None = None,
    ) -> list[DriverCharging]:
        """The driver's sessions, newest first; page with `before` (the smallest id seen) or
        `started_before` (the earliest start seen). With data residency, from every database
        (a driver charges at any operator's stations), each priced where it is, merged by when
        they started; ids are per database there, so page by the start."""
        if not driver.tokens:
            return []
        found = await each_database(
            self._sessions, lambda: self._sessions_here(driver.tokens, limit, before, started_before))
        if len(found) == 1:
            return found[0]
        merged = sorted((item for here in found for item in here),
                        key=lambda item: (item.transaction.started_at, item.transaction.id), reverse=True)
        return merged[:limit]

    async def _sessions_here(
        self, tokens: tuple[str, ...], limit: int, before: int | None, started_before: datetime | None,
    ) -> list[DriverCharging]:
        async with self._sessions() as session:
            query = select(Transaction).where(Transaction.id_token.in_(tokens))
            if before is not None:
                query = query.where(Transaction.id < before)
            if started_before is not None:
                query = query.where(Transaction.started_at < started_before)
            rows = (await session.scalars(query.order_by(Transaction.id.desc()).limit(limit))).all()
            charges = await _charges(session, ChargeDetailRecord.transaction_id, [tx.id for tx in rows])
        return [DriverCharging(tx, charges.get(tx.id)) for tx in rows]

    async def receipt(
        self, driver: DriverAccount, transaction_id: int, locale: str, station_id: str | None = None,
    ) -> str:
        """The printable receipt of one of the driver's sessions. With data residency, from
        whichever database holds the session: `station_id` tells apart two of the driver's
        with one id, both priced."""
        return await self._receipt_anywhere(
            Transaction, ChargeDetailRecord.transaction_id, transaction_id, driver, locale, station_id,
            f"no receipt for session {transaction_id} of yours "
            "(a running session has none until it ends and is priced)",
            f"you have sessions {transaction_id} at stations of two operators: say which with station_id")

    async def no_show_receipt(
        self, driver: DriverAccount, reservation_id: int, locale: str, station_id: str | None = None,
    ) -> str:
        """The receipt of the fee for one of the driver's reservations nobody came for. With data
        residency, from whichever database holds the reservation: ids are per database, so
        `station_id` tells apart two of the driver's with one id, both charged."""
        return await self._receipt_anywhere(
            Reservation, ChargeDetailRecord.reservation_id, reservation_id, driver, locale, station_id,
            f"no charge for reservation {reservation_id} of yours (only a reservation that expired unused has one)",
            f"you were charged for reservation {reservation_id} at stations of two operators: "
            "say which with station_id")

    async def _receipt_anywhere(
        self, owner: type[Transaction] | type[Reservation], link: Any, owner_id: int, driver: DriverAccount,
        locale: str, station_id: str | None, missing: str, ambiguous: str,
    ) -> str:
        """The receipt of the CDR linked to the driver's session or reservation `owner_id`, in
        whichever database has one (every database's, with data residency)."""
        where = () if station_id is None else (owner.station_id == station_id,)
        residency = residency_of(self._sessions)
        if residency is None:
            return await self._own_receipt(owner, link, owner_id, driver, locale, missing, *where)
        found = []
        for database in residency.keys:
            with database_scope(database):
                row = await self._own_cdr(owner, link, owner_id, driver, *where)
            if row is not None:
                found.append(row)
        if len(found) > 1:
            raise ReservationConflict(ambiguous)
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
        sessions = await self._everywhere(own, self._charging_here)
        reservations = await self._everywhere(own, self._reservations_here)
        charges = [charge for _, charge in [*sessions, *reservations] if charge is not None]
        return {
            "format": EXPORT_FORMAT,
            "exported_at": _time(utcnow()),
            "account": {"id": account.id, "email": account.email, "name": account.name,
                        "language": account.language, "created_at": _time(account.created_at)},
            "tokens": [{"id_token": token.token, "type": token.type, "status": token.status,
                        "category": token.category, "group_id": token.group_id,
                        "expires_at": _time(token.expires_at), "yours_since": _time(linked)}
                       for token, linked in tokens],
            "charging_sessions": [_session(tx, charge) for tx, charge in sessions],
            "reservations": [_reservation(r, charge) for r, charge in reservations],
            "totals": _totals(charges),
        }

    async def _everywhere(self, own: list[str], here: Callable[[list[str]], Awaitable[list[T]]]) -> list[T]:
        """What `here` finds for these tokens in every database (data residency; ids are per
        database, so each row is paired with its charge where it is). A database that cannot be
        reached fails the export (503) rather than leave its part out."""
        if not own:
            return []
        residency = residency_of(self._sessions)
        found: list[T] = []
        for database in [None] if residency is None else residency.keys:
            with database_scope(database):
                found += await here(own)
        return found

    async def _charging_here(self, own: list[str]) -> list[tuple[Transaction, Charge | None]]:
        async with self._sessions() as session:
            transactions = (await session.scalars(
                select(Transaction).where(Transaction.id_token.in_(own)).order_by(Transaction.id))).all()
            charges = await _charges(session, ChargeDetailRecord.transaction_id, [t.id for t in transactions])
        return [(tx, charges.get(tx.id)) for tx in transactions]

    async def _reservations_here(self, own: list[str]) -> list[tuple[Reservation, Charge | None]]:
        async with self._sessions() as session:
            reservations = (await session.scalars(
                select(Reservation).where(Reservation.id_token.in_(own)).order_by(Reservation.id))).all()
            charges = await _charges(session, ChargeDetailRecord.reservation_id, [r.id for r in reservations])
        return [(reservation, charges.get(reservation.id)) for reservation in reservations]


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
