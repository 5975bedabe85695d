"""Editing what silkcharge has stored of a station's configuration (1.6 keys, 2.0.1
`Component.Variable` values), without sending anything to the station.

Commands, smart charging and reservations decide from the stored configuration (a station's
ItemsPerMessage, its rate unit, whether it takes station-wide reservations...). When a station
reports something wrong, or has not reported it at all, an operator corrects it here:

* a *correction* replaces the stored value until the station reports that key again;
* a *pin* replaces it for good: reports no longer change it (what the station said is kept
  beside the pin, and comes back when the pin is removed);
* a value of None removes the key (and its pin).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker

from silkcharge.bus.local import EventBus
from silkcharge.domain.clock import utcnow
from silkcharge.domain.events import DeviceModelChanged
from silkcharge.services.device_model import RequestInvalid, UnknownRecord
from silkcharge.store.schema import Station

MAX_KEY = 200
MAX_VALUE = 2500  # the longest value OCPP 2.0.1 reports (ReportingValueSize's ceiling)


@dataclass(frozen=True)
class StoredConfiguration:
    values: dict[str, Any]
    pins: dict[str, dict[str, Any]]
    """key -> {"value": pinned value, "reported": what the station last said (None: nothing)}."""


class StationConfiguration:
    def __init__(self, sessions: async_sessionmaker, bus: EventBus) -> None:
        self._sessions = sessions
        self._bus = bus

    async def get(self, station_id: str) -> StoredConfiguration:
        async with self._sessions() as session:
            station = await session.get(Station, station_id)
        if station is None:
            raise UnknownRecord(f"no station {station_id}")
        return StoredConfiguration(dict(station.configuration or {}), dict(station.configuration_overrides or {}))

    async def edit(self, station_id: str, values: dict[str, str | None], *, pin: bool = False) -> StoredConfiguration:
        for key, value in values.items():
            if not key or len(key) > MAX_KEY:
                raise RequestInvalid(f"configuration key {key[:40]!r} must have 1 to {MAX_KEY} characters")
            if value is not None and len(value) > MAX_VALUE:
                raise RequestInvalid(f"{key}: a value has at most {MAX_VALUE} characters")
        async with self._sessions.begin() as session:
            station = await session.get(Station, station_id, with_for_update=True)
            if station is None:
                raise UnknownRecord(f"no station {station_id}")
            stored = dict(station.configuration or {})
            pins = dict(station.configuration_overrides or {})
            for key, value in values.items():
                reported = pins[key]["reported"] if key in pins else stored.get(key)
                if value is None:
                    stored.pop(key, None)
                    pins.pop(key, None)
                    continue
                stored[key] = value
                if pin:
                    pins[key] = {"value": value, "reported": reported}
                elif key in pins:
                    pins[key] = {**pins[key], "value": value}
            station.configuration, station.configuration_overrides = stored, pins or None
        self._bus.publish(DeviceModelChanged(station_id, utcnow(), "configuration"))
        return StoredConfiguration(stored, pins)

    async def unpin(self, station_id: str, key: str) -> StoredConfiguration:
        """Reports change `key` again; it goes back to what the station last said."""
        async with self._sessions.begin() as session:
            station = await session.get(Station, station_id, with_for_update=True)
            if station is None:
                raise UnknownRecord(f"no station {station_id}")
            pins = dict(station.configuration_overrides or {})
            if key not in pins:
                raise UnknownRecord(f"station {station_id} has no pinned configuration key {key}")
            stored = dict(station.configuration or {})
            reported = pins.pop(key)["reported"]
            if reported is None:
                stored.pop(key, None)
            else:
                stored[key] = reported
            station.configuration, station.configuration_overrides = stored, pins or None
        self._bus.publish(DeviceModelChanged(station_id, utcnow(), "configuration"))
        return StoredConfiguration(stored, pins)
