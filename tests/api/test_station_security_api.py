"""The operator API refuses a security profile no station could connect with here, and the
security flows' refusals before anything is sent."""

from __future__ import annotations

from tests.e2e.network import register_station


async def test_a_profile_this_csms_cannot_serve_is_refused_with_the_setting_to_change(api):
    await register_station(api, "API-SEC-1")
    for profile in (2, 3):
        response = await api.patch("/api/v1/stations/API-SEC-1", json={"security_profile": profile})
        assert response.status_code == 422
        assert "SILKCHARGE_OCPP_TLS_PORT" in response.json()["detail"]
    created = await api.post("/api/v1/stations", json={"id": "API-SEC-2", "security_profile": 3})
    assert created.status_code == 422
    station = (await api.get("/api/v1/stations/API-SEC-1")).json()
    assert (station["security_profile"], station["password_set"]) == (1, True)


async def test_security_flows_for_a_station_that_never_connected_say_so(api):
    await register_station(api, "API-SEC-3")
    rotation = await api.post("/api/v1/stations/API-SEC-3/password-rotation", json={})
    upgrade = await api.post("/api/v1/stations/API-SEC-3/security-profile-upgrade", json={"profile": 2})
    unknown = await api.post("/api/v1/stations/NOPE/password-rotation", json={})
    weak = await api.post("/api/v1/stations/API-SEC-3/password-rotation", json={"password": "short"})
    assert rotation.status_code == upgrade.status_code == 422
    assert "never connected" in rotation.json()["detail"]
    assert unknown.status_code == 404
    assert weak.status_code == 422 and "password" in weak.json()["detail"]
