"""Helpers to register a small network through the API, as an operator would.

Its site lies in Kaskelen, west of Almaty and outside the city: the city's regulated price cap
would otherwise bind every test's tariff (tests/e2e/test_caps.py is about the cap)."""

from __future__ import annotations

import httpx

PASSWORD = "s3cret-password-16"


async def register_station(
    api: httpx.AsyncClient, station_id: str, *, connectors: int = 2, status: str = "Accepted"
) -> None:
    response = await api.get("/api/v1/operators/KZ-TEST")
    if response.status_code == 404:
        created = await api.post(
            "/api/v1/operators",
            json={"code": "KZ-TEST", "name": "Test network", "country": "KZ", "currency": "KZT"},
        )
        assert created.status_code == 201, created.text
        site = await api.post(
            "/api/v1/sites",
            json={
                "code": "ALA-TEST", "operator": "KZ-TEST", "name": "Kaskelen test site", "city": "Kaskelen",
                "country": "KZ", "lat": 43.2, "lon": 76.62, "timezone": "Asia/Almaty",
            },
        )
        assert site.status_code == 201, site.text
    standards = ["gbt_dc", "ccs2", "type2"]
    body = {
        "id": station_id,
        "site": "ALA-TEST",
        "password": PASSWORD,
        "registration_status": status,
        "connectors": [
            {"evse_id": n, "connector_id": 1, "standard": standards[(n - 1) % 3], "max_power_kw": "60"}
            for n in range(1, connectors + 1)
        ],
    }
    response = await api.post("/api/v1/stations", json=body)
    assert response.status_code == 201, response.text


async def add_token(api: httpx.AsyncClient, token: str, **extra) -> None:
    response = await api.post("/api/v1/tokens", json={"token": token, **extra})
    assert response.status_code == 201, response.text


async def metric(api: httpx.AsyncClient, name: str) -> float:
    """A counter or gauge from /metrics (the sum over its labels)."""
    text = (await api.get("/metrics")).text
    values = [float(line.split()[-1]) for line in text.splitlines() if line.split("{")[0].split(" ")[0] == name]
    assert values, f"{name} is not in /metrics"
    return sum(values)
