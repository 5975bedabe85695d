"""OCPP 2.1 local cost and ad-hoc payment over HTTP: tariffs sent to and cleared from a station,
the costs stations calculate beside the platform's price, card settlements at chargers, and the
public receipt a card-paying driver scans at the charger."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from silkcharge.api.bounds import OcppId, RowId
from silkcharge.api.errors import STATION_CALL, NotFound, answers
from silkcharge.api.operator import platform
from silkcharge.domain.local_cost import CostComparison
from silkcharge.domain.money import Money
from silkcharge.services.billing import RECEIPT_LOCALES
from silkcharge.services.device_model import StationDeclined
from silkcharge.services.payments import NoSuchReceipt, SettlementView
from silkcharge.services.station_tariffs import TransactionCosts
from silkcharge.store.schema import Transaction

router = APIRouter(tags=["local cost and payment"])
public = APIRouter(tags=["local cost and payment"])
"""Routes a driver without an account reaches (no API key)."""

SENT = answers(404, *STATION_CALL)


class TariffToStation(BaseModel):
    tariff_code: str = Field(min_length=1, max_length=36, description="a published tariff of the station's operator")
    evse_id: OcppId = Field(default=0, description="0: every EVSE of the station")


class TariffToTransaction(BaseModel):
    tariff_code: str = Field(min_length=1, max_length=36)


class WebPayment(BaseModel):
    evse_id: OcppId = Field(ge=1)
    timeout: int = Field(default=300, ge=1, le=3600, description="seconds until no payment result is expected")


class StationTariffOut(BaseModel):
    tariff_code: str
    evse_id: int
    transaction_id: int | None
    status: str
    sent_at: datetime


class CostOut(BaseModel):
    event: str
    reported_at: datetime
    currency: str | None
    total_excl_vat: Decimal | None
    total_incl_vat: Decimal | None
    type_of_cost: str | None
    tariff_id: str | None
    energy_wh: Decimal | None
    failure_reason: str | None


class ComparisonOut(BaseModel):
    station: str | None = Field(description="the station's latest total incl. VAT, e.g. '1160 KZT'")
    platform: str | None = Field(description="the platform's price: the CDR's total, or the running cost")
    difference: Decimal | None = Field(description="station - platform")
    agrees: bool | None
    reason: str | None


class StationCostsOut(BaseModel):
    transaction_id: int
    station_id: str
    reported: list[CostOut]
    comparison: ComparisonOut


class SettlementOut(BaseModel):
    id: int
    station_id: str
    transaction_id: int | None
    psp_ref: str
    status: str
    amount: Decimal
    currency: str | None
    settled_at: datetime
    vat_number: str | None
    receipt: str | None = Field(description="the receipt the driver was given (ours or the terminal's)")
    billed: Decimal | None = Field(description="what the platform priced the session at, incl. VAT")
    difference: Decimal | None = Field(description="paid - billed")


def _command_out(result: Any) -> dict[str, Any]:
    if result.status not in (None, "Accepted"):
        reason = result.details.get("reason")
        raise StationDeclined(f"station {result.station_id} answered {result.status}"
                              + (f": {reason}" if reason else ""), result.status)
    return {"station_id": result.station_id, "action": result.action, "status": result.status, **{
        k: v for k, v in result.details.items() if k != "status"}}


@router.post("/stations/{station_id}/tariffs", status_code=201, responses=SENT)
async def send_tariff(station_id: str, body: TariffToStation, request: Request) -> dict[str, Any]:
    """Send a published tariff to a 2.1 station as its default tariff (SetDefaultTariff), after
    checking it may apply there and keeps within every price cap of the site (422 with the
    reasons otherwise; 409 when the station refuses it)."""
    result = await platform(request).commands.send(station_id, "set_default_tariff", body.model_dump())
    return _command_out(result)


@router.get("/stations/{station_id}/tariffs", responses=answers(404))
async def station_tariffs(station_id: str, request: Request) -> list[StationTariffOut]:
    """The tariffs the station accepted and still holds, by what the platform sent."""
    rows = await platform(request).station_tariffs.on_station(station_id)
    if rows is None:
        raise NotFound(f"no station {station_id}")
    return [StationTariffOut(tariff_code=r.tariff_code, evse_id=r.evse_id, transaction_id=r.transaction_id,
                             status=r.status, sent_at=r.sent_at) for r in rows]


@router.get("/stations/{station_id}/tariffs/on-station", responses=SENT)
async def ask_station_tariffs(station_id: str, request: Request, evse_id: OcppId = 0) -> dict[str, Any]:
    """Ask the station which tariffs it holds (GetTariffs)."""
    result = await platform(request).commands.send(station_id, "get_tariffs", {"evse_id": evse_id})
    return {"status": result.status, "assignments": result.details.get("assignments", [])}


@router.delete("/stations/{station_id}/tariffs", responses=SENT)
async def clear_tariffs(
    station_id: str, request: Request, tariff_code: list[str] | None = Query(default=None, max_length=100),
    evse_id: OcppId | None = None,
) -> dict[str, Any]:
    """Take tariffs off the station (ClearTariffs): those named, or every one."""
    params: dict[str, Any] = {"evse_id": evse_id}
    if tariff_code:
        params["tariff_codes"] = tariff_code
    result = await platform(request).commands.send(station_id, "clear_tariffs", params)
    return _command_out(result)


@router.post("/transactions/{transaction_id}/tariff", responses=SENT)
async def change_transaction_tariff(transaction_id: RowId, body: TariffToTransaction, request: Request) -> dict[str, Any]:
    """Price a running 2.1 transaction by another tariff from now on (ChangeTransactionTariff)."""
    async with platform(request).sessions() as session:
        tx = await session.get(Transaction, transaction_id)
    if tx is None:
        raise NotFound(f"no transaction {transaction_id}")
    result = await platform(request).commands.send(tx.station_id, "change_transaction_tariff",
                                   {"transaction_id": transaction_id, "tariff_code": body.tariff_code})
    return _command_out(result)


@router.post("/stations/{station_id}/web-payments", responses=SENT)
async def web_payment_started(station_id: str, body: WebPayment, request: Request) -> dict[str, Any]:
    """Tell the station a driver opened the payment page of an EVSE (NotifyWebPaymentStarted)."""
    result = await platform(request).commands.send(station_id, "web_payment_started", body.model_dump())
    return _command_out(result)


@router.get("/transactions/{transaction_id}/station-cost", responses=answers(404))
async def transaction_station_cost(transaction_id: RowId, request: Request) -> StationCostsOut:
    """What the station calculated for the transaction, against the platform's price."""
    costs = await platform(request).station_tariffs.costs(transaction_id)
    if costs is None:
        raise NotFound(f"no transaction {transaction_id}")
    return _costs_out(costs)


@router.get("/station-costs")
async def station_costs(
    request: Request, station_id: str | None = None,
    differs: bool = Query(default=False, description="only where station and platform disagree"),
    limit: int = Query(default=100, ge=1, le=1000),
) -> list[StationCostsOut]:
    """Transactions whose station reported a cost, newest first, each compared."""
    found = await platform(request).station_tariffs.reported(station_id, limit)
    return [_costs_out(c) for c in found if not differs or c.comparison.agrees is False]


@router.get("/card-settlements")
async def card_settlements(
    request: Request, station_id: str | None = None, limit: int = Query(default=100, ge=1, le=1000),
) -> list[SettlementOut]:
    """Bank card payments at chargers, newest first, with what the session was priced at."""
    views = await platform(request).payments.settlements(station_id, limit)
    return [_settlement_out(request, v) for v in views]


@public.get("/receipts/{receipt_id}", response_class=HTMLResponse, responses=answers(404))
async def card_receipt(
    receipt_id: str, request: Request,
    locale: str = Query(default="en", pattern="^(" + "|".join(RECEIPT_LOCALES) + ")$"),
) -> HTMLResponse:
    """The receipt of a card payment at the charger (its address is the QR code the charger
    shows; the id is unguessable)."""
    try:
        return HTMLResponse(await platform(request).payments.receipt(receipt_id[:50], locale))
    except NoSuchReceipt as exc:
        raise NotFound(str(exc)) from None


def _money(m: Money | None) -> str | None:
    return None if m is None else f"{m.amount} {m.currency}"


def _comparison(c: CostComparison) -> ComparisonOut:
    return ComparisonOut(station=_money(c.station), platform=_money(c.platform),
                         difference=c.difference.amount if c.difference else None, agrees=c.agrees, reason=c.reason)


def _costs_out(costs: TransactionCosts) -> StationCostsOut:
    return StationCostsOut(
        transaction_id=costs.transaction_id, station_id=costs.station_id, comparison=_comparison(costs.comparison),
        reported=[CostOut(event=r.event, reported_at=r.reported_at, currency=r.currency,
                          total_excl_vat=r.total_excl_vat, total_incl_vat=r.total_incl_vat,
                          type_of_cost=r.type_of_cost, tariff_id=r.tariff_id, energy_wh=r.energy_wh,
                          failure_reason=r.failure_reason) for r in costs.reported])


def _settlement_out(request: Request, v: SettlementView) -> SettlementOut:
    r = v.record
    receipt = f"/api/v1/receipts/{r.receipt_id}" if r.receipt_id else r.terminal_receipt_url
    return SettlementOut(
        id=r.id, station_id=r.station_id, transaction_id=r.transaction_id, psp_ref=r.psp_ref, status=r.status,
        amount=r.amount, currency=r.currency, settled_at=r.settled_at, vat_number=r.vat_number, receipt=receipt,
        billed=v.billed.amount if v.billed else None, difference=v.difference.amount if v.difference else None)
