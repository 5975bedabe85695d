"""The audit trail (issue 15, item 4): every operator action with who, when, what, before and
after, and the source address; each tenant reads its own; nothing changes it (on PostgreSQL a
trigger refuses updates and deletes), on SQLite and PostgreSQL."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from silkcharge.api.app import create_api
from silkcharge.domain.roles import CROSS_TENANT, Role
from silkcharge.services.access import Principal
from tests.e2e.network import register_station

BOOT = Principal("key", None, "test bootstrap", Role.PLATFORM_ADMIN, None)


@pytest.fixture
async def keys(platform, api):
    await register_station(api, "AUDIT-ST-1")
    beta = await platform.access.create_tenant("beta", "Beta networks")
    made = {}
    for role in Role:
        _, made[role] = await platform.access.create_key(BOOT, f"the {role.value}", role,
                                                         None if role in CROSS_TENANT else 1, None)
    _, made["beta"] = await platform.access.create_key(BOOT, "beta's admin", Role.OPERATOR_ADMIN, beta.id, None)
    return made


async def _as(platform, key: str, method: str, path: str, **kwargs) -> httpx.Response:
    transport = httpx.ASGITransport(app=create_api(platform), client=("203.0.113.7", 4711))
    async with httpx.AsyncClient(transport=transport, base_url="http://silkcharge",
                                 headers={"X-API-Key": key}) as client:
        return await client.request(method, path, **kwargs)


async def test_a_change_is_recorded_with_who_when_what_before_after_and_address(platform, keys):
    changed = await _as(platform, keys[Role.OPERATOR_ADMIN], "PATCH", "/api/v1/stations/AUDIT-ST-1",
                        json={"registration_status": "Pending", "password": "a-new-password-16"})
    assert changed.status_code == 200, changed.text
    trail = await _as(platform, keys[Role.OPERATOR_ADMIN], "GET", "/api/v1/audit",
                      params={"target": "AUDIT-ST-1"})
    assert trail.status_code == 200, trail.text
    entry = trail.json()[0]
    assert entry["actor"].startswith("key:") and entry["actor"].endswith(":the operator_admin")
    assert entry["role"] == "operator_admin" and entry["tenant_id"] == 1
    assert entry["action"] == "PATCH /api/v1/stations/{station_id}"
    assert entry["target"] == {"station_id": "AUDIT-ST-1"}
    assert entry["status"] == 200 and entry["address"] == "203.0.113.7"
    assert entry["before"]["registration_status"] == "Accepted"
    assert entry["change"] == {"registration_status": "Pending", "password": "(redacted)"}
    assert entry["after"]["registration_status"] == "Pending"
    assert "a-new-password-16" not in trail.text


async def test_a_refused_attempt_and_a_granted_role_are_recorded_too(platform, keys):
    refused = await _as(platform, keys[Role.VIEWER], "DELETE", "/api/v1/stations/AUDIT-ST-1")
    assert refused.status_code == 403
    granted = await _as(platform, keys[Role.OPERATOR_ADMIN], "POST", "/api/v1/access/keys",
                        json={"name": "a technician's key", "role": "technician"})
    assert granted.status_code == 201
    entries = (await _as(platform, keys[Role.OPERATOR_ADMIN], "GET", "/api/v1/audit")).json()
    by_action = {e["action"]: e for e in entries}
    assert by_action["DELETE /api/v1/stations/{station_id}"]["status"] == 403
    assert by_action["DELETE /api/v1/stations/{station_id}"]["role"] == "viewer"
    key = by_action["POST /api/v1/access/keys"]
    assert key["change"]["role"] == "technician" and key["after"]["role"] == "technician"
    assert key["after"]["key"] == "(redacted)" and granted.json()["key"] not in str(entries)


async def test_each_tenant_reads_only_its_own_trail_and_only_with_the_permission(platform, keys):
    await _as(platform, keys[Role.OPERATOR_ADMIN], "PATCH", "/api/v1/stations/AUDIT-ST-1", json={"registration_status": "Pending"})
    beta = await _as(platform, keys["beta"], "GET", "/api/v1/audit")
    assert beta.status_code == 200 and beta.json() == []
    technician = await _as(platform, keys[Role.TECHNICIAN], "GET", "/api/v1/audit")
    assert technician.status_code == 403
    platform_wide = await _as(platform, keys[Role.PLATFORM_ADMIN], "GET", "/api/v1/audit")
    assert any(e["target"] == {"station_id": "AUDIT-ST-1"} for e in platform_wide.json())


async def test_no_route_changes_the_trail(platform):
    paths = create_api(platform).openapi()["paths"]
    audit = {path: set(ops) for path, ops in paths.items() if path.startswith("/api/v1/audit")}
    assert audit == {"/api/v1/audit": {"get"}}


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_postgresql_refuses_updates_and_deletes_of_the_trail(platform, keys):
    await _as(platform, keys[Role.OPERATOR_ADMIN], "PATCH", "/api/v1/stations/AUDIT-ST-1", json={"registration_status": "Pending"})
    for statement in ("UPDATE audit_entries SET actor = 'someone else'", "DELETE FROM audit_entries",
                      "TRUNCATE audit_entries"):
        with pytest.raises(DBAPIError, match="append-only"):
            async with platform.sessions.begin() as session:
                await session.execute(text(statement))
    async with platform.sessions() as session:
        actors = (await session.execute(text("SELECT actor FROM audit_entries"))).scalars().all()
    assert actors and "someone else" not in actors
