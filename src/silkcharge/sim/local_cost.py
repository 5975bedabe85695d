"""A simulated 2.1 station's local cost and payment terminal.

It keeps the tariffs the CSMS sends (a default per EVSE, 0 for all; one per transaction),
prices a session with them when it ends (the 2.1 costDetails), and models a bank card
terminal: it reserves an amount, and at the end settles what the session cost, at most what it
reserved. The calculation is the simulator's, deliberately simple: for each dimension the
first price without conditions applies (the platform's own pricing honours every restriction;
a tariff with conditions can so make the two differ, which the operator then sees).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

CENT = Decimal("0.01")


@dataclass
class CardPayment:
    """One card at the terminal: the amount reserved, then what was settled and the receipt."""

    psp_ref: str
    reserved: Decimal
    settled: Decimal | None = None
    receipt_id: str | None = None
    receipt_url: str | None = None


@dataclass
class LocalCost:
    defaults: dict[int, dict[str, Any]] = field(default_factory=dict)
    """EVSE id (0: the whole station) -> the default tariff (snake_case, as the ocpp package
    hands it over)."""
    per_transaction: dict[str, dict[str, Any]] = field(default_factory=dict)
    payments: dict[str, CardPayment] = field(default_factory=dict)
    """Payment reference (the session's DirectPayment idToken) -> the card that pays for it."""
    web_payments: dict[int, int] = field(default_factory=dict)
    """EVSE id -> seconds a web payment was announced for (NotifyWebPaymentStarted)."""
    costs: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Transaction id -> the costDetails sent with its Ended event."""

    def set_default(self, evse_id: int, tariff: dict[str, Any]) -> str:
        held = {t["tariff_id"] for e, t in self.defaults.items() if e != evse_id}
        if tariff["tariff_id"] in held and self._by_id(tariff["tariff_id"]) != tariff:
            return "DuplicateTariffId"
        self.defaults[evse_id] = tariff
        return "Accepted"

    def _by_id(self, tariff_id: str) -> dict[str, Any] | None:
        return next((t for t in self.defaults.values() if t["tariff_id"] == tariff_id), None)

    def clear(self, tariff_ids: list[str] | None, evse_id: int | None) -> list[dict[str, Any]]:
        matching = [(e, t["tariff_id"]) for e, t in self.defaults.items()
                    if (tariff_ids is None or t["tariff_id"] in tariff_ids) and evse_id in (None, e)]
        for e, _ in matching:
            del self.defaults[e]
        if not matching:
            return [{"status": "NoTariff", **({"tariff_id": tariff_ids[0]} if tariff_ids else {})}]
        return [{"tariff_id": tariff_id, "status": "Accepted"} for _, tariff_id in matching]

    def assignments(self, evse_id: int) -> list[dict[str, Any]]:
        return [{"tariff_id": t["tariff_id"], "tariff_kind": "DefaultTariff", "evse_ids": [e]}
                for e, t in sorted(self.defaults.items()) if evse_id in (0, e)]

    def tariff_for(self, transaction_id: str, evse_id: int) -> dict[str, Any] | None:
        return self.per_transaction.get(transaction_id) or self.defaults.get(evse_id) or self.defaults.get(0)

    def cost_details(self, tariff: dict[str, Any], energy_wh: Decimal, charging_s: int, started: str) -> dict[str, Any]:
        """The 2.1 CostDetailsType (snake_case) of a session under `tariff`."""
        parts = {
            "energy": (_first(tariff, "energy", "price_kwh"), energy_wh / 1000),
            "charging_time": (_first(tariff, "charging_time", "price_minute"), Decimal(charging_s) / 60),
            "fixed": (_first(tariff, "fixed_fee", "price_fixed"), Decimal(1)),
        }
        excl, incl, total_cost = Decimal(0), Decimal(0), {}
        for name, ((price, tax), quantity) in parts.items():
            if price is None:
                continue
            net = (price * quantity).quantize(CENT, ROUND_HALF_UP)
            gross = (net * (1 + tax / 100)).quantize(CENT, ROUND_HALF_UP)
            total_cost[name] = {"excl_tax": float(net), "incl_tax": float(gross)}
            excl, incl = excl + net, incl + gross
        return {
            "total_cost": {"currency": tariff["currency"], "type_of_cost": "NormalCost",
                           "total": {"excl_tax": float(excl), "incl_tax": float(incl)}, **total_cost},
            "total_usage": {"energy": float(energy_wh), "charging_time": charging_s, "idle_time": 0},
            "charging_periods": [{"start_period": started, "tariff_id": tariff["tariff_id"]}],
        }


def _first(tariff: dict[str, Any], dimension: str, key: str) -> tuple[Decimal | None, Decimal]:
    """The first unconditional price of a dimension, and the dimension's tax rate (%)."""
    part = tariff.get(dimension) or {}
    price = next((p[key] for p in part.get("prices", []) if not p.get("conditions")), None)
    tax = sum((Decimal(repr(r["tax"])) for r in part.get("tax_rates", [])), Decimal(0))
    return (None if price is None else Decimal(repr(price))), tax
