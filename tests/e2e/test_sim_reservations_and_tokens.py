"""The simulator (what `make demo` runs) against the platform: it takes reservations (with a
connector type, a group, or of the whole station), keeps reserved connectors for their token,
presents tokens with their types, and honours a master pass. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import random
from decimal import Decimal

import pytest

from silkcharge.domain.connectors import ConnectorStandard
from silkcharge.sim.charger import AuthorizationRejected, SimulatedCharger
from silkcharge.sim.spec import ConnectorSpec, StationSpec
from tests.e2e.network import PASSWORD, add_token, register_station
from tests.e2e.peers import eventually
from tests.e2e.test_reservations import in_minutes
from tests.guards import HANG_GUARD

STATION = {"1.6": "ALA-SIM-RES-16", "2.0.1": "TAS-SIM-RES-201"}


def spec(version: str) -> StationSpec:
    return StationSpec(
        STATION[version], PASSWORD, version, "SilkSim", "AC-22", "1.0",
        tuple(ConnectorSpec(n, 1, ConnectorStandard.TYPE2, Decimal(22)) for n in (1, 2)),
    )


class Running:
    def __init__(self, url: str, version: str) -> None:
        self.charger = SimulatedCharger(spec(version), url, meter_interval=0.5, reconnect_delay=0.1,
                                        heartbeat_fallback=30, rng=random.Random(7))
        self.task: asyncio.Task | None = None

    async def __aenter__(self) -> SimulatedCharger:
        self.task = asyncio.create_task(self.charger.run())
        await asyncio.wait_for(self.charger.booted.wait(), HANG_GUARD)
        return self.charger

    async def __aexit__(self, *exc) -> None:
        await self.charger.stop()
        await asyncio.gather(self.task, return_exceptions=True)


async def connector_status(api, station: str, evse: int) -> str:
    connectors = (await api.get(f"/api/v1/stations/{station}/connectors")).json()
    return next(c["status"] for c in connectors if c["evse_id"] == evse)


async def test_sim_h01_holds_a_reserved_connector_with_a_connector_type_for_its_token(api, ocpp_url):
    station = STATION["2.0.1"]
    await register_station(api, station)
    await add_token(api, "DRIVER-1", type="ISO15693")
    await add_token(api, "STRANGER")
    async with Running(ocpp_url, "2.0.1") as charger:
        made = await api.post(f"/api/v1/stations/{station}/reservations", json={
            "evse_id": 1, "id_token": "DRIVER-1", "expires_at": in_minutes(30), "connectorType": "cType2"})
        assert made.status_code == 201, made.text
        await eventually(lambda: _is(api, station, 1, "Reserved"))
        with pytest.raises(AuthorizationRejected, match="Reserved"):
            await charger.plug_in_and_charge(1, "STRANGER")
        await charger.plug_in_and_charge(1, "DRIVER-1", token_type="ISO15693")
        used = await eventually(lambda: _reservation(api, made.json()["id"], "Used"))
    tx = (await api.get(f"/api/v1/transactions/{used['transaction_id']}")).json()
    assert (tx["id_token"], tx["reservation_id"]) == ("DRIVER-1", made.json()["id"])


async def _is(api, station: str, evse: int, status: str) -> bool:
    return await connector_status(api, station, evse) == status


async def _reservation(api, reservation_id: int, status: str) -> dict | None:
    found = (await api.get(f"/api/v1/reservations/{reservation_id}")).json()
    return found if found["status"] == status else None


async def test_sim_h_whole_station_reservation_used_by_a_group_member(api, ocpp_url):
    station = STATION["1.6"]
    await register_station(api, station)
    await add_token(api, "DRIVER-1")
    await add_token(api, "DYU-TAXI-7", group_id="DYU-TAXI")
    async with Running(ocpp_url, "1.6") as charger:
        made = await api.post(f"/api/v1/stations/{station}/reservations", json={
            "evse_id": 0, "id_token": "DRIVER-1", "expires_at": in_minutes(30), "group_id_token": "DYU-TAXI"})
        assert made.status_code == 201, made.text
        await charger.plug_in_and_charge(2, "DYU-TAXI-7")
        assert await eventually(lambda: _reservation(api, made.json()["id"], "Used"))


@pytest.mark.settings(reservation_check_every=0.1)
async def test_sim_h04_a_2_0_1_station_reports_its_reservation_expired(api, ocpp_url):
    station = STATION["2.0.1"]
    await register_station(api, station)
    await add_token(api, "DRIVER-1")
    async with Running(ocpp_url, "2.0.1") as charger:
        made = await api.post(f"/api/v1/stations/{station}/reservations", json={
            "evse_id": 2, "id_token": "DRIVER-1", "expires_at": in_minutes(1 / 60)})
        assert made.status_code == 201, made.text
        assert await eventually(lambda: _reservation(api, made.json()["id"], "Expired"))
        await eventually(lambda: _is(api, station, 2, "Available"))
        assert not charger.reservations.held


async def test_sim_c16_master_pass_stops_a_session_and_starts_none(api, ocpp_url):
    station = STATION["2.0.1"]
    await register_station(api, station)
    await add_token(api, "DRIVER-1")
    await add_token(api, "ATTENDANT", group_id="SITE-STAFF", type="ISO14443")
    async with Running(ocpp_url, "2.0.1") as charger:
        set_master = await api.post(f"/api/v1/stations/{station}/commands/set_configuration",
                                    json={"key": "AuthCtrlr.MasterPassGroupId", "value": "SITE-STAFF"})
        assert set_master.json()["status"] == "Accepted"
        with pytest.raises(AuthorizationRejected, match="MasterPass"):
            await charger.plug_in_and_charge(2, "ATTENDANT")
        await charger.plug_in_and_charge(1, "DRIVER-1")
        assert await charger.present_card("ATTENDANT") == 1
    ended = await eventually(lambda: _ended(api, station))
    assert (ended["id_token"], ended["stop_reason"]) == ("DRIVER-1", "MasterPass")


async def _ended(api, station: str) -> dict | None:
    listed = (await api.get(f"/api/v1/transactions?station_id={station}&state=Ended")).json()
    return listed[0] if listed else None
