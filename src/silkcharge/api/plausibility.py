"""Plausibility for operators: the rules in force, what stations sent that broke them, stations
whose clock is wrong, and ending a transaction a station never stopped."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Path, Query, Request

from silkcharge.api import models as m
from silkcharge.api.errors import Conflict, NotFound, answers
from silkcharge.api.operator import Db, platform, with_flags
from silkcharge.domain.plausibility import RULES_BY_NAME
from silkcharge.services.plausibility import FlagQuery
from silkcharge.services.transactions import EndRefused, TransactionNotActive, UnknownTransaction

router = APIRouter()


@router.get("/plausibility/rules", response_model=list[m.RuleOut], tags=["plausibility"])
async def plausibility_rules(request: Request):
    """Every rule with the limits in force (the defaults, and the `plausibility_limits` setting)."""
    return [
        m.RuleOut(name=rule.name, checks=rule.checks, reason=rule.reason, action=rule.action.value,
                  limits=limits, tunable=rule.tunable)
        for rule, limits in platform(request).plausibility.rules()
    ]


@router.get("/plausibility/flags", response_model=list[m.FlagOut], tags=["plausibility"])
async def plausibility_flags(
    request: Request,
    station_id: str | None = Query(default=None, max_length=48),
    transaction_id: int | None = Query(default=None, ge=1, le=2**63 - 1),
    rule: str | None = Query(default=None, pattern=f"^({'|'.join(RULES_BY_NAME)})$"),
    limit: int = Query(default=100, ge=1, le=1000),
    before: int | None = Query(default=None, ge=1, le=2**63 - 1, description="only flags with a smaller id (paging)"),
):
    """What stations sent that broke a rule, newest first: the value as sent, what was used
    instead, and the message id of the frame in the station's message log."""
    return await platform(request).plausibility.find(FlagQuery(
        station_id=station_id, transaction_id=transaction_id, rule=rule, limit=limit, before_id=before,
    ))


@router.get("/plausibility/clock-alerts", response_model=list[m.ClockAlertOut], tags=["plausibility"])
async def clock_alerts(request: Request):
    """Stations that sent a time outside the window around the server's clock recently:
    check the charger's clock (its times were replaced by the receive time)."""
    return await platform(request).plausibility.clock_alerts()


@router.post(
    "/transactions/{transaction_id}/end", response_model=m.TransactionOut, tags=["transactions"],
    responses=answers(404, 409),
)
async def end_transaction(
    body: m.TransactionEndIn,
    request: Request,
    transaction_id: int = Path(ge=1, le=2**63 - 1),
    session=Db,
):
    """End a transaction its station never stopped, with the operator's reason. It ends at its
    last meter reading unless `stopped_at` says otherwise; billing then prices it (and holds
    its CDR for review if any of its input was flagged). The station is not told."""
    try:
        tx = await platform(request).transactions.end_by_operator(
            transaction_id, body.reason, stopped_at=body.stopped_at, meter_stop_wh=body.meter_stop_wh
        )
    except UnknownTransaction as exc:
        raise NotFound(str(exc)) from None
    except TransactionNotActive as exc:
        raise Conflict(str(exc)) from None
    except EndRefused as exc:
        raise HTTPException(422, str(exc)) from None
    return (await with_flags(session, [m.TransactionOut.model_validate(tx)]))[0]
