"""OCPP 1.6J end to end: an `ocpp` package charger against the real gateway, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from ocpp.v16 import call
from sqlalchemy import select

from silkcharge.domain.clock import to_ocpp, utcnow
from silkcharge.store.schema import Evse, MeterSample, Station, Transaction
from tests.e2e.network import add_token, register_station
from tests.e2e.peers import connected_peer, eventually

STATION = "ALA-16-001"


async def boot(peer) -> None:
    reply = await peer.call(
        call.BootNotification(
            charge_point_vendor="Zhida", charge_point_model="DC-120", firmware_version="4.2.1",
            charge_point_serial_number="SN-42",
        )
    )
    assert reply.status == "Accepted"
    assert reply.interval == 30


async def test_boot_records_the_station_and_marks_it_online(api, platform, ocpp_url):
    await register_station(api, STATION)
    async with connected_peer(ocpp_url, STATION, "1.6") as peer:
        await boot(peer)
        heartbeat = await peer.call(call.Heartbeat())
        assert heartbeat.current_time.endswith("Z") and len(heartbeat.current_time) == 24
        station = (await api.get(f"/api/v1/stations/{STATION}")).json()
        assert station["online"] is True
        assert station["ocpp_version"] == "1.6"
        assert (station["vendor"], station["model"], station["firmware_version"]) == ("Zhida", "DC-120", "4.2.1")
    async with platform.sessions() as session:
        stored = await session.get(Station, STATION)
    assert stored.serial_number == "SN-42"
    await eventually(lambda: _offline(api))


async def _offline(api):
    return (await api.get(f"/api/v1/stations/{STATION}")).json()["online"] is False


async def test_status_notification_sets_connector_status_and_error_code(api, platform, ocpp_url):
    await register_station(api, STATION)
    async with connected_peer(ocpp_url, STATION, "1.6") as peer:
        await boot(peer)
        direct_before = platform.committer.direct_batches
        await peer.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Available"))
        await peer.call(
            call.StatusNotification(
                connector_id=2, error_code="GroundFailure", status="Faulted", vendor_error_code="E-17",
                timestamp=to_ocpp(utcnow()),
            )
        )
        await peer.call(call.StatusNotification(connector_id=0, error_code="NoError", status="Available"))
    # Registered connectors and the station itself: each report written in one hand-over to
    # the driver (store/direct.py), with what the API then reads.
    assert platform.committer.direct_batches - direct_before == 3
    connectors = (await api.get(f"/api/v1/stations/{STATION}/connectors")).json()
    assert [(c["evse_id"], c["status"], c["error_code"]) for c in connectors] == [
        (1, "Available", None),
        (2, "Faulted", "GroundFailure"),
    ]
    assert connectors[1]["vendor_error_code"] == "E-17"
    assert (await api.get(f"/api/v1/stations/{STATION}")).json()["status"] == "Available"


async def test_a_connector_nobody_registered_is_kept_and_an_older_status_changes_nothing(api, platform, ocpp_url):
    await register_station(api, STATION, connectors=1)
    now = utcnow()
    async with connected_peer(ocpp_url, STATION, "1.6") as peer:
        await boot(peer)
        direct_before = platform.committer.direct_batches
        await peer.call(call.StatusNotification(
            connector_id=3, error_code="NoError", status="Charging", timestamp=to_ocpp(now),
        ))
        assert platform.committer.direct_batches == direct_before, "connector 3 was created through a session"
        # A station replaying what it queued while offline: older than what we already have.
        await peer.call(call.StatusNotification(
            connector_id=3, error_code="NoError", status="Available", timestamp=to_ocpp(now - timedelta(minutes=5)),
        ))
    connectors = (await api.get(f"/api/v1/stations/{STATION}/connectors")).json()
    reported = [c for c in connectors if c["evse_id"] == 3]
    assert [(c["status"], c["standard"]) for c in reported] == [("Charging", "unknown")]
    async with platform.sessions() as session:
        evse = await session.scalar(select(Evse).where(Evse.station_id == STATION, Evse.evse_id == 3))
    assert evse is not None and evse.status == "Charging"


async def test_authorize_answers_from_the_token_registry(api, ocpp_url):
    await register_station(api, STATION)
    await add_token(api, "CARD-OK")
    await add_token(api, "CARD-BLOCKED", status="Blocked")
    await add_token(api, "CARD-OLD", expires_at="2020-01-01T00:00:00Z")
    async with connected_peer(ocpp_url, STATION, "1.6") as peer:
        await boot(peer)
        statuses = [
            (await peer.call(call.Authorize(id_tag=tag))).id_tag_info["status"]
            for tag in ("CARD-OK", "CARD-BLOCKED", "CARD-OLD", "NOBODY")
        ]
    assert statuses == ["Accepted", "Blocked", "Expired", "Invalid"]


async def test_full_transaction_keeps_energy_and_meter_values(api, platform, ocpp_url):
    await register_station(api, STATION)
    await add_token(api, "DRIVER-1", group_id="taxi-almaty")
    start_time = utcnow()
    async with connected_peer(ocpp_url, STATION, "1.6") as peer:
        await boot(peer)
        started = await peer.call(
            call.StartTransaction(connector_id=1, id_tag="DRIVER-1", meter_start=1000, timestamp=to_ocpp(start_time))
        )
        assert started.id_tag_info["status"] == "Accepted"
        tx_id = started.transaction_id
        await peer.call(
            call.MeterValues(
                connector_id=1,
                transaction_id=tx_id,
                meter_value=[{
                    "timestamp": to_ocpp(utcnow()),
                    "sampledValue": [
                        {"value": "6000", "measurand": "Energy.Active.Import.Register", "unit": "Wh",
                         "context": "Sample.Periodic"},
                        {"value": "48000", "measurand": "Power.Active.Import", "unit": "W"},
                        {"value": "31.5", "measurand": "Current.Import", "unit": "A", "phase": "L1"},
                        {"value": "230.1", "measurand": "Voltage", "unit": "V", "phase": "L1-N"},
                        {"value": "54", "measurand": "SoC", "unit": "Percent", "location": "EV"},
                    ],
                }],
            )
        )
        live = (await api.get(f"/api/v1/transactions/{tx_id}")).json()
        assert (live["state"], Decimal(live["energy_wh"])) == ("Active", Decimal(5000))
        stopped = await peer.call(
            call.StopTransaction(
                meter_stop=21000, timestamp=to_ocpp(utcnow()), transaction_id=tx_id, reason="EVDisconnected",
                id_tag="DRIVER-1",
                transaction_data=[{"timestamp": to_ocpp(utcnow()), "sampledValue": [
                    {"value": "21000", "context": "Transaction.End", "measurand": "Energy.Active.Import.Register"}
                ]}],
            )
        )
        assert stopped.id_tag_info["status"] == "Accepted"
    body = (await api.get(f"/api/v1/transactions/{tx_id}")).json()
    assert body["state"] == "Ended"
    assert Decimal(body["energy_wh"]) == Decimal(20000)
    assert body["stop_reason"] == "EVDisconnected"
    assert body["id_token"] == "DRIVER-1"
    kinds = {(s["measurand"], s["phase"], s["location"], s["context"]) for s in body["meter_samples"]}
    assert ("Current.Import", "L1", "", "Sample.Periodic") in kinds
    assert ("SoC", "", "EV", "Sample.Periodic") in kinds
    assert ("Energy.Active.Import.Register", "", "", "Transaction.End") in kinds
    async with platform.sessions() as session:
        tx = await session.get(Transaction, tx_id)
        samples = (await session.scalars(select(MeterSample).where(MeterSample.transaction_id == tx_id))).all()
    assert tx.meter_start_wh == 1000 and tx.meter_stop_wh == 21000
    assert len(samples) == 6
    assert {s.value for s in samples if s.measurand == "Voltage"} == {Decimal("230.1")}


async def test_replayed_start_transaction_gets_the_same_id_and_stores_once(api, platform, ocpp_url):
    await register_station(api, STATION)
    await add_token(api, "DRIVER-1")
    when = to_ocpp(utcnow())
    async with connected_peer(ocpp_url, STATION, "1.6") as peer:
        await boot(peer)
        first = await peer.call(call.StartTransaction(connector_id=1, id_tag="DRIVER-1", meter_start=0, timestamp=when))
        again = await peer.call(call.StartTransaction(connector_id=1, id_tag="DRIVER-1", meter_start=0, timestamp=when))
    assert first.transaction_id == again.transaction_id
    assert len((await api.get(f"/api/v1/transactions?station_id={STATION}")).json()) == 1


async def test_data_transfer_from_unknown_vendor_is_answered_not_dropped(api, ocpp_url):
    await register_station(api, STATION)
    async with connected_peer(ocpp_url, STATION, "1.6") as peer:
        await boot(peer)
        reply = await peer.call(call.DataTransfer(vendor_id="com.example", message_id="hello", data="x"))
    assert reply.status == "UnknownVendorId"


async def test_firmware_and_diagnostics_notifications_update_the_station(api, ocpp_url):
    await register_station(api, STATION)
    async with connected_peer(ocpp_url, STATION, "1.6") as peer:
        await boot(peer)
        await peer.call(call.FirmwareStatusNotification(status="Installing"))
        await peer.call(call.DiagnosticsStatusNotification(status="Uploaded"))
    station = (await api.get(f"/api/v1/stations/{STATION}")).json()
    assert (station["firmware_status"], station["diagnostics_status"]) == ("Installing", "Uploaded")


async def test_every_csms_command_reaches_the_charger_and_returns_its_reply(api, platform, ocpp_url):
    await register_station(api, STATION)
    await add_token(api, "DRIVER-1")
    async with connected_peer(ocpp_url, STATION, "1.6") as peer:
        await boot(peer)
        started = await peer.call(
            call.StartTransaction(connector_id=1, id_tag="DRIVER-1", meter_start=0, timestamp=to_ocpp(utcnow()))
        )

        async def send(name, **params):
            response = await api.post(f"/api/v1/stations/{STATION}/commands/{name}", json=params)
            assert response.status_code == 200, response.text
            return response.json()

        assert (await send("remote_start", id_token="DRIVER-1", evse_id=2))["status"] == "Accepted"
        assert (await send("remote_stop", transaction_id=started.transaction_id))["status"] == "Accepted"
        assert (await send("reset", type="hard"))["status"] == "Accepted"
        assert (await send("unlock_connector", evse_id=1))["status"] == "Unlocked"
        assert (await send("change_availability", evse_id=2, operative=False))["status"] == "Accepted"
        assert (await send("set_configuration", key="HeartbeatInterval", value="120"))["status"] == "Accepted"
        assert (await send("set_configuration", key="NoSuchKey", value="1"))["status"] == "NotSupported"
        config = await send("get_configuration", keys=["HeartbeatInterval", "Bogus"])
        assert config["details"]["values"] == {"HeartbeatInterval": "120"}
        assert config["details"]["unknown_keys"] == ["Bogus"]
        assert (await send("clear_cache"))["status"] == "Accepted"
        assert (await send("trigger_message", message="StatusNotification", evse_id=1))["status"] == "Accepted"
        firmware = await send("update_firmware", location="https://fw.example/dc120.bin",
                              retrieve_at=to_ocpp(utcnow()), retries=2)
        assert firmware["action"] == "UpdateFirmware"
        assert (await send("get_diagnostics", location="ftp://logs.example/"))["details"]["file_name"] == "diagnostics-2026.zip"
        local = await send("send_local_list", version=7, update_type="full",
                           entries=[{"id_token": "DRIVER-1", "status": "Accepted"}])
        assert local["status"] == "Accepted"
        assert (await send("get_local_list_version"))["details"]["version"] == 7
        assert (await send("data_transfer", vendor_id="com.zhida", data="ping"))["reply"]["data"] == "pong"

    assert peer.actions() == [
        "RemoteStartTransaction", "RemoteStopTransaction", "Reset", "UnlockConnector", "ChangeAvailability",
        "ChangeConfiguration", "ChangeConfiguration", "GetConfiguration", "ClearCache", "TriggerMessage",
        "UpdateFirmware", "GetDiagnostics", "SendLocalList", "GetLocalListVersion", "DataTransfer",
    ]
    assert peer.received[1][1] == {"transaction_id": started.transaction_id}
    assert peer.received[2][1] == {"type": "Hard"}
    station = (await api.get(f"/api/v1/stations/{STATION}")).json()
    assert station["configuration"]["HeartbeatInterval"] == "120"
    assert station["local_list_version"] == 7


async def test_raw_ocpp_call_route_carries_any_csms_action(api, ocpp_url):
    await register_station(api, STATION)
    async with connected_peer(ocpp_url, STATION, "1.6") as peer:
        await boot(peer)
        response = await api.post(f"/api/v1/stations/{STATION}/ocpp/GetConfiguration", json={"key": ["HeartbeatInterval"]})
    assert response.status_code == 200, response.text
    assert response.json()["reply"]["configurationKey"][0]["value"] == "300"


async def test_message_log_keeps_frames_in_and_out(api, ocpp_url):
    await register_station(api, STATION)
    async with connected_peer(ocpp_url, STATION, "1.6") as peer:
        await boot(peer)

    async def logged():
        rows = (await api.get(f"/api/v1/stations/{STATION}/messages")).json()
        return rows if len(rows) >= 2 else None

    rows = await eventually(logged)
    assert {(r["direction"], r["message_type"], r["action"]) for r in rows} >= {
        ("in", 2, "BootNotification"), ("out", 3, "BootNotification"),
    }
