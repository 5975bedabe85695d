"""What an ISO 15118 vehicle says it needs (OCPP 2.0.1 NotifyEVChargingNeeds, K15-K17), in
the units load management works in: amperes per phase on the AC side of the EVSE.

AC parameters give the car's own current range per phase. DC parameters give the battery side:
the most power (evMaxPower, or evMaxCurrent × evMaxVoltage), which becomes the AC current per
phase that feeds it, W / (V × phases). Energy and departure time tell how much current the car
needs from now on to leave with what it asked for.

OCPP 2.1 keeps that shape and adds bidirectional charging (V2X): the transfer modes the car
offers (`availableEnergyTransfer`; the *_BPT ones discharge too) and its V2X parameters: the most
it discharges (maxDischargePower) and how much energy it may give back (a negative
evMinV2XEnergyRequest). They are read here the same way whichever version carried them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from silkcharge.domain.clock import parse_ocpp


@dataclass(frozen=True)
class EvNeeds:
    transfer: str
    energy_wh: float | None = None
    min_current_a: float | None = None  # AC, per phase
    max_current_a: float | None = None  # AC, per phase
    max_power_w: float | None = None  # DC, battery side
    departure: datetime | None = None
    offered: tuple[str, ...] = ()  # 2.1 availableEnergyTransfer
    max_discharge_w: float | None = None  # 2.1 V2X: the most the car discharges
    dischargeable_wh: float | None = None  # 2.1 V2X: what it may give back (from evMinV2XEnergyRequest)

    @property
    def bidirectional(self) -> bool:
        """The car offers a bidirectional transfer mode (AC_BPT, DC_BPT, ...)."""
        return any("BPT" in mode for mode in (self.offered or (self.transfer,)))

    @classmethod
    def from_ocpp201(cls, needs: dict[str, Any]) -> EvNeeds:
        """Read a ChargingNeedsType (camelCase, already schema-validated)."""
        ac, dc = needs.get("acChargingParameters"), needs.get("dcChargingParameters")
        departure = needs.get("departureTime")
        energy = (ac or dc or {}).get("energyAmount")
        power = None
        if dc:
            power = dc.get("evMaxPower")
            if power is None:
                power = float(dc["evMaxCurrent"]) * float(dc["evMaxVoltage"])
        v2x = needs.get("v2xChargingParameters") or {}
        floor = v2x.get("evMinV2XEnergyRequest")
        return cls(
            offered=tuple(needs.get("availableEnergyTransfer", ())),
            max_discharge_w=float(v2x["maxDischargePower"]) if "maxDischargePower" in v2x else None,
            dischargeable_wh=max(0.0, -float(floor)) if floor is not None else None,
            transfer=needs["requestedEnergyTransfer"],
            energy_wh=float(energy) if energy is not None else None,
            min_current_a=float(ac["evMinCurrent"]) if ac else None,
            max_current_a=float(ac["evMaxCurrent"]) if ac else None,
            max_power_w=float(power) if power is not None else None,
            departure=parse_ocpp(departure) if departure else None,
        )

    def max_a(self, voltage: float, phases: int) -> float | None:
        """The most current per phase the car takes, None when it does not say."""
        if self.max_current_a is not None:
            return self.max_current_a
        if self.max_power_w is not None:
            return self.max_power_w / (voltage * phases)
        return None

    def needed_a(self, now: datetime, delivered_wh: float, voltage: float, phases: int) -> float | None:
        """The current per phase that delivers the rest of the energy by the departure time,
        None when the car gives no energy or no departure; infinite once the time has passed."""
        if self.energy_wh is None or self.departure is None:
            return None
        left_wh = max(0.0, self.energy_wh - delivered_wh)
        hours = (self.departure - now).total_seconds() / 3600
        if left_wh == 0:
            return 0.0
        if hours <= 0:
            return float("inf")
        return left_wh / hours / (voltage * phases)
