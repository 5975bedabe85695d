"""The yardstick for bench/ocpp_throughput.py: the least an OCPP 1.6 CSMS can be.

A CSMS written the way the `ocpp` package's own examples write one: a `ChargePoint` per socket,
an `@on` handler per action, its state in dicts and nothing written anywhere. It validates every
CALL against the official 1.6 schemas (the package does that by default), as silkcharge does,
so the gap between the two is mostly what silkcharge stores and logs before it replies.

    python bench/baseline_server.py --port 9100
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import signal
from datetime import UTC, datetime
from typing import Any

from ocpp.routing import on
from ocpp.v16 import ChargePoint, call_result
from ocpp.v16.enums import Action, AuthorizationStatus, RegistrationStatus
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

HEARTBEAT_INTERVAL = 300


def now() -> str:
    moment = datetime.now(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class Memory:
    """Everything the baseline knows, held only as long as the process lives."""

    def __init__(self) -> None:
        self.boots: dict[str, dict[str, Any]] = {}
        self.connectors: dict[tuple[str, int], str] = {}
        self.last_meter: dict[tuple[str, int], list[dict[str, Any]]] = {}
        self.transactions: dict[int, dict[str, Any]] = {}
        self.transaction_ids = itertools.count(1)


class BaselineChargePoint(ChargePoint):
    def __init__(self, station_id: str, websocket: ServerConnection, memory: Memory) -> None:
        super().__init__(station_id, websocket)
        self.memory = memory

    @on(Action.boot_notification)
    async def on_boot_notification(
        self, charge_point_vendor: str, charge_point_model: str, **rest: Any
    ):
        self.memory.boots[self.id] = {
            "vendor": charge_point_vendor,
            "model": charge_point_model,
            **rest,
        }
        return call_result.BootNotification(
            current_time=now(), interval=HEARTBEAT_INTERVAL, status=RegistrationStatus.accepted
        )

    @on(Action.heartbeat)
    async def on_heartbeat(self):
        return call_result.Heartbeat(current_time=now())

    @on(Action.status_notification)
    async def on_status_notification(
        self, connector_id: int, error_code: str, status: str, **rest: Any
    ):
        self.memory.connectors[(self.id, connector_id)] = status
        return call_result.StatusNotification()

    @on(Action.meter_values)
    async def on_meter_values(
        self, connector_id: int, meter_value: list[dict[str, Any]], **rest: Any
    ):
        self.memory.last_meter[(self.id, connector_id)] = meter_value
        return call_result.MeterValues()

    @on(Action.authorize)
    async def on_authorize(self, id_tag: str):
        return call_result.Authorize(id_tag_info={"status": AuthorizationStatus.accepted})

    @on(Action.start_transaction)
    async def on_start_transaction(
        self, connector_id: int, id_tag: str, meter_start: int, timestamp: str, **rest: Any
    ):
        transaction_id = next(self.memory.transaction_ids)
        self.memory.transactions[transaction_id] = {
            "station": self.id,
            "connector": connector_id,
            "id_tag": id_tag,
            "meter_start": meter_start,
            "started": timestamp,
        }
        return call_result.StartTransaction(
            transaction_id=transaction_id, id_tag_info={"status": AuthorizationStatus.accepted}
        )

    @on(Action.stop_transaction)
    async def on_stop_transaction(
        self, meter_stop: int, timestamp: str, transaction_id: int, **rest: Any
    ):
        transaction = self.memory.transactions.get(transaction_id)
        if transaction is not None:
            transaction.update(meter_stop=meter_stop, stopped=timestamp)
        return call_result.StopTransaction()


async def serve_station(websocket: ServerConnection, memory: Memory) -> None:
    station_id = websocket.request.path.rstrip("/").rsplit("/", 1)[-1]
    if websocket.subprotocol != "ocpp1.6":
        await websocket.close(1002, "this server speaks ocpp1.6 only")
        return
    try:
        await BaselineChargePoint(station_id, websocket, memory).start()
    except ConnectionClosed:
        pass


async def main(host: str, port: int) -> None:
    memory = Memory()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with serve(
        lambda websocket: serve_station(websocket, memory),
        host,
        port,
        subprotocols=["ocpp1.6"],
        ping_interval=None,
        backlog=4096,  # the same accept queue as silkcharge's gateway, for fair storm numbers
    ):
        await stop.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(main(args.host, args.port))
