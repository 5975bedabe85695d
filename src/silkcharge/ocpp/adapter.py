"""What every protocol adapter provides, and how handlers are declared.

An adapter is the only code that knows a protocol version: it turns a station's CALL into calls
on the version-neutral services and their answers back into that version's reply, and turns a
neutral command into that version's CALL.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar, Protocol

from silkcharge.domain import commands as c
from silkcharge.domain.charging import BootDecision, StationEvent
from silkcharge.domain.clock import to_ocpp, utcnow
from silkcharge.domain.commands import CommandNotSupported, CommandParams
from silkcharge.domain.plausibility import Implausible, Origin
from silkcharge.domain.tokens import UNREGISTERED
from silkcharge.ocpp import schemas
from silkcharge.ocpp.rpc import ErrorKind, RpcError
from silkcharge.services.certificates import CertificateService
from silkcharge.services.ports import OutboundCall
from silkcharge.services.reservations import ReservationLedger
from silkcharge.services.security_events import SecurityEvents
from silkcharge.services.stations import StationService
from silkcharge.services.transactions import TransactionService

Handler = Callable[..., Awaitable[dict[str, Any]]]


class SessionCosts(Protocol):
    """What a transaction reply needs to carry its cost (services/charger_cost.py)."""

    async def running_total(self, transaction_id: int, read: Any = None) -> Decimal | None: ...

    async def final_total(self, transaction_id: int) -> Decimal | None: ...


class TariffTexts(Protocol):
    """What authorization and transaction replies need to carry the driver's tariff
    (services/tariff_info.py)."""

    async def for_driver(self, station_id: str, evse_id: int | None, id_token: str, at: datetime) -> Any: ...

    async def started(self, transaction_id: int, station_id: str, evse_id: int, id_token: str,
                      at: datetime) -> Any: ...

    async def updated(self, transaction_id: int, read: Any = None) -> Any: ...


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
        self, station_id: str, request_id: int, evse_id: int, profiles: list[Any], more_to_come: bool,
        limit_source: str = "CSO",
    ) -> None: ...

    async def ev_charging_needs(
        self, station_id: str, evse_id: int, needs: dict[str, Any], max_schedule_tuples: int | None = None,
    ) -> None: ...


@dataclass
class Session:
    """What an adapter knows about the socket it serves."""

    station_id: str
    reject_boot: bool = False
    origin: Origin | None = None
    """The frame being answered (message id, action, receive time), for plausibility flags."""
    follow_ups: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    """What a handler asks to run once its reply has been sent (e.g. CertificateSigned after the
    SignCertificate reply): the connection starts each one after the CALLRESULT is on the wire."""


class Adapter:
    version: ClassVar[str]
    handlers: ClassVar[dict[str, str]]
    builders: ClassVar[dict[str, str]]
    # Actions a station may send before it is Accepted.
    before_acceptance: ClassVar[frozenset[str]] = frozenset({"BootNotification", "Heartbeat"})
    # What the station's configuration says of each station-profile fact: the keys that tell
    # it, and how to read a key's text (None: the text says nothing). Declared per version.
    profile_readers: ClassVar[dict[str, tuple[tuple[str, ...], Callable[[str], Any]]]] = {}

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
        self,
        stations: StationService,
        transactions: TransactionService,
        reservations: ReservationLedger,
        security_events: SecurityEvents,
    ) -> None:
        self.stations = stations
        self.transactions = transactions
        self.reservations = reservations
        self.security_events = security_events
        self.costs: SessionCosts | None = None
        """Set by the composition root once the services that price sessions exist."""
        self.tariffs: TariffTexts | None = None
        """The driver's tariff on the display (2.0.1 I01, I06); set by the composition root."""
        # Smart charging hears what stations report of their profiles and EVs' needs
        # (services/smart.py, attached by build_platform); None: nobody listens.
        self.smart: SmartChargingListener | None = None
        # Certificate management (services/certificates.py, attached by build_platform); None:
        # certificate requests are refused with that reason.
        self.certificates: CertificateService | None = None

    def handles(self, action: str) -> bool:
        return action in self.handlers

    def can_build(self, name: str) -> bool:
        return name in self.builders

    def knows_action(self, action: str) -> bool:
        return schemas.known_action(self.version, action)

    def profile_facts(self, configuration: dict[str, Any]) -> dict[str, tuple[Any, str]]:
        facts: dict[str, tuple[Any, str]] = {}
        for fact, (keys, read) in self.profile_readers.items():
            for key in keys:
                raw = configuration.get(key)
                value = None if raw is None else read(str(raw))
                if value is not None:
                    facts[fact] = (value, key)
                    break
        return facts

    def profile_keys(self, fact: str) -> tuple[str, ...]:
        return self.profile_readers.get(fact, ((), None))[0]

    def split(self, call: OutboundCall, configuration: dict[str, Any]) -> list[OutboundCall]:
        """One CALL, unless a version limits what a message may carry (see v201)."""
        return [call]

    def join(self, call: OutboundCall, replies: list[dict[str, Any]]) -> dict[str, Any]:
        return replies[0]

    async def handle(self, session: Session, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        try:
            return await getattr(self, self.handlers[action])(session, payload)
        except Implausible as refused:  # only messages OCPP lets us refuse are ever refused
            raise RpcError(ErrorKind.PROPERTY_CONSTRAINT_VIOLATION, str(refused)) from None

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

    async def sign_certificate_request(
        self, session: Session, csr: str, certificate_type: str | None
    ) -> tuple[bool, str | None]:
        """A station's SignCertificate (A02/A03): whether the CSR is accepted and, if not, why.
        When accepted, the signed chain is delivered with CertificateSigned once the reply is out."""
        certificates = self.certificates
        if certificates is None:
            return False, "certificate signing is not set up on this CSMS"
        decision = await certificates.sign_request(session.station_id, csr, certificate_type)
        if decision.accepted:
            session.follow_ups.append(lambda: certificates.deliver(session.station_id, decision))
        return decision.accepted, decision.reason

    @command("delete_certificate")
    def delete_certificate(self, p: c.DeleteCertificate, ctx: dict) -> OutboundCall:
        data = {"hashAlgorithm": p.hash_algorithm, "issuerNameHash": p.issuer_name_hash.lower(),
                "issuerKeyHash": p.issuer_key_hash.lower(), "serialNumber": p.serial_number.lower()}
        return OutboundCall("DeleteCertificate", {"certificateHashData": data})

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


def ocpp_number(amount: Decimal) -> float:
    """An exact Decimal amount as the JSON number an OCPP field wants (e.g. totalCost).

    Our JSON encoder writes a float by its shortest round-trip form, so any amount of at most
    15 significant digits reaches the wire as exactly its own digits; anything else is refused
    rather than rounded silently."""
    number = float(amount)
    if Decimal(repr(number)) != amount:
        raise ValueError(f"{amount} cannot be carried exactly as a JSON number")
    return number


# -- reading configuration text into station-profile facts ------------------------------------


def config_bool(text: str) -> bool | None:
    value = text.strip().lower()
    return True if value == "true" else False if value == "false" else None


def config_list(text: str) -> list[str] | None:
    items = [item.strip() for item in text.split(",") if item.strip()]
    return items or None


def config_text(text: str) -> str | None:
    return text.strip() or None


# -- idToken types -------------------------------------------------------------------------------


def token_type(ctx: dict[str, Any], token: str, given: str | None = None) -> str:
    """The 2.0.1 type to send with `token`: the one the command names, else the registry's
    (CommandService puts them in the context), else Central (see domain/tokens.py)."""
    return given or ctx.get("token_types", {}).get(token) or UNREGISTERED.value
