"""What a simulated station is: its identity, OCPP version and connectors, and the fleet file.

A fleet file is a JSON list of station objects with exactly the fields of `StationSpec`;
connectors are a list of objects with the fields of `ConnectorSpec`, power as a string so that
no float sneaks into a rating ("22", "7.4").
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from decimal import Decimal, InvalidOperation
from pathlib import Path

from silkcharge.domain.connectors import ConnectorStandard, parse_standard

OCPP_VERSIONS = ("1.6", "2.0.1")


class FleetFileError(ValueError):
    """A fleet file that cannot describe stations; the message names the entry and the field."""


@dataclass(frozen=True)
class ConnectorSpec:
    """One connector. OCPP 1.6 numbers connectors by their 1-based position in the station."""

    evse_id: int
    connector_id: int
    standard: ConnectorStandard
    max_power_kw: Decimal


@dataclass(frozen=True)
class StationSpec:
    station_id: str
    password: str
    ocpp_version: str  # "1.6" | "2.0.1"
    vendor: str
    model: str
    firmware_version: str
    connectors: tuple[ConnectorSpec, ...]

    def __post_init__(self) -> None:
        if self.ocpp_version not in OCPP_VERSIONS:
            raise ValueError(
                f"station {self.station_id}: OCPP version {self.ocpp_version!r} is not "
                f"simulated; use one of {', '.join(OCPP_VERSIONS)}"
            )
        if not self.connectors:
            raise ValueError(f"station {self.station_id}: a station needs at least one connector")
        keys = [(c.evse_id, c.connector_id) for c in self.connectors]
        if len(set(keys)) != len(keys):
            raise ValueError(f"station {self.station_id}: (evse_id, connector_id) repeats")


def load_fleet(path: str | Path) -> list[StationSpec]:
    """Read a fleet file; raise `FleetFileError` naming the first entry that is wrong."""
    try:
        entries = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise FleetFileError(f"{path}: cannot read the fleet file: {error}") from error
    if not isinstance(entries, list):
        raise FleetFileError(f"{path}: a fleet file is a JSON list of stations")
    return [_station(entry, f"{path}[{index}]") for index, entry in enumerate(entries)]


def _station(entry: object, where: str) -> StationSpec:
    data = _exact_fields(entry, StationSpec, where)
    connectors = data["connectors"]
    if not isinstance(connectors, list):
        raise FleetFileError(f"{where}.connectors: expected a list of connectors")
    parsed = tuple(
        _connector(item, f"{where}.connectors[{index}]") for index, item in enumerate(connectors)
    )
    try:
        return StationSpec(**{**data, "connectors": parsed})
    except (TypeError, ValueError) as error:
        raise FleetFileError(f"{where}: {error}") from error


def _connector(entry: object, where: str) -> ConnectorSpec:
    data = _exact_fields(entry, ConnectorSpec, where)
    try:
        power = Decimal(str(data["max_power_kw"]))
        if not power.is_finite() or power <= 0:
            raise InvalidOperation
        return ConnectorSpec(
            evse_id=int(data["evse_id"]),
            connector_id=int(data["connector_id"]),
            standard=parse_standard(str(data["standard"])),
            max_power_kw=power,
        )
    except InvalidOperation as error:
        raise FleetFileError(f"{where}.max_power_kw: expected a positive number") from error
    except (TypeError, ValueError) as error:
        raise FleetFileError(f"{where}: {error}") from error


def _exact_fields(entry: object, kind: type, where: str) -> dict:
    if not isinstance(entry, dict):
        raise FleetFileError(f"{where}: expected an object")
    expected = {f.name for f in fields(kind)}
    missing, extra = expected - entry.keys(), entry.keys() - expected
    if missing or extra:
        raise FleetFileError(
            f"{where}: missing fields {sorted(missing)}, unknown fields {sorted(extra)}"
        )
    return dict(entry)
