"""Limits set on a station from outside silkcharge (OCPP 2.0.1 K11-K14): an energy management
system (EMS), the grid operator (SO) or another party sets a limit on the station directly,
and the station reports it with NotifyChargingLimit, until ClearedChargingLimit.

Each limit is stored per station, EVSE (0: the whole station) and source, and announced on the
bus, so load management re-allocates the site: a limited EVSE is given no more than its limit,
and the EVSEs of a limited station together no more than the station's (services/smart.py).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from silkcharge.bus.local import EventBus
from silkcharge.domain.clock import utcnow
from silkcharge.domain.events import DeviceModelChanged, ExternalChargingLimitChanged
from silkcharge.smart.external import limit_now
from silkcharge.store.schema import ExternalChargingLimit


class ExternalLimits:
    def __init__(self, sessions: async_sessionmaker, bus: EventBus) -> None:
        self._sessions = sessions
        self._bus = bus

    async def set(
        self, station_id: str, evse_id: int, source: str, grid_critical: bool | None,
        schedules: list[dict[str, Any]] | None,
    ) -> None:
        """NotifyChargingLimit: a new or updated limit of `source` (K11, K12)."""
        async with self._sessions.begin() as session:
            row = await session.scalar(select(ExternalChargingLimit).where(
                ExternalChargingLimit.station_id == station_id, ExternalChargingLimit.evse_id == evse_id,
                ExternalChargingLimit.source == source,
            ))
            if row is None:
                row = ExternalChargingLimit(station_id=station_id, evse_id=evse_id, source=source)
                session.add(row)
            row.grid_critical, row.schedules, row.received_at = grid_critical, schedules, utcnow()
        self._announce(station_id, evse_id, source, cleared=False)

    async def cleared(self, station_id: str, evse_id: int | None, source: str) -> None:
        """ClearedChargingLimit (K13): without an EVSE, every limit of that source on the station
        ends (a limit left standing by mistake would starve the station; one cleared too many is
        still enforced by the station itself)."""
        statement = delete(ExternalChargingLimit).where(
            ExternalChargingLimit.station_id == station_id, ExternalChargingLimit.source == source
        )
        if evse_id is not None:
            statement = statement.where(ExternalChargingLimit.evse_id == evse_id)
        async with self._sessions.begin() as session:
            await session.execute(statement)
        self._announce(station_id, evse_id or 0, source, cleared=True)

    async def find(self, station_id: str) -> list[ExternalChargingLimit]:
        async with self._sessions() as session:
            return list((await session.scalars(
                select(ExternalChargingLimit).where(ExternalChargingLimit.station_id == station_id)
                .order_by(ExternalChargingLimit.evse_id, ExternalChargingLimit.source)
            )).all())

    async def in_force(
        self, station_ids: list[str], now: datetime, voltage: Decimal, phases: dict[tuple[str, int], int],
    ) -> dict[tuple[str, int], Decimal]:
        """The lowest limit in force now per (station, EVSE), in A per phase; EVSE 0 is a
        station's own. `phases` gives each EVSE's phase count (a station's limit counts 3)."""
        if not station_ids:
            return {}
        async with self._sessions() as session:
            rows = (await session.scalars(select(ExternalChargingLimit).where(
                ExternalChargingLimit.station_id.in_(station_ids)))).all()
        limits: dict[tuple[str, int], Decimal] = {}
        for row in rows:
            key = (row.station_id, row.evse_id)
            amps = limit_now(row.schedules or [], row.received_at, now, voltage, phases.get(key, 3))
            if amps is not None:
                limits[key] = min(amps, limits.get(key, amps))
        return limits

    def _announce(self, station_id: str, evse_id: int, source: str, *, cleared: bool) -> None:
        self._bus.publish(ExternalChargingLimitChanged(station_id, utcnow(), evse_id, source, cleared))
        self._bus.publish(DeviceModelChanged(station_id, utcnow(), "charging_limits"))
