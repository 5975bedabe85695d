"""Operator API for OCPI commands at partners' chargers (eMSP role): start or stop a session,
reserve, cancel a reservation or unlock a connector at a partner CPO's location for one of our
drivers' tokens, and read what became of it (the partner's immediate response, then the
result it posts back). roaming/commands.py `CommandSender` does the sending and keeping."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field

from silkcharge.api.bounds import RowId, SmallRowId
from silkcharge.api.errors import answers
from silkcharge.roaming.commands import CommandFailed, CommandSender
from silkcharge.roaming.partners import UnknownPartner
from silkcharge.store.schema import RoamingCommand

router = APIRouter(prefix="/roaming/commands", tags=["roaming"])


def _sender(request: Request) -> CommandSender:
    roaming = getattr(request.app.state, "roaming", None)
    if roaming is None or roaming.command_sender is None:
        raise HTTPException(503, "roaming is not set up on this network")
    return roaming.command_sender


class CommandIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    partner_id: SmallRowId = Field(description="the roaming partner (a CPO) whose charger it is")
    command: Literal["START_SESSION", "STOP_SESSION", "RESERVE_NOW", "CANCEL_RESERVATION", "UNLOCK_CONNECTOR"]
    body: dict[str, Any] = Field(
        description="the OCPI 2.2.1 command object without response_url (silkcharge gives its own), e.g. for "
        "START_SESSION {token, location_id, evse_uid, connector_id?, authorization_reference?}, for "
        "STOP_SESSION {session_id}")


class CommandOut(BaseModel):
    id: int
    partner_id: int
    command: str
    uid: str = Field(description="our id of the command: the last part of the response_url the partner posts to")
    request: dict[str, Any]
    token_uid: str | None
    response: str | None = Field(description="the CommandResponse (ACCEPTED, REJECTED, NOT_SUPPORTED, "
                                             "UNKNOWN_SESSION), or FAILED when the partner could not be asked")
    response_message: str | None
    result: str | None = Field(description="the CommandResult the partner posted; null until it arrives")
    result_message: str | None
    created_at: datetime
    result_at: datetime | None


def _out(row: RoamingCommand) -> CommandOut:
    return CommandOut(
        id=row.id, partner_id=row.partner_id, command=row.command, uid=row.uid, request=row.request,
        token_uid=row.token_uid, response=row.response, response_message=row.response_message, result=row.result,
        result_message=row.result_message, created_at=row.created_at, result_at=row.result_at,
    )


@router.post("", response_model=CommandOut, status_code=201, responses=answers(404, 409, 502))
async def send_command(body: CommandIn, request: Request) -> CommandOut:
    """Send the command to the partner CPO; answered with the partner's CommandResponse. 502
    when the partner does not take it (the reason is kept on the stored command too)."""
    try:
        row = await _sender(request).send(body.partner_id, body.command, body.body)
    except UnknownPartner as exc:
        raise HTTPException(404, str(exc)) from None
    except CommandFailed as exc:
        raise HTTPException(502, str(exc)) from None
    return _out(row)


@router.get("/{command_id}", response_model=CommandOut, responses=answers(404))
async def command_state(command_id: RowId, request: Request) -> CommandOut:
    row = await _sender(request).get(command_id)
    if row is None:
        raise HTTPException(404, f"no roaming command {command_id}")
    return _out(row)
