"""Tariffs and what sessions cost: publish a tariff, read a session's CDR and receipt, and review
the CDRs held because their input was implausible (approve, correct, void)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from silkcharge.api import models as m
from silkcharge.api.bounds import OcppId, RowId
from silkcharge.api.caps import PublishedTariffOut, suspensions
from silkcharge.api.errors import NotFound, answers
from silkcharge.api.operator import Db, platform
from silkcharge.services.billing import RECEIPT_LOCALES
from silkcharge.services.cdr_review import STATUSES as REVIEW_STATUSES
from silkcharge.services.cdr_review import Correction, NotHeld, ReviewRefused, UnknownCdr, is_billed
from silkcharge.store.schema import CdrReview, ChargeDetailRecord, Operator, TariffRecord

router = APIRouter(tags=["tariffs"])


def _tariff_out(row: TariffRecord) -> m.TariffOut:
    return m.TariffOut(code=row.code, operator_id=row.operator_id, site_id=row.site_id, tariff=row.body)


@router.get("/tariffs", response_model=list[m.TariffOut])
async def list_tariffs(operator: str | None = None, session: AsyncSession = Db):
    query = select(TariffRecord).order_by(TariffRecord.code)
    if operator:
        query = query.join(Operator).where(Operator.code == operator)
    return [_tariff_out(row) for row in (await session.scalars(query)).all()]


@router.post("/tariffs", response_model=PublishedTariffOut, status_code=201, responses=answers(404))
async def publish_tariff(body: m.TariffIn, request: Request, session: AsyncSession = Db):
    """Publish an OCPI 2.2.1 tariff. It is refused, with every reason, when it is malformed or
    in another currency than the operator's, and a site's own tariff when it breaks a price cap
    that binds the site. A network-wide tariff that breaks a cap at some of the operator's sites
    is published and suspended there (listed in `suspensions`, and as alerts)."""
    try:
        row = await platform(request).billing.publish(body.code, body.operator, body.site, body.tariff)
    except LookupError as exc:
        raise NotFound(str(exc)) from None
    return PublishedTariffOut(**_tariff_out(row).model_dump(),
                              suspensions=await suspensions(session, tariff=row.code))


@router.get("/tariffs/{code}", response_model=m.TariffOut, responses=answers(404))
async def get_tariff(code: str, session: AsyncSession = Db):
    row = await session.scalar(select(TariffRecord).where(TariffRecord.code == code))
    if row is None:
        raise NotFound(f"no tariff {code}")
    return _tariff_out(row)


@router.delete("/tariffs/{code}", status_code=204, responses=answers(404))
async def delete_tariff(code: str, request: Request, session: AsyncSession = Db):
    row = await session.scalar(select(TariffRecord).where(TariffRecord.code == code))
    if row is None:
        raise NotFound(f"no tariff {code}")
    operator_id, site_id = row.operator_id, row.site_id
    await session.delete(row)
    await session.commit()
    platform(request).billing.tariffs_changed(operator_id, site_id)
    return Response(status_code=204)


async def _cdr(session: AsyncSession, transaction_id: int, request: Request) -> ChargeDetailRecord:
    row = await session.scalar(
        select(ChargeDetailRecord).where(ChargeDetailRecord.transaction_id == transaction_id)
    )
    if row is None:
        reason = platform(request).billing.unpriced.get(transaction_id)
        raise NotFound(
            f"transaction {transaction_id} has no CDR"
            + (f": {reason}" if reason else " (it is still running, or not priced yet)")
        )
    return row


def _cdr_out(row: ChargeDetailRecord, review: CdrReview | None) -> m.CdrOut:
    return m.CdrOut(
        id=row.id, transaction_id=row.transaction_id, tariff_code=row.tariff_code, currency=row.currency,
        total_excl_vat=row.total_excl_vat, total_incl_vat=row.total_incl_vat, capped=row.capped,
        cap=row.cap, flags=row.flags or [], cdr=row.body, billed=is_billed(review),
        review=m.CdrReviewOut.model_validate(review, from_attributes=True) if review is not None else None,
    )


@router.get("/transactions/{transaction_id}/cdr", response_model=m.CdrOut, responses=answers(404))
async def transaction_cdr(transaction_id: RowId, request: Request, session: AsyncSession = Db):
    row = await _cdr(session, transaction_id, request)
    return _cdr_out(row, await session.get(CdrReview, row.id))


# -- CDRs and their review ------------------------------------------------------------------------

CDR_ID = Path(min_length=1, max_length=36, description="the CDR's id (a UUID)")


@router.get("/cdrs", response_model=list[m.CdrOut], tags=["cdrs"])
async def list_cdrs(
    request: Request,
    review: str | None = Query(default=None, pattern=f"^({'|'.join(REVIEW_STATUSES)})$",
                               description="only CDRs in this review state, e.g. held"),
    limit: int = Query(default=100, ge=1, le=1000),
):
    """CDRs newest first with their review; `?review=held` is what waits for an operator."""
    return [_cdr_out(row, rev) for row, rev in await platform(request).reviews.find(review, limit)]


@router.get("/cdrs/{cdr_id}", response_model=m.CdrOut, tags=["cdrs"], responses=answers(404))
async def get_cdr(request: Request, cdr_id: str = CDR_ID):
    try:
        return _cdr_out(*await platform(request).reviews.get(cdr_id))
    except UnknownCdr as exc:
        raise NotFound(str(exc)) from None


async def _decided(decision) -> m.CdrOut:
    try:
        return _cdr_out(*await decision)
    except UnknownCdr as exc:
        raise NotFound(str(exc)) from None
    except NotHeld as exc:
        raise HTTPException(409, str(exc)) from None
    except ReviewRefused as exc:
        raise HTTPException(422, str(exc)) from None


@router.post(
    "/cdrs/{cdr_id}/approve", response_model=m.CdrOut, tags=["cdrs"], responses=answers(404, 409)
)
async def approve_cdr(body: m.CdrDecisionIn, request: Request, cdr_id: str = CDR_ID):
    """The charger was right after all: bill the held CDR as priced."""
    return await _decided(platform(request).reviews.approve(cdr_id, body.note))


@router.post(
    "/cdrs/{cdr_id}/correct", response_model=m.CdrOut, tags=["cdrs"], responses=answers(404, 409)
)
async def correct_cdr(body: m.CdrCorrectionIn, request: Request, cdr_id: str = CDR_ID):
    """Set the energy and/or times to what really happened; the price is computed again by the
    same pricing (tariff, caps, reservation fee), and the CDR is billed."""
    correction = Correction(body.energy_wh, body.started_at, body.stopped_at)
    return await _decided(platform(request).reviews.correct(cdr_id, correction, body.note))


@router.post(
    "/cdrs/{cdr_id}/void", response_model=m.CdrOut, tags=["cdrs"], responses=answers(404, 409)
)
async def void_cdr(body: m.CdrVoidIn, request: Request, cdr_id: str = CDR_ID):
    """Bill nothing for the session; its receipt says so."""
    return await _decided(platform(request).reviews.void(cdr_id, body.note))


@router.get(
    "/transactions/{transaction_id}/receipt", response_class=HTMLResponse,
    responses=answers(404),
)
async def transaction_receipt(
    transaction_id: RowId,
    request: Request,
    locale: str = Query(default="en", pattern="^(" + "|".join(RECEIPT_LOCALES) + ")$"),
    session: AsyncSession = Db,
):
    """The driver's receipt, printable HTML with no external assets."""
    row = await _cdr(session, transaction_id, request)
    return HTMLResponse(row.receipts[locale])


class ReservationCdrOut(BaseModel):
    """The charge for a reservation nobody came for (its no-show fee)."""

    id: str
    reservation_id: int
    tariff_code: str | None
    currency: str
    total_excl_vat: Decimal
    total_incl_vat: Decimal
    flags: list[str]
    cdr: dict[str, Any]


async def _no_show_cdr(session: AsyncSession, reservation_id: int, request: Request) -> ChargeDetailRecord:
    row = await session.scalar(
        select(ChargeDetailRecord).where(ChargeDetailRecord.reservation_id == reservation_id)
    )
    if row is None:
        reason = platform(request).billing.unpriced_reservations.get(f"reservation {reservation_id}")
        raise NotFound(
            f"reservation {reservation_id} has no charge of its own"
            + (f": {reason}" if reason else " (only an expired reservation has one; a used one's fee is "
               "on its session's CDR, a cancelled one costs nothing)")
        )
    return row


@router.get(
    "/reservations/{reservation_id}/cdr", response_model=ReservationCdrOut,
    responses=answers(404),
)
async def reservation_cdr(reservation_id: OcppId, request: Request, session: AsyncSession = Db):
    row = await _no_show_cdr(session, reservation_id, request)
    return ReservationCdrOut(
        id=row.id, reservation_id=reservation_id, tariff_code=row.tariff_code, currency=row.currency,
        total_excl_vat=row.total_excl_vat, total_incl_vat=row.total_incl_vat, flags=row.flags or [],
        cdr=row.body,
    )


@router.get(
    "/reservations/{reservation_id}/receipt", response_class=HTMLResponse,
    responses=answers(404),
)
async def reservation_receipt(
    reservation_id: OcppId,
    request: Request,
    locale: str = Query(default="en", pattern="^(" + "|".join(RECEIPT_LOCALES) + ")$"),
    session: AsyncSession = Db,
):
    row = await _no_show_cdr(session, reservation_id, request)
    return HTMLResponse(row.receipts[locale])
