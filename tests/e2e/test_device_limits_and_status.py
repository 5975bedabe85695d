"""OCPP 2.0.1 external limits and the EV's schedule (K11-K17), transaction status after a seqNo
gap (E14), per-message limits (B: ItemsPerMessage, BytesPerMessage) with the stored
configuration an operator corrects or pins, and firmware publishing (L03, L04): an `ocpp`
package charger over a real socket, the gateway, the API and the store (SQLite, PostgreSQL)."""

from __future__ import annotations

import pytest
from ocpp.v201 import call

from silkcharge.domain.clock import to_ocpp, utcnow
from tests.e2e.device_peers import device_peer
from tests.e2e.network import add_token, register_station
from tests.e2e.peers import eventually
from tests.e2e.test_ocpp201 import boot

STATION = "TAS-201-LIM"
FAST = pytest.mark.settings(smart_rebalance_delay=0.05, smart_check_every=0.5)
CHECKSUM = "9e107d9d372bb6826bd81d3542a419d6"


def amps(limit: float, **extra) -> dict:
    return {"id": 1, "charging_rate_unit": "A", "charging_schedule_period": [{"start_period": 0, "limit": limit}],
            **extra}


async def managed_site(api) -> None:
    assert (await api.put("/api/v1/smart/sites/ALA-TEST", json={"grid_limit_a": "40"})).status_code == 200
    assert (await api.put("/api/v1/smart/sites/ALA-TEST/circuits/cabinet", json={"limit_a": "32"})).status_code == 200
    for evse in (1, 2):
        response = await api.put(f"/api/v1/smart/stations/{STATION}/evses/{evse}",
                                 json={"circuit": "cabinet", "max_current_a": "32"})
        assert response.status_code == 200, response.text


async def start(peer, evse: int = 1, tx: str = "tx-1", seq_no: int = 0) -> None:
    await peer.call(call.TransactionEvent(
        event_type="Started", timestamp=to_ocpp(utcnow()), trigger_reason="Authorized", seq_no=seq_no,
        transaction_info={"transaction_id": tx, "charging_state": "Charging"},
        id_token={"id_token": "APP-1", "type": "ISO14443"}, evse={"id": evse, "connector_id": 1}))


async def updated(peer, seq_no: int, tx: str = "tx-1", offline: bool = False) -> None:
    await peer.call(call.TransactionEvent(
        event_type="Updated", timestamp=to_ocpp(utcnow()), trigger_reason="MeterValuePeriodic", seq_no=seq_no,
        transaction_info={"transaction_id": tx}, offline=offline))


def last_tx_limit(peer, evse: int, wanted: float):
    async def check():
        limits = peer.tx_limits(evse)
        return bool(limits) and limits[-1] == wanted
    return check


@FAST
async def test_k12_notify_charging_limit_feeds_smart_charging(api, ocpp_url):
    await register_station(api, STATION)
    await add_token(api, "APP-1")
    await managed_site(api)
    async with device_peer(ocpp_url, STATION) as peer:
        await boot(peer)
        # K12: an EMS limits EVSE 1 to 10 A while nothing charges; the session then gets 10 A, not 32.
        await peer.call(call.NotifyChargingLimit(
            charging_limit={"charging_limit_source": "EMS", "is_grid_critical": False}, evse_id=1,
            charging_schedule=[amps(10)]))
        (stored,) = (await api.get(f"/api/v1/stations/{STATION}/charging-limits")).json()
        assert (stored["evse_id"], stored["source"], stored["grid_critical"]) == (1, "EMS", False)
        await start(peer)
        await eventually(last_tx_limit(peer, 1, 10.0))

        # K13: the limit is released; the session gets its full share again.
        await peer.call(call.ClearedChargingLimit(charging_limit_source="EMS", evse_id=1))
        await eventually(last_tx_limit(peer, 1, 32.0))
        assert (await api.get(f"/api/v1/stations/{STATION}/charging-limits")).json() == []

        # K11: the grid operator limits the whole station in watts during the session:
        # 6900 W at 230 V over 3 phases is 10 A, shared by the station's EVSEs.
        await peer.call(call.NotifyChargingLimit(
            charging_limit={"charging_limit_source": "SO", "is_grid_critical": True},
            charging_schedule=[{"id": 2, "charging_rate_unit": "W",
                                "charging_schedule_period": [{"start_period": 0, "limit": 6900}]}]))
        await eventually(last_tx_limit(peer, 1, 10.0))


@FAST
async def test_k15_notify_ev_charging_schedule_is_stored_and_checked_against_the_limits(api, ocpp_url):
    await register_station(api, STATION)
    await add_token(api, "APP-1")
    await managed_site(api)
    async with device_peer(ocpp_url, STATION) as peer:
        await boot(peer)
        await peer.call(call.NotifyChargingLimit(
            charging_limit={"charging_limit_source": "EMS"}, evse_id=1, charging_schedule=[amps(16)]))
        await start(peer)
        await eventually(last_tx_limit(peer, 1, 16.0))
        within = await peer.call(call.NotifyEVChargingSchedule(
            time_base=to_ocpp(utcnow()), evse_id=1, charging_schedule=amps(12, duration=3600)))
        assert within.status == "Accepted"
        over = await peer.call(call.NotifyEVChargingSchedule(
            time_base=to_ocpp(utcnow()), evse_id=1, charging_schedule={
                "id": 3, "charging_rate_unit": "A", "duration": 3600, "charging_schedule_period": [
                    {"start_period": 0, "limit": 12}, {"start_period": 600, "limit": 25}]}))
        assert over.status == "Rejected"
        assert "the EV plans 25 A" in over.status_info["additional_info"]
        assert "allow 16 A" in over.status_info["additional_info"]
    tx_id = (await api.get(f"/api/v1/transactions?station_id={STATION}")).json()[0]["id"]
    schedules = (await api.get(f"/api/v1/transactions/{tx_id}/ev-charging-schedules")).json()
    assert [(s["status"], s["evse_id"], len(s["schedule"]["chargingSchedulePeriod"])) for s in schedules] == [
        ("Accepted", 1, 1), ("Rejected", 1, 2)]


async def test_e14_get_transaction_status_after_seqno_gap(api, platform, ocpp_url):
    await register_station(api, STATION)
    await add_token(api, "APP-1")
    async with device_peer(ocpp_url, STATION) as peer:
        await boot(peer)
        await start(peer)
        direct_before = platform.committer.direct_batches
        await updated(peer, 1)
        # Back from offline: the queued events arrive, and 2 and 3 are not among them.
        await updated(peer, 4, offline=True)
        # Both written in one hand-over to the driver (store/direct.py); the gap is announced
        # after that commit as after a session's.
        assert platform.committer.direct_batches - direct_before == 2

        async def asked():
            return [p for a, p in peer.received if a == "GetTransactionStatus"]

        (question,) = await eventually(asked)
        assert question == {"transaction_id": "tx-1"}
        tx_id = (await api.get(f"/api/v1/transactions?station_id={STATION}")).json()[0]["id"]

        async def answered():
            tx = (await api.get(f"/api/v1/transactions/{tx_id}")).json()
            return tx if tx["status_checked_at"] else None

        tx = await eventually(answered)
        assert (tx["missing_seq_nos"], tx["messages_in_queue"]) == ([2, 3], False)

        # A late event fills its place; no new gap, no new question.
        await updated(peer, 2, offline=True)
        tx = (await api.get(f"/api/v1/transactions/{tx_id}")).json()
        assert tx["missing_seq_nos"] == [3]
        peer.messages_in_queue = True
        checked = await api.post(f"/api/v1/transactions/{tx_id}/status-check")
        assert checked.json() == {"transaction_id": tx_id, "messages_in_queue": True, "ongoing": True}
        assert peer.actions().count("GetTransactionStatus") == 2


async def test_b06_get_and_set_variables_respect_items_and_bytes_per_message(api, ocpp_url):
    await register_station(api, STATION)
    async with device_peer(ocpp_url, STATION) as peer:
        await boot(peer)
        await _report(peer, {"DeviceDataCtrlr.ItemsPerMessage[GetVariables]": "2",
                             "DeviceDataCtrlr.ItemsPerMessage[SetVariables]": "1"})
        keys = [f"OCPPCommCtrlr.Key{n}" for n in range(5)]
        for n in range(5):
            peer.variables[("OCPPCommCtrlr", f"Key{n}")] = str(n)
        got = await _send(api, "get_configuration", keys=keys)
        assert got["details"]["values"] == {key: str(n) for n, key in enumerate(keys)}
        assert [len(p["get_variable_data"]) for a, p in peer.received if a == "GetVariables"] == [2, 2, 1]

        # An operator pins a larger limit: reports no longer change it, until unpinned.
        pinned = await api.patch(f"/api/v1/stations/{STATION}/configuration", json={
            "values": {"DeviceDataCtrlr.ItemsPerMessage[GetVariables]": "4"}, "pin": True})
        assert pinned.json()["pins"] == {"DeviceDataCtrlr.ItemsPerMessage[GetVariables]": {"value": "4", "reported": "2"}}
        await _report(peer, {"DeviceDataCtrlr.ItemsPerMessage[GetVariables]": "3"})
        await _send(api, "get_configuration", keys=keys)
        assert [len(p["get_variable_data"]) for a, p in peer.received if a == "GetVariables"][3:] == [4, 1]
        unpinned = await api.delete(
            f"/api/v1/stations/{STATION}/configuration/pins/DeviceDataCtrlr.ItemsPerMessage[GetVariables]")
        assert unpinned.json()["values"]["DeviceDataCtrlr.ItemsPerMessage[GetVariables]"] == "3"

        result = await _send(api, "set_configuration_values", values={"OCPPCommCtrlr.Key0": "a", "OCPPCommCtrlr.Key1": "b"})
        assert result["status"] == "Accepted"
        assert [len(p["set_variable_data"]) for a, p in peer.received if a == "SetVariables"] == [1, 1]
        values = (await api.get(f"/api/v1/stations/{STATION}/configuration")).json()["values"]
        assert (values["OCPPCommCtrlr.Key0"], values["OCPPCommCtrlr.Key1"]) == ("a", "b")

        # A BytesPerMessage no single item fits in: refused before anything is sent.
        await _report(peer, {"DeviceDataCtrlr.BytesPerMessage[GetVariables]": "90"})
        calls = peer.actions().count("GetVariables")
        too_small = await api.post(f"/api/v1/stations/{STATION}/commands/get_configuration", json={"keys": keys})
        assert too_small.status_code == 422
        assert "more than the station's BytesPerMessage of 90" in too_small.json()["detail"]
        assert peer.actions().count("GetVariables") == calls


async def test_stored_configuration_is_corrected_and_keys_removed_by_the_operator(api, ocpp_url):
    await register_station(api, STATION)
    async with device_peer(ocpp_url, STATION) as peer:
        await boot(peer)
        await _report(peer, {"ReservationCtrlr.NonEvseSpecific": "false", "OCPPCommCtrlr.HeartbeatInterval": "300"})
        corrected = await api.patch(f"/api/v1/stations/{STATION}/configuration", json={
            "values": {"ReservationCtrlr.NonEvseSpecific": "true", "OCPPCommCtrlr.HeartbeatInterval": None}})
        assert corrected.status_code == 200, corrected.text
        assert corrected.json() == {"values": {"ReservationCtrlr.NonEvseSpecific": "true"}, "pins": {}}
        # A correction lasts until the station reports the key again.
        await _report(peer, {"ReservationCtrlr.NonEvseSpecific": "false"})
        assert (await api.get(f"/api/v1/stations/{STATION}"))\
            .json()["configuration"]["ReservationCtrlr.NonEvseSpecific"] == "false"
    assert (await api.patch("/api/v1/stations/NOPE/configuration", json={"values": {"A.B": "1"}})).status_code == 404
    assert (await api.patch(f"/api/v1/stations/{STATION}/configuration", json={"values": {}})).status_code == 422
    unknown_pin = await api.delete(f"/api/v1/stations/{STATION}/configuration/pins/A.B")
    assert unknown_pin.status_code == 404


async def test_l03_publish_and_l04_unpublish_firmware_on_a_local_controller(api, ocpp_url):
    await register_station(api, STATION)
    async with device_peer(ocpp_url, STATION) as peer:
        await boot(peer)
        response = await api.post(f"/api/v1/stations/{STATION}/firmware-publications", json={
            "location": "https://fw.example/lc-2.4.bin", "checksum": CHECKSUM.upper(), "retries": 2})
        assert response.status_code == 201, response.text
        assert peer.received[-1][1]["checksum"] == CHECKSUM

        async def published():
            (row,) = (await api.get(f"/api/v1/stations/{STATION}/firmware-publications")).json()
            return row if row["status"] == "Published" else None

        row = await eventually(published)
        assert row["published_locations"] == [f"http://lc.local/fw/{CHECKSUM}.bin"]
        assert (await api.delete(f"/api/v1/stations/{STATION}/firmware-publications/{CHECKSUM}")).json() == {
            "checksum": CHECKSUM, "status": "Unpublished"}
        again = await api.delete(f"/api/v1/stations/{STATION}/firmware-publications/{CHECKSUM}")
        assert again.status_code == 404
        # A status for a publication silkcharge never asked for is kept, not dropped.
        await peer.call(call.PublishFirmwareStatusNotification(status="DownloadFailed", request_id=77))
    rows = (await api.get(f"/api/v1/stations/{STATION}/firmware-publications")).json()
    assert [(r["request_id"], r["status"], r["checksum"]) for r in rows] == [
        (77, "DownloadFailed", None), (1, "Unpublished", CHECKSUM)]


async def test_device_commands_to_a_16_station_say_they_have_no_equivalent(api, ocpp_url):
    from tests.e2e.peers import connected_peer
    from tests.e2e.test_ocpp16 import boot as boot16

    await register_station(api, "TAS-16-DEV")
    async with connected_peer(ocpp_url, "TAS-16-DEV", "1.6") as peer:
        await boot16(peer)
        response = await api.post("/api/v1/stations/TAS-16-DEV/monitors", json={"monitors": [
            {"component": "EVSE", "variable": "Power", "type": "Delta", "value": "1", "severity": 5}]})
    assert response.status_code == 422
    assert "no equivalent in OCPP 1.6" in response.json()["detail"]


async def _send(api, name: str, **params) -> dict:
    response = await api.post(f"/api/v1/stations/{STATION}/commands/{name}", json=params)
    assert response.status_code == 200, response.text
    return response.json()


async def _report(peer, values: dict[str, str]) -> None:
    data = []
    for key, value in values.items():
        component, _, variable = key.partition(".")
        name, _, instance = variable.rstrip("]").partition("[")
        data.append({"component": {"name": component},
                     "variable": {"name": name, **({"instance": instance} if instance else {})},
                     "variable_attribute": [{"type": "Actual", "value": value}]})
    await peer.call(call.NotifyReport(request_id=1, generated_at=to_ocpp(utcnow()), seq_no=0, report_data=data))
