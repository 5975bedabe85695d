"""Driver accounts over HTTP: register, log in, log out, who am I.

A login answers with a session token in two forms: an HTTP-only cookie (``SameSite=Strict``,
so another site cannot make the browser send it; ``Secure`` over HTTPS) for the console, and
the same token in the body for other clients, which send it as ``Authorization: Bearer``.
`current_driver` is the dependency that driver routes needing a login declare.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from silkcharge.services.drivers import (
    LANGUAGES,
    AccountExists,
    AccountRefused,
    DriverAccount,
    NotLoggedIn,
)

COOKIE = "silkcharge_driver"
BEARER = HTTPBearer(auto_error=False, description="a driver's session token from /driver/login")

router = APIRouter(prefix="/driver", tags=["driver"])


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RegisterIn(Body):
    email: str = Field(min_length=3, max_length=254)
    password: str = Field(min_length=8, max_length=128)
    name: str = Field(min_length=1, max_length=200)
    language: str = Field("en", description=f"one of {', '.join(LANGUAGES)}")


class LoginIn(Body):
    email: str = Field(min_length=1, max_length=254)
    password: str = Field(min_length=1, max_length=128)


class DriverOut(Body):
    id: int
    email: str
    name: str
    language: str
    created_at: datetime
    tokens: list[str] = Field(description="the driver's own idTokens; reservations use the first")


class SessionOut(Body):
    token: str = Field(description="send as 'Authorization: Bearer <token>' (the cookie carries it too)")
    expires_at: datetime
    driver: DriverOut


class DriverReservationIn(Body):
    station_id: str = Field(min_length=1, max_length=48)
    evse_id: int = Field(ge=0, description="the EVSE to hold; in OCPP 1.6 the connector id; "
                         "0 holds the whole station (a connector is kept free for the token)")
    connector_id: int | None = Field(default=None, ge=1, description="one connector of the EVSE")
    expires_at: datetime = Field(description="when the hold lapses, with a time zone")
    id_token: str | None = Field(
        default=None, max_length=20,
        description="which of the driver's own tokens to hold it for; default their first")


def _out(account: DriverAccount) -> DriverOut:
    return DriverOut(id=account.id, email=account.email, name=account.name,
                     language=account.language, created_at=account.created_at,
                     tokens=list(account.tokens))


def _session_token(request: Request, bearer: HTTPAuthorizationCredentials | None) -> str | None:
    return bearer.credentials if bearer is not None else request.cookies.get(COOKIE)


async def current_driver(
    request: Request, bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)]
) -> DriverAccount:
    """The logged-in driver, or 401 saying how to log in."""
    try:
        return await request.app.state.platform.drivers.authenticate(_session_token(request, bearer))
    except NotLoggedIn as exc:
        raise HTTPException(401, f"{exc} (POST /api/v1/driver/login)",
                            headers={"WWW-Authenticate": "Bearer"}) from None


Driver = Annotated[DriverAccount, Depends(current_driver)]


def own_token(driver: DriverAccount, wanted: str | None) -> str:
    """The token a driver's reservation is for: the one asked for, if it is theirs."""
    if not driver.tokens:
        raise HTTPException(422, "this account has no idToken yet; ask the operator to link your card")
    if wanted is None:
        return driver.tokens[0]
    if wanted not in driver.tokens:
        raise HTTPException(403, f"idToken {wanted} is not one of this account's tokens")
    return wanted


@router.post("/register", response_model=DriverOut, status_code=201)
async def register(body: RegisterIn, request: Request) -> DriverOut:
    """Open a driver account; it gets its own app token to reserve with. Log in afterwards."""
    try:
        account = await request.app.state.platform.drivers.register(
            body.email, body.password, body.name, body.language)
    except AccountExists as exc:
        raise HTTPException(409, str(exc)) from None
    except AccountRefused as exc:
        raise HTTPException(422, str(exc)) from None
    return _out(account)


@router.post("/login", response_model=SessionOut)
async def login(body: LoginIn, request: Request, response: Response) -> SessionOut:
    try:
        session = await request.app.state.platform.drivers.login(body.email, body.password)
    except NotLoggedIn as exc:
        raise HTTPException(401, str(exc)) from None
    response.set_cookie(
        COOKIE, session.token, expires=session.expires_at, path="/api/v1", httponly=True,
        samesite="strict", secure=request.url.scheme == "https",
    )
    return SessionOut(token=session.token, expires_at=session.expires_at, driver=_out(session.driver))


@router.post("/logout", status_code=204)
async def logout(
    request: Request, response: Response,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)],
) -> Response:
    """End this session (the token stops working at once); answers 204 even if it had ended."""
    token = _session_token(request, bearer)
    if token:
        await request.app.state.platform.drivers.logout(token)
    response.status_code = 204
    response.delete_cookie(COOKIE, path="/api/v1", httponly=True, samesite="strict")
    return response


@router.get("/me", response_model=DriverOut)
async def me(driver: Driver) -> DriverOut:
    return _out(driver)
