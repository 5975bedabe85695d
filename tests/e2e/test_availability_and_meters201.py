"""OCPP 2.0.1 availability of the whole station (G04), a lock failure (G05) and meter values
outside a transaction (J01), with an `ocpp` package station and with the demo's simulator."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta
from decimal import Decimal

import pytest
from ocpp.v201 import call
from sqlalchemy import text

from silkcharge.domain.clock import to_ocpp, utcnow
from silkcharge.domain.connectors import ConnectorStandard
from silkcharge.sim.charger import SimulatedCharger
from silkcharge.sim.spec import ConnectorSpec, StationSpec
from tests.e2e.network import PASSWORD, add_token, register_station
from tests.e2e.peers import connected_peer, eventually
from tests.e2e.test_ocpp201 import boot
from tests.guards import HANG_GUARD

STATION = "TAS-201-AVAIL"
SIMULATED = "KZ-SIM-AVAIL"


@pytest.fixture
async def charger(api, ocpp_url):
    await register_station(api, SIMULATED)
    await add_token(api, "APP-1")
    spec = StationSpec(SIMULATED, PASSWORD, "2.0.1", "SilkSim", "AC-22", "1.0",
                       (ConnectorSpec(1, 1, ConnectorStandard.TYPE2, Decimal(22)),
                        ConnectorSpec(2, 1, ConnectorStandard.TYPE2, Decimal(22))))
    simulated = SimulatedCharger(spec, ocpp_url, meter_interval=0.2, reconnect_delay=0.1, step_delay=0.02,
                                 heartbeat_fallback=30, rng=random.Random(5))
    task = asyncio.create_task(simulated.run())
    await asyncio.wait_for(simulated.booted.wait(), HANG_GUARD)
    yield simulated
    await simulated.stop()
    await task


async def statuses(api, station_id: str) -> list[str]:
    return [c["status"] for c in (await api.get(f"/api/v1/stations/{station_id}/connectors")).json()]


async def test_g04_change_availability_of_the_whole_station_names_no_evse(api, ocpp_url):
    await register_station(api, STATION)
    async with connected_peer(ocpp_url, STATION, "2.0.1") as peer:
        await boot(peer)
        reply = await api.post(f"/api/v1/stations/{STATION}/commands/change_availability",
                               json={"operative": False, "evse_id": 0})
        assert reply.json()["status"] == "Accepted", reply.text
        asked = dict(peer.received)["ChangeAvailability"]
    assert asked == {"operational_status": "Inoperative"}  # G04.FR.01: no evse, the whole station


async def test_g04_simulated_charger_takes_every_connector_out_of_service_and_back(api, charger):
    reply = await api.post(f"/api/v1/stations/{SIMULATED}/commands/change_availability",
                           json={"operative": False, "evse_id": 0})
    assert reply.json()["status"] == "Accepted", reply.text

    async def unavailable():
        return await statuses(api, SIMULATED) == ["Unavailable", "Unavailable"]

    await eventually(unavailable)
    reply = await api.post(f"/api/v1/stations/{SIMULATED}/commands/change_availability",
                           json={"operative": True, "evse_id": 0})
    assert reply.json()["status"] == "Accepted"

    async def available():
        return await statuses(api, SIMULATED) == ["Available", "Available"]

    await eventually(available)


async def test_g05_lock_failure_reported_with_notify_event_faults_the_connector(api, ocpp_url):
    await register_station(api, STATION)
    async with connected_peer(ocpp_url, STATION, "2.0.1") as peer:
        await boot(peer)
        await peer.call(call.NotifyEvent(generated_at=to_ocpp(utcnow()), seq_no=0, event_data=[{
            "event_id": 7, "timestamp": to_ocpp(utcnow()), "trigger": "Delta", "actual_value": "true",
            "event_notification_type": "HardWiredNotification",
            "component": {"name": "ConnectorPlugRetentionLock", "evse": {"id": 2, "connector_id": 1}},
            "variable": {"name": "Problem"},
        }]))
    connectors = (await api.get(f"/api/v1/stations/{STATION}/connectors")).json()
    assert (connectors[1]["status"], connectors[1]["error_code"]) == ("Faulted", "ConnectorPlugRetentionLock")
    assert connectors[0]["status"] != "Faulted"
    (event,) = (await api.get(f"/api/v1/stations/{STATION}/device-events")).json()
    assert (event["component"], event["variable"], event["evse_id"]) == ("ConnectorPlugRetentionLock", "Problem", 2)
    # The alerts page lists the faulted connector and says what the code means, in every language.
    explained = (await api.get("/api/v1/console/error-codes")).json()["codes"]["ConnectorPlugRetentionLock"]
    assert "locking mechanism" in explained["meaning"] and set(explained["i18n"]) == {"ru", "kk", "ky", "uz", "tg", "zh"}


async def test_g05_simulated_charger_reports_a_failed_lock_on_its_retention_lock(api, charger):
    await charger.set_fault((2, 1), "ConnectorLockFailure")

    async def reported():
        return [e for e in (await api.get(f"/api/v1/stations/{SIMULATED}/device-events")).json()
                if e["component"] == "ConnectorPlugRetentionLock"]

    (event,) = await eventually(reported)
    assert (event["variable"], event["actual_value"], event["tech_code"]) == ("Problem", "true", "ConnectorLockFailure")
    assert (await statuses(api, SIMULATED))[1] == "Faulted"


def sample(wh: int, at, context: str = "Sample.Clock") -> dict:
    return {"timestamp": to_ocpp(at), "sampled_value": [
        {"value": wh, "measurand": "Energy.Active.Import.Register", "context": context,
         "unit_of_measure": {"unit": "Wh"}}]}


async def test_j01_meter_values_outside_a_transaction_are_listed_by_station_and_evse_newest_first(api, ocpp_url):
    await register_station(api, STATION)
    await add_token(api, "APP-77")
    t0 = utcnow() - timedelta(minutes=10)
    async with connected_peer(ocpp_url, STATION, "2.0.1") as peer:
        await boot(peer)
        await peer.call(call.MeterValues(evse_id=0, meter_value=[sample(500_000, t0)]))
        await peer.call(call.MeterValues(evse_id=1, meter_value=[sample(1_000, t0 + timedelta(minutes=1))]))
        await peer.call(call.MeterValues(evse_id=0, meter_value=[sample(500_400, t0 + timedelta(minutes=2))]))
        await peer.call(call.TransactionEvent(  # a session's sample is the transaction's, not listed
            event_type="Started", timestamp=to_ocpp(utcnow()), trigger_reason="Authorized", seq_no=0,
            transaction_info={"transaction_id": "j01-tx"}, evse={"id": 2, "connector_id": 1},
            id_token={"id_token": "APP-77", "type": "Central"}, meter_value=[sample(42, utcnow(), "Transaction.Begin")],
        ))
    listed = (await api.get(f"/api/v1/stations/{STATION}/meter-values")).json()
    assert [(v["evse_id"], Decimal(str(v["value"]))) for v in listed] == [(0, 500_400), (1, 1_000), (0, 500_000)]
    assert listed[0]["measurand"] == "Energy.Active.Import.Register" and listed[0]["context"] == "Sample.Clock"
    main_meter = (await api.get(f"/api/v1/stations/{STATION}/meter-values?evse_id=0&limit=1")).json()
    assert [Decimal(str(v["value"])) for v in main_meter] == [500_400]
    older = (await api.get(f"/api/v1/stations/{STATION}/meter-values?evse_id=0&before={main_meter[0]['id']}")).json()
    assert [Decimal(str(v["value"])) for v in older] == [500_000]
    assert (await api.get(f"/api/v1/stations/{STATION}/meter-values?limit=1001")).status_code == 422
    assert (await api.get("/api/v1/stations/NO-SUCH/meter-values")).status_code == 404


async def test_j01_simulated_charger_sends_meter_values_when_asked_outside_a_transaction(api, charger):
    reply = await api.post(f"/api/v1/stations/{SIMULATED}/commands/trigger_message",
                           json={"message": "MeterValues", "evse_id": 2})
    assert reply.json()["status"] == "Accepted", reply.text

    async def listed():
        return (await api.get(f"/api/v1/stations/{SIMULATED}/meter-values?evse_id=2")).json()

    values = await eventually(listed)
    assert {v["evse_id"] for v in values} == {2}
    assert "Energy.Active.Import.Register" in {v["measurand"] for v in values}


async def test_j01_simulated_charger_sends_clock_aligned_meter_values_while_idle_once_asked_to(api, charger):
    def aligned(seconds: str):
        return api.post(f"/api/v1/stations/{SIMULATED}/commands/set_configuration",
                        json={"key": "AlignedDataCtrlr.Interval", "value": seconds})

    assert (await aligned("1")).json()["status"] == "Accepted"

    async def clock_aligned():
        values = (await api.get(f"/api/v1/stations/{SIMULATED}/meter-values")).json()
        return {v["evse_id"] for v in values if v["context"] == "Sample.Clock"} == {1, 2} and values

    values = await eventually(clock_aligned)
    assert {v["measurand"] for v in values} == {"Energy.Active.Import.Register"}  # AlignedDataCtrlr.Measurands
    assert (await aligned("0")).json()["status"] == "Accepted"


async def test_deleting_a_station_deletes_its_readings_in_and_outside_sessions_and_no_other_stations(
        api, ocpp_url, platform):
    """The readings name their station with no foreign key (store/schema.py, MeterSample): those
    of its sessions go with the sessions, and the API deletes those taken outside any."""
    other = "TAS-201-KEPT"
    for station in (STATION, other):
        await register_station(api, station)
    await add_token(api, "APP-78")
    for station in (STATION, other):
        async with connected_peer(ocpp_url, station, "2.0.1") as peer:
            await boot(peer)
            await peer.call(call.MeterValues(evse_id=0, meter_value=[sample(500_000, utcnow())]))
            await peer.call(call.TransactionEvent(
                event_type="Started", timestamp=to_ocpp(utcnow()), trigger_reason="Authorized", seq_no=0,
                transaction_info={"transaction_id": f"{station}-tx"}, evse={"id": 1, "connector_id": 1},
                id_token={"id_token": "APP-78", "type": "Central"},
                meter_value=[sample(42, utcnow(), "Transaction.Begin")],
            ))

    async def readings() -> dict[str, tuple[int, int]]:
        async with platform.sessions() as session:
            rows = (await session.execute(text(
                "SELECT station_id, count(transaction_id), count(*) - count(transaction_id) "
                "FROM meter_samples GROUP BY station_id"))).all()
        return {station: (in_sessions, outside) for station, in_sessions, outside in rows}

    assert await readings() == {STATION: (1, 1), other: (1, 1)}
    assert (await api.delete(f"/api/v1/stations/{STATION}")).status_code == 204
    assert await readings() == {other: (1, 1)}
