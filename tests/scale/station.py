"""A lean OCPP 1.6 charger that keeps transaction messages until they are acknowledged.

OCPP 1.6 (§4.1, "transaction-related messages") requires a charge point to deliver
StartTransaction, StopTransaction and transaction MeterValues even across connection loss and
server errors: it queues them and sends them again. This station does exactly that, which is
what the failure tests need: it reconnects (to the next gateway in its list when one dies),
retries after a CALLERROR, and records every reply it received, so the test can check the
server against what was acknowledged.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus


class CallErrorReply(Exception):
    def __init__(self, code: str, description: str) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code


@dataclass
class Tally:
    acknowledged: list[tuple[str, dict, dict]] = field(default_factory=list)
    callerrors: list[str] = field(default_factory=list)
    disconnects: int = 0
    pending_boots: int = 0


class Station:
    def __init__(self, station_id: str, urls: list[str], *, reply_timeout: float = 10) -> None:
        self.id = station_id
        self._urls = itertools.cycle(urls)
        self._url = next(self._urls)
        self._ws: ClientConnection | None = None
        self._reply_timeout = reply_timeout
        self.tally = Tally()
        self._incoming: asyncio.Task | None = None
        self._waiting: dict[str, asyncio.Future] = {}

    async def connect(self, *, next_gateway: bool = False, attempts: int = 200) -> None:
        if next_gateway:
            self._url = next(self._urls)
        for attempt in range(attempts):
            try:
                self._ws = await connect(
                    f"{self._url}/{self.id}", subprotocols=["ocpp1.6"], open_timeout=10, ping_interval=None
                )
                self._incoming = asyncio.create_task(self._read())
                return
            except (OSError, InvalidStatus, asyncio.TimeoutError):
                self._url = next(self._urls)  # that gateway is down or busy: try the next one
                await asyncio.sleep(min(0.2 * (attempt + 1), 2.0))
        raise RuntimeError(f"{self.id} could not connect to any gateway")

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._incoming is not None:
            self._incoming.cancel()

    async def _read(self) -> None:
        assert self._ws is not None
        ws = self._ws
        try:
            async for raw in ws:
                frame = json.loads(raw)
                if frame[0] == 2:  # a command from the CSMS: accept whatever it is
                    await ws.send(json.dumps([3, frame[1], _answer(frame[2], frame[3])]))
                    continue
                future = self._waiting.pop(frame[1], None)
                if future is not None and not future.done():
                    future.set_result(frame)
        except ConnectionClosed:
            pass
        finally:
            for future in self._waiting.values():
                if not future.done():
                    future.set_exception(ConnectionClosed(None, None))
            self._waiting.clear()

    async def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """One attempt: the reply payload, or CallErrorReply / ConnectionClosed / TimeoutError."""
        if self._ws is None:
            raise ConnectionClosed(None, None)
        message_id = uuid.uuid4().hex
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self._waiting[message_id] = future
        await self._ws.send(json.dumps([2, message_id, action, payload]))
        async with asyncio.timeout(self._reply_timeout):
            frame = await future
        if frame[0] == 4:
            raise CallErrorReply(frame[2], frame[3])
        return frame[2]

    async def deliver(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Send until acknowledged, across CALLERRORs, lost replies and dead gateways."""
        while True:
            try:
                reply = await self.call(action, payload)
            except CallErrorReply as error:
                self.tally.callerrors.append(error.code)
                await asyncio.sleep(0.5)
                continue
            except (ConnectionClosed, TimeoutError, OSError):
                self.tally.disconnects += 1
                await self.close()
                await self.connect(next_gateway=True)
                continue
            self.tally.acknowledged.append((action, payload, reply))
            return reply

    async def boot(self, *, max_wait: float = 120) -> int:
        """Boot until Accepted, honouring Pending and its interval as a real station does."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max_wait
        while loop.time() < deadline:
            reply = await self.deliver(
                "BootNotification", {"chargePointVendor": "Silk", "chargePointModel": "Scale"}
            )
            if reply["status"] == "Accepted":
                return reply["interval"]
            self.tally.pending_boots += 1
            await asyncio.sleep(reply["interval"])
        raise RuntimeError(f"{self.id} was not accepted within {max_wait:g} s")


def _answer(action: str, payload: dict) -> dict:
    if action in ("GetConfiguration",):
        return {"configurationKey": []}
    if action == "DataTransfer":
        return {"status": "Accepted"}
    if action in ("TriggerMessage", "ChangeConfiguration", "Reset", "UnlockConnector", "ReserveNow",
                  "CancelReservation", "RemoteStartTransaction", "RemoteStopTransaction",
                  "ChangeAvailability", "ClearCache", "SetChargingProfile", "ClearChargingProfile"):
        return {"status": "Accepted"} if action != "UnlockConnector" else {"status": "Unlocked"}
    return {}
