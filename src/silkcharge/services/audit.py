"""The audit trail: every operator action, who did it, when, from where, and what it changed
(api/audit.py records them as the API answers). Append-only: this service only adds and reads.

Reading is bounded to the tenant in scope (store/tenancy.py): a tenant's people see their
tenant's entries; a platform administrator acting across tenants sees all of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from silkcharge.store.schema import AuditEntry
from silkcharge.store.tenancy import current_tenant


@dataclass(frozen=True)
class Action:
    """What the API saw of one operator action."""

    tenant_id: int | None
    actor: str
    role: str
    action: str
    target: dict[str, Any]
    status: int
    address: str | None
    before: Any = None
    change: Any = None
    after: Any = None


class AuditTrail:
    def __init__(self, sessions: async_sessionmaker) -> None:
        self._sessions = sessions

    async def record(self, action: Action) -> None:
        async with self._sessions.begin() as session:
            session.add(AuditEntry(
                tenant_id=action.tenant_id, actor=action.actor, role=action.role, action=action.action,
                target=action.target, status=action.status, address=action.address,
                before=action.before, change=action.change, after=action.after))

    async def entries(self, *, actor: str | None = None, action: str | None = None, target: str | None = None,
                      since: datetime | None = None, until: datetime | None = None,
                      before_id: int | None = None, limit: int = 100) -> list[AuditEntry]:
        """Newest first, in the tenant in scope."""
        query = select(AuditEntry)
        tenant = current_tenant()
        if tenant is not None:
            query = query.where(AuditEntry.tenant_id == tenant)
        if actor:
            query = query.where(AuditEntry.actor.contains(actor, autoescape=True))
        if action:
            query = query.where(AuditEntry.action.contains(action, autoescape=True))
        if since is not None:
            query = query.where(AuditEntry.at >= since)
        if until is not None:
            query = query.where(AuditEntry.at < until)
        if before_id is not None:
            query = query.where(AuditEntry.id < before_id)
        async with self._sessions() as session:
            rows = list((await session.scalars(query.order_by(AuditEntry.id.desc()).limit(limit * 4 if target
                                                                                          else limit))).all())
        if target:  # ids live in JSON: matched here, the same on both engines
            rows = [row for row in rows if target in row.target.values()][:limit]
        return rows
