"""A batch of the commonest writes in one hand-over to the database driver.

Through an `AsyncSession`, each statement is several trips between the event loop and the
driver: on SQLite every cursor made, statement run, rows fetched and cursor closed is a job
handed to aiosqlite's thread and its result handed back, and the commit is one more; a
StatusNotification batch of one made about a dozen of them, and at light load, where every
batch holds one message, those trips and the ORM's bookkeeping around them were most of what
a reply waited for (docs/benchmarks.md, issue 20).

`Direct` runs a batch's statements on the driver's own connection instead:

- on SQLite, the whole batch and its commit are one function run on aiosqlite's thread: one
  hand-over there and one back, whatever the batch holds;
- on PostgreSQL, the statements go straight to asyncpg, each `execute_many` one pipelined
  round-trip, inside one transaction started only if the work writes more than one statement
  or reads after a write (see `_PostgresConnection`).

The statements are the project's own SQLAlchemy Core statements, compiled once per dialect
(`Prepared`), so the SQL, the column types' conversions (timestamps, JSON) and the tables'
Python-side defaults are SQLAlchemy's, not written a second time here.

Bulks that can write this way implement `apply_direct(db, items)` as an `async def` that only
awaits `db`. On SQLite that coroutine is driven to its end on the driver's thread (`db`'s
methods never suspend); on PostgreSQL it is awaited on the loop. A bulk that meets what it
does not handle directly (a connector nobody registered, a row that needs its tenant looked
up) raises `NeedsSession`, and the group committer writes the batch through a session as
before. Only the platform's own work, outside any tenant's scope, runs here: row-level
security scopes a session's transaction, and this path opens none.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import operator
import sqlite3
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from sqlalchemy import JSON, Integer, String, bindparam, func, literal_column, select, table
from sqlalchemy import column as table_column
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import ClauseElement
from sqlalchemy.types import TypeDecorator, TypeEngine
from sqlalchemy.util import greenlet_spawn

from silkcharge.store.tenancy import known_parent_tenant, learn_parent_tenant

log = logging.getLogger(__name__)

T = TypeVar("T")


class NeedsSession(Exception):
    """This batch holds something the direct path leaves to a session (nothing was written)."""


class Prepared:
    """One Core statement compiled once for a dialect: its SQL, the order of its parameters,
    each parameter's conversion, the Python-side defaults of the columns it writes (an
    `updated_at` with `onupdate=utcnow`) and the conversion of each column it returns."""

    def __init__(self, statement: ClauseElement, dialect: Dialect, keys: Sequence[str] = ()) -> None:
        # `keys`: the columns an INSERT or UPDATE is given values for (as in an executemany,
        # the first row's); the other columns with a Python-side default get it.
        compiled = statement.compile(dialect=dialect, column_keys=list(keys))
        if not compiled.positional:
            raise ValueError(f"{dialect.name} does not bind parameters by position")
        self.sql = compiled.string
        defaults: dict[str, Callable[[], Any]] = {}
        for column in (*compiled.insert_prefetch, *compiled.update_prefetch):
            default = column.onupdate if column in compiled.update_prefetch else column.default
            if default is None or not (default.is_scalar or default.is_callable):
                raise ValueError(f"{column} has a default this path cannot compute")
            if default.is_scalar:
                defaults[column.key] = lambda value=default.arg: value
            else:
                # SQLAlchemy wraps a no-argument default to take the execution context, which
                # it ignores. The tenancy default reads that context: it fails at its first
                # execution here (there is none), and the batch goes through a session.
                defaults[column.key] = lambda produce=default.arg: produce(None)
        self._defaults = defaults
        names: list[str] = []
        self._processed: list[tuple[int, Callable[[Any], Any]]] = []  # (position, conversion)
        self._fixed: dict[str, Any] = {}  # values written into the statement (`.values(status="x")`)
        for position, name in enumerate(compiled.positiontup):
            bind = compiled.binds[name]
            if bind.expanding:
                raise ValueError(f"{name}: an expanding parameter (use `one_of_direct`)")
            if not bind.required and name not in defaults:
                self._fixed[name] = bind.effective_value
            names.append(name)
            process = bind.type._cached_bind_processor(dialect)
            if process is not None:
                self._processed.append((position, process))
        # The values in the statement's order, taken in one C call (a row's arguments are made
        # for every row of every batch: with a generator, a third of the writer's binding time).
        self._values: Callable[[dict[str, Any]], tuple] = (
            (lambda params, get=operator.itemgetter(*names): (get(params),)) if len(names) == 1
            else operator.itemgetter(*names) if names else (lambda params: ())
        )
        self._results: list[Callable[[Any], Any] | None] = [
            _result_processor(column.type, dialect) for column in getattr(statement, "selected_columns", ())
        ]

    def arguments(self, params: dict[str, Any]) -> tuple:
        if self._defaults:
            params = {**self._fixed, **{key: make() for key, make in self._defaults.items()}, **params}
        elif self._fixed:
            params = {**self._fixed, **params}
        values = self._values(params)
        if not self._processed:
            return values
        converted = list(values)
        for position, process in self._processed:
            converted[position] = process(converted[position])
        return tuple(converted)

    def rows(self, rows: Sequence[Sequence[Any]]) -> list[tuple]:
        if not any(self._results):
            return [tuple(row) for row in rows]
        processors = self._results
        return [
            tuple(value if process is None else process(value) for process, value in zip(processors, row))
            for row in rows
        ]


def _result_processor(type_: TypeEngine, dialect: Dialect) -> Callable[[Any], Any] | None:
    """How a returned value becomes what a session would return. asyncpg gives Python values
    itself (numeric as Decimal, timestamptz as an aware datetime), so on PostgreSQL only the
    project's own types convert (its dialect's processors want the column's type code from a
    cursor description, which asyncpg's `fetch` does not give); on SQLite, SQLAlchemy's."""
    if dialect.name != "postgresql":
        return type_._cached_result_processor(dialect, None)
    if isinstance(type_, TypeDecorator):
        return functools.partial(type_.process_result_value, dialect=dialect)
    return None


def is_database_error(error: BaseException) -> bool:
    """An error the database or its driver raised (a constraint, a lock, a lost connection), as
    opposed to one of this module's callers."""
    if isinstance(error, (sqlite3.Error, OSError, ConnectionError, TimeoutError, DBAPIError, PoolTimeout)):
        return True  # the last two: SQLAlchemy's pool, which wraps the driver's errors
    module = type(error).__module__ or ""
    return module.startswith("asyncpg")


def one_of_direct(dialect: str, column, name: str):
    """`column` is one of the list bound to `name`, with SQL that stays the same whatever the
    list's length (an expanding IN is rewritten at every execution): PostgreSQL's `= ANY` of
    an array, SQLite's `IN` over `json_each` of the list written as JSON."""
    if dialect == "postgresql":
        return column == func.any(bindparam(name, type_=ARRAY(column.type)))
    values = select(literal_column("value")).select_from(func.json_each(bindparam(name, type_=JSON)))
    return column.in_(values.scalar_subquery())


ARRAYS_FROM = 16
"""On PostgreSQL, rows a batch's write must have for it to be one statement of arrays (`arrays`);
a smaller batch is an executemany of the statement for one row. An execution costs little
beyond the statement's own work, while a statement of arrays costs more to start: for one
status report 295 µs of the backend's CPU against 150 for the row's statement, and no less at
eight reports; at a hundred meter messages 115 to 133 µs a message against 140 to 178
(docs/benchmarks.md, issue 20, "Eleventh"). A status batch is the exception: one statement of
arrays at any size, because it also spares the read before it (`stations._StatusBulk`)."""


def as_arrays(rows: int) -> bool:
    """Whether a write of `rows` rows on PostgreSQL is one statement of arrays."""
    return rows >= ARRAYS_FROM


def arrays(name: str, table, columns: Sequence[str]):
    """PostgreSQL: rows bound as one array parameter per column (`{name}_{column}`, typed as the
    column), as a derived table of those columns (`unnest`), so that a statement writes a
    batch's every row in one execution. One dimension: a JSON value that is a list stays one
    value."""
    return func.unnest(
        *[bindparam(f"{name}_{column}", type_=ARRAY(table.c[column].type, dimensions=1)) for column in columns]
    ).table_valued(*columns).render_derived()


def keys_direct(dialect: str, name: str, table, columns: Sequence[str]):
    """A derived table of key rows bound at each execution (`keys_bound`), to join a table on
    a composite key: PostgreSQL's `unnest` of one array per column (`arrays`), SQLite's
    `json_each` of one JSON list of rows. Joined on every column of an index, each key costs one
    index lookup. The two-lists form, `a IN (:as) AND b IN (:bs)`, probes every combination of
    the lists on a composite index (quadratic in the batch), and where the planner takes a
    one-column index instead it reads every row of each listed value (a station's whole
    history); docs/benchmarks.md, issue 20, "Fourteenth"."""
    if dialect == "postgresql":
        return arrays(name, table, columns)
    each = func.json_each(bindparam(name, type_=JSON)).table_valued("value")
    return (
        select(*[func.json_extract(each.c.value, f"$[{n}]").label(column) for n, column in enumerate(columns)])
        .select_from(each)
        .subquery(name)
    )


def keys_bound(dialect: str, name: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> dict[str, Any]:
    """The parameters of `keys_direct(dialect, name, table, columns)` for `rows`."""
    if dialect == "postgresql":
        rows = list(rows)
        return {f"{name}_{column}": [row[n] for row in rows] for n, column in enumerate(columns)}
    return {name: [list(row) for row in rows]}


_stations = table("stations", table_column("id", String), table_column("tenant_id", Integer))


@functools.cache
def _station_tenants(dialect: str):
    """The tenants of the stations bound to `ids` (built once per dialect: see `_Statements`)."""
    return select(_stations.c.id, _stations.c.tenant_id).where(one_of_direct(dialect, _stations.c.id, "ids"))


class DirectConnection(Protocol):
    """What a bulk's `apply_direct` may do: run prepared statements, nothing else."""

    dialect: str
    """"sqlite" or "postgresql", for statements built per dialect"""

    async def fetch(self, statement: ClauseElement, params: dict[str, Any]) -> list[tuple]:
        """The rows `statement` returns, converted to Python values."""

    async def execute_many(self, statement: ClauseElement, params: list[dict[str, Any]]) -> None:
        """Run `statement` once per parameter set (each with the first one's keys, as an
        executemany of SQLAlchemy's). On PostgreSQL it is sent later, before the work's next
        `fetch` or with its commit, and a database error it meets is raised there; either way
        nothing of the work is committed then."""

    async def execute_checked(
        self, statement: ClauseElement, params: dict[str, Any], check: Callable[[list[tuple]], None]
    ) -> None:
        """Run a write that returns rows (a data-modifying WITH) once, held and sent as
        `execute_many`'s are, and hand its rows to `check`, which raises (`NeedsSession`, say) to
        give the work up. Sent alone it is committed before `check` runs: the statement must
        write nothing where `check` would raise."""

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run `callback` once this work is committed (never if it is not), as
        `group_commit.after_commit` does for a session's."""

    def station_tenant(self, station_id: str) -> int:
        """The tenant a new row of this station belongs to, as the tenancy default would give
        it; `NeedsSession` where that is not known without a statement (the session's path
        looks it up, and it is known from then on)."""

    async def station_tenants(self, station_ids: Iterable[str]) -> dict[str, int]:
        """The tenants of these stations: those looked up before, the rest read in one
        statement (and known from then on). A station not stored is not in the answer."""


class _Connection:
    """What the two drivers' connections share."""

    dialect: str

    def __init__(self, connection, statements: _Statements, engine: AsyncEngine) -> None:
        self._connection = connection
        self._statements = statements
        self._engine = engine
        self.committed: list[Callable[[], None]] = []

    def after_commit(self, callback: Callable[[], None]) -> None:
        self.committed.append(callback)

    async def fetch(self, statement: ClauseElement, params: dict[str, Any]) -> list[tuple]:
        raise NotImplementedError

    def station_tenant(self, station_id: str) -> int:
        tenant = known_parent_tenant(self._engine.sync_engine, "stations", station_id)
        if tenant is None:
            raise NeedsSession(f"the tenant of station {station_id} is not known yet")
        return tenant

    async def station_tenants(self, station_ids: Iterable[str]) -> dict[str, int]:
        engine = self._engine.sync_engine
        tenants: dict[str, int] = {}
        unknown: list[str] = []
        for station_id in set(station_ids):
            tenant = known_parent_tenant(engine, "stations", station_id)
            if tenant is None:
                unknown.append(station_id)
            else:
                tenants[station_id] = tenant
        if unknown:
            for station_id, tenant in await self.fetch(_station_tenants(self.dialect), {"ids": unknown}):
                learn_parent_tenant(engine, "stations", station_id, tenant)
                tenants[station_id] = tenant
        return tenants


class _Statements:
    """Each statement compiled once for the engine's dialect (keyed by the statement object,
    which the bulks build once and keep)."""

    def __init__(self, dialect: Dialect) -> None:
        self._dialect = dialect
        self._prepared: dict[tuple[int, tuple[str, ...]], tuple[ClauseElement, Prepared]] = {}

    def __call__(self, statement: ClauseElement, params: dict[str, Any]) -> Prepared:
        key = (id(statement), tuple(params))
        found = self._prepared.get(key)
        if found is None or found[0] is not statement:
            found = (statement, Prepared(statement, self._dialect, tuple(params)))
            self._prepared[key] = found
        return found[1]


class _SQLiteConnection(_Connection):
    """On the sqlite3 connection, on its own thread only."""

    dialect = "sqlite"

    async def fetch(self, statement: ClauseElement, params: dict[str, Any]) -> list[tuple]:
        prepared = self._statements(statement, params)
        return prepared.rows(self._connection.execute(prepared.sql, prepared.arguments(params)).fetchall())

    async def execute_many(self, statement: ClauseElement, params: list[dict[str, Any]]) -> None:
        if not params:
            return
        prepared = self._statements(statement, params[0])
        self._connection.executemany(prepared.sql, [prepared.arguments(p) for p in params])

    async def execute_checked(
        self, statement: ClauseElement, params: dict[str, Any], check: Callable[[list[tuple]], None]
    ) -> None:
        check(await self.fetch(statement, params))


@dataclass
class _Held:
    """A write held on PostgreSQL: its statement, its arguments (one set per execution), and
    for `execute_checked` what checks the rows it returns."""

    prepared: Prepared
    arguments: list[tuple]
    check: Callable[[list[tuple]], None] | None = None


class _PostgresConnection(_Connection):
    """On asyncpg's connection. Each statement is a round-trip to the server, and at light
    load, where a batch holds one message, the round-trips were most of a write (a status
    batch: BEGIN, its SELECT, two UPDATEs and COMMIT, five). So the transaction starts only
    when it must, and writes wait until something needs them sent:

    - a read before the first write runs on its own, outside the transaction (under READ
      COMMITTED, the isolation this project uses, each statement sees what was committed when
      it started, inside a transaction or not, so the read sees what it would have seen);
    - a write is held until the work reads again (the transaction starts then, and the held
      writes go first, so the read sees them) or ends;
    - work that ends holding one write and no transaction sends it alone: asyncpg's
      `executemany` is one implicit transaction, committed at its end, so it is atomic and
      durable when it returns, one round-trip in all. Otherwise BEGIN, the writes, COMMIT.
    """

    dialect = "postgresql"

    def __init__(self, connection, statements: _Statements, engine: AsyncEngine) -> None:
        super().__init__(connection, statements, engine)
        self._held: list[_Held] = []  # writes not sent yet
        self._transaction = None  # asyncpg's Transaction, once started

    async def fetch(self, statement: ClauseElement, params: dict[str, Any]) -> list[tuple]:
        prepared = self._statements(statement, params)
        if self._held:
            await self._send_held()
        return prepared.rows(await self._connection.fetch(prepared.sql, *prepared.arguments(params)))

    async def execute_many(self, statement: ClauseElement, params: list[dict[str, Any]]) -> None:
        if not params:
            return
        prepared = self._statements(statement, params[0])
        # Converted now, so that a value that cannot be written fails here, in the work.
        self._held.append(_Held(prepared, [prepared.arguments(p) for p in params]))

    async def execute_checked(
        self, statement: ClauseElement, params: dict[str, Any], check: Callable[[list[tuple]], None]
    ) -> None:
        prepared = self._statements(statement, params)
        self._held.append(_Held(prepared, [prepared.arguments(params)], check))

    async def _send(self, held: _Held) -> None:
        if held.check is None:
            await self._connection.executemany(held.prepared.sql, held.arguments)
        else:
            held.check(held.prepared.rows(await self._connection.fetch(held.prepared.sql, *held.arguments[0])))

    async def _send_held(self) -> None:
        if self._transaction is None:
            self._transaction = self._connection.transaction()
            await self._transaction.start()
        held, self._held = self._held, []
        for write in held:
            await self._send(write)

    async def commit(self) -> None:
        """Send what is held and make it durable."""
        if self._transaction is None and len(self._held) <= 1:
            if self._held:
                await self._send(self._held.pop())  # one implicit transaction
            return
        await self._send_held()
        await self._transaction.commit()

    async def rollback(self) -> None:
        """Forget what is held and undo what was sent (nothing was committed)."""
        self._held.clear()
        if self._transaction is not None and self._connection.is_in_transaction():
            await self._transaction.rollback()


def _give_back(pooled, transaction_ended: bool) -> None:
    if transaction_ended:
        pooled._close_special(transaction_reset=True)  # SQLAlchemy's Connection.close does this
    else:
        pooled.close()  # the pool rolls back whatever may be open


def _to_the_end(coroutine: Awaitable[T]) -> T:
    """Run a coroutine that never suspends (one awaiting only a `_SQLiteConnection`) here, on
    the calling thread, with no event loop."""
    try:
        coroutine.send(None)  # type: ignore[attr-defined]
    except StopIteration as done:
        return done.value
    coroutine.close()  # type: ignore[attr-defined]
    raise RuntimeError("a direct write awaited something other than its connection")


class Direct:
    """Runs work against one engine's driver connection, in one transaction it commits."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self.dialect = engine.dialect.name
        self._statements = _Statements(engine.dialect)
        if self.dialect not in ("sqlite", "postgresql"):
            raise ValueError(f"no direct path for {self.dialect}")

    async def run(self, work: Callable[[DirectConnection], Awaitable[T]]) -> T:
        """`work` run and committed, then the callbacks it gave `after_commit`; on any exception
        nothing of it is committed."""
        pooled = await self._engine.raw_connection()
        ended = False
        try:
            if self.dialect == "sqlite":
                db: _Connection = _SQLiteConnection(pooled.driver_connection._conn, self._statements, self._engine)
                result = await self._sqlite(pooled.driver_connection, db, work)
            else:
                db = _PostgresConnection(pooled.driver_connection, self._statements, self._engine)
                result = await self._postgres(pooled, db, work)
            ended = True
        finally:
            # Back to the pool, also when the caller is cancelled meanwhile (a connection never
            # given back would hold SQLite's only one). Committed, the connection holds no
            # transaction, and the pool's rollback on return would be one more trip to the
            # driver's thread for nothing (14 % of a batch of one, measured): it is returned
            # as SQLAlchemy's own Connection.close returns one whose transaction it ended.
            # A failure here comes after the commit, so it must not send the batch round again.
            # Returned so, nothing of the return reaches the driver: it runs here, at once, and
            # cannot be cancelled half-way. (Through `greenlet_spawn`, shielded, it was a task
            # of its own and two more turns of the loop: a fifth of a batch of one's CPU on the
            # loop's thread, measured.) Otherwise the pool rolls back, a statement, which
            # SQLAlchemy runs only inside `greenlet_spawn`.
            try:
                if ended:
                    _give_back(pooled, True)
                else:
                    await asyncio.shield(greenlet_spawn(_give_back, pooled, False))
            except Exception:
                log.exception("could not give a connection back to the pool")
        for callback in db.committed:
            try:
                callback()
            except Exception:
                log.exception("an after-commit callback failed")
        return result

    @staticmethod
    async def _sqlite(driver, db: _SQLiteConnection, work: Callable[[DirectConnection], Awaitable[T]]) -> T:
        connection = driver._conn  # aiosqlite keeps the sqlite3 connection for its thread

        def on_the_drivers_thread() -> T:
            try:
                result = _to_the_end(work(db))
                connection.commit()
            except BaseException:
                connection.rollback()
                raise
            return result

        # aiosqlite's way to run a function on its connection's thread (its own methods use it).
        return await driver._execute(on_the_drivers_thread)

    @staticmethod
    async def _postgres(pooled, db: _PostgresConnection, work: Callable[[DirectConnection], Awaitable[T]]) -> T:
        try:
            result = await work(db)
            await db.commit()
            return result
        except BaseException:
            try:
                await db.rollback()
            except Exception:  # the connection is gone or broken: the finally below drops it
                log.warning("could not roll back a direct write", exc_info=True)
            raise
        finally:
            if pooled.driver_connection.is_in_transaction():
                # Cancelled between its statements and its rollback: the connection cannot go
                # back to the pool holding a transaction that SQLAlchemy does not know of.
                pooled.invalidate()
