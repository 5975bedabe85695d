"""OCPP 2.1: every 2.0.1 use case over the `ocpp2.1` subprotocol, and what 2.1 adds.

2.1 keeps the 2.0.1 messages (a superset: new optional fields, wider enums, longer strings), so
`V21Adapter` is the 2.0.1 adapter, validated against the 2.1 schemas, with what changes:

* charging profiles may carry V2X fields per period (dischargeLimit, setpoint, operationMode;
  smart/profiles.py `to_ocpp21`);
* a NetworkConnectionProfile names OCPP21;
* NotifyEVChargingNeeds may carry V2X parameters (minimum and maximum discharge power, the energy
  the EV can give, its state-of-charge bounds) and the energy transfer modes it offers, handed to
  smart charging in the neutral shape of smart/ev_needs.py;
* NotifyAllowedEnergyTransfer tells a station which transfer modes (e.g. AC_BPT) a transaction
  may use once the CSMS decided, e.g. when the driver opted in to discharging.
"""

from __future__ import annotations

from silkcharge.domain import commands as c
from silkcharge.ocpp.adapter import OutboundCall, command
from silkcharge.ocpp.v201 import V201Adapter


class V21Adapter(V201Adapter):
    version = "2.1"
    network_ocpp_version = "OCPP21"

    # NotifyEVChargingNeeds and every other 2.0.1 handler are inherited: the V2X parameters
    # ride in chargingNeeds, which the smart-charging service reads for both versions.

    @command("allowed_energy_transfer")
    def allowed_energy_transfer(self, p: c.AllowedEnergyTransfer, ctx: dict) -> OutboundCall:
        return OutboundCall(
            "NotifyAllowedEnergyTransfer",
            {"transactionId": ctx["station_tx_id"], "allowedEnergyTransfer": list(p.modes)},
        )
