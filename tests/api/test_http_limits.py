"""The HTTP API's edge on real sockets: uvicorn as `silkcharge serve` runs it (`server.api_server`),
clients that never finish a request, bodies beyond the limit, headers beyond the limit.

Timeouts are set short and each test waits for the server to close the connection (with a
generous deadline for a loaded machine); nothing measures how long anything took."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import orjson
import pytest

from silkcharge.api.app import create_api
from silkcharge.server import api_server
from tests.conftest import API_KEY
from tests.e2e.server_process import listening_socket, port_of, serve_without_exit

# A second: short enough that the tests do not wait long, long enough that a client on this
# loaded 2-core machine (in the server's own event loop) sends its next bytes within it.
LIMITS = pytest.mark.settings(http_header_timeout=1.0, http_body_timeout=1.0, http_idle_timeout=1.0,
                              http_max_body_bytes=4096, http_max_header_bytes=2048)
CLOSE_WITHIN = 30  # seconds: a deadline for the wait, not a measurement


@contextlib.asynccontextmanager
async def serving(platform) -> AsyncIterator[int]:
    sock = listening_socket()
    settings = platform.settings.model_copy(update={"api_port": port_of(sock)})
    server = api_server(create_api(platform), settings)
    task = asyncio.create_task(serve_without_exit(server, sock))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield settings.api_port
    finally:
        server.should_exit = server.force_exit = True  # a failed test may leave clients open
        await task


@pytest.fixture
async def port(platform) -> AsyncIterator[int]:
    async with serving(platform) as api_port:
        yield api_port


async def until_closed(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes the connection."""
    async with asyncio.timeout(CLOSE_WITHIN):
        return await reader.read()


async def connected_and_sent(port: int, data: bytes) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    return reader, writer


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def body_of(answer: bytes) -> dict:
    return orjson.loads(answer.split(b"\r\n\r\n", 1)[1])


def request_head(method: str, path: str, **headers: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: silkcharge", f"X-API-Key: {API_KEY}"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@LIMITS
async def test_half_open_connections_are_closed(port):
    """Issue 14: 500 connections that sent nothing or half a request were all still open 45 s
    later. Now each is closed when its header deadline passes; one that had begun a request is
    told why (408)."""
    silent = [await asyncio.open_connection("127.0.0.1", port) for _ in range(20)]
    # Each sends its half request as soon as it is connected: its deadline runs from then, and
    # one that had sent nothing by then is rightly closed as silent (opening all 20 first took
    # longer than the deadline on a loaded machine).
    halfway = [await connected_and_sent(port, b"GET /api/v1/health HTTP/1.1\r\nHost: silkcharge\r\nX-Partial: ")
               for _ in range(20)]
    silent_answers = await asyncio.gather(*(until_closed(reader) for reader, _ in silent))
    halfway_answers = await asyncio.gather(*(until_closed(reader) for reader, _ in halfway))
    assert silent_answers == [b""] * 20
    assert {status_of(answer) for answer in halfway_answers} == {408}
    assert "headers did not arrive in time" in body_of(halfway_answers[0])["detail"]
    for _, writer in silent + halfway:
        writer.close()


@LIMITS
async def test_a_header_sent_a_byte_at_a_time_does_not_keep_the_connection(port):
    """The deadline runs from the start of the request, so trickling bytes does not extend it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)

    async def trickle() -> None:
        for byte in b"GET /api/v1/health HTTP/1.1\r\nHost: silkcharge\r\nX-Slow: " + b"x" * 10_000:
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(0.02)  # the slow client's pace

    client = asyncio.create_task(trickle())
    answer = await until_closed(reader)
    client.cancel()
    assert status_of(answer) == 408
    writer.close()


@LIMITS
async def test_a_body_that_never_completes_is_answered_408_and_closed(port):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request_head("POST", "/api/v1/operators", Content_Type="application/json",
                              Content_Length="100") + b'{"code": "SLOW"')
    await writer.drain()
    answer = await until_closed(reader)
    assert status_of(answer) == 408
    assert "body did not arrive in time" in body_of(answer)["detail"]
    writer.close()


@LIMITS
async def test_a_kept_alive_connection_is_closed_when_idle_and_served_until_then(port):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for _ in range(3):
        writer.write(request_head("GET", "/api/v1/health"))
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        assert status_of(head) == 200
        length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length")))
        assert orjson.loads(await reader.readexactly(length))["status"] == "ok"
    assert await until_closed(reader) == b""
    writer.close()


@LIMITS
async def test_a_body_announced_larger_than_the_limit_is_refused_before_it_is_sent(port):
    """Issue 14: a 100 MB body was read whole (+180 MB of memory). Now its Content-Length is
    enough to refuse it: the answer comes before a byte of the body is sent."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request_head("POST", "/api/v1/operators", Content_Type="application/json",
                              Content_Length=str(100 * 1024 * 1024)))
    await writer.drain()
    answer = await until_closed(reader)
    assert status_of(answer) == 413
    assert b"connection: close" in answer.lower()
    assert "larger than 4096 bytes" in body_of(answer)["detail"]
    writer.close()


@LIMITS
async def test_a_streamed_body_is_refused_once_it_passes_the_limit(port):
    """Without a Content-Length (chunked), the body is counted as it arrives."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request_head("POST", "/api/v1/operators", Content_Type="application/json",
                              Transfer_Encoding="chunked"))
    chunk = b"x" * 1024
    for _ in range(5):
        writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
    await writer.drain()
    answer = await until_closed(reader)
    assert status_of(answer) == 413
    assert "larger than 4096 bytes" in body_of(answer)["detail"]
    writer.close()


@LIMITS
async def test_a_body_within_the_limit_is_served(port):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    body = orjson.dumps({"code": "KZ-EDGE", "name": "Edge", "country": "KZ", "currency": "KZT"})
    writer.write(request_head("POST", "/api/v1/operators", Content_Type="application/json",
                              Content_Length=str(len(body)), Connection="close") + body)
    await writer.drain()
    answer = await until_closed(reader)
    assert status_of(answer) == 201
    assert body_of(answer)["code"] == "KZ-EDGE"
    writer.close()


@LIMITS
async def test_a_request_head_growing_past_the_limit_is_refused(port):
    """The server buffers at most `http_max_header_bytes` of a head that has not ended."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /api/v1/health HTTP/1.1\r\nHost: silkcharge\r\nX-Padding: " + b"x" * 4096)
    await writer.drain()
    answer = await until_closed(reader)
    assert status_of(answer) == 400
    writer.close()
