"""The seam between a station's behaviour and the OCPP version it speaks.

A `StationLink` is one OCPP session over one socket (an `ocpp` ChargePoint subclass per
version). The charger owns state and timing and asks the link to put things on the wire; the
link answers the CSMS's calls from that state and hands follow-up work back to the charger.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from silkcharge.sim.meter import MeterSample
from silkcharge.sim.state import (
    Authorization,
    BootReason,
    ConnectorState,
    ConnectorStatus,
    Fault,
    IdToken,
    Session,
    StopReason,
)

if TYPE_CHECKING:
    from silkcharge.sim.charger import SimulatedCharger


@dataclass(frozen=True)
class BootResult:
    status: str  # Accepted | Pending | Rejected
    interval: int


class StationLink(Protocol):
    async def start(self) -> None: ...
    async def boot(self, reason: BootReason) -> BootResult: ...
    async def after_boot(self, reason: BootReason) -> None: ...
    async def heartbeat(self) -> None: ...
    async def status(self, connector: ConnectorState) -> None: ...
    async def fault_changed(
        self, connector: ConnectorState, fault: Fault, cleared: bool
    ) -> None: ...
    async def authorize(self, id_token: IdToken) -> Authorization: ...
    async def reservation_ended(self, reservation_id: int, status: str) -> None: ...
    async def transaction_started(self, session: Session, sample: MeterSample) -> str: ...
    async def transaction_sample(self, session: Session, sample: MeterSample) -> None: ...
    async def charging_state_changed(self, session: Session, sample: MeterSample) -> None: ...
    async def transaction_ended(
        self, session: Session, reason: StopReason, sample: MeterSample
    ) -> None: ...
    async def firmware_status(self, status: str, request_id: int | None) -> None: ...
    async def log_status(self, status: str, request_id: int | None) -> None: ...
    async def sign_certificate(self, csr: str) -> str: ...
    async def security_event(self, kind: str, tech_info: str | None) -> None: ...


@dataclass(frozen=True)
class Dialect:
    """Everything version-specific a charger needs, chosen once from the station's spec."""

    subprotocol: str
    link: Callable[[SimulatedCharger, Any], StationLink]
    settings: Callable[[SimulatedCharger], Any]
    wire_status: Callable[[ConnectorStatus], str]


class ReplyFirst:
    """Mixin for an `ocpp` ChargePoint: work a handler asks for starts after its reply is sent.

    A handler cannot await its own calls (the receive loop is busy running it), and a
    station that answered RemoteStart after sending StartTransaction would confuse a CSMS.
    Handlers queue follow-ups with `then`; they are spawned once the reply is on the wire.
    """

    def _init_follow_ups(self, spawn: Callable[[Awaitable[None]], object]) -> None:
        self._spawn_follow_up = spawn
        self._follow_ups: list[Callable[[], Awaitable[None]]] = []

    def then(self, follow_up: Callable[[], Awaitable[None]]) -> None:
        self._follow_ups.append(follow_up)

    async def route_message(self, raw_msg: str) -> None:
        await super().route_message(raw_msg)  # type: ignore[misc]
        follow_ups, self._follow_ups = self._follow_ups, []
        for follow_up in follow_ups:
            self._spawn_follow_up(follow_up())
