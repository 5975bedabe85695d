"""Data residency: a tenant whose rows live in a database of its own (say, a Kazakh operator's
in a database in Kazakhstan), served by the same code.

Which database a unit of work uses is decided where tenancy is (store/tenancy.py): by the
context, not by an argument. The sessions the platform hands its services route each
statement (`Session.get_bind`):

- a statement on a table of the platform itself (`PLATFORM_TABLES`: the tenant registry,
  operator accounts and keys, the audit trail, drivers and their sessions) goes to the platform
  database, whoever runs it, so login and key resolution find the tenant, and so its database;
- any other statement goes to the *home* of the tenant in scope (`tenant_scope`); with no
  tenant in scope, to the database in scope (`database_scope`: the gateway enters a station's,
  a platform job enters each in turn); with neither, to the platform database.

A tenant without a database of its own lives in the platform database, as before. An install
that configures no residency gets plain sessions, committers and writers: no routing at all.

Each resident database holds the whole schema (the same Alembic migrations) and a copy of its
tenants' registry rows, which its foreign keys name (`Residency.attach`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextvars import ContextVar
from typing import Any, TypeVar

from sqlalchemy import insert, select, update
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlalchemy.orm import Session

from silkcharge.store.db import dispose_engine
from silkcharge.store.group_commit import is_unavailable
from silkcharge.store.schema import Station, Tenant
from silkcharge.store.tenancy import current_tenant

log = logging.getLogger(__name__)

T = TypeVar("T")

_database: ContextVar[str | None] = ContextVar("silkcharge_database", default=None)

PLATFORM_TABLES = frozenset({
    # who may do what, and what they did
    "tenants", "operator_accounts", "operator_sessions", "api_keys", "audit_entries",
    # drivers are the platform's (they charge on every operator's network)
    "drivers", "driver_sessions", "driver_password_resets", "auth_attempts", "platform_secrets",
    # what holds for every tenant alike: regulated price caps, the stations' CA, hardware profiles
    "jurisdictions", "price_caps", "certificate_authority", "station_profiles",
})
"""The platform's own tables: always in the platform database (docs/security.md, "Data
residency")."""


def database_key(url: str) -> str:
    """How a database is named in scopes and logs: its URL without the password."""
    return make_url(url).render_as_string(hide_password=True)


def current_database() -> str | None:
    """The database entered explicitly (`database_scope`), None for the platform's."""
    return _database.get()


@contextlib.contextmanager
def database_scope(key: str | None) -> Iterator[None]:
    """Run a block against the database `key` (None: the platform's), when no tenant is in scope."""
    token = _database.set(key)
    try:
        yield
    finally:
        _database.reset(token)


def enter_database(key: str | None) -> None:
    """Set the database for the rest of the current task (a station's connection)."""
    _database.set(key)


class Residency:
    """The databases of an install: the platform's, and one per distinct URL in
    `tenant_databases` (several tenants may share one)."""

    def __init__(self, platform: AsyncEngine, urls: dict[str, str], make_engine: Callable[[str], AsyncEngine]):
        self.platform = platform
        self._urls = dict(urls)
        self.codes: dict[str, str] = {code: database_key(url) for code, url in urls.items()}
        """tenant code -> its database's key"""
        self.engines: dict[str, AsyncEngine] = {}
        for url in urls.values():
            key = database_key(url)
            if key not in self.engines:
                self.engines[key] = make_engine(url)
        self._binds: dict[str, Engine] = {key: engine.sync_engine for key, engine in self.engines.items()}
        self._platform_bind = platform.sync_engine
        self.homes: dict[int, str] = {}
        """tenant id -> its database's key, for the tenants attached so far"""
        self.stations: dict[str, str | None] = {}
        """station id -> where it was found (None: the platform database)"""

    def sibling(self, platform: AsyncEngine, make_engine: Callable[[str], AsyncEngine]) -> Residency:
        """The same databases through other engines (a worker thread's, on its own event loop),
        sharing what is known of tenants' and stations' homes."""
        twin = Residency(platform, self._urls, make_engine)
        twin.homes, twin.stations = self.homes, self.stations
        return twin

    @property
    def keys(self) -> list[str | None]:
        """Every database, the platform's (None) first."""
        return [None, *self.engines]

    def current(self) -> str | None:
        """The database the running code writes to: its tenant's home, or the one in scope."""
        tenant = current_tenant()
        if tenant is not None:
            return self.homes.get(tenant)
        return _database.get()

    def bind(self, mapper: Any = None, clause: Any = None) -> Engine:
        if mapper is not None:
            # A mapper from a statement, or a mapped class from `session.get_bind(Station)`
            # (what Session.get_bind resolves itself, before this override replaced it).
            if sa_inspect(mapper).local_table.name in PLATFORM_TABLES:
                return self._platform_bind
        elif clause is not None:
            table = getattr(clause, "table", None)
            if getattr(table, "name", None) in PLATFORM_TABLES:
                return self._platform_bind
        key = self.current()
        if key is None:
            return self._platform_bind
        return self._binds[key]

    def sessionmaker(self) -> async_sessionmaker:
        """Sessions that route each statement (the module's rule)."""
        routing = type("RoutingSession", (Session,), {
            "residency": self,
            "get_bind": lambda session, mapper=None, clause=None, **_kw: self.bind(mapper, clause),
        })
        return async_sessionmaker(self.platform, sync_session_class=routing, expire_on_commit=False)

    async def attach(self) -> None:
        """Find the configured tenants in the registry and copy their rows to their homes (a
        tenant created later is attached by `attach_tenant`)."""
        async with self.platform.connect() as connection:
            rows = (await connection.execute(
                select(Tenant.id, Tenant.code, Tenant.name).where(Tenant.code.in_(list(self.codes)))
            )).all()
        for row in rows:
            try:
                await self.attach_tenant(row.id, row.code, row.name)
            except Exception as error:  # its home is set all the same: its work fails there, never lands here
                if not is_unavailable(error):
                    raise  # a database that holds another tenant under this id: refuse to start
                log.exception("the database of tenant %s could not be prepared; its requests and stations "
                              "fail until it can (its registry row is copied at the next start)", row.code)
        for code in self.codes.keys() - {row.code for row in rows}:
            log.warning("tenant %s has a database configured but is not registered yet; it is attached "
                        "when it is created", code)

    async def attach_tenant(self, tenant_id: int, code: str, name: str) -> None:
        """Make `code`'s database its home, with the registry row its rows point to. The home is
        set first: a tenant configured to live elsewhere never has its rows written here."""
        key = self.codes.get(code)
        if key is None:
            return
        self.homes[tenant_id] = key
        table = Tenant.__table__
        async with self.engines[key].begin() as connection:
            present = await connection.scalar(select(table.c.code).where(table.c.id == tenant_id))
            if present is None:
                await connection.execute(insert(table).values(id=tenant_id, code=code, name=name))
            elif present != code:
                raise RuntimeError(
                    f"the database of tenant {code} ({key}) holds tenant {tenant_id} as {present}: "
                    "it belongs to another install or tenant")
            else:
                await connection.execute(update(table).where(table.c.id == tenant_id).values(name=name))
        log.info("tenant %s lives in %s", code, key)

    async def holds_station(self, station_id: str) -> bool:
        """Whether any database holds `station_id`: station ids are one namespace (a station
        names itself at the handshake), which no single database's key can guard."""
        table = Station.__table__
        for key in self.keys:
            engine = self.platform if key is None else self.engines[key]
            async with engine.connect() as connection:
                if await connection.scalar(select(table.c.id).where(table.c.id == station_id)) is not None:
                    return True
        return False

    async def locate_station(self, station_id: str) -> str | None:
        """The database holding `station_id` (None: the platform's, or nowhere)."""
        if station_id in self.stations:
            return self.stations[station_id]
        table = Station.__table__
        for key in self.keys:
            engine = self.platform if key is None else self.engines[key]
            async with engine.connect() as connection:
                if await connection.scalar(select(table.c.id).where(table.c.id == station_id)) is not None:
                    self.stations[station_id] = key
                    return key
        return None

    async def dispose(self) -> None:
        for engine in self.engines.values():
            await dispose_engine(engine)


def residency_of(sessions: async_sessionmaker) -> Residency | None:
    """The residency behind these sessions (None: every row is in one database)."""
    return getattr(sessions.kw.get("sync_session_class"), "residency", None)


async def each_database(sessions: async_sessionmaker, work: Callable[[], Awaitable[T]]) -> list[T]:
    """Run a platform job once per database, each in that database's scope (once, without
    residency). A database that fails does not hold back the others: a tenant database that
    cannot be reached is skipped with a warning (one country's outage is not everyone's; the
    job runs there again next round), and any other failure is raised once all have run."""
    residency = residency_of(sessions)
    if residency is None:
        return [await work()]
    results = []
    failed: BaseException | None = None
    for key in residency.keys:
        with database_scope(key):
            try:
                results.append(await work())
            except Exception as error:
                if key is not None and is_unavailable(error):
                    log.warning("the database %s is unavailable: a platform job skipped it (%s)", key, error)
                    continue
                log.exception("a platform job failed on the database %s", key or "of the platform")
                failed = error
    if failed is not None:
        raise failed
    return results


def database_in_use(sessions: async_sessionmaker) -> str | None:
    """The database the running code's tenant data is in (None: the platform's, or no
    residency): for what is kept in memory by a row's id, which is only unique per database."""
    residency = residency_of(sessions)
    return None if residency is None else residency.current()


async def station_database(sessions: async_sessionmaker, station_id: str) -> str | None:
    """Where `station_id` lives, to handle something about it (an event) in its database."""
    residency = residency_of(sessions)
    return None if residency is None else await residency.locate_station(station_id)


def by_database(sessions: async_sessionmaker, station_ids: Iterable[str]) -> dict[str | None, list[str]]:
    """Stations grouped by the database they were found in (all in None without residency)."""
    residency = residency_of(sessions)
    grouped: dict[str | None, list[str]] = {}
    for station_id in station_ids:
        key = None if residency is None else residency.stations.get(station_id)
        grouped.setdefault(key, []).append(station_id)
    return grouped


class ByIdOfDatabase(dict):
    """What is kept in memory by a row's id (a transaction's, a reservation's): ids are only
    unique per database, so each key is also the database in use when it is used. Without
    residency that is always None: a plain dict by id."""

    def __init__(self, sessions: async_sessionmaker) -> None:
        super().__init__()
        self._sessions = sessions

    def _key(self, key: Any) -> tuple[str | None, Any]:
        return database_in_use(self._sessions), key

    def __contains__(self, key: object) -> bool:
        return super().__contains__(self._key(key))

    def __getitem__(self, key: Any) -> Any:
        return super().__getitem__(self._key(key))

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(self._key(key), value)

    def get(self, key: Any, default: Any = None) -> Any:
        return super().get(self._key(key), default)

    def pop(self, key: Any, *default: Any) -> Any:
        return super().pop(self._key(key), *default)


class CommitterPerDatabase:
    """A group committer per database behind the one interface services use: a batch never
    mixes databases, and a unit goes to the committer of the database its caller is in."""

    def __init__(self, residency: Residency, make: Callable[[], Any]) -> None:
        self._residency = residency
        self._each: dict[str | None, Any] = {key: make() for key in residency.keys}

    def of(self, key: str | None) -> Any:
        return self._each[key]

    @property
    def depth(self) -> int:
        return sum(committer.depth for committer in self._each.values())

    @property
    def batches(self) -> int:
        return sum(committer.batches for committer in self._each.values())

    @property
    def units(self) -> int:
        return sum(committer.units for committer in self._each.values())

    def start(self) -> None:
        for key, committer in self._each.items():
            with database_scope(key):  # its task, and the batches it runs, keep this scope
                committer.start()

    async def stop(self) -> None:
        for key, committer in self._each.items():
            with database_scope(key):
                await committer.stop()

    async def run(self, work, *, key: Any = None) -> Any:
        return await self._each[self._residency.current()].run(work, key=key)

    async def run_bulk(self, bulk, key: Any, payload: Any) -> Any:
        return await self._each[self._residency.current()].run_bulk(bulk, key, payload)
