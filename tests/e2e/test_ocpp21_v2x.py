"""OCPP 2.1 bidirectional charging (V2X) end to end: the demo's simulated 2.1 charger with a
bidirectional car states its V2X needs, charges, is allowed a bidirectional mode by the CSMS
(NotifyAllowedEnergyTransfer), discharges at the setpoint of a CentralSetpoint TxProfile down to
its minimum state of charge and no further, and charges again under a ChargingOnly profile;
silkcharge keeps what it reports (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import random
from decimal import Decimal

import pytest
from sqlalchemy import select

from silkcharge.sim.charger import SimulatedCharger
from silkcharge.sim.meter import Ev
from silkcharge.store.schema import EvChargingNeeds, MeterSample
from tests.e2e.network import add_token, register_station
from tests.e2e.peers import eventually
from tests.e2e.test_smart_charging import spec
from tests.guards import HANG_GUARD

STATION = "DYU-V2X-21"


def profile(setpoint_w: str | None, limit_w: str, mode: str) -> dict:
    period = {"start_period": 0, "limit": limit_w, "operation_mode": mode}
    if setpoint_w is not None:
        period |= {"setpoint": setpoint_w, "discharge_limit": "-11000"}
    return {"id": 77, "stack_level": 1, "purpose": "TxProfile", "kind": "Relative",
            "schedule": {"rate_unit": "W", "periods": [period]}}


async def latest(platform, tx_id: int, measurand: str) -> Decimal | None:
    async with platform.sessions() as session:
        return await session.scalar(
            select(MeterSample.value).where(MeterSample.transaction_id == tx_id, MeterSample.measurand == measurand)
            .order_by(MeterSample.timestamp.desc(), MeterSample.id.desc()).limit(1))


async def test_a_bidirectional_car_over_ocpp21_charges_discharges_to_its_minimum_soc_and_charges_again(
    api, platform, ocpp_url,
):
    await register_station(api, STATION)
    await add_token(api, "DYU-TAXI-001")
    charger = SimulatedCharger(spec(STATION, "2.1"), ocpp_url, meter_interval=0.2, reconnect_delay=0.1,
                               heartbeat_fallback=30, rng=random.Random(5), iso15118=True)
    # 60 kWh battery at 60 %, keeps 59.99 %: it may give back 6 Wh, at most 7 kW
    car = Ev(Decimal(60_000), Decimal(60), Decimal(10_000), Decimal(11_000),
             max_discharge_w=Decimal(7_000), min_soc=Decimal("59.99"))
    task = asyncio.create_task(charger.run())
    try:
        await asyncio.wait_for(charger.booted.wait(), HANG_GUARD)
        assert (await api.get(f"/api/v1/stations/{STATION}")).json()["ocpp_version"] == "2.1"
        await charger.plug_in_and_charge(1, "DYU-TAXI-001", car=car)
        tx = (await api.get(f"/api/v1/transactions?station_id={STATION}")).json()[0]

        async def v2x_needs():
            async with platform.sessions() as session:
                row = await session.get(EvChargingNeeds, (STATION, 1))
                return row.needs if row is not None else None

        needs = await eventually(v2x_needs)
        assert needs["availableEnergyTransfer"] == ["AC_three_phase", "AC_BPT"]
        assert needs["v2xChargingParameters"]["maxDischargePower"] == 7000
        assert needs["v2xChargingParameters"]["evMinV2XEnergyRequest"] <= -6  # 6 Wh and what it charged since

        async def charging():
            value = await latest(platform, tx["id"], "Power.Active.Import")
            return value is not None and value > 0

        await eventually(charging)

        # A discharge setpoint before the CSMS allowed a bidirectional mode: the car only stops charging.
        posted = await api.post(f"/api/v1/smart/stations/{STATION}/profiles", json={
            "evse_id": 1, "profile": {**profile("-7000", "0", "CentralSetpoint"), "transaction_id": tx["station_tx_id"]}})
        assert posted.status_code == 201, posted.text

        async def idle():
            value = await latest(platform, tx["id"], "Power.Active.Import")
            return value == 0

        await eventually(idle)
        assert await latest(platform, tx["id"], "Energy.Active.Export.Register") == 0

        # Allowed AC_BPT (the driver opted in): the car follows the setpoint and gives energy back.
        sent = await api.post(f"/api/v1/stations/{STATION}/commands/allowed_energy_transfer",
                              json={"transaction_id": tx["id"], "modes": ["AC_BPT"]})
        assert sent.status_code == 200 and sent.json()["status"] == "Accepted", sent.text

        async def discharged_to_minimum():
            exported = await latest(platform, tx["id"], "Energy.Active.Export.Register")
            power = await latest(platform, tx["id"], "Power.Active.Export")
            return exported is not None and exported >= 5 and power == 0

        await eventually(discharged_to_minimum)
        assert car.soc == Decimal("59.99") and car.dischargeable_wh == 0 and car.exported_wh >= 6
        assert await latest(platform, tx["id"], "SoC") == 59

        # ChargingOnly: the car charges again.
        before = await latest(platform, tx["id"], "Energy.Active.Import.Register")
        posted = await api.post(f"/api/v1/smart/stations/{STATION}/profiles", json={
            "evse_id": 1, "profile": {**profile(None, "11000", "ChargingOnly"), "transaction_id": tx["station_tx_id"]}})
        assert posted.status_code == 201, posted.text

        async def charging_again():
            value = await latest(platform, tx["id"], "Energy.Active.Import.Register")
            return value is not None and value > before

        await eventually(charging_again)
    finally:
        await charger.stop()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_discharge_profile_is_refused_for_an_ocpp201_station_with_the_reason(api, ocpp_url):
    from tests.e2e.peers import connected_peer
    from tests.e2e.test_ocpp201 import boot

    await register_station(api, "TAS-201-V2X")
    async with connected_peer(ocpp_url, "TAS-201-V2X", "2.0.1") as peer:
        await boot(peer)
        posted = await api.post("/api/v1/smart/stations/TAS-201-V2X/profiles", json={
            "evse_id": 1, "profile": {**profile("-7000", "0", "CentralSetpoint"), "purpose": "TxDefaultProfile"}})
        sent = await api.post("/api/v1/stations/TAS-201-V2X/commands/allowed_energy_transfer",
                              json={"transaction_id": 1, "modes": ["AC_BPT"]})
    assert posted.status_code in (400, 422) and "2.1" in posted.text, posted.text
    assert sent.status_code in (404, 409, 422), sent.text
    assert peer.actions() == []


FAST = pytest.mark.settings(smart_rebalance_delay=0.05, smart_check_every=0.5)


@FAST
async def test_a_grid_signal_narrows_the_site_connection_for_a_charging_21_station_until_cleared(api, ocpp_url):
    station = "ALA-GRID-21"
    await register_station(api, station)
    await add_token(api, "APP-1")
    assert (await api.put("/api/v1/smart/sites/ALA-TEST", json={"grid_limit_a": "63"})).status_code == 200
    assert (await api.put("/api/v1/smart/sites/ALA-TEST/circuits/cabinet", json={"limit_a": "63"})).status_code == 200
    for evse in (1, 2):
        response = await api.put(f"/api/v1/smart/stations/{station}/evses/{evse}",
                                 json={"circuit": "cabinet", "max_current_a": "32"})
        assert response.status_code == 200, response.text
    charger = SimulatedCharger(spec(station, "2.1"), ocpp_url, meter_interval=0.2, reconnect_delay=0.1,
                               heartbeat_fallback=30, rng=random.Random(8))
    task = asyncio.create_task(charger.run())
    try:
        await asyncio.wait_for(charger.booted.wait(), HANG_GUARD)
        await charger.plug_in_and_charge(1, "APP-1", energy_kwh=Decimal(40))

        def sent(amps: float):
            async def check():
                view = (await api.get("/api/v1/smart/sites/ALA-TEST/power")).json()
                mine = [c for c in view["chargers"] if c["station_id"] == station and c["evse_id"] == 1]
                return bool(mine) and mine[0]["sent_a"] == amps
            return check

        await eventually(sent(32.0))
        # the grid operator allows the site 9 kW: 9000 / (230 V x 3) = 13.04 A, 13.0 A sent
        put = await api.put("/api/v1/smart/sites/ALA-TEST/grid-signal", json={"limit_kw": "9", "source": "SO"})
        assert put.status_code == 200 and put.json()["limit_kw"] == "9", put.text
        await eventually(sent(13.0))
        assert (await api.get("/api/v1/smart/sites/ALA-TEST/grid-signal")).json()["signal"]["source"] == "SO"

        async def obeyed():  # the simulated charger keeps to what it was sent
            return charger.connector(1).meter.power_w() <= Decimal(13 * 230 * 3)

        await eventually(obeyed)
        assert (await api.delete("/api/v1/smart/sites/ALA-TEST/grid-signal")).status_code == 204
        await eventually(sent(32.0))
        assert (await api.get("/api/v1/smart/sites/ALA-TEST/grid-signal")).json() == {"signal": None}
        gone = await api.delete("/api/v1/smart/sites/ALA-TEST/grid-signal")
        assert gone.status_code == 404 and "no grid signal" in gone.json()["detail"]
        past = await api.put("/api/v1/smart/sites/ALA-TEST/grid-signal",
                             json={"limit_kw": "9", "until": "2020-01-01T00:00:00Z"})
        assert past.status_code == 409 and "has passed" in past.json()["detail"]
    finally:
        await charger.stop()
        await asyncio.gather(task, return_exceptions=True)


async def test_k11_k13_a_grid_operator_limit_on_a_21_station_is_kept_and_cleared(api, ocpp_url):
    station = "DYU-SO-21"
    await register_station(api, station)
    await add_token(api, "APP-1")
    charger = SimulatedCharger(spec(station, "2.1"), ocpp_url, meter_interval=0.2, reconnect_delay=0.1,
                               heartbeat_fallback=30, rng=random.Random(9))
    task = asyncio.create_task(charger.run())
    try:
        await asyncio.wait_for(charger.booted.wait(), HANG_GUARD)
        await charger.plug_in_and_charge(1, "APP-1", energy_kwh=Decimal(20))
        await charger.external_limit(1, Decimal(10), source="SO")  # 2.1 NotifyChargingLimit

        async def limited():
            return (await api.get(f"/api/v1/stations/{station}/charging-limits")).json()

        (limit,) = await eventually(limited)
        assert (limit["evse_id"], limit["source"], limit["grid_critical"]) == (1, "SO", True)
        await charger.external_limit(1, None, source="SO")  # 2.1 ClearedChargingLimit

        async def lifted():
            return (await api.get(f"/api/v1/stations/{station}/charging-limits")).json() == []

        assert await eventually(lifted)
    finally:
        await charger.stop()
        await asyncio.gather(task, return_exceptions=True)


@FAST
async def test_a_depot_v2g_plan_pushed_to_a_21_charger_allows_discharging_and_the_car_gives_energy_back(
    api, platform, ocpp_url,
):
    from datetime import timedelta

    from silkcharge.domain.clock import to_ocpp, utcnow

    station = "DYU-DEPOT-21"
    await register_station(api, station)
    await add_token(api, "DYU-TAXI-002")
    start = utcnow()
    dear = (start - timedelta(minutes=1)).strftime("%H:%M")  # only the plan's first slot is dear
    cheap = (start + timedelta(minutes=15)).strftime("%H:%M")
    bands = sorted([{"starts": dear, "price_per_kwh": "0.90"}, {"starts": cheap, "price_per_kwh": "0.20"}],
                   key=lambda band: band["starts"])
    site = {"grid_limit_kw": "100", "depot": True, "base_load_w": "20000",
            "prices": {"currency": "TJS", "battery_wear_per_kwh": "0.05", "bands": bands}}
    assert (await api.put("/api/v1/smart/sites/ALA-TEST", json=site)).status_code == 200
    assert (await api.put("/api/v1/smart/sites/ALA-TEST/circuits/cabinet", json={"limit_a": "63"})).status_code == 200
    assert (await api.put(f"/api/v1/smart/stations/{station}/evses/1",
                          json={"circuit": "cabinet", "max_current_a": "32"})).status_code == 200
    vehicle = {"code": "taxi-2", "arrival": to_ocpp(start - timedelta(minutes=1)),
               "departure": to_ocpp(start + timedelta(hours=8)), "max_power_kw": "11", "battery_kwh": "60",
               "soc": "0.6", "target_soc": "0.9", "station_id": station, "evse_id": 1,
               "v2g": True, "max_discharge_kw": "7", "min_soc": "0.5"}
    assert (await api.put("/api/v1/smart/sites/ALA-TEST/depot/vehicles", json=[vehicle])).status_code == 200
    charger = SimulatedCharger(spec(station, "2.1"), ocpp_url, meter_interval=0.2, reconnect_delay=0.1,
                               heartbeat_fallback=30, rng=random.Random(6), iso15118=True)
    car = Ev(Decimal(60_000), Decimal(60), Decimal(18_000), Decimal(11_000),
             max_discharge_w=Decimal(7_000), min_soc=Decimal(50))
    task = asyncio.create_task(charger.run())
    try:
        await asyncio.wait_for(charger.booted.wait(), HANG_GUARD)
        await charger.plug_in_and_charge(1, "DYU-TAXI-002", car=car)

        async def offers_bidirectional():
            view = (await api.get("/api/v1/smart/sites/ALA-TEST/power")).json()
            mine = [c for c in view["chargers"] if c["station_id"] == station and c["evse_id"] == 1]
            return bool(mine) and bool(mine[0]["ev_needs"]) and mine[0]["ev_needs"]["bidirectional"]

        await eventually(offers_bidirectional)
        planned = await api.post("/api/v1/smart/sites/ALA-TEST/depot/plan", json={
            "start": to_ocpp(start), "end": to_ocpp(start + timedelta(hours=8))})
        assert planned.status_code == 200, planned.text
        plan = planned.json()
        assert plan["feasible"] and plan["discharge"]["taxi-2"][0] == 7.0 and plan["cycled_kwh"]["taxi-2"] > 0

        async def giving_back():
            session = charger.connector(1).session
            return session is not None and session.allowed_energy_transfer == ("AC_BPT",) and car.exported_wh > 0

        await eventually(giving_back)
        # the plan drives the car: what the car said of its departure is no share to fall short of
        problems = (await api.get("/api/v1/smart/sites/ALA-TEST/problems")).json()
        assert [p for p in problems if p["kind"] == "departure_unmet" and p["station_id"] == station] == []
    finally:
        await charger.stop()
        await asyncio.gather(task, return_exceptions=True)
