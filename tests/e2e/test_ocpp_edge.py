"""The OCPP edge of issue 14: what an attacker or a careless integrator sends at the handshake, and
the secrets a charger reports, never cost the CSMS a crash, unlimited CPU, a station's socket or
a password in clear."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from urllib.parse import urlsplit

import pytest
import websockets
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201
from websockets.exceptions import InvalidStatus

from silkcharge.domain.clock import to_ocpp, utcnow
from tests.e2e.network import PASSWORD, metric, register_station
from tests.e2e.peers import basic_auth, connected_peer, eventually

STATION = "EDGE-001"


def basic(user: bytes, password: bytes) -> bytes:
    return b"Basic " + base64.b64encode(user + b":" + password)


async def raw_handshake(url: str, station_id: str, *headers: tuple[bytes, bytes]) -> tuple[int, bytes]:
    """An HTTP upgrade request written byte by byte (no client library cleans it up); the status
    code and body of the answer."""
    address = urlsplit(url)
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    request = [
        f"GET {address.path}/{station_id} HTTP/1.1".encode(), f"Host: {address.netloc}".encode(),
        b"Upgrade: websocket", b"Connection: Upgrade", b"Sec-WebSocket-Version: 13",
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", b"Sec-WebSocket-Protocol: ocpp1.6",
        *(name + b": " + value for name, value in headers),
    ]
    writer.write(b"\r\n".join(request) + b"\r\n\r\n")
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    body = await reader.readexactly(length) if length else b""
    writer.close()
    return status, body


# -- malformed credentials: 400 or 401 with a reason, never 500 -----------------------------------


async def test_two_authorization_headers_are_refused_with_400_and_a_reason(api, ocpp_url, caplog):
    await register_station(api, STATION)
    status, body = await raw_handshake(
        ocpp_url, STATION, (b"Authorization", basic(STATION.encode(), PASSWORD.encode())),
        (b"Authorization", basic(STATION.encode(), b"another-password")),
    )
    assert status == 400
    assert b"one Authorization header" in body
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


CREDENTIALS = [
    pytest.param("Basic пароль".encode(), 400, b"not valid Base64", id="non-ascii-header"),
    pytest.param(b"Basic !!not-base64!!", 400, b"not valid Base64", id="not-base64"),
    pytest.param(basic(b"\xff\xfe", b"password-16-chars"), 400, b"UTF-8", id="user-not-utf8"),
    pytest.param(b"Basic " + base64.b64encode(b"no-colon-here"), 400, b"user:password", id="no-colon"),
    pytest.param(b"Bearer abc", 400, b"Basic", id="not-basic"),
    pytest.param(basic(STATION.encode(), "пароль-пароль-пароль".encode()), 401, b"wrong", id="non-ascii-password"),
    pytest.param(basic(STATION.encode(), b"\xff\xfe\xfd-binary-password"), 401, b"wrong", id="binary-password"),
]


@pytest.mark.parametrize(("authorization", "status", "reason"), CREDENTIALS)
async def test_malformed_or_non_ascii_basic_credentials_get_a_4xx_with_a_reason(
    api, ocpp_url, caplog, authorization, status, reason
):
    await register_station(api, STATION)
    answer, body = await raw_handshake(ocpp_url, STATION, (b"Authorization", authorization))
    assert (answer, reason in body) == (status, True), body
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


# -- failed-auth limits, before any hash -----------------------------------------------------------


@pytest.mark.settings(auth_failure_limit_per_station=3, auth_failure_limit_per_address=100)
async def test_wrong_passwords_are_limited_per_station_before_any_hash(api, ocpp_url):
    await register_station(api, STATION)
    for _ in range(3):
        status, _ = await raw_handshake(ocpp_url, STATION, (b"Authorization", basic(STATION.encode(), b"guess")))
        assert status == 401
    checks = await metric(api, "silkcharge_ocpp_password_checks_total")

    status, body = await raw_handshake(ocpp_url, STATION, (b"Authorization", basic(STATION.encode(), b"guess")))
    assert status == 429
    assert b"too many failed" in body
    assert await metric(api, "silkcharge_ocpp_password_checks_total") == checks  # refused before scrypt
    assert await metric(api, "silkcharge_ocpp_auth_limited_total") >= 1
    events = (await api.get("/api/v1/security-events", params={"station_id": STATION})).json()
    assert "FailedAuthLimitReached" in {e["type"] for e in events}


@pytest.mark.settings(auth_failure_limit_per_station=3, auth_failure_limit_per_address=100)
async def test_a_station_that_connected_before_is_not_locked_out_by_someone_guessing_its_password(
    api, ocpp_url
):
    await register_station(api, STATION)
    async with connected_peer(ocpp_url, STATION, "1.6"):
        pass
    for _ in range(4):
        await raw_handshake(ocpp_url, STATION, (b"Authorization", basic(STATION.encode(), b"guess")))
    async with connected_peer(ocpp_url, STATION, "1.6") as peer:
        reply = await peer.call(call16.BootNotification(charge_point_vendor="V", charge_point_model="M"))
    assert reply.status == "Accepted"


@pytest.mark.settings(auth_failure_limit_per_station=100, auth_failure_limit_per_address=4)
async def test_wrong_passwords_are_limited_per_source_address_across_station_ids(api, ocpp_url):
    for n in range(5):
        await register_station(api, f"EDGE-A{n}")
    for n in range(4):
        status, _ = await raw_handshake(ocpp_url, f"EDGE-A{n}", (b"Authorization", basic(f"EDGE-A{n}".encode(), b"x")))
        assert status == 401
    status, body = await raw_handshake(
        ocpp_url, "EDGE-A4", (b"Authorization", basic(b"EDGE-A4", PASSWORD.encode()))
    )
    assert status == 429
    assert b"address" in body


# -- a station without a password -----------------------------------------------------------------


async def _register_without_password(api, station_id: str) -> None:
    await register_station(api, "EDGE-SITE")  # creates the operator and site
    response = await api.post("/api/v1/stations", json={"id": station_id, "site": "ALA-TEST"})
    assert response.status_code == 201, response.text


async def test_a_station_registered_without_a_password_is_refused_so_nobody_takes_its_socket(api, ocpp_url):
    await _register_without_password(api, "NOPASS-1")
    with pytest.raises(InvalidStatus) as anyone:
        await websockets.connect(f"{ocpp_url}/NOPASS-1", subprotocols=["ocpp1.6"])
    with pytest.raises(InvalidStatus) as with_a_guess:
        await websockets.connect(f"{ocpp_url}/NOPASS-1", subprotocols=["ocpp1.6"],
                                 additional_headers=basic_auth("NOPASS-1", "any-password-at-all"))
    for refused in (anyone, with_a_guess):
        assert refused.value.response.status_code == 401
        assert b"has no password" in refused.value.response.body
    events = (await api.get("/api/v1/security-events", params={"station_id": "NOPASS-1"})).json()
    assert events and events[0]["type"] == "NoPasswordSet"


@pytest.mark.settings(allow_stations_without_password=True)
async def test_a_station_without_a_password_is_accepted_only_when_a_setting_allows_it(api, ocpp_url):
    await _register_without_password(api, "NOPASS-2")
    async with websockets.connect(f"{ocpp_url}/NOPASS-2", subprotocols=["ocpp1.6"]) as ws:
        assert ws.subprotocol == "ocpp1.6"


@pytest.mark.settings(auto_provision=True)
async def test_auto_provisioning_without_a_password_is_refused(api, ocpp_url):
    with pytest.raises(InvalidStatus) as refused:
        await websockets.connect(f"{ocpp_url}/NEW-NOPASS", subprotocols=["ocpp1.6"])
    assert refused.value.response.status_code == 401
    assert (await api.get("/api/v1/stations/NEW-NOPASS")).status_code == 404


# -- secrets a charger reports ---------------------------------------------------------------------

SECRET = "0123456789abcdef0123456789abcdef01234567"


async def _log_text(api, station_id: str) -> str:
    async def logged():
        rows = (await api.get(f"/api/v1/stations/{station_id}/messages")).json()
        return rows if any(r["action"] in ("GetConfiguration", "NotifyReport", "ChangeConfiguration",
                                           "SetVariables") for r in rows) else None

    return json.dumps(await eventually(logged))


async def test_authorization_key_reported_in_get_configuration_is_not_stored_served_or_logged(api, ocpp_url):
    await register_station(api, STATION)
    async with connected_peer(ocpp_url, STATION, "1.6") as peer:
        peer.configuration["AuthorizationKey"] = SECRET
        await peer.call(call16.BootNotification(charge_point_vendor="V", charge_point_model="M"))
        reply = await api.post(f"/api/v1/stations/{STATION}/commands/get_configuration", json={})
        raw = await api.post(f"/api/v1/stations/{STATION}/ocpp/GetConfiguration", json={})
        changed = await api.post(f"/api/v1/stations/{STATION}/commands/set_configuration",
                                 json={"key": "AuthorizationKey", "value": SECRET})
    assert reply.status_code == raw.status_code == changed.status_code == 200
    station = (await api.get(f"/api/v1/stations/{STATION}")).json()
    assert station["configuration"]["AuthorizationKey"] == "(redacted)"
    for text in (reply.text, raw.text, changed.text, json.dumps(station), await _log_text(api, STATION)):
        assert SECRET not in text


async def test_basic_auth_password_in_a_notify_report_is_not_stored_served_or_logged(api, ocpp_url):
    await register_station(api, STATION)
    async with connected_peer(ocpp_url, STATION, "2.0.1") as peer:
        await peer.call(call201.NotifyReport(request_id=1, generated_at=to_ocpp(utcnow()), seq_no=0, report_data=[
            {"component": {"name": "SecurityCtrlr"}, "variable": {"name": "BasicAuthPassword"},
             "variable_attribute": [{"type": "Actual", "value": SECRET, "mutability": "WriteOnly"}]},
            {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"},
             "variable_attribute": [{"type": "Actual", "value": "300"}]},
        ]))
        changed = await api.post(f"/api/v1/stations/{STATION}/commands/set_configuration",
                                 json={"key": "SecurityCtrlr.BasicAuthPassword", "value": SECRET})
    assert changed.status_code == 200
    station = (await api.get(f"/api/v1/stations/{STATION}")).json()
    assert station["configuration"]["SecurityCtrlr.BasicAuthPassword"] == "(redacted)"
    assert station["configuration"]["OCPPCommCtrlr.HeartbeatInterval"] == "300"
    for text in (changed.text, json.dumps(station), await _log_text(api, STATION)):
        assert SECRET not in text


async def test_metrics_need_the_operator_key_as_a_header_or_a_bearer_token(api):
    bare = api.headers.pop("X-API-Key")
    try:
        assert (await api.get("/metrics")).status_code == 401
        scraped = await api.get("/metrics", headers={"Authorization": f"Bearer {bare}"})
    finally:
        api.headers["X-API-Key"] = bare
    assert scraped.status_code == 200
    assert "# TYPE silkcharge_ocpp_password_checks_total counter" in scraped.text
