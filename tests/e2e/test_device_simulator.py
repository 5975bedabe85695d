"""The simulated 2.0.1 charger (what `make demo` runs) against the real platform: it keeps
monitors, display messages and customer data as a real charger does, reports them in parts,
and raises NotifyEvent when a monitored value crosses its threshold; SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import random
from decimal import Decimal

import pytest

from silkcharge.domain.connectors import ConnectorStandard
from silkcharge.sim.charger import SimulatedCharger
from silkcharge.sim.spec import ConnectorSpec, StationSpec
from tests.e2e.network import PASSWORD, add_token, register_station
from tests.e2e.peers import eventually
from tests.guards import HANG_GUARD

STATION = "KZ-SIM-201"
CHECKSUM = "0cc175b9c0f1b6a831c399e269772661"


@pytest.fixture
async def charger(api, ocpp_url):
    await register_station(api, STATION)
    await add_token(api, "APP-1")
    spec = StationSpec(STATION, PASSWORD, "2.0.1", "SilkSim", "AC-22", "1.0",
                       (ConnectorSpec(1, 1, ConnectorStandard.TYPE2, Decimal(22)),
                        ConnectorSpec(2, 1, ConnectorStandard.TYPE2, Decimal(22))))
    simulated = SimulatedCharger(spec, ocpp_url, meter_interval=0.2, reconnect_delay=0.1, step_delay=0.02,
                                 heartbeat_fallback=30, rng=random.Random(3))
    task = asyncio.create_task(simulated.run())
    await asyncio.wait_for(simulated.booted.wait(), HANG_GUARD)
    yield simulated
    await simulated.stop()
    await task


async def events(api, monitored: bool = True) -> list[dict]:
    query = "?monitored=true" if monitored else ""
    return (await api.get(f"/api/v1/stations/{STATION}/device-events{query}")).json()


async def test_n07_simulated_charger_raises_an_event_when_its_power_crosses_a_threshold(api, charger):
    response = await api.post(f"/api/v1/stations/{STATION}/monitors", json={"monitors": [
        {"component": "ChargingStation", "variable": "Power", "type": "UpperThreshold", "value": "3000",
         "severity": 5},
        {"component": "Connector", "evse_id": 2, "connector_id": 1, "variable": "AvailabilityState",
         "type": "Delta", "value": "1", "severity": 7},
        {"component": "OCPPCommCtrlr", "variable": "HeartbeatInterval", "type": "Delta", "value": "1",
         "severity": 7},
    ]})
    assert response.status_code == 200, response.text
    assert [r["status"] for r in response.json()["results"]] == ["Accepted", "Accepted", "Rejected"]
    power, availability = (m["monitor_id"] for m in response.json()["monitors"] if m["source"] == "csms")

    await charger.plug_in_and_charge((1, 1), "APP-1", energy_kwh=Decimal(50))

    async def alerting():
        return [e for e in await events(api) if e["variable_monitoring_id"] == power and e["cleared"] is False]

    (alert,) = await eventually(alerting)
    assert int(alert["actual_value"]) > 3000
    assert (alert["severity_name"], alert["trigger"]) == ("Alert", "Alerting")

    await charger.stop_charging((1, 1))

    async def cleared():
        return [e for e in await events(api) if e["variable_monitoring_id"] == power and e["cleared"] is True]

    assert (await eventually(cleared))[0]["actual_value"] == "0"

    # A Delta monitor on connector 2's availability: plugging in there is an event.
    charger.claim(charger.connector((2, 1)))
    await charger.announce([charger.connector((2, 1))])

    async def delta():
        return [e for e in await events(api) if e["variable_monitoring_id"] == availability]

    assert (await eventually(delta))[0]["actual_value"] == "Occupied"


async def test_n02_simulated_charger_reports_its_monitors_in_parts(api, charger):
    places = [{"component": "EVSE", "evse_id": 1}, {"component": "EVSE", "evse_id": 2},
              {"component": "Connector", "evse_id": 1, "connector_id": 1},
              {"component": "Connector", "evse_id": 2, "connector_id": 1}, {"component": "ChargingStation"}]
    monitors = [{**place, "variable": "AvailabilityState", "type": "Delta", "value": "1", "severity": 5}
                for place in places]
    await api.post(f"/api/v1/stations/{STATION}/monitors", json={"monitors": monitors})
    # The preconfigured monitor silkcharge has not heard of comes with the report.
    response = await api.post(f"/api/v1/stations/{STATION}/monitoring-reports", json={})
    assert response.status_code == 202, response.text

    async def all_six():
        found = (await api.get(f"/api/v1/stations/{STATION}/monitors")).json()
        return found if len(found) == 6 else None

    found = await eventually(all_six)
    assert [(m["monitor_id"], m["source"]) for m in found][:2] == [(1, "station"), (1000, "csms")]

    async def two_parts():  # six variables, four to a part (the message log is written in batches)
        messages = (await api.get(f"/api/v1/stations/{STATION}/messages?limit=200")).json()
        return len([m for m in messages if m["action"] == "NotifyMonitoringReport" and m["direction"] == "in"]) == 2

    assert await eventually(two_parts)

    level = await api.put(f"/api/v1/stations/{STATION}/monitoring-level", json={"severity": 3})
    assert level.json()["status"] == "Accepted"
    base = await api.put(f"/api/v1/stations/{STATION}/monitoring-base", json={"base": "HardWiredOnly"})
    assert base.json()["status"] == "Accepted"

    async def none_left():
        return (await api.get(f"/api/v1/stations/{STATION}/monitors")).json() == []

    assert await eventually(none_left)


async def test_n09_n10_simulated_charger_answers_customer_information_in_parts(api, charger):
    await charger.plug_in_and_charge((1, 1), "APP-1", energy_kwh=Decimal(5))
    await charger.stop_charging((1, 1))
    asked = await api.post(f"/api/v1/stations/{STATION}/customer-information", json={"id_token": "APP-1"})
    assert asked.status_code == 202, asked.text

    async def answer(request_id):
        found = (await api.get(f"/api/v1/stations/{STATION}/customer-information/{request_id}")).json()
        return found if found["complete"] else None

    found = await eventually(lambda: answer(asked.json()["request_id"]))
    assert found["parts_received"] >= 2
    assert found["data"].startswith("idToken APP-1: session ")
    assert "authorization cache: Accepted" in found["data"]

    cleared = await api.post(f"/api/v1/stations/{STATION}/customer-information",
                             json={"id_token": "APP-1", "report": True, "clear": True})
    found = await eventually(lambda: answer(cleared.json()["request_id"]))
    assert found["data"].startswith("cleared: idToken APP-1")
    again = await api.post(f"/api/v1/stations/{STATION}/customer-information", json={"id_token": "APP-1"})
    found = await eventually(lambda: answer(again.json()["request_id"]))
    assert found["data"] == "no data held about idToken APP-1"


async def test_o01_simulated_charger_shows_messages_in_its_languages(api, charger):
    texts = {"kk": "Тегін зарядтау", "ru": "Бесплатная зарядка", "en": "Free charging", "zh": "免费充电"}
    # Before a report the station's display language is asked for; it shows that one.
    first = await api.post(f"/api/v1/stations/{STATION}/display-messages", json={"texts": texts})
    assert first.status_code == 201, first.text
    assert first.json()["languages"] == ["kk"]
    # Once its report named the languages it shows, each goes out.
    await api.post(f"/api/v1/stations/{STATION}/commands/get_base_report", json={"report": "FullInventory"})

    async def languages_known():
        configuration = (await api.get(f"/api/v1/stations/{STATION}/configuration")).json()["values"]
        return configuration.get("DisplayMessageCtrlr.Language#valuesList")

    assert await eventually(languages_known) == "kk,ru,en"
    replaced = await api.put(f"/api/v1/stations/{STATION}/display-messages/{first.json()['group_id']}",
                             json={"texts": texts, "priority": "AlwaysFront"})
    assert replaced.json()["languages"] == ["kk", "ru", "en"]
    display = charger.settings.management.display
    assert sorted(m["message"]["language"] for m in display.messages.values()) == ["en", "kk", "ru"]
    assert display.showing("ru") == ["Бесплатная зарядка"]

    report = await api.post(f"/api/v1/stations/{STATION}/display-messages/report", json={})
    assert report.status_code == 202
    cleared = await api.delete(f"/api/v1/stations/{STATION}/display-messages/{first.json()['group_id']}")
    assert [c["status"] for c in cleared.json()["cleared"]] == ["Accepted"] * 3
    assert display.messages == {}


async def test_l03_l04_simulated_local_controller_publishes_firmware(api, charger):
    response = await api.post(f"/api/v1/stations/{STATION}/firmware-publications",
                              json={"location": "https://fw.example/ac22-1.1.bin", "checksum": CHECKSUM})
    assert response.status_code == 201, response.text

    async def published():
        (row,) = (await api.get(f"/api/v1/stations/{STATION}/firmware-publications")).json()
        return row if row["status"] == "Published" else None

    row = await eventually(published)
    assert row["published_locations"] == [f"http://kz-sim-201.local/firmware/{CHECKSUM}.bin"]
    gone = await api.delete(f"/api/v1/stations/{STATION}/firmware-publications/{CHECKSUM}")
    assert gone.json()["status"] == "Unpublished"


async def test_k11_e14_simulated_ems_limit_and_transaction_status(api, charger):
    await charger.plug_in_and_charge((1, 1), "APP-1", energy_kwh=Decimal(50))
    await charger.external_limit(1, Decimal(8), source="EMS")

    async def limited():
        return (await api.get(f"/api/v1/stations/{STATION}/charging-limits")).json()

    (limit,) = await eventually(limited)
    assert (limit["evse_id"], limit["source"], limit["schedules"][0]["chargingSchedulePeriod"][0]["limit"]) == (
        1, "EMS", 8.0)
    assert [i.profile.purpose.value for i in charger.profiles.installed if i.evse_id == 1] == [
        "ChargingStationExternalConstraints"]
    await charger.external_limit(1, None, source="EMS")

    async def lifted():
        return (await api.get(f"/api/v1/stations/{STATION}/charging-limits")).json() == []

    assert await eventually(lifted)
    tx_id = (await api.get(f"/api/v1/transactions?station_id={STATION}&state=Active")).json()[0]["id"]
    checked = await api.post(f"/api/v1/transactions/{tx_id}/status-check")
    assert checked.json() == {"transaction_id": tx_id, "messages_in_queue": False, "ongoing": True}


async def test_n08_simulated_charger_sends_periodic_events(api, charger):
    response = await api.post(f"/api/v1/stations/{STATION}/monitors", json={"monitors": [
        {"component": "ChargingStation", "variable": "Power", "type": "Periodic", "value": "1", "severity": 8}]})
    assert response.json()["status"] == "Accepted"
    monitor_id = response.json()["results"][0]["id"]

    async def two_periodic():
        found = [e for e in await events(api) if e["variable_monitoring_id"] == monitor_id]
        return found if len(found) >= 2 else None

    found = await eventually(two_periodic, timeout=15)
    assert {(e["trigger"], e["severity_name"], e["actual_value"]) for e in found} == {("Periodic", "Informational", "0")}
    cleared = await api.delete(f"/api/v1/stations/{STATION}/monitors/{monitor_id}")
    assert cleared.json()["status"] == "Accepted"


@pytest.mark.settings(cost_update_every=0.05)
async def test_i01_i04_i05_simulated_charger_shows_the_drivers_tariff_and_its_fallbacks(api, charger):
    from tests.e2e.test_billing import STANDARD, publish

    assert (await publish(api, "KZ-STD", STANDARD)).status_code == 201
    screen = charger.settings.management.tariffs

    async def fallback_written():
        return screen.fallback

    # I04/I05: asked whether it shows tariffs (it does, in Kazakh), then given its fallbacks.
    assert await eventually(fallback_written) == (
        "Тариф: 92,80 KZT/кВт·сағ, сеанс үшін 232,00 KZT, тұрақ 696,00 KZT/сағ (ҚҚС-пен)")
    assert screen.total_cost_fallback == "Зарядтаудың жалпы құны сіздің чегіңізде болады."
    assert screen.tariff(id_token="APP-1") == screen.fallback  # nobody identified yet

    # I01: the driver who identifies sees their own tariff, through the session.
    transaction_id = await charger.plug_in_and_charge((1, 1), "APP-1", energy_kwh=Decimal(50))
    mine = "Сіздің тарифіңіз: 92,80 KZT/кВт·сағ, сеанс үшін 232,00 KZT, тұрақ 696,00 KZT/сағ (ҚҚС-пен)"
    assert screen.tariff(id_token="APP-1") == mine
    assert screen.tariff(transaction_id=transaction_id) == mine

    # I02: the cost so far, from the CSMS's replies and CostUpdated, replaces the fallback text.
    async def costed():
        return screen.total_cost.get(transaction_id, 0) > 0

    assert await eventually(costed)
    assert screen.cost(transaction_id) == str(screen.total_cost[transaction_id])
    await charger.stop_charging((1, 1))
