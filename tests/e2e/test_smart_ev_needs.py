"""ISO 15118 charging needs in load management (OCPP 2.0.1 K15-K17): the car's needs are stored
and narrow its share, a TxProfile answers them, the car's schedule is checked against it, and
a renegotiation by the CSMS (a circuit lowered) or by the car (new needs) runs as one flow with
an `ocpp` package charger, the gateway, load management and the store (SQLite, PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
import random
from datetime import timedelta
from decimal import Decimal

import pytest
from ocpp.routing import on
from ocpp.v201 import call
from ocpp.v201 import call_result as r201
from sqlalchemy import select

from silkcharge.domain.clock import to_ocpp, utcnow
from silkcharge.sim.charger import SimulatedCharger
from silkcharge.store.schema import EvChargingNeeds
from tests.e2e.device_peers import DevicePeer201, device_peer
from tests.e2e.network import add_token, register_station
from tests.e2e.peers import eventually
from tests.e2e.test_device_limits_and_status import last_tx_limit, managed_site, start
from tests.e2e.test_ocpp201 import boot
from tests.e2e.test_smart_charging import spec
from tests.guards import HANG_GUARD

STATION = "TAS-201-LIM"  # the station managed_site puts on the cabinet
FAST = pytest.mark.settings(smart_rebalance_delay=0.05, smart_check_every=0.5)


def needs(max_a: float, energy_wh: int = 20_000, leaves_in: timedelta = timedelta(hours=2)) -> dict:
    return {"requested_energy_transfer": "AC_three_phase", "departure_time": to_ocpp(utcnow() + leaves_in),
            "ac_charging_parameters": {"energy_amount": energy_wh, "ev_min_current": 6, "ev_max_current": max_a,
                                       "ev_max_voltage": 400}}


def recorded_tx_limit(platform, evse: int, wanted: float):
    """Whether silkcharge has recorded a TxProfile of `wanted` A as installed on the EVSE: the
    station's acceptance has been stored, not only received."""
    async def check():
        profiles = [p for e, p in await platform.smart.installed(STATION)
                    if e == evse and p.purpose.value == "TxProfile"]
        return bool(profiles) and profiles[-1].schedule.periods[0].limit == Decimal(str(wanted))
    return check


def schedule(*limits: float) -> dict:
    return {"id": 1, "charging_rate_unit": "A", "duration": 3600, "charging_schedule_period": [
        {"start_period": 600 * n, "limit": limit} for n, limit in enumerate(limits)]}


async def problems(api, kind: str) -> list[dict]:
    return [p for p in (await api.get("/api/v1/smart/sites/ALA-TEST/problems")).json() if p["kind"] == kind]


@FAST
async def test_k15_k16_k17_ev_needs_shape_the_share_and_renegotiate_in_one_flow(api, platform, ocpp_url):
    await register_station(api, STATION)
    await add_token(api, "APP-1")
    await managed_site(api)
    async with device_peer(ocpp_url, STATION) as peer:
        await boot(peer)
        await start(peer)
        await eventually(last_tx_limit(peer, 1, 32.0))  # alone on the 32 A cabinet

        # K15: the car takes at most 16 A; it is stored, and a TxProfile of 16 A answers it.
        reply = await peer.call(call.NotifyEVChargingNeeds(charging_needs=needs(16), evse_id=1,
                                                           max_schedule_tuples=8))
        assert reply.status == "Accepted"
        await eventually(last_tx_limit(peer, 1, 16.0))
        async with platform.sessions() as session:
            (row,) = (await session.scalars(select(EvChargingNeeds))).all()
        assert (row.station_id, row.evse_id, row.max_schedule_tuples) == (STATION, 1, 8)
        assert row.needs["acChargingParameters"]["evMaxCurrent"] == 16
        charger = next(c for c in (await api.get("/api/v1/smart/sites/ALA-TEST/power")).json()["chargers"]
                       if c["evse_id"] == 1)
        assert charger["ev_needs"]["max_current_a"] == 16 and charger["planned_a"] == 16
        planned = await peer.call(call.NotifyEVChargingSchedule(
            time_base=to_ocpp(utcnow()), evse_id=1, charging_schedule=schedule(16, 12)))
        assert planned.status == "Accepted"

        # K16: the CSMS renegotiates: the cabinet is lowered to 10 A, a new TxProfile goes out,
        # and the car's next schedule is held to it.
        lowered = await api.put("/api/v1/smart/sites/ALA-TEST/circuits/cabinet", json={"limit_a": "10"})
        assert lowered.status_code == 200, lowered.text
        await eventually(last_tx_limit(peer, 1, 10.0))
        await eventually(recorded_tx_limit(platform, 1, 10.0))  # until then a 16 A plan may still fit
        over = await peer.call(call.NotifyEVChargingSchedule(
            time_base=to_ocpp(utcnow()), evse_id=1, charging_schedule=schedule(16)))
        assert over.status == "Rejected" and "allow 10 A" in over.status_info["additional_info"]
        within = await peer.call(call.NotifyEVChargingSchedule(
            time_base=to_ocpp(utcnow()), evse_id=1, charging_schedule=schedule(10, 8)))
        assert within.status == "Accepted"
        # 20 kWh in two hours needs 14.5 A: the operator is told the car will leave short.
        (short,) = await eventually(lambda: problems(api, "departure_unmet"))
        assert "asks for 20.0 kWh" in short["reason"] and "its share is 10.0 A" in short["reason"]

        # K17: the car renegotiates: it now takes 8 A and must leave within the hour with
        # 20 kWh, which 8 A (5.5 kW) cannot give: the share follows, the operator is told.
        again = await peer.call(call.NotifyEVChargingNeeds(
            charging_needs=needs(8, leaves_in=timedelta(hours=1)), evse_id=1))
        assert again.status == "Accepted"
        await eventually(last_tx_limit(peer, 1, 8.0))
        async def newest():
            found = await problems(api, "departure_unmet")
            return found[0] if len(found) == 2 else None

        late = await eventually(newest)
        assert "asks for 20.0 kWh" in late["reason"] and "its share is 8.0 A" in late["reason"]

        # The needs end with the session.
        await peer.call(call.TransactionEvent(
            event_type="Ended", timestamp=to_ocpp(utcnow()), trigger_reason="EVCommunicationLost", seq_no=1,
            transaction_info={"transaction_id": "tx-1", "stopped_reason": "EVDisconnected"}))

        async def forgotten():
            async with platform.sessions() as session:
                return (await session.scalars(select(EvChargingNeeds))).all() == []

        await eventually(forgotten)


@FAST
async def test_k15_a_car_that_must_leave_full_is_given_its_need_before_its_neighbour_shares(api, ocpp_url):
    await register_station(api, STATION)
    for token in ("APP-1", "APP-2"):
        await add_token(api, token)
    await managed_site(api)  # the station's two EVSEs on a 32 A cabinet
    async with device_peer(ocpp_url, STATION) as peer:
        await boot(peer)
        await start(peer)
        await peer.call(call.TransactionEvent(
            event_type="Started", timestamp=to_ocpp(utcnow()), trigger_reason="Authorized", seq_no=0,
            transaction_info={"transaction_id": "tx-2", "charging_state": "Charging"},
            id_token={"id_token": "APP-2", "type": "ISO14443"}, evse={"id": 2, "connector_id": 1}))
        await eventually(last_tx_limit(peer, 1, 16.0))
        await eventually(last_tx_limit(peer, 2, 16.0))  # two cars, half the cabinet each

        # The car on EVSE 2 must take 24 kWh within two hours: about 17.4 A on three phases,
        # more than half the cabinet. It gets its need first; its neighbour shares the rest.
        reply = await peer.call(call.NotifyEVChargingNeeds(
            charging_needs=needs(32, energy_wh=24_000, leaves_in=timedelta(hours=2)), evse_id=2))
        assert reply.status == "Accepted"

        async def need_first():
            first, second = peer.tx_limits(1), peer.tx_limits(2)
            return first[-1] <= 14.7 and second[-1] >= 17.3 and first[-1] + second[-1] <= 32.0

        await eventually(need_first)
        charger = next(c for c in (await api.get("/api/v1/smart/sites/ALA-TEST/power")).json()["chargers"]
                       if c["evse_id"] == 2)
        assert charger["ev_needs"]["energy_wh"] == 24_000
        assert await problems(api, "departure_unmet") == []  # its share meets it: nothing to report


class PlansBeforeReplying(DevicePeer201):
    """A station whose car plans with a new TxProfile before the station has answered the
    SetChargingProfile: the plan reaches silkcharge while the profile is still in flight."""

    plans = True

    @on("SetChargingProfile")
    async def set_charging_profile(self, **p):
        self.saw("SetChargingProfile", **p)
        profile = p["charging_profile"]
        if self.plans and profile["charging_profile_purpose"] == "TxProfile":
            limit = profile["charging_schedule"][0]["charging_schedule_period"][0]["limit"]
            plan = {"timeBase": to_ocpp(utcnow()), "evseId": p["evse_id"], "chargingSchedule": {
                "id": 1, "chargingRateUnit": "A", "duration": 3600,
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}]}}
            await self._connection.send(json.dumps([2, f"plan-{limit}", "NotifyEVChargingSchedule", plan]))
        return r201.SetChargingProfile(status="Accepted")


@FAST
async def test_k16_a_plan_made_with_a_raised_profile_before_its_acceptance_is_recorded_is_accepted(
    api, platform, ocpp_url,
):
    await register_station(api, STATION)
    await add_token(api, "APP-1")
    await managed_site(api)
    async with device_peer(ocpp_url, STATION, kind=PlansBeforeReplying) as peer:
        await boot(peer)
        await start(peer)
        await eventually(recorded_tx_limit(platform, 1, 32.0))
        assert (await api.put("/api/v1/smart/sites/ALA-TEST/circuits/cabinet", json={"limit_a": "10"})).status_code == 200
        await eventually(recorded_tx_limit(platform, 1, 10.0))
        # Raised again: the car plans 32 A while silkcharge still has 10 A recorded as installed.
        assert (await api.put("/api/v1/smart/sites/ALA-TEST/circuits/cabinet", json={"limit_a": "32"})).status_code == 200
        await eventually(recorded_tx_limit(platform, 1, 32.0))
        tx_id = (await api.get(f"/api/v1/transactions?station_id={STATION}")).json()[0]["id"]

        async def plans():
            rows = (await api.get(f"/api/v1/transactions/{tx_id}/ev-charging-schedules")).json()
            return rows if len(rows) >= 3 else None

        rows = await eventually(plans)
        limits = [(r["schedule"]["chargingSchedulePeriod"][0]["limit"], r["status"], r["reason"]) for r in rows]
        assert [(limit, status) for limit, status, _ in limits] == [(32, "Accepted"), (10, "Accepted"), (32, "Accepted")]
        # What exceeds both the recorded and the arriving profile is still refused.
        over = await peer.call(call.NotifyEVChargingSchedule(
            time_base=to_ocpp(utcnow()), evse_id=1, charging_schedule=schedule(40)))
        assert over.status == "Rejected" and "allow 32 A" in over.status_info["additional_info"]


@FAST
async def test_k15_k16_simulated_iso15118_car_states_its_needs_and_plans_within_each_profile(api, platform, ocpp_url):
    await register_station(api, STATION)
    await add_token(api, "APP-1")
    await managed_site(api)
    charger = SimulatedCharger(spec(STATION, "2.0.1"), ocpp_url, meter_interval=0.2, reconnect_delay=0.1,
                               heartbeat_fallback=30, rng=random.Random(2), iso15118=True)
    task = asyncio.create_task(charger.run())
    try:
        await asyncio.wait_for(charger.booted.wait(), HANG_GUARD)
        await charger.plug_in_and_charge(1, "APP-1", energy_kwh=Decimal(30))
        car_a = float(int(charger.connector(1).meter.ev.max_power_w / Decimal(690)))

        async def shaped():
            view = (await api.get("/api/v1/smart/sites/ALA-TEST/power")).json()
            (mine,) = [c for c in view["chargers"] if c["evse_id"] == 1]
            needs = mine["ev_needs"]
            return mine if needs and mine["sent_a"] == min(32.0, car_a) else None

        mine = await eventually(shaped)
        assert mine["ev_needs"]["max_current_a"] == car_a and mine["ev_needs"]["energy_wh"] == 30_000
        tx_id = (await api.get(f"/api/v1/transactions?station_id={STATION}")).json()[0]["id"]

        async def schedules(count: int):
            async def check():
                rows = (await api.get(f"/api/v1/transactions/{tx_id}/ev-charging-schedules")).json()
                return rows if len(rows) >= count else None
            return check

        # A busy machine may let a rebalance add a plan before the first look: the first counts.
        first = (await eventually(await schedules(1)))[0]
        assert first["status"] == "Accepted"
        # K16: the cabinet is lowered; the station gets a new TxProfile and the car a new plan.
        assert (await api.put("/api/v1/smart/sites/ALA-TEST/circuits/cabinet",
                              json={"limit_a": "8"})).status_code == 200

        async def replanned():
            rows = (await api.get(f"/api/v1/transactions/{tx_id}/ev-charging-schedules")).json()
            return [r for r in rows if r["schedule"]["chargingSchedulePeriod"][0]["limit"] == 8]

        lowered = await eventually(replanned)
        assert lowered[-1]["status"] == "Accepted"
    finally:
        await charger.stop()
        await asyncio.gather(task, return_exceptions=True)
