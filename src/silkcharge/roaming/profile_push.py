"""The ActiveChargingProfile of a session pushed to its eMSP when we know it changed (OCPI 2.2.1
mod_charging_profiles, CPO role: PUT on the eMSP's Sender interface, `{endpoint}/{session_id}`).

`ProfilePush` follows the bus (`local_only`: with several nodes, each change is acted on once,
by the node where it was recorded or reported) for the changes silkcharge learns of:

- `ChargingProfilesChanged`: smart charging recorded a profile a station accepted, or forgot the
  ones a ClearChargingProfile cleared (the operator's, load management's, a depot plan's);
- `ExternalChargingLimitChanged`: a 2.0.1 station reported a limit an energy management system
  or the grid operator set or cleared (NotifyChargingLimit, ClearedChargingLimit).

A change on EVSE 0 (or on no EVSE named) concerns every EVSE of the station. For each session
running there whose eMSP once had a SetChargingProfile ACCEPTED for it (OCPI allows the push only
then), the station is asked GetCompositeSchedule for the session's EVSE over `PUSH_DURATION`,
and what it plans, as the ActiveChargingProfile (charging_profiles.py `active_profile`), is
enqueued in the outbox as a PUT to that eMSP: kept across outages, retried, in order per session,
and a PUT still waiting is superseded by the next. A station that gives no limited schedule is
shown at its EVSE's maximum power, as OCPI asks when no profile is active any more.

Not pushed: a change recorded with source "roaming". That is a partner's own SET or DELETE
(`ProfileDesk`): the TxProfile of that partner's own session, on its EVSE, so no other session's
profile changed, and the partner learns of its own change from the result.

A burst is coalesced per station: while a station's round runs, further changes only add their
EVSEs to one more round that follows it (a load-management pass that sets a profile on each EVSE
of a station costs one or two rounds, not one per profile). A station that cannot be asked
(offline, no answer, a refusal) costs only its round: logged and recorded. When the station
connects again (`StationConnected`, on the node that holds its socket), each of its running
sessions whose last push was not made is pushed again, cause "station back online"; otherwise
the next change asks again, and the eMSP can always GET.

Every round's outcome per session is a row of `roaming_charging_profiles`, direction "pushed",
kind ACTIVE, committed with the push: `result` ACCEPTED (pushed, `profile` what was sent),
REJECTED (the station could not be asked or refused, `result_message` why) or UNKNOWN (no
schedule and no known maximum), as an ACTIVE request's result would be.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from silkcharge.bus.local import EventBus
from silkcharge.domain.clock import utcnow
from silkcharge.domain.events import (
    ActiveProfilePushed,
    ChargingProfilesChanged,
    Event,
    ExternalChargingLimitChanged,
    StationConnected,
)
from silkcharge.roaming.charging_profiles import (
    ACTIVE,
    CALL_FAILURES,
    MODULE,
    PUSHED,
    RECEIVED,
    ROAMING_SOURCE,
    SET,
    composite_profile,
    station_refusal,
)
from silkcharge.roaming.outbox import Outbox, Push
from silkcharge.roaming.wire import ocpi_datetime
from silkcharge.services.commands import CommandService
from silkcharge.smart.profiles import wire_number
from silkcharge.store.residency import database_scope, station_database
from silkcharge.store.schema import Connector, RoamingChargingProfile, Transaction

log = logging.getLogger(__name__)

PUSH_DURATION = 3600
"""Seconds of the ActiveChargingProfile pushed: the top of OCPI's guide (5 to 60 minutes). A push
follows a change only, never the clock, so the window is as long as the guide allows for the
eMSP to see the next step of a plan (a profile that steps at half an hour); it asks (GET) for
longer when it wants."""

BACK_ONLINE = "station back online"
"""The cause recorded for a push made again once the station connected after a missed one."""

StationKey = tuple[str | None, str]
"""A station where its changes are coalesced: (its database, its id)."""


@dataclass
class _Changes:
    """The changes of a station waiting for its next round."""

    evses: set[int] | None = field(default_factory=set)
    """The EVSEs changed; None: the whole station."""
    causes: set[str] = field(default_factory=set)


def cause_of(event: Event) -> str | None:
    """Why the event may change sessions' ActiveChargingProfile, for the record; None when it is
    not pushed (a partner's own change, which its result reports)."""
    if isinstance(event, ChargingProfilesChanged):
        return None if event.source == ROAMING_SOURCE else event.source
    if isinstance(event, ExternalChargingLimitChanged):
        return f"external limit {'cleared' if event.cleared else 'set'} by {event.source}"
    return None


class ProfilePush:
    def __init__(self, sessions: async_sessionmaker, bus: EventBus, outbox: Outbox, commands: CommandService, *,
                 duration: int = PUSH_DURATION) -> None:
        self._sessions = sessions
        self._bus = bus
        self._outbox = outbox
        self._commands = commands
        self.duration = duration
        self._task: asyncio.Task | None = None
        self._waiting: dict[StationKey, _Changes] = {}
        self._rounds: dict[StationKey, asyncio.Task] = {}

    def start(self) -> None:
        self._task = asyncio.create_task(self._follow(), name="roaming-profile-push")

    async def stop(self) -> None:
        """Stop following and end the rounds running (a push not yet enqueued is not made)."""
        tasks = [task for task in (self._task, *self._rounds.values()) if task is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=10)
        self._task = None
        self._waiting.clear()

    async def idle(self) -> None:
        """Wait until every round started so far, and the rounds they lead to, have ended."""
        while self._rounds:
            await asyncio.wait(list(self._rounds.values()))

    async def _follow(self) -> None:
        kinds = (ChargingProfilesChanged, ExternalChargingLimitChanged, StationConnected)
        async with self._bus.subscribe(local_only=True, kinds=kinds) as events:
            while True:
                event = await events.get()
                cause = BACK_ONLINE if isinstance(event, StationConnected) else cause_of(event)
                if cause is None:
                    continue
                try:
                    database = await station_database(self._sessions, event.station_id)
                    if cause == BACK_ONLINE:
                        with database_scope(database):
                            missed = await self._pushes_missed(event.station_id)
                    else:
                        missed = {getattr(event, "evse_id", None)}
                except Exception:  # the database may be down; the station's next change tries again
                    log.exception("roaming profile push: cannot follow a change of %s", event.station_id)
                    continue
                for evse_id in missed:
                    self.changed((database, event.station_id), evse_id, cause)

    async def _pushes_missed(self, station_id: str) -> set[int]:
        """The EVSEs of the station's running sessions whose last push was not made (the station
        could not be asked, or refused): empty for nearly every station that connects."""
        async with self._sessions() as session:
            running = (await session.scalars(select(Transaction.id).where(
                Transaction.station_id == station_id, Transaction.state == "Active"))).all()
            if not running:
                return set()
            pushes = (await session.execute(
                select(RoamingChargingProfile.session_id, RoamingChargingProfile.evse_id,
                       RoamingChargingProfile.result)
                .where(RoamingChargingProfile.direction == PUSHED,
                       RoamingChargingProfile.session_id.in_([str(tx_id) for tx_id in running]))
                .order_by(RoamingChargingProfile.id))).all()
        last = {session_id: (evse_id, result) for session_id, evse_id, result in pushes}  # the newest wins
        return {evse_id for evse_id, result in last.values() if result != "ACCEPTED" and evse_id}

    def changed(self, station: StationKey, evse_id: int | None, cause: str) -> None:
        """Note a change on the station's EVSE (0 or None: the whole station) and start the
        station's round, unless one runs: that one is followed by another."""
        waiting = self._waiting.setdefault(station, _Changes())
        if not evse_id:
            waiting.evses = None
        elif waiting.evses is not None:
            waiting.evses.add(evse_id)
        waiting.causes.add(cause)
        if station not in self._rounds:
            with database_scope(station[0]):  # the task keeps the station's database
                self._rounds[station] = asyncio.create_task(self._rounds_of(station), name=f"profile-push-{station[1]}")

    async def _rounds_of(self, station: StationKey) -> None:
        try:
            while (changes := self._waiting.pop(station, None)) is not None:
                try:
                    await self.push_station(station[1], changes.evses, ", ".join(sorted(changes.causes)))
                except Exception:  # the next change tries again
                    log.exception("roaming profile push: the round of %s failed", station[1])
        finally:
            self._rounds.pop(station, None)

    async def push_station(self, station_id: str, evses: set[int] | None, cause: str) -> list[int]:
        """Push the ActiveChargingProfile of each session running at the station (on `evses`;
        None: all) whose eMSP once had a SET accepted for it; the outbox rows' ids."""
        rows = []
        for tx, partner_id, tenant_id in await self._sessions_told(station_id, evses):
            row = await self._push(tx, partner_id, tenant_id, cause)
            if row is not None:
                rows.append(row)
        return rows

    async def _sessions_told(self, station_id: str, evses: set[int] | None) -> list[tuple[Transaction, int, int]]:
        """The sessions running on the EVSEs, each with the partner (and its tenant) that had a
        SetChargingProfile accepted for it."""
        async with self._sessions() as session:
            query = select(Transaction).where(Transaction.station_id == station_id, Transaction.state == "Active")
            if evses is not None:
                query = query.where(Transaction.evse_id.in_(evses))
            running = {str(tx.id): tx for tx in (await session.scalars(query)).all()}
            if not running:
                return []
            accepted = (await session.execute(
                select(RoamingChargingProfile.session_id, RoamingChargingProfile.partner_id,
                       RoamingChargingProfile.tenant_id)
                .where(RoamingChargingProfile.direction == RECEIVED, RoamingChargingProfile.kind == SET,
                       RoamingChargingProfile.result == "ACCEPTED",
                       RoamingChargingProfile.session_id.in_(running))
                .distinct().order_by(RoamingChargingProfile.session_id))).all()
        return [(running[session_id], partner_id, tenant_id) for session_id, partner_id, tenant_id in accepted]

    async def _push(self, tx: Transaction, partner_id: int, tenant_id: int, cause: str) -> int | None:
        """Ask the station and enqueue the PUT, recorded together; the outbox row's id, or None."""
        result, message, profile = await self._plan_of(tx)
        session_id = str(tx.id)
        now = utcnow()
        row_id = None
        async with self._sessions.begin() as session:
            session.add(RoamingChargingProfile(
                tenant_id=tenant_id, partner_id=partner_id, direction=PUSHED, kind=ACTIVE, uid=uuid.uuid4().hex,
                session_id=session_id, request={"duration": self.duration, "cause": cause},
                station_id=tx.station_id, evse_id=tx.evse_id, result=result, result_message=message,
                profile=profile, created_at=now, result_at=now,
            ))
            if profile is not None:
                push = Push(partner_id, MODULE, f"activeprofile/{session_id}", "PUT", quote(session_id, safe=""),
                            profile)
                row_id = (await self._outbox.enqueue(session, push, tenant_id=tenant_id)).id
        self._bus.publish(ActiveProfilePushed(tx.station_id, now, session_id, partner_id, result))
        if row_id is None:
            log.warning("no ActiveChargingProfile pushed to roaming partner %s for session %s at %s (%s): %s",
                        partner_id, session_id, tx.station_id, cause, message)
        return row_id

    async def _plan_of(self, tx: Transaction) -> tuple[str, str | None, dict[str, Any] | None]:
        """What the station plans for the session's EVSE: (result, why not, ActiveChargingProfile)."""
        try:
            reply = await self._commands.send(tx.station_id, "get_composite_schedule",
                                              {"evse_id": tx.evse_id, "duration": self.duration})
        except CALL_FAILURES as exc:
            return "REJECTED", str(exc)[:500] or type(exc).__name__, None
        if reply.status != "Accepted":
            return "REJECTED", station_refusal(reply), None
        profile = composite_profile(reply) or await self._evse_maximum(tx)
        if profile is None:
            return "UNKNOWN", "the charge point gave no schedule and its EVSE's maximum power is not known", None
        return "ACCEPTED", None, profile

    async def _evse_maximum(self, tx: Transaction) -> dict[str, Any] | None:
        """The EVSE's maximum power (its connectors' rating, as registered) as the
        ActiveChargingProfile, from now for the push's duration; None when not known."""
        async with self._sessions() as session:
            kilowatts = await session.scalar(select(func.max(Connector.max_power_kw)).where(
                Connector.station_id == tx.station_id, Connector.evse_id == tx.evse_id))
        if not kilowatts:
            return None
        start = ocpi_datetime(utcnow())
        return {"start_date_time": start, "charging_profile": {
            "start_date_time": start, "duration": self.duration, "charging_rate_unit": "W",
            "charging_profile_period": [{"start_period": 0, "limit": wire_number(Decimal(kilowatts) * 1000)}]}}
