"""Ad-hoc payment by bank card at the charger (OCPP 2.1): the driver needs no account or app.

The charger's payment terminal reserves an amount on the card and the station starts the
transaction with the payment reference as an idToken of type DirectPayment; this service takes
that token for the one session (priced by the tariff for everyone, or one an operator
published for the `ad_hoc` driver category). At the end the terminal settles the card and the
station reports the settlement: it is kept with its amount in the operator's currency and
answered with a receipt address the station shows as a QR code. The receipt is the session's
own (the CDR's, made by billing) with the card payment added, so the driver sees what the
session cost and what the card paid; a difference is shown to the operator (`settlements`)
and never charged again.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from silkcharge.domain.clock import utcnow
from silkcharge.domain.money import Money
from silkcharge.domain.payments import (
    AD_HOC_CATEGORY,
    DIRECT_PAYMENT,
    Settlement,
    SettlementStatus,
    payment_section,
    vat_number_problem,
)
from silkcharge.store.schema import (
    CardSettlement,
    ChargeDetailRecord,
    IdToken,
    Operator,
    Site,
    Station,
    Transaction,
)

log = logging.getLogger(__name__)

TOKEN_MAX = 64
"""The longest idToken the registry stores."""


class NoSuchReceipt(LookupError):
    """No receipt by that id (404)."""


@dataclass(frozen=True)
class SettlementView:
    """A settlement as the operator sees it: what the card paid against the session's price."""

    record: CardSettlement
    billed: Money | None
    difference: Money | None


class CardPayments:
    def __init__(self, sessions: async_sessionmaker, receipt_base_url: str) -> None:
        self._sessions = sessions
        self._base = receipt_base_url.rstrip("/")

    async def card_payment(self, station_id: str, psp_ref: str) -> None:
        """Take a payment reference as a token for its session (once; a replay changes nothing)."""
        if len(psp_ref) > TOKEN_MAX:
            log.warning("%s: payment reference longer than %d characters is not registered", station_id, TOKEN_MAX)
            return
        async with self._sessions() as session:
            if await session.scalar(select(IdToken.id).where(IdToken.token == psp_ref)) is not None:
                return
            operator_id = await _operator_id(session, station_id)
        try:
            async with self._sessions.begin() as session:
                session.add(IdToken(token=psp_ref, type=DIRECT_PAYMENT, status="Accepted", category=AD_HOC_CATEGORY,
                                    operator_id=operator_id, label=f"bank card at {station_id}"))
        except IntegrityError:
            pass  # registered at the same moment by the Authorize before it

    async def settled(self, station_id: str, s: Settlement) -> tuple[str | None, str | None]:
        """Keep a settlement (a replay finds the first) and answer with the receipt: the
        platform's unless the terminal made one itself; none for a payment that failed."""
        async with self._sessions() as session:
            existing = await session.scalar(select(CardSettlement).where(
                CardSettlement.station_id == station_id, CardSettlement.psp_ref == s.psp_ref,
                CardSettlement.status == s.status.value, CardSettlement.settled_at == s.settled_at))
            if existing is None:
                tx_id = await session.scalar(select(Transaction.id).where(
                    Transaction.station_id == station_id, Transaction.station_tx_id == s.station_tx_id)) \
                    if s.station_tx_id else None
                currency = await _currency(session, station_id)
        if existing is not None:
            return existing.receipt_id, self._url(existing.receipt_id)
        ours = s.status is SettlementStatus.SETTLED and s.terminal_receipt_url is None
        record = CardSettlement(
            station_id=station_id, transaction_id=tx_id, psp_ref=s.psp_ref, status=s.status.value,
            amount=s.amount, currency=currency, settled_at=s.settled_at,
            status_info=s.status_info[:500] if s.status_info else None, vat_number=s.vat_number,
            vat_company=s.vat_company, receipt_id=secrets.token_urlsafe(24) if ours else None,
            terminal_receipt_url=s.terminal_receipt_url, received_at=utcnow(),
        )
        async with self._sessions.begin() as session:
            session.add(record)
        return record.receipt_id, self._url(record.receipt_id)

    def _url(self, receipt_id: str | None) -> str | None:
        return f"{self._base}/api/v1/receipts/{receipt_id}" if receipt_id else None

    async def vat_number(self, station_id: str, number: str) -> str | None:
        """Why the number cannot be a company's tax number in the station's country; None: it can."""
        async with self._sessions() as session:
            country = await session.scalar(
                select(Site.country).join(Station, Station.site_id == Site.id).where(Station.id == station_id))
        if country is None:
            return f"station {station_id} belongs to no site, so its country's rules are unknown"
        return vat_number_problem(country, number)

    async def receipt(self, receipt_id: str, locale: str) -> str:
        """The driver's receipt: the session's own with the card payment, or the payment alone
        until the session is priced."""
        async with self._sessions() as session:
            record = await session.scalar(select(CardSettlement).where(CardSettlement.receipt_id == receipt_id))
            if record is None:
                raise NoSuchReceipt("no receipt by that id")
            cdr = await session.scalar(select(ChargeDetailRecord).where(
                ChargeDetailRecord.transaction_id == record.transaction_id)) if record.transaction_id else None
            zone = await session.scalar(
                select(Site.timezone).join(Station, Station.site_id == Site.id).where(Station.id == record.station_id))
        billed = Money(cdr.total_incl_vat, cdr.currency) if cdr is not None else None
        section = payment_section(_settlement(record), record.currency, time_zone=zone or "UTC",
                                  locale=locale, billed=billed, session=record.transaction_id is not None)
        if cdr is None:
            return (f'<!doctype html><html lang="{locale}"><head><meta charset="utf-8"><title>Receipt</title>'
                    f"</head><body>{section}</body></html>\n")
        page = cdr.receipts.get(locale) or cdr.receipts["en"]
        return page.replace("</body>", section + "</body>", 1)

    async def settlements(self, station_id: str | None = None, limit: int = 100) -> list[SettlementView]:
        """Card settlements, newest first, each against the price of its session."""
        query = select(CardSettlement, ChargeDetailRecord).outerjoin(
            ChargeDetailRecord, ChargeDetailRecord.transaction_id == CardSettlement.transaction_id)
        if station_id is not None:
            query = query.where(CardSettlement.station_id == station_id)
        async with self._sessions() as session:
            rows = (await session.execute(query.order_by(CardSettlement.id.desc()).limit(limit))).all()
        views = []
        for record, cdr in rows:
            billed = Money(cdr.total_incl_vat, cdr.currency) if cdr is not None else None
            difference = None
            if billed is not None and record.currency == billed.currency and record.status == "Settled":
                difference = Money(record.amount, record.currency) - billed
            views.append(SettlementView(record, billed, difference))
        return views


def _settlement(record: CardSettlement) -> Settlement:
    return Settlement(record.psp_ref, SettlementStatus(record.status), record.amount, record.settled_at,
                      vat_number=record.vat_number)


async def _operator_id(session: AsyncSession, station_id: str) -> int | None:
    return await session.scalar(
        select(Site.operator_id).join(Station, Station.site_id == Site.id).where(Station.id == station_id))


async def _currency(session: AsyncSession, station_id: str) -> str | None:
    return await session.scalar(
        select(Operator.currency).join(Site, Site.operator_id == Operator.id)
        .join(Station, Station.site_id == Site.id).where(Station.id == station_id))
