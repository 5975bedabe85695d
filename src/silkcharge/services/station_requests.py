"""Requests a station answers in numbered parts: CustomerInformation (N09/N10),
GetMonitoringReport (N02), GetDisplayMessages (O03/O04), and GetBaseReport and GetReport (B07,
B08: both answered with NotifyReport, so both are of the kind `Report`).

A request is stored before its CALL leaves (the station may send its first part before silkcharge
has read the reply), with the `requestId` the station is given. Parts are kept as they arrive,
in any order, and the request is complete once the part without `tbc` arrived and no sequence
number before it is missing. A part naming a request silkcharge never made is kept all the same,
under a request of status `Unsolicited`, so nothing a station sends is lost.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from silkcharge.domain.clock import utcnow
from silkcharge.store.schema import StationRequest

UNSOLICITED = "Unsolicited"
CUSTOMER_INFORMATION = "CustomerInformation"
MONITORING_REPORT = "GetMonitoringReport"
DISPLAY_MESSAGES = "GetDisplayMessages"
REPORT = "Report"


class StationRequests:
    def __init__(self, sessions: async_sessionmaker) -> None:
        self._sessions = sessions

    async def reserve(self, station_id: str, kind: str, asked: dict[str, Any]) -> StationRequest:
        """A new request whose `requestId` is its own row id, so no two requests share one,
        however many are made at once."""
        async with self._sessions.begin() as session:
            row = StationRequest(
                station_id=station_id, kind=kind, asked=asked, complete=False,
                created_at=utcnow(), updated_at=utcnow(),
            )
            session.add(row)
            await session.flush()
            row.request_id = row.id
        return row

    async def opened(self, station_id: str, kind: str, request_id: int, asked: dict[str, Any]) -> None:
        """A request is about to be sent: store it unless `reserve` already did."""
        async with self._sessions.begin() as session:
            row = await self._latest(session, station_id, kind, request_id)
            if row is not None and row.status is None and not row.complete:
                return
            session.add(StationRequest(
                station_id=station_id, kind=kind, request_id=request_id, asked=asked,
                complete=False, created_at=utcnow(), updated_at=utcnow(),
            ))

    async def answered(self, station_id: str, kind: str, request_id: int, status: str, *, done: bool) -> None:
        """The station's reply to the request; `done` when no part will follow (a refusal, an
        empty result)."""
        async with self._sessions.begin() as session:
            row = await self._latest(session, station_id, kind, request_id)
            if row is None:
                return
            row.status = row.status or status
            row.complete = row.complete or done
            row.updated_at = utcnow()

    async def part(
        self, station_id: str, kind: str, request_id: int, seq_no: int | None, *, last: bool,
        data: Any = None,
    ) -> StationRequest:
        """Keep one part; returns the request, `complete` once every part arrived. Without a
        sequence number (NotifyDisplayMessages has none) parts count in arrival order."""
        async with self._sessions.begin() as session:
            row = await self._latest(session, station_id, kind, request_id)
            if row is None:
                row = StationRequest(
                    station_id=station_id, kind=kind, request_id=request_id, status=UNSOLICITED,
                    complete=False, created_at=utcnow(),
                )
                session.add(row)
            parts = dict(row.parts or {})
            number = seq_no if seq_no is not None else len(parts)
            parts[str(number)] = data
            if last:
                parts["last"] = number
            row.parts = parts
            row.complete = _complete(parts)
            if kind == CUSTOMER_INFORMATION:
                row.data = joined(parts)
            row.updated_at = utcnow()
        return row

    async def find(self, station_id: str, kind: str, limit: int = 50) -> list[StationRequest]:
        """Newest first."""
        async with self._sessions() as session:
            return list((await session.scalars(
                select(StationRequest)
                .where(StationRequest.station_id == station_id, StationRequest.kind == kind)
                .order_by(StationRequest.id.desc()).limit(limit)
            )).all())

    async def get(self, station_id: str, kind: str, request_id: int) -> StationRequest | None:
        async with self._sessions() as session:
            return await self._latest(session, station_id, kind, request_id)

    @staticmethod
    async def _latest(session: AsyncSession, station_id: str, kind: str, request_id: int) -> StationRequest | None:
        return await session.scalar(
            select(StationRequest)
            .where(StationRequest.station_id == station_id, StationRequest.kind == kind,
                   StationRequest.request_id == request_id)
            .order_by(StationRequest.id.desc()).limit(1)
        )


def _numbers(parts: dict[str, Any]) -> list[int]:
    return sorted(int(key) for key in parts if key != "last")


def _complete(parts: dict[str, Any]) -> bool:
    """Every part from 0 to the last arrived (counted, not enumerated: a station's seqNo may
    be anything up to 2^31)."""
    last = parts.get("last")
    numbers = _numbers(parts)
    return last is not None and len(numbers) == last + 1 and numbers[0] == 0 and numbers[-1] == last


def joined(parts: dict[str, Any]) -> str:
    """Customer information: the parts' text in sequence order, a gap marked where it is."""
    text, expected = [], 0
    for n in _numbers(parts):
        if n > expected:
            text.append(f"[parts {expected}-{n - 1} not received]" if n - 1 > expected
                        else f"[part {expected} not received]")
        text.append(parts[str(n)] or "")
        expected = n + 1
    return "".join(text)


def part_values(row: StationRequest) -> list[Any]:
    """Every part's payload, in sequence order."""
    parts = row.parts or {}
    return [parts[str(n)] for n in _numbers(parts)]
