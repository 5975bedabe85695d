"""Security profiles 2 and 3 built in (OCPP 2.0.1 block A, the 1.6 security whitepaper): the
`ocpp` package as the charger over real TLS sockets, with certificates made in the test. A
station is never accepted below its profile; each refusal has a reason in the answer and in the
security event list."""

from __future__ import annotations

import asyncio
import contextlib
import ssl

import pytest
import websockets
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201
from websockets.exceptions import InvalidStatus

from silkcharge.ocpp import websocket
from tests.e2e.network import PASSWORD, metric, register_station
from tests.e2e.peers import basic_auth, connected_peer, eventually
from tests.e2e.tls import TlsMaterial

STATION = "SEC-001"


@pytest.fixture
def material(tmp_path) -> TlsMaterial:
    return TlsMaterial.make(tmp_path / "pki")


@pytest.fixture
def settings(settings, material):
    return settings.model_copy(update=material.settings())


@pytest.fixture
def wss_url(platform) -> str:
    return f"wss://127.0.0.1:{platform.gateway.tls_port}/ocpp"


async def boot(peer, version: str) -> str:
    if version == "1.6":
        reply = await peer.call(call16.BootNotification(charge_point_vendor="Kehua", charge_point_model="AC22"))
    else:
        reply = await peer.call(call201.BootNotification(
            charging_station={"model": "Terra 184", "vendor_name": "ABB"}, reason="PowerUp"))
    return reply.status


async def set_profile(api, station_id: str, profile: int) -> None:
    response = await api.patch(f"/api/v1/stations/{station_id}", json={"security_profile": profile})
    assert response.status_code == 200, response.text


async def events(api, station_id: str | None = None, type: str | None = None) -> list[dict]:
    params = {k: v for k, v in {"station_id": station_id, "type": type}.items() if v}
    return (await api.get("/api/v1/security-events", params=params)).json()


async def station(api, station_id: str = STATION) -> dict:
    return (await api.get(f"/api/v1/stations/{station_id}")).json()


def logged(caplog, text: str) -> bool:
    """Whether the server log has a warning with `text` (the security event's log line)."""
    return any(text in r.getMessage() for r in caplog.records if r.levelname == "WARNING")


def refusal(caught: pytest.ExceptionInfo) -> tuple[int, str]:
    response = caught.value.response
    return response.status_code, response.body.decode()


# -- A00: the profiles at the handshake ------------------------------------------------------------


@pytest.mark.both_event_loops  # the TLS handshake runs in ocpp/websocket.py, on either loop
@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_a00_profile_2_station_connects_over_tls_1_2_or_above_with_basic_auth(
    api, wss_url, material, version
):
    await register_station(api, STATION)
    await set_profile(api, STATION, 2)
    async with connected_peer(wss_url, STATION, version, ssl=material.client_context()) as peer:
        assert await boot(peer, version) == "Accepted"
        tls = peer._connection.transport.get_extra_info("ssl_object")
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
    assert (await station(api))["security_profile"] == 2


@pytest.mark.parametrize("suite", ["ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384"])
async def test_a00_tls_1_2_with_each_cipher_suite_ocpp_requires(api, wss_url, material, suite):
    await register_station(api, STATION)
    context = material.client_context()
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(suite)
    async with connected_peer(wss_url, STATION, "2.0.1", ssl=context) as peer:
        assert peer._connection.transport.get_extra_info("ssl_object").cipher()[0] == suite


@pytest.mark.both_event_loops  # the TLS handshake runs in ocpp/websocket.py, on either loop
@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated:DeprecationWarning")
@pytest.mark.parametrize("client", ["tls-1.1", "cbc-suite"])
async def test_a00_older_tls_and_suites_ocpp_does_not_allow_are_refused(api, wss_url, material, client):
    await register_station(api, STATION)
    context = material.client_context()
    if client == "tls-1.1":
        context.set_ciphers("ALL:@SECLEVEL=0")
        context.minimum_version = ssl.TLSVersion.TLSv1_1
        context.maximum_version = ssl.TLSVersion.TLSv1_1
    else:
        context.maximum_version = ssl.TLSVersion.TLSv1_2
        context.set_ciphers("ECDHE-ECDSA-AES128-SHA256")
    with pytest.raises((ssl.SSLError, OSError)):
        await websockets.connect(f"{wss_url}/{STATION}", subprotocols=["ocpp1.6"], ssl=context,
                                 additional_headers=basic_auth(STATION, PASSWORD))
    assert await metric(api, "silkcharge_ocpp_tls_handshakes_failed_total") == 1  # the server refused it


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_a00_profile_2_station_on_plain_ws_is_refused_as_a_downgrade(api, ocpp_url, caplog, version):
    await register_station(api, STATION)
    await set_profile(api, STATION, 2)
    with pytest.raises(InvalidStatus) as refused:
        async with connected_peer(ocpp_url, STATION, version):
            pass
    status, reason = refusal(refused)
    assert status == 403
    assert "security profile 2" in reason and "wss://" in reason
    recorded = await events(api, STATION, "SecurityProfileDowngrade")
    assert recorded and "plain ws" in recorded[0]["reason"] and recorded[0]["source_address"] == "127.0.0.1"
    assert logged(caplog, f"{STATION} SecurityProfileDowngrade: station {STATION} is at security profile 2")


@pytest.mark.both_event_loops  # the TLS handshake runs in ocpp/websocket.py, on either loop
@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_a00_profile_3_station_with_its_client_certificate_needs_no_password(
    api, wss_url, material, version
):
    await register_station(api, STATION)
    await set_profile(api, STATION, 3)
    context = material.client_context(material.client_certificate(STATION))
    async with connected_peer(wss_url, STATION, version, password=None, ssl=context) as peer:
        assert await boot(peer, version) == "Accepted"


async def test_a00_profile_3_station_without_a_client_certificate_is_refused_as_a_downgrade(
    api, wss_url, material
):
    await register_station(api, STATION)
    await set_profile(api, STATION, 3)
    with pytest.raises(InvalidStatus) as refused:
        async with connected_peer(wss_url, STATION, "2.0.1", ssl=material.client_context()):
            pass
    status, reason = refusal(refused)
    assert status == 403 and "client certificate" in reason
    assert (await events(api, STATION, "SecurityProfileDowngrade"))[0]["reason"].endswith("profile 2)")


async def test_a00_client_certificate_of_another_station_is_refused(api, wss_url, material, caplog):
    await register_station(api, STATION)
    await set_profile(api, STATION, 3)
    context = material.client_context(material.client_certificate("SEC-999"))
    with pytest.raises(InvalidStatus) as refused:
        async with connected_peer(wss_url, STATION, "1.6", password=None, ssl=context):
            pass
    status, reason = refusal(refused)
    assert status == 403
    assert "names 'SEC-999', not station 'SEC-001'" in reason
    recorded = await events(api, STATION, "InvalidChargingStationCertificate")
    assert "SEC-999" in recorded[0]["reason"]
    assert logged(caplog, "the client certificate names 'SEC-999', not station 'SEC-001'")


async def test_a00_expired_client_certificate_is_refused(api, wss_url, material, caplog):
    await register_station(api, STATION)
    await set_profile(api, STATION, 3)
    context = material.client_context(material.client_certificate(STATION, expired=True))
    with pytest.raises(InvalidStatus) as refused:
        async with connected_peer(wss_url, STATION, "2.0.1", password=None, ssl=context):
            pass
    status, reason = refusal(refused)
    assert status == 403 and "expired on" in reason
    assert "expired on" in (await events(api, STATION, "InvalidChargingStationCertificate"))[0]["reason"]
    assert logged(caplog, "InvalidChargingStationCertificate: the client certificate expired on")


@pytest.mark.both_event_loops  # the TLS handshake runs in ocpp/websocket.py, on either loop
async def test_a00_client_certificate_from_an_unknown_ca_is_refused_at_the_tls_handshake(
    api, wss_url, material
):
    from silkcharge.security import pki

    await register_station(api, STATION)
    await set_profile(api, STATION, 3)
    stranger = pki.new_ca("someone else's CA")
    context = material.client_context(material.client_certificate(STATION, ca=stranger))
    with pytest.raises((ssl.SSLError, OSError, websockets.exceptions.InvalidMessage,
                        websockets.exceptions.ConnectionClosed)):
        async with connected_peer(wss_url, STATION, "2.0.1", password=None, ssl=context) as peer:
            await boot(peer, "2.0.1")

    async def recorded():
        found = await events(api, type="InvalidChargingStationCertificate")
        return found if found else None

    event = (await eventually(recorded))[0]
    assert event["station_id"] is None  # refused before the request named one
    assert event["source_address"] == "127.0.0.1"
    assert "unable to get local issuer certificate" in event["reason"]


@pytest.mark.both_event_loops
async def test_a_tls_connection_that_never_says_hello_is_dropped(api, platform, monkeypatch):
    monkeypatch.setattr(websocket, "HANDSHAKE_TIMEOUT", 0.2)
    reader, writer = await asyncio.open_connection("127.0.0.1", platform.gateway.tls_port)  # plain TCP
    assert await reader.read() == b""  # the server closed the connection without a TLS hello
    writer.close()
    assert await metric(api, "silkcharge_ocpp_tls_handshakes_failed_total") == 0  # a timeout, not a refusal


@pytest.mark.both_event_loops
async def test_stopping_the_gateway_drops_a_tls_handshake_under_way(api, platform, monkeypatch):
    monkeypatch.setattr(websocket, "HANDSHAKE_TIMEOUT", 3600)  # only the stop can end it
    reader, writer = await asyncio.open_connection("127.0.0.1", platform.gateway.tls_port)
    writer.write(b"\x16\x03\x01")  # the start of a TLS record, and nothing more
    await asyncio.wait_for(platform.gateway.stop(), 60)  # (a stop waiting on the handshake would hang)
    with contextlib.suppress(ConnectionResetError):  # closed with the record's bytes unread
        assert await reader.read() == b""
    writer.close()


# -- A05 / 1.6 TC_083: raising a station's security profile ----------------------------------------


async def test_a05_upgrade_to_security_profile_3(api, wss_url, material, platform):
    await register_station(api, STATION)
    await set_profile(api, STATION, 2)
    certificate = material.client_certificate(STATION)
    async with connected_peer(wss_url, STATION, "2.0.1", ssl=material.client_context()) as peer:
        await boot(peer, "2.0.1")
        peer.variables[("OCPPCommCtrlr", "NetworkConfigurationPriority")] = "0"
        response = await api.post(f"/api/v1/stations/{STATION}/security-profile-upgrade", json={"profile": 3})
        assert response.status_code == 200, response.text
        assert [a for a in peer.actions() if a != "GetVariables"] == ["SetNetworkProfile", "SetVariables", "Reset"]
        profile = dict(peer.received)["SetNetworkProfile"]
    change = response.json()
    assert (change["security_profile"], change["security_profile_pending"]) == (2, 3)
    assert profile["configuration_slot"] == 1
    assert profile["connection_data"]["security_profile"] == 3
    assert profile["connection_data"]["ocpp_csms_url"] == f"wss://127.0.0.1:{platform.gateway.tls_port}/ocpp"
    assert peer.variables[("OCPPCommCtrlr", "NetworkConfigurationPriority")] == "1,0"
    assert (await station(api))["security_profile"] == 2  # not before the station is back on it

    async with connected_peer(wss_url, STATION, "2.0.1", password=None,
                              ssl=material.client_context(certificate)) as peer:
        assert await boot(peer, "2.0.1") == "Accepted"
    after = await station(api)
    assert (after["security_profile"], after["security_profile_pending"]) == (3, None)
    assert await events(api, STATION, "SecurityProfileRaised")

    with pytest.raises(InvalidStatus) as downgrade:  # from now on profile 2 is a downgrade
        async with connected_peer(wss_url, STATION, "2.0.1", ssl=material.client_context()):
            pass
    assert refusal(downgrade)[0] == 403


async def test_a05_upgrade_from_profile_1_to_2_moves_the_station_from_ws_to_wss(
    api, ocpp_url, wss_url, material
):
    await register_station(api, STATION)
    async with connected_peer(ocpp_url, STATION, "2.0.1") as peer:
        await boot(peer, "2.0.1")
        response = await api.post(f"/api/v1/stations/{STATION}/security-profile-upgrade", json={"profile": 2})
    assert response.status_code == 200, response.text
    async with connected_peer(ocpp_url, STATION, "2.0.1"):  # a fall-back to its old profile is let in
        pass
    assert (await station(api))["security_profile_pending"] == 2
    async with connected_peer(wss_url, STATION, "2.0.1", ssl=material.client_context()) as peer:
        assert await boot(peer, "2.0.1") == "Accepted"
    assert (await station(api))["security_profile"] == 2
    with pytest.raises(InvalidStatus):
        async with connected_peer(ocpp_url, STATION, "2.0.1"):
            pass


async def test_a05_a_station_that_schedules_its_reset_is_said_to_wait_for_its_sessions(api, ocpp_url):
    """B12: a station charging answers an OnIdle reset Scheduled; the operator reads that the new
    profile comes when its sessions end, and what to do to have it now."""
    await register_station(api, STATION)
    async with connected_peer(ocpp_url, STATION, "2.0.1") as peer:
        await boot(peer, "2.0.1")
        peer.reset_answer = "Scheduled"
        response = await api.post(f"/api/v1/stations/{STATION}/security-profile-upgrade", json={"profile": 2})
        assert response.status_code == 200, response.text
        assert dict(peer.received)["Reset"] == {"type": "OnIdle"}
    assert response.json()["status"] == "Scheduled"
    assert (await station(api))["security_profile_pending"] == 2
    (requested,) = await events(api, STATION, "SecurityProfileUpgradeRequested")
    assert "reboots once its running sessions end" in requested["reason"]
    assert "stop them to raise it now" in requested["reason"]


async def test_a05_station_refusing_the_new_network_profile_keeps_its_profile(api, wss_url, material):
    await register_station(api, STATION)
    await set_profile(api, STATION, 2)
    async with connected_peer(wss_url, STATION, "2.0.1", ssl=material.client_context()) as peer:
        await boot(peer, "2.0.1")
        peer.network_profile_answer = "Rejected"
        response = await api.post(f"/api/v1/stations/{STATION}/security-profile-upgrade", json={"profile": 3})
        assert "Reset" not in peer.actions()
    assert response.status_code == 409
    assert "Rejected to SetNetworkProfile" in response.json()["detail"]
    assert (await station(api))["security_profile_pending"] is None


async def test_tc_083_upgrade_charge_point_security_profile_1_6(api, ocpp_url, wss_url, material):
    await register_station(api, STATION)
    async with connected_peer(ocpp_url, STATION, "1.6") as peer:
        await boot(peer, "1.6")
        peer.configuration["SecurityProfile"] = "1"
        response = await api.post(f"/api/v1/stations/{STATION}/security-profile-upgrade", json={"profile": 2})
        assert response.status_code == 200, response.text
        assert [(a, p.get("key"), p.get("value"), p.get("type")) for a, p in peer.received] == [
            ("ChangeConfiguration", "SecurityProfile", "2", None), ("Reset", None, None, "Hard")]
    async with connected_peer(wss_url, STATION, "1.6", ssl=material.client_context()) as peer:
        assert await boot(peer, "1.6") == "Accepted"
    assert (await station(api))["security_profile"] == 2


async def test_a05_a_profile_is_only_raised(api, wss_url, material):
    await register_station(api, STATION)
    await set_profile(api, STATION, 2)
    async with connected_peer(wss_url, STATION, "1.6", ssl=material.client_context()) as peer:
        await boot(peer, "1.6")
        same = await api.post(f"/api/v1/stations/{STATION}/security-profile-upgrade", json={"profile": 2})
    assert same.status_code == 422 and "only raised" in same.json()["detail"]
    assert peer.actions() == []


# -- A01 / 1.6 TC_073: password rotation ------------------------------------------------------------


async def test_a01_update_basic_auth_password_accepted(api, wss_url, material):
    await register_station(api, STATION)
    await set_profile(api, STATION, 2)
    context = material.client_context()
    async with connected_peer(wss_url, STATION, "2.0.1", ssl=context) as peer:
        await boot(peer, "2.0.1")
        response = await api.post(f"/api/v1/stations/{STATION}/password-rotation", json={})
        new = peer.variables[("SecurityCtrlr", "BasicAuthPassword")]
    assert response.status_code == 200, response.text
    assert response.json()["steps"] == [{"action": "SetVariables", "status": "Accepted"}]
    assert 16 <= len(new) <= 40 and new != PASSWORD
    assert (await station(api))["password_rotation_pending"] is True

    async with connected_peer(wss_url, STATION, "2.0.1", ssl=context):  # the old one, until the new is used
        pass
    async with connected_peer(wss_url, STATION, "2.0.1", password=new, ssl=context) as peer:
        assert await boot(peer, "2.0.1") == "Accepted"
    assert (await station(api))["password_rotation_pending"] is False
    with pytest.raises(InvalidStatus) as old:
        async with connected_peer(wss_url, STATION, "2.0.1", ssl=context):
            pass
    assert refusal(old)[0] == 401

    rows = (await api.get(f"/api/v1/stations/{STATION}/messages", params={"limit": 1000})).json()
    assert new not in str(rows) and "(redacted)" in str([r for r in rows if r["action"] == "SetVariables"])
    assert await events(api, STATION, "BasicAuthPasswordRotated")


async def test_a01_update_basic_auth_password_rejected_keeps_the_old_one(api, ocpp_url):
    await register_station(api, STATION)
    async with connected_peer(ocpp_url, STATION, "2.0.1") as peer:
        await boot(peer, "2.0.1")

        peer.set_variables_answer = "Rejected"
        response = await api.post(f"/api/v1/stations/{STATION}/password-rotation",
                                  json={"password": "Another-Password-16"})
    assert response.status_code == 409
    assert "Rejected" in response.json()["detail"]
    async with connected_peer(ocpp_url, STATION, "2.0.1") as peer:
        assert await boot(peer, "2.0.1") == "Accepted"
    with pytest.raises(InvalidStatus):
        async with connected_peer(ocpp_url, STATION, "2.0.1", password="Another-Password-16"):
            pass


async def test_tc_073_update_authorization_key_1_6(api, ocpp_url):
    await register_station(api, STATION)
    async with connected_peer(ocpp_url, STATION, "1.6") as peer:
        await boot(peer, "1.6")
        peer.configuration["AuthorizationKey"] = "00"
        response = await api.post(f"/api/v1/stations/{STATION}/password-rotation", json={})
        key = peer.configuration["AuthorizationKey"]
    assert response.status_code == 200, response.text
    new = bytes.fromhex(key).decode()  # the whitepaper: the password, hex encoded
    assert len(key) <= 40 and 16 <= len(new) <= 20
    async with connected_peer(ocpp_url, STATION, "1.6", password=new) as peer:
        assert await boot(peer, "1.6") == "Accepted"
    with pytest.raises(InvalidStatus):
        async with connected_peer(ocpp_url, STATION, "1.6"):
            pass


async def test_tc_073_a_password_too_long_for_an_authorization_key_is_refused_before_sending(api, ocpp_url):
    await register_station(api, STATION)
    async with connected_peer(ocpp_url, STATION, "1.6") as peer:
        await boot(peer, "1.6")
        response = await api.post(f"/api/v1/stations/{STATION}/password-rotation",
                                  json={"password": "x" * 30})
    assert response.status_code == 422 and "16 to 20 bytes" in response.json()["detail"]
    assert peer.actions() == []
