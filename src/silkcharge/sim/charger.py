"""One virtual charging station speaking real OCPP over a real WebSocket.

`SimulatedCharger` keeps the station's state and timing (connection, boot, heartbeats,
sessions, metering, faults, resets) in one vocabulary; the OCPP version lives behind a
`Dialect` (v16 / v201). The CSMS endpoint is `{url}/{stationId}`, HTTP Basic auth with the
station id and password, subprotocol `ocpp1.6`, `ocpp2.0.1` or `ocpp2.1`.

Connector references: a `(evse_id, connector_id)` pair works for both versions; a bare int is
the 1.6 connectorId (the 1-based position in `StationSpec.connectors`) for 1.6 stations and
the EVSE id (its first connector) for 2.0.1 and 2.1 stations.
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import quote

from ocpp.exceptions import OCPPError
from ocpp.v16.enums import ChargePointErrorCode
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, WebSocketException
from websockets.typing import Subprotocol

from silkcharge.domain.clock import utcnow
from silkcharge.sim import v16, v21, v201
from silkcharge.sim.certificates import StationCertificates
from silkcharge.sim.der import DerControls
from silkcharge.sim.link import BootResult, Dialect, StationLink
from silkcharge.sim.local_cost import CardPayment, LocalCost
from silkcharge.sim.meter import Ev, Meter, MeterSample
from silkcharge.sim.network import ConnectionProfile, Network
from silkcharge.sim.reservations import Held, ReservationBook
from silkcharge.sim.smart import Outlet, ProfileStore, external_constraint
from silkcharge.sim.spec import ConnectorSpec, StationSpec
from silkcharge.sim.state import (
    Authorization,
    BootReason,
    ConnectorState,
    ConnectorStatus,
    Fault,
    IdToken,
    LocalAuthList,
    Session,
    StopReason,
    Tunables,
)
from silkcharge.smart.composite import ActiveTransaction
from silkcharge.smart.profiles import ChargingProfile, ChargingProfilePurpose

__all__ = [
    "AuthorizationRejected",
    "ConnectorRef",
    "ConnectorSpec",
    "ConnectorUnavailable",
    "NoActiveTransaction",
    "SimulatedCharger",
    "StationSpec",
]

log = logging.getLogger(__name__)

ConnectorRef = int | tuple[int, int]
T = TypeVar("T")

_DIALECTS: dict[str, Dialect] = {"1.6": v16.DIALECT, "2.0.1": v201.DIALECT, "2.1": v21.DIALECT}
_ERROR_CODES = frozenset(code.value for code in ChargePointErrorCode) - {"NoError"}
_CONNECTION_ERRORS = (OSError, TimeoutError, WebSocketException, OCPPError)


class AuthorizationRejected(Exception):
    """The CSMS (or the offline local list) did not accept the idToken."""

    def __init__(self, id_token: str, status: str) -> None:
        super().__init__(f"idToken {id_token!r} not accepted: {status}")
        self.id_token, self.status = id_token, status


class ConnectorUnavailable(Exception):
    """The connector cannot start a session now (in use, faulted or unavailable)."""


class NoActiveTransaction(Exception):
    """There is no running transaction on that connector."""


class LinkLost(Exception):
    """The station is not registered with the CSMS, or its connection closed mid-call."""


class SimulatedCharger:
    """A station: call `run()` in a task, drive it with the session methods, `stop()` it."""

    def __init__(
        self,
        spec: StationSpec,
        url: str,
        *,
        meter_interval: float = 10.0,
        heartbeat_fallback: float = 60,
        reconnect_delay: float = 2.0,
        rng: random.Random | None = None,
        step_delay: float = 1.0,
        obey_profiles: bool = True,
        accept_profiles: bool = True,
        tls_url: str | None = None,
        ca_file: str | None = None,
        renew_certificate_within: timedelta | None = None,
        iso15118: bool = False,
    ) -> None:
        """`url` is the CSMS's ws:// endpoint, `tls_url` its wss:// one (security profiles 2
        and 3), `ca_file` the CA the station trusts for it (default: the system's).
        `iso15118`: the cars talk ISO 15118 (2.0.1 only): each states its charging needs when
        its session starts and answers every TxProfile with its own schedule (K15-K17)."""
        self.spec = spec
        self.iso15118 = iso15118 and spec.ocpp_version != "1.6"
        self.network = Network(
            spec.station_id, spec.password, url.rstrip("/"), security_profile=spec.security_profile,
            tls_url=tls_url.rstrip("/") if tls_url else None, ca_file=ca_file,
            certificate_file=spec.certificate_file, key_file=spec.key_file,
        )
        self.heartbeat_fallback = float(heartbeat_fallback)
        self.reconnect_delay = reconnect_delay
        self.step_delay = step_delay  # pause between firmware / log upload status steps
        self.rng = rng or random.Random()
        self.tunables = Tunables(heartbeat_fallback, meter_interval)
        self.connectors = tuple(
            ConnectorState(c, position, Meter(c, self.rng, Decimal(self.rng.randint(10**5, 10**7))))
            for position, c in enumerate(spec.connectors, start=1)
        )
        for c in self.connectors:
            c.neighbours = tuple(n for n in self.connectors if n.evse_id == c.evse_id and n is not c)
        self.profiles = ProfileStore(
            [self._outlet(c) for c in self._one_per_number()], obey=obey_profiles, accept=accept_profiles
        )
        for c in self.connectors:
            c.meter.cap = lambda c=c: self.profiles.power_cap_w(self._number(c), utcnow())
            c.meter.setpoint = lambda c=c: self._discharge_setpoint(c)
        self.local_list = LocalAuthList()
        self.local_cost = LocalCost()  # 2.1: tariffs held, costs calculated, the card terminal
        self.der = DerControls()  # 2.1: the DER's grid-code controls (sim/der.py)
        self.auth_cache: dict[str, str] = {}
        self.token_groups: dict[str, str] = {}  # idToken -> its group, as the CSMS said
        self.reservations = ReservationBook(self.connectors, self._number)
        self.firmware_status = "Idle"
        self.log_status = "Idle"
        self.certificates = StationCertificates(spec.station_id)
        # A03: after each boot, ask for a new certificate when there is none or it expires
        # within this period (None: only when the CSMS asks, A02).
        self.renew_certificate_within = renew_certificate_within
        self.registration: str | None = None
        self.connected = asyncio.Event()
        self.booted = asyncio.Event()
        self._dialect = _DIALECTS[spec.ocpp_version]
        self.settings = self._dialect.settings(self)
        self._link: StationLink | None = None
        self._closed = asyncio.Event()
        self._closed.set()
        self._stopping = asyncio.Event()
        self._reboot = asyncio.Event()
        self._run_finished = asyncio.Event()
        self._run_finished.set()
        self._boot_reason = BootReason.POWER_UP
        self._last_boot_interval = 0
        self._reset_when_idle: StopReason | None = None
        self._tasks: set[asyncio.Task] = set()
        self.queued = 0  # messages waiting to be delivered

    # ---- state a caller may read -------------------------------------------------------------

    @property
    def transactions(self) -> dict[str, Session]:
        """Running transactions by transaction id."""
        return {
            c.session.transaction_id: c.session
            for c in self.connectors
            if c.session is not None and not c.session.ending
        }

    def connector(self, ref: ConnectorRef) -> ConnectorState:
        for c in self.connectors:
            if isinstance(ref, tuple) and (c.evse_id, c.connector_id) == ref:
                return c
            if isinstance(ref, int) and ref == self._number(c):
                return c
        raise KeyError(f"station {self.spec.station_id} has no connector {ref!r}")

    def _number(self, c: ConnectorState) -> int:
        return c.position if self.spec.ocpp_version == "1.6" else c.evse_id

    # ---- charging profiles -------------------------------------------------------------------

    def _one_per_number(self) -> list[ConnectorState]:
        first: dict[int, ConnectorState] = {}
        for c in self.connectors:
            first.setdefault(self._number(c), c)
        return list(first.values())

    def _outlet(self, c: ConnectorState) -> Outlet:
        number = self._number(c)
        return Outlet(
            number, c.spec.max_power_kw * 1000, c.meter.phases, c.meter.current_type,
            lambda: self._running(number),
        )

    def _running(self, number: int) -> ActiveTransaction | None:
        for c in self.connectors:
            if self._number(c) == number and c.session is not None and not c.session.ending:
                return ActiveTransaction(c.session.started_at, c.session.transaction_id)
        return None

    def on_evse(self, number: int) -> list[ConnectorState]:
        """Connectors of an EVSE by the version's own number (every connector for 0)."""
        return [c for c in self.connectors if number == 0 or self._number(c) == number]

    def meter_until_now(self) -> None:
        """Integrate every running meter up to now, before a change of limit takes effect."""
        for c in self.connectors:
            if c.session is not None:
                c.meter.advance(time.monotonic())

    def readings_now(self) -> list[tuple[Session, MeterSample, datetime]]:
        """Each running session's reading now, once a change of limit took effect."""
        now = utcnow()
        return [
            (c.session, self.read_meter(c), now)
            for c in self.connectors
            if c.session is not None and not c.session.ending
        ]

    async def report_rate_change(self, readings: list[tuple[Session, MeterSample, datetime]]) -> None:
        """Tell the CSMS the new draw at once (2.0.1 ChargingRateChanged; 1.6 MeterValues)."""
        for session, sample, at in readings:
            await self._notify(lambda link: link.rate_changed(session, sample, at))

    # ---- lifecycle ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Stay connected until `stop()`: connect, boot, announce, heartbeat, reconnect."""
        self._stopping.clear()
        self._run_finished.clear()
        try:
            while not self._stopping.is_set():
                profile = self.network.current()
                try:
                    await self._connection(profile)
                except (*_CONNECTION_ERRORS, ssl.SSLError) as error:
                    self.network.failed()
                    log.warning("%s: no connection to %s: %s", self.spec.station_id,
                                self.endpoint(profile), error)
                if not self._stopping.is_set():
                    await self._pause(self.reconnect_delay)
        finally:
            self._run_finished.set()

    async def stop(self) -> None:
        """Power off: close the socket and end background work; sessions stay as they are."""
        self._stopping.set()
        await self._run_finished.wait()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def endpoint(self, profile: ConnectionProfile | None = None) -> str:
        """`{url}/{stationId}` of a network profile (the one used now by default)."""
        url = (profile or self.network.current()).url
        return f"{url}/{quote(self.spec.station_id, safe='')}"

    async def _connection(self, profile: ConnectionProfile) -> None:
        async with connect(
            self.endpoint(profile),
            subprotocols=[Subprotocol(self._dialect.subprotocol)],
            additional_headers=self.network.headers(profile),
            ssl=self.network.ssl_context(profile),
        ) as socket:
            self.network.connected(profile)
            if socket.subprotocol != self._dialect.subprotocol:
                log.warning("%s: CSMS did not agree to %s", self.spec.station_id,
                            self._dialect.subprotocol)
                return
            link = self._dialect.link(self, socket)
            self._go_online(link)
            try:
                await self._serve(link)
            finally:
                self._go_offline()

    def _go_online(self, link: StationLink) -> None:
        self._link = link
        self._closed = asyncio.Event()
        self._reboot.clear()
        for c in self.connectors:
            c.announced = None
        self.connected.set()

    def _go_offline(self) -> None:
        self._link = None
        self.connected.clear()
        self.booted.clear()
        self._closed.set()

    async def _serve(self, link: StationLink) -> None:
        watched = [
            asyncio.create_task(link.start()),
            asyncio.create_task(self._online(link)),
            asyncio.create_task(self._reboot.wait()),
            asyncio.create_task(self._stopping.wait()),
        ]
        try:
            done, _ = await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in watched:
                task.cancel()
            await asyncio.gather(*watched, return_exceptions=True)
        for task in done:
            error = None if task.cancelled() else task.exception()
            if error is not None and not isinstance(error, ConnectionClosed):
                raise error

    async def _online(self, link: StationLink) -> None:
        reason = self._boot_reason
        await self._register(link, reason)
        self._boot_reason = BootReason.UNKNOWN
        await link.after_boot(reason)
        for c in self.connectors:
            await self._announce(c)
        within = self.renew_certificate_within
        if within is not None and self.certificates.needs_renewal(within):
            self.spawn(self.request_certificate())
        while True:
            interval = self.tunables.heartbeat_interval
            await asyncio.sleep(interval if interval > 0 else self.heartbeat_fallback)
            await link.heartbeat()

    async def _register(self, link: StationLink, reason: BootReason) -> None:
        """BootNotification until Accepted, waiting the interval the CSMS gave in between."""
        while True:
            self.accept_registration(await link.boot(reason))
            if self.booted.is_set():
                return
            if await _set_within(self.booted, self._retry_after()):
                return

    def _retry_after(self) -> float:
        return self._last_boot_interval or self.heartbeat_fallback

    def accept_registration(self, result: BootResult) -> None:
        """Apply a BootNotification answer (also one the CSMS triggered)."""
        self.registration = result.status
        self._last_boot_interval = result.interval
        if result.status == "Accepted":
            if result.interval > 0:
                self.tunables.heartbeat_interval = float(result.interval)
            self.booted.set()

    async def _pause(self, seconds: float) -> None:
        await _set_within(self._stopping, seconds)

    # ---- sessions ----------------------------------------------------------------------------

    def _discharge_setpoint(self, c: ConnectorState) -> Decimal | None:
        """OCPP 2.1 V2X: what the profiles ask the car to discharge, once the CSMS allowed the
        transaction a bidirectional mode (NotifyAllowedEnergyTransfer with a *_BPT mode)."""
        session = c.session
        if session is None or not session.allowed_energy_transfer:
            return None
        if not any("BPT" in mode for mode in session.allowed_energy_transfer):
            return None
        return self.profiles.setpoint_w(self._number(c), utcnow())

    async def plug_in_and_charge(
        self, connector: ConnectorRef, id_token: str, *, energy_kwh: Decimal | None = None,
        token_type: str = "ISO14443", car: Ev | None = None,
    ) -> str:
        """Plug in, Authorize, start the transaction and meter it; return the transaction id.

        Waits for the CSMS if the station is offline (1.6 needs its transaction id).
        `energy_kwh` is what the EV takes before it stops drawing (SuspendedEV); `car` a given car
        (e.g. a bidirectional one) instead of a random one. A reserved
        connector takes only its reservation's token (or group); a master pass starts nothing.
        """
        c = self.connector(connector)
        if not self.claim(c):
            raise ConnectorUnavailable(f"{self.spec.station_id} {connector!r}: {c.status}")
        await self._announce(c)
        token = IdToken(id_token, token_type)
        try:
            auth = await self._authorize(token)
        except BaseException:
            await self._unplug(c)
            raise
        refusal = auth.status if auth.status != "Accepted" else self._refusal(c, token, auth)
        if refusal is not None:
            await self._unplug(c)
            raise AuthorizationRejected(id_token, refusal)
        return await self._start(c, token, energy_kwh=energy_kwh, reservation=self._reservation(c, token, auth), car=car)

    def _refusal(self, c: ConnectorState, token: IdToken, auth: Authorization) -> str | None:
        """Why an accepted token may not start on `c`: a master pass (C16), or a reservation."""
        master = self.settings.master_pass_group()
        if master and auth.group == master:
            return "MasterPass"
        if self.reservations.for_start(c, token.value, auth.group) is False:
            return "Reserved"
        return None

    def _reservation(self, c: ConnectorState, token: IdToken, auth: Authorization) -> int | None:
        held = self.reservations.for_start(c, token.value, auth.group)
        if not isinstance(held, Held):
            return None
        self.reservations.use(held)
        return held.reservation_id

    async def pay_by_card(
        self, connector: ConnectorRef, reserve: Decimal, *, energy_kwh: Decimal | None = None, car: Ev | None = None,
    ) -> str:
        """OCPP 2.1 ad-hoc payment: a bank card at the charger's terminal reserves `reserve`, and
        the session starts with the payment reference as its DirectPayment idToken; when it ends
        the terminal settles what it cost (at most `reserve`) and the station reports it."""
        psp_ref = f"PSP-{self.rng.getrandbits(64):016x}"
        self.local_cost.payments[psp_ref] = CardPayment(psp_ref, reserve)
        return await self.plug_in_and_charge(
            connector, psp_ref, token_type="DirectPayment", energy_kwh=energy_kwh, car=car)

    async def grid_event(self, fault: str, *, ended: bool = False, control_type: str | None = None,
                         extra_info: str | None = None) -> str:
        """OCPP 2.1 NotifyDERAlarm: the DER saw a grid event (OverVoltage, UnderFrequency, ...),
        or saw it end; the alarm names the control it concerns (`control_type`, else the trip
        control the fault crosses). Returns the control type alarmed about."""
        async def send(link):
            concerned = control_type or link.control_tripped_by(fault)
            await link.der_alarm(concerned, fault, ended, extra_info)
            return concerned

        return await self._exchange(send)

    async def validate_vat_number(self, vat_number: str, evse_id: int | None = None) -> dict:
        """OCPP 2.1 VatNumberValidation: ask the CSMS whether a company's VAT number will do
        for a company receipt; the CSMS's answer (snake_case)."""
        return await self._exchange(lambda link: link.validate_vat_number(vat_number, evse_id))

    async def present_card(self, id_token: str, token_type: str = "ISO14443") -> int:
        """A card held to the reader with no cable going in: it stops the sessions it may stop,
        its own or its group's (1.6 parentIdTag, 2.0.1 groupIdToken), or, for a master pass
        (2.0.1 C16), every session. How many it stopped."""
        token = IdToken(id_token, token_type)
        auth = await self._authorize(token)
        if auth.status != "Accepted":
            return 0
        master = self.settings.master_pass_group()
        stopping = [
            s for s in self.transactions.values()
            if (master and auth.group == master) or s.id_token.value == id_token
            or (auth.group is not None and self.token_groups.get(s.id_token.value) == auth.group)
        ]
        for session in stopping:
            if session.id_token.value != id_token:
                session.stopped_by = token
            reason = StopReason.MASTER_PASS if master and auth.group == master else StopReason.LOCAL
            await self._end(session, reason)
        return len(stopping)

    def reserve(self, held: Held) -> str:
        """Answer a ReserveNow; an accepted reservation lapses at its time by itself (the
        caller announces the connector it shows Reserved once the answer is sent)."""
        status = self.reservations.reserve(held, utcnow())
        if status == "Accepted":
            self.spawn(self._lapse_at(held))
        return status

    async def cancel_reservation(self, reservation_id: int) -> bool:
        held = self.reservations.held.get(reservation_id)
        cancelled = self.reservations.cancel(reservation_id)
        if held is not None and held.connector is not None:
            await self._announce(held.connector)
        return cancelled

    async def _lapse_at(self, held: Held) -> None:
        await asyncio.sleep(max(0.0, (held.expires_at - utcnow()).total_seconds()))
        if self.reservations.held.get(held.reservation_id) is not held:
            return  # used, cancelled or replaced meanwhile
        self.reservations.cancel(held.reservation_id)
        if held.connector is not None:
            await self._announce(held.connector)
        await self._notify(lambda link: link.reservation_ended(held.reservation_id, "Expired"))

    async def stop_charging(self, connector: ConnectorRef, reason: str = "Local") -> None:
        """End the connector's transaction (StopTransaction / TransactionEvent Ended)."""
        c = self.connector(connector)
        if c.session is None or c.session.ending:
            raise NoActiveTransaction(f"{self.spec.station_id} {connector!r} is not charging")
        await self._end(c.session, StopReason(reason))

    async def set_fault(
        self, connector: ConnectorRef, error_code: str = "GroundFailure",
        vendor_error: str | None = None,
    ) -> None:
        """Fault the connector (1.6 ChargePointErrorCode names); a running session ends."""
        if error_code not in _ERROR_CODES:
            known = ", ".join(sorted(_ERROR_CODES))
            raise ValueError(f"unknown error code {error_code!r}; use one of {known}")
        c = self.connector(connector)
        fault = c.fault = Fault(error_code, vendor_error)
        if c.session is not None:
            await self._end(c.session, StopReason.for_fault(error_code))
        await self._announce(c)
        await self._notify(lambda link: link.fault_changed(c, fault, False))

    async def clear_fault(self, connector: ConnectorRef) -> None:
        c = self.connector(connector)
        fault, c.fault = c.fault, None
        await self._announce(c)
        if fault is not None:
            await self._notify(lambda link: link.fault_changed(c, fault, True))

    def claim(self, c: ConnectorState) -> bool:
        """Take a free (or reserved) connector for a session (the cable goes in); False if it
        is not free. Whether the token may use a reserved one is decided once it is known."""
        if not (c.free or c.status is ConnectorStatus.RESERVED):
            return False
        c.plugged = True
        return True

    async def remote_start(
        self, c: ConnectorState, token: IdToken, remote_start_id: int | None = None,
        profile: ChargingProfile | None = None,
    ) -> None:
        """Start on a connector already `claim`ed for a CSMS's remote start request; `profile`
        is the TxProfile the request carried, installed for the transaction it starts."""
        await self._announce(c)
        auth = Authorization("Accepted", self.token_groups.get(token.value))
        if self.tunables.authorize_remote_start:
            auth = await self._authorize(token)
        refusal = auth.status if auth.status != "Accepted" else self._refusal(c, token, auth)
        if refusal is not None:
            await self._unplug(c)
            return
        try:
            await self._start(c, token, remote_start_id=remote_start_id,
                              reservation=self._reservation(c, token, auth), profile=profile)
        except AuthorizationRejected as rejected:
            log.info("%s: remote start refused: %s", self.spec.station_id, rejected)

    async def _start(
        self, c: ConnectorState, token: IdToken, *, remote_start_id: int | None = None,
        energy_kwh: Decimal | None = None, reservation: int | None = None,
        profile: ChargingProfile | None = None, car: Ev | None = None,
    ) -> str:
        c.meter.connect(car or Ev.random(self.rng, c.meter.current_type, energy_kwh), time.monotonic())
        sample = c.meter.sample()
        session = Session(c, token, utcnow(), sample.energy_wh, remote_start_id, reservation)
        c.session = session
        status = await self._deliver(lambda link: link.transaction_started(session, sample))
        if status != "Accepted":
            await self._end(session, StopReason.DEAUTHORIZED)
            raise AuthorizationRejected(token.value, status)
        if profile is not None:  # 1.6 TC_059, 2.0.1 K05: the profile is the new transaction's
            self.profiles.install(self._number(c), replace(profile, transaction_id=session.transaction_id))
        await self._announce(c)
        session.meter_task = self.spawn(self._metering(session))
        return session.transaction_id

    async def _metering(self, session: Session) -> None:
        c = session.connector
        while not await self._halted(session):
            sample = c.meter.advance(time.monotonic())
            if c.meter.ev is not None and c.meter.ev.full and not session.suspended:
                session.suspended = True
                await self._announce(c)
                await self._notify(lambda link: link.charging_state_changed(session, sample))
            else:
                await self._notify(lambda link: link.transaction_sample(session, sample))

    async def _halted(self, session: Session) -> bool:
        """Wait one meter interval; True if the session ended meanwhile."""
        return await _set_within(session.halt, self.tunables.meter_interval)

    async def end_session(self, session: Session, reason: StopReason) -> None:
        """End a transaction for a CSMS command (RemoteStop, Unlock, Reset)."""
        await self._end(session, reason)

    async def _end(self, session: Session, reason: StopReason) -> None:
        if session.ending:
            return
        session.ending = True
        session.halt.set()
        if session.meter_task is not None:  # a sample in flight goes out before the stop
            await asyncio.gather(session.meter_task, return_exceptions=True)
        c = session.connector
        sample = c.meter.advance(time.monotonic())
        c.meter.disconnect()
        self.profiles.transaction_ended(self._number(c))
        await self._deliver(lambda link: link.transaction_ended(session, reason, sample))
        await self._announce(c)
        c.session = None
        if c.pending_operative is not None:
            c.operative, c.pending_operative = c.pending_operative, None
        await self._unplug(c)
        if self._reset_when_idle is not None and not self.transactions:
            self.spawn(self.reset(self._reset_when_idle))

    async def _unplug(self, c: ConnectorState) -> None:
        c.plugged = False
        await self._announce(c)

    async def unplug(self, c: ConnectorState) -> None:
        """The cable comes out of a connector that has no transaction (e.g. after Unlock)."""
        if c.session is None:
            await self._unplug(c)

    def read_meter(self, c: ConnectorState) -> MeterSample:
        return c.meter.advance(time.monotonic())

    # ---- authorization -----------------------------------------------------------------------

    async def _authorize(self, token: IdToken) -> Authorization:
        try:
            auth = await self._exchange(lambda link: link.authorize(token))
        except LinkLost:
            return Authorization(self._authorize_offline(token), self.token_groups.get(token.value))
        if self.tunables.auth_cache_enabled:
            self.auth_cache[token.value] = auth.status
        if auth.group is not None:
            self.token_groups[token.value] = auth.group
        return auth

    def _authorize_offline(self, token: IdToken) -> str:
        if not self.tunables.local_authorize_offline:
            return "Invalid"
        if self.tunables.local_auth_list_enabled and token.value in self.local_list.entries:
            return self.local_list.entries[token.value]
        if self.tunables.auth_cache_enabled and token.value in self.auth_cache:
            return self.auth_cache[token.value]
        return "Invalid"

    # ---- CSMS commands that change the whole station -----------------------------------------

    def change_availability(self, targets: Iterable[ConnectorState], operative: bool) -> str:
        """Accepted, or Scheduled when a target is charging (applied when its session ends)."""
        scheduled = False
        for c in targets:
            if c.session is not None and not operative:
                c.pending_operative, scheduled = False, True
            else:
                c.operative, c.pending_operative = operative, None
        return "Scheduled" if scheduled else "Accepted"

    async def announce(self, targets: Iterable[ConnectorState]) -> None:
        for c in targets:
            await self._announce(c)

    def request_reset(self, reason: StopReason, *, when_idle: bool = False) -> str:
        """Accepted (caller then awaits `reset`), or Scheduled until the last session ends.
        While it waits no session starts: every connector turns Unavailable once it is idle
        (as OCPP 2.0.1 B12 has it), so a busy station does reach idle; the caller announces."""
        if when_idle and self.transactions:
            self._reset_when_idle = reason
            for c in self.connectors:
                c.awaiting_reset = True
            return "Scheduled"
        return "Accepted"

    async def reset(self, reason: StopReason) -> None:
        """End every session, close the socket and boot again (reason RemoteReset)."""
        self._reset_when_idle = None
        for session in list(self.transactions.values()):
            await self._end(session, reason)
        for c in self.connectors:
            c.awaiting_reset = False
        self._boot_reason = BootReason.REMOTE_RESET
        self.network.start_over()
        self._reboot.set()

    def reconnect(self) -> None:
        """Close the socket and open a new one (with a new password, say); sessions go on."""
        self._reboot.set()

    async def update_firmware(
        self, retrieve_at: datetime, request_id: int | None = None, signed: bool = False
    ) -> None:
        """Download and install, reporting each step; installation waits for idle connectors."""
        await asyncio.sleep(max(0.0, (retrieve_at - utcnow()).total_seconds()))
        steps = ["Downloading", "Downloaded", *(["SignatureVerified"] if signed else []),
                 "Installing", "Installed"]
        for status in steps:
            if status == "Installing":
                while self.transactions:
                    await asyncio.sleep(self.step_delay)
            self.firmware_status = status
            await self._deliver(lambda link: link.firmware_status(status, request_id))
            await asyncio.sleep(self.step_delay)
        self.firmware_status = "Idle"
        await self.security_event("FirmwareUpdated", f"firmware from {'a signed' if signed else 'an unsigned'} update")

    async def request_certificate(self) -> str:
        """SignCertificate with a CSR for a new key; the CSMS delivers the chain later."""
        return await self._deliver(lambda link: link.sign_certificate(self.certificates.csr()))

    def certificate_delivered(self, pem: str) -> bool:
        """CertificateSigned: install the chain, or report why not as a security event."""
        problem = self.certificates.take_chain(pem)
        if problem is not None:
            log.warning("%s: refused the signed certificate: %s", self.spec.station_id, problem)
            self.spawn(self.security_event("InvalidChargingStationCertificate", problem))
        return problem is None

    async def security_event(self, kind: str, tech_info: str | None = None) -> None:
        """SecurityEventNotification (event names as OCPP 2.0.1 spells them)."""
        await self._deliver(lambda link: link.security_event(kind, tech_info))

    async def external_limit(self, evse: int, amps: Decimal | None, source: str = "EMS") -> None:
        """An energy management system (or the grid operator, source "SO") limits an EVSE (0:
        the station) to `amps`, or lifts its limit (None): the station applies it and tells
        the CSMS (2.0.1 NotifyChargingLimit / ClearedChargingLimit, K11-K13)."""
        if self.spec.ocpp_version == "1.6":
            raise ValueError("OCPP 1.6 has no way to tell the CSMS of an external limit")
        self.meter_until_now()
        self.profiles.clear(evse=evse, purpose=ChargingProfilePurpose.EXTERNAL_CONSTRAINTS)
        if amps is not None:
            self.profiles.install(evse, external_constraint(evse, amps))
        readings = self.readings_now()
        await self._notify(lambda link: link.charging_limit(evse, amps, source))
        await self.report_rate_change(readings)

    async def upload_log(self, request_id: int | None = None) -> None:
        for status in ("Uploading", "Uploaded"):
            self.log_status = status
            await self._deliver(lambda link: link.log_status(status, request_id))
            await asyncio.sleep(self.step_delay)
        self.log_status = "Idle"

    # ---- sending -----------------------------------------------------------------------------

    async def _announce(self, c: ConnectorState) -> None:
        """StatusNotification when what the CSMS last heard for this connector changed; then for
        the other connectors of its EVSE, which are Unavailable while it is in use."""
        await self._announce_one(c)
        for n in c.neighbours:
            await self._announce_one(n)

    async def _announce_one(self, c: ConnectorState) -> None:
        heard = (self._dialect.wire_status(c.status), c.fault)
        if not self.booted.is_set() or heard == c.announced:
            return
        c.announced = heard
        try:
            await self._exchange(lambda link: link.status(c))
        except LinkLost:
            c.announced = None

    async def _notify(self, send: Callable[[StationLink], Awaitable[None]]) -> None:
        """Best effort: send if registered, drop if offline (the CSMS resyncs on reconnect)."""
        try:
            await self._exchange(send)
        except LinkLost:
            pass

    async def _deliver(self, send: Callable[[StationLink], Awaitable[T]]) -> T:
        """At least once: wait out disconnections, as stations queue transaction messages."""
        self.queued += 1  # what GetTransactionStatus reports as messagesInQueue (E14)
        try:
            while True:
                await self.booted.wait()
                closed = self._closed
                try:
                    return await self._exchange(send)
                except LinkLost:
                    await closed.wait()
        finally:
            self.queued -= 1

    async def _exchange(self, send: Callable[[StationLink], Awaitable[T]]) -> T:
        """One call on the registered link; `LinkLost` if there is none or it closes first.

        The `ocpp` library would wait its full response timeout for an answer that a closed
        socket can no longer bring, so the call is raced against the connection's end.

        A task that was told to stop sends nothing more. On Python 3.11 `asyncio.wait_for`
        (inside the library's call) drops a cancellation that comes as its reply arrives
        (gh-86296): the caller goes on as if never cancelled, and its next call, with the
        socket's reader already gone, waited the library's whole timeout (30 s) while `stop()`
        waited for it.
        """
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise asyncio.CancelledError
        link, closed = self._link, self._closed
        if link is None or not self.booted.is_set():
            raise LinkLost
        exchange = asyncio.ensure_future(send(link))
        lost = asyncio.ensure_future(closed.wait())
        try:
            done, _ = await asyncio.wait({exchange, lost}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            lost.cancel()
            if not exchange.done():
                exchange.cancel()
        if exchange not in done:
            raise LinkLost
        try:
            return exchange.result()
        except ConnectionClosed as error:
            raise LinkLost from error

    def spawn(self, work: Coroutine[Any, Any, Any]) -> asyncio.Task:
        """Run work in the background; it is cancelled by `stop()` and its failure logged."""
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._reap)
        return task

    def _reap(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("%s: background work failed: %r", self.spec.station_id, task.exception())


async def _set_within(event: asyncio.Event, seconds: float) -> bool:
    """Whether `event` is set within `seconds`. Not asyncio.wait_for: on Python 3.11 it can
    swallow a cancellation that races with its timeout, and a loop around it then never ends
    (seen as a test run hanging in teardown); asyncio.timeout does not."""
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        return False
    return True
