"""Firmware published by a local controller (OCPP 2.0.1 L03, L04): the controller downloads a
firmware file once and serves it to the stations behind it, so they need not each fetch it
over a mobile link. PublishFirmware starts it; PublishFirmwareStatusNotification reports each
step and, once Published, the URIs the stations can use; UnpublishFirmware stops serving it.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from silkcharge.bus.local import EventBus
from silkcharge.domain.clock import utcnow
from silkcharge.domain.commands import CommandParams, PublishFirmware, UnpublishFirmware
from silkcharge.domain.events import DeviceModelChanged
from silkcharge.services.commands import CommandObserver, CommandService
from silkcharge.services.device_model import StationDeclined, UnknownRecord
from silkcharge.store.schema import FirmwarePublication

log = logging.getLogger(__name__)

REQUESTED = "Requested"  # sent and accepted; the station's notifications take it from here


class FirmwarePublishing(CommandObserver):
    def __init__(self, sessions: async_sessionmaker, bus: EventBus, commands: CommandService) -> None:
        self._sessions = sessions
        self._bus = bus
        self._commands = commands
        commands.observe(self)

    async def publish(
        self, station_id: str, location: str, checksum: str, retries: int | None = None,
        retry_interval: int | None = None,
    ) -> FirmwarePublication:
        params: dict[str, Any] = {
            "location": location, "checksum": checksum.lower(),
            "request_id": await self._next_request_id(station_id),
        }
        if retries is not None:
            params["retries"] = retries
        if retry_interval is not None:
            params["retry_interval"] = retry_interval
        result = await self._commands.send(station_id, "publish_firmware", params)
        if result.status != "Accepted":
            raise StationDeclined(f"station {station_id} answered {result.status} to PublishFirmware", result.status)
        return await self.get(station_id, checksum)

    async def unpublish(self, station_id: str, checksum: str) -> str:
        """The station's answer: Unpublished; NoFirmware is UnknownRecord, DownloadOngoing a refusal."""
        result = await self._commands.send(station_id, "unpublish_firmware", {"checksum": checksum.lower()})
        if result.status == "NoFirmware":
            raise UnknownRecord(f"station {station_id} publishes no firmware with checksum {checksum}")
        if result.status != "Unpublished":
            raise StationDeclined(
                f"station {station_id} answered {result.status}: it is still downloading that firmware",
                result.status,
            )
        return result.status

    async def status(self, station_id: str, status: str, locations: list[str], request_id: int | None) -> None:
        """A PublishFirmwareStatusNotification. One for a request silkcharge never made is kept
        as a publication without location or checksum."""
        async with self._sessions.begin() as session:
            row = None
            if request_id is not None:
                row = await session.scalar(
                    select(FirmwarePublication).where(
                        FirmwarePublication.station_id == station_id, FirmwarePublication.request_id == request_id
                    ).order_by(FirmwarePublication.id.desc()).limit(1)
                )
            if row is None:
                log.warning("%s: PublishFirmwareStatusNotification %s for request %s, which silkcharge did not "
                            "send; kept", station_id, status, request_id)
                row = FirmwarePublication(station_id=station_id, request_id=request_id, created_at=utcnow())
                session.add(row)
            row.status = status
            if locations:
                row.published_locations = locations
            row.updated_at = utcnow()
        self._bus.publish(DeviceModelChanged(station_id, utcnow(), "firmware_publication"))

    async def find(self, station_id: str) -> list[FirmwarePublication]:
        async with self._sessions() as session:
            return list((await session.scalars(
                select(FirmwarePublication).where(FirmwarePublication.station_id == station_id)
                .order_by(FirmwarePublication.id.desc())
            )).all())

    async def get(self, station_id: str, checksum: str) -> FirmwarePublication:
        async with self._sessions() as session:
            row = await session.scalar(select(FirmwarePublication).where(
                FirmwarePublication.station_id == station_id, FirmwarePublication.checksum == checksum.lower()))
        if row is None:
            raise UnknownRecord(f"station {station_id} was never asked to publish firmware {checksum}")
        return row

    async def _next_request_id(self, station_id: str) -> int:
        async with self._sessions() as session:
            highest = await session.scalar(
                select(func.max(FirmwarePublication.request_id)).where(FirmwarePublication.station_id == station_id)
            )
        return (highest or 0) + 1

    # -- CommandObserver -------------------------------------------------------------------------
    # The publication is stored before the CALL leaves: the station's first status notification
    # may arrive before its reply has been read.

    async def before(self, station_id: str, params: CommandParams) -> None:
        if isinstance(params, PublishFirmware):
            await self._requested(station_id, params)

    async def after(
        self, station_id: str, params: CommandParams, reply: dict[str, Any], details: dict[str, Any],
        status: str | None,
    ) -> None:
        if isinstance(params, PublishFirmware) and status != "Accepted":
            await self._set_status(station_id, params.checksum, status or "Rejected")
        elif isinstance(params, UnpublishFirmware) and status == "Unpublished":
            async with self._sessions.begin() as session:
                row = await session.scalar(select(FirmwarePublication).where(
                    FirmwarePublication.station_id == station_id,
                    FirmwarePublication.checksum == params.checksum.lower()))
                if row is not None:
                    row.status, row.published_locations, row.updated_at = "Unpublished", None, utcnow()
            self._bus.publish(DeviceModelChanged(station_id, utcnow(), "firmware_publication"))

    async def failed(self, station_id: str, params: CommandParams, reason: str) -> None:
        if isinstance(params, PublishFirmware):
            await self._set_status(station_id, params.checksum, "Failed")

    async def _requested(self, station_id: str, params: PublishFirmware) -> None:
        checksum = params.checksum.lower()
        async with self._sessions.begin() as session:
            row = await session.scalar(select(FirmwarePublication).where(
                FirmwarePublication.station_id == station_id, FirmwarePublication.checksum == checksum))
            if row is None:
                row = FirmwarePublication(station_id=station_id, checksum=checksum, created_at=utcnow())
                session.add(row)
            row.status, row.published_locations = REQUESTED, None
            row.request_id, row.location, row.updated_at = params.request_id, params.location, utcnow()

    async def _set_status(self, station_id: str, checksum: str, status: str) -> None:
        async with self._sessions.begin() as session:
            row = await session.scalar(select(FirmwarePublication).where(
                FirmwarePublication.station_id == station_id, FirmwarePublication.checksum == checksum.lower()))
            if row is not None:
                row.status, row.updated_at = status, utcnow()
        self._bus.publish(DeviceModelChanged(station_id, utcnow(), "firmware_publication"))
