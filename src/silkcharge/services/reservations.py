"""Reservations: a connector or EVSE held for one driver's idToken until a time.

In OCPP the station enforces a reservation (it lets only the reserved token, or a token of the
reservation's group, start there); the CSMS double-checks. Two parts live here:

- `ReservationLedger` keeps the facts stations change: a reservation used by a starting
  transaction, one the station reports expired or removed (2.0.1 ReservationStatusUpdate),
  one whose time ran out, a request whose answer never got stored. `TransactionService.start`
  calls it inside its own database transaction, so a start and the reservation it uses are
  committed together.
- `ReservationService` is the use case operators and drivers call: it validates a request,
  stores it as Requested, sends ReserveNow through `CommandService` and stores the station's
  answer; it cancels with CancelReservation; and it runs the expiry sweep.

The station decides. What the CSMS has stored about a charger may be stale (a connector stored
Faulted before a reboot, a reservation the station has forgotten), so it refuses a request only
for what it knows for sure: the token, the time, a station that is offline or has no such
EVSE, a station (or its profile) that says it takes no such reservation. Everything else is
sent, and the station's answer is stored and returned. A reservation holds an EVSE only while
it is Accepted and unexpired: one whose ReserveNow failed, or that ended, holds nothing; and
when a station accepts a reservation for an EVSE on which an older one is stored as held, the
station evidently no longer holds the older one, which becomes Superseded.

EVSE 0 is a station-wide reservation (OCPP 1.6 ReserveNow with connectorId 0, §5.13; 2.0.1
ReserveNow without evseId). It is sent unless the station's effective profile says it does not
take one (its configuration key, read by the adapter, or a model profile); when nothing says,
the station is asked by trying. The station reserves no particular connector but keeps one free
for the token, which may start on any of them; another token may start only while some other
connector stays free for the reserved one.

Data residency (store/residency.py): a reservation is the tenant's data, in its station's
database; its id is only unique there. A driver is the platform's, with no tenant, and
reserves at any operator's station: `reserve_for_driver` checks the driver's token where
drivers' tokens are and makes the reservation in the station's database, and
`cancel_for_driver` finds it in whichever database holds it. The expiry sweep runs in each.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from silkcharge.domain.charging import AuthorizationStatus, ConnectorStatus, TransactionStart
from silkcharge.domain.clock import utcnow
from silkcharge.domain.refusals import Refusal
from silkcharge.services.commands import CommandRefused, CommandService, UnknownStation
from silkcharge.services.plausibility import Plausibility
from silkcharge.services.station_profiles import StationProfiles
from silkcharge.store.residency import database_in_use, database_scope, each_database, residency_of
from silkcharge.store.schema import Connector, IdToken, Reservation, Station, Transaction

log = logging.getLogger(__name__)

REQUESTED, ACCEPTED = "Requested", "Accepted"
CANCELLED, EXPIRED, USED, REJECTED = "Cancelled", "Expired", "Used", "Rejected"
SUPERSEDED = "Superseded"  # the station accepted a newer reservation for the same EVSE
ACTIVE = (REQUESTED, ACCEPTED)
STATUSES = (
    REQUESTED, ACCEPTED, REJECTED, "Faulted", "Occupied", "Unavailable", CANCELLED, EXPIRED, USED,
    SUPERSEDED,
)
# What a 2.0.1 station's ReservationStatusUpdate means for the stored reservation.
_STATION_ENDED = {"Expired": EXPIRED, "Removed": CANCELLED}
# A connector in these states cannot be the one a station-wide reservation keeps free.
_NOT_FREE = (
    ConnectorStatus.FAULTED.value, ConnectorStatus.UNAVAILABLE.value,
    ConnectorStatus.OCCUPIED.value, ConnectorStatus.CHARGING.value,
)
STATION_WIDE = 0  # the evse_id of a reservation of the whole station


def _place(evse_id: int) -> str:
    return "the whole station" if evse_id == STATION_WIDE else f"EVSE {evse_id}"


class ReservationRefused(Refusal):
    """The request itself is wrong (token, time, place); the message says what to change."""


class ReservationConflict(ReservationRefused):
    """The request is fine but the charger cannot take it now (offline, or its own answer)."""


class UnknownReservation(LookupError):
    pass


@dataclass(frozen=True)
class ReservationRequest:
    station_id: str
    evse_id: int
    connector_id: int | None
    id_token: str
    expires_at: datetime
    connector_type: str | None = None
    """2.0.1 ConnectorEnumType: the station holds an EVSE with a connector of this type."""
    group_id_token: str | None = None
    """A token of this group may use the reservation too (1.6 parentIdTag, 2.0.1 groupIdToken)."""


class ReservationLedger:
    def __init__(self, sessions: async_sessionmaker, plausibility: Plausibility | None = None) -> None:
        self._sessions = sessions
        self._plausibility = plausibility or Plausibility(sessions)

    async def held_for_another(
        self, session: AsyncSession, station_id: str, evse_id: int, id_token: str | None,
        group_id: str | None = None,
    ) -> Reservation | None:
        """The Accepted, unexpired reservation that a start by this token (of this group) on
        this EVSE would break: one holding this EVSE for a different token and group, or a
        station-wide one for them when no other connector would stay free for it."""
        holds = (await session.scalars(
            select(Reservation).where(
                Reservation.station_id == station_id,
                Reservation.evse_id.in_((evse_id, STATION_WIDE)),
                Reservation.status == ACCEPTED,
                Reservation.expires_at > utcnow(),
                Reservation.id_token != (id_token or ""),
                _not_of_group(group_id),
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
        self, session: AsyncSession, station_id: str, start: TransactionStart, transaction_id: int,
        group_id: str | None = None,
    ) -> None:
        """Mark the reservation a starting transaction uses: the one it names (1.6
        StartTransaction / 2.0.1 TransactionEvent reservationId), else the token's own active
        reservation on that EVSE. A token of the reservation's group uses it as its own."""
        mine = Reservation.id_token == start.id_token
        if group_id:
            mine = or_(mine, Reservation.group_id_token == group_id)
        query = select(Reservation).where(
            Reservation.station_id == station_id,
            Reservation.status.in_(ACTIVE),
            mine,
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

    async def expire_due(
        self, now: datetime | None = None, unanswered_after: timedelta | None = None, asking: Collection[int] = (),
    ) -> int:
        """Mark Accepted reservations whose time has passed as Expired, and requests whose
        answer was never stored (the process stopped while the station was asked) older than
        `unanswered_after` as Rejected (except those in `asking`, whose answer is awaited
        now); how many were. All in one transaction; if that fails,
        one by one, so a row that cannot be changed is logged, flagged on its station and
        skipped while the others expire."""
        now = now or utcnow()
        due = (Reservation.status == ACCEPTED, Reservation.expires_at <= now)
        try:
            async with self._sessions.begin() as session:
                expired = await session.execute(
                    update(Reservation).where(*due).values(status=EXPIRED, updated_at=now)
                )
                unanswered = await session.execute(_unanswered(now, unanswered_after, asking=asking))
            return expired.rowcount + unanswered.rowcount
        except Exception:
            log.exception("expiring reservations together failed; each is tried alone")
        async with self._sessions() as session:
            rows = (await session.execute(select(Reservation.id, Reservation.station_id).where(*due))).all()
        ended = 0
        for reservation_id, station_id in rows:
            try:
                async with self._sessions.begin() as session:
                    result = await session.execute(
                        update(Reservation).where(Reservation.id == reservation_id, *due)
                        .values(status=EXPIRED, updated_at=now)
                    )
                ended += result.rowcount
            except Exception as error:
                await self._unexpirable(station_id, reservation_id, error)
        try:
            async with self._sessions.begin() as session:
                ended += (await session.execute(_unanswered(now, unanswered_after, asking=asking))).rowcount
        except Exception:
            log.exception("requests left unanswered could not be marked Rejected; tried again next sweep")
        return ended

    async def _unexpirable(self, station_id: str, reservation_id: int, error: Exception) -> None:
        log.exception("reservation %s could not be expired; skipped", reservation_id)
        finding = self._plausibility.checks.stored(
            f"reservation {reservation_id}", f"reservation {reservation_id} could not be expired: {error}"
        )
        try:
            await self._plausibility.record_now(station_id, None, [finding])
        except Exception:
            log.exception("could not flag reservation %s", reservation_id)


def _not_of_group(group_id: str | None):
    """Reservations that a token of `group_id` may not use as its own."""
    if not group_id:
        return true()
    return or_(Reservation.group_id_token.is_(None), Reservation.group_id_token != group_id)


def _unanswered(now: datetime, after: timedelta | None, *where, asking: Collection[int] = ()):
    """Requested reservations older than `after` (all of them past their expiry): their
    ReserveNow's answer was never stored, so they hold nothing. Those in `asking` are being
    answered right now in this process (a slow station or a loaded machine), and are left."""
    lapsed = Reservation.expires_at <= now
    if after is not None:
        lapsed = or_(lapsed, Reservation.created_at <= now - after)
    if asking:
        where = (*where, Reservation.id.not_in(list(asking)))
    return (
        update(Reservation)
        .where(*where, Reservation.status == REQUESTED, lapsed)
        .values(status=REJECTED, updated_at=now)
    )


class ReservationService:
    def __init__(
        self,
        sessions: async_sessionmaker,
        ledger: ReservationLedger,
        commands: CommandService,
        profiles: StationProfiles,
        *,
        max_ahead: timedelta,
        check_every: float,
        unanswered_after: timedelta,
    ) -> None:
        self._sessions = sessions
        self._ledger = ledger
        self._commands = commands
        # A station's effective profile says whether it takes (station-wide) reservations.
        self._profiles = profiles
        self._max_ahead = max_ahead
        self._check_every = check_every
        self._unanswered_after = unanswered_after
        self._task: asyncio.Task | None = None
        self._residency = residency_of(sessions)
        self._asking: set[tuple[str | None, int]] = set()
        """Reservations whose ReserveNow this process is sending or awaiting the answer to, as
        (database, id): the sweep must not mark them unanswered, however long a loaded machine
        takes."""

    # -- making and cancelling ------------------------------------------------------------------

    async def reserve(self, request: ReservationRequest, *, token: IdToken | None = None) -> Reservation:
        """Validate, store as Requested, send ReserveNow, store the station's answer. `token`:
        the request's idToken, checked already where it is stored (`reserve_for_driver`).

        Raises `ReservationRefused` (nothing stored) when the request is wrong or the station
        says it takes no such reservation, and `ReservationConflict` naming the station's answer
        when the station refuses (the reservation stays, with that answer as its status, and
        holds nothing)."""
        now = utcnow()
        try:
            async with self._sessions.begin() as session:
                await self._check(session, request, now, token)
                reservation = Reservation(
                    station_id=request.station_id, evse_id=request.evse_id,
                    connector_id=request.connector_id, id_token=request.id_token,
                    expires_at=request.expires_at, status=REQUESTED, created_at=now, updated_at=now,
                    connector_type=request.connector_type, group_id_token=request.group_id_token,
                )
                session.add(reservation)
        except IntegrityError:
            # Another request for this EVSE is being answered right now: the database's
            # one-request-per-EVSE index refused the second one.
            raise ReservationConflict(
                f"{_place(request.evse_id)} of station {request.station_id} is being reserved by "
                "another request at this moment", "reservation_in_progress", station=request.station_id,
            ) from None
        asking = (database_in_use(self._sessions), reservation.id)
        self._asking.add(asking)
        try:
            status = await self._ask_station(reservation, request)
            reservation = await self._answered(reservation.id, status)
        finally:
            self._asking.discard(asking)
        if reservation.status not in (ACCEPTED, USED):
            raise ReservationConflict(
                f"station {request.station_id} answered {status} to reservation {reservation.id}"
                + await self._stored_hold(request, reservation.id),
                "reservation_answered", station=request.station_id, status=status,
            )
        return reservation

    async def _ask_station(self, reservation: Reservation, request: ReservationRequest) -> str:
        """Send ReserveNow; the station's answer. A command that cannot be built in the
        station's version leaves nothing stored; one that never got an answer is Rejected."""
        params = {
            "reservation_id": reservation.id, "evse_id": request.evse_id,
            "connector_id": request.connector_id, "id_token": request.id_token,
            "expires_at": request.expires_at, "connector_type": request.connector_type,
            "group_id_token": request.group_id_token,
        }
        try:
            result = await self._commands.send(request.station_id, "reserve_now", params)
        except CommandRefused as exc:
            async with self._sessions.begin() as session:
                await session.execute(delete(Reservation).where(Reservation.id == reservation.id))
            raise ReservationRefused(str(exc), "reservation_not_possible", station=request.station_id) from None
        except BaseException:
            # Never reached the station, no usable answer, or the caller went away: either way
            # the reservation is not made, and must not hold the EVSE.
            await self._answered(reservation.id, REJECTED)
            raise
        return result.status or REJECTED

    async def _stored_hold(self, request: ReservationRequest, reservation_id: int) -> str:
        """A hint for a refusal: the hold silkcharge has stored on that EVSE, if any."""
        async with self._sessions() as session:
            held = await session.scalar(select(Reservation).where(
                Reservation.station_id == request.station_id, Reservation.evse_id == request.evse_id,
                Reservation.status == ACCEPTED, Reservation.expires_at > utcnow(),
                Reservation.id != reservation_id,
            ))
        if held is None:
            return ""
        return f" ({_place(held.evse_id)} is reserved until {held.expires_at.isoformat()} by reservation {held.id})"

    async def cancel(self, reservation_id: int, by_token: str | None = None) -> Reservation:
        """Send CancelReservation and mark it Cancelled. With `by_token`, only that token's
        own reservation can be cancelled (others are reported as unknown, revealing nothing)."""
        async with self._sessions() as session:
            reservation = await session.get(Reservation, reservation_id)
        if reservation is None or (by_token is not None and reservation.id_token != by_token):
            raise UnknownReservation(f"no reservation {reservation_id}")
        if reservation.status not in ACTIVE:
            raise ReservationConflict(f"reservation {reservation_id} is already {reservation.status}",
                                      "reservation_already_ended", status=reservation.status)
        # Rejected means the station holds no such reservation: it is not held either way.
        await self._commands.send(
            reservation.station_id, "cancel_reservation", {"reservation_id": reservation_id}
        )
        return await self._answered(reservation_id, CANCELLED)

    # -- for drivers, at any operator's station ---------------------------------------------------

    async def reserve_for_driver(self, request: ReservationRequest) -> Reservation:
        """A driver's reservation (api/driver.py), for one of the driver's own tokens. With data
        residency the station may live in any database: the token is checked where drivers'
        tokens are (the platform's database, as `DriverService` finds them), and the
        reservation is made, sent and stored in the station's database."""
        if self._residency is None:
            return await self.reserve(request)
        async with self._sessions() as session:
            token = await self._check_token(session, request.id_token, utcnow())
        with database_scope(await self._residency.locate_station(request.station_id)):
            return await self.reserve(request, token=token)

    async def cancel_for_driver(
        self, reservation_id: int, tokens: Collection[str], station_id: str | None = None,
    ) -> Reservation:
        """Cancel a driver's own reservation (one made for `tokens`) in whichever database holds
        it; anyone else's is unknown. Ids are per database (data residency): when the driver
        holds two active ones with this id, at stations of two databases, `station_id` says
        which."""
        found = [hit for hit in await each_database(
            self._sessions, lambda: self._own(reservation_id, tokens, station_id)) if hit is not None]
        active = [(database, held) for database, held in found if held.status in ACTIVE]
        if len(active) > 1:
            stations = " and ".join(sorted(held.station_id for _, held in active))
            raise ReservationConflict(
                f"you hold reservation {reservation_id} at stations {stations}: "
                "say which with station_id")
        if not (active or found):
            raise UnknownReservation(f"no reservation {reservation_id}")
        database, reservation = (active or found)[0]
        with database_scope(database):
            return await self.cancel(reservation_id, by_token=reservation.id_token)

    async def _own(
        self, reservation_id: int, tokens: Collection[str], station_id: str | None,
    ) -> tuple[str | None, Reservation] | None:
        """The reservation with this id made for one of `tokens`, in the database in use."""
        query = select(Reservation).where(Reservation.id == reservation_id, Reservation.id_token.in_(list(tokens)))
        if station_id is not None:
            query = query.where(Reservation.station_id == station_id)
        async with self._sessions() as session:
            reservation = await session.scalar(query)
        return None if reservation is None else (database_in_use(self._sessions), reservation)

    # -- reading ----------------------------------------------------------------------------------

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

    # -- validation: only what is known for sure --------------------------------------------------

    async def _check(
        self, session: AsyncSession, request: ReservationRequest, now: datetime, token: IdToken | None = None,
    ) -> None:
        self._check_time(request.expires_at, now)
        if token is None:
            token = await self._check_token(session, request.id_token, now)
        station = await self._check_station(session, request)
        await self._check_profile(session, station, request, token)
        await self._check_place(session, request)
        # What a stale store leaves on this EVSE must not block it (nor the unique indexes):
        # a hold past its time, or a request whose answer was never stored.
        here = (Reservation.station_id == request.station_id, Reservation.evse_id == request.evse_id)
        await session.execute(
            update(Reservation)
            .where(*here, Reservation.status == ACCEPTED, Reservation.expires_at <= now)
            .values(status=EXPIRED, updated_at=now)
        )
        await session.execute(_unanswered(now, self._unanswered_after, *here))

    def _check_time(self, expires_at: datetime, now: datetime) -> None:
        if expires_at.tzinfo is None:
            raise ReservationRefused("expires_at must carry a time zone (e.g. end in Z)")
        if expires_at <= now:
            raise ReservationRefused(f"expires_at {expires_at.isoformat()} is in the past", "reservation_ends_in_past")
        if expires_at - now > self._max_ahead:
            hours = self._max_ahead.total_seconds() / 3600
            raise ReservationRefused(f"expires_at is more than {hours:g} hours ahead", "reservation_too_long",
                                     hours=f"{hours:g}")

    @staticmethod
    async def _check_token(session: AsyncSession, id_token: str, now: datetime) -> IdToken:
        token = await session.scalar(select(IdToken).where(IdToken.token == id_token))
        if token is None:
            raise ReservationRefused(f"unknown idToken {id_token}", "token_unknown")
        if token.status != AuthorizationStatus.ACCEPTED:
            raise ReservationRefused(f"idToken {id_token} is {token.status}", "token_not_accepted", status=token.status)
        if token.expires_at is not None and token.expires_at <= now:
            raise ReservationRefused(f"idToken {id_token} expired on {token.expires_at.isoformat()}", "token_expired")
        return token

    @staticmethod
    async def _check_station(session: AsyncSession, request: ReservationRequest) -> Station:
        # Locked (on PostgreSQL) so that requests for one station are stored one at a time.
        station = await session.get(Station, request.station_id, with_for_update=True)
        if station is None:
            raise UnknownStation(f"no station {request.station_id}")
        if not station.online:
            raise ReservationConflict(f"station {request.station_id} is offline", "station_offline",
                                      station=request.station_id)
        return station

    async def _check_profile(
        self, session: AsyncSession, station: Station, request: ReservationRequest, token: IdToken,
    ) -> None:
        """What the station's effective profile rules out: reservations at all, the whole
        station, or a master pass (which may stop transactions, never start one)."""
        profile = await self._profiles.of(station, session)
        if profile.get("reservations") is False:
            raise ReservationRefused(
                f"station {station.id} takes no reservations ({profile.source('reservations')})",
                "reservation_not_taken", station=station.id)
        if request.evse_id == STATION_WIDE:
            if request.connector_id is not None:
                raise ReservationRefused(
                    "a reservation of the whole station (evse_id 0) names no connector_id")
            if profile.get("reservations_station_wide") is False:
                raise ReservationRefused(
                    f"station {station.id} does not take a reservation of the whole station "
                    f"(evse_id 0) ({profile.source('reservations_station_wide')}); "
                    "reserve one EVSE instead", "reservation_station_wide_not_taken", station=station.id)
        master = profile.get("master_pass_group_id")
        if master is not None and token.group_id == master:
            raise ReservationRefused(
                f"idToken {token.token} is a master pass of station {station.id} (group {master}): "
                "it may stop transactions there but not start one", "token_master_pass", station=station.id)

    @staticmethod
    async def _check_place(session: AsyncSession, request: ReservationRequest) -> None:
        """The EVSE (and connector) must exist; its stored status does not matter: it may be
        stale, and the station answers Faulted, Occupied or Unavailable itself."""
        query = select(Connector.id).where(Connector.station_id == request.station_id)
        if request.evse_id == STATION_WIDE:
            query = query.where(Connector.evse_id != STATION_WIDE)
        else:
            query = query.where(Connector.evse_id == request.evse_id)
        if request.connector_id is not None:
            query = query.where(Connector.connector_id == request.connector_id)
        if await session.scalar(query.limit(1)) is None:
            place = _place(request.evse_id) + (
                f" connector {request.connector_id}" if request.connector_id is not None else "")
            missing = "connectors" if request.evse_id == STATION_WIDE else place
            raise ReservationRefused(f"station {request.station_id} has no {missing}", "reservation_no_such_place",
                                     station=request.station_id)

    async def _answered(self, reservation_id: int, status: str) -> Reservation:
        """Store the station's answer (or a cancellation). An Accepted one takes the EVSE from any older hold
        stored there: the station would not have accepted while it still held that one."""
        async with self._sessions.begin() as session:
            reservation = await session.get(Reservation, reservation_id)
            if reservation.status not in ACTIVE:  # a start or a station update came first
                return reservation
            now = utcnow()
            if status == ACCEPTED:
                await session.execute(
                    update(Reservation)
                    .where(
                        Reservation.station_id == reservation.station_id,
                        Reservation.evse_id == reservation.evse_id,
                        Reservation.status == ACCEPTED, Reservation.id != reservation_id,
                    )
                    .values(status=SUPERSEDED, updated_at=now)
                )
                await session.flush()
            reservation.status, reservation.updated_at = status, now
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

    async def expire_due(self, now: datetime | None = None) -> int:
        """One sweep: reservations past their time expire, requests never answered are
        Rejected; those this process still awaits an answer to are left. With data residency,
        in every database."""
        return sum(await each_database(self._sessions, lambda: self._ledger.expire_due(
            now, unanswered_after=self._unanswered_after, asking=self._asked_here())))

    def _asked_here(self) -> set[int]:
        """The reservations of the database in use whose answer this process awaits."""
        database = database_in_use(self._sessions)
        return {reservation_id for held_in, reservation_id in self._asking if held_in == database}

    async def _expire_forever(self) -> None:
        while True:
            try:
                ended = await self.expire_due()
                if ended:
                    log.info("%d reservation(s) expired or were never answered", ended)
            except Exception:
                log.exception("reservation expiry failed; it runs again in %s s", self._check_every)
            await asyncio.sleep(self._check_every)
