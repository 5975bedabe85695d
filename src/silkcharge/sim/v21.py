"""A simulated station speaking OCPP 2.1: the 2.0.1 link over `ocpp2.1`, validated against the
2.1 schemas (2.1 keeps every 2.0.1 message), plus what 2.1 adds for bidirectional charging:
the car's V2X parameters in NotifyEVChargingNeeds, discharge limits and setpoints in its
charging profiles (sim/smart.py), and NotifyAllowedEnergyTransfer; and for local cost and
payment (sim/local_cost.py): the tariffs the CSMS sends, the session's cost in its Ended event,
a bank card terminal that settles it (NotifySettlement), VatNumberValidation and
NotifyWebPaymentStarted; and DER control (sim/der.py): SetDERControl, GetDERControl (answered
in ReportDERControl), ClearDERControl, NotifyDERStartStop for scheduled controls and
NotifyDERAlarm on a grid event."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from ocpp.routing import on
from ocpp.v21 import call as call21
from ocpp.v21 import call_result as result21

from silkcharge.domain.clock import parse_ocpp, to_ocpp, utcnow
from silkcharge.domain.connectors import CurrentType
from silkcharge.sim.der import TRIPS, HeldControl, section_of
from silkcharge.sim.device_model import station_device_model, wire_status
from silkcharge.sim.link import Dialect
from silkcharge.sim.local_cost import CENT
from silkcharge.sim.meter import MeterSample
from silkcharge.sim.state import Session, StopReason
from silkcharge.sim.v201 import V201Link


@dataclass
class ReportDERControl:
    """2.1 ReportDERControl with its lists already cased as the schema has them (fixedPFAbsorb,
    fixedPF): the `ocpp` library's snake-to-camel conversion would make them fixedPfAbsorb."""

    requestId: int  # noqa: N815 - the wire's own names, left alone by the library's conversion
    tbc: bool = False
    curve: list | None = None
    enterService: list | None = None  # noqa: N815
    fixedPFAbsorb: list | None = None  # noqa: N815
    fixedPFInject: list | None = None  # noqa: N815
    fixedVar: list | None = None  # noqa: N815
    freqDroop: list | None = None  # noqa: N815
    gradient: list | None = None
    limitMaxDischarge: list | None = None  # noqa: N815


class V21Link(V201Link):
    _call = call21
    _call_result = result21
    _ocpp_version = "2.1"
    _network_versions = ("OCPP20", "OCPP21")  # a 2.1 CSMS names OCPP21 (a 2.0.1 one OCPP20)

    def charging_needs(self, session: Session) -> dict | None:
        """A bidirectional car adds its V2X parameters (2.1 V2XChargingParametersType): how fast
        it can discharge and how much energy it can give back above its minimum state of
        charge, and offers a bidirectional transfer mode beside its usual one."""
        needs = super().charging_needs(session)
        ev = session.connector.meter.ev
        if needs is None or ev is None or not ev.bidirectional:
            return needs
        dc = session.connector.meter.current_type is CurrentType.DC
        usual = needs["requested_energy_transfer"]
        needs["available_energy_transfer"] = [usual, "DC_BPT" if dc else "AC_BPT"]
        needs["v2x_charging_parameters"] = {
            "max_charge_power": float(ev.max_power_w),
            "max_discharge_power": float(ev.max_discharge_w),
            "ev_target_energy_request": float(max(Decimal(0), ev.wanted_wh - ev.delivered_wh)),
            "ev_min_v2x_energy_request": float(-ev.dischargeable_wh),  # what it may give back (negative)
            "ev_max_v2x_energy_request": float(max(Decimal(0), ev.wanted_wh - ev.delivered_wh)),
            "target_soc": 90,
        }
        return needs

    @on("NotifyAllowedEnergyTransfer")
    def on_allowed_energy_transfer(self, transaction_id: str, allowed_energy_transfer: list[str], **_):
        session = self.charger.transactions.get(transaction_id)
        if session is None:
            return result21.NotifyAllowedEnergyTransfer(
                status="Rejected", status_info={"reason_code": "UnknownTransaction"})
        session.allowed_energy_transfer = tuple(allowed_energy_transfer)
        return result21.NotifyAllowedEnergyTransfer(status="Accepted")

    # ---- DER control (R04) ---------------------------------------------------------------------

    @on("SetDERControl")
    def on_set_der_control(self, is_default: bool, control_id: str, control_type: str, custom_data=None,
                           **sections: Any):
        field, _, _ = section_of(control_type)
        settings = sections.get(field)
        if settings is None or any(v is not None for k, v in sections.items() if k != field):
            return result21.SetDERControl(status="Rejected", status_info={
                "reason_code": "InvalidValue", "additional_info": f"a {control_type} control carries {field} only"})
        der = self.charger.der
        status, superseded = der.set(control_id, control_type, is_default, settings)
        if status == "Accepted" and settings.get("start_time"):
            held = der.held[control_id]
            self.charger.spawn(self._scheduled(held, parse_ocpp(settings["start_time"]), settings.get("duration"),
                                               superseded))
        return result21.SetDERControl(status=status, superseded_ids=superseded or None)

    async def _scheduled(self, control: HeldControl, start: datetime, duration: Any, superseded: list[str]) -> None:
        """NotifyDERStartStop when a scheduled control starts, and when its duration is over."""
        await asyncio.sleep(max(0.0, (start - utcnow()).total_seconds()))
        if self.charger.der.held.get(control.control_id) is not control:
            return  # cleared or replaced meanwhile
        control.started = True
        await self.call(call21.NotifyDERStartStop(control_id=control.control_id, started=True,
                                                  timestamp=to_ocpp(utcnow()), superseded_ids=superseded or None))
        if duration is None:
            return
        await asyncio.sleep(float(duration))
        if self.charger.der.held.get(control.control_id) is control:
            control.started = False
            await self.call(call21.NotifyDERStartStop(control_id=control.control_id, started=False,
                                                      timestamp=to_ocpp(utcnow())))

    @on("GetDERControl")
    def on_get_der_control(self, request_id: int, is_default: bool | None = None, control_type: str | None = None,
                           control_id: str | None = None, custom_data=None):
        found = self.charger.der.matching(is_default, control_type, control_id)
        if not found:
            return result21.GetDERControl(status="NotFound")
        self.then(lambda: self._report_der(request_id, found))
        return result21.GetDERControl(status="Accepted")

    async def _report_der(self, request_id: int, controls: list[HeldControl]) -> None:
        """One ReportDERControl per 10 controls, `tbc` until the last."""
        der = self.charger.der
        chunks = [controls[i:i + 10] for i in range(0, len(controls), 10)]
        for index, chunk in enumerate(chunks):
            await self.call(ReportDERControl(requestId=request_id, tbc=index < len(chunks) - 1, **der.report(chunk)))

    @on("ClearDERControl")
    def on_clear_der_control(self, is_default: bool, control_type: str | None = None, control_id: str | None = None,
                             custom_data=None):
        return result21.ClearDERControl(status=self.charger.der.clear(is_default, control_type, control_id))

    async def der_alarm(self, control_type: str, fault: str | None, ended: bool, extra_info: str | None) -> None:
        await self.call(call21.NotifyDERAlarm(control_type=control_type, timestamp=to_ocpp(utcnow()),
                                              grid_event_fault=fault, alarm_ended=ended or None,
                                              extra_info=extra_info), suppress=False)

    def control_tripped_by(self, fault: str) -> str:
        """The control a grid event concerns: the trip control it crosses, when the DER holds one,
        else the first control held, else the trip control by name."""
        wanted = TRIPS.get(fault)
        held = list(self.charger.der.held.values())
        if wanted and any(c.control_type == wanted for c in held):
            return wanted
        return held[0].control_type if held else (wanted or "EnterService")

    # ---- local cost and payment ----------------------------------------------------------------

    @on("SetDefaultTariff")
    def on_set_default_tariff(self, evse_id: int, tariff: dict, custom_data=None):
        if evse_id and not self.charger.on_evse(evse_id):
            return result21.SetDefaultTariff(status="Rejected", status_info={"reason_code": "UnknownEvse"})
        return result21.SetDefaultTariff(status=self.charger.local_cost.set_default(evse_id, tariff))

    @on("ChangeTransactionTariff")
    def on_change_transaction_tariff(self, transaction_id: str, tariff: dict, custom_data=None):
        session = self.charger.transactions.get(transaction_id)
        if session is None:
            return result21.ChangeTransactionTariff(status="TxNotFound")
        held = self.charger.local_cost.tariff_for(transaction_id, session.connector.evse_id)
        if held is not None and held["currency"] != tariff["currency"]:
            return result21.ChangeTransactionTariff(status="NoCurrencyChange")
        self.charger.local_cost.per_transaction[transaction_id] = tariff
        return result21.ChangeTransactionTariff(status="Accepted")

    @on("ClearTariffs")
    def on_clear_tariffs(self, tariff_ids: list[str] | None = None, evse_id: int | None = None, custom_data=None):
        return result21.ClearTariffs(clear_tariffs_result=self.charger.local_cost.clear(tariff_ids, evse_id))

    @on("GetTariffs")
    def on_get_tariffs(self, evse_id: int, custom_data=None):
        found = self.charger.local_cost.assignments(evse_id)
        if not found:
            return result21.GetTariffs(status="NoTariff")
        return result21.GetTariffs(status="Accepted", tariff_assignments=found)

    @on("NotifyWebPaymentStarted")
    def on_web_payment_started(self, evse_id: int, timeout: int, custom_data=None):
        self.charger.local_cost.web_payments[evse_id] = timeout
        return result21.NotifyWebPaymentStarted()

    def _ended_event(self, session: Session, sample: MeterSample, fields: dict):
        """The Ended event with the cost the station calculated with the tariff it holds."""
        tariff = self.charger.local_cost.tariff_for(session.transaction_id, session.connector.evse_id)
        if tariff is not None:
            charging_s = max(0, int((utcnow() - session.started_at).total_seconds()))
            energy = Decimal(max(0, sample.energy_wh - session.meter_start_wh))
            details = self.charger.local_cost.cost_details(tariff, energy, charging_s, to_ocpp(session.started_at))
            self.charger.local_cost.costs[session.transaction_id] = details
            fields["cost_details"] = details
            fields["transaction_info"]["tariff_id"] = tariff["tariff_id"]
        return call21.TransactionEvent(**fields)

    async def transaction_ended(self, session: Session, reason: StopReason, sample: MeterSample) -> None:
        await super().transaction_ended(session, reason, sample)
        payment = self.charger.local_cost.payments.get(session.id_token.value)
        if session.id_token.type == "DirectPayment" and payment is not None:
            await self._settle(session, payment)

    async def _settle(self, session: Session, payment) -> None:
        """The terminal takes what the session cost, at most what it reserved, and the station
        reports it; the CSMS answers with the receipt the charger shows as a QR code. The cost
        is the station's own with a tariff it holds, else the final cost the CSMS gave it (I03),
        else all that was reserved."""
        details = self.charger.local_cost.costs.get(session.transaction_id)
        told = self.model.management.tariffs.total_cost.get(session.transaction_id)
        if details:
            cost = Decimal(repr(details["total_cost"]["total"]["incl_tax"]))
        else:
            cost = told if told is not None else payment.reserved
        payment.settled = min(cost, payment.reserved).quantize(CENT)
        result = await self.call(call21.NotifySettlement(
            psp_ref=payment.psp_ref, status="Settled", settlement_amount=float(payment.settled),
            settlement_time=to_ocpp(utcnow()), transaction_id=session.transaction_id), suppress=False)
        payment.receipt_id, payment.receipt_url = result.receipt_id, result.receipt_url

    async def validate_vat_number(self, vat_number: str, evse_id: int | None) -> dict:
        result = await self.call(call21.VatNumberValidation(vat_number=vat_number, evse_id=evse_id), suppress=False)
        return {"status": result.status, "vat_number": result.vat_number, "status_info": result.status_info}


DIALECT = Dialect(subprotocol="ocpp2.1", link=V21Link, settings=station_device_model, wire_status=wire_status)
