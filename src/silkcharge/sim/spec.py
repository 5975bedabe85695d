"""What a simulated station is: its identity, OCPP version and connectors, and the fleet file.

A fleet file is a JSON list of station objects with exactly the fields of `StationSpec`;
connectors are a list of objects with the fields of `ConnectorSpec`, power as a string so that
no float sneaks into a rating ("22", "7.4").

It holds each station's password in clear, as a charger holds its own: the simulator needs them
to act as the chargers. So it is written readable by its owner only (`save_fleet`), and reading
one that others may read logs a warning.
"""

from __future__ import annotations

import json
import logging
import os
import stat
from dataclasses import MISSING, dataclass, fields
from decimal import Decimal, InvalidOperation
from pathlib import Path

from silkcharge.domain.connectors import ConnectorStandard, parse_standard

OCPP_VERSIONS = ("1.6", "2.0.1", "2.1")

log = logging.getLogger(__name__)


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
    ocpp_version: str  # "1.6" | "2.0.1" | "2.1"
    vendor: str
    model: str
    firmware_version: str
    connectors: tuple[ConnectorSpec, ...]
    # Optional in a fleet file: how the station proves who it is (docs/ocpp.md, "Security profiles").
    security_profile: int = 1  # 2 and 3 connect to the simulator's --tls-url
    certificate_file: str | None = None  # PEM client certificate (profile 3), and its key:
    key_file: str | None = None

    def __post_init__(self) -> None:
        if self.ocpp_version not in OCPP_VERSIONS:
            raise ValueError(
                f"station {self.station_id}: OCPP version {self.ocpp_version!r} is not "
                f"simulated; use one of {', '.join(OCPP_VERSIONS)}"
            )
        if not self.connectors:
            raise ValueError(f"station {self.station_id}: a station needs at least one connector")
        if self.security_profile not in (1, 2, 3):
            raise ValueError(f"station {self.station_id}: security profile {self.security_profile!r} is not 1, 2 or 3")
        if self.security_profile == 3 and not self.certificate_file:
            raise ValueError(f"station {self.station_id}: security profile 3 needs a certificate_file")
        keys = [(c.evse_id, c.connector_id) for c in self.connectors]
        if len(set(keys)) != len(keys):
            raise ValueError(f"station {self.station_id}: (evse_id, connector_id) repeats")


def save_fleet(path: str | Path, entries: list[dict]) -> None:
    """Write a fleet file readable by its owner only (mode 0600 from the first byte, whatever
    the umask), replacing any older one at once."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)  # O_CREAT's mode does not apply to a leftover partial file
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(json.dumps(entries, indent=1))
    os.replace(partial, path)


def load_fleet(path: str | Path) -> list[StationSpec]:
    """Read a fleet file; raise `FleetFileError` naming the first entry that is wrong."""
    try:
        if stat.S_IMODE(Path(path).stat().st_mode) & 0o077:
            log.warning("%s holds station passwords and others may read it: chmod 600 %s", path, path)
    except OSError:
        pass  # reported below, where it is read
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
    required = {f.name for f in fields(kind) if f.default is MISSING}
    missing, extra = required - entry.keys(), entry.keys() - expected
    if missing or extra:
        raise FleetFileError(
            f"{where}: missing fields {sorted(missing)}, unknown fields {sorted(extra)}"
        )
    return dict(entry)
