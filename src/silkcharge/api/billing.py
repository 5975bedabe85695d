"""Tariffs and what sessions cost: publish a tariff, read a session's CDR and receipt."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from silkcharge.api import models as m
from silkcharge.api.errors import NotFound
from silkcharge.api.operator import Db, platform
from silkcharge.services.billing import RECEIPT_LOCALES
from silkcharge.store.schema import ChargeDetailRecord, Operator, TariffRecord

router = APIRouter(tags=["tariffs"])


def _tariff_out(row: TariffRecord) -> m.TariffOut:
    return m.TariffOut(code=row.code, operator_id=row.operator_id, site_id=row.site_id, tariff=row.body)


@router.get("/tariffs", response_model=list[m.TariffOut])
async def list_tariffs(operator: str | None = None, session: AsyncSession = Db):
    query = select(TariffRecord).order_by(TariffRecord.code)
    if operator:
        query = query.join(Operator).where(Operator.code == operator)
    return [_tariff_out(row) for row in (await session.scalars(query)).all()]


@router.post("/tariffs", response_model=m.TariffOut, status_code=201)
async def publish_tariff(body: m.TariffIn, request: Request):
    """Publish an OCPI 2.2.1 tariff. It is refused, with every reason, when it is malformed,
    in another currency than the operator's, or breaks a price cap a target site is bound by."""
    try:
        row = await platform(request).billing.publish(body.code, body.operator, body.site, body.tariff)
    except LookupError as exc:
        raise NotFound(str(exc)) from None
    return _tariff_out(row)


@router.get("/tariffs/{code}", response_model=m.TariffOut)
async def get_tariff(code: str, session: AsyncSession = Db):
    row = await session.scalar(select(TariffRecord).where(TariffRecord.code == code))
    if row is None:
        raise NotFound(f"no tariff {code}")
    return _tariff_out(row)


@router.delete("/tariffs/{code}", status_code=204)
async def delete_tariff(code: str, session: AsyncSession = Db):
    row = await session.scalar(select(TariffRecord).where(TariffRecord.code == code))
    if row is None:
        raise NotFound(f"no tariff {code}")
    await session.delete(row)
    await session.commit()
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


@router.get("/transactions/{transaction_id}/cdr", response_model=m.CdrOut)
async def transaction_cdr(transaction_id: int, request: Request, session: AsyncSession = Db):
    row = await _cdr(session, transaction_id, request)
    return m.CdrOut(
        id=row.id, transaction_id=row.transaction_id, tariff_code=row.tariff_code, currency=row.currency,
        total_excl_vat=row.total_excl_vat, total_incl_vat=row.total_incl_vat, capped=row.capped,
        cap=row.cap, flags=row.flags or [], cdr=row.body,
    )


@router.get("/transactions/{transaction_id}/receipt", response_class=HTMLResponse)
async def transaction_receipt(
    transaction_id: int,
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


@router.get("/reservations/{reservation_id}/cdr", response_model=ReservationCdrOut)
async def reservation_cdr(reservation_id: int, request: Request, session: AsyncSession = Db):
    row = await _no_show_cdr(session, reservation_id, request)
    return ReservationCdrOut(
        id=row.id, reservation_id=reservation_id, tariff_code=row.tariff_code, currency=row.currency,
        total_excl_vat=row.total_excl_vat, total_incl_vat=row.total_incl_vat, flags=row.flags or [],
        cdr=row.body,
    )


@router.get("/reservations/{reservation_id}/receipt", response_class=HTMLResponse)
async def reservation_receipt(
    reservation_id: int,
    request: Request,
    locale: str = Query(default="en", pattern="^(" + "|".join(RECEIPT_LOCALES) + ")$"),
    session: AsyncSession = Db,
):
    row = await _no_show_cdr(session, reservation_id, request)
    return HTMLResponse(row.receipts[locale])
