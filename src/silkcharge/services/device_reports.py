"""Device-model reports (OCPP 2.0.1 B07 Get Base Report, B08 Get Custom Report): what a station
reports of its components and variables, asked for by an operator.

A base report names a predefined set (ConfigurationInventory, FullInventory, SummaryInventory);
a custom report (GetReport) names components and variables (`componentVariable`) and the
criteria a variable must meet (`componentCriteria`: Active, Available, Enabled, Problem). Either
is stored before its CALL leaves with the `requestId` the station is given, whichever route sent
it (this service observes the command service); the station's NotifyReport parts are kept with
it as they arrive (the adapter also merges their actual values into the stored configuration),
so an operator reads what each report said, part by part and in sequence order.
"""

from __future__ import annotations

from typing import Any

from silkcharge.bus.local import EventBus
from silkcharge.domain.clock import utcnow
from silkcharge.domain.commands import CommandParams, GetBaseReport, GetReport
from silkcharge.domain.events import DeviceModelChanged
from silkcharge.services.commands import CommandObserver, CommandService
from silkcharge.services.device_model import StationDeclined, UnknownRecord
from silkcharge.services.station_requests import REPORT, StationRequests, part_values
from silkcharge.store.schema import StationRequest

ANSWERED_WITH_PARTS = "Accepted"
NOTHING_TO_REPORT = "EmptyResultSet"


class DeviceReports(CommandObserver):
    def __init__(self, bus: EventBus, commands: CommandService, requests: StationRequests) -> None:
        self._bus = bus
        self._commands = commands
        self._requests = requests
        commands.observe(self)

    async def request(self, station_id: str, params: GetBaseReport | GetReport) -> StationRequest:
        """Send the report request under a `requestId` no other request has; the request is
        returned with the station's answer (StationDeclined unless Accepted or EmptyResultSet)."""
        command = "get_base_report" if isinstance(params, GetBaseReport) else "get_report"
        row = await self._requests.reserve(station_id, REPORT, _asked(params))
        params = params.model_copy(update={"request_id": row.request_id})
        result = await self._commands.send(station_id, command, params.model_dump())
        if result.status not in (ANSWERED_WITH_PARTS, NOTHING_TO_REPORT):
            reason = f" ({result.details['reason']})" if result.details.get("reason") else ""
            raise StationDeclined(
                f"station {station_id} answered {result.status}{reason} to report request {row.request_id}",
                result.status,
            )
        return await self.get(station_id, row.request_id)

    async def part(
        self, station_id: str, request_id: int, seq_no: int, more_to_come: bool, items: list[dict[str, Any]],
    ) -> StationRequest:
        """One NotifyReport part (a part for a request silkcharge never made is kept as Unsolicited)."""
        row = await self._requests.part(station_id, REPORT, request_id, seq_no, last=not more_to_come, data=items)
        self._bus.publish(DeviceModelChanged(station_id, utcnow(), "reports"))
        return row

    async def find(self, station_id: str, limit: int = 50) -> list[StationRequest]:
        return await self._requests.find(station_id, REPORT, limit)

    async def get(self, station_id: str, request_id: int) -> StationRequest:
        row = await self._requests.get(station_id, REPORT, request_id)
        if row is None:
            raise UnknownRecord(f"station {station_id} has no report request {request_id}")
        return row

    # -- CommandObserver: the generic command route stores its requests the same way -----------

    async def before(self, station_id: str, params: CommandParams) -> None:
        if isinstance(params, GetBaseReport | GetReport):
            await self._requests.opened(station_id, REPORT, params.request_id, _asked(params))

    async def after(
        self, station_id: str, params: CommandParams, reply: dict[str, Any], details: dict[str, Any],
        status: str | None,
    ) -> None:
        if isinstance(params, GetBaseReport | GetReport) and status is not None:
            await self._requests.answered(
                station_id, REPORT, params.request_id, status, done=status != ANSWERED_WITH_PARTS
            )

    async def failed(self, station_id: str, params: CommandParams, reason: str) -> None:
        if isinstance(params, GetBaseReport | GetReport):
            await self._requests.answered(station_id, REPORT, params.request_id, "Failed", done=True)


def report_items(row: StationRequest) -> list[dict[str, Any]]:
    """Every reported variable of the request, in sequence order."""
    return [item for part in part_values(row) for item in part or []]


def _asked(params: GetBaseReport | GetReport) -> dict[str, Any]:
    if isinstance(params, GetBaseReport):
        return {"base": params.report}
    return {"criteria": list(params.criteria),
            "components": [c.model_dump(exclude_none=True) for c in params.components]}
