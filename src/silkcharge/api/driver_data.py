"""A driver's own data over HTTP: their charging sessions with what each cost, the receipts,
everything as one JSON download, and deleting the account (docs/driver.md, "Your data").

Every route needs the driver's login (`api/accounts.py`) and shows only what was made with
the driver's own idTokens; another driver's session or reservation answers 404.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated
from urllib.parse import urlencode

import orjson
from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.responses import HTMLResponse
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import Field

from silkcharge.api.accounts import (
    BEARER,
    COOKIE,
    Body,
    Driver,
    client_address,
    session_token_of,
    too_many,
)
from silkcharge.api.bounds import OcppId, RowId
from silkcharge.api.errors import NotFound, answers
from silkcharge.services.attempts import TooManyAttempts
from silkcharge.services.billing import RECEIPT_LOCALES
from silkcharge.services.driver_data import MAX_SESSIONS, DriverCharging, NotTheDrivers
from silkcharge.services.drivers import MAX_PASSWORD, AccountDeleted, StillCharging, WrongPassword
from silkcharge.services.roaming_charges import NoSuchRoamingCharge, RoamingCharges

router = APIRouter(prefix="/driver", tags=["driver"])

LOCALE = Query(default="en", pattern="^(" + "|".join(RECEIPT_LOCALES) + ")$",
               description="the receipt's language")
LOGGED_IN = (401, 410)


class ChargeOut(Body):
    cdr_id: str
    currency: str
    total_excl_vat: Decimal
    total_incl_vat: Decimal
    billed: bool = Field(description="false while an operator reviews it, and when voided")
    review: str | None = Field(description="held, approved, corrected or voided; null if never reviewed")


class ChargingSessionOut(Body):
    id: int = Field(description="the session (transaction) id")
    station_id: str
    evse_id: int
    connector_id: int
    id_token: str | None
    state: str
    started_at: datetime
    stopped_at: datetime | None
    energy_wh: Decimal | None
    stop_reason: str | None
    charge: ChargeOut | None = Field(description="null until the ended session is priced")
    receipt: str | None = Field(description="where its receipt is, once priced (with data residency, with "
                                            "`?station_id=`: session ids are per operator database)")


class DeleteAccountIn(Body):
    password: str = Field(min_length=1, max_length=MAX_PASSWORD, description="the account's password, once more")


class DeletedOut(Body):
    detail: str
    deleted_at: datetime
    sessions_kept: int = Field(description="charging sessions kept for accounting, under a pseudonym")
    reservations_kept: int


def _session_out(item: DriverCharging, ids_per_database: bool) -> ChargingSessionOut:
    tx, charge = item.transaction, item.charge
    receipt = f"/api/v1/driver/sessions/{tx.id}/receipt"
    if ids_per_database:  # data residency: the link names the session's station too
        receipt += "?" + urlencode({"station_id": tx.station_id})
    return ChargingSessionOut(
        id=tx.id, station_id=tx.station_id, evse_id=tx.evse_id, connector_id=tx.connector_id,
        id_token=tx.id_token, state=tx.state, started_at=tx.started_at, stopped_at=tx.stopped_at,
        energy_wh=tx.energy_wh, stop_reason=tx.stop_reason,
        charge=None if charge is None else ChargeOut(
            cdr_id=charge.id, currency=charge.currency, total_excl_vat=charge.total_excl_vat,
            total_incl_vat=charge.total_incl_vat, billed=charge.billed, review=charge.review),
        receipt=None if charge is None else receipt,
    )


@router.get("/sessions", response_model=list[ChargingSessionOut], responses=answers(*LOGGED_IN))
async def my_sessions(
    request: Request, driver: Driver,
    limit: int = Query(default=50, ge=1, le=MAX_SESSIONS),
    before: Annotated[RowId | None, Query(description="only sessions with a smaller id (paging)")] = None,
    started_before: Annotated[datetime | None, Query(description=(
        "only sessions started before this time (paging across operators' databases, whose ids "
        "are their own)"))] = None,
) -> list[ChargingSessionOut]:
    """The logged-in driver's charging sessions, newest first, each with what it cost."""
    if started_before is not None and started_before.tzinfo is None:
        raise HTTPException(422, "started_before needs a time zone (an offset or Z)")
    data = request.app.state.platform.driver_data
    found = await data.charging_sessions(driver, limit=limit, before=before, started_before=started_before)
    return [_session_out(item, data.ids_per_database) for item in found]


@router.get("/sessions/{transaction_id}/receipt", response_class=HTMLResponse,
            responses=answers(*LOGGED_IN, 404, 409))
async def my_receipt(
    transaction_id: RowId, request: Request, driver: Driver, locale: str = LOCALE,
    station_id: str | None = Query(None, max_length=48, description=(
        "the session's station: session ids are per operator database (409 until this says which, "
        "when two of the driver's with one id were priced)")),
):
    """The printable receipt of one of the driver's priced sessions (HTML, no external assets)."""
    try:
        return HTMLResponse(await request.app.state.platform.driver_data.receipt(
            driver, transaction_id, locale, station_id))
    except NotTheDrivers as exc:
        raise NotFound(str(exc)) from None


@router.get("/reservations/{reservation_id}/receipt", response_class=HTMLResponse,
            responses=answers(*LOGGED_IN, 404, 409))
async def my_no_show_receipt(
    reservation_id: OcppId, request: Request, driver: Driver, locale: str = LOCALE,
    station_id: str | None = Query(None, max_length=48, description=(
        "the reservation's station: reservation ids are per operator database (409 until this says "
        "which, when two of the driver's with one id were charged)")),
):
    """The receipt of the fee for one of the driver's reservations that expired unused."""
    try:
        return HTMLResponse(await request.app.state.platform.driver_data.no_show_receipt(
            driver, reservation_id, locale, station_id))
    except NotTheDrivers as exc:
        raise NotFound(str(exc)) from None


class RoamingChargeOut(Body):
    id: int = Field(description="the roaming charge; its receipt is at /driver/roaming-charges/{id}/receipt")
    cdr_id: str = Field(description="the CDR's id at the partner that sent it")
    partner: str = Field(description="the network whose station it was")
    start: str
    end: str
    currency: str = Field(description="the partner's currency, in which it priced the session")
    total_excl_vat: Decimal
    total_incl_vat: Decimal | None
    driver_currency: str | None = Field(description="the currency you pay in")
    driver_excl_vat: Decimal | None
    driver_incl_vat: Decimal | None
    rate: Decimal | None = Field(description="the exchange rate used, as entered (docs/roaming.md)")
    rate_valid_on: str | None
    charge_state: str = Field(description="ready, or held (your amount is not known yet: hold_reason)")
    hold_reason: str | None


@router.get("/roaming-charges", responses=answers(*LOGGED_IN))
async def my_roaming_charges(request: Request, driver: Driver) -> list[RoamingChargeOut]:
    """The driver's charging at roaming partners' stations, newest first: the partner's price
    and the driver's, in the driver's currency."""
    found = await RoamingCharges(request.app.state.platform.sessions).list(driver.tokens)
    return [RoamingChargeOut(**vars(charge)) for charge in found]


@router.get("/roaming-charges/{charge_id}/receipt", response_class=HTMLResponse,
            responses=answers(*LOGGED_IN, 404))
async def my_roaming_receipt(charge_id: RowId, request: Request, driver: Driver, locale: str = LOCALE):
    """The printable receipt of a session at a roaming partner's station: the partner's totals
    and VAT, and below them the amount in the driver's currency with the exchange rate."""
    try:
        return HTMLResponse(await RoamingCharges(request.app.state.platform.sessions).receipt(
            driver.tokens, charge_id, locale))
    except NoSuchRoamingCharge as exc:
        raise NotFound(str(exc)) from None


@router.get("/export", responses={**answers(*LOGGED_IN),
                                  200: {"content": {"application/json": {"schema": {"type": "object"}}}}})
async def export_my_data(request: Request, driver: Driver) -> Response:
    """Everything the platform holds about the driver as one JSON document, to download: the
    account, the idTokens, every charging session with its charge, every reservation, and
    the totals billed per currency."""
    document = await request.app.state.platform.driver_data.export(driver)
    return Response(orjson.dumps(document, option=orjson.OPT_INDENT_2), media_type="application/json",
                    headers={"Content-Disposition": f'attachment; filename="silkcharge-data-{driver.id}.json"',
                             "Cache-Control": "no-store"})


@router.delete("/me", response_model=DeletedOut, responses=answers(*LOGGED_IN, 403, 409, 429))
async def delete_my_account(
    body: DeleteAccountIn, request: Request, response: Response, driver: Driver,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)],
) -> DeletedOut:
    """Delete the account, giving the password once more. Name, email, password, log-ins and
    reset links are erased, the app token deleted, cards detached; charging sessions and
    their CDRs stay for accounting with a pseudonym in place of the idToken. The driver is
    logged out; the same session asking again is told 410. While a session with the driver's
    card still charges, the answer is 409 and nothing is deleted."""
    try:
        done = await request.app.state.platform.drivers.delete_account(
            driver, session_token_of(request, bearer) or "", body.password, client_address(request))
    except WrongPassword as exc:
        raise HTTPException(403, str(exc)) from None
    except AccountDeleted as exc:
        raise HTTPException(410, str(exc)) from None
    except StillCharging as exc:
        raise HTTPException(409, str(exc)) from None
    except TooManyAttempts as exc:
        raise too_many(exc) from None
    response.delete_cookie(COOKIE, path="/api/v1", httponly=True, samesite="strict")
    return DeletedOut(
        detail="your account is deleted: your name, email and password are erased; "
               "your charging sessions are kept for accounting under a pseudonym",
        deleted_at=done.deleted_at, sessions_kept=done.sessions_kept,
        reservations_kept=done.reservations_kept)
