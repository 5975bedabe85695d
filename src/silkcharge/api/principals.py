"""The operator API's door: who is calling, may they use this route, and in which tenant.

Every operator route declares `authorized` (api/app.py does, per router). It reads the
credential (an `X-API-Key` header; `Authorization: Bearer` with an API key or a console
session; or the console's session cookie), checks the permission the route's area needs
(domain/roles.py) and puts the request in its tenant's scope (store/tenancy.py), so the
services below see only that tenant's rows without being told. A platform administrator acts
across tenants, or inside one with the header `X-Tenant: <code>`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select

from silkcharge.api.bounds import INT64_MAX
from silkcharge.domain.roles import CROSS_TENANT, Role, needed
from silkcharge.services.access import KEY_PREFIX, AccessService, Principal, UnknownAccess
from silkcharge.store.schema import Station, Transaction
from silkcharge.store.tenancy import tenant_scope

COOKIE = "silkcharge_operator"
API_KEY = APIKeyHeader(name="X-API-Key", auto_error=False,
                       description="an API key (POST /api/v1/access/keys), or the install's legacy key")
BEARER = HTTPBearer(auto_error=False, description="an API key, or a console session from /api/v1/access/login")
TENANT = APIKeyHeader(name="X-Tenant", auto_error=False, scheme_name="tenant",
                      description="a platform administrator's choice of tenant to act in (its code)")


UNAUTHENTICATED = "missing, wrong, expired or revoked credentials (X-API-Key, Bearer or session)"


def access_of(request: Request) -> AccessService:
    return request.app.state.platform.access


async def principal(
    request: Request,
    key: str | None = Depends(API_KEY),
    bearer: HTTPAuthorizationCredentials | None = Depends(BEARER),
) -> Principal:
    """Who is calling, or 401."""
    access = access_of(request)
    found = None
    if key:
        found = await access.from_key(key)
    elif bearer is not None:
        token = bearer.credentials
        found = await (access.from_key(token) if token.startswith(KEY_PREFIX) else access.from_session(token))
    elif request.cookies.get(COOKIE):
        found = await access.from_session(request.cookies[COOKIE])
    if found is None:
        raise HTTPException(401, UNAUTHENTICATED)
    request.state.principal = found
    return found


async def authorized(
    request: Request,
    who: Principal = Depends(principal),
    tenant_code: str | None = Depends(TENANT),
) -> AsyncIterator[Principal]:
    """`principal`, allowed to use this route, with the request in its tenant's scope."""
    request.state.tenant_id = who.tenant_id  # for the audit trail (api/audit.py), refusals too
    route = request.scope.get("route")
    wanted = needed(list(getattr(route, "tags", None) or []), request.method)
    missing = wanted - who.permissions
    if missing:
        raise HTTPException(403, f"the role {who.role.value} may not do this (it needs {', '.join(sorted(missing))})")
    tenant = who.tenant_id
    if tenant_code:
        if who.role is not Role.PLATFORM_ADMIN:
            raise HTTPException(403, "only a platform administrator chooses a tenant with X-Tenant")
        try:
            tenant = (await access_of(request).tenant_by_code(tenant_code)).id
        except UnknownAccess as exc:
            raise HTTPException(404, str(exc)) from None
    elif who.role not in CROSS_TENANT and tenant is None:
        raise HTTPException(403, "this credential belongs to no tenant")
    request.state.tenant_id = tenant  # for the audit trail (api/audit.py)
    with tenant_scope(tenant):
        await _path_rows_in_scope(request)
        yield who


# Path parameters that name a tenant's row, and the row: a route naming a row outside the
# caller's tenant answers 404 here, whatever the route would have done with an unknown id (an
# empty list, say), so no route has to remember to.
_OWNED_PATH = {
    "station_id": (Station, Station.id, str),
    "controller_id": (Station, Station.id, str),
    "transaction_id": (Transaction, Transaction.id, int),
}


async def _path_rows_in_scope(request: Request) -> None:
    wanted = [(name, value) for name, value in request.path_params.items() if name in _OWNED_PATH]
    if not wanted:
        return
    async with request.app.state.platform.sessions() as session:
        for name, value in wanted:
            table, key, kind = _OWNED_PATH[name]
            try:
                typed = kind(value)
            except ValueError:
                return  # the route's own validation answers 422
            if kind is int and not 1 <= typed <= INT64_MAX:
                return  # out of what the column holds: the route's validation answers 422
            if await session.scalar(select(key).where(key == typed)) is None:
                noun = name.removesuffix("_id").replace("_", " ")
                raise HTTPException(404, f"no {noun} {value}")
