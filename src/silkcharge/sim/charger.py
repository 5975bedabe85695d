"""One virtual charging station speaking real OCPP over a real WebSocket.

`SimulatedCharger` keeps the station's state and timing (connection, boot, heartbeats,
sessions, metering, faults, resets) in one vocabulary; the OCPP version lives behind a
`Dialect` (v16 / v201). The CSMS endpoint is `{url}/{stationId}`, HTTP Basic auth with the
station id and password, subprotocol `ocpp1.6` or `ocpp2.0.1`.

Connector references: a `(evse_id, connector_id)` pair works for both versions; a bare int is
the 1.6 connectorId (the 1-based position in `StationSpec.connectors`) for 1.6 stations and
the EVSE id (its first connector) for 2.0.1 stations.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import random
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import quote

from ocpp.exceptions import OCPPError
from ocpp.v16.enums import ChargePointErrorCode
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, WebSocketException
from websockets.typing import Subprotocol

from silkcharge.domain.clock import utcnow
from silkcharge.sim import v16, v201
from silkcharge.sim.link import BootResult, Dialect, StationLink
from silkcharge.sim.meter import Ev, Meter, MeterSample
from silkcharge.sim.smart import Outlet, ProfileStore
from silkcharge.sim.spec import ConnectorSpec, StationSpec
from silkcharge.sim.state import (
    BootReason,
    ConnectorState,
    Fault,
    IdToken,
    LocalAuthList,
    Session,
    StopReason,
    Tunables,
)
from silkcharge.smart.composite import ActiveTransaction

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

_DIALECTS: dict[str, Dialect] = {"1.6": v16.DIALECT, "2.0.1": v201.DIALECT}
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
    ) -> None:
        self.spec = spec
        self.endpoint = f"{url.rstrip('/')}/{quote(spec.station_id, safe='')}"
        self.heartbeat_fallback = float(heartbeat_fallback)
        self.reconnect_delay = reconnect_delay
        self.step_delay = step_delay  # pause between firmware / log upload status steps
        self.rng = rng or random.Random()
        self.tunables = Tunables(heartbeat_fallback, meter_interval)
        self.connectors = tuple(
            ConnectorState(c, position, Meter(c, self.rng, Decimal(self.rng.randint(10**5, 10**7))))
            for position, c in enumerate(spec.connectors, start=1)
        )
        self.profiles = ProfileStore(
            [self._outlet(c) for c in self._one_per_number()], obey=obey_profiles, accept=accept_profiles
        )
        for c in self.connectors:
            c.meter.cap = lambda c=c: self.profiles.power_cap_w(self._number(c), utcnow())
        self.local_list = LocalAuthList()
        self.auth_cache: dict[str, str] = {}
        self.firmware_status = "Idle"
        self.log_status = "Idle"
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
                try:
                    await self._connection()
                except _CONNECTION_ERRORS as error:
                    log.warning("%s: no connection to %s: %s", self.spec.station_id,
                                self.endpoint, error)
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

    async def _connection(self) -> None:
        auth = base64.b64encode(f"{self.spec.station_id}:{self.spec.password}".encode()).decode()
        async with connect(
            self.endpoint,
            subprotocols=[Subprotocol(self._dialect.subprotocol)],
            additional_headers={"Authorization": f"Basic {auth}"},
        ) as socket:
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

    async def plug_in_and_charge(
        self, connector: ConnectorRef, id_token: str, *, energy_kwh: Decimal | None = None
    ) -> str:
        """Plug in, Authorize, start the transaction and meter it; return the transaction id.

        Waits for the CSMS if the station is offline (1.6 needs its transaction id).
        `energy_kwh` is what the EV takes before it stops drawing (SuspendedEV).
        """
        c = self.connector(connector)
        if not self.claim(c):
            raise ConnectorUnavailable(f"{self.spec.station_id} {connector!r}: {c.status}")
        await self._announce(c)
        token = IdToken(id_token)
        try:
            status = await self._authorize(token)
        except BaseException:
            await self._unplug(c)
            raise
        if status != "Accepted":
            await self._unplug(c)
            raise AuthorizationRejected(id_token, status)
        return await self._start(c, token, energy_kwh=energy_kwh)

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
        """Take a free connector for a session (the cable goes in); False if it is not free."""
        if not c.free:
            return False
        c.plugged = True
        return True

    async def remote_start(
        self, c: ConnectorState, token: IdToken, remote_start_id: int | None = None
    ) -> None:
        """Start on a connector already `claim`ed for a CSMS's remote start request."""
        await self._announce(c)
        if self.tunables.authorize_remote_start:
            status = await self._authorize(token)
            if status != "Accepted":
                await self._unplug(c)
                return
        try:
            await self._start(c, token, remote_start_id=remote_start_id)
        except AuthorizationRejected as rejected:
            log.info("%s: remote start refused: %s", self.spec.station_id, rejected)

    async def _start(
        self, c: ConnectorState, token: IdToken, *, remote_start_id: int | None = None,
        energy_kwh: Decimal | None = None,
    ) -> str:
        c.meter.connect(Ev.random(self.rng, c.meter.current_type, energy_kwh), time.monotonic())
        sample = c.meter.sample()
        session = Session(c, token, utcnow(), sample.energy_wh, remote_start_id)
        c.session = session
        status = await self._deliver(lambda link: link.transaction_started(session, sample))
        if status != "Accepted":
            await self._end(session, StopReason.DEAUTHORIZED)
            raise AuthorizationRejected(token.value, status)
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

    async def _authorize(self, token: IdToken) -> str:
        try:
            status = await self._exchange(lambda link: link.authorize(token))
        except LinkLost:
            return self._authorize_offline(token)
        if self.tunables.auth_cache_enabled:
            self.auth_cache[token.value] = status
        return status

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
        """Accepted (caller then awaits `reset`), or Scheduled until the last session ends."""
        if when_idle and self.transactions:
            self._reset_when_idle = reason
            return "Scheduled"
        return "Accepted"

    async def reset(self, reason: StopReason) -> None:
        """End every session, close the socket and boot again (reason RemoteReset)."""
        self._reset_when_idle = None
        for session in list(self.transactions.values()):
            await self._end(session, reason)
        self._boot_reason = BootReason.REMOTE_RESET
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

    async def upload_log(self, request_id: int | None = None) -> None:
        for status in ("Uploading", "Uploaded"):
            self.log_status = status
            await self._deliver(lambda link: link.log_status(status, request_id))
            await asyncio.sleep(self.step_delay)
        self.log_status = "Idle"

    # ---- sending -----------------------------------------------------------------------------

    async def _announce(self, c: ConnectorState) -> None:
        """StatusNotification when what the CSMS last heard for this connector changed."""
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
        while True:
            await self.booted.wait()
            closed = self._closed
            try:
                return await self._exchange(send)
            except LinkLost:
                await closed.wait()

    async def _exchange(self, send: Callable[[StationLink], Awaitable[T]]) -> T:
        """One call on the registered link; `LinkLost` if there is none or it closes first.

        The `ocpp` library would wait its full response timeout for an answer that a closed
        socket can no longer bring, so the call is raced against the connection's end.
        """
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
