"""Cost on the charger's display (OCPP 2.0.1 I02/I03, and the OCA California Pricing messages
for OCPP 1.6): `ocpp` package chargers receive the running and final cost, and the final cost
is the CDR's total, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from silkcharge.domain.clock import to_ocpp
from tests.e2e.network import add_token, register_station
from tests.e2e.peers import connected_peer, eventually
from tests.e2e.test_billing import STANDARD, T0, cdr_of, energy, publish

COSTMSG = "org.openchargealliance.costmsg"
FAST = pytest.mark.settings(cost_update_every=0.05)

# STANDARD: 80 KZT/kWh + 200 KZT per session + 600 KZT/h parking, 16 % VAT.
# 25 kWh after 30 min: (2000 + 200) x 1.16 = 2552; 30 kWh after 40 min: 2600 x 1.16 = 3016;
# then 20 min parked: + 200 x 1.16 = 3248 in total.
RUNNING_AT_30, RUNNING_AT_40, FINAL = Decimal("2552"), Decimal("3016"), Decimal("3248")


def sampled_201(at, wh: int, watts: int) -> list[dict]:
    return [{"timestamp": to_ocpp(at), "sampled_value": [
        {"value": wh, "measurand": "Energy.Active.Import.Register", "unit_of_measure": {"unit": "Wh"}},
        {"value": watts, "measurand": "Power.Active.Import", "unit_of_measure": {"unit": "W"}},
    ]}]


async def event_201(peer, kind: str, seq: int, minutes: int, wh: int, watts: int):
    at = T0 + timedelta(minutes=minutes)
    return await peer.call(call201.TransactionEvent(
        event_type=kind, timestamp=to_ocpp(at), seq_no=seq,
        trigger_reason={"Started": "Authorized", "Updated": "MeterValuePeriodic", "Ended": "EVDeparted"}[kind],
        transaction_info={"transaction_id": "cost-1", "charging_state": "Charging" if watts else "SuspendedEV"},
        id_token={"id_token": "CARD-1", "type": "ISO14443"} if kind == "Started" else None,
        evse={"id": 1, "connector_id": 1}, meter_value=sampled_201(at, wh, watts),
    ))


def cost_messages(peer, message_id: str) -> list[dict]:
    return [
        json.loads(sent["data"], parse_float=Decimal)
        for action, sent in peer.received
        if action == "DataTransfer" and sent.get("vendor_id") == COSTMSG and sent.get("message_id") == message_id
    ]


@FAST
async def test_i02_i03_charger_201_sees_running_and_final_cost_equal_to_the_cdr(api, ocpp_url):
    await register_station(api, "COST-201")
    await add_token(api, "CARD-1")
    assert (await publish(api, "KZ-STD", STANDARD)).status_code == 201
    async with connected_peer(ocpp_url, "COST-201", "2.0.1") as peer:
        await peer.call(call201.BootNotification(charging_station={"model": "M", "vendor_name": "V"},
                                                 reason="PowerUp"))
        started = await event_201(peer, "Started", 0, 0, 0, 50000)
        at_30 = await event_201(peer, "Updated", 1, 30, 25000, 50000)

        async def pushed(total):
            return [p for a, p in peer.received if a == "CostUpdated" and Decimal(str(p["total_cost"])) == total]

        cost_updated = (await eventually(lambda: pushed(RUNNING_AT_30)))[0]
        at_40 = await event_201(peer, "Updated", 2, 40, 30000, 0)
        await eventually(lambda: pushed(RUNNING_AT_40))
        ended = await event_201(peer, "Ended", 3, 60, 30000, 0)
    assert started.total_cost is None  # nothing to tell before anything was consumed
    assert Decimal(str(at_30.total_cost)) == RUNNING_AT_30
    assert cost_updated["transaction_id"] == "cost-1"
    assert Decimal(str(at_40.total_cost)) == RUNNING_AT_40
    tx = (await api.get("/api/v1/transactions?station_id=COST-201")).json()[0]["id"]
    cdr = await cdr_of(api, tx)
    assert Decimal(cdr["total_incl_vat"]) == FINAL
    assert Decimal(str(ended.total_cost)) == Decimal(cdr["total_incl_vat"])


@FAST
async def test_charger_16_with_california_pricing_gets_user_price_running_and_final_cost(api, ocpp_url):
    await register_station(api, "COST-16")
    await add_token(api, "CARD-1")
    assert (await publish(api, "KZ-STD", STANDARD)).status_code == 201
    async with connected_peer(ocpp_url, "COST-16", "1.6") as peer:
        peer.configuration["CustomDisplayCostAndPrice"] = "true"
        await peer.call(call16.BootNotification(charge_point_vendor="V", charge_point_model="M"))
        started = await peer.call(call16.StartTransaction(connector_id=1, id_tag="CARD-1", meter_start=0,
                                                          timestamp=to_ocpp(T0)))
        tx = started.transaction_id
        user_price = (await eventually(lambda: _async(cost_messages(peer, "SetUserPrice"))))[0]
        await peer.call(call16.MeterValues(connector_id=1, transaction_id=tx,
                                           meter_value=energy(T0 + timedelta(minutes=30), 25000, 50000)))
        running = (await eventually(lambda: _async(cost_messages(peer, "RunningCost"))))[0]
        await peer.call(call16.MeterValues(connector_id=1, transaction_id=tx,
                                           meter_value=energy(T0 + timedelta(minutes=40), 30000, 0)))
        await peer.call(call16.StopTransaction(meter_stop=30000, timestamp=to_ocpp(T0 + timedelta(minutes=60)),
                                               transaction_id=tx))
        final = (await eventually(lambda: _async(cost_messages(peer, "FinalCost"))))[0]
    assert user_price == {
        "idToken": "CARD-1",
        "priceText": "92.80 KZT/kWh, 232.00 KZT per session, parking 696.00 KZT/h (incl. VAT)",
    }
    assert running["transactionId"] == tx
    assert (running["cost"], running["meterValue"], running["state"]) == (RUNNING_AT_30, 25000, "Charging")
    assert running["chargingPrice"] == {"kWhPrice": Decimal("92.80"), "flatFee": Decimal("232.00")}
    assert running["timestamp"] == to_ocpp(T0 + timedelta(minutes=30))
    cdr = await cdr_of(api, tx)
    assert final["transactionId"] == tx
    assert final["cost"] == Decimal(cdr["total_incl_vat"]) == FINAL
    assert "3248" in final["priceText"]


@FAST
async def test_charger_16_without_california_pricing_gets_no_cost_messages(api, ocpp_url):
    await register_station(api, "COST-16-PLAIN")
    await add_token(api, "CARD-1")
    assert (await publish(api, "KZ-STD", STANDARD)).status_code == 201
    async with connected_peer(ocpp_url, "COST-16-PLAIN", "1.6") as peer:
        await peer.call(call16.BootNotification(charge_point_vendor="V", charge_point_model="M"))
        started = await peer.call(call16.StartTransaction(connector_id=1, id_tag="CARD-1", meter_start=0,
                                                          timestamp=to_ocpp(T0)))
        await eventually(lambda: _async(peer.actions().count("GetConfiguration") == 1))
        await peer.call(call16.MeterValues(connector_id=1, transaction_id=started.transaction_id,
                                           meter_value=energy(T0 + timedelta(minutes=30), 25000, 50000)))
        await peer.call(call16.StopTransaction(meter_stop=30000, timestamp=to_ocpp(T0 + timedelta(minutes=60)),
                                               transaction_id=started.transaction_id))
        await cdr_of(api, started.transaction_id)
        stations = await api.get("/api/v1/stations/COST-16-PLAIN")
    asked = [sent for action, sent in peer.received if action == "GetConfiguration"]
    assert asked == [{"key": ["CustomDisplayCostAndPrice"]}]  # asked once, and only that
    assert "DataTransfer" not in peer.actions()
    assert stations.status_code == 200


async def _async(value):
    return value
