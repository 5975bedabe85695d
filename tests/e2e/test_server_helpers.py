"""The suite's own way of serving HTTP in a test: a server that cannot start fails that test,
not every test after it in the same worker (CI once lost 64 tests to one taken port)."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

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
