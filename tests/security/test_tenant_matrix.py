"""Every operator route of the OpenAPI document, called by every role of one tenant with another
tenant's ids, reads and writes nothing of the other tenant (issue 15, item 3).

Two tenants, "alpha" (tenant 1, the install's own) and "beta", each with an operator, a site,
a station, a token, a tariff, a transaction, its CDR and a reservation. Beta's rows carry
names no request ever sends (`SECRET`), so any answer that contains one has read across
tenants. For every operation of the document (generated, not listed by hand) and every role:

- the path is filled with beta's ids, the body with a minimal document from the operation's
  schema that names beta's operator, site, station and token wherever it asks for one;
- the answer never contains a beta secret, nor a beta id the request did not send;
- a route whose path names a beta row answers 403 (the role may not) or 404 (not in your
  tenant), with a reason, for every role bound to a tenant;
- afterwards every beta row is exactly as it was: nothing written across.

The platform administrator is called with `X-Tenant: alpha` (acting inside alpha); the
regulator is cross-tenant by design (aggregates and caps of every operator), so for it the
rule is: no personal data (tokens, names) of beta, and every write refused.

On PostgreSQL `test_row_level_security_hides_other_tenants_rows_without_the_orm` proves the
second wall: a plain SQL statement, without the ORM's criteria, sees only the scoped tenant's
rows.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text

from silkcharge.api.app import create_api
from silkcharge.domain.clock import utcnow
from silkcharge.domain.roles import CROSS_TENANT, Role
from silkcharge.services.access import Principal
from silkcharge.store.schema import (
    Base,
    ChargeDetailRecord,
    Operator,
    Reservation,
    TariffRecord,
    Transaction,
)
from silkcharge.store.tenancy import TenantOwned, tenant_scope

BOOT = Principal("key", None, "test bootstrap", Role.PLATFORM_ADMIN, None)
SECRET = {
    "operator": "Beta Hidden Operator Name",
    "site": "Beta Hidden Site Name",
    "token_label": "beta-hidden-token-label",
    "cdr_party": "BETAHIDDENPARTY",
}
BETA_IDS = {"operator": "BETA-OP", "site": "BETA-SITE", "station": "BETA-ST-1", "token": "BETATOKEN0001",
            "tariff": "BETA-TARIFF"}
ALPHA_IDS = {"operator": "ALPHA-OP", "site": "ALPHA-SITE", "station": "ALPHA-ST-1", "token": "ALPHATOKEN001",
             "tariff": "ALPHA-TARIFF"}
OPEN = {("post", "/api/v1/access/login"), ("post", "/api/v1/access/logout")}
# Path parameters that name platform data, not a tenant's: no refusal is owed for them.
PLATFORM_PATHS = ("/api/v1/jurisdictions", "/api/v1/price-caps", "/api/v1/station-profiles/",
                  "/api/v1/access/me")
TARIFF = {"currency": "KZT", "elements": [{"price_components": [{"type": "ENERGY", "price": "50",
                                                                  "step_size": 1}]}]}


async def _network(api: httpx.AsyncClient, ids: dict[str, str], tenant_code: str, secret: bool) -> None:
    """An operator, a site and a station made through the API as the tenant's admin."""
    headers = {"X-Tenant": tenant_code}
    operator = SECRET["operator"] if secret else "Alpha network"
    response = await api.post("/api/v1/operators", headers=headers, json={
        "code": ids["operator"], "name": operator, "country": "KZ", "currency": "KZT"})
    assert response.status_code == 201, response.text
    response = await api.post("/api/v1/sites", headers=headers, json={
        "code": ids["site"], "operator": ids["operator"], "name": SECRET["site"] if secret else "Alpha site",
        "city": "Kaskelen", "country": "KZ", "lat": 43.2, "lon": 76.62, "timezone": "Asia/Almaty"})
    assert response.status_code == 201, response.text
    response = await api.post("/api/v1/stations", headers=headers, json={
        "id": ids["station"], "site": ids["site"], "password": "s3cret-password-16",
        "connectors": [{"evse_id": 1, "connector_id": 1, "standard": "ccs2", "max_power_kw": "60"}]})
    assert response.status_code == 201, response.text
    response = await api.post("/api/v1/tokens", headers=headers, json={
        "token": ids["token"], "label": SECRET["token_label"] if secret else "alpha card"})
    assert response.status_code == 201, response.text


async def _sessions_and_money(platform, tenant: int, ids: dict[str, str], secret: bool) -> dict[str, Any]:
    """A tariff, a finished transaction with its CDR, and a reservation, stored as the tenant."""
    now = utcnow()
    with tenant_scope(tenant):
        async with platform.sessions.begin() as session:
            operator = await session.scalar(select(Operator).where(Operator.code == ids["operator"]))
            session.add(TariffRecord(code=ids["tariff"], operator_id=operator.id, body=TARIFF))
            tx = Transaction(station_id=ids["station"], station_tx_id=f"{ids['station']}-tx", evse_id=1,
                             connector_id=1, state="Ended", started_at=now - timedelta(hours=1), stopped_at=now,
                             id_token=ids["token"])
            session.add(tx)
            await session.flush()
            cdr_id = f"{ids['operator'].lower()}-cdr-0001"
            party = SECRET["cdr_party"] if secret else "ALPHAPARTY"
            session.add(ChargeDetailRecord(
                id=cdr_id, transaction_id=tx.id, currency="KZT", total_excl_vat=Decimal("100"),
                total_incl_vat=Decimal("112"), body={"party_id": party, "auth_id": ids["token"]},
                receipts={"en": f"receipt for {party}"}))
            reservation = Reservation(station_id=ids["station"], evse_id=1, id_token=ids["token"],
                                      expires_at=now + timedelta(hours=1), status="Accepted")
            session.add(reservation)
            await session.flush()
            return {"transaction": tx.id, "cdr": cdr_id, "reservation": reservation.id}


async def _snapshot(platform, tenant: int) -> dict[str, list]:
    """Every row of every tenant-owned table that belongs to `tenant`, as the platform sees it."""
    rows: dict[str, list] = {}
    async with platform.sessions() as session:
        for table in Base.metadata.sorted_tables:
            if "tenant_id" not in table.c or table.name in ("operator_accounts", "api_keys"):
                continue
            found = (await session.execute(select(table).where(table.c.tenant_id == tenant))).all()
            rows[table.name] = sorted(json.dumps([str(v) for v in row]) for row in found)
    return rows


def _value(schema: dict, doc: dict, name: str, beta: dict[str, str], depth: int = 0) -> Any:
    """A small value that fits `schema`, naming beta's rows where the field asks for one."""
    if "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    for choice in ("anyOf", "oneOf", "allOf"):
        if choice in schema:
            options = [s for s in schema[choice] if s.get("type") != "null"]
            return _value(options[0], doc, name, beta, depth) if options else None
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    if "default" in schema and schema["default"] is not None:
        return schema["default"]
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        if depth > 4:
            return {}
        required = schema.get("required", [])
        return {key: _value(sub, doc, key, beta, depth + 1)
                for key, sub in schema.get("properties", {}).items() if key in required}
    if kind == "array":
        return [_value(schema.get("items", {}), doc, name, beta, depth + 1)] * schema.get("minItems", 0)
    if kind == "integer":
        return max(1, schema.get("minimum", 1))
    if kind == "number":
        return max(1, schema.get("minimum", 1))
    if kind == "boolean":
        return False
    for field, key in (("operator", "operator"), ("site", "site"), ("station", "station"), ("token", "token"),
                       ("tariff", "tariff")):
        if field in name.lower():
            return beta[key]
    if schema.get("format") == "date-time":
        return (utcnow() + timedelta(hours=1)).isoformat()
    return "x" * max(1, schema.get("minLength", 1))


def _path(template: str, beta: dict[str, Any]) -> tuple[str, bool]:
    """The path with beta's ids, and whether it names a beta row."""
    names_beta = False

    def fill(match: re.Match) -> str:
        nonlocal names_beta
        param = match.group(1)
        owned = {
            "station_id": beta["station"], "controller_id": beta["station"], "token": beta["token"],
            "transaction_id": str(beta["transaction"]), "reservation_id": str(beta["reservation"]),
            "cdr_id": beta["cdr"], "key_id": str(beta["key_id"]), "account_id": str(beta["account_id"]),
        }
        if param == "code":
            if template.startswith(("/api/v1/operators", "/api/v1/sites", "/api/v1/tariffs",
                                    "/api/v1/smart/sites")):
                names_beta = True
                return {"operators": beta["operator"], "sites": beta["site"], "tariffs": beta["tariff"],
                        "smart": beta["site"]}[template.split("/")[3]]
            return "KZ"
        if param in owned:
            names_beta = True
            return owned[param]
        return {"command": "reset", "action": "Reset", "evse_id": "1", "connector_id": "1"}.get(param, "1")

    return re.sub(r"\{([^}]+)\}", fill, template), names_beta


@pytest.fixture
async def tenants(platform):
    access = platform.access
    beta = await access.create_tenant("beta", "Beta networks")
    transport = httpx.ASGITransport(app=create_api(platform))
    _, boot_key = await access.create_key(BOOT, "bootstrap", Role.PLATFORM_ADMIN, None, None)
    async with httpx.AsyncClient(transport=transport, base_url="http://silkcharge",
                                 headers={"X-API-Key": boot_key}) as admin:
        await _network(admin, ALPHA_IDS, "default", secret=False)
        await _network(admin, BETA_IDS, "beta", secret=True)
    alpha_rows = await _sessions_and_money(platform, 1, ALPHA_IDS, secret=False)
    beta_rows = await _sessions_and_money(platform, beta.id, BETA_IDS, secret=True)
    beta_key, _ = await access.create_key(BOOT, "beta's admin", Role.OPERATOR_ADMIN, beta.id, None)
    beta_account = await access.create_account(BOOT, "admin@beta.example", "Beta Hidden Admin",
                                               "a-long-password-1", Role.OPERATOR_ADMIN, beta.id)
    keys = {}
    for role in Role:
        _, keys[role] = await access.create_key(BOOT, f"alpha {role.value}", role,
                                                None if role in CROSS_TENANT else 1, None)
    yield {
        "beta_tenant": beta.id, "keys": keys, "transport": transport,
        "beta": {**BETA_IDS, **beta_rows, "key_id": beta_key.id, "account_id": beta_account.id},
        "alpha": {**ALPHA_IDS, **alpha_rows},
    }


def _operations(doc: dict):
    for path, item in sorted(doc["paths"].items()):
        for method, operation in sorted(item.items()):
            if (method, path) in OPEN or "driver" in operation.get("tags", []):
                continue
            if not operation.get("security") or path == "/metrics":
                continue  # public (the driver app's, the trip planner's, the console's helpers), or
                # the metrics, which name no tenant's rows
            yield path, method, operation


async def test_no_role_of_one_tenant_reads_or_writes_another_tenants_rows(platform, tenants):
    beta = tenants["beta"]
    doc = create_api(platform).openapi()
    before = await _snapshot(platform, tenants["beta_tenant"])
    assert before["stations"] and before["cdrs"] and before["reservations"] and before["tariffs"]
    # What a regulator may not see either (personal data), and what only beta's own people may.
    secrets = [SECRET["token_label"], BETA_IDS["token"], "admin@beta.example", "Beta Hidden Admin"]
    company = [SECRET["operator"], SECRET["site"], SECRET["cdr_party"]]
    failures: list[str] = []
    counts: dict[int, int] = {}
    calls = 0
    async with httpx.AsyncClient(transport=tenants["transport"], base_url="http://silkcharge") as client:
        for template, method, operation in _operations(doc):
            path, names_beta = _path(template, beta)
            body = None
            content = (operation.get("requestBody") or {}).get("content", {})
            if "application/json" in content:
                body = _value(content["application/json"]["schema"], doc, "", beta)
            for role, key in tenants["keys"].items():
                headers = {"X-API-Key": key}
                if role is Role.PLATFORM_ADMIN:
                    headers["X-Tenant"] = "default"
                if template == "/api/v1/events":
                    continue  # a stream: tests/security/test_tenancy.py reads it by tenant
                response = await client.request(method.upper(), path, headers=headers, json=body)
                calls += 1
                counts[response.status_code] = counts.get(response.status_code, 0) + 1
                where = f"{method.upper()} {path} as {role.value}: {response.status_code}"
                sent = path + json.dumps(body)
                answer = response.text
                if response.status_code >= 500:
                    failures.append(f"{where} (a server error) {answer[:200]}")
                hidden = secrets if role is Role.REGULATOR else secrets + company
                leaked = [s for s in hidden if s in answer and s not in sent]
                if role is not Role.REGULATOR:
                    leaked += [str(v) for k, v in beta.items()
                               if k in ("operator", "site", "station", "token", "tariff", "cdr")
                               and str(v) in answer and str(v) not in sent]
                if leaked:
                    failures.append(f"{where} answered beta's {leaked}: {answer[:200]}")
                if response.status_code in (403, 404) and not response.json().get("detail"):
                    failures.append(f"{where} refused without a reason")
                refused = response.status_code in (403, 404, 422)
                if names_beta and not template.startswith(PLATFORM_PATHS) and role is not Role.REGULATOR \
                        and not refused:
                    failures.append(f"{where} did not refuse beta's row: {answer[:200]}")
                if role is Role.REGULATOR and method != "get" and response.status_code < 400:
                    failures.append(f"{where}: a regulator wrote")
    after = await _snapshot(platform, tenants["beta_tenant"])
    changed = [table for table in before if before[table] != after[table]]
    assert not failures, f"{len(failures)} of {calls} calls crossed tenants:\n" + "\n".join(failures[:60])
    assert changed == [], f"beta's rows changed: {changed}"
    assert calls > 7 * 150, calls  # every operation, every role
    assert counts.get(404, 0) and counts.get(403, 0), counts


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_row_level_security_hides_other_tenants_rows_without_the_orm(platform, tenants):
    """Plain SQL, with no ORM criteria, in a transaction scoped to alpha: PostgreSQL's policies
    alone keep beta's rows out, and refuse a write into beta."""
    with tenant_scope(1):
        async with platform.sessions() as session:
            stations = (await session.execute(text("SELECT id FROM stations ORDER BY id"))).scalars().all()
            cdrs = (await session.execute(text("SELECT id FROM cdrs"))).scalars().all()
            role = (await session.execute(text("SELECT current_user"))).scalar()
            moved = (await session.execute(
                text("UPDATE stations SET vendor = 'moved' WHERE id = :id"), {"id": BETA_IDS["station"]})).rowcount
    assert stations == [ALPHA_IDS["station"]]
    assert cdrs == ["alpha-op-cdr-0001"]
    assert role == "silkcharge_tenant"
    assert moved == 0
    async with platform.sessions() as session:  # the platform's own work sees both
        everything = (await session.execute(text("SELECT id FROM stations ORDER BY id"))).scalars().all()
    assert everything == [ALPHA_IDS["station"], BETA_IDS["station"]]


def test_every_tenant_owned_table_has_row_level_security_in_a_migration():
    from importlib import import_module
    from pathlib import Path

    import silkcharge.store as store

    migrated = set()
    for version in sorted((Path(store.__file__).parent / "migrations" / "versions").glob("0*.py")):
        module = import_module(f"silkcharge.store.migrations.versions.{version.stem}")
        migrated |= set(getattr(module, "OWNED", ()))
    owned = {mapper.local_table.name for mapper in Base.registry.mappers
             if issubclass(mapper.class_, TenantOwned)}
    assert owned == migrated
