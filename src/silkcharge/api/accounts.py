"""Driver accounts over HTTP: register, log in, log out, who am I, change or reset a password.

A login answers with a session token in two forms: an HTTP-only cookie (``SameSite=Strict``,
so another site cannot make the browser send it; ``Secure`` over HTTPS) for the console, and
the same token in the body for other clients, which send it as ``Authorization: Bearer``.
`current_driver` is the dependency that driver routes needing a login declare.

A reset link is mailed after the answer is sent (a background task): an answer that waited
for the mail server would show which emails have accounts. The link points at
``SILKCHARGE_PUBLIC_URL``, never at the request's Host header, which a client chooses.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, HTTPException, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from silkcharge.api.errors import answers
from silkcharge.services.attempts import TooManyAttempts
from silkcharge.services.drivers import (
    LANGUAGES,
    MAX_PASSWORD,
    MIN_PASSWORD,
    AccountDeleted,
    AccountExists,
    AccountRefused,
    DriverAccount,
    NotLoggedIn,
    ResetRefused,
    WrongPassword,
    reset_email,
)
from silkcharge.services.mailer import Email, Mailer, MailNotSent, mailer_for
from silkcharge.settings import Settings

log = logging.getLogger(__name__)

COOKIE = "silkcharge_driver"
BEARER = HTTPBearer(auto_error=False, description="a driver's session token from /driver/login")

router = APIRouter(prefix="/driver", tags=["driver"])


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RegisterIn(Body):
    email: str = Field(min_length=3, max_length=254)
    password: str = Field(min_length=MIN_PASSWORD, max_length=MAX_PASSWORD)
    name: str = Field(min_length=1, max_length=200)
    language: str = Field("en", json_schema_extra={"enum": list(LANGUAGES)})


class LoginIn(Body):
    email: str = Field(min_length=1, max_length=254)
    password: str = Field(min_length=1, max_length=128)


class PasswordChangeIn(Body):
    current_password: str = Field(min_length=1, max_length=MAX_PASSWORD)
    new_password: str = Field(min_length=MIN_PASSWORD, max_length=MAX_PASSWORD)


class PasswordResetIn(Body):
    email: str = Field(min_length=3, max_length=254)


class PasswordResetConfirmIn(Body):
    token: str = Field(min_length=1, max_length=128, description="the token from the reset mail")
    new_password: str = Field(min_length=MIN_PASSWORD, max_length=MAX_PASSWORD)


class ResetAsked(Body):
    detail: str


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


class DriverStartIn(Body):
    station_id: str = Field(min_length=1, max_length=48)
    evse_id: int | None = Field(default=None, ge=1, le=2**31 - 1, description=(
        "the EVSE to start on (in OCPP 1.6 the connector id); default: the station chooses"))
    id_token: str | None = Field(
        default=None, max_length=20, description="which of the driver's own tokens to charge with; default their first")


def _out(account: DriverAccount) -> DriverOut:
    return DriverOut(id=account.id, email=account.email, name=account.name,
                     language=account.language, created_at=account.created_at,
                     tokens=list(account.tokens))


def session_token_of(request: Request, bearer: HTTPAuthorizationCredentials | None) -> str | None:
    return bearer.credentials if bearer is not None else request.cookies.get(COOKIE)


def client_address(request: Request) -> str | None:
    """The client's address, for the per-address limits. Behind a proxy, uvicorn puts the
    forwarded address here for proxies it trusts (``FORWARDED_ALLOW_IPS``)."""
    return request.client.host if request.client is not None else None


def too_many(exc: TooManyAttempts) -> HTTPException:
    return HTTPException(429, str(exc), headers={"Retry-After": str(exc.retry_after_seconds)})


def _console_url(settings: Settings) -> str:
    return settings.public_url or f"http://{settings.api_host}:{settings.api_port}"


async def _send(mailer: Mailer, email: Email) -> None:
    """Runs after the answer: a failure can only be logged, for the operator to act on."""
    try:
        await mailer.send(email)
    except MailNotSent as exc:
        log.error("%s", exc)


async def current_driver(
    request: Request, bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)]
) -> DriverAccount:
    """The logged-in driver, or 401 saying how to log in (410 if the account was deleted)."""
    try:
        return await request.app.state.platform.drivers.authenticate(session_token_of(request, bearer))
    except AccountDeleted as exc:
        raise HTTPException(410, str(exc)) from None
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


@router.post("/register", response_model=DriverOut, status_code=201, responses=answers(409))
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


@router.post("/login", response_model=SessionOut, responses=answers(401, 429))
async def login(body: LoginIn, request: Request, response: Response) -> SessionOut:
    try:
        session = await request.app.state.platform.drivers.login(
            body.email, body.password, client_address(request))
    except NotLoggedIn as exc:
        raise HTTPException(401, str(exc)) from None
    except TooManyAttempts as exc:
        raise too_many(exc) from None
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
    token = session_token_of(request, bearer)
    if token:
        await request.app.state.platform.drivers.logout(token)
    response.status_code = 204
    response.delete_cookie(COOKIE, path="/api/v1", httponly=True, samesite="strict")
    return response


@router.get("/me", response_model=DriverOut, responses=answers(401, 410))
async def me(driver: Driver) -> DriverOut:
    return _out(driver)


@router.post("/password", status_code=204, responses=answers(401, 403, 410, 429))
async def change_password(
    body: PasswordChangeIn, driver: Driver, request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)],
) -> Response:
    """Change the password, giving the current one. The driver's other sessions end; this one
    stays. A wrong current password counts as a failed login (429 past the limit)."""
    token = session_token_of(request, bearer) or ""
    try:
        await request.app.state.platform.drivers.change_password(
            driver, token, body.current_password, body.new_password, client_address(request))
    except WrongPassword as exc:
        raise HTTPException(403, str(exc)) from None
    except AccountRefused as exc:
        raise HTTPException(422, str(exc)) from None
    except TooManyAttempts as exc:
        raise too_many(exc) from None
    return Response(status_code=204)


@router.post("/password-reset", response_model=ResetAsked, status_code=202, responses=answers(429))
async def ask_password_reset(
    body: PasswordResetIn, request: Request, background: BackgroundTasks
) -> ResetAsked:
    """Mail a reset link if an account has this email. The answer is the same either way, so
    it does not tell who has an account; asking too often for one email answers 429."""
    platform = request.app.state.platform
    try:
        reset = await platform.drivers.request_password_reset(body.email, client_address(request))
    except AccountRefused as exc:
        raise HTTPException(422, str(exc)) from None
    except TooManyAttempts as exc:
        raise too_many(exc) from None
    if reset is not None:
        background.add_task(_send, mailer_for(platform.settings),
                            reset_email(reset, _console_url(platform.settings)))
    return ResetAsked(detail="if an account has this email, a reset link is on its way to it")


@router.post("/password-reset/confirm", status_code=204, responses=answers(400))
async def confirm_password_reset(body: PasswordResetConfirmIn, request: Request) -> Response:
    """Set a new password with the token from the reset mail. The token works once, and every
    session of the driver ends; log in with the new password."""
    try:
        await request.app.state.platform.drivers.reset_password(body.token, body.new_password)
    except ResetRefused as exc:
        raise HTTPException(400, str(exc)) from None
    except AccountRefused as exc:
        raise HTTPException(422, str(exc)) from None
    return Response(status_code=204)
