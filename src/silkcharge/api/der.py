"""Operator routes for DER control on OCPP 2.1 stations (R04; services/der_control.py): set a
grid-code control on a station's DER, list the controls it holds, ask the station for its own
list (GetDERControl, answered in ReportDERControl parts), clear controls, and read the DER
alarms stations raised. Area "device model": the maintenance permission (domain/roles.py).

Station answers map to HTTP as in api/device.py: a refusal is kept with its status (set) or 409
(report), offline 409, no answer 504, a CALLERROR 502; a station that speaks no OCPP 2.1 gets a
422 naming its version.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from silkcharge.api.bounds import OcppId
from silkcharge.api.errors import STATION_CALL, answers
from silkcharge.domain.commands import (
    DER_CONTROL_TYPES,
    ClearDerControl,
    GetDerControl,
    SetDerControl,
)
from silkcharge.services.der_control import DerControlService
from silkcharge.store.schema import StationRequest

router = APIRouter(tags=["device model"])


def der(request: Request) -> DerControlService:
    return request.app.state.platform.device.der_control


class DerControlOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    control_id: str
    control_type: str
    is_default: bool
    settings: dict[str, Any] | None = Field(description="the control's parameters (its one section)")
    source: str = Field(description="set: sent by silkcharge; report: listed by the station")
    status: str = Field(description="the station's answer (Accepted, Rejected, NotSupported), Failed, or Reported")
    reason: str | None
    superseded: bool
    active: bool | None = Field(description="NotifyDERStartStop: running (true), stopped (false), never told (null)")
    sent_at: datetime
    updated_at: datetime
    cleared_at: datetime | None


class DerReportIn(BaseModel):
    """Which controls the station should report (none named: all)."""

    model_config = ConfigDict(extra="forbid")
    is_default: bool | None = None
    control_type: Literal[DER_CONTROL_TYPES] | None = None  # type: ignore[valid-type]
    control_id: str | None = Field(default=None, min_length=1, max_length=36)


class DerReportOut(BaseModel):
    request_id: int | None
    status: str | None
    complete: bool
    asked: dict[str, Any] | None
    controls: list[dict[str, Any]] = Field(description="the controls the station listed, in the order received")
    created_at: datetime
    updated_at: datetime


class DerClearedOut(BaseModel):
    status: str | None
    cleared: list[DerControlOut]


class DerAlarmOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    station_id: str
    control_type: str
    grid_event_fault: str | None
    alarm_ended: bool
    raised_at: datetime
    extra_info: str | None
    received_at: datetime


def _report_out(row: StationRequest) -> DerReportOut:
    parts = row.parts or {}
    numbers = sorted(int(k) for k in parts if k != "last")
    controls = [control for n in numbers for control in (parts[str(n)] or [])]
    return DerReportOut(request_id=row.request_id, status=row.status, complete=row.complete, asked=row.asked,
                        controls=controls, created_at=row.created_at, updated_at=row.updated_at)


@router.post("/stations/{station_id}/der-controls", response_model=DerControlOut,
             responses=answers(404, 422, *STATION_CALL))
async def set_der_control(station_id: str, body: SetDerControl, request: Request):
    """SetDERControl; the control as kept, with the station's answer in `status`."""
    return await der(request).set(station_id, body)


@router.get("/stations/{station_id}/der-controls", response_model=list[DerControlOut], responses=answers(404))
async def list_der_controls(station_id: str, request: Request,
                            cleared: bool = Query(False, description="also those cleared or refused")):
    """The station's DER controls as silkcharge knows them, newest first."""
    return await der(request).controls(station_id, cleared=cleared)


@router.post("/stations/{station_id}/der-controls/report", response_model=DerReportOut, status_code=202,
             responses=answers(404, 422, *STATION_CALL))
async def ask_der_controls(station_id: str, request: Request, body: DerReportIn | None = None):
    """GetDERControl; the station's ReportDERControl parts arrive afterwards (read them at
    `/der-controls/reports/{request_id}`), and each control listed is kept."""
    query = GetDerControl(**(body.model_dump() if body else {}))
    return _report_out(await der(request).ask(station_id, query))


@router.get("/stations/{station_id}/der-controls/reports/{request_id}", response_model=DerReportOut,
            responses=answers(404))
async def get_der_report(station_id: str, request_id: OcppId, request: Request):
    return _report_out(await der(request).request(station_id, request_id))


@router.post("/stations/{station_id}/der-controls/clear", response_model=DerClearedOut,
             responses=answers(404, 422, *STATION_CALL))
async def clear_der_controls(station_id: str, body: ClearDerControl, request: Request):
    """ClearDERControl: defaults (`is_default` true) or scheduled controls, all or of a type or
    an id; `cleared` lists the kept controls it took off."""
    status, cleared = await der(request).clear(station_id, body)
    return DerClearedOut(status=status, cleared=[DerControlOut.model_validate(row) for row in cleared])


@router.get("/der-alarms", response_model=list[DerAlarmOut])
async def list_der_alarms(request: Request, station_id: str | None = Query(None, max_length=48),
                          limit: int = Query(100, ge=1, le=1000)):
    """DER alarms stations raised or ended (NotifyDERAlarm), newest first."""
    return await der(request).alarms(station_id, limit)
