"""Tenants, roles and the upgrade path (issue 15, items 1, 2 and 7), on SQLite and PostgreSQL.

The matrix across tenants is tests/security/test_tenant_matrix.py; here: an install from
before tenancy becomes tenant 1 and its key keeps working (with a deprecation warning), each
role may do what domain/roles.py grants and is refused the rest with a reason, people log in
with a password and a second factor, and rows written outside any scope take their parent's
tenant.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import httpx
import pytest
from alembic import command
from sqlalchemy import create_engine, select, text

from silkcharge.api.app import create_api
from silkcharge.app import build_platform
from silkcharge.domain import totp
from silkcharge.domain.clock import utcnow
from silkcharge.domain.events import PartnerObjectReceived, StationConnected
from silkcharge.domain.roles import CROSS_TENANT, Role
from silkcharge.services.access import Principal
from silkcharge.store.db import alembic_config, migrate, sync_url
from silkcharge.store.schema import Evse, RoamingPartner, Station
from silkcharge.store.tenancy import forget_database, tenant_scope
from tests.api.test_http_limits import serving
from tests.conftest import API_KEY
from tests.e2e.network import register_station
from tests.guards import HANG_GUARD

BOOT = Principal("key", None, "test bootstrap", Role.PLATFORM_ADMIN, None)


async def test_a_single_key_install_becomes_tenant_1_and_its_key_still_works_with_a_warning(
        database_url, settings, caplog):
    command.downgrade(alembic_config(database_url), "0022")
    engine = create_engine(sync_url(database_url))
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO operators (id, code, name, country, currency, created_at) "
            "VALUES (1, 'KZ-OLD', 'Old network', 'KZ', 'KZT', CURRENT_TIMESTAMP)"))
        connection.execute(text(
            "INSERT INTO sites (id, code, operator_id, name, city, country, lat, lon, timezone, created_at, "
            "updated_at) VALUES (1, 'OLD-SITE', 1, 'Old site', 'Kaskelen', 'KZ', 43.2, 76.62, 'Asia/Almaty', "
            "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
        connection.execute(text(
            "INSERT INTO stations (id, site_id, registration_status, online, created_at) "
            "VALUES ('OLD-ST-1', 1, 'Accepted', false, CURRENT_TIMESTAMP)"))
    migrate(database_url)
    with engine.connect() as connection:
        tenants = connection.execute(text("SELECT id, code FROM tenants")).all()
        owners = connection.execute(text("SELECT tenant_id FROM stations")).scalars().all()
    engine.dispose()
    assert tenants == [(1, "default")]
    assert owners == [1]

    platform = build_platform(settings)
    await platform.start()
    try:
        transport = httpx.ASGITransport(app=create_api(platform))
        async with httpx.AsyncClient(transport=transport, base_url="http://silkcharge",
                                     headers={"X-API-Key": API_KEY}) as old:
            with caplog.at_level(logging.WARNING, logger="silkcharge.services.access"):
                stations = await old.get("/api/v1/stations")
                me = await old.get("/api/v1/access/me")
            created = await old.post("/api/v1/tokens", json={"token": "OLDKEYTOKEN1"})
            key = await old.post("/api/v1/access/keys", json={"name": "a personal key", "role": "technician"})
        assert stations.status_code == 200, stations.text
        assert [s["id"] for s in stations.json()] == ["OLD-ST-1"]
        assert me.json()["kind"] == "legacy-key" and me.json()["role"] == "operator_admin"
        assert me.json()["tenant_id"] == 1
        assert created.status_code == 201, created.text
        assert key.status_code == 201 and key.json()["tenant_id"] == 1, key.text
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert any("SILKCHARGE_API_KEY is deprecated" in w for w in warnings), warnings
    finally:
        await platform.stop()


@pytest.fixture
async def people(platform, api):
    """A key per role in tenant 1 (where the test network lives) and a second tenant."""
    await register_station(api, "ROLE-ST-1")
    await platform.access.create_tenant("beta", "Beta networks")
    keys = {}
    for role in Role:
        _, keys[role] = await platform.access.create_key(BOOT, role.value, role,
                                                         None if role in CROSS_TENANT else 1, None)
    return keys


async def _as(platform, key: str, method: str, path: str, **kwargs) -> httpx.Response:
    transport = httpx.ASGITransport(app=create_api(platform))
    async with httpx.AsyncClient(transport=transport, base_url="http://silkcharge",
                                 headers={"X-API-Key": key}) as client:
        return await client.request(method, path, **kwargs)


@pytest.mark.parametrize(("role", "method", "path", "allowed"), [
    (Role.TECHNICIAN, "GET", "/api/v1/stations/ROLE-ST-1/configuration", True),
    (Role.TECHNICIAN, "GET", "/api/v1/tariffs", False),
    (Role.TECHNICIAN, "GET", "/api/v1/cdrs", False),
    (Role.FINANCE, "GET", "/api/v1/tariffs", True),
    (Role.FINANCE, "GET", "/api/v1/cdrs", True),
    (Role.FINANCE, "POST", "/api/v1/stations/ROLE-ST-1/commands/reset", False),
    (Role.OPERATOR_STAFF, "GET", "/api/v1/transactions", True),
    (Role.OPERATOR_STAFF, "POST", "/api/v1/tariffs", False),
    (Role.VIEWER, "GET", "/api/v1/stations", True),
    (Role.VIEWER, "DELETE", "/api/v1/stations/ROLE-ST-1", False),
    (Role.VIEWER, "GET", "/api/v1/access/accounts", False),
    (Role.REGULATOR, "GET", "/api/v1/price-caps", True),
    (Role.REGULATOR, "GET", "/api/v1/analytics/summary?start=2026-01-01T00:00:00Z&end=2026-01-02T00:00:00Z",
     True),
    (Role.REGULATOR, "GET", "/api/v1/tokens", False),
    (Role.REGULATOR, "GET", "/api/v1/transactions", False),
    (Role.REGULATOR, "GET", "/api/v1/stations/ROLE-ST-1/messages", False),
    (Role.OPERATOR_ADMIN, "GET", "/api/v1/tenants", False),
    (Role.OPERATOR_ADMIN, "POST", "/api/v1/price-caps", False),
    (Role.PLATFORM_ADMIN, "GET", "/api/v1/tenants", True),
])
async def test_each_role_may_do_what_its_grants_say_and_is_refused_the_rest_with_a_reason(
        platform, people, role, method, path, allowed):
    response = await _as(platform, people[role], method, path, json={} if method != "GET" else None)
    if allowed:
        assert response.status_code == 200, response.text
    else:
        assert response.status_code == 403, response.text
        assert f"the role {role.value} may not do this" in response.json()["detail"]


async def test_a_regulator_reads_cap_compliance_across_tenants(platform, people):
    suspensions = await _as(platform, people[Role.REGULATOR], "GET", "/api/v1/tariff-suspensions")
    assert suspensions.status_code == 200, suspensions.text
    me = (await _as(platform, people[Role.REGULATOR], "GET", "/api/v1/access/me")).json()
    assert me["tenant_id"] is None and "personal-data" not in me["permissions"]


async def test_only_a_platform_admin_chooses_a_tenant_and_an_unknown_one_is_a_404(platform, people):
    admin = await _as(platform, people[Role.OPERATOR_ADMIN], "GET", "/api/v1/stations",
                      headers={"X-Tenant": "beta"})
    assert admin.status_code == 403 and "X-Tenant" in admin.json()["detail"]
    inside_beta = await _as(platform, people[Role.PLATFORM_ADMIN], "GET", "/api/v1/stations",
                            headers={"X-Tenant": "beta"})
    assert inside_beta.status_code == 200 and inside_beta.json() == []
    nowhere = await _as(platform, people[Role.PLATFORM_ADMIN], "GET", "/api/v1/stations",
                        headers={"X-Tenant": "nope"})
    assert nowhere.status_code == 404 and nowhere.json()["detail"]


async def test_nobody_grants_a_role_with_more_than_they_hold(platform, people):
    staff = await _as(platform, people[Role.OPERATOR_STAFF], "POST", "/api/v1/access/keys",
                      json={"name": "mine", "role": "operator_admin"})
    assert staff.status_code == 403
    admin = await _as(platform, people[Role.OPERATOR_ADMIN], "POST", "/api/v1/access/keys",
                      json={"name": "the platform", "role": "platform_admin"})
    assert admin.status_code == 403 and admin.json()["detail"]


async def test_a_revoked_or_expired_key_is_refused(platform, people):
    row, secret = await platform.access.create_key(BOOT, "soon gone", Role.VIEWER, 1, None)
    assert (await _as(platform, secret, "GET", "/api/v1/stations")).status_code == 200
    revoked = await _as(platform, people[Role.OPERATOR_ADMIN], "DELETE", f"/api/v1/access/keys/{row.id}")
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    assert (await _as(platform, secret, "GET", "/api/v1/stations")).status_code == 401
    _, short = await platform.access.create_key(BOOT, "short", Role.VIEWER, 1, utcnow() + timedelta(seconds=1))
    platform.access._clock = lambda: utcnow() + timedelta(minutes=5)
    assert (await _as(platform, short, "GET", "/api/v1/stations")).status_code == 401


async def test_a_person_logs_in_with_password_and_second_factor_and_acts_in_their_role(platform, people):
    created = await _as(platform, people[Role.OPERATOR_ADMIN], "POST", "/api/v1/access/accounts", json={
        "email": "Tech@Example.org", "name": "A Technician", "password": "a-long-password-1",
        "role": "technician"})
    assert created.status_code == 201, created.text
    transport = httpx.ASGITransport(app=create_api(platform))
    async with httpx.AsyncClient(transport=transport, base_url="http://silkcharge") as person:
        login = await person.post("/api/v1/access/login", json={"email": "tech@example.org",
                                                                 "password": "a-long-password-1"})
        assert login.status_code == 200, login.text
        bearer = {"Authorization": f"Bearer {login.json()['token']}"}
        started = await person.post("/api/v1/access/me/totp", headers=bearer)
        secret = started.json()["secret"]
        confirmed = await person.post("/api/v1/access/me/totp/confirm", headers=bearer,
                                      json={"code": totp.code_at(secret, utcnow())})
        assert confirmed.status_code == 204, confirmed.text
        no_code = await person.post("/api/v1/access/login", json={"email": "tech@example.org",
                                                                   "password": "a-long-password-1"})
        # the right password without a code: the console is told to ask for one
        assert no_code.status_code == 401 and no_code.json()["code"] == "totp_required", no_code.text
        wrong_code = await person.post("/api/v1/access/login", json={
            "email": "tech@example.org", "password": "a-long-password-1", "code": "000000"
            if totp.code_at(secret, utcnow()) != "000000" else "111111"})
        assert wrong_code.status_code == 401 and wrong_code.json()["detail"] == "wrong email, password or code"
        assert "code" not in wrong_code.json()
        wrong_password = await person.post("/api/v1/access/login", json={"email": "tech@example.org",
                                                                         "password": "not-the-password"})
        assert wrong_password.status_code == 401 and "code" not in wrong_password.json()
        with_code = await person.post("/api/v1/access/login", json={
            "email": "tech@example.org", "password": "a-long-password-1", "code": totp.code_at(secret, utcnow())})
        assert with_code.status_code == 200, with_code.text
        me = await person.get("/api/v1/access/me")
        assert (me.json()["person"], me.json()["name"], me.json()["role"]) == (
            "A Technician", "tech@example.org", "technician")
        # the session cookie is the console's credential
        diagnostics = await person.get("/api/v1/stations/ROLE-ST-1/configuration")
        tariffs = await person.get("/api/v1/tariffs")
    assert diagnostics.status_code == 200, diagnostics.text
    assert tariffs.status_code == 403


async def _beta_station(platform, admin) -> None:
    """Operator BETA-OP, its site and station BETA-ST-9, made by a platform administrator in
    tenant beta."""
    for path, body in (("/api/v1/operators", {"code": "BETA-OP", "name": "Beta", "country": "KZ",
                                              "currency": "KZT"}),
                       ("/api/v1/sites", {"code": "BETA-SITE", "operator": "BETA-OP", "name": "Beta site",
                                          "city": "Kaskelen", "country": "KZ", "lat": 43.2, "lon": 76.62,
                                          "timezone": "Asia/Almaty"}),
                       ("/api/v1/stations", {"id": "BETA-ST-9", "site": "BETA-SITE", "password": "s3cret-password-16",
                                             "connectors": []})):
        response = await _as(platform, admin, "POST", path, json=body, headers={"X-Tenant": "beta"})
        assert response.status_code == 201, response.text


async def test_rows_written_outside_any_scope_take_their_parents_tenant(platform, people):
    beta = (await platform.access.tenant_by_code("beta")).id
    await _beta_station(platform, people[Role.PLATFORM_ADMIN])
    async with platform.sessions.begin() as session:  # as the gateway writes: no scope
        session.add(Evse(station_id="BETA-ST-9", evse_id=7))
    async with platform.sessions() as session:
        evse = await session.scalar(select(Evse).where(Evse.station_id == "BETA-ST-9"))
    assert evse.tenant_id == beta
    with tenant_scope(1):
        async with platform.sessions() as session:
            assert await session.get(Station, "BETA-ST-9") is None
            assert await session.scalar(select(Evse).where(Evse.station_id == "BETA-ST-9")) is None


async def test_after_its_database_is_restored_behind_it_the_platform_asks_again_whose_rows_are_whose(
        platform, people):
    """What the platform learnt of a parent's tenant is forgotten with `forget_database`: the
    tests give databases back in their template's state, where the same station id or
    transaction 1 may belong to another tenant than before."""
    await _beta_station(platform, people[Role.PLATFORM_ADMIN])
    async with platform.sessions.begin() as session:  # as the gateway writes: no scope
        session.add(Evse(station_id="BETA-ST-9", evse_id=7))  # beta's, learnt
    async with platform.engine.begin() as connection:  # the restore: now the station is tenant 1's
        await connection.execute(text("UPDATE stations SET tenant_id = 1 WHERE id = 'BETA-ST-9'"))
    forget_database(platform.settings.database_url)
    async with platform.sessions.begin() as session:
        session.add(Evse(station_id="BETA-ST-9", evse_id=8))
    async with platform.sessions() as session:
        evse = await session.scalar(select(Evse).where(Evse.station_id == "BETA-ST-9", Evse.evse_id == 8))
    assert evse.tenant_id == 1


async def test_logged_frames_of_many_stations_each_take_their_stations_tenant(platform, people):
    beta = (await platform.access.tenant_by_code("beta")).id
    await _beta_station(platform, people[Role.PLATFORM_ADMIN])
    writer = platform.writer
    await writer.flush()  # what the fixtures' own frames left
    at = utcnow()
    for station in ("BETA-ST-9", "ROLE-ST-1", "BETA-ST-9", "NOBODY-KNOWS-ME", "ROLE-ST-1"):
        writer.log_message(station, "in", 2, f"m-{station}", "Heartbeat", "[2]", at)
    await writer.flush()  # one insert, as the gateway's batches are
    async with platform.sessions() as session:
        owners = (await session.execute(text(
            "SELECT station_id, tenant_id FROM ocpp_messages WHERE message_id LIKE 'm-%' ORDER BY id"
        ))).all()
    assert owners == [("BETA-ST-9", beta), ("ROLE-ST-1", 1), ("BETA-ST-9", beta),
                      ("NOBODY-KNOWS-ME", 1), ("ROLE-ST-1", 1)]


async def test_personal_data_in_clear_needs_the_permission(platform, people):
    viewer = await _as(platform, people[Role.VIEWER], "GET", "/api/v1/stations/ROLE-ST-1/messages",
                       params={"personal_data": "true"})
    assert viewer.status_code == 403 and "personal-data" in viewer.json()["detail"]
    pseudonymised = await _as(platform, people[Role.VIEWER], "GET", "/api/v1/stations/ROLE-ST-1/messages")
    assert pseudonymised.status_code == 200
    admin = await _as(platform, people[Role.OPERATOR_ADMIN], "GET", "/api/v1/stations/ROLE-ST-1/messages",
                      params={"personal_data": "true"})
    assert admin.status_code == 200


async def test_the_live_event_stream_shows_only_the_callers_tenants_stations(platform, people):
    await _beta_station(platform, people[Role.PLATFORM_ADMIN])
    first = await _first_event_seen(platform, people[Role.VIEWER], StationConnected("BETA-ST-9", utcnow(), "2.0.1"),
                                    StationConnected("ROLE-ST-1", utcnow(), "1.6"))
    assert first["station_id"] == "ROLE-ST-1"


async def _first_event_seen(platform, key: str, *events) -> dict:
    """The first event the live stream shows the holder of `key` after `events` are published."""
    async with serving(platform) as port, httpx.AsyncClient(timeout=HANG_GUARD) as client:
        async with client.stream("GET", f"http://127.0.0.1:{port}/api/v1/events", headers={"X-API-Key": key}) as answer:
            chunks = answer.aiter_lines()
            assert (await anext(chunks)).startswith(": connected")
            for event in events:
                platform.bus.publish(event)
            async for line in chunks:
                if line.startswith("data:"):
                    return json.loads(line[5:])
    raise AssertionError("the stream ended before any event")


async def test_a_roaming_partners_live_event_reaches_only_the_tenant_that_roams_with_it(platform, people):
    beta = (await platform.access.tenant_by_code("beta")).id
    async with platform.sessions.begin() as session:
        theirs = RoamingPartner(name="Beta's partner", state="registered", tenant_id=beta)
        ours = RoamingPartner(name="Our partner", state="registered", tenant_id=1)
        session.add_all([theirs, ours])
    first = await _first_event_seen(platform, people[Role.VIEWER],
                                    PartnerObjectReceived("", utcnow(), theirs.id, "sessions", "S-BETA"),
                                    PartnerObjectReceived("", utcnow(), ours.id, "sessions", "S-OURS"))
    assert (first["event"], first["object_id"]) == ("PartnerObjectReceived", "S-OURS")


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/api/v1/transactions/9223372036854775808/ev-charging-schedules"),
    ("DELETE", "/api/v1/access/keys/9223372036854775806"),
    ("PATCH", "/api/v1/access/accounts/2147483648"),
])
async def test_an_id_beyond_what_the_store_holds_is_a_422_at_the_door(platform, people, method, path):
    """Found by the OpenAPI fuzzer on PostgreSQL: these were 500s (an integer overflow in the driver)."""
    response = await _as(platform, people[Role.OPERATOR_ADMIN], method, path, json={} if method != "GET" else None)
    assert response.status_code == 422, response.text
