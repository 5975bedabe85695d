"""The OCPP endpoint's WebSocket layer: listening, the HTTP upgrade, and the frames after it.

Each accepted connection gets one task, which lives as long as the connection:

0. On a TLS listener, the endpoint accepts and the TLS handshake runs first, in the
   connection's own task (`Endpoint._accept_tls`), so that a refused handshake is reported with
   the address it came from (`TlsRefused`) on either event loop.
1. The HTTP upgrade request is read (at most `MAX_REQUEST_BYTES`) and parsed strictly by the
   `websockets` package's sans-I/O server, which also writes every refusal.
2. Reading stops while the gateway's asynchronous `check` looks at the request (path,
   subprotocol, credentials, the station's record). A refusal (`Answer`) is sent with its status,
   reason and headers, and the connection closed; the request's WebSocket headers are checked
   after it, as the `websockets` server did.
3. An acceptance (`Accept`) hands the transport to picows, whose frame parser and writer are
   compiled (about half the CPU per message of the `websockets` package, docs/benchmarks.md):
   the request's bytes are fed to it again, it answers 101 with the chosen subprotocol, and from
   then on each message reaches a `Socket`, which the same task passes to the gateway's `serve`.
   So what the check put in the task's context (the station's database) holds for the whole
   connection.

picows leaves to its user what the `websockets` package did for silkcharge, so it is done here:
reassembling fragmented messages (the whole message held to `max_message_bytes`, 1009 beyond),
refusing a text message that is not UTF-8 (1007), answering a close frame, closing with 1001 on
shutdown, and pausing the socket's reads while a station's unread messages pile up. Ping frames
are answered by picows. Messages are not compressed (no permessage-deflate): OCPP messages are
small, and compression would cost the CPU this layer is here to save.
"""

from __future__ import annotations

import asyncio
import logging
import socket as net
import ssl
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, cast

from picows import (
    WSAutoPingStrategy,
    WSCloseCode,
    WSFrame,
    WSListener,
    WSMsgType,
    WSProtocolError,
    WSTransport,
    WSUpgradeResponse,
    WSUpgradeResponseWithListener,
)
from picows.picows import WSProtocol
from websockets.datastructures import Headers
from websockets.http11 import Request, Response
from websockets.server import ServerProtocol

log = logging.getLogger(__name__)

# picows reports a peer's protocol errors at ERROR; they are a client's fault, not ours, and
# `Socket` logs how each connection closed. Its own logger stays quiet unless asked.
_PICOWS_LOG = logging.getLogger("silkcharge.ocpp.websocket.picows")
_PICOWS_LOG.setLevel(logging.CRITICAL)

HANDSHAKE_TIMEOUT = 10.0  # seconds from accept to the 101 or the refusal (over TLS, for each of the two)
ACCEPT_RETRY_SECONDS = 1.0  # a TLS listener that cannot accept (out of file descriptors) waits this long
CLOSE_TIMEOUT = 10.0  # seconds a closing socket waits for the peer's close frame
MAX_REQUEST_BYTES = 16 * 1024  # the upgrade request's line and headers (picows's own limit)
READ_BUFFER_BYTES = 4096  # picows's first read buffer per connection (it grows as needed)
QUEUE_HIGH, QUEUE_LOW = 16, 4  # unread messages at which a socket stops reading, and resumes
SERVER_HEADER = "silkcharge"


class SocketClosed(Exception):
    """The WebSocket is closed or closing: what was to be sent was not."""


@dataclass
class Upgrade:
    """A station's HTTP upgrade request, as the gateway's check sees it."""

    path: str
    headers: Headers
    remote_address: str | None
    ssl_object: ssl.SSLObject | None


@dataclass
class Answer:
    """A refused upgrade: the HTTP status, a reason for the body, and extra headers."""

    status: HTTPStatus
    reason: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Accept:
    """An accepted upgrade: answered 101 with `subprotocol`; `serve` is given `state`."""

    subprotocol: str
    state: Any = None


Check = Callable[[Upgrade], Awaitable[Answer | Accept]]
Serve = Callable[["Socket", Any], Awaitable[None]]
TlsRefused = Callable[[ssl.SSLError, str | None], None]
"""Told of a TLS handshake refused (by OpenSSL's checks or for bad input), with the source
address; a connection reset or a handshake that times out is not a refusal."""


class Socket:
    """One open WebSocket: its messages in order, and sending and closing."""

    def __init__(self, transport: WSTransport, subprotocol: str, remote_address: str | None) -> None:
        self.subprotocol = subprotocol
        self.remote_address = remote_address
        self._transport = transport
        self._loop = asyncio.get_running_loop()
        self._messages: deque[tuple[bytes, str]] = deque()
        self._waiter: asyncio.Future | None = None
        self._reading_paused = False
        self._drained: asyncio.Future | None = None  # set while picows's writes are paused
        self.closed = False

    # -- what picows delivers (through _Frames) --------------------------------------------------

    def _received(self, data: bytes, text: str) -> None:
        self._messages.append((data, text))
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
        if len(self._messages) >= QUEUE_HIGH and not self._reading_paused:
            self._reading_paused = True
            self._transport.underlying_transport.pause_reading()

    def _pause_writing(self) -> None:
        if self._drained is None:
            self._drained = self._loop.create_future()

    def _resume_writing(self) -> None:
        drained, self._drained = self._drained, None
        if drained is not None and not drained.done():
            drained.set_result(None)

    def _disconnected(self) -> None:
        self.closed = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
        self._resume_writing()
        handshake = self._transport.close_handshake
        if handshake is not None:
            sent, received = handshake.sent, handshake.recv
            log.debug(
                "WebSocket of %s closed: sent %s, received %s", self.remote_address,
                sent and f"{int(sent.code)} {sent.reason!r}", received and f"{int(received.code)} {received.reason!r}",
            )

    # -- what the gateway uses -----------------------------------------------------------------

    async def recv(self) -> tuple[bytes, str]:
        """The next message as (its bytes, its text), in order; the messages that arrived before
        the socket closed are all returned before `SocketClosed` is raised."""
        while not self._messages:
            if self.closed:
                raise SocketClosed("the WebSocket is closed")
            self._waiter = self._loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        message = self._messages.popleft()
        if self._reading_paused and len(self._messages) <= QUEUE_LOW and not self.closed:
            self._reading_paused = False
            self._transport.underlying_transport.resume_reading()
        return message

    def __aiter__(self) -> Socket:
        return self

    async def __anext__(self) -> tuple[bytes, str]:
        try:
            return await self.recv()
        except SocketClosed:
            raise StopAsyncIteration from None

    async def send(self, text: str) -> None:
        """Send one text message; waits while the socket's write buffer is full."""
        transport = self._transport
        if transport.is_close_frame_sent or transport.is_disconnected:
            raise SocketClosed("the WebSocket is closing")
        transport.send(WSMsgType.TEXT, text)
        if self._drained is not None:
            await asyncio.shield(self._drained)
            if self.closed:
                raise SocketClosed("the WebSocket closed while the message was being written")

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Send a close frame and wait (at most CLOSE_TIMEOUT) for the peer's, then the end of
        the connection; a peer that never answers is cut off."""
        transport = self._transport
        if transport.is_disconnected:
            return
        if not transport.is_close_frame_sent:
            transport.send_close(WSCloseCode(code), reason.encode())
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await transport.wait_disconnected()
        except TimeoutError:
            transport.disconnect(False)


class _Frames(WSListener):
    """picows's listener for one socket: messages to the Socket, close frames answered."""

    def __init__(self, max_message_bytes: int) -> None:
        super().__init__()
        self.socket: Socket | None = None
        self._max = max_message_bytes
        self._parts: list[bytes] | None = None  # a fragmented message so far
        self._size = 0
        self._text = False

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        kind = frame.msg_type
        if kind == WSMsgType.TEXT or kind == WSMsgType.BINARY:
            if self._parts is not None:
                raise WSProtocolError(WSCloseCode.PROTOCOL_ERROR, "a new message began inside a fragmented one")
            if frame.fin:
                self._deliver(frame.get_payload_as_bytes(), kind == WSMsgType.TEXT)
                return
            self._parts, self._text = [frame.get_payload_as_bytes()], kind == WSMsgType.TEXT
            self._size = len(self._parts[0])
        elif kind == WSMsgType.CONTINUATION:
            if self._parts is None:
                raise WSProtocolError(WSCloseCode.PROTOCOL_ERROR, "a continuation frame with no message to continue")
            part = frame.get_payload_as_bytes()
            self._size += len(part)
            if self._size > self._max:
                raise WSProtocolError(
                    WSCloseCode.MESSAGE_TOO_BIG, f"message over {self._max} bytes ({self._size} so far)"
                )
            self._parts.append(part)
            if frame.fin:
                parts, self._parts = self._parts, None
                self._deliver(b"".join(parts), self._text)
        elif kind == WSMsgType.CLOSE:
            if not transport.is_close_frame_sent:  # the peer closes: answer with its code
                code = frame.get_close_code()
                transport.send_close(WSCloseCode.OK if code in (WSCloseCode.NO_INFO, 1005) else code)
            transport.disconnect()
        # PING is answered by picows (enable_auto_pong); a PONG needs nothing.

    def _deliver(self, data: bytes, text: bool) -> None:
        try:
            decoded = data.decode() if text else data.decode("utf-8", "replace")
        except UnicodeDecodeError:
            raise WSProtocolError(WSCloseCode.INVALID_TEXT, "a text message that is not UTF-8") from None
        assert self.socket is not None
        self.socket._received(data, decoded)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        if self.socket is not None:
            self.socket._disconnected()

    def pause_writing(self) -> None:
        if self.socket is not None:
            self.socket._pause_writing()

    def resume_writing(self) -> None:
        if self.socket is not None:
            self.socket._resume_writing()


@dataclass
class _Tls:
    """A TLS listener's context, and who hears of the handshakes it refuses."""

    context: ssl.SSLContext
    refused: TlsRefused | None


class _Opening(asyncio.Protocol):
    """A new connection until its upgrade is decided: collects the request's bytes, and any
    that follow it before reading stops (frames a client sent without waiting for the 101)."""

    def __init__(self, endpoint: Endpoint) -> None:
        self._endpoint = endpoint
        self.received = bytearray()
        self.transport: asyncio.Transport | None = None
        self.request: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's does not derive from asyncio.Transport, but is one).
        self.transport = cast(asyncio.Transport, transport)
        self._endpoint._opened(self)

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        # The request's end is looked for in what is new (and the three bytes before it): a
        # request sent a byte at a time must not cost a scan of all it sent so far per byte.
        start = max(0, len(self.received) - 3)
        self.received += data
        if self.request.done():  # a TLS record decrypted after reading paused
            if len(self.received) > 2 * MAX_REQUEST_BYTES:
                self.transport.abort()
            return
        if self.received.find(b"\r\n\r\n", start) >= 0 or len(self.received) > MAX_REQUEST_BYTES:
            self.transport.pause_reading()
            self.request.set_result(None)

    def eof_received(self) -> bool:
        if not self.request.done():
            self.request.set_exception(EOFError("the client closed before its upgrade request ended"))
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.request.done():
            self.request.set_exception(ConnectionError("the client went away before its upgrade request ended"))


class Endpoint:
    """The listening sockets of the OCPP endpoint and every connection they accepted."""

    def __init__(self, check: Check, serve: Serve, *, max_message_bytes: int) -> None:
        self._check = check
        self._serve = serve
        self._max_message_bytes = max_message_bytes
        self._servers: list[asyncio.Server] = []
        self._listeners: list[net.socket] = []  # TLS listeners, accepted by `_accept_tls`
        self._accepting: set[asyncio.Task] = set()
        self._opening: set[asyncio.Task] = set()  # connections not yet upgraded
        self._tasks: set[asyncio.Task] = set()
        self._sockets: set[Socket] = set()

    async def listen(
        self, host: str | None = None, port: int = 0, *, backlog: int = 100, reuse_port: bool = False,
        tls: ssl.SSLContext | None = None, tls_refused: TlsRefused | None = None,
    ) -> Sequence[net.socket]:
        """Listen on `host` and `port` (0: a free one); returns the listening sockets. With
        `tls`, each connection's TLS handshake runs before its upgrade."""
        loop = asyncio.get_running_loop()
        if tls is None:
            server = await loop.create_server(
                lambda: _Opening(self), host, port, backlog=backlog, reuse_port=reuse_port or None
            )
            self._servers.append(server)
            return server.sockets
        listeners = _listening_sockets(host, port, backlog, reuse_port)
        for listener in listeners:
            self._listeners.append(listener)
            self._accepting.add(loop.create_task(self._accept_tls(listener, _Tls(tls, tls_refused)), name="wss-accept"))
        return tuple(listeners)

    async def _accept_tls(self, listener: net.socket, tls: _Tls) -> None:
        """Accept on a TLS listener, each connection's handshake in a task of its own. (The
        event loops' own `create_server(ssl=)` runs the handshake where a refusal is dropped
        without the address it came from, which the failed-authentication limits and the
        security event need.)"""
        loop = asyncio.get_running_loop()
        while True:
            try:
                connection, address = await loop.sock_accept(listener)
            except ConnectionAbortedError:  # the client left before its accept
                continue
            except OSError as error:  # out of file descriptors or memory, say: wait, then go on
                log.error("wss: cannot accept a connection (%s); trying again in %g s", error, ACCEPT_RETRY_SECONDS)
                await asyncio.sleep(ACCEPT_RETRY_SECONDS)
                continue
            self._track(loop.create_task(self._secure(connection, address, tls)))

    async def _secure(self, connection: net.socket, address: Any, tls: _Tls) -> None:
        """The TLS handshake of an accepted connection; once done, the connection goes on as
        a plain one does (`_Opening`)."""
        try:
            await asyncio.get_running_loop().connect_accepted_socket(
                lambda: _Opening(self), connection, ssl=tls.context, ssl_handshake_timeout=HANDSHAKE_TIMEOUT
            )
        except ssl.SSLError as error:
            connection.close()
            if tls.refused is not None:
                tls.refused(error, _host(address))
        except OSError:  # reset, or timed out, during the handshake
            connection.close()
        except asyncio.CancelledError:  # the endpoint closes
            connection.close()
            raise

    async def close(self) -> None:
        """Stop listening, drop the upgrades under way, close every socket with 1001 and wait
        until each connection's `serve` has returned."""
        for server in self._servers:
            server.close()
        for task in self._accepting:
            task.cancel()
        await asyncio.gather(*self._accepting, return_exceptions=True)  # off the loop's selector first
        for listener in self._listeners:
            listener.close()
        for task in self._opening:
            task.cancel()
        await asyncio.gather(*(socket.close(1001) for socket in list(self._sockets)), return_exceptions=True)
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for server in self._servers:
            await server.wait_closed()

    def _opened(self, opening: _Opening) -> None:
        self._track(asyncio.get_running_loop().create_task(self._connection(opening)))

    def _track(self, task: asyncio.Task) -> None:
        """A connection's task, until it is upgraded (cancelled if the endpoint closes first)."""
        self._tasks.add(task)
        self._opening.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(self._opening.discard)

    async def _connection(self, opening: _Opening) -> None:
        transport = opening.transport
        assert transport is not None
        try:
            async with asyncio.timeout(HANDSHAKE_TIMEOUT):
                await opening.request
                opened = await self._upgrade(opening)
        except (TimeoutError, EOFError, ConnectionError):
            transport.abort()
            return
        except asyncio.CancelledError:  # the endpoint closes
            transport.abort()
            raise
        except Exception:
            log.exception("an OCPP upgrade request could not be handled")
            transport.abort()
            return
        if opened is None:
            return
        socket, state = opened
        task = asyncio.current_task()
        self._opening.discard(task)  # type: ignore[arg-type]
        self._sockets.add(socket)
        try:
            await self._serve(socket, state)
        except Exception:
            log.exception("an OCPP connection failed inside silkcharge")
            await socket.close(1011)
        finally:
            self._sockets.discard(socket)
            await socket.close(1000)

    async def _upgrade(self, opening: _Opening) -> tuple[Socket, Any] | None:
        """Answer the upgrade request: a refusal (None), or the open Socket and the check's state."""
        transport, received = opening.transport, opening.received
        assert transport is not None
        protocol = ServerProtocol(extensions=None, max_size=None, logger=log)
        end = received.find(b"\r\n\r\n")
        if end < 0 or end + 4 > MAX_REQUEST_BYTES:
            _send(transport, protocol, protocol.reject(
                HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
                f"the upgrade request is over {MAX_REQUEST_BYTES} bytes\n",
            ))
            return None
        protocol.receive_data(bytes(received[: end + 4]))
        events = protocol.events_received()
        if not events:  # not HTTP: websockets has written its refusal, or nothing
            _flush(transport, protocol)
            return None
        request = events[0]
        assert isinstance(request, Request)
        decision = await self._check(
            Upgrade(request.path, request.headers, _address(transport), transport.get_extra_info("ssl_object"))
        )
        if isinstance(decision, Answer):
            response = protocol.reject(decision.status, decision.reason + "\n")
            for name, value in decision.headers.items():
                response.headers[name] = value
            _send(transport, protocol, response)
            return None
        protocol.available_subprotocols = [decision.subprotocol]  # type: ignore[list-item]
        response = protocol.accept(request)
        if response.status_code != HTTPStatus.SWITCHING_PROTOCOLS:  # not a valid WebSocket upgrade
            _send(transport, protocol, response)
            return None
        # What arrived while the check ran (over TLS, a record may follow the request) goes too.
        return self._switch(transport, bytes(opening.received), decision, response), decision.state

    def _switch(self, transport: asyncio.Transport, raw: bytes, accept: Accept, response: Response) -> Socket:
        """Hand the transport to picows: it reads the request again and answers 101."""
        frames = _Frames(self._max_message_bytes)
        answer = WSUpgradeResponse.create_101_response({
            "Date": response.headers["Date"],
            "Server": SERVER_HEADER,
            "Sec-WebSocket-Protocol": accept.subprotocol,
        })
        picows = WSProtocol(
            None, None, False, lambda request: WSUpgradeResponseWithListener(answer, frames), _PICOWS_LOG,
            True,  # disconnect on an exception in _Frames (it raises WSProtocolError for bad input)
            None,  # no handshake timeout of its own: the request is already here
            False, 0, 0, WSAutoPingStrategy.PING_WHEN_IDLE,  # no pings of ours
            True,  # answer pings
            self._max_message_bytes,  # the largest frame (a message may be several)
            None, READ_BUFFER_BYTES,
        )
        transport.set_protocol(picows)
        picows.connection_made(transport)
        socket = Socket(picows.transport, accept.subprotocol, _address(transport))
        frames.socket = socket
        view = memoryview(raw)
        while view:  # the request, and any frames sent right behind it
            buffer = picows.get_buffer(-1)
            size = min(len(buffer), len(view))
            buffer[:size] = view[:size]
            picows.buffer_updated(size)
            view = view[size:]
        transport.resume_reading()
        return socket


def _send(transport: asyncio.Transport, protocol: ServerProtocol, response: Response) -> None:
    response.headers["Server"] = SERVER_HEADER
    protocol.send_response(response)
    _flush(transport, protocol)


def _flush(transport: asyncio.Transport, protocol: ServerProtocol) -> None:
    data = b"".join(protocol.data_to_send())
    if data:
        transport.write(data)
    transport.close()


def _address(transport: asyncio.BaseTransport) -> str | None:
    return _host(transport.get_extra_info("peername"))


def _host(address: Any) -> str | None:
    """The host part of a socket address (an IP address), or None for a Unix socket's."""
    return str(address[0]) if isinstance(address, tuple) and address else None


def _listening_sockets(host: str | None, port: int, backlog: int, reuse_port: bool) -> list[net.socket]:
    """A listening socket for every address `host` resolves to (no host: every interface, IPv4
    and IPv6), as the event loop's `create_server` makes for the plain port; IPv6 ones with
    IPV6_V6ONLY, so that both families can share the port. With port 0 they share the port the
    first one was given."""
    listeners: list[net.socket] = []
    seen: set[tuple] = set()
    try:
        for family, _, _, _, address in net.getaddrinfo(host or None, port, type=net.SOCK_STREAM,
                                                         flags=net.AI_PASSIVE):
            if (family, address) in seen:
                continue
            seen.add((family, address))
            if listeners and port == 0:
                address = (address[0], listeners[0].getsockname()[1], *address[2:])
            listener = net.create_server(address, family=family, backlog=backlog, reuse_port=reuse_port)
            listener.setblocking(False)
            listeners.append(listener)
    except BaseException:
        for listener in listeners:
            listener.close()
        raise
    return listeners
