"""OCPP 2.1 DER control (R04) end to end, on SQLite and PostgreSQL: an operator sets grid-code
controls on a simulated 2.1 bidirectional charger's DER through the API, the station keeps them
(a newer control supersedes an older one of its type), reports them when asked
(GetDERControl -> ReportDERControl), clears them, tells when a scheduled control starts and
stops (NotifyDERStartStop), and raises a DER alarm on a grid event (NotifyDERAlarm); silkcharge
keeps all of it."""

from __future__ import annotations

import asyncio
import json
import random
from datetime import timedelta

from silkcharge.domain.clock import to_ocpp, utcnow
from silkcharge.sim.charger import SimulatedCharger
from tests.e2e.network import register_station
from tests.e2e.peers import eventually
from tests.e2e.test_ocpp21_local_cost import charger_21
from tests.e2e.test_smart_charging import spec
from tests.guards import HANG_GUARD

VOLT_WATT = {"control_type": "VoltWatt", "curve": {
    "priority": 1, "y_unit": "PctMaxW",
    "curve_data": [{"x": 100, "y": 100}, {"x": 106, "y": 100}, {"x": 110, "y": 20}],
    "voltage_params": {"hv10_min_mean_value": 110, "power_during_cessation": "Active"}}}


async def test_der_controls_are_set_superseded_reported_and_cleared_on_a_21_station(api, ocpp_url):
    station = "DYU-DER-21"
    await register_station(api, station)
    async with charger_21(ocpp_url, station, 41) as charger:
        first = await api.post(f"/api/v1/stations/{station}/der-controls",
                               json={"control_id": "vw-1", **VOLT_WATT})
        assert first.status_code == 200, first.text
        assert first.json()["status"] == "Accepted" and first.json()["settings"]["curve_data"][2] == {"x": 110, "y": 20}
        held = charger.der.held["vw-1"]
        assert held.control_type == "VoltWatt" and held.settings["voltage_params"]["hv10_min_mean_value"] == 110
        # a newer VoltWatt supersedes the first; a discharge limit is a control of its own
        second = await api.post(f"/api/v1/stations/{station}/der-controls", json={"control_id": "vw-2", **VOLT_WATT})
        assert second.json()["status"] == "Accepted"
        limit = await api.post(f"/api/v1/stations/{station}/der-controls", json={
            "control_id": "lmd-1", "control_type": "LimitMaxDischarge", "is_default": True,
            "limit_max_discharge": {"priority": 2, "pct_max_discharge_power": 50}})
        assert limit.json()["status"] == "Accepted"
        assert charger.der.held["vw-1"].superseded and not charger.der.held["vw-2"].superseded
        kept = {c["control_id"]: c for c in (await api.get(f"/api/v1/stations/{station}/der-controls")).json()}
        assert set(kept) == {"vw-1", "vw-2", "lmd-1"} and kept["vw-1"]["superseded"] is True
        assert kept["lmd-1"]["is_default"] is True and kept["lmd-1"]["settings"] == {"priority": 2, "pct_max_discharge_power": 50.0}

        # the station's own list, in ReportDERControl, read back in the platform's words
        asked = await api.post(f"/api/v1/stations/{station}/der-controls/report", json={})
        assert asked.status_code == 202, asked.text
        request_id = asked.json()["request_id"]

        async def reported():
            report = (await api.get(f"/api/v1/stations/{station}/der-controls/reports/{request_id}")).json()
            return report if report["complete"] else None

        report = await eventually(reported)
        listed = {c["control_id"]: c for c in report["controls"]}
        assert report["status"] == "Accepted" and set(listed) == {"vw-1", "vw-2", "lmd-1"}
        assert listed["vw-2"]["control_type"] == "VoltWatt"
        assert listed["vw-2"]["settings"]["curve_data"] == VOLT_WATT["curve"]["curve_data"]
        assert listed["lmd-1"]["control_type"] == "LimitMaxDischarge" and listed["vw-1"]["superseded"] is True
        none = await api.post(f"/api/v1/stations/{station}/der-controls/report", json={"control_type": "FreqDroop"})
        assert none.status_code == 202 and none.json()["status"] == "NotFound" and none.json()["complete"] is True

        # clear the scheduled VoltWatt controls; the default discharge limit stays
        cleared = await api.post(f"/api/v1/stations/{station}/der-controls/clear",
                                 json={"is_default": False, "control_type": "VoltWatt"})
        assert cleared.status_code == 200, cleared.text
        assert cleared.json()["status"] == "Accepted"
        assert {c["control_id"] for c in cleared.json()["cleared"]} == {"vw-1", "vw-2"}
        assert set(charger.der.held) == {"lmd-1"}
        left = (await api.get(f"/api/v1/stations/{station}/der-controls")).json()
        assert [c["control_id"] for c in left] == ["lmd-1"]
        again = await api.post(f"/api/v1/stations/{station}/der-controls/clear",
                               json={"is_default": False, "control_type": "VoltWatt"})
        assert again.json() == {"status": "NotFound", "cleared": []}


async def test_a_control_the_operator_got_wrong_is_refused_with_the_reason_and_nothing_is_sent(api, ocpp_url):
    station = "DYU-DER-BAD"
    await register_station(api, station)
    async with charger_21(ocpp_url, station, 43) as charger:
        wrong = await api.post(f"/api/v1/stations/{station}/der-controls", json={
            "control_id": "x", "control_type": "VoltWatt",
            "limit_max_discharge": {"priority": 1, "pct_max_discharge_power": 50}})
        assert wrong.status_code == 422 and "carries curve" in wrong.text
        too_much = await api.post(f"/api/v1/stations/{station}/der-controls", json={
            "control_id": "y", "control_type": "LimitMaxDischarge",
            "limit_max_discharge": {"priority": 1, "pct_max_discharge_power": 150}})
        assert too_much.status_code == 422
        assert charger.der.held == {}
    await register_station(api, "ALA-DER-201")
    old = SimulatedCharger(spec("ALA-DER-201", "2.0.1"), ocpp_url, meter_interval=0.2, reconnect_delay=0.1,
                           heartbeat_fallback=30, rng=random.Random(44))
    task = asyncio.create_task(old.run())
    try:
        await asyncio.wait_for(old.booted.wait(), HANG_GUARD)
        refused = await api.post("/api/v1/stations/ALA-DER-201/der-controls", json={"control_id": "z", **VOLT_WATT})
        assert refused.status_code == 422 and "OCPP 2.0.1" in refused.text, refused.text
    finally:
        await old.stop()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_scheduled_control_reports_its_start_and_stop_and_a_grid_event_raises_a_der_alarm(api, ocpp_url):
    station = "DYU-DER-EVT"
    await register_station(api, station)
    async with charger_21(ocpp_url, station, 47) as charger:
        start = utcnow() + timedelta(seconds=1)
        scheduled = await api.post(f"/api/v1/stations/{station}/der-controls", json={
            "control_id": "lmd-evening", "control_type": "LimitMaxDischarge",
            "limit_max_discharge": {"priority": 1, "pct_max_discharge_power": 30,
                                    "start_time": to_ocpp(start), "duration": 1}})
        assert scheduled.json()["status"] == "Accepted"  # it may have started already: a busy machine

        async def told() -> list[bool]:
            """What the station's NotifyDERStartStop frames said, oldest first."""
            frames = (await api.get(f"/api/v1/stations/{station}/messages", params={"limit": 200})).json()
            return [json.loads(f["payload"])[3]["started"] for f in reversed(frames)
                    if f["action"] == "NotifyDERStartStop" and f["direction"] == "in"]

        async def stopped() -> bool:
            rows = (await api.get(f"/api/v1/stations/{station}/der-controls")).json()
            return len(await told()) == 2 and rows[0]["active"] is False

        await eventually(stopped)  # started at its time, then stopped after its second
        assert await told() == [True, False]
        await api.post(f"/api/v1/stations/{station}/der-controls", json={"control_id": "hv-trip", "control_type": "HVMustTrip",
                                                                         "curve": {"priority": 0, "y_unit": "Not_Applicable",
                                                                                   "curve_data": [{"x": 115, "y": 0.2}]}})
        assert await charger.grid_event("OverVoltage", extra_info="253 V at the depot board") == "HVMustTrip"
        await charger.grid_event("OverVoltage", ended=True)
        alarms = (await api.get("/api/v1/der-alarms", params={"station_id": station})).json()
        assert [(a["control_type"], a["grid_event_fault"], a["alarm_ended"]) for a in alarms] == [
            ("HVMustTrip", "OverVoltage", True), ("HVMustTrip", "OverVoltage", False)]
        assert alarms[1]["extra_info"] == "253 V at the depot board"
        everywhere = (await api.get("/api/v1/der-alarms")).json()
        assert len(everywhere) == 2
