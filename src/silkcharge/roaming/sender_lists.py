"""The SENDER lists of our CPO role: GET /ocpi/cpo/2.2.1/sessions and /ocpi/cpo/2.2.1/cdrs.

A partner (an eMSP) pulls the sessions and CDRs of its own drivers at our stations, paginated
with `date_from` / `date_to` on last_updated (wire.Page), to catch up after an outage or to
audit what it was pushed. Only transactions started with the calling partner's tokens are
listed (`TokenOwners.transactions_of`, ocpi-tokens' link); a session's last_updated is its
CDR's making once priced, else its end, else its start; a CDR's is its making.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy import func, select

from silkcharge.roaming.auth import Caller, ocpi_caller
from silkcharge.roaming.session_push import NoTokenOwners, cdr_body, session_body, session_facts
from silkcharge.roaming.wire import Page, ocpi_response
from silkcharge.store.schema import ChargeDetailRecord, Transaction

ENDPOINTS = [
    ("sessions", "SENDER", "cpo/2.2.1/sessions"),
    ("cdrs", "SENDER", "cpo/2.2.1/cdrs"),
]

cpo_router = APIRouter()
emsp_router = None


def _owners(request: Request):
    return request.app.state.roaming.token_owners or NoTokenOwners()


@cpo_router.get("/sessions")
async def list_sessions(request: Request, page: Page = Depends(), caller: Caller = Depends(ocpi_caller)) -> Response:
    owners = _owners(request)
    priced_at = select(ChargeDetailRecord.created_at).where(
        ChargeDetailRecord.transaction_id == Transaction.id).scalar_subquery()
    ended = func.coalesce(Transaction.stopped_at, Transaction.started_at)
    updated = func.coalesce(priced_at, ended)
    query = select(Transaction.id).where(Transaction.id.in_(owners.transactions_of(caller.partner_id)))
    if page.date_from is not None:
        query = query.where(updated >= page.date_from)
    if page.date_to is not None:
        query = query.where(updated < page.date_to)
    async with request.app.state.roaming.sessions() as session:
        total = await session.scalar(select(func.count()).select_from(query.subquery()))
        ids = (await session.scalars(query.order_by(Transaction.id).offset(page.offset).limit(page.limit))).all()
        bodies = []
        for transaction_id in ids:
            facts = await session_facts(session, owners, transaction_id)
            if facts is None:
                continue
            record = await session.scalar(select(ChargeDetailRecord).where(
                ChargeDetailRecord.transaction_id == transaction_id))
            bodies.append(session_body(facts, record))
    return ocpi_response(bodies, headers=page.headers(request, total or 0))


@cpo_router.get("/cdrs")
async def list_cdrs(request: Request, page: Page = Depends(), caller: Caller = Depends(ocpi_caller)) -> Response:
    owners = _owners(request)
    query = select(ChargeDetailRecord).where(
        ChargeDetailRecord.transaction_id.in_(owners.transactions_of(caller.partner_id)))
    if page.date_from is not None:
        query = query.where(ChargeDetailRecord.created_at >= page.date_from)
    if page.date_to is not None:
        query = query.where(ChargeDetailRecord.created_at < page.date_to)
    async with request.app.state.roaming.sessions() as session:
        total = await session.scalar(select(func.count()).select_from(query.subquery()))
        records = (await session.scalars(query.order_by(ChargeDetailRecord.created_at, ChargeDetailRecord.id)
                                         .offset(page.offset).limit(page.limit))).all()
        bodies = []
        for record in records:
            facts = await session_facts(session, owners, record.transaction_id)
            if facts is not None:
                bodies.append(cdr_body(facts, record, record.created_at))
    return ocpi_response(bodies, headers=page.headers(request, total or 0))


