"""OCPP 2.0.1 station side: the messages a 2.0.1 station sends and its truthful answers."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from ocpp.charge_point import snake_to_camel_case
from ocpp.routing import on
from ocpp.v201 import ChargePoint, call, call_result
from ocpp.v201.enums import Action
from websockets.exceptions import ConnectionClosed

from silkcharge.domain.clock import parse_ocpp, to_ocpp, utcnow
from silkcharge.domain.connectors import CurrentType
from silkcharge.sim.device_management import Monitor, MonitorEvent, Visit, parts
from silkcharge.sim.device_model import DeviceModel, station_device_model, wire_status
from silkcharge.sim.link import BootResult, Dialect, ReplyFirst
from silkcharge.sim.meter import MeterSample
from silkcharge.sim.reservations import Held
from silkcharge.sim.smart import NOMINAL_VOLTAGE
from silkcharge.sim.state import (
    Authorization,
    BootReason,
    ConnectorState,
    Fault,
    IdToken,
    Session,
    StopReason,
)
from silkcharge.smart.profiles import (
    ChargingProfilePurpose,
    ChargingRateUnit,
    ProfileError,
    from_ocpp201,
    round_limit,
    to_ocpp201,
)

if TYPE_CHECKING:
    from silkcharge.sim.charger import SimulatedCharger

_TRIGGER = {
    StopReason.LOCAL: "StopAuthorized",
    StopReason.MASTER_PASS: "StopAuthorized",
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
    "Energy.Active.Export.Register": "Wh",
    "Power.Active.Export": "W",
    "Current.Export": "A",
}
_REPORT_ITEMS_PER_MESSAGE = 20
_MONITORS_PER_REPORT = 4  # MonitoringData items per NotifyMonitoringReport
_MESSAGES_PER_REPORT = 2  # MessageInfo items per NotifyDisplayMessages
_CUSTOMER_PART = 120  # characters per NotifyCustomerInformation (the schema allows 512)


# The device-model component whose Problem a fault is (G05: a lock that fails is the
# connector's ConnectorPlugRetentionLock); any other fault is the Connector's own.
_FAULT_COMPONENT = {"ConnectorLockFailure": "ConnectorPlugRetentionLock"}


def sampled_values(sample: MeterSample, context: str, measurands: list[str]) -> list[dict]:
    """A 2.0.1 sampledValue list (numbers) for the measurands the station is set to."""
    ac = sample.current_type.value == "AC"
    values: list[tuple[str, object, str | None]] = [
        ("Energy.Active.Import.Register", sample.energy_wh, None),
        ("Power.Active.Import", max(sample.power_w, 0), None),
        ("Energy.Active.Export.Register", sample.export_wh, None),  # measured where the station is set to
        ("Power.Active.Export", max(-sample.power_w, 0), None),
        *(("Current.Import" if sample.power_w >= 0 else "Current.Export", amps, f"L{n}" if ac else None)
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
    # NetworkConnectionProfile.ocppVersion values this station can connect with.
    _network_versions: tuple[str, ...] = ("OCPP20",)

    def __init__(self, charger: SimulatedCharger, connection) -> None:
        super().__init__(charger.spec.station_id, connection)
        self._init_follow_ups(charger.spawn)
        self.charger = charger
        self.model: DeviceModel = charger.settings
        self._aligned_generation = 0  # the clock-aligned loop (J01) of this number runs

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
        for monitor in self.model.management.monitors.periodic():
            self._start_periodic(monitor)
        self._start_clock_aligned()
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
        await self.watch_monitors()

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
            "component": {"name": _FAULT_COMPONENT.get(fault.error_code, "Connector"), "evse": {
                "id": connector.evse_id, "connector_id": connector.connector_id}},
            "variable": {"name": "Problem"},
        }
        if fault.vendor_error:
            event["tech_info"] = fault.vendor_error
        await self.call(call.NotifyEvent(generated_at=now, seq_no=0, event_data=[event]))

    async def authorize(self, id_token: IdToken) -> Authorization:
        result = await self.call(call.Authorize(id_token=_id_token(id_token)))
        if not result:
            return Authorization("Invalid")
        self.model.management.tariffs.told(id_token.value, result.id_token_info.get("personal_message"))
        group = (result.id_token_info.get("group_id_token") or {}).get("id_token")
        return Authorization(result.id_token_info["status"], group)

    async def reservation_ended(self, reservation_id: int, status: str) -> None:
        await self.call(call.ReservationStatusUpdate(
            reservation_id=reservation_id, reservation_update_status=status))

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
                reservation_id=session.reservation_id,
                meter_value=[self._meter_value(sample, "Transaction.Begin",
                                               "TxStartedMeasurands")],
            ),
            suppress=False,
        )
        info = result.id_token_info or {}
        self.model.management.tariffs.started(session.transaction_id, session.id_token.value,
                                              info.get("personal_message"))
        status = info.get("status", "Accepted")
        if status == "Accepted" and self.charger.iso15118:
            self.then(lambda: self.notify_ev_charging_needs(session))
        return status

    # ---- an ISO 15118 car (K15-K17) ----------------------------------------------------------

    EV_STAY = timedelta(hours=4)  # when a simulated ISO 15118 car says it will leave

    async def notify_ev_charging_needs(self, session: Session) -> None:
        """The car states its needs: its current range per phase, the energy it wants and
        when it leaves; the CSMS answers with a TxProfile, which the car plans within."""
        needs = self.charging_needs(session)
        if needs is None:
            return
        await self.call(call.NotifyEVChargingNeeds(
            evse_id=session.connector.evse_id, max_schedule_tuples=3, charging_needs=needs))

    def charging_needs(self, session: Session) -> dict | None:
        """ChargingNeedsType (snake_case) of the session's car, None without a car."""
        meter, ev = session.connector.meter, session.connector.meter.ev
        if ev is None:
            return None
        if meter.current_type is CurrentType.AC:
            parameters = {"ac_charging_parameters": {
                "energy_amount": int(ev.wanted_wh), "ev_min_current": 6, "ev_max_voltage": 400,
                "ev_max_current": int(ev.max_power_w / (NOMINAL_VOLTAGE * meter.phases))}}
            transfer = "AC_three_phase" if meter.phases == 3 else "AC_single_phase"
        else:
            parameters = {"dc_charging_parameters": {
                "ev_max_current": int(ev.max_power_w / 400), "ev_max_voltage": 400,
                "ev_max_power": int(ev.max_power_w), "energy_amount": int(ev.wanted_wh),
                "state_of_charge": int(ev.soc)}}
            transfer = "DC"
        return {"requested_energy_transfer": transfer, "departure_time": to_ocpp(utcnow() + self.EV_STAY), **parameters}

    async def notify_ev_charging_schedule(self, evse_id: int) -> None:
        """The car's plan within what the station now allows it: the composite for the hour."""
        running = [c for c in self.charger.on_evse(evse_id) if c.session is not None and c.meter.ev is not None]
        if not running:
            return
        now = utcnow()
        composite = self.charger.profiles.composite(evse_id, now, 3600, ChargingRateUnit.A)
        car_a = running[0].meter.ev.max_power_w / (NOMINAL_VOLTAGE * running[0].meter.phases)
        periods = [{"start_period": p.start_period,
                    "limit": float(round_limit(min(p.limit, car_a) if p.limit is not None else car_a))}
                   for p in composite.periods]
        await self.call(call.NotifyEVChargingSchedule(
            time_base=to_ocpp(now), evse_id=evse_id,
            charging_schedule={"id": 1, "charging_rate_unit": "A", "duration": 3600,
                               "charging_schedule_period": periods}))

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
        result = await self.call(
            call.TransactionEvent(
                event_type="Updated",
                timestamp=to_ocpp(at or utcnow()),
                trigger_reason=trigger,
                seq_no=session.next_seq_no(),
                transaction_info=self._transaction_info(session, state),
                meter_value=[self._meter_value(sample, context, "TxUpdatedMeasurands", at)],
            )
        )
        if result is not None:  # I06 and I02: a new tariff line, the cost so far
            self.model.management.tariffs.updated(
                session.transaction_id, result.updated_personal_message, result.total_cost)
        await self.watch_monitors()

    async def transaction_ended(
        self, session: Session, reason: StopReason, sample: MeterSample
    ) -> None:
        info = self._transaction_info(session, "EVConnected")
        info["stopped_reason"] = _STOPPED.get(reason, reason.value)
        result = await self.call(
            self._ended_event(session, sample, dict(
                event_type="Ended",
                timestamp=to_ocpp(utcnow()),
                trigger_reason=_TRIGGER.get(reason, "AbnormalCondition"),
                seq_no=session.next_seq_no(),
                transaction_info=info,
                id_token=_id_token(session.stopped_by or session.id_token)
                if reason in (StopReason.LOCAL, StopReason.MASTER_PASS) else None,
                meter_value=[self._meter_value(sample, "Transaction.End", "TxEndedMeasurands")],
            )),
            suppress=False,
        )
        management = self.model.management
        management.tariffs.updated(session.transaction_id, None, result.total_cost if result else None)  # I03
        management.customers.visits.append(Visit(
            session.id_token.value, session.transaction_id, session.connector.evse_id, session.started_at,
            max(0, sample.energy_wh - session.meter_start_wh)))
        management.display.transaction_ended(session.transaction_id)

    def _ended_event(self, session: Session, sample: MeterSample, fields: dict):
        """The Ended TransactionEvent (2.1 adds the station's own cost, sim/v21.py)."""
        return call.TransactionEvent(**fields)

    async def firmware_status(self, status: str, request_id: int | None) -> None:
        await self.call(call.FirmwareStatusNotification(status=status, request_id=request_id))

    async def log_status(self, status: str, request_id: int | None) -> None:
        await self.call(call.LogStatusNotification(status=status, request_id=request_id))

    async def sign_certificate(self, csr: str) -> str:
        reply = await self.call(call.SignCertificate(csr=csr, certificate_type="ChargingStationCertificate"))
        return reply.status if reply is not None else "Rejected"

    async def security_event(self, kind: str, tech_info: str | None) -> None:
        await self.call(call.SecurityEventNotification(
            type=kind, timestamp=to_ocpp(utcnow()), tech_info=tech_info[:255] if tech_info else None))

    async def meter_values(self, connector: ConnectorState, sample: MeterSample) -> None:
        await self.call(
            call.MeterValues(
                evse_id=connector.evse_id,
                meter_value=[self._meter_value(sample, "Trigger", "TxUpdatedMeasurands")],
            )
        )

    async def notify_report(self, request_id: int, items: list[dict]) -> None:
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
        profile = None
        if charging_profile is not None:  # K05: only a TxProfile, for the transaction to come
            try:
                profile = from_ocpp201(snake_to_camel_case(charging_profile))
            except (ProfileError, KeyError, ValueError) as error:
                return _rejected(call_result.RequestStartTransaction, "InvalidProfile", str(error))
            if profile.purpose is not ChargingProfilePurpose.TX or profile.transaction_id is not None:
                return _rejected(call_result.RequestStartTransaction, "InvalidProfile",
                                 "a TxProfile without transactionId is required")
            if not self.charger.profiles.accept:
                return _rejected(call_result.RequestStartTransaction, "InvalidProfile",
                                 "this station does not accept charging profiles")
        candidates = self._on_evse({"id": evse_id} if evse_id is not None else None) or []
        chosen = next((c for c in candidates if self.charger.claim(c)), None)
        if chosen is None:
            return call_result.RequestStartTransaction(status="Rejected")
        token = IdToken(id_token["id_token"], id_token["type"])
        self.then(lambda: self.charger.remote_start(chosen, token, remote_start_id, profile))
        return call_result.RequestStartTransaction(status="Accepted")

    @on(Action.reserve_now)
    def on_reserve_now(self, id: int, expiry_date_time: str, id_token: dict,
                       connector_type: str | None = None, evse_id: int | None = None,
                       group_id_token: dict | None = None, custom_data=None):
        if evse_id is not None and not self._on_evse({"id": evse_id}):
            return call_result.ReserveNow(status="Rejected")
        if not self.model.reservations_enabled():
            return call_result.ReserveNow(status="Rejected")
        group = (group_id_token or {}).get("id_token")
        held = Held(id, id_token["id_token"], group, parse_ocpp(expiry_date_time), evse_id or 0,
                    connector_type)
        status = self.charger.reserve(held)
        if held.connector is not None:
            self.then(lambda: self.charger.announce([held.connector]))
        return call_result.ReserveNow(status=status)

    @on(Action.cancel_reservation)
    def on_cancel_reservation(self, reservation_id: int, custom_data=None):
        if reservation_id not in self.charger.reservations.held:
            return call_result.CancelReservation(status="Rejected")
        self.then(lambda: self.charger.cancel_reservation(reservation_id))
        return call_result.CancelReservation(status="Accepted")

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
        else:  # Scheduled: the idle connectors now refuse sessions
            self.then(lambda: self.charger.announce(self.charger.connectors))
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
        results = [
            self.model.set(d["component"], d["variable"], d["attribute_value"],
                           d.get("attribute_type"))
            for d in set_variable_data
        ]
        if any(r["component"]["name"] == "SecurityCtrlr" and r["variable"]["name"] == "BasicAuthPassword"
               and r["attribute_status"] == "Accepted" for r in results):
            self.then(self._reconnect)  # A01: reconnect with the new password at once
        if any(r["component"]["name"] == "AlignedDataCtrlr" and r["attribute_status"] == "Accepted"
               for r in results):
            self._start_clock_aligned()
        return call_result.SetVariables(set_variable_result=results)

    async def _reconnect(self) -> None:
        self.charger.reconnect()

    @on(Action.set_network_profile)
    def on_set_network_profile(self, configuration_slot: int, connection_data: dict, custom_data=None):
        """B09 / A05: a profile is stored for later (NetworkConfigurationPriority and a reboot
        put it to use); one below the current security profile is refused."""
        if (connection_data["ocpp_version"] not in self._network_versions
                or connection_data["ocpp_transport"] != "JSON"):
            return call_result.SetNetworkProfile(status="Rejected")
        status = self.charger.network.set_slot(
            configuration_slot, connection_data["ocpp_csms_url"], connection_data["security_profile"])
        return call_result.SetNetworkProfile(status=status)

    @on(Action.get_base_report)
    def on_get_base_report(self, request_id: int, report_base: str, custom_data=None):
        items = self.model.report(report_base)
        self.then(lambda: self.notify_report(request_id, items))
        return call_result.GetBaseReport(status="Accepted")

    @on(Action.get_report)
    def on_get_report(self, request_id: int, component_variable: list[dict] | None = None,
                      component_criteria: list[str] | None = None, custom_data=None):
        """B08: the variables asked for, in NotifyReport parts; EmptyResultSet when none is."""
        items = self.model.custom_report(component_criteria or [], component_variable or [])
        if not items:
            return call_result.GetReport(status="EmptyResultSet")
        self.then(lambda: self.notify_report(request_id, items))
        return call_result.GetReport(status="Accepted")

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
            "SignChargingStationCertificate": self.charger.request_certificate,
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

    # ---- certificates (A02/A03, M03-M05) ---------------------------------------------------------

    @on(Action.certificate_signed)
    def on_certificate_signed(self, certificate_chain: str, certificate_type: str | None = None,
                              custom_data=None):
        accepted = self.charger.certificate_delivered(certificate_chain)
        return call_result.CertificateSigned(status="Accepted" if accepted else "Rejected")

    @on(Action.install_certificate)
    def on_install_certificate(self, certificate_type: str, certificate: str, custom_data=None):
        return call_result.InstallCertificate(status=self.charger.certificates.install(certificate_type, certificate))

    @on(Action.get_installed_certificate_ids)
    def on_get_installed_certificate_ids(self, certificate_type: list[str] | None = None, custom_data=None):
        found = self.charger.certificates.installed(certificate_type or [])
        if not found:
            return call_result.GetInstalledCertificateIds(status="NotFound")
        chains = [{"certificate_type": kind, "certificate_hash_data": data} for kind, data in found]
        return call_result.GetInstalledCertificateIds(status="Accepted", certificate_hash_data_chain=chains)

    @on(Action.delete_certificate)
    def on_delete_certificate(self, certificate_hash_data: dict, custom_data=None):
        return call_result.DeleteCertificate(status=self.charger.certificates.delete(_camel_hash(certificate_hash_data)))

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
        if self.charger.iso15118 and profile.purpose is ChargingProfilePurpose.TX:
            self.then(lambda: self.notify_ev_charging_schedule(evse_id))  # K16: the car plans anew
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


    # ---- device management: monitoring, customers, display, firmware publishing ------------
    # (N02-N10, O01-O06, L03-L04, K11-K13, E14; state in sim/device_management.py)

    async def watch_monitors(self) -> None:
        """NotifyEvent for every threshold or delta monitor whose variable moved (N07)."""
        monitors = self.model.management.monitors
        events = monitors.check(lambda m: self.model.value_of(m.component, m.variable),
                                running=bool(self.charger.transactions))
        if events:
            await self._monitor_events(events)

    async def _monitor_events(self, events: list[MonitorEvent]) -> None:
        now = to_ocpp(utcnow())
        data = []
        for e in events:
            entry = {
                "event_id": next(self.model.event_ids), "timestamp": now, "trigger": e.trigger,
                "actual_value": e.actual_value[:2500], "variable_monitoring_id": e.monitor.id,
                "event_notification_type": e.monitor.kind, "component": e.monitor.component,
                "variable": e.monitor.variable,
            }
            if e.trigger == "Alerting":
                entry["cleared"] = e.cleared
            data.append(entry)
        await self.call(call.NotifyEvent(generated_at=now, seq_no=0, event_data=data))

    def _aligned(self, name: str) -> str:
        return self.model.value_of({"name": "AlignedDataCtrlr"}, {"name": name}) or ""

    def _start_clock_aligned(self) -> None:
        """J01: one loop at a time sends clock-aligned meter values, while the interval is set."""
        self._aligned_generation += 1
        interval = float(self._aligned("Interval") or 0)
        if interval > 0:
            self.charger.spawn(self._clock_aligned(self._aligned_generation, interval))

    async def _clock_aligned(self, generation: int, interval: float) -> None:
        """MeterValues of every EVSE without a transaction (Sample.Clock, AlignedDataCtrlr.
        Measurands) at whole multiples of AlignedDataCtrlr.Interval since midnight UTC, until
        the interval changes or the link is gone (the next one starts over after its boot)."""
        while generation == self._aligned_generation:
            now = utcnow()
            seconds = now.hour * 3600 + now.minute * 60 + now.second + now.microsecond / 1e6
            await asyncio.sleep(interval - seconds % interval)
            if generation != self._aligned_generation:
                return
            measurands = [m for m in self._aligned("Measurands").split(",") if m]
            idle = {c.evse_id: c for c in reversed(self.charger.connectors)}
            busy = {c.evse_id for c in self.charger.connectors if c.session is not None}
            try:
                for evse_id, connector in sorted(idle.items()):
                    if evse_id in busy:
                        continue
                    sample = self.charger.read_meter(connector)
                    await self.call(call.MeterValues(evse_id=evse_id, meter_value=[{
                        "timestamp": to_ocpp(utcnow()),
                        "sampled_value": sampled_values(sample, "Sample.Clock", measurands),
                    }]))
            except (TimeoutError, ConnectionClosed):
                return

    def _start_periodic(self, monitor: Monitor) -> None:
        self.charger.spawn(self._periodic(monitor))

    async def _periodic(self, monitor: Monitor) -> None:
        """N08: a Periodic monitor reports its variable every `value` seconds (clock-aligned
        ones at whole multiples of it since midnight UTC) while it exists and the link is up."""
        monitors = self.model.management.monitors
        period = max(1.0, monitor.value)
        while monitors.monitors.get(monitor.id) is monitor:
            wait = period
            if monitor.type == "PeriodicClockAligned":
                now = utcnow()
                seconds = now.hour * 3600 + now.minute * 60 + now.second + now.microsecond / 1e6
                wait = period - seconds % period
            await asyncio.sleep(wait)
            value = self.model.value_of(monitor.component, monitor.variable)
            if monitors.monitors.get(monitor.id) is not monitor or value is None:
                return
            if monitor.severity > monitors.level:
                continue
            try:
                await self._monitor_events([MonitorEvent(monitor, value, "Periodic")])
            except (TimeoutError, ConnectionClosed):
                return  # this link is gone; the next one restarts the monitor after its boot

    @on(Action.set_variable_monitoring)
    def on_set_variable_monitoring(self, set_monitoring_data: list[dict], custom_data=None):
        monitors = self.model.management.monitors
        results = [monitors.set(d, self.model.monitoring_refusal) for d in set_monitoring_data]
        for result in results:
            monitor = monitors.monitors.get(result.get("id")) if result["status"] == "Accepted" else None
            if monitor is not None and monitor.type in ("Periodic", "PeriodicClockAligned"):
                self._start_periodic(monitor)
        self.then(self.watch_monitors)  # a monitor set beyond its threshold reports at once
        return call_result.SetVariableMonitoring(set_monitoring_result=results)

    @on(Action.clear_variable_monitoring)
    def on_clear_variable_monitoring(self, id: list[int], custom_data=None):
        monitors = self.model.management.monitors
        return call_result.ClearVariableMonitoring(clear_monitoring_result=[
            {"id": monitor_id, "status": monitors.clear(monitor_id)} for monitor_id in id])

    @on(Action.set_monitoring_base)
    def on_set_monitoring_base(self, monitoring_base: str, custom_data=None):
        self.model.management.monitors.set_base(monitoring_base)
        return call_result.SetMonitoringBase(status="Accepted")

    @on(Action.set_monitoring_level)
    def on_set_monitoring_level(self, severity: int, custom_data=None):
        if not 0 <= severity <= 9:
            return _rejected(call_result.SetMonitoringLevel, "InvalidValue", "severity is 0 to 9")
        self.model.management.monitors.level = severity
        return call_result.SetMonitoringLevel(status="Accepted")

    @on(Action.get_monitoring_report)
    def on_get_monitoring_report(self, request_id: int, monitoring_criteria: list[str] | None = None,
                                 component_variable: list[dict] | None = None, custom_data=None):
        items = self.model.management.monitors.report(monitoring_criteria or [], component_variable or [])
        if not items:
            return call_result.GetMonitoringReport(status="EmptyResultSet")
        self.then(lambda: self._monitoring_report(request_id, items))
        return call_result.GetMonitoringReport(status="Accepted")

    async def _monitoring_report(self, request_id: int, items: list[dict]) -> None:
        chunks = [items[i:i + _MONITORS_PER_REPORT] for i in range(0, len(items), _MONITORS_PER_REPORT)]
        for seq_no, chunk in enumerate(chunks):
            await self.call(call.NotifyMonitoringReport(
                request_id=request_id, seq_no=seq_no, generated_at=to_ocpp(utcnow()), monitor=chunk,
                tbc=seq_no < len(chunks) - 1))

    @on(Action.customer_information)
    def on_customer_information(self, request_id: int, report: bool, clear: bool,
                                customer_certificate: dict | None = None, id_token: dict | None = None,
                                customer_identifier: str | None = None, custom_data=None):
        if not (id_token or customer_certificate or customer_identifier):
            return call_result.CustomerInformation(status="Invalid", status_info={
                "reason_code": "InvalidValue",
                "additional_info": "name the customer: idToken, customerCertificate or customerIdentifier"})
        self.then(lambda: self._customer(request_id, report, clear, id_token, customer_certificate,
                                         customer_identifier))
        return call_result.CustomerInformation(status="Accepted")

    async def _customer(self, request_id: int, report: bool, clear: bool, id_token: dict | None,
                        certificate: dict | None, identifier: str | None) -> None:
        customers = self.model.management.customers
        if certificate is not None:
            text = f"no customer certificate with serial number {certificate['serial_number']}"
            key = None
        else:
            key = id_token["id_token"] if id_token else identifier
            running = [Visit(s.id_token.value, s.transaction_id, s.connector.evse_id, s.started_at, 0)
                       for s in self.charger.transactions.values()]
            text = customers.about(key, self.charger.auth_cache.get(key), self.charger.local_list.entries.get(key),
                                   running)
        if clear and key is not None:
            customers.forget(key)
            self.charger.auth_cache.pop(key, None)  # N10: the local list stays the CSMS's to manage
            text = "cleared: " + text
        if not report:
            return
        pieces = parts(text, _CUSTOMER_PART)
        for seq_no, piece in enumerate(pieces):
            await self.call(call.NotifyCustomerInformation(
                data=piece, seq_no=seq_no, generated_at=to_ocpp(utcnow()), request_id=request_id,
                tbc=seq_no < len(pieces) - 1))

    @on(Action.set_display_message)
    def on_set_display_message(self, message: dict, custom_data=None):
        status = self.model.management.display.set(message, set(self.charger.transactions))
        return call_result.SetDisplayMessage(status=status)

    @on(Action.get_display_messages)
    def on_get_display_messages(self, request_id: int, id: list[int] | None = None,
                                priority: str | None = None, state: str | None = None, custom_data=None):
        found = self.model.management.display.find(id, priority, state)
        if not found:
            return call_result.GetDisplayMessages(status="Unknown")
        self.then(lambda: self._display_report(request_id, found))
        return call_result.GetDisplayMessages(status="Accepted")

    async def _display_report(self, request_id: int, found: list[dict]) -> None:
        chunks = [found[i:i + _MESSAGES_PER_REPORT] for i in range(0, len(found), _MESSAGES_PER_REPORT)]
        for index, chunk in enumerate(chunks):
            await self.call(call.NotifyDisplayMessages(
                request_id=request_id, message_info=chunk, tbc=index < len(chunks) - 1))

    @on(Action.clear_display_message)
    def on_clear_display_message(self, id: int, custom_data=None):
        return call_result.ClearDisplayMessage(status=self.model.management.display.clear(id))

    @on(Action.cost_updated)
    def on_cost_updated(self, total_cost: float, transaction_id: str, custom_data=None):
        """I02: the running cost the CSMS pushes goes on the screen."""
        self.model.management.tariffs.updated(transaction_id, None, total_cost)
        return call_result.CostUpdated()

    @on(Action.publish_firmware)
    def on_publish_firmware(self, location: str, checksum: str, request_id: int, retries: int | None = None,
                            retry_interval: int | None = None, custom_data=None):
        publications = self.model.management.publications.published
        if publications.get(checksum) not in (None, "Published", "InvalidChecksum", "PublishFailed"):
            return _rejected(call_result.PublishFirmware, "Busy", "that firmware is being downloaded")
        publications[checksum] = "DownloadScheduled"
        self.then(lambda: self._publish(location, checksum, request_id))
        return call_result.PublishFirmware(status="Accepted")

    async def _publish(self, location: str, checksum: str, request_id: int) -> None:
        """L03: download, check the MD5, then serve the file to the stations behind it. This
        station cannot fetch `location`, so a checksum that is not 32 hex digits is wrong."""
        publications = self.model.management.publications.published
        valid = len(checksum) == 32 and all(ch in "0123456789abcdefABCDEF" for ch in checksum)
        steps = ["Downloading", "Downloaded", "ChecksumVerified" if valid else "InvalidChecksum"]
        if valid:
            steps.append("Published")
        for status in steps:
            publications[checksum] = status
            served = [f"http://{self.charger.spec.station_id.lower()}.local/firmware/{checksum}.bin"]
            await self.call(call.PublishFirmwareStatusNotification(
                status=status, request_id=request_id, location=served if status == "Published" else None))
            await asyncio.sleep(self.charger.step_delay)

    @on(Action.unpublish_firmware)
    def on_unpublish_firmware(self, checksum: str, custom_data=None):
        return call_result.UnpublishFirmware(status=self.model.management.publications.unpublish(checksum))

    @on(Action.get_transaction_status)
    def on_get_transaction_status(self, transaction_id: str | None = None, custom_data=None):
        ongoing = transaction_id in self.charger.transactions if transaction_id is not None else None
        return call_result.GetTransactionStatus(messages_in_queue=self.charger.queued > 0,
                                                ongoing_indicator=ongoing)

    async def charging_limit(self, evse: int, amps, source: str) -> None:
        """K11-K13: tell the CSMS of a limit an EMS set (or lifted) on this station."""
        if amps is None:
            await self.call(call.ClearedChargingLimit(charging_limit_source=source,
                                                      evse_id=evse if evse else None))
            return
        schedule = {"id": 1, "charging_rate_unit": "A", "start_schedule": to_ocpp(utcnow()),
                    "charging_schedule_period": [{"start_period": 0, "limit": float(amps)}]}
        await self.call(call.NotifyChargingLimit(
            charging_limit={"charging_limit_source": source, "is_grid_critical": source == "SO"},
            charging_schedule=[schedule], evse_id=evse if evse else None))


def _rejected(kind, reason: str, info: str):
    return kind(status="Rejected", status_info={"reason_code": reason, "additional_info": info[:512]})


def _id_token(token: IdToken) -> dict:
    return {"id_token": token.value, "type": token.type}


DIALECT = Dialect(
    subprotocol="ocpp2.0.1", link=V201Link, settings=station_device_model, wire_status=wire_status
)


def _camel_hash(data: dict) -> dict[str, str]:
    """CertificateHashData as the `ocpp` library hands it over (snake_case) back in OCPP's names."""
    return {"hashAlgorithm": data["hash_algorithm"], "issuerNameHash": data["issuer_name_hash"],
            "issuerKeyHash": data["issuer_key_hash"], "serialNumber": data["serial_number"]}
