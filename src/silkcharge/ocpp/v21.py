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
  may use once the CSMS decided, e.g. when the driver opted in to discharging;
* local cost: the operator's tariffs sent to the station (SetDefaultTariff,
  ChangeTransactionTariff, ClearTariffs, GetTariffs; the mapping is v21_tariffs.py) and the
  cost the station calculates with them (TransactionEvent costDetails), kept beside the
  platform's own price;
* ad-hoc payment at the charger: a transaction paid by bank card (idToken type DirectPayment)
  is accepted, its settlement (NotifySettlement) kept and answered with the receipt, a VAT
  number for a company receipt checked (VatNumberValidation), and a web payment announced to
  the station (NotifyWebPaymentStarted);
* DER control (R04): grid-code controls set on, asked of and cleared from a station's DER
  (SetDERControl, GetDERControl, ClearDERControl, from the neutral commands `set_der_control`,
  `get_der_control`, `clear_der_control`), and what the station tells of them (ReportDERControl,
  NotifyDERAlarm, NotifyDERStartStop) handed to services/der_control.py in domain/der.py's shape.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any, Protocol

from silkcharge.domain import commands as c
from silkcharge.domain.clock import parse_ocpp
from silkcharge.domain.der import DerAlarmRaised, DerControlHeld, DerStartStop
from silkcharge.domain.local_cost import StationCost
from silkcharge.domain.payments import DIRECT_PAYMENT, Settlement, SettlementStatus
from silkcharge.ocpp.adapter import OutboundCall, Session, command, on
from silkcharge.ocpp.rpc import ErrorKind, RpcError
from silkcharge.ocpp.v21_tariffs import station_cost, tariff_21
from silkcharge.ocpp.v201 import V201Adapter


class StationCosts(Protocol):
    """Where a station's own cost goes (services/station_tariffs.py)."""

    async def station_cost(self, station_id: str, station_tx_id: str, cost: StationCost) -> None: ...


class CardPayments(Protocol):
    """What the payment messages need (services/payments.py)."""

    async def card_payment(self, station_id: str, psp_ref: str) -> None: ...

    async def settled(self, station_id: str, settlement: Settlement) -> tuple[str | None, str | None]: ...

    async def vat_number(self, station_id: str, number: str) -> str | None: ...


class DerControls(Protocol):
    """Where what a station tells of its DER controls goes (services/der_control.py)."""

    async def reported(self, station_id: str, request_id: int, controls: list[DerControlHeld], more: bool) -> None: ...

    async def alarm(self, station_id: str, alarm: DerAlarmRaised) -> None: ...

    async def started_stopped(self, station_id: str, event: DerStartStop) -> None: ...


class V21Adapter(V201Adapter):
    version = "2.1"
    network_ocpp_version = "OCPP21"

    # NotifyEVChargingNeeds and every other 2.0.1 handler are inherited: the V2X parameters
    # ride in chargingNeeds, which the smart-charging service reads for both versions.

    station_costs: StationCosts | None = None
    payments: CardPayments | None = None
    der: DerControls | None = None
    """Set by the composition root; None: station costs are not kept, card payments not
    taken, VAT numbers not checked, DER reports and alarms not kept."""

    # -- ad-hoc payment and local cost --------------------------------------------------------

    async def _card(self, session: Session, p: dict[str, Any]) -> None:
        """A token of type DirectPayment is a payment the charger's terminal authorised: the
        platform takes it as a token for that one session, priced by the tariff for everyone."""
        token = p.get("idToken") or {}
        if token.get("type") == DIRECT_PAYMENT and self.payments is not None:
            await self.payments.card_payment(session.station_id, token["idToken"])

    @on("Authorize")
    async def authorize(self, session: Session, p: dict[str, Any]) -> dict[str, Any]:
        await self._card(session, p)
        return await super().authorize(session, p)

    @on("TransactionEvent")
    async def transaction_event(self, session: Session, p: dict[str, Any]) -> dict[str, Any]:
        await self._card(session, p)
        reply = await super().transaction_event(session, p)
        details = p.get("costDetails")
        if details is not None and self.station_costs is not None:
            info = p["transactionInfo"]
            cost = station_cost(p["eventType"], parse_ocpp(p["timestamp"]), details, info.get("tariffId"))
            await self.station_costs.station_cost(session.station_id, info["transactionId"], cost)
        return reply

    @on("NotifySettlement")
    async def notify_settlement(self, session: Session, p: dict[str, Any]) -> dict[str, Any]:
        if self.payments is None:
            return {}
        amount = _exact(p["settlementAmount"])
        if amount < 0:
            raise RpcError(ErrorKind.PROPERTY_CONSTRAINT_VIOLATION,
                           f"NotifySettlement.settlementAmount: {amount} is negative; a card cannot be settled below zero")
        settlement = Settlement(
            psp_ref=p["pspRef"], status=SettlementStatus(p["status"]),
            amount=amount, settled_at=parse_ocpp(p["settlementTime"]),
            station_tx_id=p.get("transactionId"), status_info=p.get("statusInfo"),
            vat_number=p.get("vatNumber"), vat_company=p.get("vatCompany"),
            terminal_receipt_url=p.get("receiptUrl"),
        )
        receipt_id, receipt_url = await self.payments.settled(session.station_id, settlement)
        reply: dict[str, Any] = {}
        if receipt_id is not None:
            reply["receiptId"] = receipt_id
        if receipt_url is not None:
            reply["receiptUrl"] = receipt_url
        return reply

    @on("VatNumberValidation")
    async def vat_number_validation(self, session: Session, p: dict[str, Any]) -> dict[str, Any]:
        number = p["vatNumber"]
        problem = "VAT numbers are not checked on this CSMS" if self.payments is None else \
            await self.payments.vat_number(session.station_id, number)
        reply: dict[str, Any] = {"vatNumber": number, "status": "Rejected" if problem else "Accepted"}
        if "evseId" in p:
            reply["evseId"] = p["evseId"]
        if problem:
            reply["statusInfo"] = {"reasonCode": "InvalidVatNumber", "additionalInfo": problem[:1024]}
        return reply

    @command("set_default_tariff")
    def set_default_tariff(self, p: c.SetDefaultTariff, ctx: dict) -> OutboundCall:
        return OutboundCall("SetDefaultTariff", {"evseId": p.evse_id, "tariff": tariff_21(ctx["tariff"])}, _read_status)

    @command("change_transaction_tariff")
    def change_transaction_tariff(self, p: c.ChangeTransactionTariff, ctx: dict) -> OutboundCall:
        return OutboundCall("ChangeTransactionTariff",
                            {"transactionId": ctx["station_tx_id"], "tariff": tariff_21(ctx["tariff"])}, _read_status)

    @command("clear_tariffs")
    def clear_tariffs(self, p: c.ClearTariffs, ctx: dict) -> OutboundCall:
        payload: dict[str, Any] = {}
        if p.tariff_codes:
            payload["tariffIds"] = list(p.tariff_codes)
        if p.evse_id is not None:
            payload["evseId"] = p.evse_id
        return OutboundCall("ClearTariffs", payload, _read_cleared)

    @command("get_tariffs")
    def get_tariffs(self, p: c.GetTariffs, ctx: dict) -> OutboundCall:
        return OutboundCall("GetTariffs", {"evseId": p.evse_id}, _read_assignments)

    @command("web_payment_started")
    def web_payment_started(self, p: c.WebPaymentStarted, ctx: dict) -> OutboundCall:
        return OutboundCall("NotifyWebPaymentStarted", {"evseId": p.evse_id, "timeout": p.timeout},
                            lambda reply: {"status": "Accepted"})

    @command("allowed_energy_transfer")
    def allowed_energy_transfer(self, p: c.AllowedEnergyTransfer, ctx: dict) -> OutboundCall:
        return OutboundCall(
            "NotifyAllowedEnergyTransfer",
            {"transactionId": ctx["station_tx_id"], "allowedEnergyTransfer": list(p.modes)},
        )

    # -- DER control (R04) ----------------------------------------------------------------------

    @command("set_der_control")
    def set_der_control(self, p: c.SetDerControl, ctx: dict) -> OutboundCall:
        payload = {"isDefault": p.is_default, "controlId": p.control_id, "controlType": p.control_type,
                   _camel(c.DER_SECTION_OF[p.control_type]): _camel_keys(p.settings())}
        return OutboundCall("SetDERControl", payload, _read_der_status)

    @command("get_der_control")
    def get_der_control(self, p: c.GetDerControl, ctx: dict) -> OutboundCall:
        payload: dict[str, Any] = {"requestId": p.request_id}
        if p.is_default is not None:
            payload["isDefault"] = p.is_default
        if p.control_type is not None:
            payload["controlType"] = p.control_type
        if p.control_id is not None:
            payload["controlId"] = p.control_id
        return OutboundCall("GetDERControl", payload, _read_der_status)

    @command("clear_der_control")
    def clear_der_control(self, p: c.ClearDerControl, ctx: dict) -> OutboundCall:
        payload: dict[str, Any] = {"isDefault": p.is_default}
        if p.control_type is not None:
            payload["controlType"] = p.control_type
        if p.control_id is not None:
            payload["controlId"] = p.control_id
        return OutboundCall("ClearDERControl", payload, _read_der_status)

    @on("ReportDERControl")
    async def report_der_control(self, session: Session, p: dict[str, Any]) -> dict[str, Any]:
        if self.der is not None:
            await self.der.reported(session.station_id, p["requestId"], _held(p), bool(p.get("tbc", False)))
        return {}

    @on("NotifyDERAlarm")
    async def notify_der_alarm(self, session: Session, p: dict[str, Any]) -> dict[str, Any]:
        if self.der is not None:
            await self.der.alarm(session.station_id, DerAlarmRaised(
                control_type=p["controlType"], at=parse_ocpp(p["timestamp"]),
                grid_event_fault=p.get("gridEventFault"), alarm_ended=bool(p.get("alarmEnded", False)),
                extra_info=p.get("extraInfo")))
        return {}

    @on("NotifyDERStartStop")
    async def notify_der_start_stop(self, session: Session, p: dict[str, Any]) -> dict[str, Any]:
        if self.der is not None:
            await self.der.started_stopped(session.station_id, DerStartStop(
                control_id=p["controlId"], started=bool(p["started"]), at=parse_ocpp(p["timestamp"]),
                superseded_ids=tuple(p.get("supersededIds", ()))))
        return {}


# ReportDERControl: each list of the report, the key of its body in an item, and the control
# type of its items (a curve item names its own, curveType).
_REPORTED = {
    "curve": ("curve", None), "enterService": ("enterService", "EnterService"),
    "fixedPFAbsorb": ("fixedPF", "FixedPFAbsorb"), "fixedPFInject": ("fixedPF", "FixedPFInject"),
    "fixedVar": ("fixedVar", "FixedVar"), "freqDroop": ("freqDroop", "FreqDroop"),
    "gradient": ("gradient", "Gradients"), "limitMaxDischarge": ("limitMaxDischarge", "LimitMaxDischarge"),
}
_CAMEL = {"fixed_pf_absorb": "fixedPFAbsorb", "fixed_pf_inject": "fixedPFInject"}


def _camel(name: str) -> str:
    if name in _CAMEL:
        return _CAMEL[name]
    first, *rest = name.split("_")
    return first + "".join(part[:1].upper() + part[1:] for part in rest)


def _camel_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {_camel(k): _camel_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_camel_keys(v) for v in value]
    return value


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _snake_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {_snake(k): _snake_keys(v) for k, v in value.items() if k != "customData"}
    if isinstance(value, list):
        return [_snake_keys(v) for v in value]
    return value


def _held(p: dict[str, Any]) -> list[DerControlHeld]:
    held = []
    for key, (body, control_type) in _REPORTED.items():
        for item in p.get(key, ()):
            held.append(DerControlHeld(
                control_id=item["id"], control_type=control_type or item["curveType"],
                is_default=bool(item.get("isDefault", False)), superseded=bool(item.get("isSuperseded", False)),
                settings=_snake_keys(item[body])))
    return held


def _read_der_status(reply: dict[str, Any]) -> dict[str, Any]:
    details = _read_status(reply)
    if reply.get("supersededIds"):
        details["superseded_ids"] = list(reply["supersededIds"])
    return details


def _exact(value: Any) -> Decimal:
    return Decimal(repr(value) if isinstance(value, float) else str(value))


def _read_status(reply: dict[str, Any]) -> dict[str, Any]:
    details: dict[str, Any] = {"status": reply["status"]}
    if reply.get("statusInfo"):
        details["reason"] = reply["statusInfo"].get("additionalInfo") or reply["statusInfo"]["reasonCode"]
    return details


def _read_cleared(reply: dict[str, Any]) -> dict[str, Any]:
    results = reply["clearTariffsResult"]
    cleared = [r["tariffId"] for r in results if r["status"] == "Accepted" and r.get("tariffId")]
    status = "Accepted" if any(r["status"] == "Accepted" for r in results) else results[0]["status"]
    return {"status": status, "cleared": cleared, "results": results}


def _read_assignments(reply: dict[str, Any]) -> dict[str, Any]:
    assignments = [
        {"tariff_id": a["tariffId"], "kind": a["tariffKind"], "evse_ids": a.get("evseIds", []),
         "id_tokens": a.get("idTokens", []), "valid_from": a.get("validFrom")}
        for a in reply.get("tariffAssignments", [])
    ]
    return {"status": reply["status"], "assignments": assignments}
