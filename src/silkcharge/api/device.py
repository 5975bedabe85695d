"""Operator routes for what a station holds beyond charging: its stored configuration,
monitors and their events, display messages, customer information, firmware it publishes,
limits set on it from outside, the EV's own schedule, and whether a transaction's messages are
still queued (OCPP 2.0.1 blocks B, N, O, L, K11-K17, E14; services/device_model.py).

Station answers map to HTTP the same way everywhere: the station's refusal is 409 with its
status in the reason, something not stored (nor known to the station) 404, a request that
cannot be sent as asked 422; offline 409, no answer 504, a CALLERROR 502 (api/errors.py).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from fastapi import APIRouter, Body, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from silkcharge.api.bounds import INT32_MAX, OcppId, RowId
from silkcharge.api.errors import STATION_CALL, answers
from silkcharge.domain.commands import (
    MESSAGE_FORMATS,
    MESSAGE_PRIORITIES,
    MESSAGE_STATES,
    CertificateHashIn,
    ComponentCriterion,
    CustomerInformation,
    GetBaseReport,
    GetReport,
    MonitorIn,
)
from silkcharge.domain.device import severity_name
from silkcharge.services.device_model import (
    DeviceModelServices,
    RequestInvalid,
)
from silkcharge.services.device_reports import report_items
from silkcharge.services.display_messages import MessageRequest
from silkcharge.services.station_configuration import StoredConfiguration
from silkcharge.store.schema import StationRequest

router = APIRouter(tags=["device model"])


def device(request: Request) -> DeviceModelServices:
    return request.app.state.platform.device


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# -- stored configuration --------------------------------------------------------------------------


class ConfigurationOut(BaseModel):
    values: dict[str, Any]
    pins: dict[str, dict[str, Any]] = Field(
        description="pinned keys: {key: {value, reported}}; reports do not change them"
    )


class ConfigurationEdit(BaseModel):
    model_config = ConfigDict(extra="forbid")
    values: dict[str, str | None] = Field(min_length=1, description="key -> value; null removes the key")
    pin: bool = Field(default=False, description="keep these values even when the station reports others")


def _configuration(stored: StoredConfiguration) -> ConfigurationOut:
    return ConfigurationOut(values=stored.values, pins=stored.pins)


@router.get("/stations/{station_id}/configuration", response_model=ConfigurationOut, responses=answers(404))
async def get_configuration(station_id: str, request: Request):
    return _configuration(await device(request).configuration.get(station_id))


@router.patch("/stations/{station_id}/configuration", response_model=ConfigurationOut, responses=answers(404))
async def edit_configuration(station_id: str, body: ConfigurationEdit, request: Request):
    """Correct or pin what silkcharge has stored of a station's configuration; nothing is sent
    to the station (use the set_configuration command for that)."""
    return _configuration(await device(request).configuration.edit(station_id, body.values, pin=body.pin))


@router.delete("/stations/{station_id}/configuration/pins/{key:path}", response_model=ConfigurationOut,
               responses=answers(404))
async def unpin_configuration(station_id: str, key: str, request: Request):
    """Let the station's reports change `key` again; it goes back to what the station last said."""
    return _configuration(await device(request).configuration.unpin(station_id, key))


# -- monitoring (N02-N08) --------------------------------------------------------------------------


class MonitorOut(Out):
    monitor_id: int
    component: str
    component_instance: str | None
    evse_id: int | None
    connector_id: int | None
    variable: str
    variable_instance: str | None
    type: str
    value: Decimal
    severity: int
    transaction: bool
    source: str
    updated_at: datetime


class MonitorsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    monitors: list[MonitorIn] = Field(min_length=1)


class MonitorsSet(BaseModel):
    status: str | None
    results: list[dict[str, Any]]
    monitors: list[MonitorOut]


class DeviceEventOut(Out):
    id: int
    event_id: int
    occurred_at: datetime
    trigger: str
    actual_value: str
    tech_code: str | None
    tech_info: str | None
    cleared: bool | None
    transaction_id: str | None
    component: str
    component_instance: str | None
    evse_id: int | None
    connector_id: int | None
    variable: str
    variable_instance: str | None
    variable_monitoring_id: int | None
    notification_type: str
    received_at: datetime
    monitor: MonitorOut | None = Field(default=None, description="the monitor that raised it, when known")
    severity: int | None = None
    severity_name: str | None = None


class RequestOut(Out):
    request_id: int | None
    kind: str
    asked: dict[str, Any] | None
    status: str | None = Field(description="the station's answer; Unsolicited for parts nobody asked for")
    complete: bool
    data: str | None = Field(default=None, description="customer information: the parts joined")
    parts_received: int = 0
    created_at: datetime
    updated_at: datetime


def _request_out(row: StationRequest) -> RequestOut:
    out = RequestOut.model_validate(row)
    out.parts_received = len([k for k in (row.parts or {}) if k != "last"])
    return out


# -- device-model reports (B07, B08) ---------------------------------------------------------------


class ReportIn(BaseModel):
    """A base report (`base`) or a custom one (`criteria`, `components`; neither: everything)."""

    model_config = ConfigDict(extra="forbid")
    base: Literal["ConfigurationInventory", "FullInventory", "SummaryInventory"] | None = Field(
        default=None, description="GetBaseReport of this set; without it GetReport is sent")
    criteria: list[Literal["Active", "Available", "Enabled", "Problem"]] = Field(
        default_factory=list, max_length=4, description="componentCriteria (GetReport)")
    components: list[ComponentCriterion] = Field(
        default_factory=list, max_length=100, description="componentVariable (GetReport)")


class ReportItemOut(BaseModel):
    key: str = Field(description="Component[instance]@evse.Variable[instance]")
    values: dict[str, str] = Field(description="value by attribute type (Actual, Target, MinSet, MaxSet)")
    mutability: dict[str, str] = Field(default_factory=dict)
    data_type: str | None = None
    unit: str | None = None


class ReportOut(RequestOut):
    items: list[ReportItemOut] | None = Field(
        default=None, description="what the NotifyReport parts reported, in sequence order (one report only)")


def _report_out(row: StationRequest, with_items: bool = False) -> ReportOut:
    out = ReportOut.model_validate(_request_out(row).model_dump())
    if with_items:
        out.items = [ReportItemOut.model_validate(item) for item in report_items(row)]
    return out


@router.post("/stations/{station_id}/reports", response_model=ReportOut, status_code=202,
             responses=answers(404, 422, *STATION_CALL))
async def request_report(station_id: str, body: ReportIn, request: Request):
    """GetBaseReport (B07) or GetReport (B08) under a new requestId; the station's NotifyReport
    parts are kept with the request (GET .../reports/{request_id}) and fill the stored
    configuration. 409 when the station answers Rejected or NotSupported."""
    if body.base is not None and (body.criteria or body.components):
        raise RequestInvalid("a base report takes no criteria or components: leave out base for a custom report")
    params = (GetBaseReport(report=body.base) if body.base is not None
              else GetReport(criteria=body.criteria, components=body.components))
    return _report_out(await device(request).reports.request(station_id, params))


@router.get("/stations/{station_id}/reports", response_model=list[ReportOut])
async def list_reports(station_id: str, request: Request):
    """Report requests, newest first (without their items)."""
    return [_report_out(row) for row in await device(request).reports.find(station_id)]


@router.get("/stations/{station_id}/reports/{request_id}", response_model=ReportOut, responses=answers(404))
async def get_report(station_id: str, request_id: OcppId, request: Request):
    return _report_out(await device(request).reports.get(station_id, request_id), with_items=True)


# -- monitoring routes -----------------------------------------------------------------------------


@router.get("/stations/{station_id}/monitors", response_model=list[MonitorOut])
async def list_monitors(station_id: str, request: Request):
    return await device(request).monitoring.monitors(station_id)


@router.post("/stations/{station_id}/monitors", response_model=MonitorsSet, responses=answers(404, *STATION_CALL))
async def set_monitors(station_id: str, body: MonitorsIn, request: Request):
    """SetVariableMonitoring: each monitor the station accepts is stored with its id; the
    results say what happened to each (409 if it accepted none)."""
    service = device(request).monitoring
    result = await service.set_monitors(station_id, body.monitors)
    return MonitorsSet(status=result.status, results=result.details["results"],
                       monitors=[MonitorOut.model_validate(m) for m in await service.monitors(station_id)])


@router.delete("/stations/{station_id}/monitors/{monitor_id}", responses=answers(404, *STATION_CALL))
async def clear_monitor(station_id: str, monitor_id: OcppId, request: Request) -> dict[str, Any]:
    """ClearVariableMonitoring of one monitor; 404 when neither silkcharge nor the station has
    it, 409 when the station refuses (a preconfigured monitor goes only with the monitoring base)."""
    return {"monitor_id": monitor_id, "status": await device(request).monitoring.clear_monitor(station_id, monitor_id)}


@router.put("/stations/{station_id}/monitoring-level", responses=answers(404, *STATION_CALL))
async def set_monitoring_level(
    station_id: str, request: Request, severity: int = Body(ge=0, le=9, embed=True),
) -> dict[str, Any]:
    """SetMonitoringLevel: the station reports events of this severity and more severe."""
    result = await device(request).monitoring.set_level(station_id, severity)
    return {"severity": severity, "status": result.status}


@router.put("/stations/{station_id}/monitoring-base", responses=answers(404, *STATION_CALL))
async def set_monitoring_base(
    station_id: str, request: Request,
    base: Literal["All", "FactoryDefault", "HardWiredOnly"] = Body(embed=True),
) -> dict[str, Any]:
    """SetMonitoringBase; for FactoryDefault and HardWiredOnly a monitoring report follows."""
    result = await device(request).monitoring.set_base(station_id, base)
    return {"base": base, "status": result.status}


class MonitoringReportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    criteria: list[Literal["ThresholdMonitoring", "DeltaMonitoring", "PeriodicMonitoring"]] = Field(
        default_factory=list, max_length=3)
    components: list[ComponentCriterion] = Field(default_factory=list)


@router.post("/stations/{station_id}/monitoring-reports", response_model=RequestOut, status_code=202,
             responses=answers(404, *STATION_CALL))
async def request_monitoring_report(station_id: str, request: Request, body: MonitoringReportIn | None = None):
    """GetMonitoringReport; the station's NotifyMonitoringReport parts update the monitors."""
    body = body or MonitoringReportIn()
    row = await device(request).monitoring.request_report(
        station_id, list(body.criteria), [c.model_dump(exclude_none=True) for c in body.components])
    return _request_out(row)


@router.get("/stations/{station_id}/device-events", response_model=list[DeviceEventOut])
async def device_events(
    station_id: str, request: Request,
    limit: int = Query(default=100, ge=1, le=1000),
    before: int | None = Query(default=None, ge=1, le=2**63 - 1, description="only events with a smaller id"),
    monitored: bool = Query(default=False, description="only events raised by a monitor"),
):
    """NotifyEvent entries, newest first, each with the monitor that raised it when known."""
    views = await device(request).monitoring.events(station_id, limit=limit, before_id=before, monitored_only=monitored)
    out = []
    for view in views:
        item = DeviceEventOut.model_validate(view.event)
        if view.monitor is not None:
            item.monitor = MonitorOut.model_validate(view.monitor)
            item.severity, item.severity_name = view.monitor.severity, severity_name(view.monitor.severity)
        out.append(item)
    return out


class MonitorAlertOut(DeviceEventOut):
    station_id: str


@router.get("/monitor-alerts", response_model=list[MonitorAlertOut])
async def monitor_alerts(
    request: Request,
    most_severe: int = Query(default=5, ge=0, le=9, description="this severity and worse (0 Danger ... 9 Debug)"),
):
    """Threshold alerts standing now across the network (the latest Alerting event of each
    monitor, not yet cleared), most severe first: what the console's alerts page shows."""
    out = []
    for view in await device(request).monitoring.alerts(most_severe):
        item = MonitorAlertOut.model_validate(view.event)
        if view.monitor is not None:
            item.monitor = MonitorOut.model_validate(view.monitor)
            item.severity, item.severity_name = view.monitor.severity, severity_name(view.monitor.severity)
        out.append(item)
    return out


# -- display messages (O01-O06) --------------------------------------------------------------------


class DisplayMessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    texts: dict[str, str] = Field(min_length=1, description="language (ru, kk, en-GB ...) -> text, at most 512 characters")
    priority: Literal[MESSAGE_PRIORITIES] = "NormalCycle"  # type: ignore[valid-type]
    state: Literal[MESSAGE_STATES] | None = None  # type: ignore[valid-type]
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    transaction_id: RowId | None = Field(default=None, description="silkcharge's id of the session it is for")
    format: Literal[MESSAGE_FORMATS] = "UTF8"  # type: ignore[valid-type]

    def request(self, group_id: int | None = None) -> MessageRequest:
        for language, text in self.texts.items():
            if not 2 <= len(language) <= 8 or len(text) > 512:
                raise RequestInvalid(f"texts.{language}: a language code has 2 to 8 characters, a text at most 512")
        return MessageRequest(
            texts=self.texts, priority=self.priority, state=self.state, starts_at=self.starts_at,
            ends_at=self.ends_at, transaction_id=self.transaction_id, format=self.format, group_id=group_id,
        )


class DisplayMessageOut(Out):
    message_id: int
    group_id: int | None
    priority: str
    state: str | None
    starts_at: datetime | None
    ends_at: datetime | None
    transaction_id: str | None
    format: str
    language: str | None
    content: str
    source: str
    updated_at: datetime


class DisplayMessageSet(BaseModel):
    group_id: int
    languages: list[str] = Field(description="the languages sent (see docs/ocpp.md for the rule)")
    messages: list[DisplayMessageOut]
    refused: dict[str, str] = Field(description="language -> the station's status, for texts it did not take")


def _outcome(outcome) -> DisplayMessageSet:
    return DisplayMessageSet(
        group_id=outcome.group_id, languages=outcome.languages, refused=outcome.refused,
        messages=[DisplayMessageOut.model_validate(m) for m in outcome.messages],
    )


@router.get("/stations/{station_id}/display-messages", response_model=list[DisplayMessageOut])
async def list_display_messages(station_id: str, request: Request):
    return await device(request).display_messages.messages(station_id)


@router.post("/stations/{station_id}/display-messages", response_model=DisplayMessageSet, status_code=201,
             responses=answers(404, *STATION_CALL))
async def set_display_message(station_id: str, body: DisplayMessageIn, request: Request):
    """SetDisplayMessage, once per language sent; 409 when the station took none."""
    return _outcome(await device(request).display_messages.set(station_id, body.request()))


@router.put("/stations/{station_id}/display-messages/{group_id}", response_model=DisplayMessageSet,
            responses=answers(404, *STATION_CALL))
async def replace_display_message(station_id: str, group_id: OcppId, body: DisplayMessageIn, request: Request):
    """Replace a message (O06): its languages keep their ids; languages dropped are cleared."""
    return _outcome(await device(request).display_messages.set(station_id, body.request(group_id)))


@router.delete("/stations/{station_id}/display-messages/{message_id}", responses=answers(404, *STATION_CALL))
async def clear_display_message(station_id: str, message_id: OcppId, request: Request) -> dict[str, Any]:
    """ClearDisplayMessage of the message and the other languages of its group."""
    answers = await device(request).display_messages.clear(station_id, message_id)
    return {"cleared": [{"message_id": m, "status": s} for m, s in answers]}


class DisplayReportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ids: list[OcppId] = Field(default_factory=list, max_length=1000)
    priority: Literal[MESSAGE_PRIORITIES] | None = None  # type: ignore[valid-type]
    state: Literal[MESSAGE_STATES] | None = None  # type: ignore[valid-type]


@router.post("/stations/{station_id}/display-messages/report", response_model=RequestOut, status_code=202,
             responses=answers(404, *STATION_CALL))
async def request_display_messages(station_id: str, request: Request, body: DisplayReportIn | None = None):
    """GetDisplayMessages; the station's NotifyDisplayMessages parts update the stored list."""
    body = body or DisplayReportIn()
    row = await device(request).display_messages.request_report(station_id, body.ids, body.priority, body.state)
    return _request_out(row)


# -- customer information (N09, N10) ---------------------------------------------------------------


class CustomerInformationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    report: bool = Field(default=True, description="send what the station holds about the customer")
    clear: bool = Field(default=False, description="delete it at the station")
    id_token: str | None = Field(default=None, min_length=1, max_length=36)
    id_token_type: Literal["Central", "eMAID", "ISO14443", "ISO15693", "KeyCode", "Local", "MacAddress",
                           "NoAuthorization"] = "ISO14443"
    customer_identifier: str | None = Field(default=None, min_length=1, max_length=64)
    certificate: CertificateHashIn | None = None


@router.post("/stations/{station_id}/customer-information", response_model=RequestOut, status_code=202,
             responses=answers(404, *STATION_CALL))
async def ask_customer_information(station_id: str, body: CustomerInformationIn, request: Request):
    """CustomerInformation; the station's parts arrive afterwards and are joined in `data`."""
    row = await device(request).customer_information.ask(station_id, CustomerInformation(**body.model_dump()))
    return _request_out(row)


@router.get("/stations/{station_id}/customer-information", response_model=list[RequestOut])
async def list_customer_information(station_id: str, request: Request):
    return [_request_out(r) for r in await device(request).customer_information.find(station_id)]


@router.get("/stations/{station_id}/customer-information/{request_id}", response_model=RequestOut,
            responses=answers(404))
async def get_customer_information(station_id: str, request_id: OcppId, request: Request):
    return _request_out(await device(request).customer_information.get(station_id, request_id))


# -- firmware publishing (L03, L04) ----------------------------------------------------------------


class PublicationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    location: str = Field(min_length=1, max_length=512)
    checksum: str = Field(pattern=r"^[0-9A-Fa-f]{32}$", description="MD5 of the firmware file")
    retries: int | None = Field(default=None, ge=0, le=INT32_MAX)
    retry_interval: int | None = Field(default=None, ge=0, le=INT32_MAX)


class PublicationOut(Out):
    request_id: int | None
    location: str | None
    checksum: str | None
    status: str
    published_locations: list[str] | None
    created_at: datetime
    updated_at: datetime


@router.get("/stations/{station_id}/firmware-publications", response_model=list[PublicationOut])
async def list_publications(station_id: str, request: Request):
    return await device(request).firmware_publishing.find(station_id)


@router.post("/stations/{station_id}/firmware-publications", response_model=PublicationOut, status_code=201,
             responses=answers(404, *STATION_CALL))
async def publish_firmware(station_id: str, body: PublicationIn, request: Request):
    """PublishFirmware on a local controller; its status notifications follow the download."""
    return await device(request).firmware_publishing.publish(
        station_id, body.location, body.checksum, body.retries, body.retry_interval)


@router.delete("/stations/{station_id}/firmware-publications/{checksum}", responses=answers(404, *STATION_CALL))
async def unpublish_firmware(
    station_id: str, request: Request, checksum: str = Path(pattern=r"^[0-9A-Fa-f]{32}$"),
) -> dict[str, Any]:
    return {"checksum": checksum.lower(),
            "status": await device(request).firmware_publishing.unpublish(station_id, checksum)}


# -- limits from outside, the EV's schedule, transaction status (K11-K17, E14) ---------------------


class ExternalLimitOut(Out):
    evse_id: int
    source: str
    grid_critical: bool | None
    schedules: list[Any] | None
    received_at: datetime


class EvScheduleOut(Out):
    id: int
    station_id: str
    evse_id: int
    transaction_id: int | None
    time_base: datetime
    schedule: dict[str, Any]
    status: str
    reason: str | None
    received_at: datetime


@router.get("/stations/{station_id}/charging-limits", response_model=list[ExternalLimitOut])
async def external_limits(station_id: str, request: Request):
    """Limits an EMS or grid operator set on the station (NotifyChargingLimit), in force until cleared."""
    return await device(request).external_limits.find(station_id)


@router.get("/transactions/{transaction_id}/ev-charging-schedules", response_model=list[EvScheduleOut])
async def ev_schedules(transaction_id: RowId, request: Request):
    """What the EV planned for this session (NotifyEVChargingSchedule), oldest first."""
    return await device(request).ev_schedules.for_transaction(transaction_id)


@router.post("/transactions/{transaction_id}/status-check", responses=answers(404, *STATION_CALL))
async def check_transaction_status(transaction_id: RowId, request: Request) -> dict[str, Any]:
    """GetTransactionStatus: does the station still queue messages of this transaction?"""
    result = await device(request).transaction_status.check(transaction_id)
    return {"transaction_id": transaction_id, **{k: v for k, v in result.details.items() if k != "status"}}
