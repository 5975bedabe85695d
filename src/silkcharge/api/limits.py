"""What a request may carry, refused at the edge before any route sees it.

- The body size: a body larger than `SILKCHARGE_HTTP_MAX_BODY_BYTES` is answered 413 and the
  connection closed, so a client cannot make the API hold (or keep sending) more. A body
  announced too large by its Content-Length is refused before any of it is read and before the
  route runs. A body without a length (chunked), or longer than it said, is counted as the
  route reads it; the read that passes the limit raises `BodyTooLarge`, which the route's error
  handling answers like any other refusal.
- The NUL character (U+0000): PostgreSQL text cannot hold it (a query carrying one failed with
  500), and no name, code or token needs it. It is refused with 422 in the path, the query and
  JSON bodies, on both engines alike.
"""

from __future__ import annotations

from collections.abc import Callable

import orjson
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CLOSE = {"Connection": "close"}


class BodyTooLarge(HTTPException):
    """A starlette HTTPException, so FastAPI's body parsing passes it on instead of calling it
    a malformed body (400)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, _reason(limit), headers=CLOSE)


def _reason(limit: int) -> str:
    return f"the request body is larger than {limit} bytes, the most this server accepts"


class BodySizeLimit:
    """ASGI middleware refusing HTTP request bodies above `max_bytes` with 413 (a number, or
    what a function of the request's scope says: the serving platform's setting)."""

    def __init__(self, app: ASGIApp, max_bytes: int | Callable[[Scope], int]) -> None:
        self.app = app
        self._max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._max_bytes(scope) if callable(self._max_bytes) else self._max_bytes
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _refuse(send, limit)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, watched_send)
        except BodyTooLarge:
            if started:
                raise
            await _refuse(send, limit)


def _content_length(scope: Scope) -> int | None:
    """The announced length; None when absent or unreadable (h11 refuses a malformed one)."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _refuse(send: Send, limit: int) -> None:
    await _answer(send, 413, _reason(limit), close=True)


async def _answer(send: Send, status: int, reason: str, *, close: bool = False) -> None:
    body = orjson.dumps({"detail": reason})
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


NUL_REASON = "text cannot contain the NUL character (U+0000)"


class NulInBody(HTTPException):
    def __init__(self) -> None:
        super().__init__(422, f"{NUL_REASON}; the body has one (\\u0000)")


class NoNulText:
    """ASGI middleware refusing U+0000 in the path, the query string and JSON bodies (422).

    JSON can carry the character only escaped (raw control characters are invalid JSON), so
    the body check looks for the escape `\\u0000`, once the whole body is in."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if "\x00" in scope["path"] or b"%00" in scope["query_string"]:
            where = "path" if "\x00" in scope["path"] else "query"
            await _answer(send, 422, f"{NUL_REASON}; the {where} has one (%00)")
            return
        body = bytearray()

        async def checked_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                body.extend(message.get("body", b""))
                if not message.get("more_body", False) and _escaped_nul(body):
                    raise NulInBody()
            return message

        await self.app(scope, checked_receive, send)


def _escaped_nul(body: bytes | bytearray) -> bool:
    """Whether JSON text holds the escape \\u0000: `u0000` after an odd run of backslashes
    (after an even run, the backslashes escape each other and `u0000` is plain text)."""
    start = 0
    while (found := body.find(b"u0000", start)) != -1:
        run = found
        while run > 0 and body[run - 1] == 0x5C:
            run -= 1
        if (found - run) % 2:
            return True
        start = found + 1
    return False
