"""OCPP 2.0.1 station side: the messages a 2.0.1 station sends and its truthful answers."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from ocpp.charge_point import snake_to_camel_case
from ocpp.routing import on
from ocpp.v201 import ChargePoint, call, call_result
from ocpp.v201.enums import Action

from silkcharge.domain.clock import parse_ocpp, to_ocpp, utcnow
from silkcharge.sim.device_model import DeviceModel, station_device_model, wire_status
from silkcharge.sim.link import BootResult, Dialect, ReplyFirst
from silkcharge.sim.meter import MeterSample
from silkcharge.sim.state import BootReason, ConnectorState, Fault, IdToken, Session, StopReason
from silkcharge.smart.profiles import (
    ChargingProfilePurpose,
    ChargingRateUnit,
    ProfileError,
    from_ocpp201,
    to_ocpp201,
)

if TYPE_CHECKING:
    from silkcharge.sim.charger import SimulatedCharger

_TRIGGER = {
    StopReason.LOCAL: "StopAuthorized",
    StopReason.REMOTE: "RemoteStop",
    StopReason.EV_DISCONNECTED: "EVCommunicationLost",
    StopReason.DEAUTHORIZED: "Deauthorized",
    StopReason.HARD_RESET: "ResetCommand",
    StopReason.SOFT_RESET: "ResetCommand",
    StopReason.IMMEDIATE_RESET: "ResetCommand",
    StopReason.REBOOT: "ResetCommand",
    StopReason.UNLOCK_COMMAND: "UnlockCommand",
}
_STOPPED = {
    StopReason.HARD_RESET: "ImmediateReset",
    StopReason.SOFT_RESET: "ImmediateReset",
    StopReason.UNLOCK_COMMAND: "Other",
}
_UNIT = {
    "Energy.Active.Import.Register": "Wh",
    "Power.Active.Import": "W",
    "Current.Import": "A",
    "Voltage": "V",
    "SoC": "Percent",
}
_REPORT_ITEMS_PER_MESSAGE = 20


def sampled_values(sample: MeterSample, context: str, measurands: list[str]) -> list[dict]:
    """A 2.0.1 sampledValue list (numbers) for the measurands the station is set to."""
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
            "value": value,
            "context": context,
            "measurand": measurand,
            "location": "EV" if measurand == "SoC" else "Outlet",
            "unit_of_measure": {"unit": _UNIT[measurand]},
            **({"phase": phase} if phase else {}),
        }
        for measurand, value, phase in values
        if measurand in measurands
    ]


class V201Link(ReplyFirst, ChargePoint):
    def __init__(self, charger: SimulatedCharger, connection) -> None:
        super().__init__(charger.spec.station_id, connection)
        self._init_follow_ups(charger.spawn)
        self.charger = charger
        self.model: DeviceModel = charger.settings

    # ---- messages the station sends ----------------------------------------------------------

    async def boot(self, reason: BootReason) -> BootResult:
        spec = self.charger.spec
        result = await self.call(
            call.BootNotification(
                charging_station={
                    "model": spec.model,
                    "vendor_name": spec.vendor,
                    "firmware_version": spec.firmware_version,
                    "serial_number": spec.station_id[:25],
                },
                reason=reason.value,
            ),
            suppress=False,
        )
        return BootResult(result.status, result.interval)

    async def after_boot(self, reason: BootReason) -> None:
        if reason is BootReason.REMOTE_RESET:
            await self.call(
                call.SecurityEventNotification(
                    type="ResetOrReboot", timestamp=to_ocpp(utcnow()),
                    tech_info="Reset requested by the CSMS",
                )
            )

    async def heartbeat(self) -> None:
        await self.call(call.Heartbeat())

    async def status(self, connector: ConnectorState) -> None:
        await self.call(
            call.StatusNotification(
                timestamp=to_ocpp(utcnow()),
                connector_status=wire_status(connector.status),
                evse_id=connector.evse_id,
                connector_id=connector.connector_id,
            )
        )

    async def fault_changed(self, connector: ConnectorState, fault: Fault, cleared: bool) -> None:
        now = to_ocpp(utcnow())
        event = {
            "event_id": next(self.model.event_ids),
            "timestamp": now,
            "trigger": "Delta",
            "actual_value": "false" if cleared else "true",
            "tech_code": fault.error_code,
            "cleared": cleared,
            "event_notification_type": "HardWiredNotification",
            "component": {"name": "Connector", "evse": {
                "id": connector.evse_id, "connector_id": connector.connector_id}},
            "variable": {"name": "Problem"},
        }
        if fault.vendor_error:
            event["tech_info"] = fault.vendor_error
        await self.call(call.NotifyEvent(generated_at=now, seq_no=0, event_data=[event]))

    async def authorize(self, id_token: IdToken) -> str:
        result = await self.call(call.Authorize(id_token=_id_token(id_token)))
        return result.id_token_info["status"] if result else "Invalid"

    async def transaction_started(self, session: Session, sample: MeterSample) -> str:
        remote = session.remote_start_id is not None
        result = await self.call(
            call.TransactionEvent(
                event_type="Started",
                timestamp=to_ocpp(session.started_at),
                trigger_reason="RemoteStart" if remote else "Authorized",
                seq_no=session.next_seq_no(),
                transaction_info=self._transaction_info(session, "Charging"),
                id_token=_id_token(session.id_token),
                evse={"id": session.connector.evse_id,
                      "connector_id": session.connector.connector_id},
                meter_value=[self._meter_value(sample, "Transaction.Begin",
                                               "TxStartedMeasurands")],
            ),
            suppress=False,
        )
        return (result.id_token_info or {}).get("status", "Accepted")

    async def transaction_sample(self, session: Session, sample: MeterSample,
                                 trigger: str = "MeterValuePeriodic") -> None:
        await self._updated(session, sample, trigger, "Charging")

    async def charging_state_changed(self, session: Session, sample: MeterSample) -> None:
        state = "SuspendedEV" if session.suspended else "Charging"
        await self._updated(session, sample, "ChargingStateChanged", state)

    async def rate_changed(self, session: Session, sample: MeterSample, at: datetime) -> None:
        state = "SuspendedEVSE" if sample.power_w == 0 and not session.suspended else "Charging"
        await self._updated(session, sample, "ChargingRateChanged", state, at)

    async def _updated(self, session: Session, sample: MeterSample, trigger: str,
                       state: str, at: datetime | None = None) -> None:
        context = "Trigger" if trigger == "Trigger" else "Sample.Periodic"
        await self.call(
            call.TransactionEvent(
                event_type="Updated",
                timestamp=to_ocpp(at or utcnow()),
                trigger_reason=trigger,
                seq_no=session.next_seq_no(),
                transaction_info=self._transaction_info(session, state),
                meter_value=[self._meter_value(sample, context, "TxUpdatedMeasurands", at)],
            )
        )

    async def transaction_ended(
        self, session: Session, reason: StopReason, sample: MeterSample
    ) -> None:
        info = self._transaction_info(session, "EVConnected")
        info["stopped_reason"] = _STOPPED.get(reason, reason.value)
        await self.call(
            call.TransactionEvent(
                event_type="Ended",
                timestamp=to_ocpp(utcnow()),
                trigger_reason=_TRIGGER.get(reason, "AbnormalCondition"),
                seq_no=session.next_seq_no(),
                transaction_info=info,
                id_token=_id_token(session.id_token) if reason is StopReason.LOCAL else None,
                meter_value=[self._meter_value(sample, "Transaction.End", "TxEndedMeasurands")],
            ),
            suppress=False,
        )

    async def firmware_status(self, status: str, request_id: int | None) -> None:
        await self.call(call.FirmwareStatusNotification(status=status, request_id=request_id))

    async def log_status(self, status: str, request_id: int | None) -> None:
        await self.call(call.LogStatusNotification(status=status, request_id=request_id))

    async def meter_values(self, connector: ConnectorState, sample: MeterSample) -> None:
        await self.call(
            call.MeterValues(
                evse_id=connector.evse_id,
                meter_value=[self._meter_value(sample, "Trigger", "TxUpdatedMeasurands")],
            )
        )

    async def notify_report(self, request_id: int, base: str) -> None:
        items = self.model.report(base)
        chunks = [items[i:i + _REPORT_ITEMS_PER_MESSAGE]
                  for i in range(0, len(items), _REPORT_ITEMS_PER_MESSAGE)]
        for seq_no, chunk in enumerate(chunks):
            await self.call(
                call.NotifyReport(
                    request_id=request_id, generated_at=to_ocpp(utcnow()), seq_no=seq_no,
                    report_data=chunk, tbc=seq_no < len(chunks) - 1,
                )
            )

    def _transaction_info(self, session: Session, charging_state: str) -> dict:
        info: dict = {"transaction_id": session.transaction_id, "charging_state": charging_state}
        if session.remote_start_id is not None:
            info["remote_start_id"] = session.remote_start_id
        return info

    def _meter_value(self, sample: MeterSample, context: str, measurands: str,
                     at: datetime | None = None) -> dict:
        return {
            "timestamp": to_ocpp(at or utcnow()),
            "sampled_value": sampled_values(sample, context, self.model.measurands(measurands)),
        }

    # ---- answers to the CSMS -----------------------------------------------------------------

    def _on_evse(self, evse: dict | None) -> list[ConnectorState] | None:
        """Connectors an EVSEType addresses (all for none); None if it names nothing."""
        if not evse:
            return list(self.charger.connectors)
        chosen = [
            c for c in self.charger.connectors
            if c.evse_id == evse["id"]
            and evse.get("connector_id") in (None, c.connector_id)
        ]
        return chosen or None

    @on(Action.request_start_transaction)
    def on_request_start_transaction(self, id_token: dict, remote_start_id: int,
                                     evse_id: int | None = None, group_id_token=None,
                                     charging_profile=None, custom_data=None):
        candidates = self._on_evse({"id": evse_id} if evse_id is not None else None) or []
        chosen = next((c for c in candidates if self.charger.claim(c)), None)
        if chosen is None:
            return call_result.RequestStartTransaction(status="Rejected")
        token = IdToken(id_token["id_token"], id_token["type"])
        self.then(lambda: self.charger.remote_start(chosen, token, remote_start_id))
        return call_result.RequestStartTransaction(status="Accepted")

    @on(Action.request_stop_transaction)
    def on_request_stop_transaction(self, transaction_id: str, custom_data=None):
        session = self.charger.transactions.get(transaction_id)
        if session is None:
            return call_result.RequestStopTransaction(status="Rejected")
        self.then(lambda: self.charger.end_session(session, StopReason.REMOTE))
        return call_result.RequestStopTransaction(status="Accepted")

    @on(Action.reset)
    def on_reset(self, type: str, evse_id: int | None = None, custom_data=None):
        if evse_id is not None:
            return call_result.Reset(status="Rejected", status_info={
                "reason_code": "UnsupportedRequest",
                "additional_info": "only the whole station resets"})
        status = self.charger.request_reset(StopReason.IMMEDIATE_RESET,
                                            when_idle=type == "OnIdle")
        if status == "Accepted":
            self.then(lambda: self.charger.reset(StopReason.IMMEDIATE_RESET))
        return call_result.Reset(status=status)

    @on(Action.unlock_connector)
    def on_unlock_connector(self, evse_id: int, connector_id: int, custom_data=None):
        found = self._on_evse({"id": evse_id, "connector_id": connector_id})
        if not found:
            return call_result.UnlockConnector(status="UnknownConnector")
        c = found[0]
        if c.session is not None:
            return call_result.UnlockConnector(status="OngoingAuthorizedTransaction")
        self.then(lambda: self.charger.unplug(c))
        return call_result.UnlockConnector(status="Unlocked")

    @on(Action.change_availability)
    def on_change_availability(self, operational_status: str, evse: dict | None = None,
                               custom_data=None):
        if evse and evse.get("id") == 0:
            evse = None
        targets = self._on_evse(evse)
        if targets is None:
            return call_result.ChangeAvailability(status="Rejected")
        status = self.charger.change_availability(
            targets, operative=operational_status == "Operative")
        self.then(lambda: self.charger.announce(targets))
        return call_result.ChangeAvailability(status=status)

    @on(Action.get_variables)
    def on_get_variables(self, get_variable_data: list[dict], custom_data=None):
        return call_result.GetVariables(get_variable_result=[
            self.model.get(d["component"], d["variable"], d.get("attribute_type"))
            for d in get_variable_data
        ])

    @on(Action.set_variables)
    def on_set_variables(self, set_variable_data: list[dict], custom_data=None):
        return call_result.SetVariables(set_variable_result=[
            self.model.set(d["component"], d["variable"], d["attribute_value"],
                           d.get("attribute_type"))
            for d in set_variable_data
        ])

    @on(Action.get_base_report)
    def on_get_base_report(self, request_id: int, report_base: str, custom_data=None):
        self.then(lambda: self.notify_report(request_id, report_base))
        return call_result.GetBaseReport(status="Accepted")

    @on(Action.trigger_message)
    def on_trigger_message(self, requested_message: str, evse: dict | None = None,
                           custom_data=None):
        targets = self._on_evse(evse)
        if targets is None:
            return call_result.TriggerMessage(status="Rejected")
        send = {
            "BootNotification": self._triggered_boot,
            "Heartbeat": self.heartbeat,
            "StatusNotification": lambda: self._each(targets, self.status),
            "MeterValues": lambda: self._each(targets, self._triggered_meter_values),
            "TransactionEvent": lambda: self._each(targets, self._triggered_transaction_event),
            "FirmwareStatusNotification":
                lambda: self.firmware_status(self.charger.firmware_status, None),
            "LogStatusNotification": lambda: self.log_status(self.charger.log_status, None),
        }.get(requested_message)
        if send is None:
            return call_result.TriggerMessage(status="NotImplemented")
        self.then(send)
        return call_result.TriggerMessage(status="Accepted")

    async def _each(self, targets: list[ConnectorState], send) -> None:
        for c in targets:
            await send(c)

    async def _triggered_boot(self) -> None:
        self.charger.accept_registration(await self.boot(BootReason.TRIGGERED))

    async def _triggered_meter_values(self, c: ConnectorState) -> None:
        await self.meter_values(c, self.charger.read_meter(c))

    async def _triggered_transaction_event(self, c: ConnectorState) -> None:
        if c.session is not None and not c.session.ending:
            await self.transaction_sample(c.session, self.charger.read_meter(c), "Trigger")

    @on(Action.clear_cache)
    def on_clear_cache(self, custom_data=None):
        self.charger.auth_cache.clear()
        return call_result.ClearCache(status="Accepted")

    @on(Action.send_local_list)
    def on_send_local_list(self, version_number: int, update_type: str,
                           local_authorization_list: list[dict] | None = None, custom_data=None):
        if not self.charger.tunables.local_auth_list_enabled:
            return call_result.SendLocalList(status="Failed")
        changes = {
            entry["id_token"]["id_token"]: (entry.get("id_token_info") or {}).get("status")
            for entry in local_authorization_list or []
        }
        status = self.charger.local_list.update(version_number, update_type == "Full", changes)
        return call_result.SendLocalList(status=status.value)

    @on(Action.get_local_list_version)
    def on_get_local_list_version(self, custom_data=None):
        return call_result.GetLocalListVersion(version_number=self.charger.local_list.version)

    @on(Action.update_firmware)
    def on_update_firmware(self, request_id: int, firmware: dict, retries: int | None = None,
                           retry_interval: int | None = None, custom_data=None):
        retrieve_at = parse_ocpp(firmware["retrieve_date_time"])
        signed = bool(firmware.get("signature"))
        self.then(lambda: self.charger.update_firmware(retrieve_at, request_id, signed))
        return call_result.UpdateFirmware(status="Accepted")

    @on(Action.get_log)
    def on_get_log(self, log: dict, log_type: str, request_id: int, retries: int | None = None,
                   retry_interval: int | None = None, custom_data=None):
        stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
        kind = "security" if log_type == "SecurityLog" else "diagnostics"
        self.then(lambda: self.charger.upload_log(request_id))
        return call_result.GetLog(
            status="Accepted", filename=f"{kind}-{self.charger.spec.station_id}-{stamp}.log"
        )

    @on(Action.data_transfer)
    def on_data_transfer(self, vendor_id: str, message_id: str | None = None, data=None,
                         custom_data=None):
        if vendor_id != self.charger.spec.vendor:
            return call_result.DataTransfer(status="UnknownVendorId")
        return call_result.DataTransfer(status="Accepted", data=data)


    # ---- smart charging (functional block K) -------------------------------------------------

    @on(Action.set_charging_profile)
    def on_set_charging_profile(self, evse_id: int, charging_profile: dict, custom_data=None):
        try:
            profile = from_ocpp201(snake_to_camel_case(charging_profile))
        except (ProfileError, KeyError, ValueError) as error:
            return _rejected(call_result.SetChargingProfile, "InvalidSchedule", str(error))
        refusal = self.charger.profiles.refusal(evse_id, profile)
        if refusal is not None:
            return _rejected(call_result.SetChargingProfile, "InvalidProfile", refusal)
        self.charger.meter_until_now()
        self.charger.profiles.install(evse_id, profile)
        readings = self.charger.readings_now()
        self.then(lambda: self.charger.report_rate_change(readings))
        return call_result.SetChargingProfile(status="Accepted")

    @on(Action.clear_charging_profile)
    def on_clear_charging_profile(self, charging_profile_id: int | None = None,
                                  charging_profile_criteria: dict | None = None, custom_data=None):
        criteria = charging_profile_criteria or {}
        purpose = criteria.get("charging_profile_purpose")
        self.charger.meter_until_now()
        cleared = self.charger.profiles.clear(
            profile_id=charging_profile_id, evse=criteria.get("evse_id"),
            purpose=ChargingProfilePurpose(purpose) if purpose else None,
            stack_level=criteria.get("stack_level"))
        readings = self.charger.readings_now()
        self.then(lambda: self.charger.report_rate_change(readings))
        return call_result.ClearChargingProfile(status="Accepted" if cleared else "Unknown")

    @on(Action.get_composite_schedule)
    def on_get_composite_schedule(self, duration: int, evse_id: int,
                                  charging_rate_unit: str | None = None, custom_data=None):
        if evse_id != 0 and evse_id not in self.charger.profiles.outlets:
            return _rejected(call_result.GetCompositeSchedule, "UnknownEvse", f"no EVSE {evse_id}")
        unit = ChargingRateUnit(charging_rate_unit or "A")
        body = self.charger.profiles.composite(evse_id, utcnow(), duration, unit).to_ocpp201()
        return call_result.GetCompositeSchedule(status="Accepted", schedule=body["schedule"])

    @on(Action.get_charging_profiles)
    def on_get_charging_profiles(self, request_id: int, charging_profile: dict,
                                 evse_id: int | None = None, custom_data=None):
        purpose = charging_profile.get("charging_profile_purpose")
        level = charging_profile.get("stack_level")
        ids = charging_profile.get("charging_profile_id") or []
        found = [
            item for item in self.charger.profiles.installed
            if (evse_id is None or item.evse_id == evse_id)
            and (purpose is None or item.profile.purpose.value == purpose)
            and (level is None or item.profile.stack_level == level)
            and (not ids or item.profile.id in ids)
        ]
        if not found:
            return call_result.GetChargingProfiles(status="NoProfiles")
        self.then(lambda: self.report_charging_profiles(request_id, found))
        return call_result.GetChargingProfiles(status="Accepted")

    async def report_charging_profiles(self, request_id: int, found: list) -> None:
        by_evse: dict[int, list[dict]] = {}
        for item in found:
            by_evse.setdefault(item.evse_id, []).append(to_ocpp201(item.profile))
        groups = sorted(by_evse.items())
        for index, (evse, bodies) in enumerate(groups):
            await self.call(
                call.ReportChargingProfiles(
                    request_id=request_id, charging_limit_source="CSO", evse_id=evse,
                    charging_profile=bodies, tbc=index < len(groups) - 1,
                )
            )


def _rejected(kind, reason: str, info: str):
    return kind(status="Rejected", status_info={"reason_code": reason, "additional_info": info[:512]})


def _id_token(token: IdToken) -> dict:
    return {"id_token": token.value, "type": token.type}


DIALECT = Dialect(
    subprotocol="ocpp2.0.1", link=V201Link, settings=station_device_model, wire_status=wire_status
)
