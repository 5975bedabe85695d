"""People, roles, API keys and tenants over HTTP (services/access.py says the rules).

`POST /access/login` is open (it is how a person gets a session); everything else here needs
a credential, and the `access` area's permission (an operator admin for their tenant, the
platform admin for all), except `/access/me`, which anyone signed in may read.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from silkcharge.api.bounds import SmallRowId
from silkcharge.api.errors import answers
from silkcharge.api.principals import COOKIE, access_of, authorized, principal
from silkcharge.domain.roles import DESCRIPTIONS, GRANTS, Role
from silkcharge.services.access import (
    AccessConflict,
    AccessInvalid,
    AccessRefused,
    LoginFailed,
    Principal,
    SecondFactorNeeded,
    UnknownAccess,
)
from silkcharge.services.attempts import TooManyAttempts
from silkcharge.store.schema import ApiKey, OperatorAccount, Tenant

open_router = APIRouter(prefix="/access", tags=["access"])
router = APIRouter(tags=["access"])
tenants_router = APIRouter(prefix="/tenants", tags=["tenants"])


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginIn(Body):
    email: str = Field(min_length=3, max_length=254)
    password: str = Field(min_length=1, max_length=200)
    code: str | None = Field(default=None, max_length=12, description="the authenticator's code, once TOTP is on")


class MeOut(Body):
    kind: str = Field(description="key, account or legacy-key")
    name: str
    person: str | None = Field(default=None, description="a person's name (accounts); name is their email")
    role: Role
    role_description: str
    tenant_id: int | None
    permissions: list[str]
    totp: bool | None = Field(default=None, description="a person's: whether their second factor is on; keys: null")


class SessionOut(Body):
    token: str = Field(description="send as 'Authorization: Bearer <token>' (the cookie carries it too)")
    me: MeOut


class KeyIn(Body):
    name: str = Field(min_length=1, max_length=200)
    role: Role
    tenant: str | None = Field(default=None, max_length=32,
                               description="a tenant's code; only a platform admin names one")
    expires_at: datetime | None = Field(default=None, description="with a time zone; none: until revoked")


class KeyOut(Body):
    id: int
    name: str
    role: Role
    tenant_id: int | None
    prefix: str = Field(description="the key's first characters, to recognise it")
    created_by: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class NewKeyOut(KeyOut):
    key: str = Field(description="the key itself: shown this once, stored only as a digest")


class AccountIn(Body):
    email: str = Field(min_length=3, max_length=254)
    name: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=12, max_length=200)
    role: Role
    tenant: str | None = Field(default=None, max_length=32,
                               description="a tenant's code; only a platform admin names one")


class AccountPatch(Body):
    role: Role | None = None
    disabled: bool | None = None


class AccountOut(Body):
    id: int
    email: str
    name: str
    role: Role
    tenant_id: int | None
    totp: bool = Field(description="whether a second factor is on")
    created_at: datetime
    disabled_at: datetime | None
    last_login_at: datetime | None = Field(description="when the person last signed in, if known")


class TotpOut(Body):
    secret: str
    uri: str = Field(description="otpauth:// for an authenticator app")


class PasswordIn(Body):
    current_password: str = Field(min_length=1, max_length=200)
    new_password: str = Field(min_length=12, max_length=200)


class TotpConfirmIn(Body):
    code: str = Field(min_length=6, max_length=12)


class TenantIn(Body):
    code: str = Field(min_length=2, max_length=32)
    name: str = Field(min_length=1, max_length=200)


class TenantOut(Body):
    id: int
    code: str
    name: str
    created_at: datetime


def _me(who: Principal, totp: bool | None = None) -> MeOut:
    return MeOut(kind=who.kind, name=who.name, person=who.person, role=who.role, role_description=DESCRIPTIONS[who.role],
                 tenant_id=who.tenant_id, permissions=sorted(GRANTS[who.role]), totp=totp)


def _key(row: ApiKey) -> KeyOut:
    return KeyOut(id=row.id, name=row.name, role=Role(row.role), tenant_id=row.tenant_id, prefix=row.prefix,
                  created_by=row.created_by, created_at=row.created_at, expires_at=row.expires_at,
                  revoked_at=row.revoked_at, last_used_at=row.last_used_at)


def _account(row: OperatorAccount) -> AccountOut:
    return AccountOut(id=row.id, email=row.email, name=row.name, role=Role(row.role), tenant_id=row.tenant_id,
                      totp=row.totp_secret is not None, created_at=row.created_at, disabled_at=row.disabled_at,
                      last_login_at=row.last_login_at)


def _tenant(row: Tenant) -> TenantOut:
    return TenantOut(id=row.id, code=row.code, name=row.name, created_at=row.created_at)


def _refusal(exc: Exception) -> HTTPException:
    status = {AccessRefused: 403, UnknownAccess: 404, AccessConflict: 409, AccessInvalid: 422}[type(exc)]
    return HTTPException(status, str(exc))


async def _tenant_id(request: Request, code: str | None) -> int | None:
    if code is None:
        return None
    try:
        return (await access_of(request).tenant_by_code(code)).id
    except UnknownAccess as exc:
        raise HTTPException(404, str(exc)) from None


Who = Annotated[Principal, Depends(authorized)]

# -- open: logging in -----------------------------------------------------------------------------


@open_router.post("/login", response_model=SessionOut, responses=answers(401, 429))
async def login(body: LoginIn, request: Request, response: Response) -> SessionOut | JSONResponse:
    """A console session. A right password for an account with TOTP on, sent without a code,
    answers 401 with `code: totp_required`: ask for the authenticator's code and send again."""
    address = request.client.host if request.client is not None else None
    try:
        token, who = await access_of(request).login(body.email, body.password, body.code, address)
    except SecondFactorNeeded as exc:
        return JSONResponse({"detail": str(exc), "code": "totp_required", "params": {}}, status_code=401)
    except LoginFailed as exc:
        raise HTTPException(401, str(exc)) from None
    except TooManyAttempts as exc:
        raise HTTPException(429, str(exc), headers={"Retry-After": str(exc.retry_after_seconds)}) from None
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict", secure=request.url.scheme == "https")
    return SessionOut(token=token, me=_me(who, await access_of(request).has_totp(who)))


def _token(request: Request) -> str | None:
    """The console session's token this request came with (a bearer header before the cookie)."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.cookies.get(COOKIE)


@open_router.post("/logout", status_code=204)
async def logout(request: Request, response: Response) -> None:
    token = _token(request)
    if token:
        await access_of(request).logout(token)
    response.delete_cookie(COOKIE)


@open_router.get("/me", response_model=MeOut, responses=answers(401))
async def me(who: Annotated[Principal, Depends(principal)], request: Request) -> MeOut:
    return _me(who, await access_of(request).has_totp(who))


@open_router.post("/me/totp", response_model=TotpOut, responses=answers(401, 403))
async def start_totp(who: Annotated[Principal, Depends(principal)], request: Request) -> TotpOut:
    try:
        secret, uri = await access_of(request).start_totp(who)
    except AccessRefused as exc:
        raise _refusal(exc) from None
    return TotpOut(secret=secret, uri=uri)


@open_router.post("/me/totp/confirm", status_code=204, responses=answers(401, 403))
async def confirm_totp(body: TotpConfirmIn, who: Annotated[Principal, Depends(principal)], request: Request) -> None:
    try:
        await access_of(request).confirm_totp(who, body.code)
    except (AccessRefused, AccessInvalid) as exc:
        raise _refusal(exc) from None


@open_router.post("/me/password", status_code=204, responses=answers(401, 403, 429))
async def change_password(body: PasswordIn, who: Annotated[Principal, Depends(principal)],
                          request: Request) -> None:
    """The signed-in person's own password, given the current one; their other sessions end.
    A wrong current password answers 403 (the session itself is still good) and counts
    against the login limits."""
    try:
        await access_of(request).change_password(who, body.current_password, body.new_password,
                                                        _token(request))
    except (AccessRefused, AccessInvalid) as exc:
        raise _refusal(exc) from None
    except LoginFailed as exc:
        raise HTTPException(403, str(exc)) from None
    except TooManyAttempts as exc:
        raise HTTPException(429, str(exc), headers={"Retry-After": str(exc.retry_after_seconds)}) from None


# -- keys and accounts ------------------------------------------------------------------------------


@router.get("/access/keys", response_model=list[KeyOut])
async def list_keys(who: Who, request: Request) -> list[KeyOut]:
    return [_key(row) for row in await access_of(request).keys(who)]


@router.post("/access/keys", response_model=NewKeyOut, status_code=201, responses=answers(404))
async def create_key(body: KeyIn, who: Who, request: Request) -> NewKeyOut:
    tenant_id = await _tenant_id(request, body.tenant)
    try:
        row, secret = await access_of(request).create_key(who, body.name, body.role, tenant_id, body.expires_at)
    except (AccessRefused, AccessInvalid) as exc:
        raise _refusal(exc) from None
    return NewKeyOut(**_key(row).model_dump(), key=secret)


@router.delete("/access/keys/{key_id}", response_model=KeyOut, responses=answers(404))
async def revoke_key(key_id: SmallRowId, who: Who, request: Request) -> KeyOut:
    try:
        return _key(await access_of(request).revoke_key(who, key_id))
    except (AccessRefused, UnknownAccess) as exc:
        raise _refusal(exc) from None


@router.get("/access/accounts", response_model=list[AccountOut])
async def list_accounts(who: Who, request: Request) -> list[AccountOut]:
    return [_account(row) for row in await access_of(request).accounts(who)]


@router.post("/access/accounts", response_model=AccountOut, status_code=201, responses=answers(404, 409))
async def create_account(body: AccountIn, who: Who, request: Request) -> AccountOut:
    tenant_id = await _tenant_id(request, body.tenant)
    try:
        row = await access_of(request).create_account(who, body.email, body.name, body.password, body.role, tenant_id)
    except (AccessRefused, AccessInvalid, AccessConflict) as exc:
        raise _refusal(exc) from None
    return _account(row)


@router.patch("/access/accounts/{account_id}", response_model=AccountOut, responses=answers(404))
async def change_account(account_id: SmallRowId, body: AccountPatch, who: Who, request: Request) -> AccountOut:
    try:
        row = await access_of(request).change_account(who, account_id, role=body.role, disabled=body.disabled)
    except (AccessRefused, UnknownAccess) as exc:
        raise _refusal(exc) from None
    return _account(row)


@router.get("/access/roles", tags=["access"])
async def roles(who: Who) -> list[dict]:
    """Every role, what it is for and the permissions it holds."""
    return [{"role": role.value, "description": DESCRIPTIONS[role], "permissions": sorted(GRANTS[role])}
            for role in Role]


# -- tenants (platform admin) ---------------------------------------------------------------------


@tenants_router.get("", response_model=list[TenantOut])
async def list_tenants(who: Who, request: Request) -> list[TenantOut]:
    return [_tenant(row) for row in await access_of(request).tenants()]


@tenants_router.post("", response_model=TenantOut, status_code=201, responses=answers(409))
async def create_tenant(body: TenantIn, who: Who, request: Request) -> TenantOut:
    try:
        return _tenant(await access_of(request).create_tenant(body.code, body.name))
    except (AccessInvalid, AccessConflict) as exc:
        raise _refusal(exc) from None
