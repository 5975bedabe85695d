"""Remote start with a charging profile (OCPP 2.0.1 K05, 1.6 test case TC_059): the operator's
TxProfile, or load management's share on a managed EVSE, goes out in RemoteStartTransaction /
RequestStartTransaction; what the charger received is checked at the `ocpp` package charger,
and the demo's simulated charger charges within it (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import random
from decimal import Decimal

import pytest
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201
from sqlalchemy import select

from silkcharge.domain.clock import to_ocpp, utcnow
from silkcharge.sim.charger import SimulatedCharger
from silkcharge.store.schema import MeterSample, Transaction
from tests.e2e.device_peers import device_peer
from tests.e2e.network import add_token, register_station
from tests.e2e.peers import connected_peer, eventually
from tests.e2e.test_ocpp16 import boot as boot16
from tests.e2e.test_ocpp201 import boot as boot201
from tests.e2e.test_smart_charging import spec
from tests.guards import HANG_GUARD

VERSIONS = pytest.mark.parametrize("version", ["1.6", "2.0.1", "2.1"])
FAST = pytest.mark.settings(smart_rebalance_delay=0.05, smart_check_every=0.5)


def tx_profile(**extra) -> dict:
    """A TxProfile as the operator gives it: 16 A, then 10.5 A after ten minutes, for an hour."""
    return {
        "id": 7, "stack_level": 2, "purpose": "TxProfile", "kind": "Relative",
        "schedule": {"rate_unit": "A", "duration": 3600, "periods": [
            {"start_period": 0, "limit": "16"}, {"start_period": 600, "limit": "10.5"}]},
        **extra,
    }


async def peer_for(ocpp_url: str, station_id: str, version: str):
    if version == "1.6":
        return connected_peer(ocpp_url, station_id, "1.6")
    return device_peer(ocpp_url, station_id)


async def boot(peer, version: str) -> None:
    await (boot16 if version == "1.6" else boot201)(peer)


def received_start(peer, version: str) -> list[dict]:
    action = "RemoteStartTransaction" if version == "1.6" else "RequestStartTransaction"
    return [p for a, p in peer.received if a == action]


async def start_transaction(peer, version: str, evse: int, token: str, remote_start_id: int | None = None) -> str:
    """The charger starts the transaction the remote start asked for; its id as the station knows it."""
    if version == "1.6":
        reply = await peer.call(call16.StartTransaction(
            connector_id=evse, id_tag=token, meter_start=0, timestamp=to_ocpp(utcnow())))
        return str(reply.transaction_id)
    tx = f"tx-{evse}"
    await peer.call(call201.TransactionEvent(
        event_type="Started", timestamp=to_ocpp(utcnow()), trigger_reason="RemoteStart", seq_no=0,
        transaction_info={"transaction_id": tx, "charging_state": "Charging", "remote_start_id": remote_start_id},
        id_token={"id_token": token, "type": "ISO14443"}, evse={"id": evse, "connector_id": 1}))
    return tx


@VERSIONS
async def test_k05_remote_start_carries_the_operators_tx_profile_to_the_charger(api, ocpp_url, version):
    station = f"K05-{version}"
    await register_station(api, station)
    await add_token(api, "APP-1")
    async with await peer_for(ocpp_url, station, version) as peer:
        await boot(peer, version)
        response = await api.post(f"/api/v1/stations/{station}/commands/remote_start", json={
            "id_token": "APP-1", "evse_id": 1, "charging_profile": tx_profile()})
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "Accepted"
        (sent,) = received_start(peer, version)
        profile = sent["charging_profile"]
        assert "transaction_id" not in profile
        assert (profile["charging_profile_purpose"], profile["charging_profile_kind"], profile["stack_level"]) == (
            "TxProfile", "Relative", 2)
        if version == "1.6":
            assert (sent["id_tag"], sent["connector_id"], profile["charging_profile_id"]) == ("APP-1", 1, 7)
            schedule = profile["charging_schedule"]
        else:
            assert (sent["id_token"]["id_token"], sent["evse_id"], profile["id"]) == ("APP-1", 1, 7)
            (schedule,) = profile["charging_schedule"]
        assert (schedule["charging_rate_unit"], schedule["duration"]) == ("A", 3600)
        assert schedule["charging_schedule_period"] == [
            {"start_period": 0, "limit": 16}, {"start_period": 600, "limit": 10.5}]

        # Once the transaction starts, silkcharge keeps the profile as that transaction's.
        tx = await start_transaction(peer, version, 1, "APP-1", sent.get("remote_start_id"))

        async def recorded():
            installed = (await api.get(f"/api/v1/smart/stations/{station}/profiles")).json()["installed"]
            return installed or None

        (row,) = await eventually(recorded)
        assert (row["evse_id"], row["source"], row["profile"]["id"]) == (1, "operator", 7)
        assert row["profile"]["transaction_id"] == tx


async def test_k05_a_remote_start_profile_that_breaks_the_rules_is_refused_with_the_reason(api, ocpp_url):
    station = "K05-BAD"
    await register_station(api, station)
    await add_token(api, "APP-1")
    cases = {
        "a remote start carries a TxProfile, not a TxDefaultProfile": tx_profile(purpose="TxDefaultProfile"),
        "has no transaction_id": tx_profile(transaction_id="42"),
        "finite number": tx_profile(schedule={"periods": [{"start_period": 0, "limit": "Infinity"}]}),
        "greater than or equal to 0": tx_profile(schedule={"periods": [{"start_period": 0, "limit": "-1"}]}),
        "less than or equal to 1000000000": tx_profile(schedule={"periods": [{"start_period": 0, "limit": "1e999"}]}),
        "not in ascending order": tx_profile(schedule={"periods": [
            {"start_period": 0, "limit": "16"}, {"start_period": 900, "limit": "10"},
            {"start_period": 600, "limit": "8"}]}),
        "the first period must start at 0": tx_profile(schedule={"periods": [{"start_period": 60, "limit": "16"}]}),
        "an Absolute profile needs startSchedule": tx_profile(kind="Absolute"),
    }
    async with connected_peer(ocpp_url, station, "1.6") as peer:
        await boot16(peer)
        for reason, profile in cases.items():
            response = await api.post(f"/api/v1/stations/{station}/commands/remote_start", json={
                "id_token": "APP-1", "evse_id": 1, "charging_profile": profile})
            assert response.status_code == 422, (reason, response.text)
            assert reason in response.json()["detail"], (reason, response.json())
        assert received_start(peer, "1.6") == []


async def managed_site(api, station: str) -> None:
    assert (await api.put("/api/v1/smart/sites/ALA-TEST", json={"grid_limit_a": "40"})).status_code == 200
    assert (await api.put("/api/v1/smart/sites/ALA-TEST/circuits/cabinet", json={"limit_a": "32"})).status_code == 200
    for evse in (1, 2):
        response = await api.put(f"/api/v1/smart/stations/{station}/evses/{evse}",
                                 json={"circuit": "cabinet", "max_current_a": "32"})
        assert response.status_code == 200, response.text


def tx_limits(peer, evse: int) -> list[float]:
    """The limits of the TxProfiles a charger was sent for an EVSE, in order."""
    out = []
    for action, p in peer.received:
        if action != "SetChargingProfile":
            continue
        if "cs_charging_profiles" in p:  # 1.6
            profile, where = p["cs_charging_profiles"], p["connector_id"]
            schedule = profile["charging_schedule"]
        else:
            profile, where = p["charging_profile"], p["evse_id"]
            schedule = profile["charging_schedule"][0]
        if where == evse and profile["charging_profile_purpose"] == "TxProfile":
            out.append(schedule["charging_schedule_period"][0]["limit"])
    return out


@VERSIONS
@FAST
async def test_k05_remote_start_on_a_managed_evse_carries_the_share_it_can_have_at_once(api, ocpp_url, version):
    station = f"K05-LM-{version}"
    await register_station(api, station)
    await add_token(api, "APP-1")
    await add_token(api, "APP-2")
    await managed_site(api, station)
    async with await peer_for(ocpp_url, station, version) as peer:
        await boot(peer, version)
        # Nothing charges on the 32 A cabinet: the first car may have all of it from the start.
        response = await api.post(f"/api/v1/stations/{station}/commands/remote_start",
                                  json={"id_token": "APP-1", "evse_id": 1})
        assert response.status_code == 200, response.text
        assert response.json()["details"]["profile_source"] == "load"
        (first,) = received_start(peer, version)
        profile = first["charging_profile"]
        schedule = profile["charging_schedule"] if version == "1.6" else profile["charging_schedule"][0]
        assert profile["charging_profile_purpose"] == "TxProfile" and "transaction_id" not in profile
        assert schedule["charging_schedule_period"] == [{"start_period": 0, "limit": 32}]
        await start_transaction(peer, version, 1, "APP-1", first.get("remote_start_id"))

        async def share_sent():
            return tx_limits(peer, 1) == [32]

        await eventually(share_sent)
        # The cabinet is taken until the next re-balance lowers the first car: the second start
        # carries no profile, so the station keeps its 0 A default until its share arrives.
        response = await api.post(f"/api/v1/stations/{station}/commands/remote_start",
                                  json={"id_token": "APP-2", "evse_id": 2})
        assert response.status_code == 200, response.text
        second = received_start(peer, version)[1]
        assert "charging_profile" not in second
        assert "profile_source" not in response.json()["details"]
        await start_transaction(peer, version, 2, "APP-2", second.get("remote_start_id"))

        async def shared():
            return tx_limits(peer, 1)[-1:] == [16] and tx_limits(peer, 2)[-1:] == [16]

        await eventually(shared)


@VERSIONS
@FAST
async def test_k05_simulated_charger_charges_within_the_remote_start_profile(api, platform, ocpp_url, version):
    station = f"K05-SIM-{version}"
    await register_station(api, station)
    await add_token(api, "APP-1")
    charger = SimulatedCharger(spec(station, version), ocpp_url, meter_interval=0.2, reconnect_delay=0.1,
                               heartbeat_fallback=30, rng=random.Random(5))
    task = asyncio.create_task(charger.run())
    try:
        await asyncio.wait_for(charger.booted.wait(), HANG_GUARD)
        profile = tx_profile(schedule={"rate_unit": "A", "periods": [{"start_period": 0, "limit": "10"}]})
        response = await api.post(f"/api/v1/stations/{station}/commands/remote_start", json={
            "id_token": "APP-1", "evse_id": 1, "charging_profile": profile})
        assert response.json()["status"] == "Accepted", response.text

        async def charging():
            async with platform.sessions() as session:
                return await session.scalar(select(Transaction).where(Transaction.station_id == station))

        tx = await eventually(charging)
        charger.connector(1).meter.ev.max_power_w = Decimal(22000)  # a car that takes all it is given

        # The station's own composite schedule agrees with silkcharge's: 10 A for the transaction.
        async def composite():
            body = (await api.get(f"/api/v1/smart/stations/{station}/composite?evse_id=1&duration=600")).json()
            return body if body["agree"] else None

        body = await eventually(composite)
        assert body["status"] == "Accepted", body
        assert [Decimal(p["limit"]) for p in body["station"]["periods"]] == [10]

        async def sampled():
            async with platform.sessions() as session:
                return (await session.scalars(select(MeterSample.value).where(
                    MeterSample.transaction_id == tx.id, MeterSample.measurand == "Current.Import"))).all()

        currents = await eventually(lambda: _at_least(sampled, 3))
        assert 0 < max(currents) <= 10
    finally:
        await charger.stop()
        await asyncio.gather(task, return_exceptions=True)


async def _at_least(fetch, count: int):
    values = await fetch()
    return values if len(values) >= count else None
