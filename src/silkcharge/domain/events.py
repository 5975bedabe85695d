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
class SmartChargingProblem(Event):
    """Load management could not do what it should (station_id "" for a whole site)."""

    site: str
    kind: str
    reason: str
    evse_id: int | None = None
