"""The demo's taxi depot shows V2G (issue 17): its OCPP 2.1 bidirectional charger (TJ-DUS-002-B)
and an opted-in taxi make tonight's plan give energy back at the evening peak, and the seeded
2.1 charger, simulated over a real socket, accepts the discharging profile the plan pushes."""

from __future__ import annotations

import asyncio
import random
from dataclasses import asdict
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

from silkcharge.cli import DEMO_TOKENS
from silkcharge.data.seed import load_seed_network
from silkcharge.demo.business import load_business, set_up_smart_charging
from silkcharge.services.seeding import seed_network
from silkcharge.sim.charger import SimulatedCharger
from silkcharge.sim.meter import Ev
from silkcharge.sim.spec import load_fleet, save_fleet
from silkcharge.smart.profiles import OperationMode
from tests.e2e.peers import eventually
from tests.guards import HANG_GUARD

NOW = datetime(2026, 12, 3, 9, 30, tzinfo=timezone.utc)  # 14:30 in Dushanbe: the plan is for tonight
DUSHANBE = ZoneInfo("Asia/Dushanbe")


def _v2g_taxi(business) -> dict:
    [taxi] = [v for v in business["depot"]["vehicles"] if v.get("v2g")]
    return taxi


def test_the_depot_has_a_seeded_ocpp21_charger_and_an_opted_in_taxi_labelled_illustrative():
    business = load_business()
    taxi = _v2g_taxi(business)
    stations = {s["station_id"]: s for site in load_seed_network()["sites"] for s in site["stations"]}
    assert stations[taxi["station_id"]]["ocpp_version"] == "2.1"
    assert "bidirectional" in stations[taxi["station_id"]]["model"]
    assert Decimal(taxi["min_soc"]) < Decimal(taxi["soc"]) < Decimal(taxi["target_soc"])
    assert "illustrative" in taxi["note"]
    assert "Illustrative" in business["depot"]["prices"]["note"]


async def test_tonights_depot_plan_gives_energy_back_from_the_v2g_taxi_at_the_evening_peak(platform, api):
    await seed_network(platform.sessions, load_seed_network(), tokens=DEMO_TOKENS)
    business = load_business()
    taxi = _v2g_taxi(business)
    plan = await set_up_smart_charging(api, business, now=NOW)
    assert plan["feasible"] is True
    assert set(plan["discharge"]) == {taxi["code"]}  # only the opted-in car gives back
    given = plan["discharge"][taxi["code"]]
    start = datetime.fromisoformat(plan["start"].replace("Z", "+00:00"))
    slots = [start + i * timedelta(minutes=plan["slot_minutes"]) for i, kw in enumerate(given) if kw > 0]
    assert slots, "the V2G taxi gives nothing back"
    # all of it in the evening's dear band (18:00-23:00 local), none in the cheap night
    assert all(18 <= slot.astimezone(DUSHANBE).hour < 23 for slot in slots)
    assert max(given) <= float(taxi["max_discharge_kw"])
    room = (Decimal(taxi["soc"]) - Decimal(taxi["min_soc"])) * Decimal(taxi["battery_kwh"])
    assert 0 < plan["cycled_kwh"][taxi["code"]] <= float(room) + 0.01  # never below its 40 % floor
    # it still leaves at its target, and the night costs less than charging only (wear included)
    assert taxi["code"] not in plan["shortfall_kwh"]
    assert Decimal(plan["total_cost"]) < Decimal(plan["charge_only_cost"])
    assert Decimal(plan["wear_cost"]) > 0


async def test_the_seeded_21_charger_accepts_the_depot_plans_discharging_profile_over_a_real_socket(
    platform, api, ocpp_url, tmp_path,
):
    created = await seed_network(platform.sessions, load_seed_network(), tokens=DEMO_TOKENS)
    business = load_business()
    taxi = _v2g_taxi(business)
    fleet = tmp_path / "fleet.json"
    save_fleet(fleet, [{**asdict(s), "firmware_version": "1.0.0"} for s in created if s.station_id == taxi["station_id"]])
    [spec] = load_fleet(fleet)
    assert spec.ocpp_version == "2.1"
    charger = SimulatedCharger(spec, ocpp_url, meter_interval=0.2, reconnect_delay=0.1, heartbeat_fallback=30,
                               rng=random.Random(17), iso15118=True)
    battery_wh = Decimal(taxi["battery_kwh"]) * 1000
    soc = Decimal(taxi["soc"]) * 100
    car = Ev(battery_wh, soc, battery_wh * (Decimal(taxi["target_soc"]) * 100 - soc) / 100,
             Decimal(taxi["max_power_kw"]) * 1000, max_discharge_w=Decimal(taxi["max_discharge_kw"]) * 1000,
             min_soc=Decimal(taxi["min_soc"]) * 100)
    task = asyncio.create_task(charger.run())
    try:
        await asyncio.wait_for(charger.booted.wait(), HANG_GUARD)
        await set_up_smart_charging(api, business)  # as the demo does once it listens
        await charger.plug_in_and_charge(taxi["evse_id"], taxi["id_token"], car=car)

        async def offers_bidirectional():
            view = (await api.get(f"/api/v1/smart/sites/{business['depot']['site']}/power")).json()
            mine = [c for c in view["chargers"] if c["station_id"] == spec.station_id and c["evse_id"] == taxi["evse_id"]]
            return bool(mine) and bool(mine[0]["ev_needs"]) and mine[0]["ev_needs"]["bidirectional"]

        await eventually(offers_bidirectional)
        # the demo's set-up again: tonight's plan, pushed now that the taxi is plugged in
        plan = await set_up_smart_charging(api, business)
        assert any(kw > 0 for kw in plan["discharge"][taxi["code"]])

        def installed():
            profiles = [item.profile for item in charger.profiles.installed if item.evse_id == taxi["evse_id"]]
            return [p for p in profiles if any(period.operation_mode is OperationMode.CENTRAL_SETPOINT
                                               for period in p.schedule.periods)]

        async def accepted():
            session = charger.connector(taxi["evse_id"]).session
            return session is not None and session.allowed_energy_transfer == ("AC_BPT",) and bool(installed())

        await eventually(accepted)
        [profile] = installed()
        giving = [p for p in profile.schedule.periods if p.operation_mode is OperationMode.CENTRAL_SETPOINT]
        assert all(p.setpoint < 0 and p.discharge_limit < 0 for p in giving)
        assert -min(p.setpoint for p in giving) <= Decimal(taxi["max_discharge_kw"]) * 1000 / (230 * 3) + 1
    finally:
        await charger.stop()
        await asyncio.gather(task, return_exceptions=True)


async def test_the_demo_fleet_parks_the_v2g_taxi_and_its_charger_installs_the_plans_discharge(
    platform, api, ocpp_url, tmp_path,
):
    from silkcharge.demo.business import parked_taxis
    from silkcharge.sim.fleet import run_fleet

    created = await seed_network(platform.sessions, load_seed_network(), tokens=DEMO_TOKENS)
    business = load_business()
    taxi = _v2g_taxi(business)
    depot_ids = {e["station_id"] for e in business["depot"]["evses"]}
    fleet = tmp_path / "fleet.json"
    save_fleet(fleet, [{**asdict(s), "firmware_version": "1.0.0"} for s in created if s.station_id in depot_ids])
    parked = parked_taxis(business)
    assert [(p.station_id, p.evse_id, p.id_token, p.car.bidirectional) for p in parked] == [
        (taxi["station_id"], taxi["evse_id"], taxi["id_token"], True)]
    await set_up_smart_charging(api, business)  # as the demo does once the platform listens
    stop = asyncio.Event()
    running = asyncio.create_task(run_fleet(ocpp_url, load_fleet(fleet), session_rate_per_hour=0, meter_interval=0.5,
                                            stop=stop, ramp_seconds=0.1, rng=random.Random(17), parked=parked))
    try:
        async def discharge_installed():
            answer = (await api.get(f"/api/v1/smart/stations/{taxi['station_id']}/profiles")).json()
            return [row for row in answer["installed"] if row["evse_id"] == taxi["evse_id"]
                    and any(Decimal(str(p.get("setpoint") or 0)) < 0 for p in row["profile"]["schedule"]["periods"])]

        # the taxi plugs in, states its V2X needs, the depot re-plans from now and pushes: its
        # charger is allowed AC_BPT and installs the profile with the evening's discharge
        [row] = await eventually(discharge_installed)
        assert row["profile"]["purpose"] == "TxProfile"
        sessions = (await api.get("/api/v1/transactions", params={"station_id": taxi["station_id"]})).json()
        assert [s["id_token"] for s in sessions if s["state"] == "Active"] == [taxi["id_token"]]
    finally:
        stop.set()
        await asyncio.wait_for(running, HANG_GUARD)
