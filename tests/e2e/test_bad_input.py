"""What a misbehaving station gets: the CALLERROR OCPP-J defines, never a crash or a silent drop.
On asyncio's event loop and on uvloop's, which `serve` runs on."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets
from ocpp.v16 import call
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.e2e.network import PASSWORD, register_station
from tests.e2e.peers import basic_auth, connected_peer, eventually

pytestmark = pytest.mark.both_event_loops

STATION = "BAD-001"


async def raw_socket(url: str, version: str, station_id: str = STATION, password: str = PASSWORD):
    return await websockets.connect(
        f"{url}/{station_id}",
        subprotocols=[f"ocpp{version}"],
        additional_headers=basic_auth(station_id, password),
        max_size=None,
    )


async def exchange(ws, frame: str) -> list:
    await ws.send(frame)
    return json.loads(await ws.recv())


BOOT_16 = json.dumps([2, "boot", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}])

# (frame sent, expected error code on 1.6, expected error code on 2.0.1, expected message id)
CASES = [
    pytest.param("{not json", "FormationViolation", "RpcFrameworkError", "-1", id="unparseable"),
    pytest.param('[2, "m1", "Heartbeat"', "FormationViolation", "RpcFrameworkError", "m1", id="truncated"),
    pytest.param('{"a": 1}', "FormationViolation", "RpcFrameworkError", "-1", id="not-an-array"),
    pytest.param('[2, "m2", "Heartbeat"]', "FormationViolation", "RpcFrameworkError", "m2", id="call-without-payload"),
    pytest.param('[2, 17, "Heartbeat", {}]', "FormationViolation", "RpcFrameworkError", "-1", id="numeric-message-id"),
    pytest.param(json.dumps([2, "x" * 37, "Heartbeat", {}]), "FormationViolation", "RpcFrameworkError", "-1",
                 id="message-id-too-long"),
    pytest.param('[7, "m3", "Heartbeat", {}]', "ProtocolError", "MessageTypeNotSupported", "m3", id="unknown-type"),
    pytest.param('[2, "m4", "MakeCoffee", {}]', "NotImplemented", "NotImplemented", "m4", id="unknown-action"),
    pytest.param('[2, "m5", "ClearCache", {}]', "NotSupported", "NotSupported", "m5", id="csms-only-action"),
]


@pytest.mark.parametrize("version", ["1.6", "2.0.1", "2.1"])
@pytest.mark.parametrize(("frame", "code16", "code201", "message_id"), CASES)
async def test_malformed_frames_get_the_right_callerror(api, ocpp_url, version, frame, code16, code201, message_id):
    await register_station(api, STATION)
    async with await raw_socket(ocpp_url, version) as ws:
        reply = await exchange(ws, frame)
        assert reply[0] == 4
        assert reply[1] == message_id
        assert reply[2] == (code16 if version == "1.6" else code201)
        assert reply[3]  # a description a person can read
        # and the socket still works afterwards
        assert (await exchange(ws, '[2, "hb", "Heartbeat", {}]'))[0] == 3


SCHEMA_CASES_16 = [
    ({"chargePointVendor": 5, "chargePointModel": "M"}, "TypeConstraintViolation"),
    ({"chargePointVendor": "V"}, "ProtocolError"),
    ({"chargePointVendor": "V" * 21, "chargePointModel": "M"}, "PropertyConstraintViolation"),
    ({"chargePointVendor": "V", "chargePointModel": "M", "colour": "red"}, "FormationViolation"),
]


@pytest.mark.parametrize(("payload", "code"), SCHEMA_CASES_16)
async def test_schema_violations_in_16_name_the_field(api, ocpp_url, payload, code):
    await register_station(api, STATION)
    async with await raw_socket(ocpp_url, "1.6") as ws:
        reply = await exchange(ws, json.dumps([2, "b1", "BootNotification", payload]))
    assert reply[:3] == [4, "b1", code]
    assert "BootNotification" in reply[3]


async def test_schema_violation_in_201_uses_201_spelling(api, ocpp_url):
    await register_station(api, STATION)
    async with await raw_socket(ocpp_url, "2.0.1") as ws:
        missing = await exchange(ws, json.dumps([2, "b2", "BootNotification", {"reason": "PowerUp"}]))
        bad_enum = await exchange(ws, json.dumps([2, "b3", "BootNotification", {
            "reason": "Sneezed", "chargingStation": {"model": "M", "vendorName": "V"}}]))
    assert missing[:3] == [4, "b2", "OccurrenceConstraintViolation"]
    assert bad_enum[:3] == [4, "b3", "PropertyConstraintViolation"]
    assert "Sneezed" not in bad_enum[3] or "reason" in bad_enum[3]


async def test_non_numeric_meter_value_is_refused_and_nothing_is_stored(api, ocpp_url):
    await register_station(api, STATION)
    async with await raw_socket(ocpp_url, "1.6") as ws:
        await exchange(ws, BOOT_16)
        reply = await exchange(ws, json.dumps([2, "mv", "MeterValues", {"connectorId": 1, "meterValue": [
            {"timestamp": "2026-11-21T10:00:00.000Z", "sampledValue": [{"value": "lots"}]}]}]))
    assert reply[:3] == [4, "mv", "PropertyConstraintViolation"]
    assert "lots" in reply[3]


@pytest.mark.settings(max_message_bytes=2048)
async def test_oversize_message_gets_format_violation_with_its_message_id(api, ocpp_url):
    await register_station(api, STATION)
    big = json.dumps([2, "big-1", "DataTransfer", {"vendorId": "x", "data": "A" * 5000}])
    async with await raw_socket(ocpp_url, "2.0.1") as ws:
        reply = await exchange(ws, big)
        assert reply[:3] == [4, "big-1", "FormatViolation"]
        assert "2048" in reply[3]
        assert (await exchange(ws, '[2, "hb", "Heartbeat", {}]'))[0] == 3


@pytest.mark.settings(max_frame_bytes=8192)
async def test_frame_beyond_the_hard_limit_closes_with_1009(api, ocpp_url):
    await register_station(api, STATION)
    async with await raw_socket(ocpp_url, "1.6") as ws:
        await ws.send(json.dumps([2, "huge", "DataTransfer", {"vendorId": "x", "data": "A" * 20000}]))
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd.code == 1009


async def test_unregistered_station_is_refused_at_the_handshake(api, ocpp_url):
    with pytest.raises(InvalidStatus) as refused:
        await raw_socket(ocpp_url, "1.6", station_id="GHOST-1")
    assert refused.value.response.status_code == 404
    assert b"not registered" in refused.value.response.body


async def test_wrong_password_is_refused_at_the_handshake(api, ocpp_url):
    await register_station(api, STATION)
    with pytest.raises(InvalidStatus) as refused:
        await raw_socket(ocpp_url, "1.6", password="not-the-password")
    assert refused.value.response.status_code == 401
    assert refused.value.response.headers["WWW-Authenticate"].startswith("Basic")


async def test_missing_password_is_refused_at_the_handshake(api, ocpp_url):
    await register_station(api, STATION)
    with pytest.raises(InvalidStatus) as refused:
        await websockets.connect(f"{ocpp_url}/{STATION}", subprotocols=["ocpp1.6"])
    assert refused.value.response.status_code == 401


@pytest.mark.parametrize("offered", [["ocpp1.5"], ["ocpp1.5", "ocpp2.2"], []], ids=["one", "two", "none"])
async def test_unsupported_subprotocol_is_refused_before_the_upgrade(api, ocpp_url, offered):
    await register_station(api, STATION)
    with pytest.raises(InvalidStatus) as refused:
        await websockets.connect(
            f"{ocpp_url}/{STATION}", subprotocols=offered or None, additional_headers=basic_auth(STATION, PASSWORD)
        )
    assert refused.value.response.status_code == 400  # no 101: the upgrade itself is refused
    assert b"use ocpp1.6, ocpp2.0.1 or ocpp2.1" in refused.value.response.body
    for name in offered:
        assert name.encode() in refused.value.response.body


async def test_a_station_offering_ocpp201_and_ocpp21_is_answered_in_ocpp21(api, ocpp_url):
    await register_station(api, STATION)
    async with websockets.connect(
        f"{ocpp_url}/{STATION}", subprotocols=["ocpp2.0.1", "ocpp2.1"], additional_headers=basic_auth(STATION, PASSWORD)
    ) as ws:
        assert ws.subprotocol == "ocpp2.1"
        # a 2.1 field 2.0.1 does not know (BootNotification has none, TransactionEvent has): accepted
        reply = await exchange(ws, json.dumps([2, "b", "BootNotification", {
            "chargingStation": {"model": "M", "vendorName": "V"}, "reason": "PowerUp"}]))
        assert reply[2]["status"] == "Accepted"
        reply = await exchange(ws, json.dumps([2, "t", "TransactionEvent", {
            "eventType": "Started", "timestamp": "2026-12-03T05:00:00.000Z", "triggerReason": "CablePluggedIn",
            "seqNo": 0, "transactionInfo": {"transactionId": "v2x-1", "operationMode": "ChargingOnly"},
            "evse": {"id": 1, "connectorId": 1}}]))
        assert reply[0] == 3, reply


async def test_wrong_path_is_refused(api, platform):
    with pytest.raises(InvalidStatus) as refused:
        await websockets.connect(f"ws://127.0.0.1:{platform.gateway.port}/chargers/X", subprotocols=["ocpp1.6"])
    assert refused.value.response.status_code == 404


@pytest.mark.settings(unknown_station="reject_boot")
async def test_unknown_station_boot_is_rejected_when_configured(api, ocpp_url):
    async with await raw_socket(ocpp_url, "1.6", station_id="STRANGER") as ws:
        boot = await exchange(ws, BOOT_16)
        status = await exchange(ws, json.dumps([2, "s", "StatusNotification",
                                                {"connectorId": 1, "errorCode": "NoError", "status": "Available"}]))
    assert boot[2]["status"] == "Rejected"
    assert boot[2]["interval"] > 0
    assert status[:3] == [4, "s", "SecurityError"]
    assert (await api.get("/api/v1/stations/STRANGER")).status_code == 404


@pytest.mark.settings(auto_provision=True)
async def test_auto_provisioning_registers_an_unknown_station_with_its_password(api, ocpp_url):
    async with connected_peer(ocpp_url, "NEW-ONE", "1.6", password="first-use-pass") as peer:
        reply = await peer.call(call.BootNotification(charge_point_vendor="Kehua", charge_point_model="AC7"))
    assert reply.status == "Accepted"
    assert (await api.get("/api/v1/stations/NEW-ONE")).json()["vendor"] == "Kehua"
    with pytest.raises(InvalidStatus):
        await raw_socket(ocpp_url, "1.6", station_id="NEW-ONE", password="someone-else")


async def test_pending_station_may_boot_but_not_report_status(api, ocpp_url):
    await register_station(api, STATION, status="Pending")
    async with await raw_socket(ocpp_url, "1.6") as ws:
        boot = await exchange(ws, BOOT_16)
        status = await exchange(ws, json.dumps([2, "s", "StatusNotification",
                                                {"connectorId": 1, "errorCode": "NoError", "status": "Available"}]))
    assert boot[2]["status"] == "Pending"
    assert status[:3] == [4, "s", "SecurityError"]


async def test_second_connection_replaces_the_first_cleanly(api, ocpp_url):
    await register_station(api, STATION)
    old = await raw_socket(ocpp_url, "1.6")
    async with connected_peer(ocpp_url, STATION, "1.6") as peer:
        with pytest.raises(ConnectionClosed) as closed:
            await old.recv()
        assert closed.value.rcvd.code == 1000
        assert "replaced" in closed.value.rcvd.reason
        reply = await api.post(f"/api/v1/stations/{STATION}/commands/clear_cache", json={})
        assert reply.status_code == 200 and reply.json()["status"] == "Accepted", reply.text
        assert peer.actions() == ["ClearCache"]
        assert (await api.get(f"/api/v1/stations/{STATION}")).json()["online"] is True


@pytest.mark.settings(heartbeat_interval=1, offline_grace=0, offline_check_every=0.1)
async def test_silent_station_is_marked_offline_and_back_online_when_it_speaks(api, ocpp_url):
    await register_station(api, STATION)

    async def online():
        return (await api.get(f"/api/v1/stations/{STATION}")).json()["online"]

    async with connected_peer(ocpp_url, STATION, "1.6") as peer:
        await peer.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
        await eventually(lambda: _not(online))
        await peer.call(call.Heartbeat())
        assert await online() is True


async def _not(check):
    return not await check()


async def test_bad_frames_are_kept_in_the_message_log(api, ocpp_url):
    await register_station(api, STATION)
    async with await raw_socket(ocpp_url, "1.6") as ws:
        await exchange(ws, "{not json")

    async def logged():
        rows = (await api.get(f"/api/v1/stations/{STATION}/messages")).json()
        return rows if len(rows) >= 2 else None

    rows = await eventually(logged)
    assert ("in", "{not json") in {(r["direction"], r["payload"]) for r in rows}
    assert any(r["direction"] == "out" and r["error_code"] == "FormationViolation" for r in rows)


async def test_command_to_a_station_that_never_connected_says_so(api):
    await register_station(api, STATION)
    response = await api.post(f"/api/v1/stations/{STATION}/commands/reset", json={"type": "soft"})
    assert response.status_code == 422
    assert "never connected" in response.json()["detail"]


async def test_command_to_a_disconnected_station_is_a_conflict(api, ocpp_url):
    await register_station(api, STATION)
    async with connected_peer(ocpp_url, STATION, "1.6") as peer:
        await peer.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
    response = await api.post(f"/api/v1/stations/{STATION}/commands/reset", json={"type": "soft"})
    assert response.status_code == 409
    assert "not connected" in response.json()["detail"]


async def test_command_with_bad_parameters_is_refused_before_it_leaves(api, ocpp_url):
    await register_station(api, STATION)
    async with connected_peer(ocpp_url, STATION, "1.6") as peer:
        await peer.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
        unknown = await api.post(f"/api/v1/stations/{STATION}/commands/launch_rocket", json={})
        bad = await api.post(f"/api/v1/stations/{STATION}/commands/reset", json={"type": "gentle"})
        raw = await api.post(f"/api/v1/stations/{STATION}/ocpp/Reset", json={"type": "Gentle"})
    assert unknown.status_code == 404 and "launch_rocket" in unknown.json()["detail"]
    assert bad.status_code == 422 and "type" in bad.json()["detail"]
    assert raw.status_code == 422 and "Reset.type" in raw.json()["detail"]
    assert peer.actions() == []


async def test_a_reply_sent_just_before_the_station_closes_is_not_lost(api, ocpp_url):
    """A station answers our call and closes (as after a new password) while the CSMS is still
    answering its previous message: the answer to our call still counts."""
    await register_station(api, STATION)
    async with await raw_socket(ocpp_url, "1.6") as ws:
        await exchange(ws, BOOT_16)
        command = asyncio.create_task(api.post(f"/api/v1/stations/{STATION}/commands/clear_cache", json={}))
        asked = json.loads(await ws.recv())
        await ws.send(json.dumps([2, "st", "StatusNotification",
                                  {"connectorId": 1, "errorCode": "NoError", "status": "Available"}]))
        await ws.send(json.dumps([3, asked[1], {"status": "Accepted"}]))
    reply = await command
    assert reply.status_code == 200, reply.text
    assert reply.json()["status"] == "Accepted"
