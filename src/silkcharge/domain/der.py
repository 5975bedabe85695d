"""OCPP 2.1 DER control (R04) in the platform's own words: a control a station reports holding,
an alarm its DER raised, a control that started or stopped. The commands that set, ask for and
clear controls are in domain/commands.py (`SetDerControl`, `GetDerControl`, `ClearDerControl`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class DerControlHeld:
    """One control as a station listed it (ReportDERControl); `settings` in the neutral vocabulary
    of the control's section (domain/commands.py `DER_SECTION_OF`)."""

    control_id: str
    control_type: str
    is_default: bool
    superseded: bool
    settings: dict[str, Any]


@dataclass(frozen=True)
class DerAlarmRaised:
    """NotifyDERAlarm: the control whose limits were crossed, the grid event, and whether it ended."""

    control_type: str
    at: datetime
    grid_event_fault: str | None = None
    alarm_ended: bool = False
    extra_info: str | None = None


@dataclass(frozen=True)
class DerStartStop:
    """NotifyDERStartStop: a (scheduled) control started or stopped, and those it superseded."""

    control_id: str
    started: bool
    at: datetime
    superseded_ids: tuple[str, ...] = field(default_factory=tuple)
