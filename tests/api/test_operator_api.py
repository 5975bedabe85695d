"""The operator API: records, their refusals with reasons, and commands that fail at the station."""

from __future__ import annotations

import json

import httpx
import websockets
from ocpp.v201 import call

from tests.e2e.network import PASSWORD, register_station
from tests.e2e.peers import basic_auth, connected_peer


async def test_requests_without_the_api_key_are_refused(platform, api):
    bare = httpx.AsyncClient(transport=api._transport, base_url="http://silkcharge")
    async with bare:
        assert (await bare.get("/api/v1/stations")).status_code == 401
        wrong = await bare.get("/api/v1/stations", headers={"X-API-Key": "nope"})
        assert wrong.status_code == 401
        assert (await bare.get("/api/v1/health")).status_code == 200


async def test_operator_site_station_token_lifecycle(api):
    created = await api.post("/api/v1/operators", json={"code": "UZ-NET", "name": "Toshkent Charge",
                                                        "country": "UZ", "currency": "UZS"})
    assert created.status_code == 201
    patched = await api.patch("/api/v1/operators/UZ-NET", json={"name": "Tashkent Charge"})
    assert patched.json()["name"] == "Tashkent Charge"
    site = await api.post("/api/v1/sites", json={"code": "TAS-1", "operator": "UZ-NET", "name": "Chilonzor",
                                                 "country": "UZ", "lat": 41.28, "lon": 69.2, "timezone": "Asia/Tashkent"})
    assert site.status_code == 201
    station = await api.post("/api/v1/stations", json={"id": "TAS-1-A", "site": "TAS-1", "password": PASSWORD,
        "connectors": [{"evse_id": 1, "standard": "GB/T DC", "max_power_kw": "120.5"}]})
    assert station.status_code == 201, station.text
    assert station.json()["connectors"][0]["standard"] == "gbt_dc"
    assert station.json()["connectors"][0]["max_power_kw"] == "120.5"
    added = await api.post("/api/v1/stations/TAS-1-A/connectors",
                           json={"evse_id": 2, "standard": "ccs2", "max_power_kw": "60"})
    assert added.status_code == 201
    changed = await api.patch("/api/v1/stations/TAS-1-A/connectors/2/1", json={"max_power_kw": "90"})
    assert changed.json()["max_power_kw"] == "90"
    assert (await api.delete("/api/v1/stations/TAS-1-A/connectors/2/1")).status_code == 204
    token = await api.post("/api/v1/tokens", json={"token": "UZ-CARD-1", "group_id": "tashkent-taxi",
                                                   "expires_at": "2027-06-01T00:00:00+05:00"})
    assert token.json()["expires_at"].startswith("2027-05-31T19:00:00")
    assert (await api.patch("/api/v1/tokens/UZ-CARD-1", json={"status": "Blocked"})).json()["status"] == "Blocked"
    assert [t["token"] for t in (await api.get("/api/v1/tokens?group_id=tashkent-taxi")).json()] == ["UZ-CARD-1"]
    assert (await api.delete("/api/v1/tokens/UZ-CARD-1")).status_code == 204
    assert (await api.delete("/api/v1/stations/TAS-1-A")).status_code == 204
    assert (await api.delete("/api/v1/sites/TAS-1")).status_code == 204
    assert (await api.delete("/api/v1/operators/UZ-NET")).status_code == 204
    assert (await api.get("/api/v1/operators")).json() == []


async def test_bad_records_are_refused_with_a_reason_and_change_nothing(api):
    await register_station(api, "ALA-9")
    cases = [
        (lambda: api.post("/api/v1/operators", json={"code": "X1", "name": "x", "country": "KZ", "currency": "KZZ"}),
         422, "unknown currency"),
        (lambda: api.post("/api/v1/operators", json={"code": "KZ-TEST", "name": "again", "country": "KZ", "currency": "KZT"}),
         409, "already exists"),
        (lambda: api.post("/api/v1/sites", json={"code": "S2", "operator": "KZ-TEST", "name": "s", "country": "KZ",
                                         "lat": 43, "lon": 76, "timezone": "Asia/Atlantis"}), 422, "time zone"),
        (lambda: api.post("/api/v1/sites", json={"code": "S3", "operator": "NOPE", "name": "s", "country": "KZ",
                                         "lat": 43, "lon": 76, "timezone": "Asia/Almaty"}), 404, "no operator"),
        (lambda: api.post("/api/v1/stations", json={"id": "ALA-9"}), 409, "already exists"),
        (lambda: api.post("/api/v1/stations", json={"id": "has space"}), 422, "id"),
        (lambda: api.post("/api/v1/stations/ALA-9/connectors", json={"evse_id": 1, "standard": "ccs2", "max_power_kw": "50"}),
         409, "already has connector"),
        (lambda: api.post("/api/v1/stations/ALA-9/connectors", json={"evse_id": 5, "standard": "warp", "max_power_kw": "50"}),
         422, "standard"),
        (lambda: api.post("/api/v1/stations/ALA-9/connectors", json={"evse_id": 5, "standard": "ccs2", "max_power_kw": "-5"}),
         422, "max_power_kw"),
        (lambda: api.post("/api/v1/tokens", json={"token": "T", "expires_at": "2027-01-01T00:00:00"}), 422, "time zone"),
        (lambda: api.delete("/api/v1/operators/KZ-TEST"), 409, "still has sites"),
        (lambda: api.get("/api/v1/stations/NOPE"), 404, "no station"),
    ]
    for request, status, reason in cases:
        response = await request()
        assert response.status_code == status, (reason, response.text)
        assert reason in response.json()["detail"]
    stations = (await api.get("/api/v1/stations")).json()
    assert [(s["id"], len(s["connectors"])) for s in stations] == [("ALA-9", 2)]


async def test_a_station_that_never_answers_gives_504(api, ocpp_url):
    await register_station(api, "MUTE-1")
    async with websockets.connect(f"{ocpp_url}/MUTE-1", subprotocols=["ocpp1.6"],
                                  additional_headers=basic_auth("MUTE-1", PASSWORD)) as ws:
        await ws.send(json.dumps([2, "b", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}]))
        await ws.recv()
        response = await api.post("/api/v1/stations/MUTE-1/commands/clear_cache?timeout=0.3", json={})
    assert response.status_code == 504
    assert "did not answer ClearCache" in response.json()["detail"]


async def test_a_station_callerror_comes_back_as_502_with_its_code(api, ocpp_url):
    await register_station(api, "RSV-1")
    async with connected_peer(ocpp_url, "RSV-1", "2.0.1") as peer:
        await peer.call(call.BootNotification(charging_station={"model": "M", "vendor_name": "V"}, reason="PowerUp"))
        # The test peer implements no certificate management, so it answers with a CALLERROR.
        response = await api.post("/api/v1/stations/RSV-1/ocpp/GetInstalledCertificateIds", json={})
    assert response.status_code == 502
    assert response.json()["error_code"] == "NotImplemented"
