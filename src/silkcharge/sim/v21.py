"""A simulated station speaking OCPP 2.1: the 2.0.1 link over `ocpp2.1`, validated against the
2.1 schemas (2.1 keeps every 2.0.1 message), plus what 2.1 adds for bidirectional charging:
the car's V2X parameters in NotifyEVChargingNeeds, discharge limits and setpoints in its
charging profiles (sim/smart.py), and NotifyAllowedEnergyTransfer; and for local cost and
payment (sim/local_cost.py): the tariffs the CSMS sends, the session's cost in its Ended event,
a bank card terminal that settles it (NotifySettlement), VatNumberValidation and
NotifyWebPaymentStarted."""

from __future__ import annotations

from decimal import Decimal

from ocpp.routing import on
from ocpp.v21 import call as call21
from ocpp.v21 import call_result as result21

from silkcharge.domain.clock import to_ocpp, utcnow
from silkcharge.domain.connectors import CurrentType
from silkcharge.sim.device_model import station_device_model, wire_status
from silkcharge.sim.link import Dialect
from silkcharge.sim.local_cost import CENT
from silkcharge.sim.meter import MeterSample
from silkcharge.sim.state import Session, StopReason
from silkcharge.sim.v201 import V201Link


class V21Link(V201Link):
    _call = call21
    _call_result = result21
    _ocpp_version = "2.1"

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
