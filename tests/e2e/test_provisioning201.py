"""OCPP 2.0.1 block B over a real socket: boots answered Pending and Rejected (B02, B03), custom
reports (B08), network connection profiles (B09) and moving a station to another CSMS (B10)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from decimal import Decimal
from typing import Self

import pytest
import websockets
from ocpp.exceptions import SecurityError
from ocpp.v16 import call as call16
from ocpp.v201 import call

from silkcharge.domain.clock import to_ocpp, utcnow
from silkcharge.domain.connectors import ConnectorStandard
from silkcharge.sim.charger import SimulatedCharger
from silkcharge.sim.spec import ConnectorSpec, StationSpec
from tests.e2e.network import PASSWORD, register_station
from tests.e2e.peers import connected_peer, eventually
from tests.e2e.test_ocpp201 import boot
from tests.guards import HANG_GUARD

STATION = "TAS-201-PROV"
SIMULATED = "KZ-SIM-PROV"
CHARGING_STATION = {"model": "Terra 184", "vendor_name": "ABB", "firmware_version": "1.8.3"}


def status_notification():
    return call.StatusNotification(timestamp=to_ocpp(utcnow()), connector_status="Available",
                                   evse_id=1, connector_id=1)


async def test_b02_pending_station_may_boot_and_heartbeat_then_is_accepted_by_the_operator(api, ocpp_url):
    await register_station(api, STATION, status="Pending")
    async with connected_peer(ocpp_url, STATION, "2.0.1") as peer:
        pending = await peer.call(call.BootNotification(charging_station=CHARGING_STATION, reason="PowerUp"))
        assert pending.status == "Pending" and pending.interval > 0
        assert (await peer.call(call.Heartbeat())).current_time.endswith("Z")
        with pytest.raises(SecurityError):  # B02.FR.09: nothing else until accepted
            await peer.call(status_notification(), suppress=False)
        with pytest.raises(SecurityError):
            await peer.call(call.Authorize(id_token={"id_token": "APP-77", "type": "Central"}), suppress=False)
        patched = await api.patch(f"/api/v1/stations/{STATION}", json={"registration_status": "Accepted"})
        assert patched.status_code == 200, patched.text
        # It is asked to boot again at once rather than at the end of its retry interval.
        assert ("TriggerMessage", {"requested_message": "BootNotification"}) in peer.received
        accepted = await peer.call(call.BootNotification(charging_station=CHARGING_STATION, reason="PowerUp"))
        assert accepted.status == "Accepted"
        await peer.call(status_notification(), suppress=False)
    station = (await api.get(f"/api/v1/stations/{STATION}")).json()
    assert (station["registration_status"], station["vendor"]) == ("Accepted", "ABB")
    assert [c["status"] for c in station["connectors"]][:1] == ["Available"]


@pytest.mark.settings(boot_retry_interval=600)
async def test_b02_simulated_charger_waits_in_pending_until_the_operator_accepts_it(api, ocpp_url):
    await register_station(api, SIMULATED, status="Pending")
    spec = StationSpec(SIMULATED, PASSWORD, "2.0.1", "SilkSim", "AC-22", "1.0",
                       (ConnectorSpec(1, 1, ConnectorStandard.TYPE2, Decimal(22)),))
    simulated = SimulatedCharger(spec, ocpp_url, meter_interval=0.2, reconnect_delay=0.1, step_delay=0.02,
                                 heartbeat_fallback=30, rng=random.Random(9))
    task = asyncio.create_task(simulated.run())
    try:
        async def pending():
            return simulated.registration == "Pending"

        await eventually(pending)
        assert (await api.get(f"/api/v1/stations/{SIMULATED}/connectors")).json()[0]["status"] != "Available"
        await api.patch(f"/api/v1/stations/{SIMULATED}", json={"registration_status": "Accepted"})
        # Accepted at once (TriggerMessage BootNotification), not after its 600 s retry interval.
        await asyncio.wait_for(simulated.booted.wait(), HANG_GUARD)

        async def announced():
            connectors = (await api.get(f"/api/v1/stations/{SIMULATED}/connectors")).json()
            return connectors[0]["status"] == "Available"

        await eventually(announced)
    finally:
        await simulated.stop()
        await task


async def test_b02_pending_station_still_pending_at_its_retry_boot_until_accepted(api, ocpp_url):
    await register_station(api, STATION, status="Pending")
    async with connected_peer(ocpp_url, STATION, "2.0.1") as peer:
        first = await peer.call(call.BootNotification(charging_station=CHARGING_STATION, reason="PowerUp"))
        again = await peer.call(call.BootNotification(charging_station=CHARGING_STATION, reason="PowerUp"))
        assert (first.status, again.status) == ("Pending", "Pending")
        with pytest.raises(SecurityError):
            await peer.call(status_notification(), suppress=False)


async def test_b03_rejected_station_is_told_rejected_and_nothing_else_is_taken(api, ocpp_url):
    await register_station(api, STATION, status="Rejected")
    async with connected_peer(ocpp_url, STATION, "2.0.1") as peer:
        boot = await peer.call(call.BootNotification(charging_station=CHARGING_STATION, reason="PowerUp"))
        assert boot.status == "Rejected" and boot.interval > 0
        with pytest.raises(SecurityError):
            await peer.call(status_notification(), suppress=False)
        with pytest.raises(SecurityError):
            await peer.call(call.TransactionEvent(
                event_type="Started", timestamp=to_ocpp(utcnow()), trigger_reason="CablePluggedIn", seq_no=0,
                transaction_info={"transaction_id": "rejected-1"}, evse={"id": 1, "connector_id": 1},
            ), suppress=False)
    connectors = (await api.get(f"/api/v1/stations/{STATION}/connectors")).json()
    assert all(c["status"] != "Available" for c in connectors)
    assert (await api.get(f"/api/v1/transactions?station_id={STATION}")).json() == []


@pytest.mark.settings(unknown_station="reject_boot")
async def test_b03_unknown_station_is_rejected_over_201_when_configured(api, ocpp_url):
    async with connected_peer(ocpp_url, "STRANGER-201", "2.0.1") as peer:
        boot = await peer.call(call.BootNotification(charging_station=CHARGING_STATION, reason="PowerUp"))
        assert boot.status == "Rejected" and boot.interval > 0
        with pytest.raises(SecurityError):
            await peer.call(status_notification(), suppress=False)
    assert (await api.get("/api/v1/stations/STRANGER-201")).status_code == 404


# -- B08 Get Custom Report ---------------------------------------------------------------------------


@pytest.fixture
async def charger(api, ocpp_url):
    await register_station(api, SIMULATED)
    spec = StationSpec(SIMULATED, PASSWORD, "2.0.1", "SilkSim", "AC-22", "1.0",
                       (ConnectorSpec(1, 1, ConnectorStandard.TYPE2, Decimal(22)),))
    simulated = SimulatedCharger(spec, ocpp_url, meter_interval=0.2, reconnect_delay=0.1, step_delay=0.02,
                                 heartbeat_fallback=30, rng=random.Random(8))
    task = asyncio.create_task(simulated.run())
    await asyncio.wait_for(simulated.booted.wait(), HANG_GUARD)
    yield simulated
    await simulated.stop()
    await task


def reported(key: str, value: str) -> dict:
    component, variable = key.split(".")
    return {"component": {"name": component}, "variable": {"name": variable},
            "variable_attribute": [{"type": "Actual", "value": value, "mutability": "ReadWrite"}],
            "variable_characteristics": {"data_type": "integer", "unit": "s", "supports_monitoring": False}}


async def test_b08_custom_report_sends_components_and_criteria_and_keeps_its_parts_in_order(api, ocpp_url):
    await register_station(api, STATION)
    async with connected_peer(ocpp_url, STATION, "2.0.1") as peer:
        await boot(peer)
        asked = await api.post(f"/api/v1/stations/{STATION}/reports", json={
            "criteria": ["Problem", "Enabled"],
            "components": [{"component": "Connector", "evse_id": 1, "connector_id": 1, "variable": "AvailabilityState"},
                           {"component": "OCPPCommCtrlr"}],
        })
        assert asked.status_code == 202, asked.text
        row = asked.json()
        assert (row["kind"], row["status"], row["complete"]) == ("Report", "Accepted", False)
        sent = dict(peer.received)["GetReport"]
        assert sent["request_id"] == row["request_id"]
        assert sent["component_criteria"] == ["Problem", "Enabled"]
        assert sent["component_variable"] == [
            {"component": {"name": "Connector", "evse": {"id": 1, "connector_id": 1}},
             "variable": {"name": "AvailabilityState"}},
            {"component": {"name": "OCPPCommCtrlr"}},
        ]
        # The parts may come in any order: the report is complete once every one is there.
        await peer.call(call.NotifyReport(request_id=row["request_id"], generated_at=to_ocpp(utcnow()), seq_no=1,
                                          report_data=[reported("OCPPCommCtrlr.MessageTimeout", "45")]))
        halfway = (await api.get(f"/api/v1/stations/{STATION}/reports/{row['request_id']}")).json()
        assert halfway["complete"] is False and halfway["parts_received"] == 1
        await peer.call(call.NotifyReport(request_id=row["request_id"], generated_at=to_ocpp(utcnow()), seq_no=0,
                                          tbc=True, report_data=[reported("OCPPCommCtrlr.HeartbeatInterval", "120")]))
    report = (await api.get(f"/api/v1/stations/{STATION}/reports/{row['request_id']}")).json()
    assert report["complete"] is True
    assert [(i["key"], i["values"], i["unit"]) for i in report["items"]] == [
        ("OCPPCommCtrlr.HeartbeatInterval", {"Actual": "120"}, "s"),
        ("OCPPCommCtrlr.MessageTimeout", {"Actual": "45"}, "s"),
    ]
    assert report["asked"]["criteria"] == ["Problem", "Enabled"]
    listed = (await api.get(f"/api/v1/stations/{STATION}/reports")).json()
    assert [r["request_id"] for r in listed] == [row["request_id"]] and listed[0]["items"] is None
    configuration = (await api.get(f"/api/v1/stations/{STATION}/configuration")).json()["values"]
    assert configuration["OCPPCommCtrlr.HeartbeatInterval"] == "120"


async def test_b08_a_report_the_station_does_not_support_is_409_and_kept_with_its_answer(api, ocpp_url):
    await register_station(api, STATION)
    async with connected_peer(ocpp_url, STATION, "2.0.1") as peer:
        await boot(peer)
        peer.report_answer = "NotSupported"
        refused = await api.post(f"/api/v1/stations/{STATION}/reports", json={"criteria": ["Problem"]})
        assert refused.status_code == 409 and "NotSupported" in refused.json()["detail"]
        mixed = await api.post(f"/api/v1/stations/{STATION}/reports",
                               json={"base": "FullInventory", "criteria": ["Problem"]})
        assert mixed.status_code == 422 and "base report takes no criteria" in mixed.json()["detail"]
        too_many = await api.post(f"/api/v1/stations/{STATION}/reports",
                                  json={"criteria": ["Problem", "Problem", "Active", "Enabled", "Available"]})
        assert too_many.status_code == 422
    (row,) = (await api.get(f"/api/v1/stations/{STATION}/reports")).json()
    assert (row["status"], row["complete"]) == ("NotSupported", True)
    assert (await api.get(f"/api/v1/stations/{STATION}/reports/999999")).status_code == 404


async def test_b08_b07_the_generic_command_route_tracks_a_base_report_by_its_request_id(api, ocpp_url):
    await register_station(api, STATION)
    async with connected_peer(ocpp_url, STATION, "2.0.1") as peer:
        await boot(peer)
        sent = await api.post(f"/api/v1/stations/{STATION}/commands/get_base_report",
                              json={"report": "ConfigurationInventory", "request_id": 77})
        assert sent.json()["status"] == "Accepted", sent.text
        await peer.call(call.NotifyReport(request_id=77, generated_at=to_ocpp(utcnow()), seq_no=0,
                                          report_data=[reported("OCPPCommCtrlr.HeartbeatInterval", "300")]))
    report = (await api.get(f"/api/v1/stations/{STATION}/reports/77")).json()
    assert (report["asked"], report["status"], report["complete"]) == ({"base": "ConfigurationInventory"}, "Accepted", True)
    assert [i["key"] for i in report["items"]] == ["OCPPCommCtrlr.HeartbeatInterval"]


async def test_b08_simulated_charger_reports_the_variables_asked_for(api, charger):
    asked = await api.post(f"/api/v1/stations/{SIMULATED}/reports", json={"components": [
        {"component": "OCPPCommCtrlr", "variable": "HeartbeatInterval"},
        {"component": "ChargingStation", "variable": "Model"},
    ]})
    assert asked.status_code == 202, asked.text

    async def complete():
        row = (await api.get(f"/api/v1/stations/{SIMULATED}/reports/{asked.json()['request_id']}")).json()
        return row if row["complete"] else None

    report = await eventually(complete)
    values = {i["key"]: i["values"]["Actual"] for i in report["items"]}
    assert set(values) == {"OCPPCommCtrlr.HeartbeatInterval", "ChargingStation.Model"}
    assert values["ChargingStation.Model"] == "AC-22" and values["OCPPCommCtrlr.HeartbeatInterval"].isdigit()
    nothing = await api.post(f"/api/v1/stations/{SIMULATED}/reports",
                             json={"components": [{"component": "NoSuchController"}]})
    assert (nothing.json()["status"], nothing.json()["complete"]) == ("EmptyResultSet", True)
    problems = await api.post(f"/api/v1/stations/{SIMULATED}/reports", json={"criteria": ["Problem"]})
    assert problems.json()["status"] == "EmptyResultSet"  # nothing is wrong with it


# -- B09 network connection profile, B10 migrate to another CSMS ------------------------------------

OTHER_CSMS = "wss://csms-b.example.kz/ocpp"


async def test_b09_network_profile_is_written_to_its_slot_and_nothing_else_changes(api, ocpp_url):
    await register_station(api, STATION)
    async with connected_peer(ocpp_url, STATION, "2.0.1") as peer:
        await boot(peer)
        peer.variables[("OCPPCommCtrlr", "NetworkConfigurationPriority")] = "0"
        written = await api.post(f"/api/v1/stations/{STATION}/network-profiles", json={
            "configuration_slot": 1, "ocpp_csms_url": OTHER_CSMS, "security_profile": 2,
            "ocpp_interface": "Wireless0", "message_timeout": 45,
        })
        assert written.status_code == 200, written.text
        assert [a for a, _ in peer.received if a != "GetVariables"] == ["SetNetworkProfile"]
        sent = dict(peer.received)["SetNetworkProfile"]
    assert sent["configuration_slot"] == 1
    assert sent["connection_data"] == {
        "ocpp_version": "OCPP20", "ocpp_transport": "JSON", "ocpp_csms_url": OTHER_CSMS, "message_timeout": 45,
        "security_profile": 2, "ocpp_interface": "Wireless0",
    }
    change = written.json()
    assert (change["action"], change["status"], change["configuration_slot"]) == ("SetNetworkProfile", "Accepted", 1)
    assert change["steps"] == [{"action": "SetNetworkProfile", "status": "Accepted"}]
    (stored,) = (await api.get(f"/api/v1/stations/{STATION}/network-profiles")).json()
    assert stored["connection_data"]["ocppCsmsUrl"] == OTHER_CSMS and stored["status"] == "Accepted"


async def test_b09_a_rejected_network_profile_is_409_and_kept_with_the_answer(api, ocpp_url):
    await register_station(api, STATION)
    async with connected_peer(ocpp_url, STATION, "2.0.1") as peer:
        await boot(peer)
        peer.network_profile_answer = "Rejected"
        refused = await api.post(f"/api/v1/stations/{STATION}/network-profiles", json={
            "configuration_slot": 2, "ocpp_csms_url": OTHER_CSMS, "security_profile": 2})
    assert refused.status_code == 409
    assert "answered Rejected to SetNetworkProfile" in refused.json()["detail"]
    (stored,) = (await api.get(f"/api/v1/stations/{STATION}/network-profiles")).json()
    assert (stored["status"], stored["configuration_slot"]) == ("Rejected", 2)
    assert "Rejected" in stored["reason"]


async def test_b09_invalid_network_profiles_are_refused_with_their_reason_before_anything_is_sent(api, ocpp_url):
    await register_station(api, STATION)
    await register_station(api, "ALA-16-NET")
    async with connected_peer(ocpp_url, STATION, "2.0.1") as peer:
        await boot(peer)
        peer.variables[("OCPPCommCtrlr", "NetworkConfigurationPriority")] = "0,1"
        cases = [
            ({"configuration_slot": 0, "ocpp_csms_url": OTHER_CSMS, "security_profile": 2}, "active network profile"),
            ({"configuration_slot": 1, "ocpp_csms_url": OTHER_CSMS, "security_profile": 1}, "use a ws:// URL"),
            ({"configuration_slot": 1, "ocpp_csms_url": "ws://csms-b.example.kz/ocpp", "security_profile": 3},
             "must be wss://"),
            ({"configuration_slot": 1, "ocpp_csms_url": "https://csms-b.example.kz", "security_profile": 2},
             "ocpp_csms_url"),
            ({"configuration_slot": 100, "ocpp_csms_url": OTHER_CSMS, "security_profile": 2}, "configuration_slot"),
        ]
        for body, reason in cases:
            answer = await api.post(f"/api/v1/stations/{STATION}/network-profiles", json=body)
            assert answer.status_code == 422 and reason in answer.json()["detail"], (body, answer.text)
        assert "SetNetworkProfile" not in [a for a, _ in peer.received]
    async with connected_peer(ocpp_url, "ALA-16-NET", "1.6") as peer16:
        await peer16.call(call16.BootNotification(charge_point_vendor="V", charge_point_model="M"))
        old = await api.post("/api/v1/stations/ALA-16-NET/network-profiles",
                             json={"configuration_slot": 1, "ocpp_csms_url": OTHER_CSMS, "security_profile": 2})
    assert old.status_code == 422 and "OCPP 1.6" in old.json()["detail"]
    assert (await api.post("/api/v1/stations/NO-SUCH/network-profiles", json={
        "configuration_slot": 1, "ocpp_csms_url": OTHER_CSMS, "security_profile": 2})).status_code == 404
    assert (await api.get(f"/api/v1/stations/{STATION}/network-profiles")).json() == []


async def test_b10_migration_writes_the_profile_puts_it_first_and_resets(api, ocpp_url):
    await register_station(api, STATION)
    async with connected_peer(ocpp_url, STATION, "2.0.1") as peer:
        await boot(peer)
        peer.variables[("OCPPCommCtrlr", "NetworkConfigurationPriority")] = "0,1"
        moved = await api.post(f"/api/v1/stations/{STATION}/csms-migration",
                               json={"ocpp_csms_url": OTHER_CSMS, "security_profile": 2})
        assert moved.status_code == 200, moved.text
        sent = [(a, p) for a, p in peer.received if a != "GetVariables"]
    assert [a for a, _ in sent] == ["SetNetworkProfile", "SetVariables", "Reset"]
    assert sent[0][1]["configuration_slot"] == 2  # the first slot not in the priority list
    assert sent[0][1]["connection_data"]["ocpp_csms_url"] == OTHER_CSMS
    assert sent[1][1]["set_variable_data"][0]["attribute_value"] == "2,0,1"
    assert sent[2][1] == {"type": "OnIdle"}
    change = moved.json()
    assert (change["action"], change["status"], change["configuration_slot"]) == ("MigrateToCsms", "Accepted", 2)
    assert [s["status"] for s in change["steps"]] == ["Accepted"] * 3
    events = (await api.get(f"/api/v1/security-events?station_id={STATION}")).json()
    assert any(e["type"] == "MigrateToCsmsRequested" and OTHER_CSMS in e["reason"] for e in events)
    # gone to the other CSMS: marked as moved, no connection expected here
    async def gone():
        found = (await api.get(f"/api/v1/stations/{STATION}")).json()
        return None if found["online"] else found
    station = await eventually(gone)
    assert station["moved_to"] == OTHER_CSMS.rstrip("/")
    assert station["moved_at"] is not None
    status = (await api.get("/api/v1/status")).json()
    assert status["stations"][STATION]["moved_to"] == OTHER_CSMS.rstrip("/")
    assert status["summary"].get("moved") == 1 and "offline" not in status["summary"]
    # and if it connects here again (it fell back, or was moved back), it is ours again
    async with connected_peer(ocpp_url, STATION, "2.0.1") as peer:
        await boot(peer)
        station = (await api.get(f"/api/v1/stations/{STATION}")).json()
        assert (station["online"], station["moved_to"], station["moved_at"]) == (True, None, None)


async def test_b10_migration_stops_where_the_station_refuses_and_the_station_stays(api, ocpp_url):
    await register_station(api, STATION)
    async with connected_peer(ocpp_url, STATION, "2.0.1") as peer:
        await boot(peer)
        peer.variables[("OCPPCommCtrlr", "NetworkConfigurationPriority")] = "0"
        peer.set_variables_answer = "Rejected"
        refused = await api.post(f"/api/v1/stations/{STATION}/csms-migration",
                                 json={"ocpp_csms_url": OTHER_CSMS, "security_profile": 2, "configuration_slot": 3})
        assert "Reset" not in [a for a, _ in peer.received]
    assert refused.status_code == 409 and "SetVariables" in refused.json()["detail"]
    (stored,) = (await api.get(f"/api/v1/stations/{STATION}/network-profiles")).json()
    assert stored["status"] == "Rejected"
    assert stored["steps"] == [{"action": "SetNetworkProfile", "status": "Accepted"},
                               {"action": "SetVariables", "status": "Rejected"}]
    assert (await api.get(f"/api/v1/stations/{STATION}")).json()["moved_to"] is None  # it stays


class OtherCsms:
    """A second CSMS on this machine: it accepts any 2.0.1 station and records who came."""

    def __init__(self) -> None:
        self.boots: list[str] = []
        self.server = None

    async def __aenter__(self) -> Self:
        self.server = await websockets.serve(self._serve, "127.0.0.1", 0, subprotocols=["ocpp2.0.1"])
        return self

    async def __aexit__(self, *exc) -> None:
        self.server.close()
        await self.server.wait_closed()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/other"

    async def _serve(self, ws) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for text in ws:
                _, message_id, action, _payload = json.loads(text)
                reply: dict = {}
                if action == "BootNotification":
                    self.boots.append(ws.request.path)
                    reply = {"status": "Accepted", "currentTime": to_ocpp(utcnow()), "interval": 300}
                elif action == "Heartbeat":
                    reply = {"currentTime": to_ocpp(utcnow())}
                await ws.send(json.dumps([3, message_id, reply]))


async def test_b10_simulated_charger_moves_to_the_other_csms_after_the_reset(api, charger):
    async with OtherCsms() as other:
        moved = await api.post(f"/api/v1/stations/{SIMULATED}/csms-migration",
                               json={"ocpp_csms_url": other.url, "security_profile": 1})
        assert moved.status_code == 200, moved.text
        assert [s["status"] for s in moved.json()["steps"]] == ["Accepted"] * 3

        async def arrived():
            return other.boots

        assert await eventually(arrived, timeout=15) == [f"/other/{SIMULATED}"]

        async def gone():
            return not (await api.get(f"/api/v1/stations/{SIMULATED}")).json()["online"]

        await eventually(gone)
