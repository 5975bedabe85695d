"""Monitoring (OCPP 2.0.1 N02-N08): the monitors a station runs on its variables, and the
events they raise.

The operator sets monitors (SetVariableMonitoring), clears them, chooses the monitoring base
and the severity level a station reports from, and asks for a monitoring report; what each
accepted reply teaches is stored, whichever route sent the command (this service observes the
command service). A station's NotifyMonitoringReport keeps the list current (a report of
everything replaces it once complete), and its NotifyEvent entries are stored, each linked to
its monitor by the station's monitor id when read, so an event from a monitor silkcharge has
not heard of yet (a preconfigured one) is kept and links up once a report names it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from silkcharge.bus.local import EventBus
from silkcharge.domain.clock import utcnow
from silkcharge.domain.commands import (
    ClearVariableMonitoring,
    CommandParams,
    GetMonitoringReport,
    MonitorIn,
    SetMonitoringBase,
    SetMonitoringLevel,
    SetVariableMonitoring,
)
from silkcharge.domain.device import DeviceEventReport, MonitorSetting, VariableAddress
from silkcharge.domain.events import DeviceEventReported, DeviceModelChanged
from silkcharge.services.commands import CommandObserver, CommandResult, CommandService
from silkcharge.services.device_model import StationDeclined, UnknownRecord
from silkcharge.services.station_requests import MONITORING_REPORT, StationRequests, part_values
from silkcharge.services.stations import StationService
from silkcharge.store.schema import DeviceEvent, StationRequest, VariableMonitor
from silkcharge.store.upsert import insert_ignoring_duplicates

log = logging.getLogger(__name__)

CSMS, STATION = "csms", "station"
ACTIVE_LEVEL = "MonitoringCtrlr.ActiveMonitoringLevel"
ACTIVE_BASE = "MonitoringCtrlr.ActiveMonitoringBase"
ALERT_SEVERITY = 5  # "Alert" and more severe (0 Danger ... 5 Alert) stand on the alerts page


@dataclass(frozen=True)
class EventView:
    """A stored event with the monitor it came from, when silkcharge knows that monitor."""

    event: DeviceEvent
    monitor: VariableMonitor | None


class MonitoringService(CommandObserver):
    def __init__(
        self, sessions: async_sessionmaker, bus: EventBus, commands: CommandService,
        stations: StationService, requests: StationRequests,
    ) -> None:
        self._sessions = sessions
        self._bus = bus
        self._commands = commands
        self._stations = stations
        self._requests = requests
        commands.observe(self)

    # -- what the operator asks ----------------------------------------------------------------

    async def set_monitors(self, station_id: str, monitors: list[MonitorIn]) -> CommandResult:
        """N04: every monitor the station accepted is stored with its id; if it accepted none,
        StationDeclined names each refusal."""
        result = await self._commands.send(
            station_id, "set_variable_monitoring", {"monitors": [m.model_dump() for m in monitors]}
        )
        if result.status == "Rejected":
            refusals = "; ".join(f"{r['variable']}: {r['status']}" for r in result.details["results"])
            raise StationDeclined(f"station {station_id} set no monitor: {refusals}", result.status)
        return result

    async def clear_monitors(self, station_id: str, ids: list[int]) -> CommandResult:
        return await self._commands.send(station_id, "clear_variable_monitoring", {"ids": ids})

    async def clear_monitor(self, station_id: str, monitor_id: int) -> str:
        """N06 for one monitor: the station's answer; UnknownRecord when neither silkcharge nor
        the station has it, StationDeclined when the station refuses."""
        known = monitor_id in await self._monitors_by_id(station_id, {monitor_id})
        result = await self.clear_monitors(station_id, [monitor_id])
        answer = result.details["results"][0]
        if answer["status"] == "NotFound" and not known:
            raise UnknownRecord(f"station {station_id} has no monitor {monitor_id} (it answered NotFound)")
        if answer["status"] == "Rejected":
            raise StationDeclined(f"station {station_id} refused to clear monitor {monitor_id}: "
                                  f"{answer.get('reason') or 'Rejected'}", "Rejected")
        return answer["status"]

    async def set_level(self, station_id: str, severity: int) -> CommandResult:
        return await self._declined_unless_accepted(
            station_id, "set_monitoring_level", {"severity": severity}, "monitoring level"
        )

    async def set_base(self, station_id: str, base: str) -> CommandResult:
        """N03. A base other than All removes custom monitors, so the stored list is refreshed
        with a monitoring report of everything."""
        result = await self._declined_unless_accepted(
            station_id, "set_monitoring_base", {"base": base}, "monitoring base"
        )
        if base != "All":
            await self.request_report(station_id)
        return result

    async def request_report(
        self, station_id: str, criteria: list[str] | None = None, components: list[dict[str, Any]] | None = None,
    ) -> StationRequest:
        """N02: the station answers with NotifyMonitoringReport parts."""
        asked = {"criteria": criteria or [], "components": components or []}
        row = await self._requests.reserve(station_id, MONITORING_REPORT, asked)
        result = await self._commands.send(
            station_id, "get_monitoring_report", {"request_id": row.request_id, **asked}
        )
        if result.status not in ("Accepted", "EmptyResultSet"):
            raise StationDeclined(f"station {station_id} answered {result.status} to the monitoring report",
                                  result.status)
        return await self._requests.get(station_id, MONITORING_REPORT, row.request_id) or row

    async def _declined_unless_accepted(
        self, station_id: str, command: str, params: dict[str, Any], what: str,
    ) -> CommandResult:
        result = await self._commands.send(station_id, command, params)
        if result.status != "Accepted":
            raise StationDeclined(f"station {station_id} answered {result.status} to the {what}", result.status)
        return result

    # -- what a reply teaches (CommandObserver) ---------------------------------------------------

    async def before(self, station_id: str, params: CommandParams) -> None:
        if isinstance(params, GetMonitoringReport):
            await self._requests.opened(station_id, MONITORING_REPORT, params.request_id, {
                "criteria": params.criteria, "components": [c.model_dump() for c in params.components],
            })

    async def after(
        self, station_id: str, params: CommandParams, reply: dict[str, Any], details: dict[str, Any],
        status: str | None,
    ) -> None:
        if isinstance(params, SetVariableMonitoring):
            await self._store_set(station_id, params.monitors, details["results"])
        elif isinstance(params, ClearVariableMonitoring):
            gone = [r["id"] for r in details["results"] if r["status"] in ("Accepted", "NotFound")]
            await self._remove(station_id, gone)
        elif isinstance(params, SetMonitoringLevel) and status == "Accepted":
            await self._stations.merge_configuration(station_id, {ACTIVE_LEVEL: str(params.severity)})
        elif isinstance(params, SetMonitoringBase) and status == "Accepted":
            await self._stations.merge_configuration(station_id, {ACTIVE_BASE: params.base})
            if params.base != "All":
                await self._remove_custom(station_id)
        elif isinstance(params, GetMonitoringReport) and status is not None:
            await self._requests.answered(
                station_id, MONITORING_REPORT, params.request_id, status, done=status != "Accepted"
            )
            if status == "EmptyResultSet" and not params.criteria and not params.components:
                await self._replace_all(station_id, set())

    async def failed(self, station_id: str, params: CommandParams, reason: str) -> None:
        if isinstance(params, GetMonitoringReport):
            await self._requests.answered(station_id, MONITORING_REPORT, params.request_id, "Failed", done=True)

    async def _store_set(self, station_id: str, asked: list[MonitorIn], results: list[dict[str, Any]]) -> None:
        """Results come in the order of the request (split calls are joined in order); the
        result carries the id the station gave, the request the value it watches for."""
        accepted = [
            monitor_from(params, result["id"])
            for params, result in zip(asked, results, strict=False)
            if result["status"] == "Accepted" and result.get("id") is not None
        ]
        if accepted:
            await self._upsert(station_id, accepted, CSMS)

    # -- what the station sends ------------------------------------------------------------------

    async def reported(
        self, station_id: str, request_id: int, seq_no: int, more_to_come: bool, monitors: list[MonitorSetting],
    ) -> None:
        """One NotifyMonitoringReport part. Once a report of everything is complete, monitors it
        did not name are gone from the station and are removed here too."""
        if monitors:
            await self._upsert(station_id, monitors, STATION)
        row = await self._requests.part(
            station_id, MONITORING_REPORT, request_id, seq_no, last=not more_to_come,
            data=[m.monitor_id for m in monitors],
        )
        asked = row.asked or {}
        if row.complete and row.status != "Unsolicited" and not asked.get("criteria") and not asked.get("components"):
            await self._replace_all(station_id, {i for ids in part_values(row) for i in ids or []})
        self._bus.publish(DeviceModelChanged(station_id, utcnow(), "monitors"))

    async def events_reported(self, station_id: str, events: list[DeviceEventReport]) -> None:
        """Store NotifyEvent entries (a replayed message stores nothing twice)."""
        now = utcnow()
        await self._store_events(station_id, events, now)
        monitors = await self._monitors_by_id(station_id, {e.monitor_id for e in events if e.monitor_id is not None})
        for event in events:
            monitor = monitors.get(event.monitor_id) if event.monitor_id is not None else None
            if event.monitor_id is not None and monitor is None:
                log.info("%s: event %s names monitor %s, which silkcharge has not been told of; kept "
                         "unlinked until a monitoring report names it", station_id, event.event_id, event.monitor_id)
            self._bus.publish(DeviceEventReported(
                station_id, event.occurred_at, event.event_id, event.address.label(), event.actual_value[:200],
                event.monitor_id, monitor.severity if monitor else None, event.cleared,
            ))

    async def _store_events(self, station_id: str, events: list[DeviceEventReport], now) -> None:
        rows = [{
            "station_id": station_id, "event_id": e.event_id, "occurred_at": e.occurred_at,
            "trigger": e.trigger, "cause": e.cause, "actual_value": e.actual_value,
            "tech_code": e.tech_code, "tech_info": e.tech_info, "cleared": e.cleared,
            "transaction_id": e.transaction_id, **e.address.fields(),
            "variable_monitoring_id": e.monitor_id, "notification_type": e.notification_type,
            "received_at": now,
        } for e in events]
        async with self._sessions.begin() as session:
            await insert_ignoring_duplicates(session, DeviceEvent, rows)

    # -- reading ---------------------------------------------------------------------------------

    async def monitors(self, station_id: str) -> list[VariableMonitor]:
        async with self._sessions() as session:
            return list((await session.scalars(
                select(VariableMonitor).where(VariableMonitor.station_id == station_id)
                .order_by(VariableMonitor.monitor_id)
            )).all())

    async def events(
        self, station_id: str, *, limit: int = 100, before_id: int | None = None, monitored_only: bool = False,
    ) -> list[EventView]:
        """Newest first, each with its monitor when known."""
        query = select(DeviceEvent).where(DeviceEvent.station_id == station_id)
        if before_id is not None:
            query = query.where(DeviceEvent.id < before_id)
        if monitored_only:
            query = query.where(DeviceEvent.variable_monitoring_id.is_not(None))
        async with self._sessions() as session:
            rows = list((await session.scalars(query.order_by(DeviceEvent.id.desc()).limit(limit))).all())
        monitors = await self._monitors_by_id(
            station_id, {r.variable_monitoring_id for r in rows if r.variable_monitoring_id is not None}
        )
        return [EventView(r, monitors.get(r.variable_monitoring_id)) for r in rows]

    async def alerts(self, most_severe: int = ALERT_SEVERITY, scan: int = 5000) -> list[EventView]:
        """Threshold alerts standing now, across the network: per monitor, its latest Alerting
        event, when not cleared and of `most_severe` severity or worse (a monitor silkcharge
        does not know counts, its severity unknown). Reads the newest `scan` alert events."""
        async with self._sessions() as session:
            rows = list((await session.scalars(
                select(DeviceEvent).where(DeviceEvent.trigger == "Alerting",
                                          DeviceEvent.variable_monitoring_id.is_not(None))
                .order_by(DeviceEvent.id.desc()).limit(scan)
            )).all())
        latest: dict[tuple[str, int], DeviceEvent] = {}
        for row in rows:
            latest.setdefault((row.station_id, row.variable_monitoring_id), row)
        standing = [row for row in latest.values() if not row.cleared]
        views = []
        for station_id in sorted({row.station_id for row in standing}):
            mine = [row for row in standing if row.station_id == station_id]
            monitors = await self._monitors_by_id(station_id, {row.variable_monitoring_id for row in mine})
            for row in mine:
                monitor = monitors.get(row.variable_monitoring_id)
                if monitor is None or monitor.severity <= most_severe:
                    views.append(EventView(row, monitor))
        return sorted(views, key=lambda v: (v.monitor.severity if v.monitor else 10, v.event.station_id))

    async def _monitors_by_id(self, station_id: str, ids: set[int]) -> dict[int, VariableMonitor]:
        if not ids:
            return {}
        async with self._sessions() as session:
            rows = (await session.scalars(select(VariableMonitor).where(
                VariableMonitor.station_id == station_id, VariableMonitor.monitor_id.in_(ids)
            ))).all()
        return {row.monitor_id: row for row in rows}

    # -- writing ---------------------------------------------------------------------------------

    async def _upsert(self, station_id: str, monitors: list[MonitorSetting], source: str) -> None:
        async with self._sessions.begin() as session:
            stored = {
                row.monitor_id: row
                for row in (await session.scalars(select(VariableMonitor).where(
                    VariableMonitor.station_id == station_id,
                    VariableMonitor.monitor_id.in_([m.monitor_id for m in monitors]),
                ))).all()
            }
            for monitor in monitors:
                row = stored.get(monitor.monitor_id)
                if row is None:
                    row = VariableMonitor(station_id=station_id, monitor_id=monitor.monitor_id, source=source)
                    session.add(row)
                    stored[monitor.monitor_id] = row
                for key, value in monitor.address.fields().items():
                    setattr(row, key, value)
                row.type, row.value, row.severity = monitor.type, monitor.value, monitor.severity
                row.transaction = monitor.transaction
                row.updated_at = utcnow()
        self._bus.publish(DeviceModelChanged(station_id, utcnow(), "monitors"))

    async def _remove(self, station_id: str, ids: list[int]) -> None:
        if not ids:
            return
        async with self._sessions.begin() as session:
            await session.execute(delete(VariableMonitor).where(
                VariableMonitor.station_id == station_id, VariableMonitor.monitor_id.in_(ids)
            ))
        self._bus.publish(DeviceModelChanged(station_id, utcnow(), "monitors"))

    async def _remove_custom(self, station_id: str) -> None:
        async with self._sessions.begin() as session:
            await session.execute(delete(VariableMonitor).where(
                VariableMonitor.station_id == station_id, VariableMonitor.source == CSMS
            ))

    async def _replace_all(self, station_id: str, reported: set[int]) -> None:
        async with self._sessions.begin() as session:
            statement = delete(VariableMonitor).where(VariableMonitor.station_id == station_id)
            if reported:
                statement = statement.where(VariableMonitor.monitor_id.not_in(reported))
            await session.execute(statement)


def monitor_from(params: MonitorIn, monitor_id: int) -> MonitorSetting:
    """The monitor an accepted SetMonitoringData item put on the station."""
    address = VariableAddress(
        params.component, params.variable, params.component_instance, params.evse_id,
        params.connector_id, params.variable_instance,
    )
    return MonitorSetting(monitor_id, address, params.type, params.value, params.severity, params.transaction)
