"""OCPP 2.0.1: provisioning, authorization, transactions, reservations, availability, firmware,
diagnostics, local list, security events and data transfer."""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

from silkcharge.domain import commands as c
from silkcharge.domain.charging import (
    BootInfo,
    ConnectorStatus,
    MeterSample,
    StationEvent,
    StatusReport,
    TokenInfo,
    TransactionRecord,
    TransactionStart,
    TransactionStop,
    TransactionUpdate,
)
from silkcharge.domain.clock import parse_ocpp, to_ocpp, utcnow
from silkcharge.domain.commands import CommandNotSupported
from silkcharge.domain.plausibility import reading
from silkcharge.domain.security import ProfileUpgrade
from silkcharge.domain.tokens import UNREGISTERED
from silkcharge.ocpp.adapter import (
    Adapter,
    OutboundCall,
    Session,
    command,
    config_bool,
    config_list,
    config_text,
    ocpp_number,
    on,
    token_type,
)
from silkcharge.ocpp.v201_device import (
    DeviceManagement201,
    component_out,
    read_status,
    variable_out,
)
from silkcharge.ocpp.v201_device import split_variable_key as _split_key
from silkcharge.smart.composite import composite_fields, composite_from_ocpp201
from silkcharge.smart.profiles import (
    ProfileError,
    profile_from_fields,
    set_charging_profile_request,
    to_ocpp201,
)

NETWORK_PRIORITY = "OCPPCommCtrlr.NetworkConfigurationPriority"
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
    if token.group_id and len(token.group_id) <= 36:
        # The group's own type where the group is a registered token, else Central (a group
        # the CSMS made up); a group longer than idToken's 36 characters is not sent cut short.
        info["groupIdToken"] = {"idToken": token.group_id, "type": token.group_type or UNREGISTERED.value}
    return info


def _tell(info: dict[str, Any], told: Any) -> None:
    """A driver's tariff (services/tariff_info.DriverTariff) into an IdTokenInfo."""
    if told is None:
        return
    info["personalMessage"] = told.message.to_ocpp()
    if told.driver_language:
        info["language1"] = told.driver_language


def meter_samples(meter_values: list[dict[str, Any]]) -> tuple[MeterSample, ...]:
    samples = []
    for entry in meter_values:
        timestamp = parse_ocpp(entry["timestamp"])
        for sampled in entry["sampledValue"]:
            unit = sampled.get("unitOfMeasure", {})
            multiplier = unit.get("multiplier", 0)
            value = _scaled(sampled["value"], multiplier)
            samples.append(
                MeterSample(
                    timestamp=timestamp,
                    measurand=sampled.get("measurand", "Energy.Active.Import.Register"),
                    value=value,
                    unit=unit.get("unit", "Wh"),
                    phase=sampled.get("phase", ""),
                    location=sampled.get("location", ""),
                    context=sampled.get("context", "Sample.Periodic"),
                    raw=None if value.is_finite() else f"{sampled['value']} x 10^{multiplier}",
                )
            )
    return tuple(samples)


def _scaled(value: Any, multiplier: int) -> Decimal:
    """value x 10^multiplier, exactly; NaN (which plausibility sets aside) when it overflows."""
    number = reading(value)
    if not multiplier or not number.is_finite():
        return number
    try:
        return number.scaleb(multiplier)
    except ArithmeticError:
        return Decimal("NaN")


# Variables whose list of allowed values says what the station can do, kept as 'Key#valuesList'
# (the display's languages: services/display_messages.py).
_VALUES_LISTS_KEPT = frozenset({"DisplayMessageCtrlr.Language"})


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


def _report_item(item: dict[str, Any]) -> dict[str, Any]:
    """One reported variable as kept with its report: its key, each attribute's value and
    mutability by attribute type, and its unit and data type."""
    attributes = item["variableAttribute"]
    characteristics = item.get("variableCharacteristics", {})
    kept: dict[str, Any] = {
        "key": _variable_key(item["component"], item["variable"]),
        "values": {a.get("type", "Actual"): a["value"] for a in attributes if "value" in a},
        "mutability": {a.get("type", "Actual"): a["mutability"] for a in attributes if "mutability" in a},
    }
    for field, name in (("dataType", "data_type"), ("unit", "unit")):
        if field in characteristics:
            kept[name] = characteristics[field]
    return kept


def _false_only(text: str) -> bool | None:
    """A false that rules something out; a true says only that the other key decides."""
    return False if config_bool(text) is False else None


class V201Adapter(DeviceManagement201, Adapter):
    version = "2.0.1"
    network_ocpp_version = "OCPP20"  # NetworkConnectionProfile.ocppVersion (2.1 adds OCPP21)

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
            session.origin,
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
                    session.origin,
                )
        await self.store_events(session, p)  # every entry, monitors' too (v201_device.py)
        return {}

    @on("NotifyReport")
    async def notify_report(self, session: Session, p: dict[str, Any]) -> dict[str, Any]:
        values = {}
        for item in p.get("reportData", []):
            for attribute in item["variableAttribute"]:
                if attribute.get("type", "Actual") == "Actual" and "value" in attribute:
                    values[_variable_key(item["component"], item["variable"])] = attribute["value"]
            key = _variable_key(item["component"], item["variable"])
            if key in _VALUES_LISTS_KEPT and "valuesList" in item.get("variableCharacteristics", {}):
                values[key + "#valuesList"] = item["variableCharacteristics"]["valuesList"]
        if values:
            await self.stations.merge_configuration(session.station_id, values)
        items = [_report_item(item) for item in p.get("reportData", [])]
        await self._device.reports.part(session.station_id, p["requestId"], p["seqNo"], p.get("tbc", False), items)
        return {}

    # -- authorization and transactions -------------------------------------------------------

    @on("Authorize")
    async def authorize(self, session: Session, p: dict[str, Any]) -> dict[str, Any]:
        token = await self.transactions.authorize(
            p["idToken"]["idToken"], session.station_id, token_type=p["idToken"].get("type"))
        reply: dict[str, Any] = {"idTokenInfo": id_token_info(token)}
        if self.tariffs is not None and reply["idTokenInfo"]["status"] == "Accepted":
            # I01: no EVSE is named yet; the tariff as quoted at the station's fastest EVSE.
            told = await self.tariffs.for_driver(session.station_id, None, p["idToken"]["idToken"], utcnow())
            _tell(reply["idTokenInfo"], told)
        if "iso15118CertificateHashData" in p or "certificate" in p:
            # C07: a contract certificate is checked (validity, OCSP) before the token counts.
            status = await self._contract_status(session, p)
            reply["certificateStatus"] = status
            if status != "Accepted":
                reply["idTokenInfo"] = {"status": "Invalid"}
        return reply

    async def _contract_status(self, session: Session, p: dict[str, Any]) -> str:
        if self.certificates is None:
            return "NoCertificateAvailable"
        hash_data = [{k: v for k, v in item.items() if k != "responderURL"}
                     for item in p.get("iso15118CertificateHashData", [])]
        return await self.certificates.contract_status(session.station_id, hash_data, p.get("certificate"))

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
                session.origin,
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
                    remote_start_id=info.get("remoteStartId"),
                ),
                session.origin,
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
            record = await self.transactions.stop(session.station_id, stop, session.origin)
            if record is None:  # Ended for a transaction we never saw: keep it all the same
                await self.transactions.update(
                    session.station_id,
                    TransactionUpdate(
                        info["transactionId"], timestamp, id_token=token, offline=offline,
                        evse_id=evse.get("id"), connector_id=evse.get("connectorId"),
                    ),
                    session.origin,
                )
                record = await self.transactions.stop(session.station_id, stop, session.origin)
        reply = {"idTokenInfo": id_token_info(record.token)} if token and record is not None else {}
        if self.tariffs is not None and record is not None:
            await self._tariff_texts(session, kind, record, evse.get("id"), token, timestamp, reply)
        if self.costs is not None and record is not None and kind != "Started":
            # I02/I03: the running cost on Updated replies, the final cost on the Ended reply.
            if kind == "Ended":
                total = await self.costs.final_total(record.id)
            else:  # with what the write read for it, when it did (no read of its own then)
                total = await self.costs.running_total(record.id, record.read)
            if total is not None:
                reply["totalCost"] = ocpp_number(total)
        return reply

    async def _tariff_texts(
        self, session: Session, kind: str, record: TransactionRecord, evse_id: int | None, token: str | None,
        timestamp: Any, reply: dict[str, Any],
    ) -> None:
        """I01: the driver's tariff with the Started reply; I06: the new one when it changed."""
        assert self.tariffs is not None
        if kind == "Started" and token and reply["idTokenInfo"]["status"] == "Accepted":
            _tell(reply["idTokenInfo"], await self.tariffs.started(
                record.id, session.station_id, evse_id or 0, token, timestamp))
        elif kind == "Updated":
            changed = await self.tariffs.updated(record.id, record.read)
            if changed is not None:
                reply["updatedPersonalMessage"] = changed.to_ocpp()

    @on("MeterValues")
    async def meter_values(self, session: Session, p: dict[str, Any]) -> dict[str, Any]:
        await self.transactions.meter_values(
            session.station_id, p["evseId"], None, meter_samples(p["meterValue"]), session.origin
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
        await self.security_events.reported(
            session.station_id, p["type"], parse_ocpp(p["timestamp"]), p.get("techInfo")
        )
        return {}

    # -- certificates (A02/A03, M01-M06) --------------------------------------------------------

    @on("SignCertificate")
    async def sign_certificate(self, session: Session, p: dict[str, Any]) -> dict[str, Any]:
        accepted, reason = await self.sign_certificate_request(session, p["csr"], p.get("certificateType"))
        if accepted:
            return {"status": "Accepted"}
        return {"status": "Rejected", "statusInfo": _status_info("CsrRefused", reason)}

    @on("GetCertificateStatus")
    async def get_certificate_status(self, session: Session, p: dict[str, Any]) -> dict[str, Any]:
        if self.certificates is None:
            return {"status": "Failed", "statusInfo": _status_info("NotConfigured", "no OCSP checks here")}
        data = {k: v for k, v in p["ocspRequestData"].items() if k != "responderURL"}
        good, ocsp_result = await self.certificates.certificate_status(session.station_id, data)
        if not good:
            return {"status": "Failed", "statusInfo": _status_info("OcspFailed", "see the CSMS security events")}
        if ocsp_result is not None and len(ocsp_result) > 5500:
            return {"status": "Failed", "statusInfo": _status_info("TooLarge", "the OCSP answer exceeds 5500 characters")}
        return {"status": "Accepted", "ocspResult": ocsp_result}

    @on("Get15118EVCertificate")
    async def get_15118_ev_certificate(self, session: Session, p: dict[str, Any]) -> dict[str, Any]:
        if self.certificates is None:
            return {"status": "Failed", "exiResponse": ""}
        status, exi = await self.certificates.ev_certificate(
            session.station_id, p["iso15118SchemaVersion"], p["action"], p["exiRequest"]
        )
        return {"status": status, "exiResponse": exi}

    @command("certificate_signed")
    def certificate_signed(self, p: c.CertificateSigned, ctx: dict) -> OutboundCall:
        payload: dict[str, Any] = {"certificateChain": p.certificate_chain}
        if p.certificate_type is not None:
            payload["certificateType"] = p.certificate_type
        return OutboundCall("CertificateSigned", payload)

    @command("install_certificate")
    def install_certificate(self, p: c.InstallCertificate, ctx: dict) -> OutboundCall:
        return OutboundCall("InstallCertificate", {"certificateType": p.certificate_type, "certificate": p.certificate})

    @command("get_installed_certificate_ids")
    def get_installed_certificate_ids(self, p: c.GetInstalledCertificateIds, ctx: dict) -> OutboundCall:
        payload = {"certificateType": list(p.certificate_types)} if p.certificate_types else {}
        return OutboundCall("GetInstalledCertificateIds", payload, read=_read_installed)

    # -- CSMS-initiated -------------------------------------------------------------------------

    @command("remote_start")
    def remote_start(self, p: c.RemoteStart, ctx: dict) -> OutboundCall:
        payload: dict[str, Any] = {
            "idToken": {"idToken": p.id_token, "type": token_type(ctx, p.id_token, p.id_token_type)},
            "remoteStartId": p.remote_start_id if p.remote_start_id is not None else ctx["remote_start_id"],
        }
        if p.evse_id is not None:
            payload["evseId"] = p.evse_id
        if p.charging_profile is not None:  # K05: the TxProfile the new transaction gets
            try:
                payload["chargingProfile"] = to_ocpp201(profile_from_fields(p.charging_profile.model_dump()), self.version)
            except ProfileError as refused:
                raise CommandNotSupported(str(refused)) from None
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
        return OutboundCall("GetBaseReport", {"requestId": p.request_id, "reportBase": p.report}, read=read_status)

    @command("get_report")
    def get_report(self, p: c.GetReport, ctx: dict) -> OutboundCall:
        payload: dict[str, Any] = {"requestId": p.request_id}
        if p.criteria:
            payload["componentCriteria"] = list(p.criteria)
        if p.components:
            payload["componentVariable"] = [
                {"component": component_out(ref),
                 **({"variable": variable_out(ref.variable, ref.variable_instance)} if ref.variable else {})}
                for ref in p.components
            ]
        return OutboundCall("GetReport", payload, read=read_status)

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
        firmware: dict[str, Any] = {"location": p.location, "retrieveDateTime": to_ocpp(p.retrieve_at)}
        if p.install_at is not None:
            firmware["installDateTime"] = to_ocpp(p.install_at)
        if p.signature is not None:
            firmware["signingCertificate"] = p.signing_certificate
            firmware["signature"] = p.signature
        payload: dict[str, Any] = {"requestId": p.request_id, "firmware": firmware}
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
        payload = {"logType": p.log_type, "requestId": p.request_id, "log": log}
        return OutboundCall("GetLog", payload, read=_read_log)

    @command("send_local_list")
    def send_local_list(self, p: c.SendLocalList, ctx: dict) -> OutboundCall:
        entries = []
        for entry in p.entries:
            item: dict[str, Any] = {
                "idToken": {"idToken": entry.id_token, "type": token_type(ctx, entry.id_token, entry.type)},
            }
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
        payload: dict[str, Any] = {
            "id": p.reservation_id,
            "expiryDateTime": to_ocpp(p.expires_at),
            "idToken": {"idToken": p.id_token, "type": token_type(ctx, p.id_token, p.id_token_type)},
        }
        if p.evse_id:  # without evseId the station keeps one EVSE free for the token
            payload["evseId"] = p.evse_id
        if p.connector_type is not None:
            payload["connectorType"] = p.connector_type
        if p.group_id_token is not None:
            payload["groupIdToken"] = {
                "idToken": p.group_id_token, "type": token_type(ctx, p.group_id_token),
            }
        return OutboundCall("ReserveNow", payload)

    # -- station-profile facts its variables tell ------------------------------------------

    profile_readers = {
        # ReservationCtrlr.Available / .Enabled (H01): either false means no reservations.
        "reservations": (("ReservationCtrlr.Available", "ReservationCtrlr.Enabled"), _false_only),
        # A reservation without evseId only where ReservationCtrlr.NonEvseSpecific is true.
        "reservations_station_wide": (("ReservationCtrlr.NonEvseSpecific",), config_bool),
        # TariffCostCtrlr.Enabled[Cost] (I02): the generic profile shows cost unless this is false.
        "cost_display": (("TariffCostCtrlr.Enabled[Cost]",), config_bool),
        # TariffCostCtrlr.Enabled[Tariff] (I01, I04-I06): no profile assumes it; asked once.
        "tariff_display": (("TariffCostCtrlr.Enabled[Tariff]",), config_bool),
        "measurands": (("SampledDataCtrlr.TxUpdatedMeasurands",), config_list),
        "charging_rate_units": (("SmartChargingCtrlr.RateUnit",), config_list),
        "master_pass_group_id": (("AuthCtrlr.MasterPassGroupId",), config_text),
    }

    @command("running_cost")
    def running_cost(self, p: c.RunningCost, ctx: dict) -> OutboundCall:
        payload = {"totalCost": ocpp_number(p.total_cost), "transactionId": p.station_tx_id}
        return OutboundCall("CostUpdated", payload)


    # -- smart charging (functional block K) ----------------------------------------------------

    @command("set_charging_profile")
    def set_charging_profile(self, p: c.SetChargingProfile, ctx: dict) -> OutboundCall:
        profile = profile_from_fields(p.profile.model_dump())
        try:
            return OutboundCall("SetChargingProfile", set_charging_profile_request(self.version, p.evse_id, profile))
        except ProfileError as refused:
            raise CommandNotSupported(str(refused)) from None

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
                session.station_id, p["requestId"], p["evseId"], p["chargingProfile"], p.get("tbc", False),
                p["chargingLimitSource"],
            )
        return {}

    @on("NotifyEVChargingNeeds")
    async def notify_ev_charging_needs(self, session: Session, p: dict[str, Any]) -> dict[str, Any]:
        if self.smart is None:
            return {"status": "Rejected"}
        await self.smart.ev_charging_needs(
            session.station_id, p["evseId"], p["chargingNeeds"], p.get("maxScheduleTuples"))
        return {"status": "Accepted"}


    # -- security: Basic-auth password (A01) and security profile (A05) ----------------------------

    network_profile_keys = (NETWORK_PRIORITY,)

    def password_call(self, password: str) -> OutboundCall:
        item = {"attributeValue": password, "component": {"name": "SecurityCtrlr"},
                "variable": {"name": "BasicAuthPassword"}}
        return OutboundCall("SetVariables", {"setVariableData": [item]}, read=_read_set_variables)

    def profile_upgrade_calls(
        self, upgrade: ProfileUpgrade, csms_url: str, configuration: dict[str, Any]
    ) -> list[OutboundCall]:
        """A05 as the test case TC_A_19 runs it: a NetworkConnectionProfile with the higher
        profile in a free slot, that slot first in NetworkConfigurationPriority, then a reset.
        The station falls back to its old profile if it cannot connect on the new one."""
        timeout = str(configuration.get("OCPPCommCtrlr.MessageTimeout[Default]", "30"))
        connection = {
            "ocppVersion": self.network_ocpp_version, "ocppTransport": "JSON", "ocppCsmsUrl": csms_url,
            "messageTimeout": int(timeout) if timeout.isdigit() else 30,
            "securityProfile": upgrade.profile, "ocppInterface": upgrade.ocpp_interface,
        }
        return self.network_move_calls(upgrade.configuration_slot, connection, configuration)

    def network_profile_call(self, slot: int, connection: dict[str, Any], configuration: dict[str, Any]) -> OutboundCall:
        """B09: SetNetworkProfile into `slot`; never the slot the station uses now (the first
        in its NetworkConfigurationPriority, when known)."""
        active = _priority(configuration)[:1]
        if active and str(slot) == active[0]:
            raise ValueError(f"slot {slot} holds the station's active network profile; choose another")
        return OutboundCall("SetNetworkProfile", {"configurationSlot": slot, "connectionData": connection})

    def network_move_calls(
        self, slot: int | None, connection: dict[str, Any], configuration: dict[str, Any]
    ) -> list[OutboundCall]:
        """A05 and B10: the profile in `slot` (default: the first free one), that slot first in
        NetworkConfigurationPriority, then a reset, after which the station connects with it."""
        priority = _priority(configuration)
        if slot is None:
            slot = next(n for n in itertools.count() if str(n) not in priority)
        ordered = ",".join([str(slot), *(other for other in priority if other != str(slot))])
        item = {"attributeValue": ordered, "component": {"name": "OCPPCommCtrlr"},
                "variable": {"name": "NetworkConfigurationPriority"}}
        return [
            self.network_profile_call(slot, connection, configuration),
            OutboundCall("SetVariables", {"setVariableData": [item]}, read=_read_set_variables),
            OutboundCall("Reset", {"type": "OnIdle"}),
        ]


def _priority(configuration: dict[str, Any]) -> list[str]:
    """The slots of OCPPCommCtrlr.NetworkConfigurationPriority, first the one in use."""
    return [slot.strip() for slot in str(configuration.get(NETWORK_PRIORITY) or "").split(",") if slot.strip()]


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


def _status_info(code: str, reason: str | None) -> dict[str, Any]:
    info: dict[str, Any] = {"reasonCode": code[:20]}
    if reason:
        info["additionalInfo"] = reason[:512]
    return info


def _read_installed(reply: dict[str, Any]) -> dict[str, Any]:
    items = []
    for chain in reply.get("certificateHashDataChain", []):
        kind = chain["certificateType"]
        items.append({**chain["certificateHashData"], "certificate_type": kind})
        items.extend({**child, "certificate_type": kind} for child in chain.get("childCertificateHashData", []))
    return {"status": reply["status"], "certificates": items}


def _read_list_version(reply: dict[str, Any]) -> dict[str, Any]:
    return {"status": "Accepted", "version": reply["versionNumber"]}
