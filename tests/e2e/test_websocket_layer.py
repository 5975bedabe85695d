"""The OCPP endpoint's WebSocket layer (ocpp/websocket.py) does what a WebSocket server owes a
station: fragments reassembled, text that is not UTF-8 refused, close frames answered, pings
ponged, frames sent right behind the upgrade request kept, a burst of messages all answered in
order, stuck or oversized upgrade requests dropped, and every station told when the server stops.
Each on asyncio's event loop and on uvloop's, which `serve` runs on."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import ssl
import struct
import subprocess
import sys
import textwrap

import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from silkcharge.ocpp import websocket
from tests.e2e.network import PASSWORD, register_station
from tests.e2e.peers import eventually
from tests.e2e.test_bad_input import exchange, raw_socket
from tests.e2e.tls import TlsMaterial

pytestmark = pytest.mark.both_event_loops

STATION = "WSL-001"


def _frame(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    """A client's frame, masked as RFC 6455 requires."""
    head = bytes([(0x80 if fin else 0) | opcode])
    size = len(payload)
    if size < 126:
        head += bytes([0x80 | size])
    elif size < 1 << 16:
        head += bytes([0x80 | 126]) + struct.pack("!H", size)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", size)
    mask = os.urandom(4)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def _upgrade_request(port: int, station_id: str = STATION, *, extra: str = "") -> bytes:
    token = base64.b64encode(f"{station_id}:{PASSWORD}".encode()).decode()
    return (
        f"GET /ocpp/{station_id} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\n"
        f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ocpp1.6\r\n"
        f"Authorization: Basic {token}\r\n{extra}\r\n"
    ).encode()


async def _read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """(opcode, payload) of the server's next frame (unmasked, unfragmented)."""
    first, second = await reader.readexactly(2)
    size = second & 0x7F
    if size == 126:
        size = struct.unpack("!H", await reader.readexactly(2))[0]
    elif size == 127:
        size = struct.unpack("!Q", await reader.readexactly(8))[0]
    return first & 0x0F, await reader.readexactly(size)


async def _raw(platform, payload: bytes) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bytes]:
    """Open a TCP connection, send `payload` (an upgrade request and maybe more), and return
    the response's head."""
    reader, writer = await asyncio.open_connection("127.0.0.1", platform.gateway.port)
    writer.write(payload)
    head = await reader.readuntil(b"\r\n\r\n")
    return reader, writer, head


async def test_a_fragmented_message_is_answered_as_one(api, ocpp_url):
    await register_station(api, STATION)
    async with await raw_socket(ocpp_url, "1.6", STATION) as ws:
        await ws.send(['[2, "frag-1", ', '"Heartbeat", ', "{}]"])  # three frames, one message
        reply = json.loads(await ws.recv())
    assert reply[:2] == [3, "frag-1"]
    assert reply[2]["currentTime"].endswith("Z")


@pytest.mark.settings(max_frame_bytes=8192)
async def test_a_fragmented_message_over_the_hard_limit_closes_with_1009(api, ocpp_url):
    """The limit holds for the whole message, not only for each of its frames."""
    await register_station(api, STATION)
    async with await raw_socket(ocpp_url, "1.6", STATION) as ws:
        await ws.send(["A" * 4000, "A" * 4000, "A" * 4000])
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd.code == 1009


async def test_a_text_message_that_is_not_utf8_closes_with_1007(api, platform):
    await register_station(api, STATION)
    reader, writer, head = await _raw(platform, _upgrade_request(platform.gateway.port))
    assert head.startswith(b"HTTP/1.1 101")
    writer.write(_frame(0x1, b'[2, "u", "Heartbeat", {"\xff": 1}]'))
    opcode, payload = await _read_frame(reader)
    assert opcode == 0x8
    assert struct.unpack("!H", payload[:2])[0] == 1007
    writer.close()


async def test_frames_sent_right_behind_the_upgrade_request_are_answered(api, platform):
    await register_station(api, STATION)
    early = _frame(0x1, b'[2, "early-1", "Heartbeat", {}]') + _frame(0x1, b'[2, "early-2", "Heartbeat", {}]')
    reader, writer, head = await _raw(platform, _upgrade_request(platform.gateway.port) + early)
    assert head.startswith(b"HTTP/1.1 101")
    assert b"Sec-WebSocket-Protocol: ocpp1.6" in head
    replies = [json.loads((await _read_frame(reader))[1]) for _ in range(2)]
    assert [reply[:2] for reply in replies] == [[3, "early-1"], [3, "early-2"]]
    writer.close()


async def test_an_upgrade_request_trickled_in_a_byte_per_write_is_answered(api, platform):
    await register_station(api, STATION)
    reader, writer = await asyncio.open_connection("127.0.0.1", platform.gateway.port)
    for byte in _upgrade_request(platform.gateway.port):
        writer.write(bytes([byte]))
        await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101")
    writer.write(_frame(0x1, b'[2, "slow-1", "Heartbeat", {}]'))
    assert json.loads((await _read_frame(reader))[1])[:2] == [3, "slow-1"]
    writer.close()


class _Reading:
    """The side of a transport a connection's opening uses: whether it still reads."""

    def __init__(self) -> None:
        self.reading = True

    def pause_reading(self) -> None:
        self.reading = False

    def abort(self) -> None:
        raise AssertionError("a well-formed request was dropped")


async def test_the_end_of_an_upgrade_request_is_found_when_each_byte_arrives_alone():
    """TCP may deliver a request a byte at a time (the test above cannot force it): its end,
    split over four reads, is still found, and reading stops there."""
    request = _upgrade_request(9000)
    opening = websocket._Opening(endpoint=None)  # type: ignore[arg-type]
    opening.transport = transport = _Reading()  # type: ignore[assignment]
    for n in range(len(request)):
        assert not opening.request.done(), f"ended early, at byte {n}"
        opening.data_received(request[n:n + 1])
    assert opening.request.done() and opening.request.exception() is None
    assert not transport.reading
    assert bytes(opening.received) == request


async def test_calls_sent_without_waiting_are_all_answered_in_order(api, ocpp_url):
    """More messages than a socket queues before it stops reading (QUEUE_HIGH): none is lost."""
    await register_station(api, STATION)
    count = 4 * websocket.QUEUE_HIGH
    async with await raw_socket(ocpp_url, "1.6", STATION) as ws:
        for n in range(count):
            await ws.send(json.dumps([2, f"burst-{n}", "Heartbeat", {}]))
        replies = [json.loads(await ws.recv()) for _ in range(count)]
    assert [reply[1] for reply in replies] == [f"burst-{n}" for n in range(count)]
    assert {reply[0] for reply in replies} == {3}


async def test_a_ping_is_answered(api, ocpp_url):
    await register_station(api, STATION)
    async with await raw_socket(ocpp_url, "1.6", STATION) as ws:
        pong = await ws.ping(b"are you there")
        await pong


async def test_a_station_that_closes_is_answered_and_marked_offline(api, ocpp_url):
    await register_station(api, STATION)
    ws = await raw_socket(ocpp_url, "1.6", STATION)
    assert (await exchange(ws, '[2, "hb", "Heartbeat", {}]'))[0] == 3
    await ws.close(1000, "going home")
    assert ws.close_code == 1000  # the server answered our close frame with its own

    async def offline():
        return (await api.get(f"/api/v1/stations/{STATION}")).json()["online"] is False

    await eventually(offline)


async def test_stopping_the_gateway_closes_every_station_with_1001(api, ocpp_url, platform):
    await register_station(api, STATION)
    await register_station(api, "WSL-002")
    first, second = await raw_socket(ocpp_url, "1.6", STATION), await raw_socket(ocpp_url, "1.6", "WSL-002")
    await platform.gateway.stop()
    for ws in (first, second):
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
        assert closed.value.rcvd.code == 1001


async def test_an_upgrade_request_that_never_ends_is_dropped(api, platform, monkeypatch):
    monkeypatch.setattr(websocket, "HANDSHAKE_TIMEOUT", 0.2)
    reader, writer = await asyncio.open_connection("127.0.0.1", platform.gateway.port)
    writer.write(b"GET /ocpp/WSL-001 HTTP/1.1\r\nHost: x\r\n")  # and nothing more
    assert await reader.read() == b""  # the server closed the connection
    writer.close()


async def test_an_upgrade_request_over_the_size_limit_is_refused_with_431(api, platform):
    await register_station(api, STATION)
    padding = "X-Padding: " + "p" * websocket.MAX_REQUEST_BYTES + "\r\n"
    reader, writer, head = await _raw(platform, _upgrade_request(platform.gateway.port, extra=padding))
    assert head.startswith(b"HTTP/1.1 431")
    writer.close()


async def test_a_plain_http_request_for_a_station_is_told_to_upgrade(api, platform):
    """Credentials and station are fine, but it is not a WebSocket upgrade: 426, not 101."""
    await register_station(api, STATION)
    token = base64.b64encode(f"{STATION}:{PASSWORD}".encode()).decode()
    request = (
        f"GET /ocpp/{STATION} HTTP/1.1\r\nHost: x\r\nSec-WebSocket-Protocol: ocpp1.6\r\n"
        f"Authorization: Basic {token}\r\n\r\n"
    ).encode()
    reader, writer, head = await _raw(platform, request)
    assert head.startswith(b"HTTP/1.1 426")
    assert b"Server: silkcharge" in head
    writer.close()


OUT_OF_DESCRIPTORS = textwrap.dedent("""
    import asyncio, logging, os, resource, ssl, sys
    from silkcharge.ocpp.websocket import Accept, Endpoint

    logging.basicConfig(level=logging.ERROR)

    async def check(upgrade):
        return Accept("ocpp1.6")

    async def serve(socket, state):
        async for _, text in socket:
            await socket.send(text)

    async def main():
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(sys.argv[1], sys.argv[2])
        endpoint = Endpoint(check, serve, max_message_bytes=65536)
        (listener,) = await endpoint.listen("127.0.0.1", 0, tls=context)
        told = asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)  # its thread, now
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(map(int, os.listdir("/proc/self/fd"))) + 8, hard))
        fillers = []
        try:
            while True:
                fillers.append(open(os.devnull))
        except OSError:
            pass  # every descriptor is taken
        print(listener.getsockname()[1], flush=True)
        await told
        for filler in fillers:
            filler.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        await asyncio.sleep(3600)

    import LOOP
    LOOP.run(main())
""")


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_a_tls_listener_out_of_file_descriptors_says_so_and_accepts_once_it_has_them(tmp_path, loop):
    material = TlsMaterial.make(tmp_path)
    child = subprocess.Popen(
        [sys.executable, "-c", OUT_OF_DESCRIPTORS.replace("LOOP", loop),
         str(material.server_cert_file), str(material.server_key_file)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        port = int(child.stdout.readline())

        async def talk() -> str:
            async with websockets.connect(f"wss://127.0.0.1:{port}/ocpp/X", subprotocols=["ocpp1.6"],
                                          ssl=material.client_context(), open_timeout=60) as ws:
                await ws.send('[2,"1","Heartbeat",{}]')
                return await ws.recv()

        async def free_when_refused_then_talk() -> str:
            conversation = asyncio.create_task(talk())
            line = await asyncio.to_thread(child.stderr.readline)  # the listener's error, as it meets it
            assert "wss: cannot accept a connection" in line and "Too many open files" in line, line
            child.stdin.write("free\n")
            child.stdin.flush()
            return await conversation

        assert asyncio.run(free_when_refused_then_talk()) == '[2,"1","Heartbeat",{}]'
    finally:
        child.kill()
        child.communicate()


async def _echo_over_tls(url: str, material: TlsMaterial) -> str:
    async with websockets.connect(url, subprotocols=["ocpp1.6"], ssl=material.client_context(),
                                  server_hostname="localhost", open_timeout=30) as ws:
        await ws.send('[2,"1","Heartbeat",{}]')
        return await ws.recv()


@pytest.mark.skipif(not socket.has_ipv6 or not os.path.exists("/proc/net/if_inet6"), reason="no IPv6 here")
async def test_a_tls_listener_without_a_host_answers_on_ipv4_and_ipv6_at_one_port(tmp_path):
    material = TlsMaterial.make(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(material.server_cert_file, material.server_key_file)

    async def check(upgrade):
        return websocket.Accept("ocpp1.6")

    async def serve(connection, state):
        async for _, text in connection:
            await connection.send(text)

    endpoint = websocket.Endpoint(check, serve, max_message_bytes=65536)
    try:
        listeners = await endpoint.listen(None, 0, tls=context)
        assert {listener.family for listener in listeners} == {socket.AF_INET, socket.AF_INET6}
        (port,) = {listener.getsockname()[1] for listener in listeners}
        for host in ("127.0.0.1", "[::1]"):
            assert await _echo_over_tls(f"wss://{host}:{port}/ocpp/X", material) == '[2,"1","Heartbeat",{}]'
    finally:
        await endpoint.close()
