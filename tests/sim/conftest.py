"""A small CSMS for testing the simulator: the `ocpp` package's server side over real sockets.

It records every call a station makes (action and camelCase payload, as on the wire, after the
library validated it against the official schema) and lets a test call the station back.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
from collections.abc import Callable
from decimal import Decimal

import pytest
from ocpp.routing import on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call_result as result16
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call_result as result201
from websockets.asyncio.server import ServerConnection, basic_auth, serve
from websockets.exceptions import ConnectionClosed

from silkcharge.domain.clock import to_ocpp, utcnow
from silkcharge.domain.connectors import ConnectorStandard
from silkcharge.sim.charger import SimulatedCharger
from silkcharge.sim.spec import ConnectorSpec, StationSpec
from tests.guards import HANG_GUARD

PASSWORD = "s3cret-password"
GOOD_TOKENS = {"TOKEN1", "TOKEN2", "TOKEN3"}


class Recording:
    """Mixin: remember each call the station makes before the library handles it."""

    csms: Csms

    async def route_message(self, raw_msg):
        message = json.loads(raw_msg)
        if message[0] == 2:
            self.csms.log.append((message[2], message[3]))
            self.csms.log_by_station.append((self.id, message[2], message[3]))
        await super().route_message(raw_msg)


class Csms16(Recording, ChargePoint16):
    @on("BootNotification")
    def boot(self, **_):
        return result16.BootNotification(
            current_time=to_ocpp(utcnow()), interval=self.csms.interval,
            status=self.csms.next_boot_status())

    @on("Heartbeat")
    def heartbeat(self):
        return result16.Heartbeat(current_time=to_ocpp(utcnow()))

    @on("StatusNotification")
    def status(self, **_):
        return result16.StatusNotification()

    @on("Authorize")
    def authorize(self, id_tag):
        return result16.Authorize(id_tag_info={"status": self.csms.token_status(id_tag)})

    @on("StartTransaction")
    async def start_transaction(self, id_tag, **_):
        if self.csms.hold_starts is not None:  # a test holds the answer until it lets it go
            await self.csms.hold_starts.wait()
        return result16.StartTransaction(
            transaction_id=next(self.csms.transaction_ids),
            id_tag_info={"status": self.csms.token_status(id_tag)})

    @on("StopTransaction")
    def stop_transaction(self, **_):
        return result16.StopTransaction(id_tag_info={"status": "Accepted"})

    @on("MeterValues")
    def meter_values(self, **_):
        return result16.MeterValues()

    @on("FirmwareStatusNotification")
    def firmware_status(self, **_):
        return result16.FirmwareStatusNotification()

    @on("DiagnosticsStatusNotification")
    def diagnostics_status(self, **_):
        return result16.DiagnosticsStatusNotification()


class Csms201(Recording, ChargePoint201):
    @on("BootNotification")
    def boot(self, **_):
        return result201.BootNotification(
            current_time=to_ocpp(utcnow()), interval=self.csms.interval,
            status=self.csms.next_boot_status())

    @on("Heartbeat")
    def heartbeat(self, **_):
        return result201.Heartbeat(current_time=to_ocpp(utcnow()))

    @on("StatusNotification")
    def status(self, **_):
        return result201.StatusNotification()

    @on("Authorize")
    def authorize(self, id_token, **_):
        status = self.csms.token_status(id_token["id_token"])
        return result201.Authorize(id_token_info={"status": status})

    @on("TransactionEvent")
    def transaction_event(self, event_type, id_token=None, **_):
        if event_type == "Started" and id_token is not None:
            status = self.csms.token_status(id_token["id_token"])
            return result201.TransactionEvent(id_token_info={"status": status})
        return result201.TransactionEvent()

    @on("MeterValues")
    def meter_values(self, **_):
        return result201.MeterValues()

    @on("NotifyReport")
    def notify_report(self, **_):
        return result201.NotifyReport()

    @on("NotifyEvent")
    def notify_event(self, **_):
        return result201.NotifyEvent()

    @on("SecurityEventNotification")
    def security_event(self, **_):
        return result201.SecurityEventNotification()

    @on("FirmwareStatusNotification")
    def firmware_status(self, **_):
        return result201.FirmwareStatusNotification()

    @on("LogStatusNotification")
    def log_status(self, **_):
        return result201.LogStatusNotification()


class Csms:
    """Accepts stations at ws://127.0.0.1:{port}/ocpp/{id} with Basic auth and records calls."""

    def __init__(self, version: str) -> None:
        self.version = version
        self.log: list[tuple[str, dict]] = []
        self.log_by_station: list[tuple[str, str, dict]] = []  # (station, action, payload)
        self.stations: dict[str, ChargePoint16 | ChargePoint201] = {}
        self.connections = 0
        self.boot_statuses = ["Accepted"]
        self.interval = 1
        self.transaction_ids = itertools.count(100)
        self.hold_starts: asyncio.Event | None = None
        self.url = ""
        self.port = 0
        self._server = None

    async def start(self) -> Csms:
        self._server = await serve(
            self._handle, "127.0.0.1", self.port, subprotocols=["ocpp1.6", "ocpp2.0.1"],
            process_request=basic_auth(realm="ocpp", check_credentials=_check),
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self.url = f"ws://127.0.0.1:{self.port}/ocpp"
        return self

    async def start_again(self) -> None:
        """Come back on the same port after `close()`, as a restarted CSMS does."""
        await self.start()

    async def close(self) -> None:
        self._server.close()
        await self._server.wait_closed()

    async def _handle(self, connection: ServerConnection) -> None:
        station_id = connection.request.path.rsplit("/", 1)[-1]
        assert connection.username == station_id
        assert connection.subprotocol == ("ocpp1.6" if self.version == "1.6" else "ocpp2.0.1")
        kind = Csms16 if self.version == "1.6" else Csms201
        station = kind(station_id, connection, response_timeout=HANG_GUARD)
        station.csms = self
        self.stations[station_id] = station
        self.connections += 1
        try:
            await station.start()
        except ConnectionClosed:
            pass

    def next_boot_status(self) -> str:
        return self.boot_statuses.pop(0) if len(self.boot_statuses) > 1 else self.boot_statuses[0]

    @staticmethod
    def token_status(token: str) -> str:
        return "Accepted" if token in GOOD_TOKENS else "Invalid"

    def calls(self, action: str) -> list[dict]:
        return [payload for name, payload in self.log if name == action]

    def mark(self) -> int:
        """A position in the log; pass it as `after` to wait only for later calls."""
        return len(self.log)

    async def wait_for(
        self, action: str, where: Callable[[dict], bool] = lambda _: True, *,
        after: int = 0, timeout: float = HANG_GUARD,
    ) -> dict:
        async def found() -> dict:
            while True:
                for name, payload in self.log[after:]:
                    if name == action and where(payload):
                        return payload
                await asyncio.sleep(0.01)

        return await asyncio.wait_for(found(), timeout)

    async def call(self, station_id: str, payload):
        return await self.stations[station_id].call(payload)

    async def drop(self, station_id: str) -> None:
        await self.stations[station_id]._connection.close()


def _check(username: str, password: str) -> bool:
    return password == PASSWORD


def station(station_id: str, version: str, *connectors: ConnectorSpec) -> StationSpec:
    return StationSpec(
        station_id=station_id, password=PASSWORD, ocpp_version=version, vendor="SilkSim",
        model="DC-150", firmware_version="1.2.3", connectors=connectors,
    )


@pytest.fixture
async def csms16():
    csms = await Csms("1.6").start()
    yield csms
    await csms.close()


@pytest.fixture
async def csms201():
    csms = await Csms("2.0.1").start()
    yield csms
    await csms.close()


@pytest.fixture
def spec16() -> StationSpec:
    return station(
        "ALA-016", "1.6",
        ConnectorSpec(1, 1, ConnectorStandard.TYPE2, Decimal("22")),
        ConnectorSpec(2, 1, ConnectorStandard.GBT_DC, Decimal("120")),
    )


@pytest.fixture
def spec201() -> StationSpec:
    return station(
        "TAS-201", "2.0.1",
        ConnectorSpec(1, 1, ConnectorStandard.CCS2, Decimal("150")),
        ConnectorSpec(1, 2, ConnectorStandard.GBT_DC, Decimal("150")),
        ConnectorSpec(2, 1, ConnectorStandard.TYPE2, Decimal("22")),
    )


@pytest.fixture
async def launch():
    """Start a SimulatedCharger with test timings; every one is stopped after the test."""
    running: list[tuple[SimulatedCharger, asyncio.Task]] = []

    async def start(spec: StationSpec, csms: Csms, *, wait_boot: bool = True, **options):
        settings = {"meter_interval": 0.2, "reconnect_delay": 0.1, "step_delay": 0.05,
                    "heartbeat_fallback": 1, "rng": random.Random(7), **options}
        charger = SimulatedCharger(spec, csms.url, **settings)
        running.append((charger, asyncio.create_task(charger.run())))
        if wait_boot:
            await asyncio.wait_for(charger.booted.wait(), HANG_GUARD)
            await csms.wait_for("StatusNotification", after=0)
        return charger

    yield start
    for charger, task in running:
        await charger.stop()
        await task
