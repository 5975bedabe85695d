"""DER control (OCPP 2.1 R04): the grid-code controls of a station's DER (the inverter of a
bidirectional charger), set, asked for and cleared by an operator, and what the station tells
of them.

* `set` sends SetDERControl (neutral command `set_der_control`) and keeps the control with the
  station's answer; the controls it superseded are marked so.
* `ask` sends GetDERControl with a request of its own (`station_requests`, kind
  GetDERControl); the station's ReportDERControl parts fill the request in and each control it
  lists is kept (source `report`), so the platform's view follows what the station really holds.
* `clear` sends ClearDERControl; the matching controls get `cleared_at` once the station
  accepted.
* NotifyDERAlarm is kept as an alarm (`der_alarms`); NotifyDERStartStop marks a control active
  or not, and what it superseded.

The generic command route (`POST /stations/{id}/commands/{name}`) is observed, so a control set
or cleared through it is kept the same way.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from silkcharge.bus.local import EventBus
from silkcharge.domain.clock import utcnow
from silkcharge.domain.commands import ClearDerControl, CommandParams, GetDerControl, SetDerControl
from silkcharge.domain.der import DerAlarmRaised, DerControlHeld, DerStartStop
from silkcharge.domain.events import DeviceModelChanged
from silkcharge.services.commands import CommandObserver, CommandService
from silkcharge.services.device_model import StationDeclined, UnknownRecord
from silkcharge.services.station_requests import StationRequests
from silkcharge.store.schema import DerAlarm, DerControlRecord, StationRequest

GET_DER_CONTROL = "GetDERControl"


class DerControlService(CommandObserver):
    def __init__(
        self, sessions: async_sessionmaker, bus: EventBus, commands: CommandService, requests: StationRequests,
    ) -> None:
        self._sessions = sessions
        self._bus = bus
        self._commands = commands
        self._requests = requests
        commands.observe(self)

    # -- what an operator asks ----------------------------------------------------------------------

    async def set(self, station_id: str, control: SetDerControl) -> DerControlRecord:
        """SetDERControl; the control as kept, with the station's answer (Accepted, Rejected,
        NotSupported) in `status`."""
        await self._commands.send(station_id, "set_der_control", control.model_dump(mode="json"))
        row = await self._current(station_id, control.control_id)
        assert row is not None  # kept by `after` before send returned
        return row

    async def ask(self, station_id: str, query: GetDerControl) -> StationRequest:
        """GetDERControl with a request id of its own; the request fills in as the station's
        ReportDERControl parts arrive. A station that holds no such control answers NotFound."""
        asked = query.model_dump(mode="json", exclude={"request_id"}, exclude_none=True)
        row = await self._requests.reserve(station_id, GET_DER_CONTROL, asked)
        params = query.model_copy(update={"request_id": row.request_id})
        result = await self._commands.send(station_id, "get_der_control", params.model_dump(mode="json"))
        if result.status not in ("Accepted", "NotFound"):
            raise StationDeclined(
                f"station {station_id} answered {result.status} to GetDERControl request {row.request_id}"
                + (f": {result.details['reason']}" if result.details.get("reason") else ""), result.status)
        return await self.request(station_id, row.request_id)

    async def clear(self, station_id: str, query: ClearDerControl) -> tuple[str | None, list[DerControlRecord]]:
        """ClearDERControl; the station's status and the kept controls it cleared."""
        result = await self._commands.send(station_id, "clear_der_control", query.model_dump(mode="json"))
        if result.status != "Accepted":
            return result.status, []
        async with self._sessions() as session:
            cleared = (await session.scalars(
                select(DerControlRecord).where(DerControlRecord.station_id == station_id,
                                               DerControlRecord.cleared_at.is_not(None))
                .order_by(DerControlRecord.cleared_at.desc(), DerControlRecord.id))).all()
        newest = cleared[0].cleared_at if cleared else None
        return result.status, [row for row in cleared if row.cleared_at == newest]

    async def controls(self, station_id: str, *, cleared: bool = False) -> list[DerControlRecord]:
        """The station's DER controls, newest first; those cleared only when asked."""
        query = select(DerControlRecord).where(DerControlRecord.station_id == station_id)
        if not cleared:
            query = query.where(DerControlRecord.cleared_at.is_(None))
        async with self._sessions() as session:
            return list((await session.scalars(query.order_by(DerControlRecord.id.desc()))).all())

    async def request(self, station_id: str, request_id: int) -> StationRequest:
        row = await self._requests.get(station_id, GET_DER_CONTROL, request_id)
        if row is None:
            raise UnknownRecord(f"station {station_id} has no GetDERControl request {request_id}")
        return row

    async def alarms(self, station_id: str | None = None, limit: int = 100) -> list[DerAlarm]:
        """DER alarms, newest first (of one station, or of every station of the tenant)."""
        query = select(DerAlarm)
        if station_id is not None:
            query = query.where(DerAlarm.station_id == station_id)
        async with self._sessions() as session:
            return list((await session.scalars(
                query.order_by(DerAlarm.raised_at.desc(), DerAlarm.id.desc()).limit(limit))).all())

    # -- what a station tells (ocpp/v21.py) ---------------------------------------------------------

    async def reported(self, station_id: str, request_id: int, controls: list[DerControlHeld], more: bool) -> None:
        """One ReportDERControl: each control it lists is kept as the station holds it."""
        now = utcnow()
        async with self._sessions.begin() as session:
            for held in controls:
                row = await _current_in(session, station_id, held.control_id)
                if row is None:
                    row = DerControlRecord(station_id=station_id, control_id=held.control_id, source="report",
                                           status="Reported", sent_at=now)
                    session.add(row)
                row.control_type, row.is_default = held.control_type, held.is_default
                row.settings, row.superseded, row.updated_at = held.settings, held.superseded, now
        await self._requests.part(station_id, GET_DER_CONTROL, request_id, None, last=not more,
                                  data=[_held_out(h) for h in controls])
        self._bus.publish(DeviceModelChanged(station_id, now, "der_control"))

    async def alarm(self, station_id: str, alarm: DerAlarmRaised) -> None:
        async with self._sessions.begin() as session:
            session.add(DerAlarm(
                station_id=station_id, control_type=alarm.control_type, grid_event_fault=alarm.grid_event_fault,
                alarm_ended=alarm.alarm_ended, raised_at=alarm.at, extra_info=alarm.extra_info,
                received_at=utcnow()))
        self._bus.publish(DeviceModelChanged(station_id, utcnow(), "der_alarm"))

    async def started_stopped(self, station_id: str, event: DerStartStop) -> None:
        now = utcnow()
        async with self._sessions.begin() as session:
            row = await _current_in(session, station_id, event.control_id)
            if row is not None:
                row.active, row.updated_at = event.started, now
            await _supersede(session, station_id, event.superseded_ids, now)
        self._bus.publish(DeviceModelChanged(station_id, now, "der_control"))

    # -- CommandObserver: the generic command route keeps its controls the same way ----------------

    async def before(self, station_id: str, params: CommandParams) -> None:
        if isinstance(params, GetDerControl):
            await self._requests.opened(station_id, GET_DER_CONTROL, params.request_id,
                                        params.model_dump(mode="json", exclude={"request_id"}, exclude_none=True))

    async def after(
        self, station_id: str, params: CommandParams, reply: dict[str, Any], details: dict[str, Any],
        status: str | None,
    ) -> None:
        if isinstance(params, SetDerControl):
            await self._keep(station_id, params, status or "Unknown", details.get("reason"),
                             details.get("superseded_ids", ()))
        elif isinstance(params, GetDerControl) and status is not None:
            await self._requests.answered(station_id, GET_DER_CONTROL, params.request_id, status,
                                          done=status != "Accepted")
        elif isinstance(params, ClearDerControl) and status == "Accepted":
            await self._cleared(station_id, params)

    async def failed(self, station_id: str, params: CommandParams, reason: str) -> None:
        if isinstance(params, SetDerControl):
            await self._keep(station_id, params, "Failed", reason[:500], ())
        elif isinstance(params, GetDerControl):
            await self._requests.answered(station_id, GET_DER_CONTROL, params.request_id, "Failed", done=True)

    async def _current(self, station_id: str, control_id: str) -> DerControlRecord | None:
        async with self._sessions() as session:
            return await _current_in(session, station_id, control_id)

    async def _keep(self, station_id: str, control: SetDerControl, status: str, reason: str | None,
                    superseded: Any) -> None:
        now = utcnow()
        async with self._sessions.begin() as session:
            row = await _current_in(session, station_id, control.control_id)
            if row is None or row.source != "set" or row.status not in ("Accepted", "Reported"):
                row = DerControlRecord(station_id=station_id, control_id=control.control_id, sent_at=now)
                session.add(row)
            elif status != "Accepted":
                # a refused replacement leaves the control the station holds as it was
                row = DerControlRecord(station_id=station_id, control_id=control.control_id, sent_at=now)
                session.add(row)
            row.control_type, row.is_default, row.settings = control.control_type, control.is_default, control.settings()
            row.source, row.status, row.reason, row.superseded = "set", status, reason, False
            row.updated_at, row.sent_at = now, now
            if status != "Accepted":
                row.cleared_at = now  # never on the station: not among its controls
            await _supersede(session, station_id, tuple(superseded), now)
        self._bus.publish(DeviceModelChanged(station_id, now, "der_control"))

    async def _cleared(self, station_id: str, query: ClearDerControl) -> None:
        now = utcnow()
        conditions = [DerControlRecord.station_id == station_id, DerControlRecord.cleared_at.is_(None),
                      DerControlRecord.is_default == query.is_default]
        if query.control_type is not None:
            conditions.append(DerControlRecord.control_type == query.control_type)
        if query.control_id is not None:
            conditions.append(DerControlRecord.control_id == query.control_id)
        async with self._sessions.begin() as session:
            for row in (await session.scalars(select(DerControlRecord).where(*conditions))).all():
                row.cleared_at, row.active, row.updated_at = now, False, now
        self._bus.publish(DeviceModelChanged(station_id, now, "der_control"))


async def _current_in(session, station_id: str, control_id: str) -> DerControlRecord | None:
    """The control of that id the station holds (the newest not cleared)."""
    return await session.scalar(
        select(DerControlRecord).where(DerControlRecord.station_id == station_id,
                                       DerControlRecord.control_id == control_id,
                                       DerControlRecord.cleared_at.is_(None))
        .order_by(DerControlRecord.id.desc()).limit(1))


async def _supersede(session, station_id: str, control_ids: tuple[str, ...], now) -> None:
    for control_id in control_ids:
        row = await _current_in(session, station_id, control_id)
        if row is not None:
            row.superseded, row.updated_at = True, now


def _held_out(held: DerControlHeld) -> dict[str, Any]:
    return {"control_id": held.control_id, "control_type": held.control_type, "is_default": held.is_default,
            "superseded": held.superseded, "settings": held.settings}
