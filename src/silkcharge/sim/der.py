"""A simulated 2.1 station's DER (the inverter of a bidirectional charger) and its grid-code
controls (OCPP 2.1 R04), kept as a real station keeps them: SetDERControl stores a control (a
newer one of the same type and default-ness supersedes the older), GetDERControl reports them in
ReportDERControl, ClearDERControl removes them; a scheduled control (with a start time) tells
the CSMS when it starts and stops (NotifyDERStartStop), and a grid event the DER sees raises a
NotifyDERAlarm for the control it concerns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# The list of a ReportDERControl each control type is reported in, and the key of its body.
SECTION = {
    "EnterService": ("enter_service", "enterService", "enterService"),
    "FixedPFAbsorb": ("fixed_pf_absorb", "fixedPFAbsorb", "fixedPF"),
    "FixedPFInject": ("fixed_pf_inject", "fixedPFInject", "fixedPF"),
    "FixedVar": ("fixed_var", "fixedVar", "fixedVar"),
    "FreqDroop": ("freq_droop", "freqDroop", "freqDroop"),
    "Gradients": ("gradient", "gradient", "gradient"),
    "LimitMaxDischarge": ("limit_max_discharge", "limitMaxDischarge", "limitMaxDischarge"),
}
CURVE = ("curve", "curve", "curve")
# Which control a grid event trips (what the DER alarms about when it sees one)
TRIPS = {
    "OverVoltage": "HVMustTrip", "UnderVoltage": "LVMustTrip", "OverFrequency": "HFMustTrip",
    "UnderFrequency": "LFMustTrip", "LowInputPower": "PowerMonitoringMustTrip",
}
SUPPORTED = frozenset({
    "EnterService", "FreqDroop", "FreqWatt", "FixedPFAbsorb", "FixedPFInject", "FixedVar", "Gradients",
    "HFMustTrip", "HFMayTrip", "HVMustTrip", "HVMomCess", "HVMayTrip", "LimitMaxDischarge", "LFMustTrip",
    "LVMustTrip", "LVMomCess", "LVMayTrip", "PowerMonitoringMustTrip", "VoltVar", "VoltWatt", "WattPF", "WattVar",
})


def section_of(control_type: str) -> tuple[str, str, str]:
    """(SetDERControl field, ReportDERControl list, body key of a reported item)."""
    return SECTION.get(control_type, CURVE)


@dataclass
class HeldControl:
    control_id: str
    control_type: str
    is_default: bool
    settings: dict[str, Any]  # as received: snake_case keys
    superseded: bool = False
    started: bool = False


@dataclass
class DerControls:
    held: dict[str, HeldControl] = field(default_factory=dict)
    supported: frozenset[str] = SUPPORTED

    def set(self, control_id: str, control_type: str, is_default: bool, settings: dict[str, Any]) -> tuple[str, list[str]]:
        """The station's status, and the ids of the controls the new one supersedes."""
        if control_type not in self.supported:
            return "NotSupported", []
        old = self.held.get(control_id)
        if old is not None and old.control_type != control_type:
            return "Rejected", []
        superseded = [c.control_id for c in self.held.values()
                      if c.control_type == control_type and c.is_default == is_default
                      and c.control_id != control_id and not c.superseded]
        for control_id_ in superseded:
            self.held[control_id_].superseded = True
        self.held[control_id] = HeldControl(control_id, control_type, is_default, settings)
        return "Accepted", superseded

    def matching(self, is_default: bool | None, control_type: str | None, control_id: str | None) -> list[HeldControl]:
        return [c for c in self.held.values()
                if (is_default is None or c.is_default == is_default)
                and (control_type is None or c.control_type == control_type)
                and (control_id is None or c.control_id == control_id)]

    def clear(self, is_default: bool, control_type: str | None, control_id: str | None) -> str:
        gone = self.matching(is_default, control_type, control_id)
        for control in gone:
            del self.held[control.control_id]
        return "Accepted" if gone else "NotFound"

    def report(self, controls: list[HeldControl]) -> dict[str, list[dict[str, Any]]]:
        """ReportDERControl's lists, keyed and cased as the 2.1 schema has them."""
        lists: dict[str, list[dict[str, Any]]] = {}
        for control in controls:
            _, listed, body = section_of(control.control_type)
            item: dict[str, Any] = {"id": control.control_id, body: camel(control.settings)}
            if listed == "curve":
                item["curveType"] = control.control_type
            if listed not in ("enterService", "gradient"):  # those two carry no flags
                item["isDefault"], item["isSuperseded"] = control.is_default, control.superseded
            lists.setdefault(listed, []).append(item)
        return lists


def camel(value: Any) -> Any:
    if isinstance(value, dict):
        return {_camel(k): camel(v) for k, v in value.items()}
    if isinstance(value, list):
        return [camel(v) for v in value]
    return value


def _camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(part[:1].upper() + part[1:] for part in rest)
