"""OCPP 2.0.1 device management: monitoring (N02-N08), customer information (N09, N10),
display messages (O01-O06), firmware publishing (L03, L04), external limits and the EV's own
schedule (K11-K17), transaction status (E14), and the per-message limits of block B.

A mixin of `V201Adapter`: the handlers turn what a station sends into the device-model
services' neutral vocabulary, the builders turn neutral commands into CALLs, and `split`
cuts a CALL to the size the station accepts (DeviceDataCtrlr / MonitoringCtrlr
ItemsPerMessage and BytesPerMessage, learned from its report or pinned by an operator).
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import orjson

from silkcharge.domain import commands as c
from silkcharge.domain.clock import parse_ocpp, to_ocpp
from silkcharge.domain.device import (
    DeviceEventReport,
    DisplayMessageInfo,
    MonitorSetting,
    VariableAddress,
)
from silkcharge.domain.plausibility import reading
from silkcharge.ocpp import rpc
from silkcharge.ocpp.adapter import OutboundCall, Session, command, on
from silkcharge.ocpp.rpc import ErrorKind, RpcError
from silkcharge.services.device_model import DeviceModelServices
from silkcharge.smart.external import check_schedule

# Which list a CALL carries, which list its reply answers with (in the same order), and the
# device-model variables that limit it: {component}.ItemsPerMessage[{instance}] and
# {component}.BytesPerMessage[{instance}].
LIMITED = {
    "GetVariables": ("getVariableData", "getVariableResult", "DeviceDataCtrlr", "GetVariables"),
    "SetVariables": ("setVariableData", "setVariableResult", "DeviceDataCtrlr", "SetVariables"),
    "SetVariableMonitoring": ("setMonitoringData", "setMonitoringResult", "MonitoringCtrlr", "SetVariableMonitoring"),
    "ClearVariableMonitoring": ("id", "clearMonitoringResult", "MonitoringCtrlr", "ClearVariableMonitoring"),
}
_MESSAGE_ID = str(uuid.UUID(int=0))  # the longest message id we send: frames are measured with it


def limit_keys(action: str) -> tuple[str, str]:
    _, _, component, instance = LIMITED[action]
    return f"{component}.ItemsPerMessage[{instance}]", f"{component}.BytesPerMessage[{instance}]"


def _positive(value: Any) -> int | None:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def chunks(action: str, payload: dict[str, Any], field: str, max_items: int | None, max_bytes: int | None) -> list[dict[str, Any]]:
    """`payload` as several payloads whose `field` lists hold at most `max_items` items and
    whose whole CALL frames hold at most `max_bytes` bytes, items in their order."""
    items = payload[field]
    empty = len(rpc.encode_call(_MESSAGE_ID, action, {**payload, field: []}).encode())
    parts: list[list[Any]] = []
    current: list[Any] = []
    size = empty
    for item in items:
        item_size = len(orjson.dumps(item))
        if max_bytes is not None and empty + item_size > max_bytes:
            raise ValueError(
                f"one {action} item is {empty + item_size} bytes in its message, more than the "
                f"station's BytesPerMessage of {max_bytes}"
            )
        grown = size + item_size + (1 if current else 0)
        if current and ((max_items is not None and len(current) >= max_items)
                        or (max_bytes is not None and grown > max_bytes)):
            parts.append(current)
            current, grown = [], empty + item_size
        current.append(item)
        size = grown
    parts.append(current)
    return [{**payload, field: part} for part in parts]


def component_out(ref: c.ComponentRef) -> dict[str, Any]:
    component: dict[str, Any] = {"name": ref.component}
    if ref.component_instance:
        component["instance"] = ref.component_instance
    if ref.evse_id is not None:
        component["evse"] = {"id": ref.evse_id}
        if ref.connector_id is not None:
            component["evse"]["connectorId"] = ref.connector_id
    return component


def variable_out(name: str, instance: str | None) -> dict[str, Any]:
    return {"name": name, **({"instance": instance} if instance else {})}


def address_in(component: dict[str, Any], variable: dict[str, Any]) -> VariableAddress:
    evse = component.get("evse") or {}
    return VariableAddress(
        component=component["name"], variable=variable["name"], component_instance=component.get("instance"),
        evse_id=evse.get("id"), connector_id=evse.get("connectorId"), variable_instance=variable.get("instance"),
    )


def _status_info(reply: dict[str, Any]) -> str | None:
    info = reply.get("statusInfo")
    if not info:
        return None
    return info["reasonCode"] + (f": {info['additionalInfo']}" if info.get("additionalInfo") else "")


def read_status(reply: dict[str, Any]) -> dict[str, Any]:
    return {"status": reply["status"], "reason": _status_info(reply)}


def _overall(statuses: list[str]) -> str:
    accepted = sum(s == "Accepted" for s in statuses)
    return "Accepted" if accepted == len(statuses) else ("Rejected" if accepted == 0 else "PartiallyAccepted")


def _read_set_monitoring(reply: dict[str, Any]) -> dict[str, Any]:
    results = [{
        "id": r.get("id"), "status": r["status"], "type": r["type"], "severity": r["severity"],
        "variable": address_in(r["component"], r["variable"]).label(), "reason": _status_info(r),
    } for r in reply["setMonitoringResult"]]
    return {"status": _overall([r["status"] for r in results]), "results": results}


def _read_clear_monitoring(reply: dict[str, Any]) -> dict[str, Any]:
    results = [{"id": r["id"], "status": r["status"], "reason": _status_info(r)} for r in reply["clearMonitoringResult"]]
    return {"status": _overall([r["status"] for r in results]), "results": results}


def _read_set_values(reply: dict[str, Any]) -> dict[str, Any]:
    """`results`: each variable's status in the order asked (split calls are joined in order)."""
    results = [r["attributeStatus"] for r in reply["setVariableResult"]]
    statuses = {address_in(r["component"], r["variable"]).label(): r["attributeStatus"]
                for r in reply["setVariableResult"]}
    taken = [s in ("Accepted", "RebootRequired") for s in results]
    overall = "Accepted" if all(taken) else ("Rejected" if not any(taken) else "PartiallyAccepted")
    return {"status": overall, "statuses": statuses, "results": results}


def _read_transaction_status(reply: dict[str, Any]) -> dict[str, Any]:
    return {"status": "Accepted", "messages_in_queue": reply["messagesInQueue"],
            "ongoing": reply.get("ongoingIndicator")}


def split_variable_key(key: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """'Component[instance]@evse.Variable[instance]' (the form stored configuration uses)."""
    component_part, dot, variable_part = key.partition(".")
    if not dot or not component_part or not variable_part:
        raise ValueError(f"{key!r}: name a 2.0.1 variable as 'Component.Variable', e.g. 'OCPPCommCtrlr.HeartbeatInterval'")
    component_part, _, evse = component_part.partition("@")
    name, instance = _instance(component_part)
    component: dict[str, Any] = {"name": name, **({"instance": instance} if instance else {})}
    if evse:
        evse_id, _, connector = evse.partition("/")
        component["evse"] = {"id": int(evse_id), **({"connectorId": int(connector)} if connector else {})}
    name, instance = _instance(variable_part)
    return component, {"name": name, **({"instance": instance} if instance else {})}


def _instance(text: str) -> tuple[str, str | None]:
    if text.endswith("]") and "[" in text:
        name, _, instance = text[:-1].partition("[")
        return name, instance
    return text, None


def _usable(schedule: dict[str, Any]) -> None:
    """A chargingSchedule load management can use, or the CALLERROR saying why not (nothing
    of the message is stored; the frame stays in the message log)."""
    try:
        check_schedule(schedule)
    except ValueError as error:
        raise RpcError(ErrorKind.PROPERTY_CONSTRAINT_VIOLATION, f"chargingSchedule {schedule.get('id')}: {error}") from None


class DeviceManagement201:
    """Handlers and builders of the device-management blocks; see the module docstring."""

    device: DeviceModelServices | None = None
    """Attached by the composition root (app.py)."""

    @property
    def _device(self) -> DeviceModelServices:
        if self.device is None:
            raise RuntimeError("the device-model services are not attached to the 2.0.1 adapter")
        return self.device

    # -- per-message limits (B: ItemsPerMessage, BytesPerMessage) --------------------------------

    def split(self, call: OutboundCall, configuration: dict[str, Any]) -> list[OutboundCall]:
        if call.action not in LIMITED:
            return [call]
        items_key, bytes_key = limit_keys(call.action)
        field = LIMITED[call.action][0]
        payloads = chunks(
            call.action, call.payload, field, _positive(configuration.get(items_key)),
            _positive(configuration.get(bytes_key)),
        )
        return [OutboundCall(call.action, payload, call.read) for payload in payloads]

    def join(self, call: OutboundCall, replies: list[dict[str, Any]]) -> dict[str, Any]:
        if call.action not in LIMITED or len(replies) == 1:
            return replies[0]
        results = LIMITED[call.action][1]
        return {results: [item for reply in replies for item in reply[results]]}

    @command("set_configuration_values")
    def set_configuration_values(self, p: c.SetConfigurationValues, ctx: dict) -> OutboundCall:
        items = []
        for key, value in p.values.items():
            component, variable = split_variable_key(key)
            items.append({"attributeValue": value, "component": component, "variable": variable})
        return OutboundCall("SetVariables", {"setVariableData": items}, read=_read_set_values)

    # -- monitoring (N02-N08) --------------------------------------------------------------------

    @command("set_variable_monitoring")
    def set_variable_monitoring(self, p: c.SetVariableMonitoring, ctx: dict) -> OutboundCall:
        data = []
        for m in p.monitors:
            item: dict[str, Any] = {
                "value": float(m.value), "type": m.type, "severity": m.severity, "transaction": m.transaction,
                "component": component_out(m), "variable": variable_out(m.variable, m.variable_instance),
            }
            if m.id is not None:
                item["id"] = m.id
            data.append(item)
        return OutboundCall("SetVariableMonitoring", {"setMonitoringData": data}, read=_read_set_monitoring)

    @command("clear_variable_monitoring")
    def clear_variable_monitoring(self, p: c.ClearVariableMonitoring, ctx: dict) -> OutboundCall:
        return OutboundCall("ClearVariableMonitoring", {"id": p.ids}, read=_read_clear_monitoring)

    @command("set_monitoring_base")
    def set_monitoring_base(self, p: c.SetMonitoringBase, ctx: dict) -> OutboundCall:
        return OutboundCall("SetMonitoringBase", {"monitoringBase": p.base}, read=read_status)

    @command("set_monitoring_level")
    def set_monitoring_level(self, p: c.SetMonitoringLevel, ctx: dict) -> OutboundCall:
        return OutboundCall("SetMonitoringLevel", {"severity": p.severity}, read=read_status)

    @command("get_monitoring_report")
    def get_monitoring_report(self, p: c.GetMonitoringReport, ctx: dict) -> OutboundCall:
        payload: dict[str, Any] = {"requestId": p.request_id}
        if p.criteria:
            payload["monitoringCriteria"] = p.criteria
        if p.components:
            payload["componentVariable"] = [
                {"component": component_out(ref),
                 **({"variable": variable_out(ref.variable, ref.variable_instance)} if ref.variable else {})}
                for ref in p.components
            ]
        return OutboundCall("GetMonitoringReport", payload, read=read_status)

    @on("NotifyMonitoringReport")
    async def notify_monitoring_report(self, session: Session, p: dict[str, Any]) -> dict[str, Any]:
        monitors = [
            MonitorSetting(
                monitor_id=m["id"], address=address_in(item["component"], item["variable"]), type=m["type"],
                value=_finite(m["value"], "variableMonitoring.value"), severity=m["severity"],
                transaction=m["transaction"],
            )
            for item in p.get("monitor", [])
            for m in item["variableMonitoring"]
        ]
        await self._device.monitoring.reported(
            session.station_id, p["requestId"], p["seqNo"], p.get("tbc", False), monitors
        )
        return {}

    async def store_events(self, session: Session, p: dict[str, Any]) -> None:
        """NotifyEvent (N07, N08): every entry is kept, a monitor's with its monitor id."""
        events = [
            DeviceEventReport(
                event_id=e["eventId"], occurred_at=parse_ocpp(e["timestamp"]), trigger=e["trigger"],
                actual_value=e["actualValue"], address=address_in(e["component"], e["variable"]),
                notification_type=e["eventNotificationType"], cause=e.get("cause"), tech_code=e.get("techCode"),
                tech_info=e.get("techInfo"), cleared=e.get("cleared"), transaction_id=e.get("transactionId"),
                monitor_id=e.get("variableMonitoringId"),
            )
            for e in p["eventData"]
        ]
        await self._device.monitoring.events_reported(session.station_id, events)

    # -- customer information (N09, N10) ---------------------------------------------------------

    @command("customer_information")
    def customer_information(self, p: c.CustomerInformation, ctx: dict) -> OutboundCall:
        payload: dict[str, Any] = {"requestId": p.request_id, "report": p.report, "clear": p.clear}
        if p.id_token is not None:
            payload["idToken"] = {"idToken": p.id_token, "type": p.id_token_type}
        if p.customer_identifier is not None:
            payload["customerIdentifier"] = p.customer_identifier
        if p.certificate is not None:
            cert = p.certificate
            payload["customerCertificate"] = {
                "hashAlgorithm": cert.hash_algorithm, "issuerNameHash": cert.issuer_name_hash,
                "issuerKeyHash": cert.issuer_key_hash, "serialNumber": cert.serial_number,
            }
        return OutboundCall("CustomerInformation", payload, read=read_status)

    @on("NotifyCustomerInformation")
    async def notify_customer_information(self, session: Session, p: dict[str, Any]) -> dict[str, Any]:
        await self._device.customer_information.part(
            session.station_id, p["requestId"], p["seqNo"], p["data"], p.get("tbc", False)
        )
        return {}

    # -- display messages (O01-O06) --------------------------------------------------------------

    @command("set_display_message")
    def set_display_message(self, p: c.SetDisplayMessage, ctx: dict) -> OutboundCall:
        message: dict[str, Any] = {"format": p.format, "content": p.content}
        if p.language:
            message["language"] = p.language
        info: dict[str, Any] = {"id": p.message_id, "priority": p.priority, "message": message}
        if p.state is not None:
            info["state"] = p.state
        if p.starts_at is not None:
            info["startDateTime"] = to_ocpp(p.starts_at)
        if p.ends_at is not None:
            info["endDateTime"] = to_ocpp(p.ends_at)
        if p.station_tx_id is not None:
            info["transactionId"] = p.station_tx_id
        if p.display is not None:
            info["display"] = component_out(p.display)
        return OutboundCall("SetDisplayMessage", {"message": info}, read=read_status)

    @command("get_display_messages")
    def get_display_messages(self, p: c.GetDisplayMessages, ctx: dict) -> OutboundCall:
        payload: dict[str, Any] = {"requestId": p.request_id}
        if p.ids:
            payload["id"] = p.ids
        if p.priority is not None:
            payload["priority"] = p.priority
        if p.state is not None:
            payload["state"] = p.state
        return OutboundCall("GetDisplayMessages", payload, read=read_status)

    @command("clear_display_message")
    def clear_display_message(self, p: c.ClearDisplayMessage, ctx: dict) -> OutboundCall:
        return OutboundCall("ClearDisplayMessage", {"id": p.message_id}, read=read_status)

    @on("NotifyDisplayMessages")
    async def notify_display_messages(self, session: Session, p: dict[str, Any]) -> dict[str, Any]:
        messages = []
        for m in p.get("messageInfo", []):
            content = m["message"]
            messages.append(DisplayMessageInfo(
                message_id=m["id"], priority=m["priority"], content=content["content"], format=content["format"],
                language=content.get("language"), state=m.get("state"),
                starts_at=parse_ocpp(m["startDateTime"]) if m.get("startDateTime") else None,
                ends_at=parse_ocpp(m["endDateTime"]) if m.get("endDateTime") else None,
                transaction_id=m.get("transactionId"), display=m.get("display"),
            ))
        await self._device.display_messages.reported(
            session.station_id, p["requestId"], messages, p.get("tbc", False)
        )
        return {}

    # -- firmware published by a local controller (L03, L04) -------------------------------------

    @command("publish_firmware")
    def publish_firmware(self, p: c.PublishFirmware, ctx: dict) -> OutboundCall:
        payload: dict[str, Any] = {"location": p.location, "checksum": p.checksum, "requestId": p.request_id}
        if p.retries is not None:
            payload["retries"] = p.retries
        if p.retry_interval is not None:
            payload["retryInterval"] = p.retry_interval
        return OutboundCall("PublishFirmware", payload, read=read_status)

    @command("unpublish_firmware")
    def unpublish_firmware(self, p: c.UnpublishFirmware, ctx: dict) -> OutboundCall:
        return OutboundCall("UnpublishFirmware", {"checksum": p.checksum})

    @on("PublishFirmwareStatusNotification")
    async def publish_firmware_status(self, session: Session, p: dict[str, Any]) -> dict[str, Any]:
        await self._device.firmware_publishing.status(
            session.station_id, p["status"], p.get("location", []), p.get("requestId")
        )
        return {}

    # -- limits from outside and the EV's schedule (K11-K17) --------------------------------------

    @on("NotifyChargingLimit")
    async def notify_charging_limit(self, session: Session, p: dict[str, Any]) -> dict[str, Any]:
        for schedule in p.get("chargingSchedule", []):
            _usable(schedule)
        limit = p["chargingLimit"]
        await self._device.external_limits.set(
            session.station_id, p.get("evseId", 0), limit["chargingLimitSource"], limit.get("isGridCritical"),
            p.get("chargingSchedule"),
        )
        return {}

    @on("ClearedChargingLimit")
    async def cleared_charging_limit(self, session: Session, p: dict[str, Any]) -> dict[str, Any]:
        await self._device.external_limits.cleared(session.station_id, p.get("evseId"), p["chargingLimitSource"])
        return {}

    @on("NotifyEVChargingSchedule")
    async def notify_ev_charging_schedule(self, session: Session, p: dict[str, Any]) -> dict[str, Any]:
        _usable(p["chargingSchedule"])
        status, reason = await self._device.ev_schedules.received(
            session.station_id, p["evseId"], parse_ocpp(p["timeBase"]), p["chargingSchedule"]
        )
        reply: dict[str, Any] = {"status": status}
        if reason:
            reply["statusInfo"] = {"reasonCode": "InvalidSchedule", "additionalInfo": reason[:512]}
        return reply

    # -- transaction status (E14) ----------------------------------------------------------------

    @command("get_transaction_status")
    def get_transaction_status(self, p: c.GetTransactionStatus, ctx: dict) -> OutboundCall:
        payload = {"transactionId": p.station_tx_id} if p.station_tx_id is not None else {}
        return OutboundCall("GetTransactionStatus", payload, read=_read_transaction_status)


def _finite(raw: Any, field: str) -> Decimal:
    """A monitor's threshold or delta as an exact Decimal, or the CALLERROR naming the field (a
    report is no transaction message, so refusing it loses nothing: the station sends it again)."""
    value = reading(raw)
    if not value.is_finite():
        raise RpcError(ErrorKind.PROPERTY_CONSTRAINT_VIOLATION, f"{field}: {raw!r} is not a number")
    return value
