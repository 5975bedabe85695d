"""OCPP 1.6J station side: the messages a 1.6 station sends and its truthful answers.

Connector ids are the 1-based positions in `StationSpec.connectors`; 0 means the station.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from ocpp.charge_point import snake_to_camel_case
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action

from silkcharge.domain.clock import parse_ocpp, to_ocpp, utcnow
from silkcharge.security import pki
from silkcharge.sim.config16 import Configuration
from silkcharge.sim.link import BootResult, Dialect, ReplyFirst
from silkcharge.sim.meter import MeterSample
from silkcharge.sim.reservations import Held
from silkcharge.sim.state import (
    Authorization,
    BootReason,
    ConnectorState,
    ConnectorStatus,
    Fault,
    IdToken,
    Session,
    StopReason,
)
from silkcharge.smart.profiles import (
    ChargingProfilePurpose,
    ChargingRateUnit,
    ProfileError,
    from_ocpp16,
)

if TYPE_CHECKING:
    from silkcharge.sim.charger import SimulatedCharger

_REASON = {
    StopReason.IMMEDIATE_RESET: "HardReset",
    StopReason.MASTER_PASS: "Local",  # 1.6 has no master pass; a local stop by a card
    StopReason.GROUND_FAULT: "Other",
    StopReason.OVERCURRENT_FAULT: "Other",
}
_UNIT = {
    "Energy.Active.Import.Register": "Wh",
    "Power.Active.Import": "W",
    "Current.Import": "A",
    "Voltage": "V",
    "SoC": "Percent",
}


def sampled_values(sample: MeterSample, context: str, measurands: list[str]) -> list[dict]:
    """A 1.6 sampledValue list (values as strings) for the measurands the station is set to."""
    ac = sample.current_type.value == "AC"
    values: list[tuple[str, object, str | None]] = [
        ("Energy.Active.Import.Register", sample.energy_wh, None),
        ("Power.Active.Import", sample.power_w, None),
        *(("Current.Import", amps, f"L{n}" if ac else None)
          for n, amps in enumerate(sample.current_a, start=1)),
        ("Voltage", sample.voltage_v, "L1-N" if ac else None),
    ]
    if sample.soc_percent is not None:
        values.append(("SoC", sample.soc_percent, None))
    return [
        {
            "value": str(value),
            "context": context,
            "measurand": measurand,
            "location": "EV" if measurand == "SoC" else "Outlet",
            "unit": _UNIT[measurand],
            **({"phase": phase} if phase else {}),
        }
        for measurand, value, phase in values
        if measurand in measurands
    ]


class V16Link(ReplyFirst, ChargePoint):
    def __init__(self, charger: SimulatedCharger, connection) -> None:
        super().__init__(charger.spec.station_id, connection)
        self._init_follow_ups(charger.spawn)
        self.charger = charger
        self.config: Configuration = charger.settings

    # ---- messages the station sends ----------------------------------------------------------

    async def boot(self, reason: BootReason) -> BootResult:
        spec = self.charger.spec
        result = await self.call(
            call.BootNotification(
                charge_point_model=spec.model,
                charge_point_vendor=spec.vendor,
                firmware_version=spec.firmware_version,
                charge_point_serial_number=spec.station_id[:25],
            ),
            suppress=False,
        )
        return BootResult(result.status, result.interval)

    async def after_boot(self, reason: BootReason) -> None:
        if reason is BootReason.REMOTE_RESET:
            await self.security_event("ResetOrReboot", "Reset requested by the Central System")

    async def heartbeat(self) -> None:
        await self.call(call.Heartbeat())

    async def status(self, connector: ConnectorState) -> None:
        fault = connector.fault
        await self.call(
            call.StatusNotification(
                connector_id=connector.position,
                error_code=fault.error_code if fault else "NoError",
                status=connector.status.value,
                timestamp=to_ocpp(utcnow()),
                vendor_error_code=fault.vendor_error if fault else None,
            )
        )

    async def station_status(self) -> None:
        """Connector 0: the charge point itself."""
        await self.call(
            call.StatusNotification(
                connector_id=0, error_code="NoError", status="Available",
                timestamp=to_ocpp(utcnow()),
            )
        )

    async def fault_changed(self, connector: ConnectorState, fault: Fault, cleared: bool) -> None:
        """1.6 reports faults in StatusNotification alone."""

    async def authorize(self, id_token: IdToken) -> Authorization:
        result = await self.call(call.Authorize(id_tag=id_token.value))
        if not result:
            return Authorization("Invalid")
        return Authorization(result.id_tag_info["status"], result.id_tag_info.get("parent_id_tag"))

    async def reservation_ended(self, reservation_id: int, status: str) -> None:
        """A 1.6 station tells the lapse only by the connector's StatusNotification."""

    async def transaction_started(self, session: Session, sample: MeterSample) -> str:
        result = await self.call(
            call.StartTransaction(
                connector_id=session.connector.position,
                id_tag=session.id_token.value,
                meter_start=sample.energy_wh,
                timestamp=to_ocpp(session.started_at),
                reservation_id=session.reservation_id,
            ),
            suppress=False,
        )
        session.transaction_id = str(result.transaction_id)
        return result.id_tag_info["status"]

    async def transaction_sample(self, session: Session, sample: MeterSample) -> None:
        await self.meter_values(session.connector, sample, "Sample.Periodic", session)

    async def charging_state_changed(self, session: Session, sample: MeterSample) -> None:
        await self.transaction_sample(session, sample)

    async def rate_changed(self, session: Session, sample: MeterSample, at: datetime) -> None:
        if session.transaction_id.isdigit():  # else StartTransaction has not been answered yet
            await self.meter_values(session.connector, sample, "Other", session, at)

    async def meter_values(
        self, connector: ConnectorState, sample: MeterSample, context: str,
        session: Session | None, at: datetime | None = None,
    ) -> None:
        measurands = self.config.measurands("MeterValuesSampledData")
        await self.call(
            call.MeterValues(
                connector_id=connector.position,
                transaction_id=int(session.transaction_id) if session else None,
                meter_value=[{
                    "timestamp": to_ocpp(at or utcnow()),
                    "sampled_value": sampled_values(sample, context, measurands),
                }],
            )
        )

    async def transaction_ended(
        self, session: Session, reason: StopReason, sample: MeterSample
    ) -> None:
        measurands = self.config.measurands("StopTxnSampledData")
        now = to_ocpp(utcnow())
        await self.call(
            call.StopTransaction(
                meter_stop=sample.energy_wh,
                timestamp=now,
                transaction_id=int(session.transaction_id),
                reason=_REASON.get(reason, reason.value),
                id_tag=(session.stopped_by or session.id_token).value,
                transaction_data=[
                    {"timestamp": to_ocpp(session.started_at), "sampled_value": [{
                        "value": str(session.meter_start_wh), "context": "Transaction.Begin",
                        "measurand": "Energy.Active.Import.Register", "unit": "Wh",
                    }]},
                    {"timestamp": now, "sampled_value":
                        sampled_values(sample, "Transaction.End", measurands)},
                ],
            ),
            suppress=False,
        )

    async def firmware_status(self, status: str, request_id: int | None) -> None:
        """A signed update (it has a request id) reports with the security extension's message."""
        if request_id is not None:
            await self.call(call.SignedFirmwareStatusNotification(status=status, request_id=request_id))
        else:
            await self.call(call.FirmwareStatusNotification(status=status))

    async def log_status(self, status: str, request_id: int | None) -> None:
        """A GetLog upload (it has a request id) reports with the security extension's message."""
        if request_id is not None:
            await self.call(call.LogStatusNotification(status=status, request_id=request_id))
        else:
            await self.call(call.DiagnosticsStatusNotification(status=status))

    async def sign_certificate(self, csr: str) -> str:
        reply = await self.call(call.SignCertificate(csr=csr))
        return reply.status if reply is not None else "Rejected"

    async def security_event(self, kind: str, tech_info: str | None) -> None:
        await self.call(call.SecurityEventNotification(
            type=_SECURITY_EVENT_16.get(kind, kind), timestamp=to_ocpp(utcnow()),
            tech_info=tech_info[:255] if tech_info else None))

    # ---- answers to the Central System -------------------------------------------------------

    def _connector(self, connector_id: int) -> ConnectorState | None:
        for c in self.charger.connectors:
            if c.position == connector_id:
                return c
        return None

    def _targets(self, connector_id: int) -> list[ConnectorState] | None:
        if connector_id == 0:
            return list(self.charger.connectors)
        c = self._connector(connector_id)
        return [c] if c else None

    @on(Action.remote_start_transaction)
    def on_remote_start(self, id_tag: str, connector_id: int | None = None,
                        charging_profile: dict | None = None):
        profile = None
        if charging_profile is not None:  # TC_059: only a TxProfile, for the transaction to come
            try:
                profile = from_ocpp16(snake_to_camel_case(charging_profile))
            except (ProfileError, KeyError, ValueError):
                return call_result.RemoteStartTransaction(status="Rejected")
            if profile.purpose is not ChargingProfilePurpose.TX or profile.transaction_id is not None:
                return call_result.RemoteStartTransaction(status="Rejected")
            if not self.charger.profiles.accept:
                return call_result.RemoteStartTransaction(status="Rejected")
        if connector_id is None:
            candidates = [c for c in self.charger.connectors if c.free]
        else:
            candidates = [c for c in [self._connector(connector_id)] if c is not None]
        chosen = next((c for c in candidates if self.charger.claim(c)), None)
        if chosen is None:
            return call_result.RemoteStartTransaction(status="Rejected")
        self.then(lambda: self.charger.remote_start(chosen, IdToken(id_tag), profile=profile))
        return call_result.RemoteStartTransaction(status="Accepted")

    @on(Action.reserve_now)
    def on_reserve_now(self, connector_id: int, expiry_date: str, id_tag: str, reservation_id: int,
                       parent_id_tag: str | None = None):
        if connector_id != 0 and self._connector(connector_id) is None:
            return call_result.ReserveNow(status="Rejected")
        held = Held(reservation_id, id_tag, parent_id_tag, parse_ocpp(expiry_date), connector_id)
        status = self.charger.reserve(held)
        if held.connector is not None:
            self.then(lambda: self.charger.announce([held.connector]))
        return call_result.ReserveNow(status=status)

    @on(Action.cancel_reservation)
    def on_cancel_reservation(self, reservation_id: int):
        if reservation_id not in self.charger.reservations.held:
            return call_result.CancelReservation(status="Rejected")
        self.then(lambda: self.charger.cancel_reservation(reservation_id))
        return call_result.CancelReservation(status="Accepted")

    @on(Action.remote_stop_transaction)
    def on_remote_stop(self, transaction_id: int):
        session = self.charger.transactions.get(str(transaction_id))
        if session is None:
            return call_result.RemoteStopTransaction(status="Rejected")
        self.then(lambda: self.charger.end_session(session, StopReason.REMOTE))
        return call_result.RemoteStopTransaction(status="Accepted")

    @on(Action.reset)
    def on_reset(self, type: str):
        reason = StopReason.HARD_RESET if type == "Hard" else StopReason.SOFT_RESET
        self.then(lambda: self.charger.reset(reason))
        return call_result.Reset(status="Accepted")

    @on(Action.unlock_connector)
    def on_unlock_connector(self, connector_id: int):
        c = self._connector(connector_id)
        if c is None:
            return call_result.UnlockConnector(status="NotSupported")
        if c.session is not None:
            self.then(lambda: self.charger.end_session(c.session, StopReason.UNLOCK_COMMAND))
        else:
            self.then(lambda: self.charger.unplug(c))
        return call_result.UnlockConnector(status="Unlocked")

    @on(Action.change_availability)
    def on_change_availability(self, connector_id: int, type: str):
        targets = self._targets(connector_id)
        if targets is None:
            return call_result.ChangeAvailability(status="Rejected")
        status = self.charger.change_availability(targets, operative=type == "Operative")
        self.then(lambda: self.charger.announce(targets))
        return call_result.ChangeAvailability(status=status)

    @on(Action.change_configuration)
    def on_change_configuration(self, key: str, value: str):
        status = self.config.change(key, value)
        if key == "AuthorizationKey" and status == "Accepted":
            self.then(self._reconnect)  # the whitepaper: reconnect with the new password at once
        return call_result.ChangeConfiguration(status=status)

    async def _reconnect(self) -> None:
        self.charger.reconnect()

    @on(Action.get_configuration)
    def on_get_configuration(self, key: list[str] | None = None):
        known, unknown = self.config.get(key)
        return call_result.GetConfiguration(
            configuration_key=known, unknown_key=unknown or None
        )

    @on(Action.clear_cache)
    def on_clear_cache(self):
        self.charger.auth_cache.clear()
        return call_result.ClearCache(status="Accepted")

    @on(Action.trigger_message)
    def on_trigger_message(self, requested_message: str, connector_id: int | None = None):
        targets = self._targets(connector_id or 0)
        if targets is None:
            return call_result.TriggerMessage(status="Rejected")
        send = {
            "BootNotification": self._triggered_boot,
            "Heartbeat": self.heartbeat,
            "StatusNotification": lambda: self._triggered_status(targets, connector_id),
            "MeterValues": lambda: self._triggered_meter_values(targets),
            "FirmwareStatusNotification":
                lambda: self.firmware_status(self.charger.firmware_status, None),
            "DiagnosticsStatusNotification":
                lambda: self.log_status(self.charger.log_status, None),
        }.get(requested_message)
        if send is None:
            return call_result.TriggerMessage(status="NotImplemented")
        self.then(send)
        return call_result.TriggerMessage(status="Accepted")

    async def _triggered_boot(self) -> None:
        self.charger.accept_registration(await self.boot(BootReason.TRIGGERED))

    async def _triggered_status(self, targets: list[ConnectorState], connector_id: int | None):
        if not connector_id:
            await self.station_status()
        for c in targets:
            await self.status(c)

    async def _triggered_meter_values(self, targets: list[ConnectorState]) -> None:
        for c in targets:
            sample = self.charger.read_meter(c)
            await self.meter_values(c, sample, "Trigger", c.session)

    @on(Action.update_firmware)
    def on_update_firmware(self, location: str, retrieve_date: str, retries: int | None = None,
                           retry_interval: int | None = None):
        self.then(lambda: self.charger.update_firmware(parse_ocpp(retrieve_date)))
        return call_result.UpdateFirmware()

    @on(Action.get_diagnostics)
    def on_get_diagnostics(self, location: str, retries: int | None = None,
                           retry_interval: int | None = None, start_time: str | None = None,
                           stop_time: str | None = None):
        stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
        self.then(lambda: self.charger.upload_log())
        return call_result.GetDiagnostics(
            file_name=f"diagnostics-{self.charger.spec.station_id}-{stamp}.log"
        )

    # ---- the OCA security extension ---------------------------------------------------------

    @on(Action.extended_trigger_message)
    def on_extended_trigger_message(self, requested_message: str, connector_id: int | None = None):
        targets = self._targets(connector_id or 0)
        if targets is None:
            return call_result.ExtendedTriggerMessage(status="Rejected")
        send = {
            "BootNotification": self._triggered_boot,
            "Heartbeat": self.heartbeat,
            "StatusNotification": lambda: self._triggered_status(targets, connector_id),
            "MeterValues": lambda: self._triggered_meter_values(targets),
            "FirmwareStatusNotification": lambda: self.call(call.SignedFirmwareStatusNotification(
                status=self.charger.firmware_status, request_id=None)),
            "LogStatusNotification": lambda: self.call(call.LogStatusNotification(
                status=self.charger.log_status, request_id=None)),
            "SignChargePointCertificate": self.charger.request_certificate,
        }.get(requested_message)
        if send is None:
            return call_result.ExtendedTriggerMessage(status="NotImplemented")
        self.then(send)
        return call_result.ExtendedTriggerMessage(status="Accepted")

    @on(Action.certificate_signed)
    def on_certificate_signed(self, certificate_chain: str):
        accepted = self.charger.certificate_delivered(certificate_chain)
        return call_result.CertificateSigned(status="Accepted" if accepted else "Rejected")

    @on(Action.install_certificate)
    def on_install_certificate(self, certificate_type: str, certificate: str):
        status = self.charger.certificates.install(_CERTIFICATE_USE[certificate_type], certificate)
        return call_result.InstallCertificate(status=status)

    @on(Action.get_installed_certificate_ids)
    def on_get_installed_certificate_ids(self, certificate_type: str):
        found = self.charger.certificates.installed([_CERTIFICATE_USE[certificate_type]])
        if not found:
            return call_result.GetInstalledCertificateIds(status="NotFound")
        return call_result.GetInstalledCertificateIds(
            status="Accepted", certificate_hash_data=[data for _, data in found])

    @on(Action.delete_certificate)
    def on_delete_certificate(self, certificate_hash_data: dict):
        data = {"hashAlgorithm": certificate_hash_data["hash_algorithm"],
                "issuerNameHash": certificate_hash_data["issuer_name_hash"],
                "issuerKeyHash": certificate_hash_data["issuer_key_hash"],
                "serialNumber": certificate_hash_data["serial_number"]}
        return call_result.DeleteCertificate(status=self.charger.certificates.delete(data))

    @on(Action.signed_update_firmware)
    def on_signed_update_firmware(self, request_id: int, firmware: dict, retries: int | None = None,
                                  retry_interval: int | None = None):
        try:
            pki.load_certificates(firmware["signing_certificate"])
        except ValueError:
            self.then(lambda: self.security_event("InvalidFirmwareSigningCertificate", "not a PEM certificate"))
            return call_result.SignedUpdateFirmware(status="InvalidCertificate")
        retrieve_at = parse_ocpp(firmware["retrieve_date_time"])
        self.then(lambda: self.charger.update_firmware(retrieve_at, request_id, signed=True))
        return call_result.SignedUpdateFirmware(status="Accepted")

    @on(Action.get_log)
    def on_get_log(self, log: dict, log_type: str, request_id: int, retries: int | None = None,
                   retry_interval: int | None = None):
        stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
        kind = "security" if log_type == "SecurityLog" else "diagnostics"
        self.then(lambda: self.charger.upload_log(request_id))
        return call_result.GetLog(status="Accepted", filename=f"{kind}-{self.charger.spec.station_id}-{stamp}.log")

    @on(Action.send_local_list)
    def on_send_local_list(self, list_version: int, update_type: str,
                           local_authorization_list: list[dict] | None = None):
        if not self.charger.tunables.local_auth_list_enabled:
            return call_result.SendLocalList(status="NotSupported")
        changes = {
            entry["id_tag"]: (entry.get("id_tag_info") or {}).get("status")
            for entry in local_authorization_list or []
        }
        status = self.charger.local_list.update(list_version, update_type == "Full", changes)
        return call_result.SendLocalList(status=status.value)

    @on(Action.get_local_list_version)
    def on_get_local_list_version(self):
        if not self.charger.tunables.local_auth_list_enabled:
            return call_result.GetLocalListVersion(list_version=-1)
        return call_result.GetLocalListVersion(list_version=self.charger.local_list.version)

    @on(Action.data_transfer)
    def on_data_transfer(self, vendor_id: str, message_id: str | None = None,
                         data: str | None = None):
        if vendor_id != self.charger.spec.vendor:
            return call_result.DataTransfer(status="UnknownVendorId")
        return call_result.DataTransfer(status="Accepted", data=data)


    # ---- Smart Charging ----------------------------------------------------------------------

    @on(Action.set_charging_profile)
    def on_set_charging_profile(self, connector_id: int, cs_charging_profiles: dict):
        try:
            profile = from_ocpp16(snake_to_camel_case(cs_charging_profiles))
        except (ProfileError, KeyError, ValueError):
            return call_result.SetChargingProfile(status="Rejected")
        if self.charger.profiles.refusal(connector_id, profile) is not None:
            return call_result.SetChargingProfile(status="Rejected")
        self.charger.meter_until_now()
        self.charger.profiles.install(connector_id, profile)
        readings = self.charger.readings_now()
        self.then(lambda: self.charger.report_rate_change(readings))
        return call_result.SetChargingProfile(status="Accepted")

    @on(Action.clear_charging_profile)
    def on_clear_charging_profile(self, id: int | None = None, connector_id: int | None = None,
                                  charging_profile_purpose: str | None = None,
                                  stack_level: int | None = None):
        purpose = _PURPOSE.get(charging_profile_purpose) if charging_profile_purpose else None
        self.charger.meter_until_now()
        cleared = self.charger.profiles.clear(
            profile_id=id, evse=connector_id, purpose=purpose, stack_level=stack_level)
        readings = self.charger.readings_now()
        self.then(lambda: self.charger.report_rate_change(readings))
        return call_result.ClearChargingProfile(status="Accepted" if cleared else "Unknown")

    @on(Action.get_composite_schedule)
    def on_get_composite_schedule(self, connector_id: int, duration: int,
                                  charging_rate_unit: str | None = None):
        if connector_id != 0 and self._connector(connector_id) is None:
            return call_result.GetCompositeSchedule(status="Rejected")
        unit = ChargingRateUnit(charging_rate_unit or "A")
        body = self.charger.profiles.composite(connector_id, utcnow(), duration, unit).to_ocpp16()
        return call_result.GetCompositeSchedule(
            status="Accepted", connector_id=body["connectorId"], schedule_start=body["scheduleStart"],
            charging_schedule=body["chargingSchedule"],
        )


_PURPOSE = {
    "ChargePointMaxProfile": ChargingProfilePurpose.CHARGING_STATION_MAX,
    "TxDefaultProfile": ChargingProfilePurpose.TX_DEFAULT,
    "TxProfile": ChargingProfilePurpose.TX,
}


_CERTIFICATE_USE = {"CentralSystemRootCertificate": "CSMSRootCertificate",
                    "ManufacturerRootCertificate": "ManufacturerRootCertificate"}
# Where the security extension names a security event differently from OCPP 2.0.1.
_SECURITY_EVENT_16 = {"InvalidChargingStationCertificate": "InvalidChargePointCertificate",
                      "InvalidCsmsCertificate": "InvalidCentralSystemCertificate"}


def _wire_status(status: ConnectorStatus) -> str:
    return status.value


def _settings(charger: SimulatedCharger) -> Configuration:
    dc = any(c.meter.current_type.value == "DC" for c in charger.connectors)
    return Configuration(charger.tunables, len(charger.connectors), dc, charger.network)


DIALECT = Dialect(subprotocol="ocpp1.6", link=V16Link, settings=_settings, wire_status=_wire_status)
