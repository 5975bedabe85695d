"""The operator's charging-profile routes end to end (OCPP 2.0.1 K04, K08-K10; 1.6 Smart
Charging SetChargingProfile, GetCompositeSchedule, ClearChargingProfile): the demo's simulated
charger of each version keeps, reports, combines and clears what the routes send, and the
station's own composite schedule is compared with silkcharge's (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import random
from contextlib import asynccontextmanager
from decimal import Decimal

import pytest
from sqlalchemy import select

from silkcharge.sim.charger import SimulatedCharger
from silkcharge.smart.profiles import ChargingProfilePurpose
from silkcharge.store.schema import ReportedChargingProfiles
from tests.e2e.network import add_token, register_station
from tests.e2e.peers import connected_peer, eventually
from tests.e2e.test_ocpp16 import boot as boot16
from tests.e2e.test_ocpp201 import boot as boot201
from tests.e2e.test_smart_charging import spec
from tests.guards import HANG_GUARD

VERSIONS = pytest.mark.parametrize("version", ["1.6", "2.0.1", "2.1"])


@asynccontextmanager
async def simulated(ocpp_url: str, station: str, version: str, *, meter_interval: float = 0.2):
    """The simulator's two-EVSE charger `station` (tests/e2e/test_smart_charging.py `spec`), booted."""
    charger = SimulatedCharger(spec(station, version), ocpp_url, meter_interval=meter_interval, reconnect_delay=0.1,
                               heartbeat_fallback=30, rng=random.Random(3))
    task = asyncio.create_task(charger.run())
    try:
        await asyncio.wait_for(charger.booted.wait(), HANG_GUARD)
        yield charger
    finally:
        await charger.stop()
        await asyncio.gather(task, return_exceptions=True)


def relative(profile_id: int, purpose: str, amps: str, stack_level: int = 0) -> dict:
    return {"id": profile_id, "stack_level": stack_level, "purpose": purpose, "kind": "Relative",
            "schedule": {"rate_unit": "A", "periods": [{"start_period": 0, "limit": amps}]}}


async def post_profile(api, station: str, evse: int, profile: dict) -> dict:
    response = await api.post(f"/api/v1/smart/stations/{station}/profiles", json={"evse_id": evse, "profile": profile})
    assert response.status_code == 201, response.text
    return response.json()


async def composite(api, station: str, evse: int) -> dict:
    response = await api.get(f"/api/v1/smart/stations/{station}/composite?evse_id={evse}&duration=900")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "Accepted", body
    assert body["agree"], body["differences"]  # the station combines its profiles as silkcharge does
    return body


def first_limit(body: dict) -> Decimal:
    return Decimal(body["station"]["periods"][0]["limit"])


async def clear(api, station: str, **criteria) -> str:
    response = await api.delete(f"/api/v1/smart/stations/{station}/profiles", params=criteria)
    assert response.status_code == 200, response.text
    return response.json()["status"]


async def installed_ids(api, station: str) -> list[int]:
    body = (await api.get(f"/api/v1/smart/stations/{station}/profiles")).json()
    return sorted(row["profile"]["id"] for row in body["installed"])


def at_station(charger: SimulatedCharger) -> list[tuple[int, int]]:
    return sorted((item.evse_id, item.profile.id) for item in charger.profiles.installed)


@VERSIONS
async def test_k04_k08_k10_station_maximum_composite_and_clear_through_the_routes(api, ocpp_url, version):
    station = f"K08-{version}"
    await register_station(api, station)
    async with simulated(ocpp_url, station, version) as charger:
        # K04: the station's maximum (1.6 ChargePointMaxProfile) on EVSE 0, then two defaults.
        assert (await post_profile(api, station, 0, relative(1, "ChargingStationMaxProfile", "20")))["status"] == "Accepted"
        if version == "1.6":
            assert charger.profiles.installed[0].profile.purpose is ChargingProfilePurpose.CHARGING_STATION_MAX
        assert (await post_profile(api, station, 1, relative(2, "TxDefaultProfile", "16")))["status"] == "Accepted"
        assert (await post_profile(api, station, 1, relative(3, "TxDefaultProfile", "10", 1)))["status"] == "Accepted"
        assert at_station(charger) == [(0, 1), (1, 2), (1, 3)]
        assert await installed_ids(api, station) == [1, 2, 3]

        # K08: the highest stack level of the default wins on EVSE 1; EVSE 0 shows the maximum.
        assert first_limit(await composite(api, station, 1)) == 10
        assert first_limit(await composite(api, station, 0)) == 20

        # K10 by id: the stack level 1 default goes, level 0 applies again.
        assert await clear(api, station, profile_id=3) == "Accepted"
        assert at_station(charger) == [(0, 1), (1, 2)]
        assert await installed_ids(api, station) == [1, 2]
        assert first_limit(await composite(api, station, 1)) == 16

        # K10 by EVSE, purpose and stack level: the station maximum alone limits EVSE 1.
        assert await clear(api, station, evse_id=1, purpose="TxDefaultProfile", stack_level=0) == "Accepted"
        assert at_station(charger) == [(0, 1)]
        assert first_limit(await composite(api, station, 1)) == 20

        # K10 by purpose alone: nothing limits the station any more; its rating shows.
        assert await clear(api, station, purpose="ChargingStationMaxProfile") == "Accepted"
        assert at_station(charger) == [] and await installed_ids(api, station) == []
        rating = first_limit(await composite(api, station, 1))
        assert rating > 20
        # Nothing left to clear: the station says so, and silkcharge keeps nothing it did not have.
        assert await clear(api, station, profile_id=1) == "Unknown"


async def test_k09_get_charging_profiles_reports_are_kept_and_shown(api, platform, ocpp_url):
    station = "K09-2.0.1"
    await register_station(api, station)
    await add_token(api, "APP-1")
    async with simulated(ocpp_url, station, "2.0.1"):
        await post_profile(api, station, 0, relative(1, "ChargingStationMaxProfile", "24"))
        await post_profile(api, station, 1, relative(2, "TxDefaultProfile", "16"))
        await post_profile(api, station, 2, relative(3, "TxDefaultProfile", "12"))

        asked = await api.post(f"/api/v1/smart/stations/{station}/profiles/report", json={})
        assert asked.status_code == 200, asked.text
        assert asked.json()["status"] == "Accepted"
        request_id = asked.json()["request_id"]

        async def parts():
            reported = (await api.get(f"/api/v1/smart/stations/{station}/profiles")).json()["reported"]
            mine = [r for r in reported if r["request_id"] == request_id]
            return mine if mine and not mine[-1]["tbc"] else None

        reported = await eventually(parts)
        assert [(r["evse_id"], [p["id"] for p in r["profiles"]], r["limit_source"]) for r in reported] == [
            (0, [1], "CSO"), (1, [2], "CSO"), (2, [3], "CSO")]

        # A narrower question, with a new request id: only the defaults of EVSE 2.
        narrow = await api.post(f"/api/v1/smart/stations/{station}/profiles/report",
                                json={"evse_id": 2, "purpose": "TxDefaultProfile"})
        assert narrow.json()["request_id"] != request_id
        request_id = narrow.json()["request_id"]
        (part,) = await eventually(parts)
        assert (part["evse_id"], [p["id"] for p in part["profiles"]]) == (2, [3])

        # Nothing matches: the station answers NoProfiles and reports nothing.
        none = await api.post(f"/api/v1/smart/stations/{station}/profiles/report",
                              json={"purpose": "TxProfile"})
        assert none.json()["status"] == "NoProfiles"

    # The reports are stored, so they survive a restart (and show on the console).
    async with platform.sessions() as session:
        rows = (await session.scalars(select(ReportedChargingProfiles))).all()
    assert sorted((r.station_id, r.evse_id) for r in rows) == [(station, 0), (station, 1), (station, 2), (station, 2)]


async def test_k09_ocpp16_has_no_get_charging_profiles(api, ocpp_url):
    await register_station(api, "K09-1.6")
    async with connected_peer(ocpp_url, "K09-1.6", "1.6") as peer:
        await boot16(peer)
        response = await api.post("/api/v1/smart/stations/K09-1.6/profiles/report", json={})
        assert response.status_code == 422
        assert "no equivalent" in response.json()["detail"] or "1.6" in response.json()["detail"]


@VERSIONS
async def test_k10_clear_charging_profile_goes_out_as_each_version_spells_it(api, ocpp_url, version):
    """What the charger receives for each way of naming profiles to clear."""
    station = f"K10-{version}"
    await register_station(api, station)
    async with connected_peer(ocpp_url, station, version) as peer:
        await (boot16 if version == "1.6" else boot201)(peer)
        assert await clear(api, station, profile_id=3) == "Accepted"
        assert await clear(api, station, evse_id=1, purpose="TxDefaultProfile", stack_level=0) == "Accepted"
        assert await clear(api, station, purpose="ChargingStationMaxProfile") == "Accepted"
        sent = [p for a, p in peer.received if a == "ClearChargingProfile"]
        if version == "1.6":
            assert sent == [
                {"id": 3},
                {"connector_id": 1, "charging_profile_purpose": "TxDefaultProfile", "stack_level": 0},
                {"charging_profile_purpose": "ChargePointMaxProfile"},
            ]
            refused = await api.delete(f"/api/v1/smart/stations/{station}/profiles",
                                       params={"purpose": "ChargingStationExternalConstraints"})
            assert refused.status_code == 422 and "1.6" in refused.json()["detail"]
        else:
            assert sent == [
                {"charging_profile_id": 3},
                {"charging_profile_criteria": {"evse_id": 1, "charging_profile_purpose": "TxDefaultProfile",
                                               "stack_level": 0}},
                {"charging_profile_criteria": {"charging_profile_purpose": "ChargingStationMaxProfile"}},
            ]
        bad = await api.delete(f"/api/v1/smart/stations/{station}/profiles", params={"purpose": "Everything"})
        assert bad.status_code == 422
        assert len([a for a, _ in peer.received if a == "ClearChargingProfile"]) == 3


FAST = pytest.mark.settings(smart_rebalance_delay=0.05, smart_check_every=0.5)


@FAST
async def test_k03_k14_local_controller_takes_profiles_and_its_limit_holds_for_its_stations(api, ocpp_url):
    from ocpp.v201 import call

    from tests.e2e.device_peers import device_peer
    from tests.e2e.test_smart_remote_start import start_transaction, tx_limits

    controller, first, second = "LC-1", "LC-1-A", "LC-1-B"
    for station in (controller, first, second):
        await register_station(api, station, connectors=1)
    await add_token(api, "APP-1")
    await add_token(api, "APP-2")
    assert (await api.put("/api/v1/smart/sites/ALA-TEST", json={"grid_limit_a": "63"})).status_code == 200
    assert (await api.put("/api/v1/smart/sites/ALA-TEST/circuits/cabinet", json={"limit_a": "63"})).status_code == 200
    for station in (first, second):
        response = await api.put(f"/api/v1/smart/stations/{station}/evses/1",
                                 json={"circuit": "cabinet", "max_current_a": "32"})
        assert response.status_code == 200, response.text
    behind = await api.put(f"/api/v1/smart/local-controllers/{controller}", json={"stations": [second, first]})
    assert behind.json() == {"controller_id": controller, "stations": [first, second]}
    assert (await api.get(f"/api/v1/smart/local-controllers/{controller}")).json() == {
        "controller_id": controller, "stations": [first, second], "behind": None}
    assert (await api.get(f"/api/v1/smart/local-controllers/{first}")).json() == {
        "controller_id": first, "stations": [], "behind": controller}
    assert (await api.put(f"/api/v1/smart/local-controllers/{controller}",
                          json={"stations": [controller]})).status_code == 409
    assert (await api.put(f"/api/v1/smart/local-controllers/{controller}",
                          json={"stations": ["NOPE"]})).status_code == 404

    async with device_peer(ocpp_url, controller) as lc, device_peer(ocpp_url, first) as a, \
            device_peer(ocpp_url, second) as b:
        for peer in (lc, a, b):
            await boot201(peer)
        # K03: the group's limit goes to the controller as its station maximum.
        sent = await post_profile(api, controller, 0, relative(1, "ChargingStationMaxProfile", "40"))
        assert sent["status"] == "Accepted"
        (received,) = [p for act, p in lc.received if act == "SetChargingProfile"]
        assert (received["evse_id"], received["charging_profile"]["charging_profile_purpose"]) == (
            0, "ChargingStationMaxProfile")

        await start_transaction(a, "2.0.1", 1, "APP-1")
        await start_transaction(b, "2.0.1", 1, "APP-2")

        async def limits(wanted: float):
            async def check():
                return tx_limits(a, 1)[-1:] == [wanted] and tx_limits(b, 1)[-1:] == [wanted]
            return check

        await eventually(await limits(20.0))  # the controller's 40 A maximum holds for both
        # K14: the EMS behind the controller limits the group to 20 A; both stations share it.
        await lc.call(call.NotifyChargingLimit(
            charging_limit={"charging_limit_source": "EMS", "is_grid_critical": True},
            charging_schedule=[{"id": 1, "charging_rate_unit": "A",
                                "charging_schedule_period": [{"start_period": 0, "limit": 20}]}]))
        (stored,) = (await api.get(f"/api/v1/stations/{controller}/charging-limits")).json()
        assert (stored["evse_id"], stored["source"]) == (0, "EMS")
        await eventually(await limits(10.0))
        await lc.call(call.ClearedChargingLimit(charging_limit_source="EMS"))
        await eventually(await limits(20.0))
        # Without the controller's maximum, the 63 A cabinet is shared by two cars of 32 A at most.
        assert await clear(api, controller, purpose="ChargingStationMaxProfile") == "Accepted"
        await eventually(await limits(31.5))
