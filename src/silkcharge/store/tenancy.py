"""Tenancy: which operator's rows a unit of work may see and write, decided in one place.

A *tenant* is a customer of the platform: usually one operator, possibly a group of them (an
install from before tenancy is one tenant holding all its operators). Every row that belongs
to a tenant carries `tenant_id` (the `TenantOwned` mixin of store/schema.py).

The scope of the running code is a context variable, not an argument: the API sets it from
the caller's credentials (api/principals.py), the OCPP gateway from the station that connected,
and everything they start (tasks, follow-ups, worker-thread jobs that copy their context)
inherits it. With a tenant in scope:

- every ORM statement (select, update, delete, `session.get`) sees only that tenant's rows: the
  criterion is added to each tenant-owned entity the statement touches, joins included;
- a new row gets that tenant, and a row of another tenant cannot be written.

With no tenant in scope the code is the platform's own (sweeps, the billing and reservation
jobs, search for drivers, migrations): it sees all rows. A new row then takes its tenant from
its parent, the row it names (its station, site, operator or transaction), so the gateway's
batched writes need no scope of their own. A row with no parent at all (an operator created
by a script or a seed outside any scope) goes to the install's first tenant, `DEFAULT_TENANT`,
which is where everything of an install from before tenancy lives.

On PostgreSQL the same scope is also set on the database transaction (`silkcharge.tenant`),
and the transaction takes the role `silkcharge_tenant`, which row-level security binds (a
superuser or a table's owner is not bound), so a query that somehow went around the ORM's
criteria still sees and writes only the tenant's rows: a second wall (migration 0023).
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

from sqlalchemy import ForeignKey, Integer, event, select
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.orm import (
    Mapped,
    ORMExecuteState,
    Session,
    declared_attr,
    mapped_column,
    with_loader_criteria,
)

_tenant: ContextVar[int | None] = ContextVar("silkcharge_tenant", default=None)

PG_SETTING = "silkcharge.tenant"
PG_ROLE = "silkcharge_tenant"
DEFAULT_TENANT = 1
"""The install's first tenant: everything stored before tenancy, and rows with no parent
written outside any scope."""


class TenancyError(PermissionError):
    """A write that would cross tenants, or a new row whose tenant cannot be told."""


def current_tenant() -> int | None:
    """The tenant in scope, or None for the platform's own code."""
    return _tenant.get()


@contextlib.contextmanager
def tenant_scope(tenant_id: int | None) -> Iterator[None]:
    """Run a block as `tenant_id` (None: as the platform)."""
    token = _tenant.set(tenant_id)
    try:
        yield
    finally:
        _tenant.reset(token)


def enter_tenant(tenant_id: int | None) -> None:
    """Set the scope for the rest of the current task (a request, a station's connection);
    the task's end ends it, and tasks it starts inherit it."""
    _tenant.set(tenant_id)


class TenantOwned:
    """Mixin for a table whose rows belong to a tenant."""

    @declared_attr
    def tenant_id(cls) -> Mapped[int]:
        return mapped_column(
            Integer, ForeignKey("tenants.id", ondelete="RESTRICT"), index=True, default=_tenant_of_new_row,
        )


# -- where a new row's tenant comes from ------------------------------------------------------

# The parent a row names, in the order asked: (column of the new row, table, key column). The
# tenants of parents never change (api and services refuse a move), so they are cached, per
# database: with data residency (store/residency.py) the same key may be another tenant's
# row in another database.
_PARENTS: tuple[tuple[str, str, str], ...] = (
    ("station_id", "stations", "id"),
    ("site_id", "sites", "id"),
    ("operator_id", "operators", "id"),
    ("transaction_id", "transactions", "id"),
    ("cdr_id", "cdrs", "id"),
    ("id_token_id", "id_tokens", "id"),
)
_parent_tenants: dict[tuple[Any, str, Any], int] = {}


def _tenant_of_new_row(context) -> int:
    scoped = _tenant.get()
    if scoped is not None:
        return scoped
    return _tenant_from_parents(context.connection, context.get_current_parameters())


def _tenant_from_parents(connection: Connection, params: dict[str, Any]) -> int:
    for column, table, key in _PARENTS:
        value = params.get(column)
        if value is None:
            continue
        tenant = parent_tenant(connection, table, key, value)
        if tenant is not None:
            return tenant
    return DEFAULT_TENANT


def give_tenants(connection: Connection, rows: list[dict[str, Any]]) -> None:
    """Set `tenant_id` on rows about to be inserted together, as the column's default would
    set each one. For many rows of few parents (the message log's frames): the default runs
    for every row and reads each row's parameters back, which cost the gateway more than the
    rest of the insert."""
    scoped = _tenant.get()
    known: dict[tuple, int] = {}
    for row in rows:
        if row.get("tenant_id") is not None:
            continue
        if scoped is not None:
            row["tenant_id"] = scoped
            continue
        parents = tuple(row.get(column) for column, _, _ in _PARENTS)
        tenant = known.get(parents)
        if tenant is None:
            tenant = known[parents] = _tenant_from_parents(connection, row)
        row["tenant_id"] = tenant


def parent_tenant(connection: Connection, table: str, key: str, value: Any) -> int | None:
    database = _database_of(connection.engine)
    cached = _parent_tenants.get((database, table, value))
    if cached is not None:
        return cached
    from silkcharge.store.schema import Base  # the mapped tables, by name

    parent = Base.metadata.tables[table]
    tenant = connection.execute(select(parent.c.tenant_id).where(parent.c[key] == value)).scalar()
    if tenant is not None:
        _parent_tenants[(database, table, value)] = tenant
    return tenant


# An engine's URL hashes by rendering itself as a string, which the message log's inserts paid for
# every row (py-spy: 3 % of the gateway's time on StatusNotification); an engine's own hash is
# its identity, so each engine's database name is rendered once.
_database_names: weakref.WeakKeyDictionary[Engine, str] = weakref.WeakKeyDictionary()


def _database_of(engine: Engine) -> str:
    try:
        return _database_names[engine]
    except KeyError:
        name = _database_names[engine] = engine.url.render_as_string(hide_password=False)
        return name


def known_parent_tenant(engine: Engine, table: str, value: Any) -> int | None:
    """The tenant of a parent row if it was looked up before (`parent_tenant`), else None: for
    writers with no statement to spare (store/direct.py), which leave a miss to a session."""
    return _parent_tenants.get((_database_of(engine), table, value))


def learn_parent_tenant(engine: Engine, table: str, value: Any, tenant: int) -> None:
    """Remember a parent's tenant that a writer read with its own statement (store/direct.py),
    as `parent_tenant` remembers the ones it reads."""
    _parent_tenants[(_database_of(engine), table, value)] = tenant


def forget_database(url: str) -> None:
    """Forget the parents' tenants learnt from the database at `url`: its rows were replaced
    behind the platform's back (the tests give a used database back in its template's state,
    where transaction 1 or a station id may belong to another tenant than before)."""
    database = make_url(url).render_as_string(hide_password=False)
    for cached in [cached for cached in _parent_tenants if cached[0] == database]:
        _parent_tenants.pop(cached, None)


def forget_parent(table: str, value: Any) -> None:
    """A parent row was deleted: its key may come back with another tenant."""
    for cached in [cached for cached in _parent_tenants if cached[1:] == (table, value)]:
        _parent_tenants.pop(cached, None)


# -- the scope applied to every statement -------------------------------------------------------


@event.listens_for(Session, "do_orm_execute")
def _scope_statement(state: ORMExecuteState) -> None:
    tenant = _tenant.get()
    if tenant is None or not (state.is_select or state.is_update or state.is_delete):
        return
    state.statement = state.statement.options(
        with_loader_criteria(TenantOwned, lambda cls: cls.tenant_id == tenant, include_aliases=True)
    )


@event.listens_for(Session, "before_flush")
def _guard_writes(session: Session, _flush_context, _instances) -> None:
    tenant = _tenant.get()
    if tenant is None:
        return
    for row in (*session.new, *session.dirty):
        if not isinstance(row, TenantOwned):
            continue
        if row.tenant_id is None:
            row.tenant_id = tenant
        elif row.tenant_id != tenant:
            raise TenancyError(f"a row of tenant {row.tenant_id} cannot be written as tenant {tenant}")


@event.listens_for(Session, "after_begin")
def _scope_database_session(session: Session, _transaction, connection: Connection) -> None:
    """PostgreSQL: the scope for row-level security, for this transaction only."""
    if connection.dialect.name != "postgresql":
        return
    tenant = _tenant.get()
    if tenant is None:
        return  # the platform's own work: nothing to bind (the setting is per transaction)
    connection.exec_driver_sql(f"SELECT set_config('{PG_SETTING}', '{int(tenant)}', true)")
    if _pg_role_available(connection):
        connection.exec_driver_sql(f"SET LOCAL ROLE {PG_ROLE}")


_pg_roles: dict[str, bool] = {}


def _pg_role_available(connection: Connection) -> bool:
    """Whether this database user may take the tenant role (migration 0023 grants it where it
    can); asked once per database URL."""
    url = _database_of(connection.engine)
    known = _pg_roles.get(url)
    if known is None:
        known = bool(connection.exec_driver_sql(
            f"SELECT pg_has_role(current_user, oid, 'MEMBER') FROM pg_roles WHERE rolname = '{PG_ROLE}'"
        ).scalar())
        _pg_roles[url] = known
    return known
