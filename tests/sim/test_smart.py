"""The simulated station obeys charging profiles (OCPP 1.6 Smart Charging, 2.0.1 block K):
it keeps what is installed, reports its composite schedule and limits what it draws, unless
it is told to misbehave."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from silkcharge.domain.connectors import ConnectorStandard
from silkcharge.sim.spec import ConnectorSpec
from tests.sim.conftest import station

pytestmark = pytest.mark.asyncio


def ac_station(version: str):
    return station(
        "SMART-" + version.replace(".", ""), version,
        ConnectorSpec(1, 1, ConnectorStandard.TYPE2, Decimal("22")),
        ConnectorSpec(2, 1, ConnectorStandard.TYPE2, Decimal("22")),
    )


def tx_profile16(transaction_id: int, amps: float, profile_id: int = 7) -> dict:
    return {
        "connector_id": 1,
        "cs_charging_profiles": {
            "charging_profile_id": profile_id, "transaction_id": transaction_id, "stack_level": 1,
            "charging_profile_purpose": "TxProfile", "charging_profile_kind": "Relative",
            "charging_schedule": {"charging_rate_unit": "A",
                                  "charging_schedule_period": [{"start_period": 0, "limit": amps}]},
        },
    }


def tx_profile201(transaction_id: str, amps: float, profile_id: int = 7) -> dict:
    return {
        "evse_id": 1,
        "charging_profile": {
            "id": profile_id, "transaction_id": transaction_id, "stack_level": 1,
            "charging_profile_purpose": "TxProfile", "charging_profile_kind": "Relative",
            "charging_schedule": [{"id": 1, "charging_rate_unit": "A",
                                   "charging_schedule_period": [{"start_period": 0, "limit": amps}]}],
        },
    }


def currents(payload: dict) -> list[Decimal]:
    values = payload.get("meterValue") or []
    return [
        Decimal(str(v["value"]))
        for mv in values for v in mv["sampledValue"] if v.get("measurand") == "Current.Import"
    ]


async def test_a_16_tx_profile_limits_the_current_the_station_reports_at_once(csms16, launch):
    charger = await launch(ac_station("1.6"), csms16, rng=__import__("random").Random(3))
    tx = await charger.plug_in_and_charge(1, "TOKEN1", energy_kwh=Decimal(50))
    mark = csms16.mark()
    reply = await csms16.call(charger.spec.station_id, call16.SetChargingProfile(**tx_profile16(int(tx), 10)))
    assert reply.status == "Accepted"
    sample = await csms16.wait_for("MeterValues", lambda p: p["meterValue"][0]["sampledValue"][0]["context"] == "Other",
                                   after=mark)
    assert currents(sample) and max(currents(sample)) <= Decimal(10)
    power = next(Decimal(v["value"]) for v in sample["meterValue"][0]["sampledValue"]
                 if v["measurand"] == "Power.Active.Import")
    assert power <= 10 * 230 * 3


async def test_a_16_composite_reports_the_lowest_of_station_max_and_tx_default(csms16, launch):
    charger = await launch(ac_station("1.6"), csms16)
    sid = charger.spec.station_id
    station_max = {"connector_id": 0, "cs_charging_profiles": {
        "charging_profile_id": 1, "stack_level": 0, "charging_profile_purpose": "ChargePointMaxProfile",
        "charging_profile_kind": "Relative",
        "charging_schedule": {"charging_rate_unit": "A", "charging_schedule_period": [{"start_period": 0, "limit": 20}]}}}
    default = {"connector_id": 1, "cs_charging_profiles": {
        "charging_profile_id": 2, "stack_level": 0, "charging_profile_purpose": "TxDefaultProfile",
        "charging_profile_kind": "Relative",
        "charging_schedule": {"charging_rate_unit": "A", "charging_schedule_period": [
            {"start_period": 0, "limit": 32}, {"start_period": 600, "limit": 12.5}]}}}
    assert (await csms16.call(sid, call16.SetChargingProfile(**station_max))).status == "Accepted"
    assert (await csms16.call(sid, call16.SetChargingProfile(**default))).status == "Accepted"
    composite = await csms16.call(sid, call16.GetCompositeSchedule(connector_id=1, duration=1200, charging_rate_unit="A"))
    assert composite.status == "Accepted"
    periods = composite.charging_schedule["charging_schedule_period"]
    assert [(p["start_period"], p["limit"]) for p in periods] == [(0, 20), (600, 12.5)]
    cleared = await csms16.call(sid, call16.ClearChargingProfile(id=1))
    assert cleared.status == "Accepted"
    assert (await csms16.call(sid, call16.ClearChargingProfile(id=1))).status == "Unknown"


async def test_a_16_tx_profile_without_a_transaction_is_rejected(csms16, launch):
    charger = await launch(ac_station("1.6"), csms16)
    reply = await csms16.call(charger.spec.station_id, call16.SetChargingProfile(**tx_profile16(99, 10)))
    assert reply.status == "Rejected"
    assert charger.profiles.installed == []


async def test_a_201_station_limits_reports_and_lists_its_profiles(csms201, launch):
    charger = await launch(ac_station("2.0.1"), csms201)
    sid = charger.spec.station_id
    tx = await charger.plug_in_and_charge(1, "TOKEN1", energy_kwh=Decimal(50))
    mark = csms201.mark()
    reply = await csms201.call(sid, call201.SetChargingProfile(**tx_profile201(tx, 8)))
    assert reply.status == "Accepted"
    event = await csms201.wait_for("TransactionEvent", lambda p: p["triggerReason"] == "ChargingRateChanged", after=mark)
    assert max(currents(event)) <= Decimal(8)
    composite = await csms201.call(sid, call201.GetCompositeSchedule(duration=300, evse_id=1, charging_rate_unit="W"))
    assert composite.status == "Accepted"
    assert composite.schedule["charging_schedule_period"][0]["limit"] == 8 * 230 * 3
    mark = csms201.mark()
    listed = await csms201.call(sid, call201.GetChargingProfiles(request_id=5, charging_profile={}))
    assert listed.status == "Accepted"
    report = await csms201.wait_for("ReportChargingProfiles", after=mark)
    assert report["requestId"] == 5 and report["chargingProfile"][0]["id"] == 7


async def test_a_201_station_that_refuses_profiles_says_rejected_with_a_reason(csms201, launch):
    charger = await launch(ac_station("2.0.1"), csms201, accept_profiles=False)
    tx = await charger.plug_in_and_charge(1, "TOKEN1", energy_kwh=Decimal(50))
    reply = await csms201.call(charger.spec.station_id, call201.SetChargingProfile(**tx_profile201(tx, 8)))
    assert reply.status == "Rejected" and reply.status_info["additional_info"]


async def test_a_station_that_ignores_limits_accepts_them_and_draws_its_maximum(csms201, launch):
    charger = await launch(ac_station("2.0.1"), csms201, obey_profiles=False)
    tx = await charger.plug_in_and_charge(1, "TOKEN1", energy_kwh=Decimal(50))
    charger.connector(1).meter.ev.max_power_w = Decimal(22000)
    reply = await csms201.call(charger.spec.station_id, call201.SetChargingProfile(**tx_profile201(tx, 8)))
    assert reply.status == "Accepted"
    await asyncio.sleep(0.3)
    assert charger.read_meter(charger.connector(1)).power_w == 22000


async def test_a_limit_below_six_amps_stops_an_ac_car(csms201, launch):
    charger = await launch(ac_station("2.0.1"), csms201)
    tx = await charger.plug_in_and_charge(1, "TOKEN1", energy_kwh=Decimal(50))
    reply = await csms201.call(charger.spec.station_id, call201.SetChargingProfile(**tx_profile201(tx, 5)))
    assert reply.status == "Accepted"
    assert charger.read_meter(charger.connector(1)).power_w == 0
