"""The device-model vocabulary shared by services and adapters: where a variable sits, a monitor
on it, an event a station reports, a message on its screen (OCPP 2.0.1 blocks B, N and O,
spelled the way the specification spells them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

SEVERITIES = (
    "Danger", "HardwareFailure", "SystemFailure", "Critical", "Error",
    "Alert", "Warning", "Notice", "Informational", "Debug",
)
"""OCPP 2.0.1 monitor severity 0..9, most severe first."""


@dataclass(frozen=True)
class VariableAddress:
    """A variable of a component, the component optionally on an EVSE (and connector)."""

    component: str
    variable: str
    component_instance: str | None = None
    evse_id: int | None = None
    connector_id: int | None = None
    variable_instance: str | None = None

    def label(self) -> str:
        """Component[instance]@evse/connector.Variable[instance], for people and logs."""
        text = self.component
        if self.component_instance:
            text += f"[{self.component_instance}]"
        if self.evse_id is not None:
            text += f"@{self.evse_id}" + (f"/{self.connector_id}" if self.connector_id is not None else "")
        text += f".{self.variable}"
        if self.variable_instance:
            text += f"[{self.variable_instance}]"
        return text

    def fields(self) -> dict[str, Any]:
        return {
            "component": self.component, "component_instance": self.component_instance,
            "evse_id": self.evse_id, "connector_id": self.connector_id,
            "variable": self.variable, "variable_instance": self.variable_instance,
        }


@dataclass(frozen=True)
class MonitorSetting:
    """A monitor as a station holds it (N02 report, N04 result)."""

    monitor_id: int
    address: VariableAddress
    type: str
    value: Decimal
    severity: int
    transaction: bool = False


@dataclass(frozen=True)
class DeviceEventReport:
    """One entry of a NotifyEvent: a hard-wired notification or what a monitor saw (N07, N08)."""

    event_id: int
    occurred_at: datetime
    trigger: str
    actual_value: str
    address: VariableAddress
    notification_type: str
    cause: int | None = None
    tech_code: str | None = None
    tech_info: str | None = None
    cleared: bool | None = None
    transaction_id: str | None = None
    monitor_id: int | None = None


@dataclass(frozen=True)
class DisplayMessageInfo:
    """A message as a station holds it (O03/O04 report, O01 request): one language each."""

    message_id: int
    priority: str
    content: str
    format: str = "UTF8"
    language: str | None = None
    state: str | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    transaction_id: str | None = None
    display: dict[str, Any] | None = None


def severity_name(severity: int | None) -> str | None:
    if severity is None or not 0 <= severity < len(SEVERITIES):
        return None
    return SEVERITIES[severity]
