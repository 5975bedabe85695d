"""One simulated OCPP 1.6 station of the load generator: its socket, its CALLs, its boot.

A station keeps at most one CALL outstanding, as OCPP-J requires, and reads frames only while
it waits for a reply or idles: a reply is matched by message id, a reply to a CALL that already
timed out is counted late, and a CALL the server sends is answered with a CALLERROR (the load
stations implement no commands) unless it is TriggerMessage(BootNotification) while the station
is Pending, which a real station accepts and acts on.
"""

from __future__ import annotations

import asyncio
import base64
import errno
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.protocol import State

from silkcharge.loadtest import frames
from silkcharge.loadtest.frames import CALL, CALLERROR, CALLRESULT
from silkcharge.loadtest.phases import Mix
from silkcharge.loadtest.sockets import open_tcp
from silkcharge.loadtest.tally import Tally

SUBPROTOCOL = "ocpp1.6"
DEFAULT_RETRY_S = 30.0  # when a Boot reply's interval is 0, the station picks its own wait
BACKOFF_FIRST_S, BACKOFF_MAX_S = 1.0, 30.0
STATUS_IDLE, STATUS_CHARGING = b"Available", b"Charging"
Gone = (ConnectionClosed, OSError)  # the socket is no longer usable


@dataclass(frozen=True)
class Endpoint:
    """Where and how the stations connect."""

    url: str  # ws://host:port/path; a station appends /<its id>
    address: str  # the server's IP, resolved once
    port: int
    timeout_s: float = 10.0  # for a handshake, and for a reply
    password_prefix: str | None = "loadtest-password-"  # None: no Basic auth
    id_tag: str = "LOADTEST"


@dataclass(frozen=True)
class Unanswered:
    """A CALL that outlived the timeout: the tally that sent it, and what its late reply teaches."""

    tally: Tally
    late: Callable[[list], object] | None = None


class BootRefused(Exception):
    """The server answered BootNotification with a CALLERROR."""


class LoadStation:
    def __init__(
        self,
        station_id: str,
        index: int,
        endpoint: Endpoint,
        source: str | None,
        rng: random.Random,
        mix: Mix,
    ) -> None:
        self.station_id = station_id
        self.index = index  # over all workers, from 0
        self.endpoint = endpoint
        self.source = source
        self.rng = rng
        self.weights = (mix.heartbeat, mix.status, mix.meter_values, mix.transaction)
        self.ws: ClientConnection | None = None
        self.next_id = 0
        self.meter_wh = rng.randrange(10_000, 1_000_000)
        self.transaction_id: int | None = None
        # Timed-out CALLs, by the tally that sent them and what a late reply still teaches.
        self.unanswered: dict[bytes, Unanswered] = {}
        self.boot_triggered = False
        self.accepted = False  # Accepted since the station last (re)booted

    @property
    def connected(self) -> bool:
        return self.ws is not None and self.ws.state is State.OPEN

    def new_id(self) -> bytes:
        self.next_id += 1
        return b"%x" % self.next_id

    # -- the socket -----------------------------------------------------------------------------

    async def connect(self, tally: Tally) -> bool:
        """One handshake attempt; a failure is counted by its reason and returns False."""
        endpoint = self.endpoint
        headers = {}
        if endpoint.password_prefix is not None:
            secret = f"{self.station_id}:{endpoint.password_prefix}{self.station_id}"
            headers["Authorization"] = "Basic " + base64.b64encode(secret.encode()).decode()
        began = time.perf_counter()
        sock = None
        try:
            async with asyncio.timeout(endpoint.timeout_s):
                sock = await open_tcp(endpoint.address, endpoint.port, self.source)
                ws = await connect(
                    f"{endpoint.url}/{self.station_id}",
                    sock=sock,
                    subprotocols=[SUBPROTOCOL],
                    additional_headers=headers,
                    compression=None,
                    proxy=None,
                    open_timeout=None,
                    ping_interval=None,
                    close_timeout=endpoint.timeout_s,
                    user_agent_header=None,
                )
        except (TimeoutError, OSError, InvalidHandshake, ConnectionClosed) as error:
            if sock is not None:
                sock.close()
            tally.count_handshake_failure(_reason(error))
            return False
        if ws.subprotocol != SUBPROTOCOL:
            ws.transport.abort()
            tally.count_handshake_failure("no ocpp1.6 subprotocol")
            return False
        tally.connect_ms.append((time.perf_counter() - began) * 1000.0)
        self.ws = ws
        return True

    async def connect_until(self, tally: Tally, deadline: float) -> bool:
        """Connect, retrying with jittered exponential back-off as a real station does."""
        wait = BACKOFF_FIRST_S
        while time.monotonic() < deadline:
            if await self.connect(tally):
                return True
            await asyncio.sleep(min(wait * (0.5 + self.rng.random()), deadline - time.monotonic()))
            wait = min(wait * 2, BACKOFF_MAX_S)
        return False

    def abort(self) -> None:
        """Drop the socket without a close handshake, as a station that lost power does."""
        if self.ws is not None:
            self.ws.transport.abort()
        self.forget_socket()

    def forget_socket(self) -> None:
        """The socket is gone: no reply to a CALL sent on it can come any more."""
        self.ws = None
        for waiting in self.unanswered.values():
            waiting.tally.lost += 1
        self.unanswered.clear()

    # -- CALLs ------------------------------------------------------------------------------------

    async def call(
        self, frame: bytes, message_id: bytes, tally: Tally, window_end: float,
        late: Callable[[list], object] | None = None,
    ) -> list | None:
        """Send one CALL and wait for its reply: the reply frame, or None after the timeout;
        `late` is given the reply if it comes after the timeout.

        If the socket goes, the CALL is counted lost and ConnectionClosed or OSError is raised."""
        assert self.ws is not None
        sent = time.perf_counter()
        tally.sent += 1
        try:
            async with asyncio.timeout(self.endpoint.timeout_s):
                await self.ws.send(frame, text=True)
                reply = await self._reply_to(message_id, tally)
        except TimeoutError:
            tally.timeouts += 1
            self.unanswered[message_id] = Unanswered(tally, late)
            return None
        except Gone:
            tally.lost += 1
            raise
        tally.answered += 1
        tally.latencies_ms.append((time.perf_counter() - sent) * 1000.0)
        if time.monotonic() < window_end:
            tally.answered_in_window += 1
        if reply[0] == CALLERROR:
            tally.count_error(str(reply[2]))
        return reply

    async def _reply_to(self, message_id: bytes, tally: Tally) -> list:
        while True:
            frame = await self._next_frame(tally)
            if frame is not None and frame[1].encode() == message_id:
                return frame

    async def _next_frame(self, tally: Tally) -> list | None:
        """Read one frame: a reply is returned, anything else dealt with (None)."""
        assert self.ws is not None
        raw = await self.ws.recv(decode=False)
        try:
            frame = orjson.loads(raw)
            kind, message_id = frame[0], frame[1]
            if kind not in (CALL, CALLRESULT, CALLERROR) or not isinstance(message_id, str):
                raise ValueError(kind)
        except (orjson.JSONDecodeError, ValueError, TypeError, IndexError, KeyError):
            tally.count_error("malformed frame from server")
            return None
        if kind == CALL:
            await self._answer(frame)
            return None
        waiting = self.unanswered.pop(message_id.encode(), None)
        if waiting is not None:
            waiting.tally.late += 1
            if waiting.late is not None:
                waiting.late(frame)
            return None
        return frame

    async def _answer(self, frame: list) -> None:
        assert self.ws is not None
        message_id, action = frame[1], frame[2] if len(frame) > 2 else ""
        payload = frame[3] if len(frame) > 3 and isinstance(frame[3], dict) else {}
        if action == "TriggerMessage" and payload.get("requestedMessage") == "BootNotification":
            self.boot_triggered = True
            reply = orjson.dumps([CALLRESULT, message_id, {"status": "Accepted"}])
        else:
            reply = frames.call_error(message_id, "NotImplemented", "load-test station")
        await self.ws.send(reply, text=True)

    async def idle_until(self, moment: float, tally: Tally) -> None:
        """Wait, reading what the server sends (late replies, its CALLs), until `moment` or until
        a TriggerMessage asks for a BootNotification. A dropped socket raises."""
        while not self.boot_triggered:
            remaining = moment - time.monotonic()
            if remaining <= 0:
                return
            try:
                async with asyncio.timeout(remaining):
                    await self._next_frame(tally)
            except TimeoutError:
                return

    # -- what a station sends ---------------------------------------------------------------------

    async def exchange(self, tally: Tally, window_end: float) -> None:
        """One CALL of the steady mix, chosen by the weights and the station's state."""
        message_id = self.new_id()
        kind = self.rng.choices((0, 1, 2, 3), self.weights)[0]
        if kind == 0:
            await self.call(frames.HEARTBEAT % message_id, message_id, tally, window_end)
        elif kind == 1:
            await self.call(self.status_frame(message_id), message_id, tally, window_end)
        elif kind == 2:
            await self._meter_values(message_id, tally, window_end)
        elif self.transaction_id is None:
            await self._start_transaction(message_id, tally, window_end)
        else:
            await self._stop_transaction(message_id, tally, window_end)

    def status_frame(self, message_id: bytes) -> bytes:
        status = STATUS_CHARGING if self.transaction_id is not None else STATUS_IDLE
        return frames.STATUS % (message_id, status, frames.now())

    async def _meter_values(self, message_id: bytes, tally: Tally, window_end: float) -> None:
        self.meter_wh += self.rng.randrange(1, 40)
        meter = b"%d" % self.meter_wh
        if self.transaction_id is None:
            frame = frames.METER_VALUES % (message_id, frames.now(), meter)
        else:
            tx = b"%d" % self.transaction_id
            frame = frames.METER_VALUES_IN_TRANSACTION % (message_id, tx, frames.now(), meter)
        await self.call(frame, message_id, tally, window_end)

    async def _start_transaction(self, message_id: bytes, tally: Tally, window_end: float) -> None:
        tag = self.endpoint.id_tag.encode()
        frame = frames.START_TRANSACTION % (message_id, tag, b"%d" % self.meter_wh, frames.now())

        def acknowledged(reply: list) -> int | None:
            """The transaction id of an acknowledged start (counted once), or None."""
            if reply[0] != CALLRESULT or not isinstance(reply[2], dict):
                return None
            transaction_id = reply[2].get("transactionId")
            if not isinstance(transaction_id, int):
                return None
            tally.transactions_started += 1
            return transaction_id

        # A start acknowledged after the timeout is stored all the same: it counts as started,
        # though the station has moved on without it (as a real one would after giving up).
        reply = await self.call(frame, message_id, tally, window_end, late=acknowledged)
        if reply is not None and (transaction_id := acknowledged(reply)) is not None:
            self.transaction_id = transaction_id

    async def _stop_transaction(self, message_id: bytes, tally: Tally, window_end: float) -> None:
        assert self.transaction_id is not None
        tx, wh = b"%d" % self.transaction_id, b"%d" % self.meter_wh
        frame = frames.STOP_TRANSACTION % (message_id, tx, wh, frames.now())
        self.transaction_id = None  # with or without a reply, this session is over here
        reply = await self.call(frame, message_id, tally, window_end)
        if reply is not None and reply[0] == CALLRESULT:
            tally.transactions_stopped += 1

    async def boot(self, tally: Tally, deadline: float) -> bool:
        """BootNotification until Accepted, honouring Pending and Rejected: wait the interval the
        server gave (or DEFAULT_RETRY_S for 0), reading its frames meanwhile, then boot again.
        A timed-out boot is sent again at once. False if the deadline passed first."""
        while time.monotonic() < deadline:
            self.boot_triggered = False
            message_id = self.new_id()
            reply = await self.call(frames.BOOT % message_id, message_id, tally, deadline)
            if reply is None:
                continue
            if reply[0] == CALLERROR:
                wait = DEFAULT_RETRY_S
            else:
                payload = reply[2] if isinstance(reply[2], dict) else {}
                status = payload.get("status")
                if status == "Accepted":
                    tally.boots_accepted += 1
                    self.accepted = True
                    return True
                if status == "Pending":
                    tally.boots_pending += 1
                else:
                    tally.boots_rejected += 1
                interval = payload.get("interval")
                wait = interval if isinstance(interval, int) and interval > 0 else DEFAULT_RETRY_S
            await self.idle_until(min(time.monotonic() + wait, deadline), tally)
        return False

    async def bring_up(self, tally: Tally, deadline: float, began: float) -> bool:
        """Connect (retrying) and boot until Accepted; a socket lost on the way is reopened."""
        while time.monotonic() < deadline:
            if not self.connected:
                self.forget_socket()
                if not await self.connect_until(tally, deadline):
                    return False
            try:
                if await self.boot(tally, deadline):
                    tally.boot_ms.append((time.monotonic() - began) * 1000.0)
                    tally.settle(time.monotonic())
                    return True
                return False
            except Gone:
                tally.disconnects += 1
                self.forget_socket()
        return False


def _reason(error: BaseException) -> str:
    if isinstance(error, InvalidStatus):
        return f"HTTP {error.response.status_code}"
    if isinstance(error, TimeoutError):
        return "timeout"
    if isinstance(error, OSError) and error.errno:
        return errno.errorcode.get(error.errno, str(error.errno))
    return type(error).__name__
