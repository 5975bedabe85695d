"""OCPP 2.0.1 simulated station against a test CSMS over a real WebSocket."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from ocpp.v201 import call

from silkcharge.domain.clock import to_ocpp, utcnow
from silkcharge.sim.charger import AuthorizationRejected, ConnectorUnavailable
from tests.guards import HANG_GUARD

pytestmark = pytest.mark.asyncio


def measurands(meter_value: dict) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for value in meter_value["sampledValue"]:
        found.setdefault(value["measurand"], []).append(value)
    return found


def status_is(evse_id: int, connector_id: int, status: str):
    """A StatusNotification of that connector with that status (for `wait_for`)."""
    return lambda p: (p["evseId"], p["connectorId"], p["connectorStatus"]) == (evse_id, connector_id, status)


def events(csms, event_type: str | None = None) -> list[dict]:
    return [p for p in csms.calls("TransactionEvent")
            if event_type is None or p["eventType"] == event_type]


async def test_b01_boot_then_status_per_evse_connector_then_heartbeats(csms201, spec201, launch):
    charger = await launch(spec201, csms201)
    boot = csms201.calls("BootNotification")[0]
    assert boot["reason"] == "PowerUp"
    assert boot["chargingStation"] == {"model": "DC-150", "vendorName": "SilkSim",
                                       "firmwareVersion": "1.2.3", "serialNumber": "TAS-201"}
    for evse_id, connector_id in ((1, 1), (1, 2), (2, 1)):
        status = await csms201.wait_for(
            "StatusNotification",
            lambda p, e=evse_id, c=connector_id: (p["evseId"], p["connectorId"]) == (e, c))
        assert status["connectorStatus"] == "Available"
    await csms201.wait_for("Heartbeat")
    assert charger.registration == "Accepted"


async def test_e03_local_session_events_carry_increasing_seq_no_and_meter_values(
    csms201, spec201, launch
):
    charger = await launch(spec201, csms201)
    mark = csms201.mark()
    transaction_id = await charger.plug_in_and_charge((1, 2), "TOKEN1")
    authorize = await csms201.wait_for("Authorize", after=mark)
    assert authorize["idToken"] == {"idToken": "TOKEN1", "type": "ISO14443"}
    await csms201.wait_for(
        "StatusNotification",
        lambda p: p["connectorStatus"] == "Occupied" and p["connectorId"] == 2, after=mark)
    started = await csms201.wait_for("TransactionEvent", after=mark)
    assert started["eventType"] == "Started" and started["triggerReason"] == "Authorized"
    assert started["seqNo"] == 0 and started["evse"] == {"id": 1, "connectorId": 2}
    assert started["transactionInfo"] == {"transactionId": transaction_id,
                                          "chargingState": "Charging"}
    assert started["meterValue"][0]["sampledValue"][0]["context"] == "Transaction.Begin"

    await csms201.wait_for("TransactionEvent", lambda p: p["seqNo"] == 2, after=mark)
    updated = events(csms201, "Updated")
    assert [u["seqNo"] for u in updated[:2]] == [1, 2]
    assert updated[0]["triggerReason"] == "MeterValuePeriodic"
    values = measurands(updated[1]["meterValue"][0])
    assert set(values) == {"Energy.Active.Import.Register", "Power.Active.Import",
                           "Current.Import", "Voltage", "SoC"}
    assert values["Energy.Active.Import.Register"][0]["unitOfMeasure"] == {"unit": "Wh"}
    assert isinstance(values["Energy.Active.Import.Register"][0]["value"], int)

    await charger.stop_charging((1, 2))
    ended = await csms201.wait_for("TransactionEvent", lambda p: p["eventType"] == "Ended")
    assert ended["triggerReason"] == "StopAuthorized"
    assert ended["transactionInfo"]["stoppedReason"] == "Local"
    assert ended["seqNo"] == max(e["seqNo"] for e in events(csms201))
    assert ended["meterValue"][0]["sampledValue"][0]["context"] == "Transaction.End"
    await csms201.wait_for(
        "StatusNotification",
        lambda p: p["connectorStatus"] == "Available" and p["connectorId"] == 2, after=mark)


async def test_an_evse_charges_one_car_at_a_time_its_other_connector_is_unavailable_meanwhile(
    csms201, spec201, launch
):
    charger = await launch(spec201, csms201)
    mark = csms201.mark()
    await charger.plug_in_and_charge((1, 1), "TOKEN1")
    # the GB/T gun of the same EVSE reports Unavailable while the CCS2 gun charges...
    await csms201.wait_for("StatusNotification", status_is(1, 2, "Unavailable"), after=mark)
    with pytest.raises(ConnectorUnavailable):
        await charger.plug_in_and_charge((1, 2), "TOKEN2")
    busy = await csms201.call(spec201.station_id, call.RequestStartTransaction(
        id_token={"idToken": "TOKEN2", "type": "Central"}, remote_start_id=7, evse_id=1))
    assert busy.status == "Rejected"
    refused = await csms201.call(spec201.station_id, call.ReserveNow(
        id=31, expiry_date_time=to_ocpp(utcnow() + timedelta(minutes=5)),
        id_token={"idToken": "TOKEN2", "type": "Central"}, evse_id=1))
    assert refused.status == "Occupied"
    # ...another EVSE is not held up...
    await charger.plug_in_and_charge((2, 1), "TOKEN3")
    assert len(charger.transactions) == 2
    # ...and once the car is gone it takes a session again
    mark = csms201.mark()
    await charger.stop_charging((1, 1))
    await csms201.wait_for("StatusNotification", status_is(1, 2, "Available"), after=mark)
    await charger.plug_in_and_charge((1, 2), "TOKEN2")
    on_evse_1 = [s for s in charger.transactions.values() if s.connector.evse_id == 1]
    assert [s.connector.connector_id for s in on_evse_1] == [2]


async def test_bare_int_addresses_the_first_connector_of_an_evse(csms201, spec201, launch):
    charger = await launch(spec201, csms201)
    await charger.plug_in_and_charge(2, "TOKEN1")
    started = await csms201.wait_for("TransactionEvent")
    assert started["evse"] == {"id": 2, "connectorId": 1}


async def test_c01_unknown_token_is_rejected(csms201, spec201, launch):
    charger = await launch(spec201, csms201)
    with pytest.raises(AuthorizationRejected):
        await charger.plug_in_and_charge((1, 1), "STRANGER")
    assert events(csms201) == []


async def test_e_suspended_ev_when_the_car_has_taken_what_it_wanted(csms201, spec201, launch):
    charger = await launch(spec201, csms201)
    await charger.plug_in_and_charge((1, 1), "TOKEN1", energy_kwh=0.001)
    changed = await csms201.wait_for(
        "TransactionEvent", lambda p: p["triggerReason"] == "ChargingStateChanged")
    assert changed["transactionInfo"]["chargingState"] == "SuspendedEV"
    assert charger.connector((1, 1)).status == "SuspendedEV"


async def test_f01_f03_request_start_and_stop_echo_remote_start_id(csms201, spec201, launch):
    charger = await launch(spec201, csms201)
    station = spec201.station_id
    answer = await csms201.call(station, call.RequestStartTransaction(
        id_token={"idToken": "TOKEN2", "type": "Central"}, remote_start_id=42, evse_id=2))
    assert answer.status == "Accepted"
    started = await csms201.wait_for("TransactionEvent", lambda p: p["eventType"] == "Started")
    assert started["triggerReason"] == "RemoteStart"
    assert started["transactionInfo"]["remoteStartId"] == 42
    assert started["idToken"] == {"idToken": "TOKEN2", "type": "Central"}
    assert started["evse"] == {"id": 2, "connectorId": 1}
    busy = await csms201.call(station, call.RequestStartTransaction(
        id_token={"idToken": "TOKEN3", "type": "Central"}, remote_start_id=43, evse_id=2))
    assert busy.status == "Rejected"

    unknown = await csms201.call(station, call.RequestStopTransaction(transaction_id="nope"))
    assert unknown.status == "Rejected"
    transaction_id = started["transactionInfo"]["transactionId"]
    assert transaction_id in charger.transactions
    answer = await csms201.call(station,
                                call.RequestStopTransaction(transaction_id=transaction_id))
    assert answer.status == "Accepted"
    ended = await csms201.wait_for("TransactionEvent", lambda p: p["eventType"] == "Ended")
    assert ended["triggerReason"] == "RemoteStop"
    assert ended["transactionInfo"]["stoppedReason"] == "Remote"
    assert ended["transactionInfo"]["remoteStartId"] == 42


async def test_b11_immediate_reset_ends_sessions_reboots_and_reports_a_security_event(
    csms201, spec201, launch
):
    charger = await launch(spec201, csms201)
    await charger.plug_in_and_charge((1, 1), "TOKEN1")
    mark = csms201.mark()
    answer = await csms201.call(spec201.station_id, call.Reset(type="Immediate"))
    assert answer.status == "Accepted"
    ended = await csms201.wait_for("TransactionEvent", lambda p: p["eventType"] == "Ended")
    assert ended["triggerReason"] == "ResetCommand"
    assert ended["transactionInfo"]["stoppedReason"] == "ImmediateReset"
    boot = await csms201.wait_for("BootNotification", after=mark)
    assert boot["reason"] == "RemoteReset"
    security = await csms201.wait_for("SecurityEventNotification", after=mark)
    assert security["type"] == "ResetOrReboot"
    assert csms201.connections == 2


async def test_b12_on_idle_reset_waits_for_the_last_session_and_lets_no_new_one_start(
    csms201, spec201, launch
):
    charger = await launch(spec201, csms201)
    await charger.plug_in_and_charge((1, 1), "TOKEN1")
    mark = csms201.mark()
    answer = await csms201.call(spec201.station_id, call.Reset(type="OnIdle"))
    assert answer.status == "Scheduled"
    # the idle EVSE's connector turns Unavailable, so a busy station does reach idle (1/2 already
    # is: its EVSE is in use)
    await csms201.wait_for("StatusNotification", status_is(2, 1, "Unavailable"), after=mark)
    with pytest.raises(ConnectorUnavailable):
        await charger.plug_in_and_charge((2, 1), "TOKEN2")
    busy = await csms201.call(spec201.station_id, call.RequestStartTransaction(
        id_token={"idToken": "TOKEN3", "type": "Central"}, remote_start_id=44, evse_id=2))
    assert busy.status == "Rejected"
    assert csms201.connections == 1 and list(charger.transactions) != []
    mark = csms201.mark()
    await charger.stop_charging((1, 1))
    boot = await csms201.wait_for("BootNotification", after=mark)
    assert boot["reason"] == "RemoteReset"
    # after the reboot they take sessions again
    await csms201.wait_for("StatusNotification", status_is(2, 1, "Available"), after=mark)
    await charger.plug_in_and_charge((2, 1), "TOKEN2")
    evse_reset = await csms201.call(spec201.station_id, call.Reset(type="Immediate", evse_id=1))
    assert evse_reset.status == "Rejected"


async def test_reconnects_after_the_csms_closes_the_socket(csms201, spec201, launch):
    charger = await launch(spec201, csms201)
    await csms201.drop(spec201.station_id)
    while csms201.connections < 2 or len(csms201.calls("BootNotification")) < 2:
        await asyncio.sleep(0.01)
    await asyncio.wait_for(charger.booted.wait(), HANG_GUARD)
    assert csms201.calls("BootNotification")[1]["reason"] == "Unknown"
    assert csms201.calls("SecurityEventNotification") == []


async def test_f05_unlock_refuses_during_a_transaction_and_unknown_connectors(
    csms201, spec201, launch
):
    charger = await launch(spec201, csms201)
    await charger.plug_in_and_charge((1, 1), "TOKEN1")
    station = spec201.station_id
    busy = await csms201.call(station, call.UnlockConnector(evse_id=1, connector_id=1))
    assert busy.status == "OngoingAuthorizedTransaction"
    idle = await csms201.call(station, call.UnlockConnector(evse_id=2, connector_id=1))
    assert idle.status == "Unlocked"
    unknown = await csms201.call(station, call.UnlockConnector(evse_id=9, connector_id=1))
    assert unknown.status == "UnknownConnector"


async def test_g03_change_availability_of_an_evse_and_of_the_station(csms201, spec201, launch):
    charger = await launch(spec201, csms201)
    station = spec201.station_id
    mark = csms201.mark()
    answer = await csms201.call(station, call.ChangeAvailability(
        operational_status="Inoperative", evse={"id": 1}))
    assert answer.status == "Accepted"
    for connector_id in (1, 2):
        await csms201.wait_for(
            "StatusNotification",
            lambda p, c=connector_id: (p["evseId"], p["connectorId"]) == (1, c)
            and p["connectorStatus"] == "Unavailable", after=mark)
    await charger.plug_in_and_charge((2, 1), "TOKEN1")
    scheduled = await csms201.call(station,
                                   call.ChangeAvailability(operational_status="Inoperative"))
    assert scheduled.status == "Scheduled"
    back = await csms201.call(station, call.ChangeAvailability(
        operational_status="Operative", evse={"id": 1}))
    assert back.status == "Accepted"
    unknown = await csms201.call(station, call.ChangeAvailability(
        operational_status="Operative", evse={"id": 7}))
    assert unknown.status == "Rejected"


async def test_b06_get_variables_answers_from_the_device_model(csms201, spec201, launch):
    await launch(spec201, csms201)
    answer = await csms201.call(spec201.station_id, call.GetVariables(get_variable_data=[
        {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}},
        {"component": {"name": "SampledDataCtrlr"}, "variable": {"name": "TxUpdatedInterval"}},
        {"component": {"name": "Connector", "evse": {"id": 1, "connectorId": 1}},
         "variable": {"name": "ConnectorType"}},
        {"component": {"name": "EVSE", "evse": {"id": 2}}, "variable": {"name": "Power"}},
        {"component": {"name": "FluxCapacitor"}, "variable": {"name": "Enabled"}},
        {"component": {"name": "AuthCtrlr"}, "variable": {"name": "Nonsense"}},
        {"component": {"name": "AuthCtrlr"}, "variable": {"name": "Enabled"},
         "attributeType": "Target"},
    ]))
    results = answer.get_variable_result
    assert [r["attribute_status"] for r in results] == [
        "Accepted", "Accepted", "Accepted", "Accepted", "UnknownComponent", "UnknownVariable",
        "NotSupportedAttributeType"]
    assert [r.get("attribute_value") for r in results[:4]] == ["1", "0.2", "cCCS2", "22000"]


async def test_b05_set_variables_changes_behaviour_and_refuses_read_only(
    csms201, spec201, launch
):
    charger = await launch(spec201, csms201)
    answer = await csms201.call(spec201.station_id, call.SetVariables(set_variable_data=[
        {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"},
         "attributeValue": "120"},
        {"component": {"name": "SampledDataCtrlr"}, "variable": {"name": "TxUpdatedMeasurands"},
         "attributeValue": "Energy.Active.Import.Register"},
        {"component": {"name": "ChargingStation"}, "variable": {"name": "Model"},
         "attributeValue": "Other"},
        {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"},
         "attributeValue": "often"},
        {"component": {"name": "Nowhere"}, "variable": {"name": "X"}, "attributeValue": "1"},
    ]))
    assert [r["attribute_status"] for r in answer.set_variable_result] == [
        "Accepted", "Accepted", "Rejected", "Rejected", "UnknownComponent"]
    assert charger.tunables.heartbeat_interval == 120
    mark = csms201.mark()
    await charger.plug_in_and_charge((1, 1), "TOKEN1")
    updated = await csms201.wait_for(
        "TransactionEvent", lambda p: p["eventType"] == "Updated", after=mark)
    assert set(measurands(updated["meterValue"][0])) == {"Energy.Active.Import.Register"}


async def test_b07_get_base_report_sends_the_device_model_in_notify_reports(
    csms201, spec201, launch
):
    charger = await launch(spec201, csms201)
    answer = await csms201.call(spec201.station_id,
                                call.GetBaseReport(request_id=7, report_base="FullInventory"))
    assert answer.status == "Accepted"
    last = await csms201.wait_for("NotifyReport", lambda p: not p.get("tbc", False))
    reports = csms201.calls("NotifyReport")
    assert [r["seqNo"] for r in reports] == list(range(len(reports)))
    assert all(r["requestId"] == 7 for r in reports) and last is reports[-1]
    items = [item for r in reports for item in r["reportData"]]
    assert len(items) == len(charger.settings.variables)
    heartbeat = next(i for i in items if i["variable"]["name"] == "HeartbeatInterval")
    assert heartbeat["variableAttribute"][0] == {
        "type": "Actual", "value": "1", "mutability": "ReadWrite", "persistent": True,
        "constant": False}
    summary = await csms201.call(spec201.station_id,
                                 call.GetBaseReport(request_id=8, report_base="SummaryInventory"))
    assert summary.status == "Accepted"
    await csms201.wait_for("NotifyReport", lambda p: p["requestId"] == 8)


async def test_f06_trigger_message_really_sends_the_requested_message(csms201, spec201, launch):
    charger = await launch(spec201, csms201)
    await charger.plug_in_and_charge((1, 1), "TOKEN1")
    station = spec201.station_id
    for message in ("BootNotification", "Heartbeat", "StatusNotification", "MeterValues",
                    "TransactionEvent", "FirmwareStatusNotification", "LogStatusNotification"):
        mark = csms201.mark()
        answer = await csms201.call(station, call.TriggerMessage(
            requested_message=message, evse={"id": 1, "connectorId": 1}))
        assert answer.status == "Accepted", message
        payload = await csms201.wait_for(message, after=mark)
        if message == "TransactionEvent":
            assert payload["triggerReason"] == "Trigger"
        if message == "StatusNotification":
            assert payload["connectorStatus"] == "Occupied"
    unsupported = await csms201.call(station, call.TriggerMessage(
        requested_message="SignV2GCertificate"))  # the simulator has no ISO 15118 side
    assert unsupported.status == "NotImplemented"


async def test_l01_update_firmware_reports_each_step_with_the_request_id(
    csms201, spec201, launch
):
    await launch(spec201, csms201)
    answer = await csms201.call(spec201.station_id, call.UpdateFirmware(request_id=5, firmware={
        "location": "https://firmware.example/dc150-1.3.0.bin",
        "retrieveDateTime": to_ocpp(utcnow() - timedelta(seconds=1))}))
    assert answer.status == "Accepted"
    await csms201.wait_for("FirmwareStatusNotification", lambda p: p["status"] == "Installed")
    notifications = csms201.calls("FirmwareStatusNotification")
    assert [n["status"] for n in notifications] == [
        "Downloading", "Downloaded", "Installing", "Installed"]
    assert {n["requestId"] for n in notifications} == {5}


async def test_n01_get_log_names_a_file_and_reports_the_upload(csms201, spec201, launch):
    await launch(spec201, csms201)
    answer = await csms201.call(spec201.station_id, call.GetLog(
        log={"remoteLocation": "https://logs.example/upload"}, log_type="DiagnosticsLog",
        request_id=11))
    assert answer.status == "Accepted" and answer.filename.startswith("diagnostics-TAS-201-")
    await csms201.wait_for("LogStatusNotification", lambda p: p["status"] == "Uploaded")
    assert [(n["status"], n["requestId"]) for n in csms201.calls("LogStatusNotification")] == [
        ("Uploading", 11), ("Uploaded", 11)]


async def test_fault_sends_notify_event_and_faulted_status_until_cleared(
    csms201, spec201, launch
):
    charger = await launch(spec201, csms201)
    await charger.plug_in_and_charge((1, 1), "TOKEN1")
    mark = csms201.mark()
    await charger.set_fault((1, 1), "OverCurrentFailure", vendor_error="E42")
    ended = await csms201.wait_for("TransactionEvent", lambda p: p["eventType"] == "Ended")
    assert ended["triggerReason"] == "AbnormalCondition"
    assert ended["transactionInfo"]["stoppedReason"] == "OvercurrentFault"
    await csms201.wait_for(
        "StatusNotification", lambda p: p["connectorStatus"] == "Faulted", after=mark)
    event = (await csms201.wait_for("NotifyEvent", after=mark))["eventData"][0]
    assert event["component"] == {"name": "Connector", "evse": {"id": 1, "connectorId": 1}}
    assert event["variable"] == {"name": "Problem"}
    assert (event["actualValue"], event["techCode"], event["cleared"]) == (
        "true", "OverCurrentFailure", False)
    await charger.clear_fault((1, 1))
    cleared = await csms201.wait_for("NotifyEvent", lambda p: p["eventData"][0]["cleared"])
    assert cleared["eventData"][0]["eventId"] > event["eventId"]
    await csms201.wait_for(
        "StatusNotification",
        lambda p: p["connectorStatus"] == "Available" and p["connectorId"] == 1, after=mark)


async def test_d01_d02_local_list_versions_and_clear_cache(csms201, spec201, launch):
    charger = await launch(spec201, csms201)
    station = spec201.station_id
    full = await csms201.call(station, call.SendLocalList(
        version_number=1, update_type="Full", local_authorization_list=[
            {"idToken": {"idToken": "LOCAL1", "type": "ISO14443"},
             "idTokenInfo": {"status": "Accepted"}}]))
    assert full.status == "Accepted"
    stale = await csms201.call(station, call.SendLocalList(
        version_number=1, update_type="Differential"))
    assert stale.status == "VersionMismatch"
    version = await csms201.call(station, call.GetLocalListVersion())
    assert version.version_number == 1
    assert charger.local_list.entries == {"LOCAL1": "Accepted"}
    cleared = await csms201.call(station, call.ClearCache())
    assert cleared.status == "Accepted"


async def test_data_transfer_accepts_only_its_own_vendor(csms201, spec201, launch):
    await launch(spec201, csms201)
    other = await csms201.call(spec201.station_id, call.DataTransfer(vendor_id="Elsewhere"))
    assert other.status == "UnknownVendorId"
    own = await csms201.call(spec201.station_id, call.DataTransfer(vendor_id="SilkSim",
                                                                   data={"k": 1}))
    assert own.status == "Accepted"
