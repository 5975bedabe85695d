"""OCPP 1.6J: Core, Firmware Management, Local Auth List, Remote Trigger and Reservation profiles."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from silkcharge.domain.charging import (
    AuthorizationStatus,
    BootInfo,
    ConnectorStatus,
    MeterSample,
    StationEvent,
    StatusReport,
    TokenInfo,
    TransactionStart,
    TransactionStop,
)
from silkcharge.domain.clock import parse_ocpp, to_ocpp, utcnow
from silkcharge.ocpp import commands as c
from silkcharge.ocpp.adapter import Adapter, OutboundCall, Session, command, decimal_value, on
from silkcharge.ocpp.commands import CommandNotSupported
from silkcharge.smart.composite import composite_fields, composite_from_ocpp16
from silkcharge.smart.profiles import profile_from_fields, set_charging_profile_request

_STATUS = {
    "Available": ConnectorStatus.AVAILABLE,
    "Preparing": ConnectorStatus.OCCUPIED,
    "Charging": ConnectorStatus.CHARGING,
    "SuspendedEVSE": ConnectorStatus.OCCUPIED,
    "SuspendedEV": ConnectorStatus.OCCUPIED,
    "Finishing": ConnectorStatus.OCCUPIED,
    "Reserved": ConnectorStatus.RESERVED,
    "Unavailable": ConnectorStatus.UNAVAILABLE,
    "Faulted": ConnectorStatus.FAULTED,
}

# 1.6 has no 'Unknown' authorization status: a token we do not know is Invalid.
_AUTH = {AuthorizationStatus.UNKNOWN: "Invalid"}


def id_tag_info(token: TokenInfo | None) -> dict[str, Any]:
    if token is None:
        return {"status": "Invalid"}
    info: dict[str, Any] = {"status": _AUTH.get(token.status, token.status.value)}
    if token.expires_at:
        info["expiryDate"] = to_ocpp(token.expires_at)
    if token.group_id:
        info["parentIdTag"] = token.group_id[:20]
    return info


def meter_samples(meter_values: list[dict[str, Any]]) -> tuple[MeterSample, ...]:
    samples = []
    for entry in meter_values:
        timestamp = parse_ocpp(entry["timestamp"])
        for sampled in entry["sampledValue"]:
            if sampled.get("format") == "SignedData":
                continue  # signed blobs are kept in the message log, not as numbers
            samples.append(
                MeterSample(
                    timestamp=timestamp,
                    measurand=sampled.get("measurand", "Energy.Active.Import.Register"),
                    value=decimal_value(sampled["value"], "sampledValue.value"),
                    unit=sampled.get("unit", "Wh"),
                    phase=sampled.get("phase", ""),
                    location=sampled.get("location", ""),
                    context=sampled.get("context", "Sample.Periodic"),
                )
            )
    return tuple(samples)


class V16Adapter(Adapter):
    version = "1.6"

    # -- station-initiated --------------------------------------------------------------------

    @on("BootNotification")
    async def boot_notification(self, session: Session, p: dict[str, Any]) -> dict[str, Any]:
        info = BootInfo(
            vendor=p["chargePointVendor"],
            model=p["chargePointModel"],
            serial_number=p.get("chargePointSerialNumber") or p.get("chargeBoxSerialNumber"),
            firmware_version=p.get("firmwareVersion"),
        )
        decision = await self.stations.boot(session.station_id, info, reject=session.reject_boot)
        return self.boot_reply(decision)

    @on("StatusNotification")
    async def status_notification(self, session: Session, p: dict[str, Any]) -> dict[str, Any]:
        connector = p["connectorId"]
        error = p["errorCode"]
        await self.stations.status(
            session.station_id,
            StatusReport(
                evse_id=connector,
                connector_id=1 if connector else 0,
                status=_STATUS[p["status"]],
                protocol_status=p["status"],
                timestamp=parse_ocpp(p["timestamp"]) if "timestamp" in p else utcnow(),
                error_code=None if error == "NoError" else error,
                vendor_error_code=p.get("vendorErrorCode"),
                info=p.get("info"),
            ),
        )
        return {}

    @on("Authorize")
    async def authorize(self, session: Session, p: dict[str, Any]) -> dict[str, Any]:
        return {"idTagInfo": id_tag_info(await self.transactions.authorize(p["idTag"]))}

    @on("StartTransaction")
    async def start_transaction(self, session: Session, p: dict[str, Any]) -> dict[str, Any]:
        record = await self.transactions.start(
            session.station_id,
            TransactionStart(
                evse_id=p["connectorId"],
                connector_id=1,
                timestamp=parse_ocpp(p["timestamp"]),
                id_token=p["idTag"],
                meter_start_wh=decimal_value(p["meterStart"], "meterStart"),
                reservation_id=p.get("reservationId"),
            ),
        )
        return {"transactionId": record.id, "idTagInfo": id_tag_info(record.token)}

    @on("StopTransaction")
    async def stop_transaction(self, session: Session, p: dict[str, Any]) -> dict[str, Any]:
        record = await self.transactions.stop(
            session.station_id,
            TransactionStop(
                station_tx_id=str(p["transactionId"]),
                timestamp=parse_ocpp(p["timestamp"]),
                reason=p.get("reason", "Local"),
                id_token=p.get("idTag"),
                meter_stop_wh=decimal_value(p["meterStop"], "meterStop"),
                samples=meter_samples(p.get("transactionData", [])),
            ),
        )
        if record is not None and record.token is not None:
            return {"idTagInfo": id_tag_info(record.token)}
        return {}

    @on("MeterValues")
    async def meter_values(self, session: Session, p: dict[str, Any]) -> dict[str, Any]:
        tx = p.get("transactionId")
        await self.transactions.meter_values(
            session.station_id,
            p["connectorId"],
            str(tx) if tx is not None else None,
            meter_samples(p["meterValue"]),
        )
        return {}

    @on("DiagnosticsStatusNotification")
    async def diagnostics_status(self, session: Session, p: dict[str, Any]) -> dict[str, Any]:
        await self.stations.note(session.station_id, StationEvent("diagnostics", p["status"], utcnow()))
        return {}

    # -- CSMS-initiated -------------------------------------------------------------------------

    @command("remote_start")
    def remote_start(self, p: c.RemoteStart, ctx: dict) -> OutboundCall:
        payload: dict[str, Any] = {"idTag": p.id_token}
        if p.evse_id is not None:
            payload["connectorId"] = p.evse_id
        return OutboundCall("RemoteStartTransaction", payload)

    @command("remote_stop")
    def remote_stop(self, p: c.RemoteStop, ctx: dict) -> OutboundCall:
        return OutboundCall("RemoteStopTransaction", {"transactionId": p.transaction_id})

    @command("reset")
    def reset(self, p: c.Reset, ctx: dict) -> OutboundCall:
        return OutboundCall("Reset", {"type": p.type.capitalize()})

    @command("unlock_connector")
    def unlock_connector(self, p: c.UnlockConnector, ctx: dict) -> OutboundCall:
        return OutboundCall("UnlockConnector", {"connectorId": p.evse_id})

    @command("change_availability")
    def change_availability(self, p: c.ChangeAvailability, ctx: dict) -> OutboundCall:
        kind = "Operative" if p.operative else "Inoperative"
        return OutboundCall("ChangeAvailability", {"connectorId": p.evse_id, "type": kind})

    @command("get_configuration")
    def get_configuration(self, p: c.GetConfiguration, ctx: dict) -> OutboundCall:
        payload = {"key": p.keys} if p.keys else {}
        return OutboundCall("GetConfiguration", payload, read=_read_configuration)

    @command("get_base_report")
    def get_base_report(self, p: c.GetBaseReport, ctx: dict) -> OutboundCall:
        return OutboundCall("GetConfiguration", {}, read=_read_configuration)

    @command("set_configuration")
    def set_configuration(self, p: c.SetConfiguration, ctx: dict) -> OutboundCall:
        return OutboundCall("ChangeConfiguration", {"key": p.key, "value": p.value})

    @command("trigger_message")
    def trigger_message(self, p: c.TriggerMessage, ctx: dict) -> OutboundCall:
        message = "DiagnosticsStatusNotification" if p.message == "LogStatusNotification" else p.message
        payload: dict[str, Any] = {"requestedMessage": message}
        if p.evse_id is not None:
            payload["connectorId"] = p.evse_id
        return OutboundCall("TriggerMessage", payload)

    @command("update_firmware")
    def update_firmware(self, p: c.UpdateFirmware, ctx: dict) -> OutboundCall:
        payload: dict[str, Any] = {"location": p.location, "retrieveDate": to_ocpp(p.retrieve_at)}
        if p.retries is not None:
            payload["retries"] = p.retries
        if p.retry_interval is not None:
            payload["retryInterval"] = p.retry_interval
        return OutboundCall("UpdateFirmware", payload, read=lambda reply: {"status": "Accepted"})

    @command("get_diagnostics")
    def get_diagnostics(self, p: c.GetDiagnostics, ctx: dict) -> OutboundCall:
        payload: dict[str, Any] = {"location": p.location}
        if p.start:
            payload["startTime"] = to_ocpp(p.start)
        if p.stop:
            payload["stopTime"] = to_ocpp(p.stop)
        return OutboundCall("GetDiagnostics", payload, read=_read_diagnostics)

    @command("send_local_list")
    def send_local_list(self, p: c.SendLocalList, ctx: dict) -> OutboundCall:
        entries = []
        for entry in p.entries:
            item: dict[str, Any] = {"idTag": entry.id_token}
            if entry.status is not None:
                info: dict[str, Any] = {"status": entry.status}
                if entry.expires_at:
                    info["expiryDate"] = to_ocpp(entry.expires_at)
                item["idTagInfo"] = info
            entries.append(item)
        payload = {
            "listVersion": p.version,
            "updateType": p.update_type.capitalize(),
            "localAuthorizationList": entries,
        }
        return OutboundCall("SendLocalList", payload)

    @command("get_local_list_version")
    def get_local_list_version(self, p: c.GetLocalListVersion, ctx: dict) -> OutboundCall:
        return OutboundCall(
            "GetLocalListVersion", {}, read=lambda r: {"status": "Accepted", "version": r["listVersion"]}
        )

    @command("reserve_now")
    def reserve_now(self, p: c.ReserveNow, ctx: dict) -> OutboundCall:
        payload = {
            "connectorId": p.evse_id,
            "expiryDate": to_ocpp(p.expires_at),
            "idTag": p.id_token,
            "reservationId": p.reservation_id,
        }
        return OutboundCall("ReserveNow", payload)

    # Station-wide reservations (connectorId 0, §5.13) only where the station says it takes them.
    station_wide_reservation_keys = ("ReserveConnectorZeroSupported",)

    def reserves_station_wide(self, configuration: dict[str, Any]) -> bool | None:
        """Whether the station takes ReserveNow for connector 0; None when it has not said."""
        value = configuration.get("ReserveConnectorZeroSupported")
        return None if value is None else str(value).strip().lower() == "true"

    # -- cost on the display: the OCA "California Pricing" DataTransfer messages -----------

    cost_display_keys = ("CustomDisplayCostAndPrice",)

    def shows_cost(self, configuration: dict[str, Any]) -> bool | None:
        value = configuration.get("CustomDisplayCostAndPrice")
        return None if value is None else str(value).lower() == "true"

    @command("user_price")
    def user_price(self, p: c.UserPrice, ctx: dict) -> OutboundCall:
        return _cost_message("SetUserPrice", {"idToken": p.id_token, "priceText": p.price_text})

    @command("running_cost")
    def running_cost(self, p: c.RunningCost, ctx: dict) -> OutboundCall:
        prices = {
            name: value
            for name, value in (("kWhPrice", p.kwh_price), ("hourPrice", p.hour_price), ("flatFee", p.flat_fee))
            if value is not None
        }
        data: dict[str, Any] = {
            "transactionId": int(p.station_tx_id),
            "timestamp": to_ocpp(p.timestamp),
            "meterValue": p.meter_wh,
            "cost": p.total_cost,
            "state": "Charging" if p.charging else "Idle",
            "chargingPrice": prices,
        }
        if p.idle_hour_price is not None:
            data["idlePrice"] = {"graceMinutes": 0, "hourPrice": p.idle_hour_price}
        return _cost_message("RunningCost", data)

    @command("final_cost")
    def final_cost(self, p: c.FinalCost, ctx: dict) -> OutboundCall:
        data = {"transactionId": int(p.station_tx_id), "cost": p.total_cost, "priceText": p.price_text}
        return _cost_message("FinalCost", data)


    # -- Smart Charging profile ------------------------------------------------------------------

    @command("set_charging_profile")
    def set_charging_profile(self, p: c.SetChargingProfile, ctx: dict) -> OutboundCall:
        profile = profile_from_fields(p.profile.model_dump())
        return OutboundCall("SetChargingProfile", set_charging_profile_request("1.6", p.evse_id, profile))

    @command("clear_charging_profile")
    def clear_charging_profile(self, p: c.ClearChargingProfile, ctx: dict) -> OutboundCall:
        payload: dict[str, Any] = {}
        if p.profile_id is not None:
            payload["id"] = p.profile_id
        if p.evse_id is not None:
            payload["connectorId"] = p.evse_id
        if p.purpose is not None:
            if p.purpose not in _PURPOSE:
                raise CommandNotSupported(f"OCPP 1.6 has no {p.purpose}")
            payload["chargingProfilePurpose"] = _PURPOSE[p.purpose]
        if p.stack_level is not None:
            payload["stackLevel"] = p.stack_level
        return OutboundCall("ClearChargingProfile", payload)

    @command("get_composite_schedule")
    def get_composite_schedule(self, p: c.GetCompositeSchedule, ctx: dict) -> OutboundCall:
        payload: dict[str, Any] = {"connectorId": p.evse_id, "duration": p.duration}
        if p.rate_unit is not None:
            payload["chargingRateUnit"] = p.rate_unit
        return OutboundCall(
            "GetCompositeSchedule", payload, read=lambda reply: _read_composite(reply, p.evse_id)
        )


_PURPOSE = {
    "ChargingStationMaxProfile": "ChargePointMaxProfile",
    "TxDefaultProfile": "TxDefaultProfile",
    "TxProfile": "TxProfile",
}


def _read_composite(reply: dict[str, Any], evse_id: int) -> dict[str, Any]:
    schedule = composite_from_ocpp16(reply, evse_id)
    return {"status": reply["status"], "schedule": composite_fields(schedule) if schedule else None}


COST_VENDOR_ID = "org.openchargealliance.costmsg"


def _cost_message(message_id: str, data: dict[str, Any]) -> OutboundCall:
    """A California Pricing DataTransfer: `data` is a JSON text whose amounts are written from
    their Decimals digit for digit (never through a float)."""
    payload = {"vendorId": COST_VENDOR_ID, "messageId": message_id, "data": _json_text(data)}
    return OutboundCall("DataTransfer", payload)


def _json_text(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{_json_text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, Decimal):
        return format(value, "f")
    return json.dumps(value, ensure_ascii=False)


def _read_configuration(reply: dict[str, Any]) -> dict[str, Any]:
    values = {item["key"]: item.get("value") for item in reply.get("configurationKey", [])}
    return {"status": "Accepted", "values": values, "unknown_keys": reply.get("unknownKey", [])}


def _read_diagnostics(reply: dict[str, Any]) -> dict[str, Any]:
    name = reply.get("fileName")
    return {"status": "Accepted" if name else "NoFile", "file_name": name}
