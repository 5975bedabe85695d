"""OCPP 2.0.1: provisioning, authorization, transactions, reservations, availability, firmware,
diagnostics, local list, security events and data transfer."""

from __future__ import annotations

from typing import Any

from silkcharge.domain.charging import (
    BootInfo,
    ConnectorStatus,
    MeterSample,
    StationEvent,
    StatusReport,
    TokenInfo,
    TransactionStart,
    TransactionStop,
    TransactionUpdate,
)
from silkcharge.domain.clock import parse_ocpp, to_ocpp, utcnow
from silkcharge.ocpp import commands as c
from silkcharge.ocpp.adapter import (
    Adapter,
    OutboundCall,
    Session,
    command,
    decimal_value,
    ocpp_number,
    on,
)
from silkcharge.ocpp.commands import CommandNotSupported
from silkcharge.smart.composite import composite_fields, composite_from_ocpp201
from silkcharge.smart.profiles import profile_from_fields, set_charging_profile_request

_STATUS = {
    "Available": ConnectorStatus.AVAILABLE,
    "Occupied": ConnectorStatus.OCCUPIED,
    "Reserved": ConnectorStatus.RESERVED,
    "Unavailable": ConnectorStatus.UNAVAILABLE,
    "Faulted": ConnectorStatus.FAULTED,
}


def id_token_info(token: TokenInfo | None) -> dict[str, Any]:
    if token is None:
        return {"status": "Unknown"}
    info: dict[str, Any] = {"status": token.status.value}
    if token.expires_at:
        info["cacheExpiryDateTime"] = to_ocpp(token.expires_at)
    if token.group_id:
        info["groupIdToken"] = {"idToken": token.group_id[:36], "type": "Central"}
    return info


def meter_samples(meter_values: list[dict[str, Any]]) -> tuple[MeterSample, ...]:
    samples = []
    for entry in meter_values:
        timestamp = parse_ocpp(entry["timestamp"])
        for sampled in entry["sampledValue"]:
            unit = sampled.get("unitOfMeasure", {})
            value = decimal_value(sampled["value"], "sampledValue.value")
            multiplier = unit.get("multiplier", 0)
            samples.append(
                MeterSample(
                    timestamp=timestamp,
                    measurand=sampled.get("measurand", "Energy.Active.Import.Register"),
                    value=value.scaleb(multiplier) if multiplier else value,
                    unit=unit.get("unit", "Wh"),
                    phase=sampled.get("phase", ""),
                    location=sampled.get("location", ""),
                    context=sampled.get("context", "Sample.Periodic"),
                )
            )
    return tuple(samples)


def _variable_key(component: dict[str, Any], variable: dict[str, Any]) -> str:
    key = component["name"]
    if "instance" in component:
        key += f"[{component['instance']}]"
    if "evse" in component:
        key += f"@{component['evse']['id']}"
    key += f".{variable['name']}"
    if "instance" in variable:
        key += f"[{variable['instance']}]"
    return key


def _split_key(key: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """'OCPPCommCtrlr.HeartbeatInterval' -> component and variable, as GetVariables wants them."""
    component, dot, variable = key.partition(".")
    if not dot or not component or not variable:
        raise ValueError(
            f"{key!r}: OCPP 2.0.1 names a setting as 'Component.Variable', "
            "e.g. 'OCPPCommCtrlr.HeartbeatInterval'"
        )
    return {"name": component}, {"name": variable}


class V201Adapter(Adapter):
    version = "2.0.1"

    # -- provisioning -----------------------------------------------------------------------

    @on("BootNotification")
    async def boot_notification(self, session: Session, p: dict[str, Any]) -> dict[str, Any]:
        station = p["chargingStation"]
        info = BootInfo(
            vendor=station["vendorName"],
            model=station["model"],
            serial_number=station.get("serialNumber"),
            firmware_version=station.get("firmwareVersion"),
            reason=p["reason"],
        )
        decision = await self.stations.boot(session.station_id, info, reject=session.reject_boot)
        return self.boot_reply(decision)

    @on("StatusNotification")
    async def status_notification(self, session: Session, p: dict[str, Any]) -> dict[str, Any]:
        await self.stations.status(
            session.station_id,
            StatusReport(
                evse_id=p["evseId"],
                connector_id=p["connectorId"],
                status=_STATUS[p["connectorStatus"]],
                protocol_status=p["connectorStatus"],
                timestamp=parse_ocpp(p["timestamp"]),
            ),
        )
        return {}

    @on("NotifyEvent")
    async def notify_event(self, session: Session, p: dict[str, Any]) -> dict[str, Any]:
        for event in p["eventData"]:
            if event["variable"]["name"] == "Problem" and event.get("actualValue") == "true":
                component = event["component"]
                evse = component.get("evse", {})
                await self.stations.status(
                    session.station_id,
                    StatusReport(
                        evse_id=evse.get("id", 0),
                        connector_id=evse.get("connectorId", 1 if evse else 0),
                        status=ConnectorStatus.FAULTED,
                        protocol_status="Faulted",
                        timestamp=parse_ocpp(event["timestamp"]),
                        error_code=event.get("techCode") or component["name"],
                        info=event.get("techInfo"),
                    ),
                )
        return {}

    @on("NotifyReport")
    async def notify_report(self, session: Session, p: dict[str, Any]) -> dict[str, Any]:
        values = {}
        for item in p.get("reportData", []):
            for attribute in item["variableAttribute"]:
                if attribute.get("type", "Actual") == "Actual" and "value" in attribute:
                    values[_variable_key(item["component"], item["variable"])] = attribute["value"]
        if values:
            await self.stations.merge_configuration(session.station_id, values)
        return {}

    # -- authorization and transactions -------------------------------------------------------

    @on("Authorize")
    async def authorize(self, session: Session, p: dict[str, Any]) -> dict[str, Any]:
        token = await self.transactions.authorize(p["idToken"]["idToken"])
        return {"idTokenInfo": id_token_info(token)}

    @on("TransactionEvent")
    async def transaction_event(self, session: Session, p: dict[str, Any]) -> dict[str, Any]:
        info = p["transactionInfo"]
        token = p.get("idToken", {}).get("idToken")
        evse = p.get("evse", {})
        timestamp = parse_ocpp(p["timestamp"])
        samples = meter_samples(p.get("meterValue", []))
        offline = p.get("offline", False)
        kind = p["eventType"]
        if kind == "Started":
            record = await self.transactions.start(
                session.station_id,
                TransactionStart(
                    evse_id=evse.get("id", 0),
                    connector_id=evse.get("connectorId", 1),
                    timestamp=timestamp,
                    station_tx_id=info["transactionId"],
                    id_token=token,
                    reservation_id=p.get("reservationId"),
                    remote_start_id=info.get("remoteStartId"),
                    offline=offline,
                    seq_no=p["seqNo"],
                    charging_state=info.get("chargingState"),
                    samples=samples,
                ),
            )
        elif kind == "Updated":
            record = await self.transactions.update(
                session.station_id,
                TransactionUpdate(
                    station_tx_id=info["transactionId"],
                    timestamp=timestamp,
                    trigger=p["triggerReason"],
                    id_token=token,
                    charging_state=info.get("chargingState"),
                    offline=offline,
                    seq_no=p["seqNo"],
                    samples=samples,
                    evse_id=evse.get("id"),
                    connector_id=evse.get("connectorId"),
                ),
            )
        else:
            stop = TransactionStop(
                station_tx_id=info["transactionId"],
                timestamp=timestamp,
                reason=info.get("stoppedReason", "Local"),
                id_token=token,
                offline=offline,
                seq_no=p["seqNo"],
                samples=samples,
            )
            record = await self.transactions.stop(session.station_id, stop)
            if record is None:  # Ended for a transaction we never saw: keep it all the same
                await self.transactions.update(
                    session.station_id,
                    TransactionUpdate(
                        info["transactionId"], timestamp, id_token=token, offline=offline,
                        evse_id=evse.get("id"), connector_id=evse.get("connectorId"),
                    ),
                )
                record = await self.transactions.stop(session.station_id, stop)
        reply = {"idTokenInfo": id_token_info(record.token)} if token and record is not None else {}
        if self.costs is not None and record is not None and kind != "Started":
            # I02/I03: the running cost on Updated replies, the final cost on the Ended reply.
            total = await (self.costs.final_total if kind == "Ended" else self.costs.running_total)(record.id)
            if total is not None:
                reply["totalCost"] = ocpp_number(total)
        return reply

    @on("MeterValues")
    async def meter_values(self, session: Session, p: dict[str, Any]) -> dict[str, Any]:
        await self.transactions.meter_values(
            session.station_id, p["evseId"], None, meter_samples(p["meterValue"])
        )
        return {}

    # -- reservations -------------------------------------------------------------------------

    @on("ReservationStatusUpdate")
    async def reservation_status_update(self, session: Session, p: dict[str, Any]) -> dict[str, Any]:
        await self.reservations.station_ended(
            session.station_id, p["reservationId"], p["reservationUpdateStatus"]
        )
        return {}

    # -- firmware, diagnostics, security, vendor ------------------------------------------------

    @on("LogStatusNotification")
    async def log_status(self, session: Session, p: dict[str, Any]) -> dict[str, Any]:
        await self.stations.note(session.station_id, StationEvent("log", p["status"], utcnow()))
        return {}

    @on("SecurityEventNotification")
    async def security_event(self, session: Session, p: dict[str, Any]) -> dict[str, Any]:
        event = StationEvent("security", p["type"], parse_ocpp(p["timestamp"]), {"techInfo": p.get("techInfo")})
        await self.stations.note(session.station_id, event)
        return {}

    # -- CSMS-initiated -------------------------------------------------------------------------

    @command("remote_start")
    def remote_start(self, p: c.RemoteStart, ctx: dict) -> OutboundCall:
        payload: dict[str, Any] = {
            "idToken": {"idToken": p.id_token, "type": "Central"},
            "remoteStartId": p.remote_start_id if p.remote_start_id is not None else ctx["remote_start_id"],
        }
        if p.evse_id is not None:
            payload["evseId"] = p.evse_id
        return OutboundCall("RequestStartTransaction", payload)

    @command("remote_stop")
    def remote_stop(self, p: c.RemoteStop, ctx: dict) -> OutboundCall:
        return OutboundCall("RequestStopTransaction", {"transactionId": ctx["station_tx_id"]})

    @command("reset")
    def reset(self, p: c.Reset, ctx: dict) -> OutboundCall:
        return OutboundCall("Reset", {"type": "Immediate" if p.type == "hard" else "OnIdle"})

    @command("unlock_connector")
    def unlock_connector(self, p: c.UnlockConnector, ctx: dict) -> OutboundCall:
        return OutboundCall("UnlockConnector", {"evseId": p.evse_id, "connectorId": p.connector_id})

    @command("change_availability")
    def change_availability(self, p: c.ChangeAvailability, ctx: dict) -> OutboundCall:
        payload: dict[str, Any] = {"operationalStatus": "Operative" if p.operative else "Inoperative"}
        if p.evse_id:
            payload["evse"] = {"id": p.evse_id}
            if p.connector_id is not None:
                payload["evse"]["connectorId"] = p.connector_id
        return OutboundCall("ChangeAvailability", payload)

    @command("get_configuration")
    def get_configuration(self, p: c.GetConfiguration, ctx: dict) -> OutboundCall:
        if not p.keys:
            raise CommandNotSupported(
                "OCPP 2.0.1 reads named variables only: give keys such as "
                "'OCPPCommCtrlr.HeartbeatInterval', or use get_base_report for everything"
            )
        items = []
        for key in p.keys:
            component, variable = _split_key(key)
            items.append({"component": component, "variable": variable})
        return OutboundCall("GetVariables", {"getVariableData": items}, read=_read_variables)

    @command("set_configuration")
    def set_configuration(self, p: c.SetConfiguration, ctx: dict) -> OutboundCall:
        component, variable = _split_key(p.key)
        item = {"attributeValue": p.value, "component": component, "variable": variable}
        return OutboundCall("SetVariables", {"setVariableData": [item]}, read=_read_set_variables)

    @command("get_base_report")
    def get_base_report(self, p: c.GetBaseReport, ctx: dict) -> OutboundCall:
        return OutboundCall("GetBaseReport", {"requestId": p.request_id, "reportBase": p.report})

    @command("trigger_message")
    def trigger_message(self, p: c.TriggerMessage, ctx: dict) -> OutboundCall:
        message = "LogStatusNotification" if p.message == "DiagnosticsStatusNotification" else p.message
        payload: dict[str, Any] = {"requestedMessage": message}
        if p.evse_id is not None:
            payload["evse"] = {"id": p.evse_id}
            if p.connector_id is not None:
                payload["evse"]["connectorId"] = p.connector_id
        return OutboundCall("TriggerMessage", payload)

    @command("update_firmware")
    def update_firmware(self, p: c.UpdateFirmware, ctx: dict) -> OutboundCall:
        payload: dict[str, Any] = {
            "requestId": p.request_id,
            "firmware": {"location": p.location, "retrieveDateTime": to_ocpp(p.retrieve_at)},
        }
        if p.retries is not None:
            payload["retries"] = p.retries
        if p.retry_interval is not None:
            payload["retryInterval"] = p.retry_interval
        return OutboundCall("UpdateFirmware", payload)

    @command("get_diagnostics")
    def get_diagnostics(self, p: c.GetDiagnostics, ctx: dict) -> OutboundCall:
        log: dict[str, Any] = {"remoteLocation": p.location}
        if p.start:
            log["oldestTimestamp"] = to_ocpp(p.start)
        if p.stop:
            log["latestTimestamp"] = to_ocpp(p.stop)
        payload = {"logType": "DiagnosticsLog", "requestId": p.request_id, "log": log}
        return OutboundCall("GetLog", payload, read=_read_log)

    @command("send_local_list")
    def send_local_list(self, p: c.SendLocalList, ctx: dict) -> OutboundCall:
        entries = []
        for entry in p.entries:
            item: dict[str, Any] = {"idToken": {"idToken": entry.id_token, "type": "ISO14443"}}
            if entry.status is not None:
                info: dict[str, Any] = {"status": entry.status}
                if entry.expires_at:
                    info["cacheExpiryDateTime"] = to_ocpp(entry.expires_at)
                item["idTokenInfo"] = info
            entries.append(item)
        payload: dict[str, Any] = {"versionNumber": p.version, "updateType": p.update_type.capitalize()}
        if entries:
            payload["localAuthorizationList"] = entries
        return OutboundCall("SendLocalList", payload)

    @command("get_local_list_version")
    def get_local_list_version(self, p: c.GetLocalListVersion, ctx: dict) -> OutboundCall:
        return OutboundCall("GetLocalListVersion", {}, read=_read_list_version)

    @command("reserve_now")
    def reserve_now(self, p: c.ReserveNow, ctx: dict) -> OutboundCall:
        payload = {
            "id": p.reservation_id,
            "expiryDateTime": to_ocpp(p.expires_at),
            "idToken": {"idToken": p.id_token, "type": "Central"},
        }
        if p.evse_id:  # without evseId the station keeps one EVSE free for the token
            payload["evseId"] = p.evse_id
        return OutboundCall("ReserveNow", payload)

    # A reservation without evseId only where ReservationCtrlr.NonEvseSpecific is true.
    station_wide_reservation_keys = ("ReservationCtrlr.NonEvseSpecific",)

    def reserves_station_wide(self, configuration: dict[str, Any]) -> bool | None:
        """Whether the station takes a ReserveNow without evseId; None when it has not said."""
        value = configuration.get("ReservationCtrlr.NonEvseSpecific")
        return None if value is None else str(value).strip().lower() == "true"

    def shows_cost(self, configuration: dict[str, Any]) -> bool | None:
        # TariffCostCtrlr.Enabled[Cost] (I02): only an explicit false turns the running cost off.
        return str(configuration.get("TariffCostCtrlr.Enabled[Cost]", "true")).lower() != "false"

    @command("running_cost")
    def running_cost(self, p: c.RunningCost, ctx: dict) -> OutboundCall:
        payload = {"totalCost": ocpp_number(p.total_cost), "transactionId": p.station_tx_id}
        return OutboundCall("CostUpdated", payload)


    # -- smart charging (functional block K) ----------------------------------------------------

    @command("set_charging_profile")
    def set_charging_profile(self, p: c.SetChargingProfile, ctx: dict) -> OutboundCall:
        profile = profile_from_fields(p.profile.model_dump())
        return OutboundCall("SetChargingProfile", set_charging_profile_request("2.0.1", p.evse_id, profile))

    @command("clear_charging_profile")
    def clear_charging_profile(self, p: c.ClearChargingProfile, ctx: dict) -> OutboundCall:
        payload: dict[str, Any] = {}
        if p.profile_id is not None:
            payload["chargingProfileId"] = p.profile_id
        criteria: dict[str, Any] = {}
        if p.evse_id is not None:
            criteria["evseId"] = p.evse_id
        if p.purpose is not None:
            criteria["chargingProfilePurpose"] = p.purpose
        if p.stack_level is not None:
            criteria["stackLevel"] = p.stack_level
        if criteria:
            payload["chargingProfileCriteria"] = criteria
        return OutboundCall("ClearChargingProfile", payload)

    @command("get_composite_schedule")
    def get_composite_schedule(self, p: c.GetCompositeSchedule, ctx: dict) -> OutboundCall:
        payload: dict[str, Any] = {"duration": p.duration, "evseId": p.evse_id}
        if p.rate_unit is not None:
            payload["chargingRateUnit"] = p.rate_unit
        return OutboundCall("GetCompositeSchedule", payload, read=_read_composite)

    @command("get_charging_profiles")
    def get_charging_profiles(self, p: c.GetChargingProfiles, ctx: dict) -> OutboundCall:
        criterion: dict[str, Any] = {}
        if p.purpose is not None:
            criterion["chargingProfilePurpose"] = p.purpose
        if p.stack_level is not None:
            criterion["stackLevel"] = p.stack_level
        if p.profile_ids:
            criterion["chargingProfileId"] = p.profile_ids
        payload: dict[str, Any] = {"requestId": p.request_id, "chargingProfile": criterion}
        if p.evse_id is not None:
            payload["evseId"] = p.evse_id
        return OutboundCall("GetChargingProfiles", payload)

    @on("ReportChargingProfiles")
    async def report_charging_profiles(self, session: Session, p: dict[str, Any]) -> dict[str, Any]:
        if self.smart is not None:
            await self.smart.profiles_reported(
                session.station_id, p["requestId"], p["evseId"], p["chargingProfile"], p.get("tbc", False)
            )
        return {}

    @on("NotifyEVChargingNeeds")
    async def notify_ev_charging_needs(self, session: Session, p: dict[str, Any]) -> dict[str, Any]:
        if self.smart is None:
            return {"status": "Rejected"}
        await self.smart.ev_charging_needs(session.station_id, p["evseId"], p["chargingNeeds"])
        return {"status": "Accepted"}


def _read_composite(reply: dict[str, Any]) -> dict[str, Any]:
    schedule = composite_from_ocpp201(reply)
    return {"status": reply["status"], "schedule": composite_fields(schedule) if schedule else None}


def _read_variables(reply: dict[str, Any]) -> dict[str, Any]:
    values, problems = {}, {}
    for item in reply["getVariableResult"]:
        key = _variable_key(item["component"], item["variable"])
        if item["attributeStatus"] == "Accepted":
            values[key] = item.get("attributeValue")
        else:
            problems[key] = item["attributeStatus"]
    status = "Accepted" if not problems else ("Rejected" if not values else "PartiallyAccepted")
    return {"status": status, "values": values, "unknown_keys": list(problems), "problems": problems}


def _read_set_variables(reply: dict[str, Any]) -> dict[str, Any]:
    result = reply["setVariableResult"][0]
    return {"status": result["attributeStatus"]}


def _read_log(reply: dict[str, Any]) -> dict[str, Any]:
    return {"status": reply["status"], "file_name": reply.get("filename")}


def _read_list_version(reply: dict[str, Any]) -> dict[str, Any]:
    return {"status": "Accepted", "version": reply["versionNumber"]}
