"""Customer information (OCPP 2.0.1 N09, N10): what a station holds about one customer, asked
for on an operator's request (a data-subject request, say), and its deletion.

The customer is named by idToken, customer certificate or customer identifier. The station
answers the request, then sends NotifyCustomerInformation parts (at most 512 characters each,
`tbc` until the last); they are joined in sequence order and stored with the request, which
shows what was asked, the station's answer and, once every part arrived, the whole text.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker

from silkcharge.bus.local import EventBus
from silkcharge.domain.clock import utcnow
from silkcharge.domain.commands import CommandParams, CustomerInformation
from silkcharge.domain.events import DeviceModelChanged
from silkcharge.services.commands import CommandObserver, CommandService
from silkcharge.services.device_model import RequestInvalid, StationDeclined, UnknownRecord
from silkcharge.services.station_requests import CUSTOMER_INFORMATION, StationRequests
from silkcharge.store.schema import StationRequest


class CustomerInformationService(CommandObserver):
    def __init__(
        self, sessions: async_sessionmaker, bus: EventBus, commands: CommandService, requests: StationRequests,
    ) -> None:
        self._sessions = sessions
        self._bus = bus
        self._commands = commands
        self._requests = requests
        commands.observe(self)

    async def ask(self, station_id: str, query: CustomerInformation) -> StationRequest:
        """Send CustomerInformation for one customer; the request is returned with the station's
        answer, and fills in as the parts arrive."""
        if query.id_token is None and query.customer_identifier is None and query.certificate is None:
            raise RequestInvalid("name the customer: id_token, customer_identifier or certificate")
        if not query.report and not query.clear:
            raise RequestInvalid("ask for the customer's data (report), its deletion (clear), or both")
        asked = _asked(query)
        row = await self._requests.reserve(station_id, CUSTOMER_INFORMATION, asked)
        params = query.model_copy(update={"request_id": row.request_id})
        result = await self._commands.send(station_id, "customer_information", params.model_dump())
        if result.status != "Accepted":
            raise StationDeclined(
                f"station {station_id} answered {result.status} to customer information request "
                f"{row.request_id}", result.status,
            )
        return await self.get(station_id, row.request_id)

    async def part(
        self, station_id: str, request_id: int, seq_no: int, data: str, more_to_come: bool,
    ) -> StationRequest:
        """One NotifyCustomerInformation part."""
        row = await self._requests.part(
            station_id, CUSTOMER_INFORMATION, request_id, seq_no, last=not more_to_come, data=data
        )
        self._bus.publish(DeviceModelChanged(station_id, utcnow(), "customer_information"))
        return row

    async def find(self, station_id: str, limit: int = 50) -> list[StationRequest]:
        return await self._requests.find(station_id, CUSTOMER_INFORMATION, limit)

    async def get(self, station_id: str, request_id: int) -> StationRequest:
        row = await self._requests.get(station_id, CUSTOMER_INFORMATION, request_id)
        if row is None:
            raise UnknownRecord(f"station {station_id} has no customer information request {request_id}")
        return row

    # -- CommandObserver: the generic command route stores its requests the same way -----------

    async def before(self, station_id: str, params: CommandParams) -> None:
        if isinstance(params, CustomerInformation):
            await self._requests.opened(station_id, CUSTOMER_INFORMATION, params.request_id, _asked(params))

    async def after(
        self, station_id: str, params: CommandParams, reply: dict[str, Any], details: dict[str, Any],
        status: str | None,
    ) -> None:
        if isinstance(params, CustomerInformation) and status is not None:
            # Without `report` the station sends no parts: the answer completes the request.
            done = status != "Accepted" or not params.report
            await self._requests.answered(station_id, CUSTOMER_INFORMATION, params.request_id, status, done=done)
            self._bus.publish(DeviceModelChanged(station_id, utcnow(), "customer_information"))

    async def failed(self, station_id: str, params: CommandParams, reason: str) -> None:
        if isinstance(params, CustomerInformation):
            await self._requests.answered(station_id, CUSTOMER_INFORMATION, params.request_id, "Failed", done=True)


def _asked(query: CustomerInformation) -> dict[str, Any]:
    return query.model_dump(exclude={"request_id"}, mode="json", exclude_none=True)
