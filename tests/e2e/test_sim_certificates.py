"""The demo's simulated chargers against the real platform: they ask for a certificate with a
real CSR and install the chain, answer the trust-store commands from their own store, report
signed firmware updates and log uploads, and send security events, in both OCPP versions."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta
from decimal import Decimal

import pytest

from silkcharge.domain.clock import to_ocpp, utcnow
from silkcharge.domain.connectors import ConnectorStandard
from silkcharge.security import pki
from silkcharge.sim.charger import SimulatedCharger
from silkcharge.sim.spec import ConnectorSpec, StationSpec
from tests.e2e.network import PASSWORD, register_station
from tests.e2e.peers import eventually
from tests.guards import HANG_GUARD

STATION = "ALA-SIM-PKI"
BOTH = pytest.mark.parametrize("version", ["1.6", "2.0.1"])


@pytest.fixture
async def charger(api, ocpp_url, version):
    await register_station(api, STATION, connectors=1)
    spec = StationSpec(STATION, PASSWORD, version, "SilkSim", "DC-60", "1.0",
                       (ConnectorSpec(1, 1, ConnectorStandard.CCS2, Decimal(60)),))
    running = SimulatedCharger(spec, ocpp_url, reconnect_delay=0.1, step_delay=0.01, rng=random.Random(1),
                               renew_certificate_within=timedelta(days=30))
    task = asyncio.create_task(running.run())
    await asyncio.wait_for(running.booted.wait(), HANG_GUARD)
    try:
        yield running
    finally:
        await running.stop()
        await asyncio.gather(task, return_exceptions=True)


async def _listed(api, **query) -> list[dict]:
    return (await api.get(f"/api/v1/stations/{STATION}/certificates", params=query)).json()


@BOTH
async def test_the_simulator_asks_for_its_certificate_after_boot_and_installs_the_chain(api, charger):
    listed = await eventually(lambda: _installed_of(api, "ChargingStationCertificate"))
    assert listed["source"] == "csr"
    assert charger.certificates.chain[0].serial_number == int(listed["serial_number"], 16)
    assert pki.common_name(charger.certificates.chain[0].subject) == STATION


async def _installed_of(api, kind: str) -> dict | None:
    return next((c for c in await _listed(api) if c["certificate_type"] == kind and c["status"] == "Installed"), None)


@BOTH
async def test_the_simulator_answers_install_list_and_delete_from_its_own_store(api, charger):
    root = pki.new_ca("Silk Road CSMS Root")
    installed = await api.post(f"/api/v1/stations/{STATION}/certificates", json={
        "certificate": pki.certificate_pem(root.certificate), "certificate_type": "CSMSRootCertificate"})
    assert installed.json()["status"] == "Accepted"
    assert charger.certificates.roots["CSMSRootCertificate"] == [root.certificate]
    refreshed = await api.post(f"/api/v1/stations/{STATION}/certificates/refresh",
                               json={"certificate_types": ["CSMSRootCertificate"]})
    assert refreshed.json()["status"] == "Accepted"
    row = await _installed_of(api, "CSMSRootCertificate")
    deleted = await api.delete(f"/api/v1/stations/{STATION}/certificates/{row['id']}")
    assert deleted.json()["status"] == "Accepted"
    assert charger.certificates.roots["CSMSRootCertificate"] == []
    refreshed = await api.post(f"/api/v1/stations/{STATION}/certificates/refresh",
                               json={"certificate_types": ["CSMSRootCertificate"]})
    assert refreshed.json()["status"] == "NotFound"


@BOTH
async def test_the_simulator_reports_a_signed_firmware_update_and_its_security_event(api, charger, version):
    signer = pki.new_ca("SilkSim Firmware Signing")
    sent = await api.post(f"/api/v1/stations/{STATION}/commands/update_firmware", json={
        "location": "https://fw.example/silksim-1.1.bin", "retrieve_at": to_ocpp(utcnow()), "request_id": 3,
        "signing_certificate": pki.certificate_pem(signer.certificate), "signature": "c2lnbmF0dXJl"})
    assert sent.json()["action"] == ("SignedUpdateFirmware" if version == "1.6" else "UpdateFirmware")
    await eventually(lambda: _security_event(api, "FirmwareUpdated"))
    station = (await api.get(f"/api/v1/stations/{STATION}")).json()
    assert station["firmware_status"] == "Installed"


@BOTH
async def test_the_simulator_uploads_a_security_log(api, charger):
    sent = await api.post(f"/api/v1/stations/{STATION}/commands/get_diagnostics", json={
        "location": "https://logs.example/upload", "log_type": "SecurityLog", "request_id": 5})
    assert (sent.json()["action"], sent.json()["status"]) == ("GetLog", "Accepted")
    assert sent.json()["details"]["file_name"].startswith("security-")
    await eventually(lambda: _diagnostics(api, "Uploaded"))


async def _security_event(api, kind: str) -> bool:
    events = (await api.get("/api/v1/security-events", params={"station_id": STATION, "type": kind})).json()
    return bool(events)


async def _diagnostics(api, status: str) -> bool:
    return (await api.get(f"/api/v1/stations/{STATION}")).json()["diagnostics_status"] == status
