"""OCPP 1.6J: Core, Firmware Management, Local Auth List, Remote Trigger and Reservation profiles,
and the OCA security extension ("Improved security for OCPP 1.6-J", edition 3)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from silkcharge.domain import commands as c
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
from silkcharge.domain.commands import CommandNotSupported
from silkcharge.domain.plausibility import reading
from silkcharge.domain.security import ProfileUpgrade
from silkcharge.ocpp.adapter import (
    Adapter,
    OutboundCall,
    Session,
    command,
    config_bool,
    config_list,
    on,
)
from silkcharge.smart.composite import composite_fields, composite_from_ocpp16
from silkcharge.smart.profiles import profile_from_fields, set_charging_profile_request, to_ocpp16

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
    if token.group_id and len(token.group_id) <= 20:
        # 1.6 parentIdTag holds 20 characters; a longer group is not sent cut short, where it
        # could name another group.
        info["parentIdTag"] = token.group_id
    return info


def meter_samples(meter_values: list[dict[str, Any]]) -> tuple[MeterSample, ...]:
    samples = []
    for entry in meter_values:
        timestamp = parse_ocpp(entry["timestamp"])
        for sampled in entry["sampledValue"]:
            if sampled.get("format") == "SignedData":
                continue  # signed blobs are kept in the message log, not as numbers
            value = reading(sampled["value"])
            samples.append(
                MeterSample(
                    timestamp=timestamp,
                    measurand=sampled.get("measurand", "Energy.Active.Import.Register"),
                    value=value,
                    unit=sampled.get("unit", "Wh"),
                    phase=sampled.get("phase", ""),
                    location=sampled.get("location", ""),
                    context=sampled.get("context", "Sample.Periodic"),
                    raw=None if value.is_finite() else sampled["value"],
                )
            )
    return tuple(samples)


def _rate_units(text: str) -> list[str] | None:
    """ChargingScheduleAllowedChargingRateUnit ('Current,Power') as units (A, W)."""
    units = [{"Current": "A", "Power": "W"}.get(name) for name in config_list(text) or []]
    return [unit for unit in units if unit] or None


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
            session.origin,
        )
        return {}

    @on("Authorize")
    async def authorize(self, session: Session, p: dict[str, Any]) -> dict[str, Any]:
        return {"idTagInfo": id_tag_info(await self.transactions.authorize(p["idTag"], session.station_id))}

    @on("StartTransaction")
    async def start_transaction(self, session: Session, p: dict[str, Any]) -> dict[str, Any]:
        record = await self.transactions.start(
            session.station_id,
            TransactionStart(
                evse_id=p["connectorId"],
                connector_id=1,
                timestamp=parse_ocpp(p["timestamp"]),
                id_token=p["idTag"],
                meter_start_wh=reading(p["meterStart"]),
                reservation_id=p.get("reservationId"),
            ),
            session.origin,
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
                meter_stop_wh=reading(p["meterStop"]),
                samples=meter_samples(p.get("transactionData", [])),
            ),
            session.origin,
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
            session.origin,
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
        if p.charging_profile is not None:  # TC_059: the TxProfile the new transaction gets
            payload["chargingProfile"] = to_ocpp16(profile_from_fields(p.charging_profile.model_dump()))
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
        extended = _extended_trigger(p.message, ctx)
        if extended is not None:
            payload: dict[str, Any] = {"requestedMessage": extended}
            if p.evse_id is not None:
                payload["connectorId"] = p.evse_id
            return OutboundCall("ExtendedTriggerMessage", payload)
        message = "DiagnosticsStatusNotification" if p.message == "LogStatusNotification" else p.message
        payload = {"requestedMessage": message}
        if p.evse_id is not None:
            payload["connectorId"] = p.evse_id
        return OutboundCall("TriggerMessage", payload)

    @command("update_firmware")
    def update_firmware(self, p: c.UpdateFirmware, ctx: dict) -> OutboundCall:
        if p.signature is not None:
            return _signed_update_firmware(p)
        payload: dict[str, Any] = {"location": p.location, "retrieveDate": to_ocpp(p.retrieve_at)}
        if p.retries is not None:
            payload["retries"] = p.retries
        if p.retry_interval is not None:
            payload["retryInterval"] = p.retry_interval
        return OutboundCall("UpdateFirmware", payload, read=lambda reply: {"status": "Accepted"})

    @command("get_diagnostics")
    def get_diagnostics(self, p: c.GetDiagnostics, ctx: dict) -> OutboundCall:
        if p.log_type == "SecurityLog" or speaks_security_extension(ctx.get("configuration", {})):
            return _get_log(p)
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
        if p.connector_type is not None:
            raise CommandNotSupported(
                "OCPP 1.6 ReserveNow names no connector type: reserve a connector (evse_id) instead")
        payload: dict[str, Any] = {
            "connectorId": p.evse_id,
            "expiryDate": to_ocpp(p.expires_at),
            "idTag": p.id_token,
            "reservationId": p.reservation_id,
        }
        if p.group_id_token is not None:
            if len(p.group_id_token) > 20:
                raise CommandNotSupported("OCPP 1.6 parentIdTag holds at most 20 characters")
            payload["parentIdTag"] = p.group_id_token
        return OutboundCall("ReserveNow", payload)

    # -- station-profile facts its configuration keys tell ----------------------------------

    profile_readers = {
        "reservations": (("SupportedFeatureProfiles",),
                         lambda text: "Reservation" in (config_list(text) or [])),
        # Station-wide reservations (connectorId 0, §5.13).
        "reservations_station_wide": (("ReserveConnectorZeroSupported",), config_bool),
        # Cost on the display: the OCA "California Pricing" DataTransfer messages.
        "cost_display": (("CustomDisplayCostAndPrice",), config_bool),
        "measurands": (("MeterValuesSampledData",), config_list),
        "charging_rate_units": (("ChargingScheduleAllowedChargingRateUnit",), _rate_units),
    }

    # -- cost on the display: the OCA "California Pricing" DataTransfer messages -----------

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


    # -- security: Basic-auth password and security profile (1.6 security whitepaper) -------------

    network_profile_keys: tuple[str, ...] = ()

    def password_call(self, password: str) -> OutboundCall:
        """AuthorizationKey carries the password hex encoded: 16 to 20 bytes, 40 hex digits at most."""
        data = password.encode()
        if not 16 <= len(data) <= 20:
            raise ValueError(
                f"an OCPP 1.6 AuthorizationKey carries a password of 16 to 20 bytes, not {len(data)}"
            )
        return OutboundCall("ChangeConfiguration", {"key": "AuthorizationKey", "value": data.hex().upper()})

    def profile_upgrade_calls(
        self, upgrade: ProfileUpgrade, csms_url: str, configuration: dict[str, Any]
    ) -> list[OutboundCall]:
        """SecurityProfile, then a hard reset (as the 1.6 test case TC_083 does); the station
        reconnects on the endpoint it has for the new profile."""
        return [
            OutboundCall("ChangeConfiguration", {"key": "SecurityProfile", "value": str(upgrade.profile)}),
            OutboundCall("Reset", {"type": "Hard"}),
        ]

    # -- the OCA security extension: station-initiated -------------------------------------------

    @on("SecurityEventNotification")
    async def security_event(self, session: Session, p: dict[str, Any]) -> dict[str, Any]:
        await self.security_events.reported(
            session.station_id, p["type"], parse_ocpp(p["timestamp"]), p.get("techInfo")
        )
        return {}

    @on("SignedFirmwareStatusNotification")
    async def signed_firmware_status(self, session: Session, p: dict[str, Any]) -> dict[str, Any]:
        await self.stations.note(session.station_id, StationEvent("firmware", p["status"], utcnow()))
        return {}

    @on("LogStatusNotification")
    async def log_status(self, session: Session, p: dict[str, Any]) -> dict[str, Any]:
        await self.stations.note(session.station_id, StationEvent("log", p["status"], utcnow()))
        return {}

    @on("SignCertificate")
    async def sign_certificate(self, session: Session, p: dict[str, Any]) -> dict[str, Any]:
        accepted, _ = await self.sign_certificate_request(session, p["csr"], None)
        return {"status": "Accepted" if accepted else "Rejected"}

    # -- the OCA security extension: CSMS-initiated ---------------------------------------------

    @command("certificate_signed")
    def certificate_signed(self, p: c.CertificateSigned, ctx: dict) -> OutboundCall:
        if p.certificate_type not in (None, "ChargingStationCertificate"):
            raise CommandNotSupported(f"the OCPP 1.6 security extension has no {p.certificate_type}")
        return OutboundCall("CertificateSigned", {"certificateChain": p.certificate_chain})

    @command("install_certificate")
    def install_certificate(self, p: c.InstallCertificate, ctx: dict) -> OutboundCall:
        payload = {"certificateType": _certificate_use(p.certificate_type), "certificate": p.certificate}
        return OutboundCall("InstallCertificate", payload)

    @command("get_installed_certificate_ids")
    def get_installed_certificate_ids(self, p: c.GetInstalledCertificateIds, ctx: dict) -> OutboundCall:
        if len(p.certificate_types) != 1:
            raise CommandNotSupported(
                "an OCPP 1.6 station reports one certificate type per call: give exactly one of "
                "CSMSRootCertificate, ManufacturerRootCertificate"
            )
        neutral = p.certificate_types[0]
        return OutboundCall(
            "GetInstalledCertificateIds", {"certificateType": _certificate_use(neutral)},
            read=lambda reply: _read_installed(reply, neutral),
        )


# The security extension's configuration keys; a station whose stored configuration has one
# speaks the extension (GetLog, ExtendedTriggerMessage).
SECURITY_EXTENSION_KEYS = ("SecurityProfile", "CpoName", "CertificateStoreMaxLength",
                           "CertificateSignedMaxChainSize", "AdditionalRootCertificateCheck")

_CERTIFICATE_USE = {"CSMSRootCertificate": "CentralSystemRootCertificate",
                    "ManufacturerRootCertificate": "ManufacturerRootCertificate"}


def speaks_security_extension(configuration: dict[str, Any]) -> bool:
    return any(key in configuration for key in SECURITY_EXTENSION_KEYS)


def _certificate_use(neutral: str) -> str:
    if neutral not in _CERTIFICATE_USE:
        raise CommandNotSupported(
            f"the OCPP 1.6 security extension has no {neutral}: only CSMSRootCertificate and "
            "ManufacturerRootCertificate"
        )
    return _CERTIFICATE_USE[neutral]


def _read_installed(reply: dict[str, Any], neutral: str) -> dict[str, Any]:
    items = [{**data, "certificate_type": neutral} for data in reply.get("certificateHashData", [])]
    return {"status": reply["status"], "certificates": items}


def _extended_trigger(message: str, ctx: dict) -> str | None:
    """The ExtendedTriggerMessage a neutral trigger needs on 1.6, or None for the Core TriggerMessage."""
    if message == "SignChargingStationCertificate":
        return "SignChargePointCertificate"
    if message == "SignV2GCertificate":
        raise CommandNotSupported("OCPP 1.6 has no V2G (ISO 15118) certificate")
    if message == "LogStatusNotification" and speaks_security_extension(ctx.get("configuration", {})):
        return "LogStatusNotification"
    return None


def _signed_update_firmware(p: c.UpdateFirmware) -> OutboundCall:
    firmware: dict[str, Any] = {
        "location": p.location, "retrieveDateTime": to_ocpp(p.retrieve_at),
        "signingCertificate": p.signing_certificate, "signature": p.signature,
    }
    if p.install_at is not None:
        firmware["installDateTime"] = to_ocpp(p.install_at)
    payload: dict[str, Any] = {"requestId": p.request_id, "firmware": firmware}
    if p.retries is not None:
        payload["retries"] = p.retries
    if p.retry_interval is not None:
        payload["retryInterval"] = p.retry_interval
    return OutboundCall("SignedUpdateFirmware", payload)


def _get_log(p: c.GetDiagnostics) -> OutboundCall:
    log: dict[str, Any] = {"remoteLocation": p.location}
    if p.start:
        log["oldestTimestamp"] = to_ocpp(p.start)
    if p.stop:
        log["latestTimestamp"] = to_ocpp(p.stop)
    payload = {"logType": p.log_type, "requestId": p.request_id, "log": log}
    return OutboundCall("GetLog", payload, read=lambda r: {"status": r["status"], "file_name": r.get("filename")})


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
