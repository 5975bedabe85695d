"""Reservations: a connector or EVSE held for one driver's idToken until a time.

In OCPP the station enforces a reservation (it lets only the reserved token start there); the
CSMS double-checks. Two parts live here:

- `ReservationLedger` keeps the facts stations change: a reservation used by a starting
  transaction, one the station reports expired or removed (2.0.1 ReservationStatusUpdate),
  one whose time ran out. `TransactionService.start` calls it inside its own database
  transaction, so a start and the reservation it uses are committed together.
- `ReservationService` is the use case operators and drivers call: it validates a request,
  stores it as Requested, sends ReserveNow through `CommandService` and stores the station's
  answer; it cancels with CancelReservation; and it runs the expiry sweep.

A reservation starts when it is made and lasts until `expires_at`, so two active reservations
on one EVSE always overlap: an EVSE has at most one.

EVSE 0 is a station-wide reservation (OCPP 1.6 ReserveNow with connectorId 0, §5.13; 2.0.1
ReserveNow without evseId), made only for a station whose configuration says it takes them
(the adapter names the key and reads it). The station reserves no particular connector but
keeps one free for the token, which may start on any of them. So it overlaps every other
holding reservation on the station, and another token may start only while some other
connector stays free for the reserved one.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from silkcharge.domain.charging import AuthorizationStatus, ConnectorStatus, TransactionStart
from silkcharge.domain.clock import utcnow
from silkcharge.store.schema import Connector, IdToken, Reservation, Station, Transaction

if TYPE_CHECKING:  # the command service imports the adapters, which import this module
    from silkcharge.ocpp.adapter import Adapter
    from silkcharge.services.commands import CommandService

log = logging.getLogger(__name__)

REQUESTED, ACCEPTED = "Requested", "Accepted"
CANCELLED, EXPIRED, USED, REJECTED = "Cancelled", "Expired", "Used", "Rejected"
ACTIVE = (REQUESTED, ACCEPTED)
STATUSES = (
    REQUESTED, ACCEPTED, REJECTED, "Faulted", "Occupied", "Unavailable", CANCELLED, EXPIRED, USED,
)
# What a 2.0.1 station's ReservationStatusUpdate means for the stored reservation.
_STATION_ENDED = {"Expired": EXPIRED, "Removed": CANCELLED}
_UNUSABLE = (ConnectorStatus.FAULTED.value, ConnectorStatus.UNAVAILABLE.value)
# A connector in these states cannot be the one a station-wide reservation keeps free.
_NOT_FREE = (*_UNUSABLE, ConnectorStatus.OCCUPIED.value, ConnectorStatus.CHARGING.value)
STATION_WIDE = 0  # the evse_id of a reservation of the whole station


def _place(evse_id: int) -> str:
    return "the whole station" if evse_id == STATION_WIDE else f"EVSE {evse_id}"


class ReservationRefused(ValueError):
    """The request itself is wrong (token, time, place); the message says what to change."""


class ReservationConflict(ReservationRefused):
    """The request is fine but the charger cannot take it now (offline, faulted, reserved)."""


class UnknownReservation(LookupError):
    pass


@dataclass(frozen=True)
class ReservationRequest:
    station_id: str
    evse_id: int
    connector_id: int | None
    id_token: str
    expires_at: datetime


class ReservationLedger:
    def __init__(self, sessions: async_sessionmaker) -> None:
        self._sessions = sessions

    async def held_for_another(
        self, session: AsyncSession, station_id: str, evse_id: int, id_token: str | None
    ) -> Reservation | None:
        """The Accepted, unexpired reservation that a start by this token on this EVSE would
        break: one holding this EVSE for a different token, or a station-wide one for a
        different token when no other connector would stay free for it."""
        holds = (await session.scalars(
            select(Reservation).where(
                Reservation.station_id == station_id,
                Reservation.evse_id.in_((evse_id, STATION_WIDE)),
                Reservation.status == ACCEPTED,
                Reservation.expires_at > utcnow(),
                Reservation.id_token != (id_token or ""),
            ).order_by(Reservation.evse_id.desc())
        )).all()
        for held in holds:
            if held.evse_id != STATION_WIDE:
                return held
            if not await self._another_free(session, station_id, evse_id, held.id_token):
                return held
        return None

    @staticmethod
    async def _another_free(
        session: AsyncSession, station_id: str, taken_evse: int, for_token: str
    ) -> bool:
        """Whether an EVSE other than `taken_evse` is free for `for_token`: usable, with no
        transaction running and not held by a reservation for anyone else."""
        busy = select(Transaction.evse_id).where(
            Transaction.station_id == station_id, Transaction.state == "Active",
            Transaction.evse_id.is_not(None),
        )
        held = select(Reservation.evse_id).where(
            Reservation.station_id == station_id, Reservation.evse_id != STATION_WIDE,
            Reservation.status.in_(ACTIVE), Reservation.expires_at > utcnow(),
            Reservation.id_token != for_token,
        )
        free = await session.scalar(
            select(Connector.evse_id).where(
                Connector.station_id == station_id,
                Connector.evse_id != STATION_WIDE,
                Connector.evse_id != taken_evse,
                Connector.status.not_in(_NOT_FREE),
                Connector.evse_id.not_in(busy),
                Connector.evse_id.not_in(held),
            ).limit(1)
        )
        return free is not None

    async def use(
        self, session: AsyncSession, station_id: str, start: TransactionStart, transaction_id: int
    ) -> None:
        """Mark the reservation a starting transaction uses: the one it names (1.6
        StartTransaction / 2.0.1 TransactionEvent reservationId), else the token's own active
        reservation on that EVSE."""
        query = select(Reservation).where(
            Reservation.station_id == station_id,
            Reservation.status.in_(ACTIVE),
            Reservation.id_token == start.id_token,
        )
        if start.reservation_id is not None:
            query = query.where(Reservation.id == start.reservation_id)
        else:  # its hold on this EVSE first, else its hold on the whole station
            query = query.where(Reservation.evse_id.in_((start.evse_id, STATION_WIDE)))
            query = query.order_by(Reservation.evse_id.desc())
        reservation = await session.scalar(query.limit(1))
        if reservation is not None:
            reservation.status, reservation.transaction_id = USED, transaction_id
            reservation.updated_at = utcnow()

    async def station_ended(self, station_id: str, reservation_id: int, update_status: str) -> None:
        """A 2.0.1 station ended a reservation itself: Expired, or Removed (cancelled locally)."""
        async with self._sessions.begin() as session:
            reservation = await session.get(Reservation, reservation_id)
            if reservation is None or reservation.station_id != station_id:
                log.warning("%s reported unknown reservation %s", station_id, reservation_id)
                return
            if reservation.status in ACTIVE:
                reservation.status = _STATION_ENDED[update_status]
                reservation.updated_at = utcnow()

    async def expire_due(self, now: datetime | None = None) -> int:
        """Mark Accepted reservations whose time has passed as Expired; how many were."""
        now = now or utcnow()
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(Reservation)
                .where(Reservation.status == ACCEPTED, Reservation.expires_at <= now)
                .values(status=EXPIRED, updated_at=now)
            )
        return result.rowcount


class ReservationService:
    def __init__(
        self,
        sessions: async_sessionmaker,
        ledger: ReservationLedger,
        commands: CommandService,
        *,
        max_ahead: timedelta,
        check_every: float,
        adapters: dict[str, Adapter] | None = None,
    ) -> None:
        self._sessions = sessions
        self._ledger = ledger
        self._commands = commands
        # Each version's adapter says whether a station takes station-wide reservations.
        self._adapters = adapters or {}
        self._max_ahead = max_ahead
        self._check_every = check_every
        self._task: asyncio.Task | None = None

    # -- making and cancelling ------------------------------------------------------------------

    async def reserve(self, request: ReservationRequest) -> Reservation:
        """Validate, store as Requested, send ReserveNow, store the station's answer.

        Raises `ReservationRefused` (nothing stored) when the request is wrong or the charger
        cannot take it, and `ReservationConflict` naming the station's answer when the
        station refuses (the reservation stays, with that answer as its status)."""
        now = utcnow()
        if request.evse_id == STATION_WIDE:
            await self._check_station_wide(request)
        try:
            async with self._sessions.begin() as session:
                await self._check(session, request, now)
                reservation = Reservation(
                    station_id=request.station_id, evse_id=request.evse_id,
                    connector_id=request.connector_id, id_token=request.id_token,
                    expires_at=request.expires_at, status=REQUESTED, created_at=now, updated_at=now,
                )
                session.add(reservation)
        except IntegrityError:
            # A concurrent request took the EVSE between our check and our insert: the
            # database's one-holding-reservation-per-EVSE index refused the second one.
            raise ReservationConflict(
                f"EVSE {request.evse_id} of station {request.station_id} is already reserved "
                "(by a request made at the same moment)"
            ) from None
        params = {
            "reservation_id": reservation.id, "evse_id": request.evse_id,
            "connector_id": request.connector_id, "id_token": request.id_token,
            "expires_at": request.expires_at,
        }
        try:
            result = await self._commands.send(request.station_id, "reserve_now", params)
        except Exception:
            # Never reached the station, or no usable answer: the reservation was not made.
            await self._set_status(reservation.id, REJECTED)
            raise
        reservation = await self._set_status(reservation.id, result.status or REJECTED)
        if reservation.status not in (ACCEPTED, USED):
            raise ReservationConflict(
                f"station {request.station_id} answered {reservation.status} to reservation "
                f"{reservation.id}"
            )
        return reservation

    async def cancel(self, reservation_id: int, by_token: str | None = None) -> Reservation:
        """Send CancelReservation and mark it Cancelled. With `by_token`, only that token's
        own reservation can be cancelled (others are reported as unknown, revealing nothing)."""
        async with self._sessions() as session:
            reservation = await session.get(Reservation, reservation_id)
        if reservation is None or (by_token is not None and reservation.id_token != by_token):
            raise UnknownReservation(f"no reservation {reservation_id}")
        if reservation.status not in ACTIVE:
            raise ReservationConflict(f"reservation {reservation_id} is already {reservation.status}")
        # Rejected means the station holds no such reservation: it is not held either way.
        await self._commands.send(
            reservation.station_id, "cancel_reservation", {"reservation_id": reservation_id}
        )
        return await self._set_status(reservation_id, CANCELLED)

    async def find(self, station_id: str | None = None, status: str | None = None) -> list[Reservation]:
        query = select(Reservation).order_by(Reservation.id.desc())
        if station_id:
            query = query.where(Reservation.station_id == station_id)
        if status:
            query = query.where(Reservation.status == status)
        async with self._sessions() as session:
            return list((await session.scalars(query)).all())

    async def get(self, reservation_id: int) -> Reservation:
        async with self._sessions() as session:
            reservation = await session.get(Reservation, reservation_id)
        if reservation is None:
            raise UnknownReservation(f"no reservation {reservation_id}")
        return reservation

    # -- validation ---------------------------------------------------------------------------

    async def _check(self, session: AsyncSession, request: ReservationRequest, now: datetime) -> None:
        self._check_time(request.expires_at, now)
        await self._check_token(session, request.id_token, now)
        await self._check_charger(session, request)
        # What this request overlaps: the same EVSE or a hold on the whole station; a
        # station-wide request overlaps every hold on the station.
        overlapping = [Reservation.station_id == request.station_id]
        if request.evse_id != STATION_WIDE:
            overlapping.append(Reservation.evse_id.in_((request.evse_id, STATION_WIDE)))
        # A lapsed reservation the sweep has not marked yet must not block the EVSE (nor the
        # database's unique index): mark it now, in this transaction.
        await session.execute(
            update(Reservation)
            .where(*overlapping, Reservation.status == ACCEPTED, Reservation.expires_at <= now)
            .values(status=EXPIRED, updated_at=now)
        )
        held = await session.scalar(
            select(Reservation).where(
                *overlapping, Reservation.status.in_(ACTIVE), Reservation.expires_at > now,
            ).order_by(Reservation.evse_id).limit(1)
        )
        if held is not None:
            what = "the whole station" if held.evse_id == STATION_WIDE else f"EVSE {held.evse_id}"
            if held.evse_id == request.evse_id:
                raise ReservationConflict(
                    f"{_place(request.evse_id)} of station {request.station_id} is already "
                    f"reserved until {held.expires_at.isoformat()} (reservation {held.id})"
                )
            raise ReservationConflict(
                f"{_place(request.evse_id)} of station {request.station_id} overlaps reservation "
                f"{held.id} of {what}, held until {held.expires_at.isoformat()}"
            )

    async def _check_station_wide(self, request: ReservationRequest) -> None:
        """Refuse (storing nothing) a station-wide reservation the station does not take: its
        stored configuration says so, or, when it has not said, its answer to one
        get_configuration asking for the adapter's key."""
        from silkcharge.services.commands import UnknownStation  # not at the top: see TYPE_CHECKING

        if request.connector_id is not None:
            raise ReservationRefused(
                "a reservation of the whole station (evse_id 0) names no connector_id")
        async with self._sessions() as session:
            station = await session.get(Station, request.station_id)
        if station is None:
            raise UnknownStation(f"no station {request.station_id}")
        if not station.online:
            raise ReservationConflict(f"station {request.station_id} is offline")
        adapter = self._adapters.get(station.ocpp_version or "")
        if adapter is None:
            raise ReservationRefused(
                f"station {request.station_id} has never connected, so whether it takes "
                "reservations of the whole station is unknown")
        keys = adapter.station_wide_reservation_keys
        verdict = adapter.reserves_station_wide(station.configuration or {})
        if verdict is None:
            try:
                await self._commands.send(
                    request.station_id, "get_configuration", {"keys": list(keys)})
            except Exception as exc:  # no answer: we cannot know, so we do not send ReserveNow
                log.info("%s: %s not read: %s", request.station_id, ", ".join(keys), exc)
            async with self._sessions() as session:
                station = await session.get(Station, request.station_id)
            verdict = adapter.reserves_station_wide(station.configuration or {}) if station else None
        if not verdict:
            said = "does not report" if verdict is None else "reports false for"
            raise ReservationRefused(
                f"station {request.station_id} (OCPP {station.ocpp_version}) {said} "
                f"{', '.join(keys)}, so it does not take a reservation of the whole station "
                "(evse_id 0); reserve one EVSE instead"
            )

    def _check_time(self, expires_at: datetime, now: datetime) -> None:
        if expires_at.tzinfo is None:
            raise ReservationRefused("expires_at must carry a time zone (e.g. end in Z)")
        if expires_at <= now:
            raise ReservationRefused(f"expires_at {expires_at.isoformat()} is in the past")
        if expires_at - now > self._max_ahead:
            hours = self._max_ahead.total_seconds() / 3600
            raise ReservationRefused(f"expires_at is more than {hours:g} hours ahead")

    @staticmethod
    async def _check_token(session: AsyncSession, id_token: str, now: datetime) -> None:
        token = await session.scalar(select(IdToken).where(IdToken.token == id_token))
        if token is None:
            raise ReservationRefused(f"unknown idToken {id_token}")
        if token.status != AuthorizationStatus.ACCEPTED:
            raise ReservationRefused(f"idToken {id_token} is {token.status}")
        if token.expires_at is not None and token.expires_at <= now:
            raise ReservationRefused(f"idToken {id_token} expired on {token.expires_at.isoformat()}")

    @staticmethod
    async def _check_charger(session: AsyncSession, request: ReservationRequest) -> None:
        from silkcharge.services.commands import UnknownStation  # not at the top: see TYPE_CHECKING

        # Locked (on PostgreSQL) so that requests for one station are checked one at a time: the
        # unique index covers one EVSE, not a station-wide hold against an EVSE's.
        station = await session.get(Station, request.station_id, with_for_update=True)
        if station is None:
            raise UnknownStation(f"no station {request.station_id}")
        if not station.online:
            raise ReservationConflict(f"station {request.station_id} is offline")
        query = select(Connector).where(Connector.station_id == request.station_id)
        if request.evse_id == STATION_WIDE:
            query = query.where(Connector.evse_id != STATION_WIDE)
        else:
            query = query.where(Connector.evse_id == request.evse_id)
        if request.connector_id is not None:
            query = query.where(Connector.connector_id == request.connector_id)
        connectors = (await session.scalars(query)).all()
        place = _place(request.evse_id) + (
            f" connector {request.connector_id}" if request.connector_id is not None else ""
        )
        if not connectors:
            missing = "connectors" if request.evse_id == STATION_WIDE else place
            raise ReservationRefused(f"station {request.station_id} has no {missing}")
        if request.evse_id == STATION_WIDE:
            if all(connector.status in _UNUSABLE for connector in connectors):
                raise ReservationConflict(
                    f"no connector of station {request.station_id} can be kept free: all are "
                    f"{' or '.join(sorted({connector.status for connector in connectors}))}")
            return
        if all(connector.status in _UNUSABLE for connector in connectors):
            raise ReservationConflict(
                f"{place} of station {request.station_id} is {connectors[0].status}"
            )

    async def _set_status(self, reservation_id: int, status: str) -> Reservation:
        async with self._sessions.begin() as session:
            reservation = await session.get(Reservation, reservation_id)
            if reservation.status in ACTIVE:  # a start or a station update may have come first
                reservation.status = status
                reservation.updated_at = utcnow()
        return reservation

    # -- expiry -------------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._expire_forever(), name="reservation-expiry")

    async def stop(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        # A plain sleep loop, no asyncio.wait_for: see BillingService.stop.
        await asyncio.wait([self._task], timeout=10)
        self._task = None

    async def _expire_forever(self) -> None:
        while True:
            try:
                expired = await self._ledger.expire_due()
                if expired:
                    log.info("%d reservation(s) expired", expired)
            except Exception:
                log.exception("reservation expiry failed; it runs again in %s s", self._check_every)
            await asyncio.sleep(self._check_every)
