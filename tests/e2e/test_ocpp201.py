"""OCPP 2.0.1 end to end: an `ocpp` package charging station against the real gateway.

Every test runs twice: over `ocpp2.0.1`, and over `ocpp2.1` (which keeps every 2.0.1 message; the
peer and the CSMS then check each frame against the 2.1 schemas)."""

from __future__ import annotations

import asyncio
import contextlib
from decimal import Decimal

import pytest
from ocpp.v201 import call
from sqlalchemy import select

from silkcharge.domain.clock import to_ocpp, utcnow
from silkcharge.store.schema import MeterSample, Transaction
from tests.e2e.network import add_token, register_station
from tests.e2e.peers import connected_peer

STATION = "TAS-201-001"


@pytest.fixture(params=["2.0.1", "2.1"])
def version(request) -> str:
    return request.param


async def boot(peer) -> None:
    reply = await peer.call(
        call.BootNotification(
            charging_station={"model": "Terra 184", "vendor_name": "ABB", "firmware_version": "1.8.3",
                              "serial_number": "T184-9"},
            reason="PowerUp",
        )
    )
    assert reply.status == "Accepted"


def energy(wh: int, context: str = "Sample.Periodic") -> dict:
    return {
        "timestamp": to_ocpp(utcnow()),
        "sampled_value": [
            {"value": wh, "measurand": "Energy.Active.Import.Register", "context": context,
             "unit_of_measure": {"unit": "Wh"}},
            {"value": 7.4, "measurand": "Power.Active.Import", "context": context,
             "unit_of_measure": {"unit": "kW", "multiplier": 0}},
            {"value": 61, "measurand": "SoC", "context": context, "location": "EV"},
        ],
    }


async def test_boot_heartbeat_and_status_are_recorded(api, ocpp_url, version):
    await register_station(api, STATION)
    async with connected_peer(ocpp_url, STATION, version) as peer:
        await boot(peer)
        assert (await peer.call(call.Heartbeat())).current_time.endswith("Z")
        await peer.call(call.StatusNotification(timestamp=to_ocpp(utcnow()), connector_status="Occupied",
                                                evse_id=1, connector_id=1))
        await peer.call(call.StatusNotification(timestamp=to_ocpp(utcnow()), connector_status="Available",
                                                evse_id=2, connector_id=1))
        station = (await api.get(f"/api/v1/stations/{STATION}")).json()
    assert (station["vendor"], station["model"], station["ocpp_version"]) == ("ABB", "Terra 184", version)
    assert [c["status"] for c in station["connectors"]] == ["Occupied", "Available"]


async def test_notify_event_problem_marks_the_connector_faulted(api, ocpp_url, version):
    await register_station(api, STATION)
    async with connected_peer(ocpp_url, STATION, version) as peer:
        await boot(peer)
        await peer.call(call.NotifyEvent(generated_at=to_ocpp(utcnow()), seq_no=0, event_data=[{
            "event_id": 1, "timestamp": to_ocpp(utcnow()), "trigger": "Alerting", "actual_value": "true",
            "tech_code": "OverTemperature", "event_notification_type": "HardWiredNotification",
            "component": {"name": "Connector", "evse": {"id": 2, "connector_id": 1}},
            "variable": {"name": "Problem"},
        }]))
    connectors = (await api.get(f"/api/v1/stations/{STATION}/connectors")).json()
    assert (connectors[1]["status"], connectors[1]["error_code"]) == ("Faulted", "OverTemperature")


async def test_notify_report_fills_the_known_device_model(api, ocpp_url, version):
    await register_station(api, STATION)
    async with connected_peer(ocpp_url, STATION, version) as peer:
        await boot(peer)
        await peer.call(call.NotifyReport(request_id=1, generated_at=to_ocpp(utcnow()), seq_no=0, report_data=[
            {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"},
             "variable_attribute": [{"type": "Actual", "value": "300", "mutability": "ReadWrite"}]},
            {"component": {"name": "EVSE", "evse": {"id": 1}}, "variable": {"name": "Power"},
             "variable_attribute": [{"type": "MaxSet", "value": "150000"}]},
        ]))
    configuration = (await api.get(f"/api/v1/stations/{STATION}")).json()["configuration"]
    assert configuration == {"OCPPCommCtrlr.HeartbeatInterval": "300"}


async def test_authorize_knows_unknown_tokens(api, ocpp_url, version):
    await register_station(api, STATION)
    await add_token(api, "APP-77", type="Central", group_id="yandex-taxi")
    async with connected_peer(ocpp_url, STATION, version) as peer:
        await boot(peer)
        known = await peer.call(call.Authorize(id_token={"id_token": "APP-77", "type": "Central"}))
        unknown = await peer.call(call.Authorize(id_token={"id_token": "NOPE", "type": "ISO14443"}))
    assert known.id_token_info["status"] == "Accepted"
    assert known.id_token_info["group_id_token"]["id_token"] == "yandex-taxi"
    assert unknown.id_token_info["status"] == "Unknown"


async def test_transaction_events_started_updated_ended_make_one_session(api, platform, ocpp_url, version):
    await register_station(api, STATION)
    await add_token(api, "APP-77")
    token = {"id_token": "APP-77", "type": "Central"}
    async with connected_peer(ocpp_url, STATION, version) as peer:
        await boot(peer)
        started = await peer.call(call.TransactionEvent(
            event_type="Started", timestamp=to_ocpp(utcnow()), trigger_reason="Authorized", seq_no=0,
            transaction_info={"transaction_id": "tx-abc", "charging_state": "EVConnected"},
            id_token=token, evse={"id": 1, "connector_id": 1}, meter_value=[energy(5000, "Transaction.Begin")],
        ))
        assert started.id_token_info["status"] == "Accepted"
        await peer.call(call.TransactionEvent(
            event_type="Updated", timestamp=to_ocpp(utcnow()), trigger_reason="ChargingStateChanged", seq_no=1,
            transaction_info={"transaction_id": "tx-abc", "charging_state": "Charging"},
            meter_value=[energy(9000)],
        ))
        live = (await api.get(f"/api/v1/stations/{STATION}/connectors")).json()
        assert live[0]["status"] == "Charging"
        await peer.call(call.TransactionEvent(
            event_type="Ended", timestamp=to_ocpp(utcnow()), trigger_reason="EVCommunicationLost", seq_no=2,
            offline=True,
            transaction_info={"transaction_id": "tx-abc", "stopped_reason": "EVDisconnected"},
            meter_value=[energy(17500, "Transaction.End")],
        ))
    sessions = (await api.get(f"/api/v1/transactions?station_id={STATION}")).json()
    assert len(sessions) == 1
    tx = (await api.get(f"/api/v1/transactions/{sessions[0]['id']}")).json()
    assert (tx["station_tx_id"], tx["state"], tx["stop_reason"]) == ("tx-abc", "Ended", "EVDisconnected")
    assert Decimal(tx["energy_wh"]) == Decimal(12500)
    assert tx["offline"] is True
    async with platform.sessions() as session:
        stored = await session.scalar(select(Transaction).where(Transaction.station_tx_id == "tx-abc"))
        power = await session.scalars(select(MeterSample.value).where(
            MeterSample.transaction_id == stored.id, MeterSample.measurand == "Power.Active.Import"))
        assert stored.last_seq_no == 2
        assert set(power.all()) == {Decimal("7.4")}


async def test_updated_events_of_many_stations_at_once_each_keep_their_samples_seq_state_and_token(
    api, platform, ocpp_url, version
):
    """Updated events that arrive together are stored together (one batch, shared statements):
    each station's samples, seqNo and charging state stay its own; one that skipped seqNos
    opens its gap; one that carries an idToken is answered for it; one for a transaction we
    never saw starts it."""
    stations = [f"TAS-201-B{n:02d}" for n in range(6)]
    for station in stations:
        await register_station(api, station)
    await add_token(api, "APP-88")
    async with contextlib.AsyncExitStack() as stack:
        peers = [await stack.enter_async_context(connected_peer(ocpp_url, s, version)) for s in stations]
        await asyncio.gather(*(boot(peer) for peer in peers))
        await asyncio.gather(*(peer.call(call.TransactionEvent(
            event_type="Started", timestamp=to_ocpp(utcnow()), trigger_reason="CablePluggedIn", seq_no=0,
            transaction_info={"transaction_id": f"tx-{n}", "charging_state": "EVConnected"},
            evse={"id": 1, "connector_id": 1}, meter_value=[energy(1000, "Transaction.Begin")],
        )) for n, peer in enumerate(peers[:5])))

        def updated(n: int, seq_no: int, wh: int, **extra):
            return call.TransactionEvent(
                event_type="Updated", timestamp=to_ocpp(utcnow()), trigger_reason="MeterValuePeriodic",
                seq_no=seq_no, transaction_info={"transaction_id": f"tx-{n}", "charging_state": "Charging"},
                evse={"id": 1, "connector_id": 1}, meter_value=[energy(wh)], **extra)

        replies = await asyncio.gather(
            *(peers[n].call(updated(n, 1, 2000 + n)) for n in range(3)),
            peers[3].call(updated(3, 4, 2003)),  # seqNos 1 to 3 skipped
            peers[4].call(updated(4, 1, 2004, id_token={"id_token": "APP-88", "type": "Central"})),
            peers[5].call(updated(5, 7, 2005)),  # its Started never reached us
        )
    assert [r.id_token_info is not None for r in replies] == [False] * 4 + [True, False]
    assert replies[4].id_token_info["status"] == "Accepted"
    async with platform.sessions() as session:
        found = {tx.station_id: tx for tx in await session.scalars(
            select(Transaction).where(Transaction.station_id.in_(stations)))}
        registers = {}
        for station, tx in found.items():
            registers[station] = sorted((await session.scalars(select(MeterSample.value).where(
                MeterSample.transaction_id == tx.id, MeterSample.measurand == "Energy.Active.Import.Register"))).all())
    assert [(s, found[s].station_tx_id, found[s].last_seq_no, found[s].charging_state) for s in stations] == [
        (s, f"tx-{n}", seq, "Charging") for n, (s, seq) in enumerate(zip(stations, [1, 1, 1, 4, 1, 7]))]
    assert found[stations[3]].missing_seq_nos == [1, 2, 3]
    assert found[stations[4]].id_token == "APP-88"
    assert registers == {s: ([Decimal(1000)] if n < 5 else []) + [Decimal(2000 + n)] for n, s in enumerate(stations)}
    connectors = [(await api.get(f"/api/v1/stations/{s}/connectors")).json()[0]["status"] for s in stations]
    assert connectors == ["Charging"] * 6


async def test_updated_before_started_still_records_the_transaction(api, ocpp_url, version):
    await register_station(api, STATION)
    async with connected_peer(ocpp_url, STATION, version) as peer:
        await boot(peer)
        await peer.call(call.TransactionEvent(
            event_type="Updated", timestamp=to_ocpp(utcnow()), trigger_reason="MeterValuePeriodic", seq_no=3,
            offline=True, transaction_info={"transaction_id": "lost-start"}, evse={"id": 2, "connector_id": 1},
            meter_value=[energy(100)],
        ))
    sessions = (await api.get(f"/api/v1/transactions?station_id={STATION}&state=Active")).json()
    assert [(s["station_tx_id"], s["evse_id"], s["offline"]) for s in sessions] == [("lost-start", 2, True)]


async def test_meter_values_firmware_log_and_security_notifications_are_accepted(api, ocpp_url, version):
    await register_station(api, STATION)
    async with connected_peer(ocpp_url, STATION, version) as peer:
        await boot(peer)
        await peer.call(call.MeterValues(evse_id=1, meter_value=[energy(42)]))
        await peer.call(call.FirmwareStatusNotification(status="Downloading", request_id=3))
        await peer.call(call.LogStatusNotification(status="Uploading", request_id=4))
        await peer.call(call.SecurityEventNotification(type="StartupOfTheDevice", timestamp=to_ocpp(utcnow())))
        reply = await peer.call(call.DataTransfer(vendor_id="cn.teld"))
    assert reply.status == "UnknownVendorId"
    station = (await api.get(f"/api/v1/stations/{STATION}")).json()
    assert (station["firmware_status"], station["diagnostics_status"]) == ("Downloading", "Uploading")


async def test_every_csms_command_reaches_the_station_and_returns_its_reply(api, ocpp_url, version):
    await register_station(api, STATION)
    async with connected_peer(ocpp_url, STATION, version) as peer:
        await boot(peer)
        await peer.call(call.TransactionEvent(
            event_type="Started", timestamp=to_ocpp(utcnow()), trigger_reason="CablePluggedIn", seq_no=0,
            transaction_info={"transaction_id": "tx-remote"}, evse={"id": 1, "connector_id": 1},
        ))
        tx_id = (await api.get(f"/api/v1/transactions?station_id={STATION}")).json()[0]["id"]

        async def send(name, **params):
            response = await api.post(f"/api/v1/stations/{STATION}/commands/{name}", json=params)
            assert response.status_code == 200, response.text
            return response.json()

        assert (await send("remote_start", id_token="APP-1", evse_id=2))["status"] == "Accepted"
        assert (await send("remote_stop", transaction_id=tx_id))["status"] == "Accepted"
        assert (await send("reset", type="soft"))["status"] == "Accepted"
        assert (await send("unlock_connector", evse_id=1, connector_id=1))["status"] == "Unlocked"
        assert (await send("change_availability", operative=False, evse_id=1))["status"] == "Accepted"
        assert (await send("set_configuration", key="OCPPCommCtrlr.HeartbeatInterval", value="90"))["status"] == "Accepted"
        got = await send("get_configuration", keys=["OCPPCommCtrlr.HeartbeatInterval", "Foo.Bar"])
        assert got["details"]["values"] == {"OCPPCommCtrlr.HeartbeatInterval": "90"}
        assert got["details"]["problems"] == {"Foo.Bar": "UnknownComponent"}
        assert (await send("get_base_report", report="FullInventory"))["status"] == "Accepted"
        assert (await send("clear_cache"))["status"] == "Accepted"
        assert (await send("trigger_message", message="MeterValues", evse_id=1))["status"] == "Accepted"
        assert (await send("update_firmware", location="https://fw.example/t184.bin",
                           retrieve_at=to_ocpp(utcnow()), request_id=5))["status"] == "Accepted"
        assert (await send("get_diagnostics", location="https://logs.example/up"))["details"]["file_name"] == "log-2026.tar.gz"
        assert (await send("send_local_list", version=3, update_type="differential",
                           entries=[{"id_token": "APP-1", "status": "Blocked"}]))["status"] == "Accepted"
        assert (await send("get_local_list_version"))["details"]["version"] == 3
        assert (await send("data_transfer", vendor_id="cn.teld", message_id="ping"))["status"] == "Accepted"

    assert peer.actions() == [
        "RequestStartTransaction", "RequestStopTransaction", "Reset", "UnlockConnector", "ChangeAvailability",
        "SetVariables", "GetVariables", "GetBaseReport", "ClearCache", "TriggerMessage", "UpdateFirmware",
        "GetLog", "SendLocalList", "GetLocalListVersion", "DataTransfer",
    ]
    assert peer.received[1][1] == {"transaction_id": "tx-remote"}
    assert peer.received[2][1] == {"type": "OnIdle"}
    assert peer.received[0][1]["id_token"] == {"id_token": "APP-1", "type": "Central"}


async def test_get_configuration_without_keys_tells_how_to_read_a_201_station(api, ocpp_url, version):
    await register_station(api, STATION)
    async with connected_peer(ocpp_url, STATION, version) as peer:
        await boot(peer)
        response = await api.post(f"/api/v1/stations/{STATION}/commands/get_configuration", json={})
    assert response.status_code == 422
    assert "get_base_report" in response.json()["detail"]
