"""The WebSocket layer alone: an OCPP responder that does nothing but answer, on one of two layers.

What a Python CSMS pays per message before any OCPP work: the frame read and parsed, the text
handed to the application, the reply framed and written. It answers BootNotification
(Accepted) and Heartbeat, for OCPP 1.6 and 2.0.1 (the replies have the same shape), with no
schema check, no state and no log, so bench/ocpp_versus.py's Heartbeat rows of these targets
measure the layer and little else:

- `websockets`: the `websockets` package's asyncio server, the layer silkcharge's gateway runs on
  (ocpp/gateway.py), used as the gateway uses it (`async for` over a connection, `send`);
- `picows`: picows (Cython), the "faster WebSocket layer" issue 20 names, through its own
  listener interface (a callback per frame, a synchronous send).

    python bench/ws_layer_server.py --layer websockets --port 9200
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
from datetime import UTC, datetime

SUBPROTOCOLS = ("ocpp2.0.1", "ocpp1.6")


def reply(text: str) -> str:
    message = json.loads(text)
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if message[2] == "BootNotification":
        return json.dumps([3, message[1], {"status": "Accepted", "currentTime": now, "interval": 300}])
    return json.dumps([3, message[1], {"currentTime": now}])


def chosen(offered: str) -> str | None:
    names = [name.strip() for name in offered.split(",")]
    return next((name for name in SUBPROTOCOLS if name in names), None)


async def on_websockets(port: int, stop: asyncio.Event) -> None:
    from websockets.asyncio.server import serve

    async def answer(connection) -> None:
        async for text in connection:
            await connection.send(reply(text))

    async with serve(answer, "127.0.0.1", port, subprotocols=list(SUBPROTOCOLS), compression=None,
                     ping_interval=None):
        await stop.wait()


async def on_picows(port: int, stop: asyncio.Event) -> None:
    from picows import (
        WSListener,
        WSMsgType,
        WSUpgradeResponse,
        WSUpgradeResponseWithListener,
        ws_create_server,
    )

    class Answer(WSListener):
        def on_ws_frame(self, transport, frame) -> None:
            if frame.msg_type == WSMsgType.TEXT:
                transport.send(WSMsgType.TEXT, reply(frame.get_payload_as_utf8_text()).encode())
            elif frame.msg_type == WSMsgType.CLOSE:
                transport.send_close(frame.get_close_code())
                transport.disconnect()

    def upgrade(request):
        subprotocol = chosen(request.headers.get("Sec-WebSocket-Protocol", ""))
        headers = {"Sec-WebSocket-Protocol": subprotocol} if subprotocol else {}
        return WSUpgradeResponseWithListener(WSUpgradeResponse.create_101_response(headers), Answer())

    server = await ws_create_server(upgrade, "127.0.0.1", port)
    async with server:
        await stop.wait()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layer", choices=("websockets", "picows"), required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await (on_websockets if args.layer == "websockets" else on_picows)(args.port, stop)


if __name__ == "__main__":
    asyncio.run(main())
