"""OCPP 2.0.1 monitoring (N02-N08) end to end: an `ocpp` package charger over a real socket,
the gateway, the operator API and the store (SQLite and PostgreSQL)."""

from __future__ import annotations

from decimal import Decimal

from ocpp.v201 import call

from silkcharge.domain.clock import to_ocpp, utcnow
from tests.e2e.device_peers import device_peer
from tests.e2e.network import register_station
from tests.e2e.peers import eventually
from tests.e2e.test_ocpp201 import boot

STATION = "TAS-201-MON"
POWER = {"component": "ChargingStation", "variable": "Power", "type": "UpperThreshold", "value": "7000",
         "severity": 4}


def event(event_id: int, monitor_id: int | None, value: str = "7400", **extra) -> dict:
    entry = {
        "event_id": event_id, "timestamp": to_ocpp(utcnow()), "trigger": "Alerting", "actual_value": value,
        "event_notification_type": "CustomMonitor" if monitor_id else "HardWiredNotification",
        "component": {"name": "ChargingStation"}, "variable": {"name": "Power"}, **extra,
    }
    if monitor_id is not None:
        entry["variable_monitoring_id"] = monitor_id
    return entry


async def test_n04_set_variable_monitoring_and_notify_event(api, ocpp_url):
    await register_station(api, STATION)
    async with device_peer(ocpp_url, STATION) as peer:
        await boot(peer)
        unknown = {**POWER, "component": "FluxCapacitor"}
        response = await api.post(f"/api/v1/stations/{STATION}/monitors", json={"monitors": [POWER, unknown]})
        assert response.status_code == 200, response.text
        body = response.json()
        assert [r["status"] for r in body["results"]] == ["Accepted", "UnknownComponent"]
        assert body["status"] == "PartiallyAccepted"
        (stored,) = body["monitors"]
        assert (stored["monitor_id"], stored["type"], Decimal(stored["value"]), stored["severity"]) == (
            101, "UpperThreshold", Decimal(7000), 4)
        sent = peer.received[-1][1]["set_monitoring_data"][0]
        assert (sent["component"], sent["variable"], sent["value"]) == ({"name": "ChargingStation"},
                                                                         {"name": "Power"}, 7000)

        # N07: the monitor fires; the event is stored and linked to it, with its severity.
        await peer.call(call.NotifyEvent(generated_at=to_ocpp(utcnow()), seq_no=0, event_data=[event(1, 101)]))
        events = (await api.get(f"/api/v1/stations/{STATION}/device-events")).json()
        assert events[0]["variable_monitoring_id"] == 101
        assert events[0]["monitor"]["monitor_id"] == 101
        assert (events[0]["severity"], events[0]["severity_name"], events[0]["actual_value"]) == (4, "Error", "7400")

        (standing,) = (await api.get("/api/v1/monitor-alerts")).json()
        assert (standing["station_id"], standing["variable_monitoring_id"], standing["severity"]) == (STATION, 101, 4)
        cleared = event(3, 101, "6500", cleared=True)
        await peer.call(call.NotifyEvent(generated_at=to_ocpp(utcnow()), seq_no=0, event_data=[cleared]))
        assert (await api.get("/api/v1/monitor-alerts")).json() == []

        # The same message again (a station that never saw our reply) stores nothing twice.
        replay = call.NotifyEvent(generated_at=to_ocpp(utcnow()), seq_no=0, event_data=[event(2, 101)])
        await peer.call(replay)
        await peer.call(replay)
        assert len((await api.get(f"/api/v1/stations/{STATION}/device-events")).json()) == 3


async def test_n07_notify_event_for_an_unknown_monitor_is_kept_and_linked_once_reported(api, ocpp_url):
    await register_station(api, STATION)
    async with device_peer(ocpp_url, STATION) as peer:
        await boot(peer)
        # A preconfigured monitor silkcharge never heard of raises an event: accepted and kept.
        peer.monitors[7] = {"id": 7, "component": {"name": "Connector", "evse": {"id": 1, "connector_id": 1}},
                            "variable": {"name": "AvailabilityState"}, "type": "Delta", "value": 1,
                            "severity": 6, "preconfigured": True}
        reply = await peer.call(call.NotifyEvent(generated_at=to_ocpp(utcnow()), seq_no=0, event_data=[
            {**event(5, 7, "Faulted", trigger="Delta"), "component": {"name": "Connector",
                                                                      "evse": {"id": 1, "connector_id": 1}},
             "variable": {"name": "AvailabilityState"}, "event_notification_type": "PreconfiguredMonitor"}]))
        assert reply is not None
        (unlinked,) = (await api.get(f"/api/v1/stations/{STATION}/device-events?monitored=true")).json()
        assert (unlinked["variable_monitoring_id"], unlinked["monitor"]) == (7, None)

        # N02: a monitoring report names it; the event links up, nothing was lost.
        response = await api.post(f"/api/v1/stations/{STATION}/monitoring-reports", json={})
        assert response.status_code == 202, response.text
        request_id = response.json()["request_id"]
        assert peer.received[-1][1]["request_id"] == request_id
        monitors = await eventually(lambda: _monitors(api))
        assert [(m["monitor_id"], m["source"], m["evse_id"], m["connector_id"]) for m in monitors] == [
            (7, "station", 1, 1)]
        (linked,) = (await api.get(f"/api/v1/stations/{STATION}/device-events")).json()
        assert (linked["monitor"]["monitor_id"], linked["severity_name"]) == (7, "Warning")


async def test_n06_clear_monitoring_and_n05_n03_level_and_base(api, ocpp_url):
    await register_station(api, STATION)
    async with device_peer(ocpp_url, STATION) as peer:
        await boot(peer)
        await api.post(f"/api/v1/stations/{STATION}/monitors", json={"monitors": [POWER, {**POWER, "value": "9000"}]})
        assert [m["monitor_id"] for m in await _monitors(api)] == [101, 102]

        cleared = await api.delete(f"/api/v1/stations/{STATION}/monitors/101")
        assert cleared.json() == {"monitor_id": 101, "status": "Accepted"}
        assert [m["monitor_id"] for m in await _monitors(api)] == [102]
        missing = await api.delete(f"/api/v1/stations/{STATION}/monitors/555")
        assert missing.status_code == 404
        assert "no monitor 555" in missing.json()["detail"]

        level = await api.put(f"/api/v1/stations/{STATION}/monitoring-level", json={"severity": 5})
        assert level.json() == {"severity": 5, "status": "Accepted"}
        too_low = await api.put(f"/api/v1/stations/{STATION}/monitoring-level", json={"severity": 12})
        assert too_low.status_code == 422

        # FactoryDefault drops custom monitors; silkcharge re-reads the station's list.
        base = await api.put(f"/api/v1/stations/{STATION}/monitoring-base", json={"base": "FactoryDefault"})
        assert base.json()["status"] == "Accepted"
        assert peer.actions()[-2:] == ["SetMonitoringBase", "GetMonitoringReport"]
        assert await _monitors(api) == []
        configuration = (await api.get(f"/api/v1/stations/{STATION}/configuration")).json()["values"]
        assert (configuration["MonitoringCtrlr.ActiveMonitoringLevel"],
                configuration["MonitoringCtrlr.ActiveMonitoringBase"]) == ("5", "FactoryDefault")


async def test_n02_monitoring_report_part_for_a_request_never_made_is_kept(api, ocpp_url):
    await register_station(api, STATION)
    async with device_peer(ocpp_url, STATION) as peer:
        await boot(peer)
        await peer.call(call.NotifyMonitoringReport(
            request_id=4242, seq_no=0, generated_at=to_ocpp(utcnow()), monitor=[{
                "component": {"name": "EVSE", "evse": {"id": 2}}, "variable": {"name": "Power"},
                "variable_monitoring": [{"id": 9, "transaction": False, "value": 11000.5, "type": "UpperThreshold",
                                         "severity": 3}]}]))
    (monitor,) = await _monitors(api)
    assert (monitor["monitor_id"], Decimal(monitor["value"]), monitor["evse_id"]) == (9, Decimal("11000.5"), 2)


async def _monitors(api) -> list[dict]:
    return (await api.get(f"/api/v1/stations/{STATION}/monitors")).json()
