"""Drivers' tokens at every operator's stations, with data residency (store/residency.py).

A driver's account is the platform's, and so are the tokens the driver charges with: the app
token (of `SILKCHARGE_DRIVER_APP_TENANT`) and any card the driver linked to the account, all in
the platform's database. A station of a tenant with a database of its own looks a token up in
that database; when it is not there, the token may still be a driver's. `DriverTokens` finds
it in the platform's database, but only a token that is a driver account's own
(`driver_tokens`): another tenant's cards, unowned, stay unknown at a resident tenant's
stations, and the tenant's own tokens are always asked first (by the caller, in its session).

One token charges in one place at a time, across databases too: `running_elsewhere` asks the
other databases for a session of a driver's token that is running there.

Without residency every token is in the one database, and none of this is used.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from silkcharge.store.group_commit import is_unavailable
from silkcharge.store.residency import database_in_use, residency_of
from silkcharge.store.schema import Driver, DriverToken, IdToken, Transaction
from silkcharge.store.tenancy import tenant_scope

log = logging.getLogger(__name__)


class DriverTokens:
    def __init__(self, sessions: async_sessionmaker) -> None:
        self._sessions = sessions
        self._residency = residency_of(sessions)

    @property
    def roam(self) -> bool:
        """Whether drivers' tokens come from another database than the one in use: a resident
        tenant's station, with data residency."""
        return database_in_use(self._sessions) is not None

    @property
    def residency(self) -> bool:
        return self._residency is not None

    @contextlib.asynccontextmanager
    async def platform_session(self) -> AsyncIterator[AsyncSession]:
        """A session on the platform's database, whatever the database in scope, and as the
        platform (an operator's request, in its tenant's scope, may name a driver's token)."""
        assert self._residency is not None
        with tenant_scope(None):
            async with AsyncSession(self._residency.platform, expire_on_commit=False) as session:
                yield session

    async def find(self, session: AsyncSession, tokens: set[str] | list[str]) -> dict[str, IdToken]:
        """The driver accounts' tokens among `tokens`, read in `session` (a platform session):
        a token of a deleted account is no longer linked, so no longer found."""
        if not tokens:
            return {}
        rows = await session.scalars(
            select(IdToken).join(DriverToken, DriverToken.id_token_id == IdToken.id)
            .join(Driver, Driver.id == DriverToken.driver_id)
            .where(IdToken.token.in_(list(tokens)), Driver.deleted_at.is_(None)))
        return {row.token: row for row in rows}

    async def is_drivers(self, token: str) -> bool:
        """Whether `token` is a driver account's own (in the platform's database)."""
        if self._residency is None:
            return False
        async with self.platform_session() as session:
            return bool(await self.find(session, [token]))

    async def running_elsewhere(self, token: str) -> int | None:
        """A session of `token` accepted and still running in a database other than the one in
        use. A database that cannot be reached is passed over with a warning: one country's
        outage does not stop drivers charging everywhere else."""
        if self._residency is None:
            return None
        here = database_in_use(self._sessions)
        table = Transaction.__table__
        for key in self._residency.keys:
            if key == here:
                continue
            engine = self._residency.platform if key is None else self._residency.engines[key]
            try:
                async with engine.connect() as connection:
                    running = await connection.scalar(select(table.c.id).where(
                        table.c.id_token == token, table.c.state == "Active",
                        table.c.token_status == "Accepted").limit(1))
            except Exception as error:
                if not is_unavailable(error):
                    raise
                log.warning("database %s unavailable: a driver's other sessions there are not checked (%s)",
                            key, error)
                continue
            if running is not None:
                return running
        return None
