"""The security event list: one place for what stations report about their own security and
for every security decision the CSMS takes about a station, each with a reason.

Stations report with SecurityEventNotification (2.0.1, and 1.6 with the OCA security
extension): firmware updated, a failed login on the station, a reset, tamper detection. The
CSMS records its own decisions here too (a handshake below the station's security profile, a
client certificate refused, a CSR for another station's id), so an operator reads one list and
nothing is decided silently. Each record is also logged at WARNING (CSMS decisions) or INFO.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from silkcharge.domain.clock import utcnow
from silkcharge.domain.security_reasons import Reason
from silkcharge.store.schema import SecurityEvent

log = logging.getLogger(__name__)

STATION, CSMS = "station", "csms"
ORIGINS = (STATION, CSMS)


@dataclass(frozen=True)
class SecurityEventQuery:
    station_id: str | None = None
    type: str | None = None
    origin: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 100
    before_id: int | None = None


class SecurityEvents:
    def __init__(self, sessions: async_sessionmaker) -> None:
        self._sessions = sessions

    async def reported(
        self, station_id: str, type: str, occurred_at: datetime, tech_info: str | None = None
    ) -> None:
        """A station's own SecurityEventNotification."""
        log.info("%s reports security event %s%s", station_id, type, f" ({tech_info})" if tech_info else "")
        await self._store(SecurityEvent(
            station_id=station_id, origin=STATION, type=type[:50],
            tech_info=tech_info[:255] if tech_info else None, occurred_at=occurred_at,
        ))

    async def decided(
        self, station_id: str | None, type: str, reason: Reason, source_address: str | None = None
    ) -> None:
        """A security decision of the CSMS about a station (or a caller naming one), with the
        reason an operator reads: its English text, and its code and values for the console to
        word in the operator's language."""
        text = reason.text
        log.warning("security: %s %s: %s%s", station_id or "(no station)", type, text,
                    f" (from {source_address})" if source_address else "")
        await self._store(SecurityEvent(
            station_id=station_id[:48] if station_id else None, origin=CSMS, type=type[:50],
            reason=text[:500], reason_code=reason.code,
            reason_values={name: value[:500] for name, value in reason.values.items()} or None,
            source_address=source_address[:64] if source_address else None, occurred_at=utcnow(),
        ))

    async def find(self, query: SecurityEventQuery) -> list[SecurityEvent]:
        """Newest first; `before_id` pages back."""
        statement = select(SecurityEvent)
        if query.station_id is not None:
            statement = statement.where(SecurityEvent.station_id == query.station_id)
        if query.type is not None:
            statement = statement.where(SecurityEvent.type == query.type)
        if query.origin is not None:
            statement = statement.where(SecurityEvent.origin == query.origin)
        if query.since is not None:
            statement = statement.where(SecurityEvent.occurred_at >= query.since)
        if query.until is not None:
            statement = statement.where(SecurityEvent.occurred_at < query.until)
        if query.before_id is not None:
            statement = statement.where(SecurityEvent.id < query.before_id)
        statement = statement.order_by(SecurityEvent.id.desc()).limit(query.limit)
        async with self._sessions() as session:
            return list((await session.scalars(statement)).all())

    async def _store(self, event: SecurityEvent) -> None:
        async with self._sessions.begin() as session:
            session.add(event)
