"""OCPP 1.6J simulated station against a test Central System over a real WebSocket."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta

import pytest
from ocpp.v16 import call

from silkcharge.domain.clock import to_ocpp, utcnow
from silkcharge.sim.charger import AuthorizationRejected, ConnectorUnavailable
from tests.guards import HANG_GUARD

pytestmark = pytest.mark.asyncio


def measurands(meter_values: dict) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for value in meter_values["meterValue"][0]["sampledValue"]:
        found.setdefault(value["measurand"], []).append(value)
    return found


async def test_boot_notification_then_status_for_every_connector_then_heartbeats(
    csms16, spec16, launch
):
    charger = await launch(spec16, csms16)
    boot = csms16.calls("BootNotification")[0]
    assert boot["chargePointVendor"] == "SilkSim"
    assert boot["chargePointModel"] == "DC-150"
    assert boot["firmwareVersion"] == "1.2.3"
    assert charger.registration == "Accepted"
    for connector_id in (1, 2):
        status = await csms16.wait_for(
            "StatusNotification", lambda p, n=connector_id: p["connectorId"] == n)
        assert status["status"] == "Available" and status["errorCode"] == "NoError"
        assert status["timestamp"].endswith("Z")
    await csms16.wait_for("Heartbeat")
    assert charger.tunables.heartbeat_interval == 1


async def test_pending_registration_retries_boot_after_the_given_interval(
    csms16, spec16, launch
):
    csms16.boot_statuses = ["Pending", "Accepted"]
    charger = await launch(spec16, csms16, wait_boot=False)
    await asyncio.wait_for(charger.booted.wait(), HANG_GUARD)
    names = [name for name, _ in csms16.log]
    assert names[:2] == ["BootNotification", "BootNotification"]
    assert charger.registration == "Accepted"


async def test_rejected_registration_sends_nothing_but_boot(csms16, spec16, launch):
    csms16.boot_statuses = ["Rejected"]
    charger = await launch(spec16, csms16, wait_boot=False)
    await asyncio.sleep(1.5)
    assert not charger.booted.is_set() and charger.registration == "Rejected"
    assert {name for name, _ in csms16.log} == {"BootNotification"}
    assert len(csms16.calls("BootNotification")) == 2


async def test_wrong_password_never_connects(csms16, spec16, launch):
    charger = await launch(dataclasses.replace(spec16, password="wrong"), csms16,
                           wait_boot=False)
    await asyncio.sleep(0.5)
    assert csms16.connections == 0 and not charger.connected.is_set()


async def test_local_session_authorizes_starts_meters_and_stops_with_transaction_data(
    csms16, spec16, launch
):
    charger = await launch(spec16, csms16)
    mark = csms16.mark()
    transaction_id = await charger.plug_in_and_charge(2, "TOKEN1")
    assert transaction_id == "100" and "100" in charger.transactions
    assert (await csms16.wait_for("Authorize", after=mark))["idTag"] == "TOKEN1"
    await csms16.wait_for("StatusNotification", lambda p: p["status"] == "Preparing", after=mark)
    start = await csms16.wait_for("StartTransaction", after=mark)
    assert start["connectorId"] == 2 and start["idTag"] == "TOKEN1"
    await csms16.wait_for("StatusNotification", lambda p: p["status"] == "Charging", after=mark)

    first = await csms16.wait_for("MeterValues", after=mark)
    later = await csms16.wait_for("MeterValues", lambda p: p is not first, after=mark)
    assert first["transactionId"] == 100 and first["connectorId"] == 2
    values = measurands(later)
    assert set(values) == {"Energy.Active.Import.Register", "Power.Active.Import",
                           "Current.Import", "Voltage", "SoC"}
    assert values["Energy.Active.Import.Register"][0]["unit"] == "Wh"
    assert values["SoC"][0]["location"] == "EV"
    assert int(values["Power.Active.Import"][0]["value"]) > 0
    energy_first = int(measurands(first)["Energy.Active.Import.Register"][0]["value"])
    energy_later = int(values["Energy.Active.Import.Register"][0]["value"])
    assert energy_later > energy_first > start["meterStart"] - 1

    await charger.stop_charging(2)
    stop = await csms16.wait_for("StopTransaction", after=mark)
    assert stop["transactionId"] == 100 and stop["reason"] == "Local"
    assert stop["meterStop"] >= energy_later
    contexts = [v["sampledValue"][0]["context"] for v in stop["transactionData"]]
    assert contexts == ["Transaction.Begin", "Transaction.End"]
    await csms16.wait_for("StatusNotification", lambda p: p["status"] == "Finishing", after=mark)
    await csms16.wait_for(
        "StatusNotification", lambda p: p["status"] == "Available" and p["connectorId"] == 2,
        after=mark)
    assert charger.transactions == {}


async def test_ac_meter_values_report_current_per_phase(csms16, spec16, launch):
    charger = await launch(spec16, csms16)
    mark = csms16.mark()
    await charger.plug_in_and_charge(1, "TOKEN1")
    values = measurands(await csms16.wait_for("MeterValues", after=mark))
    assert [v["phase"] for v in values["Current.Import"]] == ["L1", "L2", "L3"]
    assert "SoC" not in values


async def test_unknown_token_is_rejected_and_the_connector_freed(csms16, spec16, launch):
    charger = await launch(spec16, csms16)
    with pytest.raises(AuthorizationRejected):
        await charger.plug_in_and_charge(1, "STRANGER")
    assert charger.connector(1).status == "Available"
    assert csms16.calls("StartTransaction") == []


async def test_busy_connector_cannot_start_a_second_session(csms16, spec16, launch):
    charger = await launch(spec16, csms16)
    await charger.plug_in_and_charge(1, "TOKEN1")
    with pytest.raises(ConnectorUnavailable):
        await charger.plug_in_and_charge(1, "TOKEN2")


async def test_remote_start_and_stop_run_a_real_transaction(csms16, spec16, launch):
    charger = await launch(spec16, csms16)
    mark = csms16.mark()
    answer = await csms16.call(spec16.station_id,
                               call.RemoteStartTransaction(id_tag="TOKEN2", connector_id=1))
    assert answer.status == "Accepted"
    start = await csms16.wait_for("StartTransaction", after=mark)
    assert start["connectorId"] == 1 and start["idTag"] == "TOKEN2"
    await csms16.wait_for("MeterValues", after=mark)
    busy = await csms16.call(spec16.station_id,
                             call.RemoteStartTransaction(id_tag="TOKEN3", connector_id=1))
    assert busy.status == "Rejected"

    unknown = await csms16.call(spec16.station_id, call.RemoteStopTransaction(transaction_id=999))
    assert unknown.status == "Rejected"
    transaction_id = int(next(iter(charger.transactions)))
    answer = await csms16.call(spec16.station_id,
                               call.RemoteStopTransaction(transaction_id=transaction_id))
    assert answer.status == "Accepted"
    stop = await csms16.wait_for("StopTransaction", after=mark)
    assert stop["reason"] == "Remote" and stop["transactionId"] == transaction_id


async def test_remote_start_without_connector_takes_a_free_one(csms16, spec16, launch):
    charger = await launch(spec16, csms16)
    await charger.plug_in_and_charge(1, "TOKEN1")
    answer = await csms16.call(spec16.station_id, call.RemoteStartTransaction(id_tag="TOKEN2"))
    assert answer.status == "Accepted"
    start = await csms16.wait_for("StartTransaction", lambda p: p["idTag"] == "TOKEN2")
    assert start["connectorId"] == 2
    full = await csms16.call(spec16.station_id, call.RemoteStartTransaction(id_tag="TOKEN3"))
    assert full.status == "Rejected"


async def test_authorize_remote_tx_requests_makes_remote_start_authorize_first(
    csms16, spec16, launch
):
    charger = await launch(spec16, csms16)
    await csms16.call(spec16.station_id,
                      call.ChangeConfiguration(key="AuthorizeRemoteTxRequests", value="true"))
    mark = csms16.mark()
    await csms16.call(spec16.station_id,
                      call.RemoteStartTransaction(id_tag="STRANGER", connector_id=1))
    await csms16.wait_for("Authorize", after=mark)
    await csms16.wait_for("StatusNotification", lambda p: p["status"] == "Available", after=mark)
    assert csms16.calls("StartTransaction") == [] and charger.transactions == {}


async def test_hard_reset_stops_sessions_closes_socket_and_boots_again(csms16, spec16, launch):
    charger = await launch(spec16, csms16)
    await charger.plug_in_and_charge(1, "TOKEN1")
    mark = csms16.mark()
    answer = await csms16.call(spec16.station_id, call.Reset(type="Hard"))
    assert answer.status == "Accepted"
    stop = await csms16.wait_for("StopTransaction", after=mark)
    assert stop["reason"] == "HardReset"
    await csms16.wait_for("BootNotification", after=mark)
    await csms16.wait_for("StatusNotification", after=csms16.mark() - 1)
    assert csms16.connections == 2 and charger.transactions == {}


async def test_soft_reset_reports_soft_reset_reason(csms16, spec16, launch):
    charger = await launch(spec16, csms16)
    await charger.plug_in_and_charge(1, "TOKEN1")
    answer = await csms16.call(spec16.station_id, call.Reset(type="Soft"))
    assert answer.status == "Accepted"
    assert (await csms16.wait_for("StopTransaction"))["reason"] == "SoftReset"
    await asyncio.wait_for(_reconnected(csms16, 2), HANG_GUARD)


async def _reconnected(csms, connections: int) -> None:
    while csms.connections < connections or len(csms.calls("BootNotification")) < connections:
        await asyncio.sleep(0.01)


async def test_reconnects_and_boots_again_after_the_csms_closes_the_socket(
    csms16, spec16, launch
):
    charger = await launch(spec16, csms16)
    transaction_id = await charger.plug_in_and_charge(1, "TOKEN1")
    await csms16.drop(spec16.station_id)
    await asyncio.wait_for(_reconnected(csms16, 2), HANG_GUARD)
    await asyncio.wait_for(charger.booted.wait(), HANG_GUARD)
    assert transaction_id in charger.transactions
    mark = csms16.mark()
    meter_values = await csms16.wait_for("MeterValues", after=mark)
    assert meter_values["transactionId"] == int(transaction_id)


async def test_stop_while_offline_is_delivered_after_reconnecting(csms16, spec16, launch):
    charger = await launch(spec16, csms16)
    await charger.plug_in_and_charge(1, "TOKEN1")
    await csms16.close()
    await asyncio.sleep(0.2)
    ending = asyncio.create_task(charger.stop_charging(1))
    await asyncio.sleep(0.3)
    assert not ending.done()
    await csms16.start_again()
    await asyncio.wait_for(ending, HANG_GUARD)
    assert (await csms16.wait_for("StopTransaction"))["reason"] == "Local"


async def test_unlock_connector_ends_its_transaction_and_refuses_unknown_connectors(
    csms16, spec16, launch
):
    charger = await launch(spec16, csms16)
    await charger.plug_in_and_charge(1, "TOKEN1")
    unknown = await csms16.call(spec16.station_id, call.UnlockConnector(connector_id=7))
    assert unknown.status == "NotSupported"
    answer = await csms16.call(spec16.station_id, call.UnlockConnector(connector_id=1))
    assert answer.status == "Unlocked"
    assert (await csms16.wait_for("StopTransaction"))["reason"] == "UnlockCommand"


async def test_change_availability_is_scheduled_while_charging_and_applied_after(
    csms16, spec16, launch
):
    charger = await launch(spec16, csms16)
    await charger.plug_in_and_charge(1, "TOKEN1")
    mark = csms16.mark()
    idle = await csms16.call(spec16.station_id,
                             call.ChangeAvailability(connector_id=2, type="Inoperative"))
    assert idle.status == "Accepted"
    await csms16.wait_for(
        "StatusNotification", lambda p: p["connectorId"] == 2 and p["status"] == "Unavailable",
        after=mark)
    busy = await csms16.call(spec16.station_id,
                             call.ChangeAvailability(connector_id=1, type="Inoperative"))
    assert busy.status == "Scheduled"
    await charger.stop_charging(1)
    await csms16.wait_for(
        "StatusNotification", lambda p: p["connectorId"] == 1 and p["status"] == "Unavailable",
        after=mark)
    with pytest.raises(ConnectorUnavailable):
        await charger.plug_in_and_charge(1, "TOKEN1")
    whole = await csms16.call(spec16.station_id,
                              call.ChangeAvailability(connector_id=0, type="Operative"))
    assert whole.status == "Accepted"
    await csms16.wait_for(
        "StatusNotification", lambda p: p["connectorId"] == 1 and p["status"] == "Available",
        after=mark)
    unknown = await csms16.call(spec16.station_id,
                                call.ChangeAvailability(connector_id=9, type="Operative"))
    assert unknown.status == "Rejected"


async def test_get_configuration_reports_a_realistic_key_set_and_unknown_keys(
    csms16, spec16, launch
):
    await launch(spec16, csms16)
    everything = await csms16.call(spec16.station_id, call.GetConfiguration())
    keys = {entry["key"]: entry for entry in everything.configuration_key}
    for name in ("HeartbeatInterval", "MeterValueSampleInterval", "MeterValuesSampledData",
                 "NumberOfConnectors", "AuthorizeRemoteTxRequests", "LocalAuthListEnabled",
                 "ConnectionTimeOut", "SupportedFeatureProfiles"):
        assert name in keys
    assert keys["NumberOfConnectors"] == {"key": "NumberOfConnectors", "readonly": True,
                                          "value": "2"}
    assert keys["HeartbeatInterval"]["value"] == "1"
    some = await csms16.call(spec16.station_id,
                             call.GetConfiguration(key=["HeartbeatInterval", "NoSuchKey"]))
    assert [entry["key"] for entry in some.configuration_key] == ["HeartbeatInterval"]
    assert some.unknown_key == ["NoSuchKey"]


async def test_change_configuration_stores_values_and_refuses_read_only_and_unknown_keys(
    csms16, spec16, launch
):
    charger = await launch(spec16, csms16)
    station = spec16.station_id

    async def change(key: str, value: str) -> str:
        return (await csms16.call(station, call.ChangeConfiguration(key=key, value=value))).status

    assert await change("HeartbeatInterval", "300") == "Accepted"
    assert charger.tunables.heartbeat_interval == 300
    assert await change("ConnectionTimeOut", "90") == "Accepted"
    stored = await csms16.call(station, call.GetConfiguration(key=["ConnectionTimeOut"]))
    assert stored.configuration_key[0]["value"] == "90"
    assert await change("NumberOfConnectors", "5") == "Rejected"
    assert await change("HeartbeatInterval", "soon") == "Rejected"
    assert await change("MeterValuesSampledData", "Energy.Active.Import.Register,Bogus") == (
        "Rejected")
    assert await change("VendorMagic", "1") == "NotSupported"


async def test_meter_values_follow_the_configured_measurands(csms16, spec16, launch):
    charger = await launch(spec16, csms16)
    await csms16.call(spec16.station_id, call.ChangeConfiguration(
        key="MeterValuesSampledData", value="Energy.Active.Import.Register"))
    mark = csms16.mark()
    await charger.plug_in_and_charge(2, "TOKEN1")
    values = measurands(await csms16.wait_for("MeterValues", after=mark))
    assert set(values) == {"Energy.Active.Import.Register"}


async def test_trigger_message_really_sends_the_requested_message(csms16, spec16, launch):
    charger = await launch(spec16, csms16)
    await charger.plug_in_and_charge(1, "TOKEN1")
    station = spec16.station_id
    for message, expected in [
        ("BootNotification", "BootNotification"),
        ("Heartbeat", "Heartbeat"),
        ("StatusNotification", "StatusNotification"),
        ("MeterValues", "MeterValues"),
        ("FirmwareStatusNotification", "FirmwareStatusNotification"),
        ("DiagnosticsStatusNotification", "DiagnosticsStatusNotification"),
    ]:
        mark = csms16.mark()
        answer = await csms16.call(
            station, call.TriggerMessage(requested_message=message, connector_id=1))
        assert answer.status == "Accepted", message
        payload = await csms16.wait_for(expected, after=mark)
        if message == "MeterValues":
            assert payload["meterValue"][0]["sampledValue"][0]["context"] == "Trigger"
        if message == "StatusNotification":
            assert payload == {**payload, "connectorId": 1, "status": "Charging"}
        if message == "FirmwareStatusNotification":
            assert payload["status"] == "Idle"
    unknown = await csms16.call(
        station, call.TriggerMessage(requested_message="Heartbeat", connector_id=5))
    assert unknown.status == "Rejected"


async def test_update_firmware_reports_download_and_install_steps(csms16, spec16, launch):
    charger = await launch(spec16, csms16)
    retrieve = to_ocpp(utcnow() - timedelta(seconds=1))
    await csms16.call(spec16.station_id, call.UpdateFirmware(
        location="https://firmware.example/dc150-1.3.0.bin", retrieve_date=retrieve))
    await csms16.wait_for("FirmwareStatusNotification", lambda p: p["status"] == "Installed")
    steps = [p["status"] for p in csms16.calls("FirmwareStatusNotification")]
    assert steps == ["Downloading", "Downloaded", "Installing", "Installed"]
    await asyncio.sleep(0.1)
    assert charger.firmware_status == "Idle"


async def test_get_diagnostics_names_a_file_and_reports_the_upload(csms16, spec16, launch):
    await launch(spec16, csms16)
    answer = await csms16.call(spec16.station_id,
                               call.GetDiagnostics(location="ftp://logs.example/"))
    assert answer.file_name.startswith("diagnostics-ALA-016-")
    await csms16.wait_for("DiagnosticsStatusNotification", lambda p: p["status"] == "Uploaded")
    steps = [p["status"] for p in csms16.calls("DiagnosticsStatusNotification")]
    assert steps == ["Uploading", "Uploaded"]


async def test_local_list_keeps_version_and_entries_for_full_and_differential_updates(
    csms16, spec16, launch
):
    charger = await launch(spec16, csms16)
    station = spec16.station_id
    assert (await csms16.call(station, call.GetLocalListVersion())).list_version == 0
    full = await csms16.call(station, call.SendLocalList(
        list_version=3, update_type="Full", local_authorization_list=[
            {"idTag": "LOCAL1", "idTagInfo": {"status": "Accepted"}},
            {"idTag": "LOCAL2", "idTagInfo": {"status": "Blocked"}},
        ]))
    assert full.status == "Accepted"
    stale = await csms16.call(station, call.SendLocalList(
        list_version=3, update_type="Differential", local_authorization_list=[]))
    assert stale.status == "VersionMismatch"
    diff = await csms16.call(station, call.SendLocalList(
        list_version=4, update_type="Differential", local_authorization_list=[
            {"idTag": "LOCAL2"}, {"idTag": "LOCAL3", "idTagInfo": {"status": "Accepted"}},
        ]))
    assert diff.status == "Accepted"
    assert (await csms16.call(station, call.GetLocalListVersion())).list_version == 4
    assert charger.local_list.entries == {"LOCAL1": "Accepted", "LOCAL3": "Accepted"}
    await csms16.call(station, call.ChangeConfiguration(key="LocalAuthListEnabled",
                                                        value="false"))
    assert (await csms16.call(station, call.GetLocalListVersion())).list_version == -1


async def test_clear_cache_empties_the_authorization_cache(csms16, spec16, launch):
    charger = await launch(spec16, csms16)
    await charger.plug_in_and_charge(1, "TOKEN1")
    assert charger.auth_cache == {"TOKEN1": "Accepted"}
    answer = await csms16.call(spec16.station_id, call.ClearCache())
    assert answer.status == "Accepted" and charger.auth_cache == {}


async def test_data_transfer_accepts_only_its_own_vendor(csms16, spec16, launch):
    await launch(spec16, csms16)
    other = await csms16.call(spec16.station_id, call.DataTransfer(vendor_id="Elsewhere"))
    assert other.status == "UnknownVendorId"
    own = await csms16.call(spec16.station_id,
                            call.DataTransfer(vendor_id="SilkSim", message_id="Ping", data="x"))
    assert own.status == "Accepted" and own.data == "x"


async def test_fault_ends_the_session_and_reports_faulted_until_cleared(csms16, spec16, launch):
    charger = await launch(spec16, csms16)
    await charger.plug_in_and_charge(1, "TOKEN1")
    mark = csms16.mark()
    await charger.set_fault(1, "GroundFailure", vendor_error="RCD-30mA")
    assert (await csms16.wait_for("StopTransaction", after=mark))["reason"] == "Other"
    faulted = await csms16.wait_for(
        "StatusNotification", lambda p: p["status"] == "Faulted", after=mark)
    assert faulted["errorCode"] == "GroundFailure" and faulted["vendorErrorCode"] == "RCD-30mA"
    with pytest.raises(ConnectorUnavailable):
        await charger.plug_in_and_charge(1, "TOKEN1")
    await charger.clear_fault(1)
    cleared = await csms16.wait_for(
        "StatusNotification", lambda p: p["connectorId"] == 1 and p["status"] == "Available",
        after=mark)
    assert cleared["errorCode"] == "NoError"
    with pytest.raises(ValueError):
        await charger.set_fault(1, "Gremlins")


async def test_a_call_from_a_task_told_to_stop_is_not_sent(csms16, spec16, launch):
    """On Python 3.11 `asyncio.wait_for` (inside the `ocpp` library's call) can drop a
    cancellation that comes as its reply arrives; the task goes on, and its next call must not
    go out (it would wait the library's whole timeout, with the socket's reader gone)."""
    charger = await launch(spec16, csms16)
    sent = []

    async def send(link):
        sent.append(link)

    async def cancellation_dropped():
        try:
            await asyncio.sleep(HANG_GUARD)
        except asyncio.CancelledError:
            pass  # what wait_for does when its reply arrives with the cancellation
        await charger._exchange(send)

    task = asyncio.create_task(cancellation_dropped())
    await asyncio.sleep(0)  # the task waits in its sleep
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sent == []
