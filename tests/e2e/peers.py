"""Real chargers for the tests: the `ocpp` package's ChargePoint over a real WebSocket.

Each peer answers every CSMS-initiated command the way a well-behaved station would, and
records what it was asked, so tests can check both ends of the wire.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ssl as ssl_module
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from typing import Any

import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call_result as r16
from ocpp.v21 import call as call21
from ocpp.v21 import call_result as r21
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call_result as r201

from tests.e2e.network import PASSWORD
from tests.guards import HANG_GUARD


def basic_auth(station_id: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{station_id}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


class Recording:
    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, Any]]] = []
        # The reservations this station holds, by EVSE (1.6: connector; 0: the whole station).
        self.held: dict[int, int] = {}
        self._lapses: dict[int, datetime] = {}

    def hold(self, place: int, reservation_id: int, answer: str, expires: str) -> str:
        """What a well-behaved station answers a ReserveNow (1.6 §5.13, 2.0.1 H01): a test's
        fixed answer, Occupied where another unexpired reservation is held, else Accepted."""
        if answer != "Accepted":
            return answer
        now = datetime.now(timezone.utc)
        self.held = {p: r for p, r in self.held.items() if self._lapses.get(r, now) > now}
        if self.held.get(place, reservation_id) != reservation_id:
            return "Occupied"
        self.held[place] = reservation_id
        self._lapses[reservation_id] = datetime.fromisoformat(expires.replace("Z", "+00:00"))
        return "Accepted"

    def release(self, reservation_id: int) -> str:
        for place, held in list(self.held.items()):
            if held == reservation_id:
                del self.held[place]
                return "Accepted"
        return "Rejected"

    def saw(self, action: str, **payload: Any) -> None:
        self.received.append((action, payload))

    def actions(self) -> list[str]:
        return [action for action, _ in self.received]


class Peer16(ChargePoint16, Recording):
    def __init__(self, station_id: str, connection) -> None:
        ChargePoint16.__init__(self, station_id, connection, response_timeout=HANG_GUARD)
        Recording.__init__(self)
        # ReserveConnectorZeroSupported: a test sets "false" (or deletes it) to be refused.
        self.configuration = {"HeartbeatInterval": "300", "MeterValueSampleInterval": "60",
                              "ReserveConnectorZeroSupported": "true"}
        self.list_version = 0

    @on("RemoteStartTransaction")
    def remote_start(self, **p):
        self.saw("RemoteStartTransaction", **p)
        return r16.RemoteStartTransaction(status="Accepted")

    @on("RemoteStopTransaction")
    def remote_stop(self, **p):
        self.saw("RemoteStopTransaction", **p)
        return r16.RemoteStopTransaction(status="Accepted")

    @on("Reset")
    def reset(self, **p):
        self.saw("Reset", **p)
        return r16.Reset(status="Accepted")

    @on("UnlockConnector")
    def unlock(self, **p):
        self.saw("UnlockConnector", **p)
        return r16.UnlockConnector(status="Unlocked")

    @on("ChangeAvailability")
    def change_availability(self, **p):
        self.saw("ChangeAvailability", **p)
        return r16.ChangeAvailability(status="Accepted")

    @on("ChangeConfiguration")
    def change_configuration(self, **p):
        self.saw("ChangeConfiguration", **p)
        if p["key"] not in self.configuration:
            return r16.ChangeConfiguration(status="NotSupported")
        self.configuration[p["key"]] = p["value"]
        return r16.ChangeConfiguration(status="Accepted")

    @on("GetConfiguration")
    def get_configuration(self, **p):
        self.saw("GetConfiguration", **p)
        keys = p.get("key") or list(self.configuration)
        known = [{"key": k, "readonly": False, "value": self.configuration[k]} for k in keys if k in self.configuration]
        unknown = [k for k in keys if k not in self.configuration]
        return r16.GetConfiguration(configuration_key=known, unknown_key=unknown or None)

    @on("ClearCache")
    def clear_cache(self, **p):
        self.saw("ClearCache", **p)
        return r16.ClearCache(status="Accepted")

    @on("TriggerMessage")
    def trigger(self, **p):
        self.saw("TriggerMessage", **p)
        return r16.TriggerMessage(status="Accepted")

    @on("UpdateFirmware")
    def update_firmware(self, **p):
        self.saw("UpdateFirmware", **p)
        return r16.UpdateFirmware()

    @on("GetDiagnostics")
    def get_diagnostics(self, **p):
        self.saw("GetDiagnostics", **p)
        return r16.GetDiagnostics(file_name="diagnostics-2026.zip")

    @on("SendLocalList")
    def send_local_list(self, **p):
        self.saw("SendLocalList", **p)
        self.list_version = p["list_version"]
        return r16.SendLocalList(status="Accepted")

    @on("GetLocalListVersion")
    def get_local_list_version(self, **p):
        self.saw("GetLocalListVersion", **p)
        return r16.GetLocalListVersion(list_version=self.list_version)

    @on("DataTransfer")
    def data_transfer(self, **p):
        self.saw("DataTransfer", **p)
        return r16.DataTransfer(status="Accepted", data="pong")

    @on("SetChargingProfile")
    def set_charging_profile(self, **p):
        self.saw("SetChargingProfile", **p)
        return r16.SetChargingProfile(status="Accepted")

    @on("ClearChargingProfile")
    def clear_charging_profile(self, **p):
        self.saw("ClearChargingProfile", **p)
        return r16.ClearChargingProfile(status="Accepted")

    reserve_answer = "Accepted"  # a test sets "Occupied", "Faulted", ... to be refused

    @on("ReserveNow")
    def reserve_now(self, **p):
        self.saw("ReserveNow", **p)
        return r16.ReserveNow(status=self.hold(
            p["connector_id"], p["reservation_id"], self.reserve_answer, p["expiry_date"]))

    @on("CancelReservation")
    def cancel_reservation(self, **p):
        self.saw("CancelReservation", **p)
        return r16.CancelReservation(status=self.release(p["reservation_id"]))


class Peer201(ChargePoint201, Recording):
    def __init__(self, station_id: str, connection) -> None:
        ChargePoint201.__init__(self, station_id, connection, response_timeout=HANG_GUARD)
        Recording.__init__(self)
        self.variables = {("OCPPCommCtrlr", "HeartbeatInterval"): "300"}  # a test adds more
        self.list_version = 0

    @on("RequestStartTransaction")
    def request_start(self, **p):
        self.saw("RequestStartTransaction", **p)
        return r201.RequestStartTransaction(status="Accepted")

    @on("RequestStopTransaction")
    def request_stop(self, **p):
        self.saw("RequestStopTransaction", **p)
        return r201.RequestStopTransaction(status="Accepted")

    reset_answer = "Accepted"  # a test sets "Scheduled": a station that waits for its sessions to end

    @on("Reset")
    def reset(self, **p):
        self.saw("Reset", **p)
        return r201.Reset(status=self.reset_answer)

    @on("UnlockConnector")
    def unlock(self, **p):
        self.saw("UnlockConnector", **p)
        return r201.UnlockConnector(status="Unlocked")

    @on("ChangeAvailability")
    def change_availability(self, **p):
        self.saw("ChangeAvailability", **p)
        return r201.ChangeAvailability(status="Accepted")

    @on("GetVariables")
    def get_variables(self, **p):
        self.saw("GetVariables", **p)
        results = []
        for item in p["get_variable_data"]:
            key = (item["component"]["name"], item["variable"]["name"])
            if key in self.variables:
                results.append({"attribute_status": "Accepted", "attribute_value": self.variables[key],
                                "component": item["component"], "variable": item["variable"]})
            else:
                results.append({"attribute_status": "UnknownComponent",
                                "component": item["component"], "variable": item["variable"]})
        return r201.GetVariables(get_variable_result=results)

    set_variables_answer = "Accepted"  # a test sets "Rejected" to be refused

    @on("SetVariables")
    def set_variables(self, **p):
        self.saw("SetVariables", **p)
        results = []
        for item in p["set_variable_data"]:
            if self.set_variables_answer == "Accepted":
                self.variables[(item["component"]["name"], item["variable"]["name"])] = item["attribute_value"]
            results.append({"attribute_status": self.set_variables_answer, "component": item["component"],
                            "variable": item["variable"]})
        return r201.SetVariables(set_variable_result=results)

    @on("GetBaseReport")
    def get_base_report(self, **p):
        self.saw("GetBaseReport", **p)
        return r201.GetBaseReport(status="Accepted")

    report_answer = "Accepted"  # a test sets "NotSupported", "Rejected" or "EmptyResultSet"

    @on("GetReport")
    def get_report(self, **p):
        self.saw("GetReport", **p)
        return r201.GetReport(status=self.report_answer)

    @on("ClearCache")
    def clear_cache(self, **p):
        self.saw("ClearCache", **p)
        return r201.ClearCache(status="Accepted")

    @on("TriggerMessage")
    def trigger(self, **p):
        self.saw("TriggerMessage", **p)
        return r201.TriggerMessage(status="Accepted")

    @on("UpdateFirmware")
    def update_firmware(self, **p):
        self.saw("UpdateFirmware", **p)
        return r201.UpdateFirmware(status="Accepted")

    @on("GetLog")
    def get_log(self, **p):
        self.saw("GetLog", **p)
        return r201.GetLog(status="Accepted", filename="log-2026.tar.gz")

    @on("SendLocalList")
    def send_local_list(self, **p):
        self.saw("SendLocalList", **p)
        self.list_version = p["version_number"]
        return r201.SendLocalList(status="Accepted")

    @on("GetLocalListVersion")
    def get_local_list_version(self, **p):
        self.saw("GetLocalListVersion", **p)
        return r201.GetLocalListVersion(version_number=self.list_version)

    @on("DataTransfer")
    def data_transfer(self, **p):
        self.saw("DataTransfer", **p)
        return r201.DataTransfer(status="Accepted", data="pong")

    reserve_answer = "Accepted"  # a test sets "Occupied", "Faulted", ... to be refused

    @on("ReserveNow")
    def reserve_now(self, **p):
        self.saw("ReserveNow", **p)
        return r201.ReserveNow(status=self.hold(
            p.get("evse_id", 0), p["id"], self.reserve_answer, p["expiry_date_time"]))

    @on("CancelReservation")
    def cancel_reservation(self, **p):
        self.saw("CancelReservation", **p)
        return r201.CancelReservation(status=self.release(p["reservation_id"]))

    @on("ClearChargingProfile")
    def clear_charging_profile(self, **p):
        self.saw("ClearChargingProfile", **p)
        return r201.ClearChargingProfile(status="Accepted")

    @on("CostUpdated")
    def cost_updated(self, **p):
        self.saw("CostUpdated", **p)
        return r201.CostUpdated()

    network_profile_answer = "Accepted"  # a test sets "Rejected" to be refused

    @on("SetNetworkProfile")
    def set_network_profile(self, **p):
        self.saw("SetNetworkProfile", **p)
        return r201.SetNetworkProfile(status=self.network_profile_answer)


class Peer21(Peer201):
    """An OCPP 2.1 station: 2.1 keeps the 2.0.1 messages, so it answers them as Peer201 does,
    with the 2.1 schemas checking both directions, and answers what 2.1 adds."""

    _call = call21
    _call_result = r21
    _ocpp_version = "2.1"

    @on("SetChargingProfile")
    def set_charging_profile(self, **p):
        self.saw("SetChargingProfile", **p)
        return r21.SetChargingProfile(status="Accepted")

    @on("NotifyAllowedEnergyTransfer")
    def allowed_energy_transfer(self, **p):
        self.saw("NotifyAllowedEnergyTransfer", **p)
        return r21.NotifyAllowedEnergyTransfer(status="Accepted")


PEERS = {"1.6": (Peer16, "ocpp1.6"), "2.0.1": (Peer201, "ocpp2.0.1"), "2.1": (Peer21, "ocpp2.1")}


@contextlib.asynccontextmanager
async def connected_peer(
    url: str, station_id: str, version: str, *, password: str | None = PASSWORD,
    ssl: ssl_module.SSLContext | None = None,
) -> AsyncIterator[Peer16 | Peer201 | Peer21]:
    """A peer on a wss:// url needs `ssl` (the station's trust and, for profile 3, its
    certificate); `password` None sends no Basic auth."""
    cls, subprotocol = PEERS[version]
    async with websockets.connect(
        f"{url}/{station_id}",
        subprotocols=[subprotocol],
        additional_headers=basic_auth(station_id, password) if password is not None else None,
        ssl=ssl,
    ) as ws:
        peer = cls(station_id, ws)
        task = asyncio.create_task(peer.start())
        try:
            yield peer
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


async def eventually(check, timeout: float = HANG_GUARD, every: float = 0.05):
    """Poll an async check until it returns a truthy value (for effects written in batches)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await check()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(every)
