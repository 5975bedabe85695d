"""A simulated station speaking OCPP 2.1: the 2.0.1 link over `ocpp2.1`, validated against the
2.1 schemas (2.1 keeps every 2.0.1 message), plus what 2.1 adds for bidirectional charging:
the car's V2X parameters in NotifyEVChargingNeeds, discharge limits and setpoints in its
charging profiles (sim/smart.py), and NotifyAllowedEnergyTransfer."""

from __future__ import annotations

from decimal import Decimal

from ocpp.routing import on
from ocpp.v21 import call as call21
from ocpp.v21 import call_result as result21

from silkcharge.domain.connectors import CurrentType
from silkcharge.sim.device_model import station_device_model, wire_status
from silkcharge.sim.link import Dialect
from silkcharge.sim.state import Session
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


DIALECT = Dialect(subprotocol="ocpp2.1", link=V21Link, settings=station_device_model, wire_status=wire_status)
