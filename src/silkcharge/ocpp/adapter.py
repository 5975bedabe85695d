"""What every protocol adapter provides, and how handlers are declared.

An adapter is the only code that knows a protocol version: it turns a station's CALL into calls
on the version-neutral services and their answers back into that version's reply, and turns a
neutral command into that version's CALL.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar, Protocol

from silkcharge.domain.charging import BootDecision, StationEvent
from silkcharge.domain.clock import to_ocpp, utcnow
from silkcharge.ocpp import commands as c
from silkcharge.ocpp.commands import CommandNotSupported, CommandParams
from silkcharge.ocpp.rpc import ErrorKind, RpcError
from silkcharge.services.reservations import ReservationLedger
from silkcharge.services.stations import StationService
from silkcharge.services.transactions import TransactionService

Handler = Callable[..., Awaitable[dict[str, Any]]]


class SessionCosts(Protocol):
    """What a transaction reply needs to carry its cost (services/charger_cost.py)."""

    async def running_total(self, transaction_id: int) -> Decimal | None: ...

    async def final_total(self, transaction_id: int) -> Decimal | None: ...


def on(action: str) -> Callable[[Handler], Handler]:
    """Declare the method that answers a station's CALL of `action`."""

    def mark(method: Handler) -> Handler:
        method.ocpp_action = action  # type: ignore[attr-defined]
        return method

    return mark


def command(name: str) -> Callable:
    """Declare the method that builds the CALL for a neutral command."""

    def mark(method: Callable) -> Callable:
        method.command_name = name  # type: ignore[attr-defined]
        return method

    return mark


class SmartChargingListener(Protocol):
    async def profiles_reported(
        self, station_id: str, request_id: int, evse_id: int, profiles: list[Any], more_to_come: bool
    ) -> None: ...

    async def ev_charging_needs(self, station_id: str, evse_id: int, needs: dict[str, Any]) -> None: ...


@dataclass
class Session:
    """What an adapter knows about the socket it serves."""

    station_id: str
    reject_boot: bool = False


@dataclass(frozen=True)
class OutboundCall:
    action: str
    payload: dict[str, Any]
    read: Callable[[dict[str, Any]], dict[str, Any]] | None = None


class Adapter:
    version: ClassVar[str]
    handlers: ClassVar[dict[str, str]]
    builders: ClassVar[dict[str, str]]
    # Actions a station may send before it is Accepted.
    before_acceptance: ClassVar[frozenset[str]] = frozenset({"BootNotification", "Heartbeat"})
    # Configuration keys that say whether a station shows cost messages (see `shows_cost`).
    cost_display_keys: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.handlers = {}
        cls.builders = {}
        for name in dir(cls):
            member = getattr(cls, name)
            if hasattr(member, "ocpp_action"):
                cls.handlers[member.ocpp_action] = name
            if hasattr(member, "command_name"):
                cls.builders[member.command_name] = name

    def __init__(
        self, stations: StationService, transactions: TransactionService, reservations: ReservationLedger
    ) -> None:
        self.stations = stations
        self.transactions = transactions
        self.reservations = reservations
        self.costs: SessionCosts | None = None
        """Set by the composition root once the services that price sessions exist."""
        # Smart charging hears what stations report of their profiles and EVs' needs
        # (services/smart.py, attached by build_platform); None: nobody listens.
        self.smart: SmartChargingListener | None = None

    def shows_cost(self, configuration: dict[str, Any]) -> bool | None:
        """Whether the station displays cost messages, by its stored configuration; None when
        the configuration does not say yet (ask for `cost_display_keys`)."""
        return True

    def handles(self, action: str) -> bool:
        return action in self.handlers

    async def handle(self, session: Session, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        return await getattr(self, self.handlers[action])(session, payload)

    async def build(self, name: str, params: CommandParams, context: dict[str, Any]) -> OutboundCall:
        """The CALL for a neutral command; `context` carries what the store knows (e.g. the
        station's own id of a transaction)."""
        method = self.builders.get(name)
        if method is None:
            raise CommandNotSupported(f"{name} has no equivalent in OCPP {self.version}")
        return getattr(self, method)(params, context)

    # -- what both versions say the same way --------------------------------------------------

    @staticmethod
    def boot_reply(decision: BootDecision) -> dict[str, Any]:
        return {
            "status": decision.status.value,
            "currentTime": to_ocpp(decision.current_time),
            "interval": decision.interval,
        }

    @on("Heartbeat")
    async def heartbeat(self, session: Session, p: dict[str, Any]) -> dict[str, Any]:
        return {"currentTime": to_ocpp(utcnow())}

    @on("FirmwareStatusNotification")
    async def firmware_status(self, session: Session, p: dict[str, Any]) -> dict[str, Any]:
        await self.stations.note(session.station_id, StationEvent("firmware", p["status"], utcnow()))
        return {}

    @on("DataTransfer")
    async def data_transfer(self, session: Session, p: dict[str, Any]) -> dict[str, Any]:
        # No vendor extension is registered yet; the frame itself is kept in the message log.
        return {"status": "UnknownVendorId"}

    @command("clear_cache")
    def clear_cache(self, p: c.ClearCache, ctx: dict) -> OutboundCall:
        return OutboundCall("ClearCache", {})

    @command("cancel_reservation")
    def cancel_reservation(self, p: c.CancelReservation, ctx: dict) -> OutboundCall:
        return OutboundCall("CancelReservation", {"reservationId": p.reservation_id})

    @command("data_transfer")
    def data_transfer_out(self, p: c.DataTransfer, ctx: dict) -> OutboundCall:
        payload: dict[str, Any] = {"vendorId": p.vendor_id}
        if p.message_id is not None:
            payload["messageId"] = p.message_id
        if p.data is not None:
            payload["data"] = p.data
        return OutboundCall("DataTransfer", payload)


def decimal_value(raw: Any, field: str) -> Decimal:
    """A meter reading as an exact Decimal, or the CALLERROR that says which field is wrong."""
    try:
        value = Decimal(str(raw))
    except (InvalidOperation, ValueError):
        value = None
    if value is None or not value.is_finite():
        raise RpcError(
            ErrorKind.PROPERTY_CONSTRAINT_VIOLATION,
            f"{field}: {raw!r} is not a number",
        )
    return value


def ocpp_number(amount: Decimal) -> float:
    """An exact Decimal amount as the JSON number an OCPP field wants (e.g. totalCost).

    Our JSON encoder writes a float by its shortest round-trip form, so any amount of at most
    15 significant digits reaches the wire as exactly its own digits; anything else is refused
    rather than rounded silently."""
    number = float(amount)
    if Decimal(repr(number)) != amount:
        raise ValueError(f"{amount} cannot be carried exactly as a JSON number")
    return number
