"""The audit trail over HTTP: every operator action is recorded as the API answers it, and
`GET /api/v1/audit` reads it (services/audit.py keeps it).

`AuditRecorder` is an ASGI middleware around the operator routes: for every request that
changes something (any method but GET, HEAD and OPTIONS) made with an operator credential
(api/principals.py leaves the caller and its tenant in the request's state), it records who,
when, from which address, the route and its path's ids, the request's body, the answer's
status and body (a command's entry carries the station's reply; passwords, keys and secrets
redacted), and, for a PUT, PATCH or
DELETE of a row the API can show, that row as a GET showed it just before. Refused requests
are recorded too: an attempt is an action. Driver, login and public routes are not operator
actions and are not recorded. Nothing in the API changes or deletes an entry.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from silkcharge.api.bounds import RowId
from silkcharge.services.audit import Action

log = logging.getLogger(__name__)

router = APIRouter(tags=["audit"])

CHANGES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
NOT_OPERATOR = ("/api/v1/driver", "/api/v1/access/login", "/api/v1/access/logout", "/api/v1/trips")
KEEP_BYTES = 64 * 1024
"""Bodies larger than this are recorded as their size only."""


SECRETS = frozenset({"password", "secret", "key", "token_hash", "password_hash", "current_password", "new_password",
                     "credentials_token"})
"""Fields whose values never enter the trail (a station's password, a new API key, a TOTP
secret, an OCPI credentials token): the entry says they were there, not what they were."""


def _redacted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: "(redacted)" if k in SECRETS and v is not None else _redacted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted(v) for v in value]
    return value


def _json(raw: bytes) -> Any:
    if not raw:
        return None
    if len(raw) > KEEP_BYTES:
        return {"bytes": len(raw)}
    try:
        return _redacted(json.loads(raw))
    except ValueError:
        return {"bytes": len(raw)}


class AuditRecorder:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope["method"] not in CHANGES
                or not scope["path"].startswith("/api/v1/") or scope["path"].startswith(NOT_OPERATOR)):
            await self.app(scope, receive, send)
            return
        before = await self._before(scope) if scope["method"] != "POST" else None
        body = bytearray()
        answer = bytearray()
        status = 500

        async def receiving() -> Message:
            message = await receive()
            if message["type"] == "http.request" and len(body) <= KEEP_BYTES:
                body.extend(message.get("body", b""))
            return message

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and len(answer) <= KEEP_BYTES:
                answer.extend(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receiving, sending)
        finally:
            await self._record(scope, status, before, bytes(body), bytes(answer))

    async def _before(self, scope: Scope) -> Any:
        """The row as a GET of the same path with the same credential shows it, if it does."""
        get = {**scope, "method": "GET", "query_string": b"", "state": {}}
        get["headers"] = [(k, v) for k, v in scope["headers"] if k not in (b"content-length", b"content-type")]
        status, chunks = 0, bytearray()

        async def nothing() -> Message:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def keep(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.extend(message.get("body", b""))

        try:
            await self.app(get, nothing, keep)
        except Exception:  # a path with no GET, or one that fails: no "before", never a failed write
            log.debug("no before-image for %s", scope["path"], exc_info=True)
            return None
        return _json(bytes(chunks)) if status == 200 else None

    async def _record(self, scope: Scope, status: int, before: Any, body: bytes, answer: bytes) -> None:
        state = scope.get("state") or {}
        who = state.get("principal")
        if who is None:
            return  # no credential, no actor: a 401 is not an operator action
        params = {str(v): k for k, v in scope.get("path_params", {}).items()}
        template = "/".join(f"{{{params[part]}}}" if part in params else part for part in scope["path"].split("/"))
        client = scope.get("client")
        action = Action(
            tenant_id=state.get("tenant_id"), actor=who.label, role=who.role.value,
            action=f"{scope['method']} {template}", target={k: str(v) for k, v in scope.get("path_params", {}).items()},
            status=status, address=client[0] if client else None, before=before, change=_json(body),
            after=_json(answer) if status < 400 else {"refused": _json(answer)},
        )
        try:
            await scope["app"].state.platform.audit.record(action)
        except Exception:
            log.exception("the audit trail could not record %s by %s", action.action, action.actor)


class EntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True, extra="forbid")

    id: int
    at: datetime
    tenant_id: int | None
    actor: str = Field(description="the credential: key:<id>:<name>, account:<id>:<email> or legacy-key")
    role: str
    action: str = Field(description="method and route, e.g. PATCH /api/v1/stations/{station_id}")
    target: dict[str, str] = Field(description="the path's ids")
    status: int = Field(description="the API's answer: refused attempts are recorded too")
    address: str | None
    before: Any = Field(description="the row before, where a GET of the path shows it")
    change: Any = Field(description="the request's body")
    after: Any = Field(description="the answer's body (a command's carries the station's reply)")


@router.get("/audit", response_model=list[EntryOut])
async def audit_entries(
    request: Request,
    actor: Annotated[str | None, Query(max_length=300, description="part of the actor's label")] = None,
    action: Annotated[str | None, Query(max_length=300, description="part of the action, e.g. 'tariffs'")] = None,
    target: Annotated[str | None, Query(max_length=200, description="an id the action named")] = None,
    since: Annotated[AwareDatetime | None, Query(description="from this time (with a time zone)")] = None,
    until: Annotated[AwareDatetime | None, Query(description="before this time (with a time zone)")] = None,
    before: Annotated[RowId | None, Query(description="only entries with a smaller id (paging)")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[EntryOut]:
    """The tenant's audit trail, newest first (a platform administrator without X-Tenant: all)."""
    rows = await request.app.state.platform.audit.entries(
        actor=actor, action=action, target=target, since=since, until=until, before_id=before, limit=limit)
    return [EntryOut.model_validate(row) for row in rows]
