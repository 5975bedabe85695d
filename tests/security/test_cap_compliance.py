"""A regulator reads price-cap compliance per operator across tenants (issue 15, item 4), in
aggregates only; a tenant's people read their own operators' rows; roles without `caps:read`
are refused. On SQLite and PostgreSQL."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from silkcharge.api.app import create_api
from silkcharge.domain.roles import Role
from silkcharge.services.access import Principal
from tests.e2e.network import add_token, register_station
from tests.e2e.test_caps import CAP, IN_ALMATY, energy, tariff

BOOT = Principal("key", None, "test bootstrap", Role.PLATFORM_ADMIN, None)
DEAR = tariff(energy("95"))  # 110.20 KZT/kWh with VAT: over the Almaty cap
FAIR = tariff(energy("80"))  # 92.80: within it
SECRET_TOKEN = "COMPLIANCE-CARD-1"


async def _client(platform, key: str, **headers: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=create_api(platform)), base_url="http://silkcharge",
                             headers={"X-API-Key": key, **headers})


@pytest.fixture
async def two_tenants(platform, api):
    """KZ-TEST (tenant 1) with a network-wide tariff over the cap and one within it at an Almaty
    site; BETA-OP (tenant beta) with one tariff within the cap at two Almaty sites."""
    await register_station(api, "COMP-ST-1")
    await add_token(api, SECRET_TOKEN)
    created = await api.post("/api/v1/sites", json={
        "code": "ALA-COMP", "operator": "KZ-TEST", "name": "Abay avenue", "country": "KZ",
        "timezone": "Asia/Almaty", **IN_ALMATY})
    assert created.status_code == 201, created.text
    for code, body in (("KZ-COMP-DEAR", DEAR), ("KZ-COMP-FAIR", FAIR)):
        published = await api.post("/api/v1/tariffs", json={"code": code, "operator": "KZ-TEST", "tariff": body})
        assert published.status_code == 201, published.text
    await platform.access.create_tenant("beta", "Beta networks")
    _, admin = await platform.access.create_key(BOOT, "platform", Role.PLATFORM_ADMIN, None, None)
    async with await _client(platform, admin, **{"X-Tenant": "beta"}) as beta:
        for path, body in (
            ("/api/v1/operators", {"code": "BETA-OP", "name": "Beta Charge", "country": "KZ", "currency": "KZT"}),
            ("/api/v1/sites", {"code": "BETA-ALA-1", "operator": "BETA-OP", "name": "Beta one", "country": "KZ",
                               "timezone": "Asia/Almaty", "lat": 43.238, "lon": 76.945}),
            ("/api/v1/sites", {"code": "BETA-ALA-2", "operator": "BETA-OP", "name": "Beta two", "country": "KZ",
                               "timezone": "Asia/Almaty", "lat": 43.222, "lon": 76.851}),
            ("/api/v1/tariffs", {"code": "BETA-FAIR", "operator": "BETA-OP", "tariff": FAIR}),
            ("/api/v1/access/accounts", {"email": "boss@beta.example", "name": "Beta Boss",
                                         "password": "a-long-password-1", "role": "operator_admin",
                                         "tenant": "beta"}),
        ):
            response = await beta.post(path, json=body)
            assert response.status_code == 201, response.text
    await platform.billing.caps.recheck_cap()
    keys = {}
    for role in (Role.REGULATOR, Role.VIEWER, Role.TECHNICIAN):
        _, keys[role] = await platform.access.create_key(BOOT, role.value, role,
                                                         None if role is Role.REGULATOR else 1, None)
    return keys


async def test_a_regulator_sees_each_operator_of_each_tenant_against_the_cap_and_nothing_personal(
        platform, two_tenants):
    async with await _client(platform, two_tenants[Role.REGULATOR]) as regulator:
        response = await regulator.get("/api/v1/cap-compliance")
    assert response.status_code == 200, response.text
    rows = {row["operator"]: row for row in response.json()}
    ours, theirs = rows["KZ-TEST"], rows["BETA-OP"]
    assert (ours["tenant"], ours["cap"], ours["country"]) == ("default", CAP, "KZ")
    assert Decimal(ours["cap_per_kwh_incl_vat"]) == Decimal(100) and ours["currency"] == "KZT"
    assert (ours["sites"], ours["tariffs"], ours["suspended_tariffs"], ours["violations"]) == (1, 2, 1, 1)
    assert (theirs["tenant"], theirs["tenant_name"], theirs["operator_name"]) == ("beta", "Beta networks", "Beta Charge")
    assert (theirs["sites"], theirs["tariffs"], theirs["suspended_tariffs"], theirs["violations"]) == (2, 1, 0, 0)
    assert SECRET_TOKEN not in response.text and "@" not in response.text and "Beta Boss" not in response.text


async def test_a_tenants_viewer_sees_only_its_own_operators_and_a_technician_is_refused(platform, two_tenants):
    async with await _client(platform, two_tenants[Role.VIEWER]) as viewer:
        own = await viewer.get("/api/v1/cap-compliance")
    async with await _client(platform, two_tenants[Role.TECHNICIAN]) as technician:
        refused = await technician.get("/api/v1/cap-compliance")
    assert own.status_code == 200, own.text
    assert [row["operator"] for row in own.json()] == ["KZ-TEST"]
    assert refused.status_code == 403 and "caps:read" in refused.json()["detail"]
