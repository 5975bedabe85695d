"""A 2.0.1 charger for the device-management tests: the `ocpp` package's ChargePoint (Peer201)
that also keeps monitors, display messages and customer data, and answers monitoring reports,
display-message reports and customer-information requests in parts, as a real station does
(the `@after` handlers run once the reply is on the wire)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from typing import Any

import websockets
from ocpp.routing import after, on
from ocpp.v201 import call
from ocpp.v201 import call_result as r201

from silkcharge.domain.clock import to_ocpp, utcnow
from tests.e2e.network import PASSWORD
from tests.e2e.peers import Peer201, basic_auth

KNOWN_COMPONENTS = {"ChargingStation", "EVSE", "Connector", "OCPPCommCtrlr", "DeviceDataCtrlr"}
PART_SIZE = 40  # characters of customer data per NotifyCustomerInformation


class DevicePeer201(Peer201):
    def __init__(self, station_id: str, connection) -> None:
        super().__init__(station_id, connection)
        self.monitors: dict[int, dict[str, Any]] = {}
        self.monitor_ids = itertools.count(101)
        self.messages: dict[int, dict[str, Any]] = {}
        self.customers = {"RFID-42": "idToken RFID-42: 3 sessions, last 2026-05-01, 41.7 kWh; "
                                     "auth cache entry Accepted; local list entry Accepted"}
        self.transactions = {"tx-1"}
        self.messages_in_queue = False
        self.publications: dict[str, str] = {}
        self.display_formats = {"UTF8", "ASCII"}

    # -- monitoring ----------------------------------------------------------------------------

    @on("SetVariableMonitoring")
    def set_variable_monitoring(self, **p):
        self.saw("SetVariableMonitoring", **p)
        results = []
        for data in p["set_monitoring_data"]:
            common = {"type": data["type"], "severity": data["severity"], "component": data["component"],
                      "variable": data["variable"]}
            if data["component"]["name"] not in KNOWN_COMPONENTS:
                results.append({**common, "status": "UnknownComponent"})
                continue
            monitor_id = data.get("id") or next(self.monitor_ids)
            self.monitors[monitor_id] = {**data, "id": monitor_id}
            results.append({**common, "status": "Accepted", "id": monitor_id})
        return r201.SetVariableMonitoring(set_monitoring_result=results)

    @on("ClearVariableMonitoring")
    def clear_variable_monitoring(self, **p):
        self.saw("ClearVariableMonitoring", **p)
        results = []
        for monitor_id in p["id"]:
            found = self.monitors.pop(monitor_id, None)
            results.append({"id": monitor_id, "status": "Accepted" if found else "NotFound"})
        return r201.ClearVariableMonitoring(clear_monitoring_result=results)

    @on("SetMonitoringBase")
    def set_monitoring_base(self, **p):
        self.saw("SetMonitoringBase", **p)
        if p["monitoring_base"] != "All":
            self.monitors = {i: m for i, m in self.monitors.items() if m.get("preconfigured")}
        return r201.SetMonitoringBase(status="Accepted")

    @on("SetMonitoringLevel")
    def set_monitoring_level(self, **p):
        self.saw("SetMonitoringLevel", **p)
        return r201.SetMonitoringLevel(status="Accepted")

    @on("GetMonitoringReport")
    def get_monitoring_report(self, **p):
        self.saw("GetMonitoringReport", **p)
        return r201.GetMonitoringReport(status="Accepted" if self.monitors else "EmptyResultSet")

    @after("GetMonitoringReport")
    async def send_monitoring_report(self, **p):
        chosen = list(self.monitors.values())
        for seq_no, monitor in enumerate(chosen):
            await self.call(call.NotifyMonitoringReport(
                request_id=p["request_id"], seq_no=seq_no, generated_at=to_ocpp(utcnow()),
                tbc=seq_no < len(chosen) - 1,
                monitor=[{"component": monitor["component"], "variable": monitor["variable"],
                          "variable_monitoring": [{"id": monitor["id"], "transaction": monitor.get("transaction", False),
                                                   "value": monitor["value"], "type": monitor["type"],
                                                   "severity": monitor["severity"]}]}],
            ))

    # -- customer information ------------------------------------------------------------------

    @on("CustomerInformation")
    def customer_information(self, **p):
        self.saw("CustomerInformation", **p)
        if not (p.get("id_token") or p.get("customer_identifier") or p.get("customer_certificate")):
            return r201.CustomerInformation(status="Invalid")
        return r201.CustomerInformation(status="Accepted")

    @after("CustomerInformation")
    async def send_customer_information(self, **p):
        token = (p.get("id_token") or {}).get("id_token") or p.get("customer_identifier")
        if not p["report"] or token is None:
            if p["clear"]:
                self.customers.pop(token, None)
            return
        text = self.customers.get(token, f"no data about {token}")
        if p["clear"]:
            self.customers.pop(token, None)
        parts = [text[i:i + PART_SIZE] for i in range(0, len(text), PART_SIZE)]
        for seq_no, part in enumerate(parts):
            await self.call(call.NotifyCustomerInformation(
                data=part, seq_no=seq_no, generated_at=to_ocpp(utcnow()), request_id=p["request_id"],
                tbc=seq_no < len(parts) - 1,
            ))

    # -- display messages ----------------------------------------------------------------------

    @on("SetDisplayMessage")
    def set_display_message(self, **p):
        self.saw("SetDisplayMessage", **p)
        message = p["message"]
        if message["message"]["format"] not in self.display_formats:
            return r201.SetDisplayMessage(status="NotSupportedMessageFormat")
        if message.get("transaction_id") and message["transaction_id"] not in self.transactions:
            return r201.SetDisplayMessage(status="UnknownTransaction")
        self.messages[message["id"]] = message
        return r201.SetDisplayMessage(status="Accepted")

    @on("GetDisplayMessages")
    def get_display_messages(self, **p):
        self.saw("GetDisplayMessages", **p)
        return r201.GetDisplayMessages(status="Accepted" if self._chosen(p) else "Unknown")

    @after("GetDisplayMessages")
    async def send_display_messages(self, **p):
        chosen = self._chosen(p)
        for index, message in enumerate(chosen):
            await self.call(call.NotifyDisplayMessages(
                request_id=p["request_id"], message_info=[message], tbc=index < len(chosen) - 1,
            ))

    def _chosen(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        return [m for i, m in sorted(self.messages.items())
                if (not p.get("id") or i in p["id"]) and p.get("priority") in (None, m["priority"])]

    @on("ClearDisplayMessage")
    def clear_display_message(self, **p):
        self.saw("ClearDisplayMessage", **p)
        return r201.ClearDisplayMessage(status="Accepted" if self.messages.pop(p["id"], None) else "Unknown")

    # -- smart charging: what load management sends (K11-K13 tests) -----------------------------

    @on("SetChargingProfile")
    def set_charging_profile(self, **p):
        self.saw("SetChargingProfile", **p)
        return r201.SetChargingProfile(status="Accepted")

    @on("ClearChargingProfile")
    def clear_charging_profile(self, **p):
        self.saw("ClearChargingProfile", **p)
        return r201.ClearChargingProfile(status="Accepted")

    def tx_limits(self, evse_id: int) -> list[float]:
        """The limits of the TxProfiles sent for an EVSE, in order."""
        return [
            p["charging_profile"]["charging_schedule"][0]["charging_schedule_period"][0]["limit"]
            for action, p in self.received
            if action == "SetChargingProfile" and p["evse_id"] == evse_id
            and p["charging_profile"]["charging_profile_purpose"] == "TxProfile"
        ]

    # -- firmware publishing, transaction status -----------------------------------------------

    @on("PublishFirmware")
    def publish_firmware(self, **p):
        self.saw("PublishFirmware", **p)
        return r201.PublishFirmware(status="Accepted")

    @after("PublishFirmware")
    async def report_publication(self, **p):
        for status in ("Downloading", "Downloaded", "ChecksumVerified", "Published"):
            location = [f"http://lc.local/fw/{p['checksum']}.bin"] if status == "Published" else None
            await self.call(call.PublishFirmwareStatusNotification(
                status=status, request_id=p["request_id"], location=location))
        self.publications[p["checksum"]] = "Published"

    @on("UnpublishFirmware")
    def unpublish_firmware(self, **p):
        self.saw("UnpublishFirmware", **p)
        found = self.publications.pop(p["checksum"], None)
        return r201.UnpublishFirmware(status="Unpublished" if found else "NoFirmware")

    @on("GetTransactionStatus")
    def get_transaction_status(self, **p):
        self.saw("GetTransactionStatus", **p)
        return r201.GetTransactionStatus(messages_in_queue=self.messages_in_queue,
                                         ongoing_indicator=p.get("transaction_id") in self.transactions)


@contextlib.asynccontextmanager
async def device_peer(
    url: str, station_id: str, *, password: str = PASSWORD, kind: type[DevicePeer201] = DevicePeer201,
) -> AsyncIterator[DevicePeer201]:
    async with websockets.connect(
        f"{url}/{station_id}", subprotocols=["ocpp2.0.1"], additional_headers=basic_auth(station_id, password),
    ) as ws:
        peer = kind(station_id, ws)
        task = asyncio.create_task(peer.start())
        try:
            yield peer
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
