"""Certificate management end to end (OCPP 2.0.1 blocks A and M, the 1.6 security extension):
`ocpp` package chargers with keys and certificates made here, against the real gateway, on
SQLite and PostgreSQL. The OCSP responder and the contract certificate service are outside
parties, so they are real HTTP servers on a local port (tests/e2e/pki_doubles.py)."""

from __future__ import annotations

import asyncio
import base64
from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.x509 import ocsp
from ocpp.v16 import call as c16
from ocpp.v201 import call as c201

from silkcharge.domain.clock import to_ocpp, utcnow
from silkcharge.security import pki
from silkcharge.store.schema import Station
from tests.e2e.certificate_peers import certificate_peer
from tests.e2e.network import add_token, register_station
from tests.e2e.peers import eventually
from tests.e2e.pki_doubles import (
    ContractService,
    OcspResponder,
    delegated_responder,
    end_entity,
    serving,
)
from tests.guards import HANG_GUARD

STATION = "ALA-PKI-001"
VERSIONS = ["1.6", "2.0.1"]


@pytest.fixture
def v2g_root() -> pki.Issued:
    return pki.new_ca("V2G Root CA", "Silk Road PKI")


@pytest.fixture
def responder(v2g_root):
    party = OcspResponder(v2g_root)
    with serving(party):
        yield party


@pytest.fixture
def contract_service():
    party = ContractService()
    with serving(party):
        yield party


@pytest.fixture
def settings(settings, responder, contract_service):
    return settings.model_copy(update={
        "ocsp_responder_url": responder.url, "contract_certificate_service_url": contract_service.url,
    })


async def boot(peer, version: str) -> None:
    if version == "1.6":
        reply = await peer.call(c16.BootNotification(charge_point_vendor="Zhida", charge_point_model="DC-120"))
    else:
        reply = await peer.call(c201.BootNotification(
            charging_station={"vendor_name": "Zhida", "model": "DC-120"}, reason="PowerUp"))
    assert reply.status == "Accepted"


async def certificates(api, station_id: str = STATION, **query) -> list[dict]:
    response = await api.get(f"/api/v1/stations/{station_id}/certificates", params=query)
    assert response.status_code == 200, response.text
    return response.json()


async def security_events(api, type: str) -> list[dict]:
    response = await api.get("/api/v1/security-events", params={"station_id": STATION, "type": type})
    assert response.status_code == 200, response.text
    return response.json()


# -- A02 / A03: the station's own certificate ---------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
async def test_a03_update_charging_station_certificate_initiated_by_the_charging_station(api, ocpp_url, version):
    await register_station(api, STATION)
    async with certificate_peer(ocpp_url, STATION, version) as peer:
        await boot(peer, version)
        assert await peer.request_certificate() == "Accepted"
        await eventually(lambda: _installed(api))
    leaf, *rest = peer.store.chain
    ca = (await api.get("/api/v1/certificate-authority")).json()
    assert pki.common_name(leaf.subject) == STATION
    assert [c.subject for c in rest] == [pki.load_certificates(ca["certificate_pem"])[0].subject]
    assert pki.signed_by(leaf, rest[0])
    assert x509.ExtendedKeyUsageOID.CLIENT_AUTH in leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    [listed] = await certificates(api)
    assert (listed["certificate_type"], listed["source"], listed["status"]) == (
        "ChargingStationCertificate", "csr", "Installed")
    assert listed["serial_number"] == format(leaf.serial_number, "x")
    assert ca["external"] is False


async def _installed(api) -> bool:
    return [c["status"] for c in await certificates(api)] == ["Installed"]


@pytest.mark.parametrize("version", VERSIONS)
async def test_a02_update_charging_station_certificate_by_request_of_csms(api, ocpp_url, version):
    await register_station(api, STATION)
    async with certificate_peer(ocpp_url, STATION, version) as peer:
        await boot(peer, version)
        renewed = await api.post(f"/api/v1/stations/{STATION}/certificates/renew")
        assert renewed.status_code == 200, renewed.text
        assert renewed.json()["status"] == "Accepted"
        await eventually(lambda: _installed(api))
    trigger = "ExtendedTriggerMessage" if version == "1.6" else "TriggerMessage"
    assert renewed.json()["action"] == trigger
    assert peer.actions() == [trigger, "CertificateSigned"]
    requested = peer.received[0][1]["requested_message"]
    assert requested == ("SignChargePointCertificate" if version == "1.6" else "SignChargingStationCertificate")
    assert pki.common_name(peer.store.chain[0].subject) == STATION


@pytest.mark.parametrize("version", VERSIONS)
async def test_a02_a_csr_for_another_stations_id_is_refused(api, ocpp_url, version):
    await register_station(api, STATION)
    async with certificate_peer(ocpp_url, STATION, version) as peer:
        await boot(peer, version)
        peer.store.common_name = "ALA-PKI-999"
        assert await peer.request_certificate() == "Rejected"
        # Nothing follows a refusal: the next exchange is answered and no CertificateSigned came.
        await peer.call(c16.Heartbeat() if version == "1.6" else c201.Heartbeat())
    assert "CertificateSigned" not in peer.actions()
    assert await certificates(api) == []
    [event] = await security_events(api, "CsrForAnotherStation")
    assert event["origin"] == "csms"
    assert "'ALA-PKI-999', not this station ('ALA-PKI-001')" in event["reason"]


BAD_CSRS = {
    "not-pem": ("this is not a CSR", "not a PEM-encoded PKCS#10"),
    "weak-key": (None, "key is not allowed"),
    "wrong-organization": (None, "organization is 'Other Org', not 'Silk Road Charging'"),
}


@pytest.mark.settings(certificate_organization="Silk Road Charging")
@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("case", list(BAD_CSRS))
async def test_a02_an_invalid_csr_is_refused_with_its_reason(api, ocpp_url, version, case):
    csr, reason = BAD_CSRS[case]
    if case == "weak-key":
        from cryptography.hazmat.primitives.asymmetric import ec

        weak = ec.generate_private_key(ec.SECP224R1())
        csr = pki.csr_pem(pki.make_csr(weak, STATION, "Silk Road Charging"))
    elif case == "wrong-organization":
        csr = pki.csr_pem(pki.make_csr(pki.new_key(), STATION, "Other Org"))
    await register_station(api, STATION)
    async with certificate_peer(ocpp_url, STATION, version) as peer:
        await boot(peer, version)
        if version == "1.6":
            reply = await peer.call(c16.SignCertificate(csr=csr))
        else:
            reply = await peer.call(c201.SignCertificate(csr=csr))
            assert reason[:40] in reply.status_info["additional_info"]
        assert reply.status == "Rejected"
    [event] = await security_events(api, "CsrRefused")
    assert reason in event["reason"]
    assert await certificates(api) == []


@pytest.mark.parametrize("version", VERSIONS)
async def test_certificates_near_expiry_are_listed_and_renewed(api, platform, ocpp_url, version):
    platform.certificates.expiry_warning = timedelta(days=400)  # everything silkcharge signs is "near"
    await register_station(api, STATION)
    async with certificate_peer(ocpp_url, STATION, version) as peer:
        await boot(peer, version)
        await peer.request_certificate()
        await eventually(lambda: _installed(api))
        [expiring] = (await api.get("/api/v1/certificates/expiring")).json()
        assert expiring["station_id"] == STATION
        first = peer.store.chain[0]
        peer.store.signed.clear()
        assert (await api.post(f"/api/v1/stations/{STATION}/certificates/renew")).json()["status"] == "Accepted"
        await peer.store.signed.wait()
    assert peer.store.chain[0].serial_number != first.serial_number
    platform.certificates.expiry_warning = timedelta(days=30)
    assert (await api.get("/api/v1/certificates/expiring")).json() == []


async def test_an_external_ca_from_settings_signs_station_certificates(database_url, tmp_path, settings):
    from silkcharge.app import build_platform

    ca = pki.new_ca("Operator Sub-CA", "Silk Road Charging")
    (tmp_path / "ca.pem").write_text(pki.certificate_pem(ca.certificate))
    (tmp_path / "ca.key").write_text(pki.key_pem(ca.key))
    running = build_platform(settings.model_copy(update={
        "ca_cert_file": tmp_path / "ca.pem", "ca_key_file": tmp_path / "ca.key"}))
    await running.start()
    try:
        async with running.sessions.begin() as session:
            session.add(Station(id=STATION))
        decision = await running.certificates.sign_request(
            STATION, pki.csr_pem(pki.make_csr(pki.new_key(), STATION)))
    finally:
        await running.stop()
    leaf, issuer = pki.load_certificates(decision.chain_pem)
    assert issuer == ca.certificate and pki.signed_by(leaf, ca.certificate)


# -- M03 / M04 / M05: the station's trust store ---------------------------------------------------------


async def _install(api, root: pki.Issued, kind: str = "CSMSRootCertificate") -> dict:
    response = await api.post(f"/api/v1/stations/{STATION}/certificates",
                              json={"certificate": pki.certificate_pem(root.certificate), "certificate_type": kind})
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("version", VERSIONS)
async def test_m05_install_ca_certificate_in_a_charging_station(api, ocpp_url, version):
    root = pki.new_ca("Silk Road CSMS Root")
    await register_station(api, STATION)
    async with certificate_peer(ocpp_url, STATION, version) as peer:
        await boot(peer, version)
        installed = await _install(api, root)
    assert installed["status"] == "Accepted"
    expected_use = "CentralSystemRootCertificate" if version == "1.6" else "CSMSRootCertificate"
    assert peer.received[-1][1]["certificate_type"] == expected_use
    assert peer.store.roots["CSMSRootCertificate"] == [root.certificate]
    [listed] = await certificates(api)
    assert (listed["status"], listed["source"], listed["subject"]) == ("Installed", "install", "CN=Silk Road CSMS Root")


@pytest.mark.parametrize("version", VERSIONS)
async def test_m03_retrieve_list_of_installed_certificates(api, ocpp_url, version):
    ours, theirs = pki.new_ca("Silk Road CSMS Root"), pki.new_ca("Factory Root")
    await register_station(api, STATION)
    async with certificate_peer(ocpp_url, STATION, version) as peer:
        await boot(peer, version)
        await _install(api, ours)
        peer.store.roots.setdefault("ManufacturerRootCertificate", []).append(theirs.certificate)
        peer.store.roots["CSMSRootCertificate"].clear()  # removed on the station behind our back
        for kind in ("CSMSRootCertificate", "ManufacturerRootCertificate"):
            refreshed = await api.post(f"/api/v1/stations/{STATION}/certificates/refresh",
                                       json={"certificate_types": [kind]})
            assert refreshed.status_code == 200, refreshed.text
    listed = {c["certificate_type"]: c for c in await certificates(api, include_deleted=True)}
    assert listed["CSMSRootCertificate"]["status"] == "Deleted"
    reported = listed["ManufacturerRootCertificate"]
    assert (reported["status"], reported["source"], reported["pem"]) == ("Installed", "report", None)
    assert reported["serial_number"] == format(theirs.certificate.serial_number, "x")


async def test_m03_a_1_6_station_is_asked_one_certificate_type_at_a_time(api, ocpp_url):
    await register_station(api, STATION)
    async with certificate_peer(ocpp_url, STATION, "1.6") as peer:
        await boot(peer, "1.6")
        refused = await api.post(f"/api/v1/stations/{STATION}/certificates/refresh", json={})
    assert refused.status_code == 422
    assert "one certificate type per call" in refused.json()["detail"]


@pytest.mark.parametrize("version", VERSIONS)
async def test_m04_delete_a_specific_certificate_from_a_charging_station(api, ocpp_url, version):
    root = pki.new_ca("Old CSMS Root")
    await register_station(api, STATION)
    async with certificate_peer(ocpp_url, STATION, version) as peer:
        await boot(peer, version)
        await _install(api, root)
        [listed] = await certificates(api)
        deleted = await api.delete(f"/api/v1/stations/{STATION}/certificates/{listed['id']}")
        again = await api.delete(f"/api/v1/stations/{STATION}/certificates/{listed['id']}")
    assert deleted.json()["status"] == "Accepted"
    assert again.json()["status"] == "NotFound"
    assert peer.store.roots["CSMSRootCertificate"] == []
    assert peer.received[-1][1]["certificate_hash_data"]["serial_number"] == format(root.certificate.serial_number, "x")
    assert await certificates(api) == []
    assert (await api.delete(f"/api/v1/stations/{STATION}/certificates/9999")).status_code == 404


async def test_m05_a_certificate_that_could_not_be_named_afterwards_is_refused(api, ocpp_url, v2g_root):
    sub = end_entity(v2g_root, "some sub CA")  # issued by a CA silkcharge never saw
    await register_station(api, STATION)
    async with certificate_peer(ocpp_url, STATION, "2.0.1") as peer:
        await boot(peer, "2.0.1")
        refused = await api.post(f"/api/v1/stations/{STATION}/certificates", json={
            "certificate": pki.certificate_pem(sub.certificate), "certificate_type": "V2GRootCertificate"})
    assert refused.status_code == 422 and "install its root instead" in refused.json()["detail"]
    assert "InstallCertificate" not in peer.actions()


# -- M06 and C07: OCSP --------------------------------------------------------------------------------


def _ocsp_data(certificate: x509.Certificate, issuer: x509.Certificate) -> dict:
    return {**pki.hash_data(certificate, issuer), "responderURL": "http://ocsp.example.invalid/"}


@pytest.mark.parametrize("case", ["good", "revoked", "unknown", "forged"])
async def test_m06_get_charging_station_certificate_status(api, ocpp_url, responder, v2g_root, case):
    secc = end_entity(v2g_root, "SECC ALA-PKI-001")
    if case != "unknown":
        responder.knows(secc.certificate)
    if case == "revoked":
        responder.revoked.add(secc.certificate.serial_number)
    if case == "forged":  # signed by a key the V2G root never delegated to
        responder.signer = delegated_responder(pki.new_ca("Impostor"))
    await register_station(api, STATION)
    async with certificate_peer(ocpp_url, STATION, "2.0.1") as peer:
        await boot(peer, "2.0.1")
        reply = await peer.call(c201.GetCertificateStatus(
            ocsp_request_data=_ocsp_data(secc.certificate, v2g_root.certificate)))
    assert responder.requests == 1  # the configured responder, not the station's URL
    if case == "good":
        assert reply.status == "Accepted"
        answer = ocsp.load_der_ocsp_response(base64.b64decode(reply.ocsp_result))
        assert answer.certificate_status == ocsp.OCSPCertStatus.GOOD
        assert answer.serial_number == secc.certificate.serial_number
        return
    assert reply.status == "Failed"
    event_type, reason = {
        "revoked": ("CertificateRevoked", "is revoked"),
        "unknown": ("CertificateUnknown", "is unknown"),
        "forged": ("OcspCheckFailed", "signature is not the issuer's"),
    }[case]
    [event] = await security_events(api, event_type)
    assert reason in event["reason"]


async def test_m06_a_delegated_responder_is_believed(api, ocpp_url, responder, v2g_root):
    secc = end_entity(v2g_root, "SECC ALA-PKI-001")
    responder.knows(secc.certificate)
    responder.signer = delegated_responder(v2g_root)
    await register_station(api, STATION)
    async with certificate_peer(ocpp_url, STATION, "2.0.1") as peer:
        await boot(peer, "2.0.1")
        reply = await peer.call(c201.GetCertificateStatus(
            ocsp_request_data=_ocsp_data(secc.certificate, v2g_root.certificate)))
    assert reply.status == "Accepted"


@pytest.mark.parametrize("case", ["good", "revoked", "expired", "unknown"])
async def test_c07_authorization_using_contract_certificates(api, ocpp_url, responder, v2g_root, case):
    now = utcnow()
    contract = end_entity(v2g_root, "KZSLKC00000001", **(
        {"now": now - timedelta(days=10), "days": 2} if case == "expired" else {}))
    if case != "unknown":
        responder.knows(contract.certificate)
    if case == "revoked":
        responder.revoked.add(contract.certificate.serial_number)
    await add_token(api, "KZSLKC00000001")
    await register_station(api, STATION)
    async with certificate_peer(ocpp_url, STATION, "2.0.1") as peer:
        await boot(peer, "2.0.1")
        reply = await peer.call(c201.Authorize(
            id_token={"id_token": "KZSLKC00000001", "type": "eMAID"},
            certificate=pki.certificate_pem(contract.certificate),
            iso15118_certificate_hash_data=[_ocsp_data(contract.certificate, v2g_root.certificate)],
        ))
    expected = {"good": "Accepted", "revoked": "CertificateRevoked", "expired": "CertificateExpired",
                "unknown": "CertChainError"}[case]
    assert reply.certificate_status == expected
    assert reply.id_token_info["status"] == ("Accepted" if case == "good" else "Invalid")
    if case != "good":
        event_type = {"revoked": "CertificateRevoked", "expired": "CertificateExpired",
                      "unknown": "CertificateUnknown"}[case]
        [event] = await security_events(api, event_type)
        assert "Authorize" in event["reason"]


# -- M01 / M02: EV contract certificates --------------------------------------------------------------


async def test_m01_certificate_installation_ev(api, ocpp_url, contract_service):
    await register_station(api, STATION)
    async with certificate_peer(ocpp_url, STATION, "2.0.1") as peer:
        await boot(peer, "2.0.1")
        reply = await peer.call(c201.Get15118EVCertificate(
            iso15118_schema_version="urn:iso:15118:2:2013:MsgDef", action="Install", exi_request="ZXhpLXJlcXVlc3Q="))
    assert (reply.status, reply.exi_response) == ("Accepted", contract_service.exi_response)
    assert contract_service.asked == [{
        "stationId": STATION, "iso15118SchemaVersion": "urn:iso:15118:2:2013:MsgDef", "action": "Install",
        "exiRequest": "ZXhpLXJlcXVlc3Q=",
    }]


@pytest.mark.settings(contract_certificate_service_url=None)
async def test_m02_without_a_contract_certificate_service_the_request_fails(api, platform, ocpp_url):
    platform.certificates._contracts._url = None
    await register_station(api, STATION)
    async with certificate_peer(ocpp_url, STATION, "2.0.1") as peer:
        await boot(peer, "2.0.1")
        reply = await peer.call(c201.Get15118EVCertificate(
            iso15118_schema_version="urn:iso:15118:2:2013:MsgDef", action="Update", exi_request="ZXhp"))
    assert (reply.status, reply.exi_response) == ("Failed", "")


# -- the 1.6 security extension: firmware, logs, events, triggers ---------------------------------------


async def _command(api, name: str, **params) -> dict:
    response = await api.post(f"/api/v1/stations/{STATION}/commands/{name}", json=params)
    assert response.status_code == 200, response.text
    return response.json()


async def test_1_6_signed_firmware_update(api, ocpp_url):
    signer = pki.new_ca("Zhida Firmware Signing")
    await register_station(api, STATION)
    async with certificate_peer(ocpp_url, STATION, "1.6") as peer:
        await boot(peer, "1.6")
        result = await _command(api, "update_firmware", location="https://fw.example/zhida-4.3.bin",
                                retrieve_at=to_ocpp(utcnow()), request_id=7,
                                signing_certificate=pki.certificate_pem(signer.certificate), signature="c2lnbmF0dXJl")
        await peer.firmware_done.wait()
    assert (result["action"], result["status"]) == ("SignedUpdateFirmware", "Accepted")
    firmware = peer.received[-1][1]["firmware"]
    assert firmware["signature"] == "c2lnbmF0dXJl" and "BEGIN CERTIFICATE" in firmware["signing_certificate"]
    await eventually(lambda: _station_field(api, "firmware_status", "Installed"))


async def test_l01_secure_firmware_update(api, ocpp_url):
    signer = pki.new_ca("Zhida Firmware Signing")
    await register_station(api, STATION)
    async with certificate_peer(ocpp_url, STATION, "2.0.1") as peer:
        await boot(peer, "2.0.1")
        result = await _command(api, "update_firmware", location="https://fw.example/zhida-4.3.bin",
                                retrieve_at=to_ocpp(utcnow()), signing_certificate=pki.certificate_pem(signer.certificate),
                                signature="c2lnbmF0dXJl")
    assert (result["action"], result["status"]) == ("UpdateFirmware", "Accepted")
    assert peer.received[-1][1]["firmware"]["signature"] == "c2lnbmF0dXJl"


async def test_1_6_unsigned_firmware_keeps_the_core_update_firmware(api, ocpp_url):
    await register_station(api, STATION)
    async with certificate_peer(ocpp_url, STATION, "1.6") as peer:
        await boot(peer, "1.6")
        result = await _command(api, "update_firmware", location="https://fw.example/zhida-4.3.bin",
                                retrieve_at=to_ocpp(utcnow()))
    assert result["action"] == "UpdateFirmware"
    half = await api.post(f"/api/v1/stations/{STATION}/commands/update_firmware", json={
        "location": "https://fw.example/x.bin", "retrieve_at": to_ocpp(utcnow()), "signature": "c2ln"})
    assert half.status_code == 422 and "go together" in half.text


async def _station_field(api, field: str, value: str) -> bool:
    return (await api.get(f"/api/v1/stations/{STATION}")).json()[field] == value


@pytest.mark.parametrize("version", VERSIONS)
async def test_n01_retrieve_security_log(api, ocpp_url, version):
    await register_station(api, STATION)
    async with certificate_peer(ocpp_url, STATION, version) as peer:
        await boot(peer, version)
        result = await _command(api, "get_diagnostics", location="https://logs.example/upload", log_type="SecurityLog")
        if version == "1.6":
            await peer.log_status.wait()
            await eventually(lambda: _station_field(api, "diagnostics_status", "Uploaded"))
    assert result["action"] == "GetLog"
    assert peer.received[-1][1]["log_type"] == "SecurityLog"
    if version == "1.6":
        assert result["details"]["file_name"] == "security-log.tar.gz"


async def test_1_6_get_diagnostics_chooses_get_log_once_the_station_shows_the_extension(api, ocpp_url):
    await register_station(api, STATION)
    async with certificate_peer(ocpp_url, STATION, "1.6") as peer:
        await boot(peer, "1.6")
        legacy = await _command(api, "get_diagnostics", location="ftp://logs.example/")
        await _command(api, "get_configuration", keys=["SecurityProfile"])
        extended = await _command(api, "get_diagnostics", location="ftp://logs.example/")
        # The upload's own status notifications first, so the triggered one is the last word.
        await asyncio.wait_for(peer.log_status.wait(), HANG_GUARD)
        triggered = await _command(api, "trigger_message", message="LogStatusNotification")
        await eventually(lambda: _station_field(api, "diagnostics_status", "Idle"))
    assert (legacy["action"], extended["action"]) == ("GetDiagnostics", "GetLog")
    assert triggered["action"] == "ExtendedTriggerMessage"


async def test_1_6_security_event_notification(api, ocpp_url):
    await register_station(api, STATION)
    async with certificate_peer(ocpp_url, STATION, "1.6") as peer:
        await boot(peer, "1.6")
        reply = await peer.call(c16.SecurityEventNotification(
            type="InvalidCentralSystemCertificate", timestamp=to_ocpp(utcnow()), tech_info="TLS alert 42"))
    assert reply is not None
    [event] = await security_events(api, "InvalidCentralSystemCertificate")
    assert (event["origin"], event["tech_info"]) == ("station", "TLS alert 42")


async def test_1_6_v2g_certificates_are_refused_before_sending(api, ocpp_url):
    await register_station(api, STATION)
    async with certificate_peer(ocpp_url, STATION, "1.6") as peer:
        await boot(peer, "1.6")
        refused = await api.post(f"/api/v1/stations/{STATION}/commands/trigger_message",
                                 json={"message": "SignV2GCertificate"})
        install = await api.post(f"/api/v1/stations/{STATION}/certificates", json={
            "certificate": pki.certificate_pem(pki.new_ca("MO Root").certificate),
            "certificate_type": "MORootCertificate"})
    assert refused.status_code == 422 and "no V2G" in refused.json()["detail"]
    assert install.status_code == 422 and "MORootCertificate" in install.json()["detail"]
    assert peer.actions() == []
