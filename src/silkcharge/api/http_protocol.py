"""The HTTP connection protocol the API is served with: uvicorn's h11 protocol, plus deadlines
for a request to arrive.

uvicorn closes a kept-alive connection that stays silent after an answer
(`timeout_keep_alive`), but nothing closes a connection whose request never completes: one
that connects and sends nothing, sends half a header, or trickles a body. Each holds a socket
and a file descriptor for as long as the client likes (issue 14: 500 such connections were all
still open after 45 s). Here every request has two deadlines:

- its line and headers must arrive within `header_timeout` of the connection opening or of
  the previous answer;
- its body must arrive within `body_timeout` of its headers.

A deadline runs from the start of its phase, not from the last byte, so a byte now and then
does not extend it. When one passes, a client that had begun a request gets 408 Request
Timeout, and the connection is closed. Once a request has arrived whole, no deadline runs: a
slow answer or a long server-sent event stream is not cut.

The close lingers, as web servers' do: a client still sending when the 408 goes out would get
a TCP reset from a plain close (the kernel resets a socket closed with unread data), and a
reset may destroy the 408 before the client reads it. So the server sends the 408, shuts its
side (FIN), reads and drops whatever still comes for up to `LINGER` seconds, then closes.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import Any, Literal

import h11
import orjson
from uvicorn.protocols.http.h11_impl import H11Protocol

Phase = Literal["head", "body"]

LINGER = 2.0
"""Seconds a timed-out connection is read and dropped after its 408, before the socket closes."""

_PHASES: dict[object, Phase] = {h11.IDLE: "head", h11.SEND_BODY: "body"}
"""The client's h11 states in which we wait for part of its request."""


def _timed_out(phase: Phase) -> bytes:
    body = orjson.dumps({"detail": f"the request {'headers' if phase == 'head' else 'body'} "
                                   "did not arrive in time; the connection is closed"})
    return (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
            b"connection: close\r\ncontent-length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


class DeadlineH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for each request's headers and body."""

    def __init__(
        self, *args: Any, header_timeout: float, body_timeout: float, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self._timeouts: dict[Phase, float] = {"head": header_timeout, "body": body_timeout}
        self._phase: Phase | None = None
        self._deadline: asyncio.TimerHandle | None = None
        self._lingering = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._follow_request()

    def data_received(self, data: bytes) -> None:
        if self._lingering:  # after a 408: read and dropped
            return
        super().data_received(data)
        self._follow_request()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._follow_request()

    def connection_lost(self, exc: Exception | None) -> None:
        self._start(None)
        super().connection_lost(exc)

    def _follow_request(self) -> None:
        """Start the deadline of the phase the client's request is in, if it changed."""
        phase = _PHASES.get(self.conn.their_state)
        if phase != self._phase:
            self._start(phase)

    def _start(self, phase: Phase | None) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        self._phase = phase
        if phase is not None and not self.transport.is_closing():
            self._deadline = self.loop.call_later(self._timeouts[phase], self._expire, phase)

    def _expire(self, phase: Phase) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if phase == "head":
            answer = bool(self.conn.trailing_data[0])  # part of a request line or header came
        else:
            answer = self.cycle is not None and not self.cycle.response_started
            if answer:  # the route waiting for the body hears a disconnect and answers nothing
                self.cycle.disconnected = True
                self.cycle.message_event.set()
        self.logger.info("closed %s: the request %s did not arrive within %g s", self.client,
                         "headers" if phase == "head" else "body", self._timeouts[phase])
        if not answer or not self.transport.can_write_eof():  # nothing to deliver, or TLS
            if answer:
                self.transport.write(_timed_out(phase))
            self.transport.close()
            return
        self.transport.write(_timed_out(phase))
        self.transport.write_eof()
        self._lingering = True
        self.loop.call_later(LINGER, self.transport.close)


def protocol(header_timeout: float, body_timeout: float) -> Callable[..., DeadlineH11Protocol]:
    """The protocol factory for `uvicorn.Config(http=...)`."""
    return functools.partial(
        DeadlineH11Protocol, header_timeout=header_timeout, body_timeout=body_timeout
    )
