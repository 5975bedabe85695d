"""The key of the pseudonyms (`domain/pseudonyms.py`), one for the whole platform.

Set it with ``SILKCHARGE_PSEUDONYM_KEY`` (at least 32 characters), or let the platform make
one on first start: 32 random bytes kept in the `platform_secrets` table, so every process of
a deployment, and every restart, gives the same card the same pseudonym. Two processes
starting together both try to store theirs; the database keeps the first, and both read it
back. The key is never logged and no route serves it. Changing it changes every pseudonym
(the ones written in place of a deleted driver's idTokens stay as they are).
"""

from __future__ import annotations

import base64
import secrets

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from silkcharge.domain.clock import utcnow
from silkcharge.domain.pseudonyms import Pseudonyms
from silkcharge.store.schema import PlatformSecret
from silkcharge.store.upsert import insert_ignoring_duplicates

NAME = "pseudonym-key"


class PseudonymKey:
    def __init__(self, sessions: async_sessionmaker, configured: str | None = None) -> None:
        self._sessions = sessions
        self._configured = configured
        self._pseudonyms: Pseudonyms | None = None

    async def start(self) -> None:
        if self._configured:
            self._pseudonyms = Pseudonyms(self._configured.encode())
            return
        made = base64.b64encode(secrets.token_bytes(32)).decode()
        async with self._sessions.begin() as session:
            await insert_ignoring_duplicates(
                session, PlatformSecret, [{"name": NAME, "value": made, "created_at": utcnow()}])
        async with self._sessions() as session:
            stored = await session.scalar(select(PlatformSecret.value).where(PlatformSecret.name == NAME))
        self._pseudonyms = Pseudonyms(base64.b64decode(stored))

    @property
    def pseudonyms(self) -> Pseudonyms:
        if self._pseudonyms is None:
            raise RuntimeError("the pseudonym key is read when the platform starts")
        return self._pseudonyms
