"""A simulated station's state in one vocabulary; the v16 and v201 links translate it.

State outlives connections: a station that loses its socket keeps its sessions, meter
registers, availability, local list and settings, as a real one does.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from silkcharge.sim.meter import Meter
from silkcharge.sim.spec import ConnectorSpec


class ConnectorStatus(StrEnum):
    """OCPP 1.6 ChargePointStatus names; 2.0.1 folds the in-use ones into Occupied."""

    AVAILABLE = "Available"
    PREPARING = "Preparing"
    CHARGING = "Charging"
    SUSPENDED_EV = "SuspendedEV"
    FINISHING = "Finishing"
    RESERVED = "Reserved"
    UNAVAILABLE = "Unavailable"
    FAULTED = "Faulted"


class StopReason(StrEnum):
    """Why a transaction ended: the 1.6 Reason names plus the faults 2.0.1 names apart."""

    LOCAL = "Local"
    REMOTE = "Remote"
    EV_DISCONNECTED = "EVDisconnected"
    DEAUTHORIZED = "DeAuthorized"
    HARD_RESET = "HardReset"
    SOFT_RESET = "SoftReset"
    IMMEDIATE_RESET = "ImmediateReset"
    UNLOCK_COMMAND = "UnlockCommand"
    EMERGENCY_STOP = "EmergencyStop"
    MASTER_PASS = "MasterPass"  # 2.0.1 C16: stopped with a master pass card
    POWER_LOSS = "PowerLoss"
    REBOOT = "Reboot"
    GROUND_FAULT = "GroundFault"
    OVERCURRENT_FAULT = "OvercurrentFault"
    OTHER = "Other"

    @classmethod
    def for_fault(cls, error_code: str) -> StopReason:
        return {"GroundFailure": cls.GROUND_FAULT, "OverCurrentFailure": cls.OVERCURRENT_FAULT}.get(
            error_code, cls.OTHER
        )


class BootReason(StrEnum):
    """Why the station (re)connects; OCPP 2.0.1 BootReasonEnumType names."""

    POWER_UP = "PowerUp"
    REMOTE_RESET = "RemoteReset"
    TRIGGERED = "Triggered"
    UNKNOWN = "Unknown"


@dataclass(frozen=True)
class IdToken:
    """An idToken with its 2.0.1 type; 1.6 only carries the value (as idTag)."""

    value: str
    type: str = "ISO14443"


@dataclass(frozen=True)
class Authorization:
    """What the CSMS (or the offline lists) said of a token: its status and its group."""

    status: str
    group: str | None = None


@dataclass(frozen=True)
class Fault:
    error_code: str
    vendor_error: str | None = None


@dataclass
class Session:
    """One transaction. 1.6 learns `transaction_id` from the CSMS; 2.0.1 makes it here."""

    connector: ConnectorState
    id_token: IdToken
    started_at: datetime
    meter_start_wh: int
    remote_start_id: int | None = None
    reservation_id: int | None = None
    stopped_by: IdToken | None = None  # a token other than the starter's that ended it
    transaction_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    seq_no: int = 0
    suspended: bool = False
    ending: bool = False
    halt: asyncio.Event = field(default_factory=asyncio.Event)  # stops metering between samples
    meter_task: asyncio.Task | None = None
    # 2.1: the energy transfer modes the CSMS allows (NotifyAllowedEnergyTransfer); None: not told
    allowed_energy_transfer: tuple[str, ...] | None = None

    def next_seq_no(self) -> int:
        seq_no, self.seq_no = self.seq_no, self.seq_no + 1
        return seq_no


@dataclass
class ConnectorState:
    spec: ConnectorSpec
    position: int  # 1-based; the OCPP 1.6 connectorId
    meter: Meter
    operative: bool = True
    pending_operative: bool | None = None  # a change scheduled until the session ends
    plugged: bool = False
    fault: Fault | None = None
    session: Session | None = None
    announced: str | None = None  # last status sent on this connection
    reserved: int | None = None  # the reservation holding this connector
    awaiting_reset: bool = False  # an OnIdle reset is scheduled: no new session starts here
    # the other connectors of this connector's EVSE: an EVSE charges one car at a time, so while
    # one of them is in use this one cannot be (OCPP 2.x: one transaction per EVSE)
    neighbours: tuple[ConnectorState, ...] = field(default=(), repr=False, compare=False)

    @property
    def in_use(self) -> bool:
        return self.plugged or self.session is not None

    @property
    def evse_busy(self) -> bool:
        """Another connector of this EVSE is in use (this one then reports Unavailable)."""
        return any(n.in_use for n in self.neighbours)

    @property
    def evse_reserved(self) -> bool:
        """A reservation holds this connector or another of its EVSE (2.x reserves EVSEs)."""
        return self.reserved is not None or any(n.reserved is not None for n in self.neighbours)

    @property
    def status(self) -> ConnectorStatus:
        if self.fault is not None:
            return ConnectorStatus.FAULTED
        if self.session is not None:
            if self.session.ending:
                return ConnectorStatus.FINISHING
            if self.session.suspended:
                return ConnectorStatus.SUSPENDED_EV
            return ConnectorStatus.CHARGING
        if self.plugged:
            return ConnectorStatus.PREPARING
        if not self.operative or self.awaiting_reset or self.evse_busy:
            return ConnectorStatus.UNAVAILABLE
        if self.evse_reserved:
            return ConnectorStatus.RESERVED
        return ConnectorStatus.AVAILABLE

    @property
    def free(self) -> bool:
        return self.status is ConnectorStatus.AVAILABLE

    @property
    def evse_id(self) -> int:
        return self.spec.evse_id

    @property
    def connector_id(self) -> int:
        return self.spec.connector_id


@dataclass
class Tunables:
    """Settings a CSMS can change that the station itself acts on (seconds, flags)."""

    heartbeat_interval: float
    meter_interval: float
    authorize_remote_start: bool = False
    local_auth_list_enabled: bool = True
    auth_cache_enabled: bool = True
    local_authorize_offline: bool = True


def setting_text(value: float | bool) -> str:
    """A tunable as OCPP configuration text: 'true'/'false', whole seconds without '.0'."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(int(value)) if value == int(value) else str(value)


def setting_value(text: str, boolean: bool) -> float | bool:
    return text.strip().lower() == "true" if boolean else float(text)


class ListUpdate(StrEnum):
    ACCEPTED = "Accepted"
    FAILED = "Failed"
    VERSION_MISMATCH = "VersionMismatch"


@dataclass
class LocalAuthList:
    """The local authorization list: idToken -> idTagInfo/idTokenInfo status, with a version."""

    version: int = 0
    entries: dict[str, str] = field(default_factory=dict)
    max_length: int = 1000

    def update(self, version: int, full: bool, changes: dict[str, str | None]) -> ListUpdate:
        """Apply a Full or Differential update; a None status removes the token."""
        if not full and version <= self.version:
            return ListUpdate.VERSION_MISMATCH
        entries = {} if full else dict(self.entries)
        for token, status in changes.items():
            if status is None:
                entries.pop(token, None)
            else:
                entries[token] = status
        if len(entries) > self.max_length:
            return ListUpdate.FAILED
        self.version, self.entries = version, entries
        return ListUpdate.ACCEPTED
