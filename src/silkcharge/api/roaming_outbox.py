"""The roaming outbox for operators: what waits for, reached, or was refused by each partner,
and re-queueing a refused push (docs/roaming.md, "Push and pull"). Area "roaming".

Rows are the tenant's in scope (store/tenancy.py): an operator sees only their partners' pushes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from silkcharge.api.errors import answers
from silkcharge.roaming.outbox import STATES, NotParked, Outbox, RequeueConflict

router = APIRouter(tags=["roaming"])
State = Literal[STATES]  # type: ignore[valid-type]


def outbox(request: Request) -> Outbox:
    push = request.app.state.platform.roaming_push
    if push is None:
        raise HTTPException(404, "roaming push is not running on this platform")
    return push.outbox


class OutboxRowOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    partner_id: int
    module: str
    object_key: str = Field(description="the OCPI object, e.g. country/party/location/evse uid")
    method: str
    path: str = Field(description="below the partner's module RECEIVER endpoint")
    body: Any
    sequence: int = Field(description="order of the object's changes for this partner")
    state: State = Field(description="pending, sent, parked (refused; re-queue it) or superseded (by a later PUT)")
    created_at: datetime
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    sent_at: datetime | None


class OutboxOut(BaseModel):
    counts: dict[str, int] = Field(description="rows per state (of the partner asked about, else all)")
    rows: list[OutboxRowOut] = Field(description="the newest rows first, of the state asked about")


@router.get("/roaming/outbox", response_model=OutboxOut)
async def list_outbox(
    request: Request,
    partner_id: int | None = Query(default=None, ge=1, le=2**31 - 1),
    state: State | None = None,
    limit: int = Query(default=100, ge=1, le=1000),
) -> OutboxOut:
    """Counts per state and the newest rows: `state=parked` lists what partners refused."""
    box = outbox(request)
    return OutboxOut(
        counts=await box.counts(partner_id),
        rows=[OutboxRowOut.model_validate(row) for row in await box.rows(partner_id=partner_id, state=state,
                                                                         limit=limit)],
    )


@router.post("/roaming/outbox/{row_id}/retry", response_model=OutboxRowOut, responses=answers(409))
async def retry_outbox_row(
    request: Request, row_id: int = Path(ge=1, le=2**63 - 1),
    force: bool = Query(default=False, description="send it even though a later change of the object was sent or is pending"),
) -> OutboxRowOut:
    """Send a parked push again, as the newest change of its object. 409 when a later change of
    the same object was sent or is pending (re-sending after it would undo it) unless `force`."""
    try:
        row = await outbox(request).requeue(row_id, force=force)
    except NotParked:
        raise HTTPException(404, f"no parked push {row_id}") from None
    except RequeueConflict as conflict:
        raise HTTPException(409, str(conflict)) from None
    return OutboxRowOut.model_validate(row)
