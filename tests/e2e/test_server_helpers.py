"""The suite's own way of serving HTTP in a test: a server that cannot start fails that test,
not every test after it in the same worker (CI once lost 64 tests to one taken port)."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from silkcharge.loadtest.sockets import open_tcp
from tests.e2e.server_process import listening_socket, port_of, serving


def _app() -> Starlette:
    return Starlette(routes=[Route("/", lambda request: PlainTextResponse("here"))])


def _server(port: int) -> uvicorn.Server:
    return uvicorn.Server(uvicorn.Config(_app(), host="127.0.0.1", port=port, log_level="critical", lifespan="off"))


async def test_a_server_whose_port_is_taken_raises_runtime_error_and_the_event_loop_goes_on():
    with listening_socket() as taken:
        taken.listen()
        with pytest.raises(RuntimeError, match="could not start"):
            async with serving(_server(port_of(taken))):
                pass
    await asyncio.sleep(0)  # the loop still runs: uvicorn's SystemExit did not escape through it


async def test_a_server_on_a_socket_bound_beforehand_answers_on_that_port():
    sock = listening_socket()
    port = port_of(sock)
    async with serving(_server(port), sock), httpx.AsyncClient() as client:
        answer = await client.get(f"http://127.0.0.1:{port}/")
    assert answer.text == "here"


def _nodelay(sock) -> int:
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


async def test_connections_to_a_server_on_a_socket_bound_beforehand_have_nagle_off():
    # Without TCP_NODELAY every request after the first on a kept-alive connection waited about
    # 40 ms for the client's delayed ACK: a fixed cost on each of the suite's HTTP requests.
    sock = listening_socket()
    server = _server(port_of(sock))
    async with serving(server, sock), httpx.AsyncClient() as client:
        await client.get(f"http://127.0.0.1:{port_of(sock)}/")
        accepted = [connection.transport.get_extra_info("socket") for connection in server.server_state.connections]
        assert accepted and all(_nodelay(each) == 1 for each in accepted)


async def test_the_load_generators_sockets_have_nagle_off():
    sock = listening_socket()
    sock.listen()
    with sock:
        connected = await open_tcp("127.0.0.1", port_of(sock), None)
        with connected:
            reader, writer = await asyncio.open_connection(sock=connected)
            assert _nodelay(writer.get_extra_info("socket")) == 1
            writer.close()


async def test_a_server_forced_to_exit_leaves_no_request_running_after_its_block():
    # A request still being answered when a roaming test's network stopped went on to use the
    # platform's database after the platform had stopped, and poisoned the next test's engine.
    started, ended = asyncio.Event(), asyncio.Event()

    async def slow(request):
        started.set()
        try:
            await asyncio.Event().wait()  # answers only if nobody ends it
        finally:
            ended.set()
        return PlainTextResponse("late")

    sock = listening_socket()
    port = port_of(sock)
    server = uvicorn.Server(uvicorn.Config(Starlette(routes=[Route("/", slow)]), log_level="critical", lifespan="off"))
    async with httpx.AsyncClient() as client:
        async with serving(server, sock):
            server.force_exit = True
            asking = asyncio.create_task(client.get(f"http://127.0.0.1:{port}/"))
            await started.wait()
        assert ended.is_set()
        await asyncio.gather(asking, return_exceptions=True)  # whatever the client made of it
