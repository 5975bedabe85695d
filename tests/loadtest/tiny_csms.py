"""A tiny OCPP 1.6 CSMS for testing the load generator itself, in the test's own process.

It answers every CALL at once, except where a test tells it to misbehave: drop the reply to
one CALL (it is lost), answer one only after a delay (it comes late), or answer BootNotification
Pending or Rejected first. It records when each CALL arrived, so a test can check the stations'
manners (no CALL but BootNotification before Accepted, boot retries after the interval).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import orjson
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

NOW = "2026-01-01T00:00:00.000Z"


@dataclass
class Received:
    station: str
    message_id: str
    action: str
    at: float  # monotonic
    payload: dict


@dataclass
class TinyCsms:
    drop: tuple[str, int] | None = None  # (action, n): never answer the n-th CALL of that action
    delay: tuple[str, int, float] | None = None  # (action, n, seconds): answer it that late
    first_boot: tuple[str, int] | None = None  # (status, interval) for each station's first boot
    received: list[Received] = field(default_factory=list)
    replied_at: dict[tuple[str, str], float] = field(default_factory=dict)  # (station, id) -> when
    counts: dict[str, int] = field(default_factory=dict)
    booted: set[str] = field(default_factory=set)
    server: Server | None = None
    transactions: int = 0

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"ws://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/ocpp"

    async def __aenter__(self) -> TinyCsms:
        self.server = await serve(
            self.handle, "127.0.0.1", 0, subprotocols=["ocpp1.6"], ping_interval=None
        )
        return self

    async def __aexit__(self, *exc) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    def actions(self, station: str) -> list[str]:
        return [r.action for r in self.received if r.station == station]

    async def handle(self, ws: ServerConnection) -> None:
        station = ws.request.path.rsplit("/", 1)[-1]
        try:
            async for raw in ws:
                _, message_id, action, payload = orjson.loads(raw)
                self.received.append(
                    Received(station, message_id, action, time.monotonic(), payload)
                )
                self.counts[action] = self.counts.get(action, 0) + 1
                nth = self.counts[action]
                if self.drop == (action, nth):
                    continue
                reply = orjson.dumps([3, message_id, self.answer(station, action)])
                if self.delay is not None and self.delay[:2] == (action, nth):
                    asyncio.get_running_loop().call_later(self.delay[2], self._send_late, ws, reply)
                    continue
                await ws.send(reply.decode())
                self.replied_at[(station, message_id)] = time.monotonic()
        except ConnectionClosed:
            pass

    @staticmethod
    def _send_late(ws: ServerConnection, reply: bytes) -> None:
        asyncio.ensure_future(ws.send(reply.decode()))

    def answer(self, station: str, action: str) -> dict:
        if action == "BootNotification":
            if self.first_boot is not None and station not in self.booted:
                self.booted.add(station)
                status, interval = self.first_boot
                return {"status": status, "interval": interval, "currentTime": NOW}
            return {"status": "Accepted", "interval": 300, "currentTime": NOW}
        if action == "Heartbeat":
            return {"currentTime": NOW}
        if action == "StartTransaction":
            self.transactions += 1
            return {"transactionId": self.transactions, "idTagInfo": {"status": "Accepted"}}
        if action == "StopTransaction":
            return {"idTagInfo": {"status": "Accepted"}}
        return {}
