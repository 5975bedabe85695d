"""The demo's simulated chargers do what a real one does with the security flows: connect over
wss with the CSMS's CA, show a client certificate at profile 3, take a new password and
reconnect with it, take a higher profile and come back on it (falling back when they cannot)."""

from __future__ import annotations

import asyncio
import random
from decimal import Decimal

import pytest

from silkcharge.domain.connectors import ConnectorStandard
from silkcharge.sim.charger import SimulatedCharger
from silkcharge.sim.spec import ConnectorSpec, StationSpec
from tests.e2e.network import PASSWORD, register_station
from tests.e2e.peers import eventually
from tests.e2e.tls import TlsMaterial
from tests.guards import HANG_GUARD


@pytest.fixture
def material(tmp_path) -> TlsMaterial:
    return TlsMaterial.make(tmp_path / "pki")


@pytest.fixture
def settings(settings, material):
    return settings.model_copy(update=material.settings())


@pytest.fixture
async def run_charger(platform, material):
    running: list[tuple[SimulatedCharger, asyncio.Task]] = []

    async def start(spec: StationSpec, *, trusted: bool = True) -> SimulatedCharger:
        charger = SimulatedCharger(
            spec, f"ws://127.0.0.1:{platform.gateway.port}/ocpp",
            tls_url=f"wss://127.0.0.1:{platform.gateway.tls_port}/ocpp",
            ca_file=str(material.server_ca_file) if trusted else None,
            meter_interval=1, reconnect_delay=0.05, step_delay=0.05, heartbeat_fallback=30,
            rng=random.Random(spec.station_id),
        )
        running.append((charger, asyncio.create_task(charger.run())))
        await asyncio.wait_for(charger.booted.wait(), HANG_GUARD)
        return charger

    yield start
    for charger, task in running:
        await charger.stop()
        await task


def spec(station_id: str, version: str, profile: int = 1, certificate=None) -> StationSpec:
    return StationSpec(
        station_id=station_id, password=PASSWORD, ocpp_version=version, vendor="SilkSim", model="AC-22",
        firmware_version="1.0.0", connectors=(ConnectorSpec(1, 1, ConnectorStandard.TYPE2, Decimal("22")),),
        security_profile=profile,
        certificate_file=str(certificate[0]) if certificate else None,
        key_file=str(certificate[1]) if certificate else None,
    )


async def stored(api, station_id: str) -> dict:
    return (await api.get(f"/api/v1/stations/{station_id}")).json()


async def until(api, station_id: str, **wanted):
    async def reached():
        station = await stored(api, station_id)
        return station if all(station[k] == v for k, v in wanted.items()) else None

    return await eventually(reached, timeout=20)


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_a01_simulated_charger_takes_a_new_password_and_reconnects_with_it(api, run_charger, version):
    await register_station(api, "SIM-PW")
    charger = await run_charger(spec("SIM-PW", version))
    response = await api.post("/api/v1/stations/SIM-PW/password-rotation", json={})
    assert response.status_code == 200, response.text
    await until(api, "SIM-PW", password_rotation_pending=False, online=True)  # back, with the new one
    assert charger.network.password != PASSWORD.encode()


async def test_a05_simulated_charger_upgrades_to_security_profile_3(api, run_charger, material):
    await register_station(api, "SIM-P3")
    await api.patch("/api/v1/stations/SIM-P3", json={"security_profile": 2})
    charger = await run_charger(spec("SIM-P3", "2.0.1", 2, material.client_certificate("SIM-P3")))
    assert charger.endpoint().startswith("wss://")
    response = await api.post("/api/v1/stations/SIM-P3/security-profile-upgrade", json={"profile": 3})
    assert response.status_code == 200, response.text
    await until(api, "SIM-P3", security_profile=3, security_profile_pending=None, online=True)
    assert charger.network.security_profile == 3


@pytest.mark.parametrize("version", ["1.6", "2.1"])
async def test_tc_083_simulated_charger_upgrades_from_ws_to_wss(api, run_charger, version):
    """1.6 through its SecurityProfile key; 2.1 through a network profile naming OCPP21."""
    await register_station(api, "SIM-UP")
    charger = await run_charger(spec("SIM-UP", version))
    response = await api.post("/api/v1/stations/SIM-UP/security-profile-upgrade", json={"profile": 2})
    assert response.status_code == 200, response.text
    await until(api, "SIM-UP", security_profile=2, online=True)
    assert charger.endpoint().startswith("wss://")


async def test_a05_simulated_charger_that_cannot_reach_the_new_profile_falls_back_and_stays_pending(
    api, run_charger
):
    await register_station(api, "SIM-FB")
    charger = await run_charger(spec("SIM-FB", "2.0.1"), trusted=False)  # it cannot check the server
    response = await api.post("/api/v1/stations/SIM-FB/security-profile-upgrade", json={"profile": 2})
    assert response.status_code == 200, response.text
    await eventually(lambda: _booted_on(charger, "ws://"), timeout=20)
    station = await until(api, "SIM-FB", online=True)
    assert (station["security_profile"], station["security_profile_pending"]) == (1, 2)


async def _booted_on(charger: SimulatedCharger, scheme: str) -> bool:
    return charger.booted.is_set() and charger.endpoint().startswith(scheme) and charger.network.priority[0] != 0
