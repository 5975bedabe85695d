"""Domain events: what happened on the network, published for live views and other services."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Event:
    station_id: str
    at: datetime

    @property
    def name(self) -> str:
        return type(self).__name__

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["event"] = self.name
        return data


@dataclass(frozen=True, slots=True)
class StationConnected(Event):
    ocpp_version: str


@dataclass(frozen=True, slots=True)
class StationDisconnected(Event):
    reason: str


@dataclass(frozen=True, slots=True)
class StationWentOffline(Event):
    silent_for_seconds: int


@dataclass(frozen=True, slots=True)
class StationBooted(Event):
    status: str


@dataclass(frozen=True, slots=True)
class ConnectorStatusChanged(Event):
    evse_id: int
    connector_id: int
    status: str
    error_code: str | None


@dataclass(frozen=True, slots=True)
class TransactionStarted(Event):
    transaction_id: int
    evse_id: int
    id_token: str | None


@dataclass(frozen=True, slots=True)
class TransactionEnded(Event):
    transaction_id: int
    energy_wh: str | None
    reason: str | None


@dataclass(frozen=True, slots=True)
class CdrCreated(Event):
    """Billing made a session's CDR (published after its commit): roaming pushes it to the
    eMSP of the driver's token (roaming/session_push.py)."""

    cdr_id: str
    transaction_id: int | None


@dataclass(frozen=True, slots=True)
class TariffsChanged(Event):
    """A tariff was published or deleted (station_id ""): what the stations of `site_id` (every
    site of the operator when None) show of their tariff may have changed."""

    operator_id: int
    site_id: int | None


@dataclass(frozen=True, slots=True)
class ChargingProfilesReported(Event):
    """A part of a 2.0.1 ReportChargingProfiles (K09) was kept: the station's page shows it."""

    request_id: int
    evse_id: int
    more_to_come: bool


@dataclass(frozen=True, slots=True)
class ChargingProfilesChanged(Event):
    """The charging profiles silkcharge installed on a station changed: a SetChargingProfile
    the station accepted was recorded, or a ClearChargingProfile's profiles forgotten (published
    after the change is committed). `evse_id` is the EVSE it was on; 0 or None the whole station
    (None also when a clear by id or purpose does not say where). `source` is who changed it, as
    recorded: "operator", "load", "roaming", ..."""

    evse_id: int | None
    source: str


@dataclass(frozen=True, slots=True)
class ActiveProfilePushed(Event):
    """A round of roaming/profile_push.py recorded its outcome for a partner's session at the
    station (committed): `result` ACCEPTED when the PUT is in the outbox, REJECTED or UNKNOWN
    when the station could not say what it plans. The console's Roaming page reloads on it."""

    session_id: str
    partner_id: int
    result: str


@dataclass(frozen=True, slots=True)
class PartnerObjectReceived(Event):
    """A partner CPO sent us, its eMSP, something about our driver's session at its charger, and
    what we hold changed (committed): a Session put or patched (`module` "sessions"), a CDR
    ("cdrs"), an ActiveChargingProfile pushed or the result of a request we sent
    ("chargingprofiles"). `station_id` is "": the charger is the partner's; the live feed shows
    the event to the partner's tenant. The console's Roaming page reloads on it."""

    partner_id: int
    module: str
    object_id: str


@dataclass(frozen=True, slots=True)
class SmartChargingProblem(Event):
    """Load management could not do what it should (station_id "" for a whole site)."""

    site: str
    kind: str
    reason: str
    evse_id: int | None = None


# -- device model, display messages, external limits (issue 13) ---------------------------------


@dataclass(frozen=True, slots=True)
class DeviceModelChanged(Event):
    """What silkcharge knows of a station's monitors, display messages, customer information,
    firmware publications or external limits changed (`what` names which)."""

    what: str


@dataclass(frozen=True, slots=True)
class DeviceEventReported(Event):
    """A NotifyEvent entry; `severity` is its monitor's, when silkcharge knows the monitor."""

    event_id: int
    variable: str
    actual_value: str
    monitor_id: int | None
    severity: int | None
    cleared: bool | None


@dataclass(frozen=True, slots=True)
class ExternalChargingLimitChanged(Event):
    """An energy management system or grid operator set or cleared a limit on a station."""

    evse_id: int
    source: str
    cleared: bool


@dataclass(frozen=True, slots=True)
class TransactionEventsMissing(Event):
    """A 2.0.1 transaction's events skipped sequence numbers (E14): are they still queued?"""

    transaction_id: int
    station_tx_id: str
    missing: tuple[int, ...]
