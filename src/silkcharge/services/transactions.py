"""Authorization and transactions: the money-bearing messages, stored before they are answered.

Every method commits before it returns, and the gateway sends its reply only after that, so a
crash after a reply loses nothing a station was told we have. Replays (a station resending a
message whose reply it never got) are recognised and answered the same way, storing nothing twice.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, bindparam, literal_column, select, union_all, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from silkcharge.bus.local import EventBus
from silkcharge.domain.charging import (
    AuthorizationStatus,
    ConnectorStatus,
    MeterSample,
    TokenInfo,
    TransactionRecord,
    TransactionStart,
    TransactionStop,
    TransactionUpdate,
)
from silkcharge.domain.clock import to_ocpp, utcnow
from silkcharge.domain.events import (
    ConnectorStatusChanged,
    TransactionEnded,
    TransactionEventsMissing,
    TransactionStarted,
)
from silkcharge.domain.plausibility import EVSE_FIELD, Finding, Origin
from silkcharge.services.driver_tokens import DriverTokens
from silkcharge.services.plausibility import (
    CLOCK_RULE,
    Plausibility,
    SessionSoFar,
    energy_findings,
    largest_powers,
    max_power,
    refuse,
    screen_samples,
    screen_start,
    screen_stop,
    screen_update,
    station_powers,
)
from silkcharge.services.ports import RoamingAuthority, RoamingDecision
from silkcharge.services.reservations import ReservationLedger
from silkcharge.services.station_profiles import StationProfiles
from silkcharge.store.direct import (
    DirectConnection,
    NeedsSession,
    arrays,
    as_arrays,
    keys_bound,
    keys_direct,
)
from silkcharge.store.group_commit import GroupCommitter, after_commit
from silkcharge.store.schema import (
    Connector,
    IdToken,
    PlausibilityFlag,
    RoamingTransaction,
    Station,
    Transaction,
    TransactionEnding,
)
from silkcharge.store.schema import MeterSample as MeterRow
from silkcharge.store.upsert import insert_ignoring, insert_ignoring_duplicates, one_of

ACTIVE, ENDED = "Active", "Ended"
ENDED_BY_OPERATOR = "EndedByOperator"
MAX_SEQ_GAP = 1000  # seqNos a station may plausibly have queued between two events we received
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Meter:
    """A MeterValues message, waiting for its batch."""

    station_id: str
    evse_id: int
    station_tx_id: str | None
    samples: tuple[MeterSample, ...]
    findings: tuple[Finding, ...] = ()
    origin: Origin | None = field(default=None, compare=False)


class _MeterValuesBulk:
    """Stores a batch's MeterValues together: one SELECT finds the transactions they belong
    to, one executemany inserts every sample, and the energy so far is set on each session.
    Per message that replaces two to three round-trips (and the ORM work around each).
    The plausibility of the registers needs the connectors' power: one more SELECT, only for
    batches that carry registers of a transaction."""

    def __init__(self, plausibility: Plausibility) -> None:
        self._plausibility = plausibility

    async def apply(self, session: AsyncSession, items: list[_Meter]) -> list[None]:
        found, metered = _matched(items, await self._transactions(session, items))
        powers = await max_power(session, metered)
        rows: list[dict] = []
        for item, tx in found:
            rows.extend(_sample_rows(item.station_id, tx, item.samples, item.evse_id))
            findings = list(item.findings)
            if tx is not None:
                if (tx.station_id, tx.evse_id) in metered:
                    so_far = _so_far(tx, powers.get((tx.station_id, tx.evse_id)))
                    findings += energy_findings(self._plausibility.checks, so_far, item.samples)
                _count_energy(tx, item.samples)
            if findings:
                self._plausibility.record(
                    session, item.station_id, tx.id if tx is not None else None, findings,
                    item.origin or Origin.now("MeterValues"),
                )
        await insert_ignoring_duplicates(session, MeterRow, rows)
        return [None] * len(items)

    async def apply_direct(self, db: DirectConnection, items: list[_Meter]) -> list[None]:
        """`apply` in one hand-over to the driver (store/direct.py). A batch with a finding to
        record goes through `apply`, which records it in the same transaction."""
        if any(item.findings for item in items):
            raise NeedsSession("plausibility findings to record")
        stations = {i.station_id for i in items if i.station_tx_id is not None or i.evse_id}
        transactions = _Found({}, {})
        connectors: list[tuple] = []
        if stations:
            named = {(i.station_id, i.station_tx_id) for i in items if i.station_tx_id is not None}
            rows = await db.fetch(_direct_transactions(db.dialect), _named_params(db.dialect, named, stations))
            _transactions_and_connectors(rows, _RUNNING_FIRST, transactions.add, connectors)
        found, metered = _matched(items, transactions)
        powers = largest_powers(((s, e, power) for s, e, _, power, _ in connectors), metered) if metered else {}
        messages: list[_Message] = []
        for item, tx in found:
            message = _Message(db.station_tenant(item.station_id), item.station_id, item.evse_id, item.samples, tx)
            if tx is not None:
                if (tx.station_id, tx.evse_id) in metered:
                    so_far = _so_far(tx, powers.get((tx.station_id, tx.evse_id)))
                    if energy_findings(self._plausibility.checks, so_far, item.samples):
                        raise NeedsSession("plausibility findings to record")
                before = (tx.meter_start_wh, tx.energy_wh)
                _count_energy(tx, item.samples)
                if (tx.meter_start_wh, tx.energy_wh) != before:
                    message.changes = ENERGY_CHANGES
            messages.append(message)
        await _store_messages(db, messages)
        return [None] * len(items)

    @staticmethod
    async def _transactions(session: AsyncSession, items: list[_Meter]) -> _Found:
        """The transactions the items name, and the latest active one per EVSE, in one query."""
        stations = {i.station_id for i in items if i.station_tx_id is not None or i.evse_id}
        found = _Found({}, {})
        if not stations:
            return found
        named = {(i.station_id, i.station_tx_id) for i in items if i.station_tx_id is not None}
        dialect = session.bind.dialect.name
        rows = await session.scalars(_named_or_active_mapped(dialect), _named_params(dialect, named, stations))
        for tx in rows:
            found.add(tx)
        return found


@dataclass
class _Found:
    named: dict[tuple[str, str], Transaction | _Running]
    active: dict[tuple[str, int], Transaction | _Running]

    def add(self, tx: Transaction | _Running) -> None:
        """Taken oldest first: the latest active transaction of an EVSE wins."""
        self.named[(tx.station_id, tx.station_tx_id)] = tx
        if tx.state == ACTIVE:
            self.active[(tx.station_id, tx.evse_id)] = tx


def _matched(items: list[_Meter], transactions: _Found) -> tuple[list[tuple[_Meter, Any]], set[tuple[str, int]]]:
    """Each MeterValues with its transaction (the one it names, else the active one of its
    EVSE, else none), and the (station, EVSE)s whose energy register came in a transaction."""
    found = []
    for item in items:
        tx = None
        if item.station_tx_id is not None:
            tx = transactions.named.get((item.station_id, item.station_tx_id))
        if tx is None and item.evse_id:
            tx = transactions.active.get((item.station_id, item.evse_id))
        found.append((item, tx))
    metered = {
        (tx.station_id, tx.evse_id) for item, tx in found
        if tx is not None and any(s.is_energy_register for s in item.samples)
    }
    return found, metered


@dataclass
class _Running:
    """What the direct path reads of a transaction: the attributes `_count_energy`, `_so_far`,
    `_sample_rows` and `_apply_update` use, as on the mapped `Transaction`, in the order of
    `_running_columns` (MeterValues reads the first eight)."""

    id: int
    station_id: str
    station_tx_id: str
    evse_id: int
    state: str
    started_at: datetime
    meter_start_wh: Decimal | None
    energy_wh: Decimal | None
    connector_id: int = 0
    last_seq_no: int | None = None
    missing_seq_nos: list[int] | None = None
    charging_state: str | None = None
    remote_start_id: int | None = None
    offline: bool = False
    updated_at: datetime | None = None


def _running_columns(every: bool = False):
    t = Transaction.__table__.c
    first = [t.id, t.station_id, t.station_tx_id, t.evse_id, t.state, t.started_at, t.meter_start_wh, t.energy_wh]
    if not every:
        return first
    return [*first, t.connector_id, t.last_seq_no, t.missing_seq_nos, t.charging_state, t.remote_start_id,
            t.offline, t.updated_at]


_RUNNING_FIRST, _RUNNING_EVERY = len(_running_columns()), len(_running_columns(every=True))


def _with_their_connectors(columns: list):
    """`columns` of transactions, each row once per connector of the transaction's EVSE (once
    with None if it has none): (station, EVSE, connector, maximum power, status) after
    `columns`. A meter batch needs its sessions' EVSEs' powers (the plausibility of their
    registers) and their connectors' status (to mark them Charging): read with the sessions,
    in the same statement, that is one round-trip instead of three."""
    t, c = Transaction.__table__.c, Connector.__table__.c
    return select(
        *columns, c.station_id.label("c_station"), c.evse_id.label("c_evse"), c.connector_id.label("c_connector"),
        c.max_power_kw, c.status.label("c_status"),
    ).select_from(
        Transaction.__table__.outerjoin(Connector.__table__, (c.station_id == t.station_id) & (c.evse_id == t.evse_id))
    )


def _transactions_and_connectors(
    rows: list[tuple], width: int, add: Callable[[_Running], None], connectors: list[tuple]
) -> None:
    """Split the rows of a `_with_their_connectors` statement: each transaction to `add` once,
    in the rows' order, and each connector row to `connectors`."""
    seen: set[int] = set()
    for row in rows:
        if row[0] not in seen:
            seen.add(row[0])
            add(_Running(*row[:width]))
        if row[width] is not None:
            connectors.append(row[width:])


NAMED = ("station_id", "station_tx_id")
"""The key a message names its session by (unique): `_named_params` binds it."""


def _active_at(dialect: str) -> tuple[str, ...]:
    """The key of a station's active sessions (`ix_transactions_station_state`). PostgreSQL
    is given the state as a constant of the statement, which its statistics know to be rare
    (with the state in each key row it expects ten sessions a key and reads the whole table);
    SQLite, given that constant, reads every active session of the network through the index
    on the state alone, so there the state is a column of the key rows."""
    return ("station_id",) if dialect == "postgresql" else ("station_id", "state")


def _ids_by_key(dialect: str, name: str, columns: tuple[str, ...], *, active_only: bool = False):
    """The ids of the transactions whose `columns` equal one of the key rows bound to `name`
    (store.direct.keys_direct), of the active ones only if `active_only` (the state a constant
    of the statement): an index lookup per key, whatever the network's size."""
    table = Transaction.__table__
    t = table.alias(f"{name}_t")
    keys = keys_direct(dialect, name, table, columns)
    on = [t.c[column] == keys.c[column] for column in columns]
    if active_only:
        on.append(t.c.state == literal_column(f"'{ACTIVE}'"))
    return select(t.c.id).select_from(keys.join(t, and_(*on)))


@functools.cache
def _named_or_active(dialect: str):
    """The ids of the transactions named (`b_named`) and of the active ones of the stations in
    `b_active` (`_named_params`): a MeterValues batch's candidates."""
    active = _ids_by_key(dialect, "b_active", _active_at(dialect), active_only=dialect == "postgresql")
    return union_all(_ids_by_key(dialect, "b_named", NAMED), active)


def _named_params(dialect: str, named: Iterable[tuple[str, str]], active_at: Iterable[str] | None = None
                  ) -> dict[str, Any]:
    """The parameters of `_named_or_active`, or without `active_at` those of `_direct_updated`
    and `_named`."""
    params = keys_bound(dialect, "b_named", NAMED, named)
    if active_at is not None:
        rows = [(station_id,) if dialect == "postgresql" else (station_id, ACTIVE) for station_id in active_at]
        params |= keys_bound(dialect, "b_active", _active_at(dialect), rows)
    return params


@functools.cache
def _named(dialect: str):
    """The transactions (mapped) the keys bound to `b_named` name."""
    return select(Transaction).where(Transaction.id.in_(_ids_by_key(dialect, "b_named", NAMED)))


@functools.cache
def _named_or_active_mapped(dialect: str):
    """`_named_or_active`'s transactions (mapped), oldest first."""
    return select(Transaction).where(Transaction.id.in_(_named_or_active(dialect))).order_by(Transaction.started_at)


@functools.cache
def _direct_updated(dialect: str):
    """The transactions a batch of Updated events names (`_Running`'s every column), with
    their EVSEs' connectors."""
    t = Transaction.__table__.c
    return _with_their_connectors(_running_columns(every=True)).where(
        t.id.in_(_ids_by_key(dialect, "b_named", NAMED)))


@functools.cache
def _direct_connector_charging(dialect: str):
    c = Connector.__table__.c
    return update(Connector.__table__).where(
        c.station_id == bindparam("b_station"), c.evse_id == bindparam("b_evse"),
        c.connector_id == bindparam("b_connector"),
    ).values(status=ConnectorStatus.CHARGING.value)


@functools.cache
def _direct_transactions(dialect: str):
    """The transactions named and those active at the listed stations (`_named_params`;
    `_Running`'s columns), oldest first, so that the latest active one of an EVSE wins, with
    their EVSEs' connectors."""
    t = Transaction.__table__.c
    return (
        _with_their_connectors(_running_columns())
        .where(t.id.in_(_named_or_active(dialect)))
        .order_by(t.started_at)
    )


ENERGY_CHANGES = ("meter_start_wh", "energy_wh")
"""The columns `_count_energy` changes on a session (1.6 MeterValues)."""
UPDATED_CHANGES = (*ENERGY_CHANGES, "last_seq_no", "missing_seq_nos", "charging_state", "remote_start_id",
                   "offline", "updated_at")
"""The columns a 2.0.1 Updated changes on its session (`_apply_update`, then `_count_energy`)."""


@functools.cache
def _session_changes(columns: tuple[str, ...]):
    """Each session's `columns` (`_Running`'s attributes of the same names) by its id."""
    t = Transaction.__table__.c
    return update(Transaction.__table__).where(t.id == bindparam("b_id")).values(
        {name: bindparam(f"b_{name}") for name in columns})


def _changes_params(columns: tuple[str, ...], tx: _Running) -> dict[str, Any]:
    """The parameters of `_session_changes(columns)` for `tx` as it is now."""
    return {"b_id": tx.id, **{f"b_{name}": getattr(tx, name) for name in columns}}


# -- PostgreSQL: a message's samples and its session's changes in one statement ------------------
#
# Each statement on PostgreSQL is a round-trip at light load: a message's samples' insert and its
# session's update were two, and two writes also need BEGIN and COMMIT (store/direct.py), four
# in all. Written as one statement (the update a data-modifying WITH, the samples bound as one
# array per column), a message's write is one round-trip with its commit, and a batch's an
# executemany of it. A large batch (`as_arrays`) is instead one statement for all its messages,
# every sample and every session's changes bound as arrays: one execution, not one per message
# (bench/pg_meter_write.py measures both forms).

_SAMPLE_COLUMNS = ("tenant_id", "station_id", "evse_id", "transaction_id", "timestamp", "measurand", "phase",
                   "location", "context", "unit", "value")
_MESSAGE_KEY = 4
"""A message's samples share the first four columns: bound once each in `_message_write`."""


class _Message:
    """A meter message on the direct path: its sample rows (`_sample_rows`, each with its
    station's `tenant`), its session, and the columns of the session it changes
    (`ENERGY_CHANGES` or `UPDATED_CHANGES`; None: none)."""

    def __init__(self, tenant: int, station_id: str, evse_id: int, samples: tuple[MeterSample, ...],
                 tx: _Running | None, changes: tuple[str, ...] | None = None) -> None:
        self.station_id, self.tx, self.changes, self.tenant = station_id, tx, changes, tenant
        self.evse_id = tx.evse_id if tx is not None else evse_id
        self.rows = _sample_rows(station_id, tx, samples, evse_id)
        for row in self.rows:
            row["tenant_id"] = self.tenant


@functools.cache
def _message_write(changes: tuple[str, ...] | None):
    """One message's samples inserted (a duplicate ignored, as `insert_ignoring` does) with,
    given `changes`, its session's columns of that name set (`_session_changes`) in the same
    statement. Every column of the sample rows is bound, so no column default is left for the
    direct path to compute."""
    samples = arrays("s", MeterRow.__table__, _SAMPLE_COLUMNS[_MESSAGE_KEY:])
    m = MeterRow.__table__.c
    statement = postgresql.insert(MeterRow.__table__).from_select(list(_SAMPLE_COLUMNS), select(
        *[bindparam(f"b_{name}", type_=m[name].type) for name in _SAMPLE_COLUMNS[:_MESSAGE_KEY]],
        *[samples.c[name] for name in _SAMPLE_COLUMNS[_MESSAGE_KEY:]],
    )).on_conflict_do_nothing()
    if changes:
        statement = statement.add_cte(_session_changes(changes).cte("session_changed"))
    return statement


def _message_params(message: _Message) -> dict[str, Any]:
    """`_message_write`'s parameters for `message`, its session as it is now."""
    tx = message.tx
    params = {"b_tenant_id": message.tenant, "b_station_id": message.station_id, "b_evse_id": message.evse_id,
              "b_transaction_id": tx.id if tx is not None else None}
    params |= {f"s_{name}": [row[name] for row in message.rows] for name in _SAMPLE_COLUMNS[_MESSAGE_KEY:]}
    if message.changes is not None and tx is not None:
        params |= _changes_params(message.changes, tx)
    return params


def _batch_params(messages: list[_Message], changes: tuple[str, ...] | None) -> dict[str, Any]:
    """`_batch_write(changes)`'s parameters for `messages`: every sample, and the sessions of
    the messages making those changes, each once as it is now."""
    rows = [row for message in messages for row in message.rows]
    params = {f"s_{name}": [row[name] for row in rows] for name in _SAMPLE_COLUMNS}
    if changes is not None:
        sessions = {m.tx.id: m.tx for m in messages if m.changes == changes and m.tx is not None}
        params |= {f"u_{name}": [getattr(tx, name) for tx in sessions.values()] for name in ("id", *changes)}
    return params


@functools.cache
def _batch_write(changes: tuple[str, ...] | None):
    """Every sample of a batch inserted (a duplicate ignored, as `insert_ignoring` does) and,
    with `changes`, the sessions' columns of that name set, in one statement. Every column of
    the sample rows is bound, so no column default is left for the direct path to compute."""
    samples = arrays("s", MeterRow.__table__, _SAMPLE_COLUMNS)
    statement = postgresql.insert(MeterRow.__table__).from_select(
        list(_SAMPLE_COLUMNS), select(*[samples.c[name] for name in _SAMPLE_COLUMNS])
    ).on_conflict_do_nothing()
    if changes:
        sessions = arrays("u", Transaction.__table__, ("id", *changes))
        t = Transaction.__table__.c
        changed = update(Transaction.__table__).where(t.id == sessions.c.id).values(
            {name: sessions.c[name] for name in changes})
        statement = statement.add_cte(changed.cte("sessions_changed"))
    return statement


async def _store_messages(db: DirectConnection, messages: list[_Message]) -> None:
    """A batch's samples and the changes of its sessions, each session written as it is now
    (two messages of one session in a batch leave it as the second left it): on PostgreSQL a
    statement per message, or for a large batch one in all; on SQLite one insert and an
    update per kind of change."""
    changed: dict[tuple[str, ...], dict[int, _Running]] = {}
    for message in messages:
        if message.changes is not None and message.tx is not None:
            changed.setdefault(message.changes, {})[message.tx.id] = message.tx
    if db.dialect == "postgresql" and not as_arrays(len(messages)):
        by_statement: dict[Any, list[dict]] = {}
        for message in messages:
            by_statement.setdefault(_message_write(message.changes), []).append(_message_params(message))
        for statement, params in by_statement.items():
            await db.execute_many(statement, params)
        return
    if db.dialect == "postgresql" and len(changed) <= 1:
        changes = next(iter(changed), None)
        await db.execute_many(_batch_write(changes), [_batch_params(messages, changes)])
        return
    rows = [row for message in messages for row in message.rows]
    if rows:
        await db.execute_many(insert_ignoring(db.dialect, MeterRow.__table__), rows)
    for changes, sessions in changed.items():
        await db.execute_many(_session_changes(changes), [_changes_params(changes, tx) for tx in sessions.values()])


ReadWithUpdates = Callable[[DirectConnection, list[int]], Awaitable[Mapping[int, Any]]]
"""Reads, in the direct work that stores a batch of 2.0.1 Updated events, something about each
of their sessions (by transaction id) for their replies."""


@dataclass(frozen=True)
class _Update:
    """A 2.0.1 TransactionEvent Updated, waiting for its batch; `whole` is the unit of work
    that handles any update (an unknown transaction, an idToken to look up)."""

    station_id: str
    change: TransactionUpdate
    findings: tuple[Finding, ...]
    origin: Origin
    whole: Callable[[AsyncSession], Awaitable[TransactionRecord]] = field(compare=False)


class _UpdatesBulk:
    """Stores a batch's TransactionEvent Updated together, as `_MeterValuesBulk` does for
    MeterValues: one SELECT for the transactions, one for the connectors' power (when
    registers came), one executemany for every sample and one SELECT for the connectors whose
    session is charging. Most Updated events are meter values of a known transaction without
    an idToken; those take this path. An event of a transaction we do not have yet, or with an
    idToken (answered with its own idTokenInfo), runs the whole unit of work inside the batch
    (a batch holds one item per station, so nothing of the same station runs between)."""

    def __init__(self, service: TransactionService, plausibility: Plausibility) -> None:
        self._service = service  # what any Updated changes (`_apply_update`), charging connectors
        self._plausibility = plausibility

    async def apply(self, session: AsyncSession, items: list[_Update]) -> list[TransactionRecord]:
        service = self._service
        named = await self._transactions(session, items)
        results: list[TransactionRecord | None] = [None] * len(items)
        simple: list[tuple[int, _Update, Transaction]] = []
        for n, item in enumerate(items):
            tx = named.get((item.station_id, item.change.station_tx_id))
            if tx is None or item.change.id_token:
                results[n] = await item.whole(session)
            else:
                simple.append((n, item, tx))
        metered = {(tx.station_id, tx.evse_id) for _, item, tx in simple
                   if any(s.is_energy_register for s in item.change.samples)}
        powers = await max_power(session, metered)
        rows: list[dict] = []
        charging: list[Transaction] = []
        for n, item, tx in simple:
            change = item.change
            found = list(item.findings)
            if (tx.station_id, tx.evse_id) in metered:
                found += energy_findings(self._plausibility.checks,
                                         _so_far(tx, powers.get((tx.station_id, tx.evse_id))), change.samples)
            self._plausibility.record(session, item.station_id, tx.id, found, item.origin)
            service._apply_update(functools.partial(after_commit, session), item.station_id, tx, change)
            rows.extend(_sample_rows(item.station_id, tx, change.samples))
            _count_energy(tx, change.samples)
            if change.charging_state == "Charging":
                charging.append(tx)
            results[n] = TransactionRecord(tx.id, tx.station_tx_id, None)
        if rows:
            await insert_ignoring_duplicates(session, MeterRow, rows)
        await service._connectors_charging(session, charging)
        return results  # type: ignore[return-value]

    async def apply_direct(self, db: DirectConnection, items: list[_Update]) -> list[TransactionRecord]:
        """`apply` in one hand-over to the driver (store/direct.py), for the updates it writes
        with shared statements; a batch holding another (an unknown transaction, an idToken,
        a plausibility finding) goes through `apply`."""
        if any(item.change.id_token or item.findings for item in items):
            raise NeedsSession("an update with a token or a finding")
        service = self._service
        named: dict[tuple[str, str], _Running] = {}
        connectors: list[tuple] = []
        rows = await db.fetch(_direct_updated(db.dialect), _named_params(
            db.dialect, {(item.station_id, item.change.station_tx_id) for item in items}))

        def add(tx: _Running) -> None:
            named[(tx.station_id, tx.station_tx_id)] = tx

        _transactions_and_connectors(rows, _RUNNING_EVERY, add, connectors)
        simple: list[tuple[_Update, _Running]] = []
        for item in items:
            tx = named.get((item.station_id, item.change.station_tx_id))
            if tx is None:
                raise NeedsSession("an update of a transaction not stored yet")
            simple.append((item, tx))
        metered = {(tx.station_id, tx.evse_id) for item, tx in simple
                   if any(s.is_energy_register for s in item.change.samples)}
        powers = largest_powers(((s, e, power) for s, e, _, power, _ in connectors), metered) if metered else {}
        charging: list[_Running] = []
        messages: list[_Message] = []
        for item, tx in simple:
            change = item.change
            if (tx.station_id, tx.evse_id) in metered and energy_findings(
                self._plausibility.checks, _so_far(tx, powers.get((tx.station_id, tx.evse_id))), change.samples
            ):
                raise NeedsSession("plausibility findings to record")
            service._apply_update(db.after_commit, item.station_id, tx, change)
            messages.append(_Message(db.station_tenant(item.station_id), item.station_id, tx.evse_id,
                                     change.samples, tx, UPDATED_CHANGES))
            _count_energy(tx, change.samples)
            if change.charging_state == "Charging":
                charging.append(tx)
        await _store_messages(db, messages)
        await service._connectors_charging_direct(db, charging, connectors)
        read = service.read_with_updates
        reads = await read(db, [tx.id for _, tx in simple]) if read is not None else {}
        return [TransactionRecord(tx.id, tx.station_tx_id, None, reads.get(tx.id)) for _, tx in simple]

    @staticmethod
    async def _transactions(session: AsyncSession, items: list[_Update]) -> dict[tuple[str, str], Transaction]:
        dialect = session.bind.dialect.name
        rows = await session.scalars(_named(dialect), _named_params(
            dialect, {(item.station_id, item.change.station_tx_id) for item in items}))
        return {(tx.station_id, tx.station_tx_id): tx for tx in rows}


class TransactionService:
    def __init__(
        self,
        sessions: async_sessionmaker,
        bus: EventBus,
        reservations: ReservationLedger,
        committer: GroupCommitter | None = None,
        plausibility: Plausibility | None = None,
        profiles: StationProfiles | None = None,
        roaming: RoamingAuthority | None = None,
    ) -> None:
        self._sessions = sessions
        # Tokens no registry knows may be a roaming partner's driver's (OCPI tokens); app.py
        # sets this once the roaming side is built.
        self.roaming = roaming
        self._bus = bus
        self._reservations = reservations
        # A station's effective profile names its master pass group (2.0.1 C16), if any.
        self._profiles = profiles
        # Writes go through the group committer: durable before the reply, one commit per batch.
        self._committer = committer or GroupCommitter(sessions)
        # What a station reports is screened before it is stored (domain/plausibility.py).
        self._plausibility = plausibility or Plausibility(sessions)
        self._checks = self._plausibility.checks
        self._meter_bulk = _MeterValuesBulk(self._plausibility)
        self._updates_bulk = _UpdatesBulk(self, self._plausibility)
        # Data residency: a driver's token, in the platform's database, at a resident tenant's station.
        self._drivers = DriverTokens(sessions)
        self.read_with_updates: ReadWithUpdates | None = None
        """Set by app.py to billing's `read_running`: what a 2.0.1 Updated reply needs (its
        running cost's row) is read in the batch's own transaction, after its writes, and
        handed back in each TransactionRecord's `read`."""

    # -- authorization ----------------------------------------------------------------------

    async def authorize(
        self, token: str, station_id: str | None = None, *, evse_id: int | None = None,
        token_type: str | None = None,
    ) -> TokenInfo:
        """What a station is answered for `token`. A token the registry does not know is asked
        of roaming (a partner's driver's card), naming the station and EVSE when known."""
        async with self._sessions() as session:
            info = await self._token_info(session, token)
        if info.status is AuthorizationStatus.UNKNOWN:
            decision = await self._ask_roaming(token, token_type, station_id, evse_id)
            if decision is not None:
                return _roaming_info(decision)
        return info

    async def _ask_roaming(
        self, token: str, token_type: str | None, station_id: str | None, evse_id: int | None,
    ) -> RoamingDecision | None:
        """Roaming's decision on a token the registry does not know, or None. Never raises:
        a failing roaming side leaves the token unknown, as it would be without roaming."""
        if self.roaming is None:
            return None
        try:
            return await self.roaming.authorize(token, token_type, station_id, evse_id)
        except Exception:
            log.exception("roaming could not decide on a token at %s", station_id)
            return None

    async def _token_info(self, session: AsyncSession, token: str) -> TokenInfo:
        """The token's status where the station is. With data residency, a token the station's
        database does not hold may be a driver's, in the platform's database (services/
        driver_tokens.py): only a driver account's own is taken from there, and only when the
        station's tenant holds no token of that name."""
        row = await session.scalar(select(IdToken).where(IdToken.token == token))
        if row is not None:
            return await _info(session, row)
        if self._drivers.roam:
            async with self._drivers.platform_session() as platform:
                found = (await self._drivers.find(platform, [token])).get(token)
                if found is not None:
                    return await _info(platform, found)
        return TokenInfo(AuthorizationStatus.UNKNOWN)

    # -- start --------------------------------------------------------------------------------

    async def start(
        self, station_id: str, start: TransactionStart, origin: Origin | None = None
    ) -> TransactionRecord:
        origin = origin or Origin.now("StartTransaction")
        sent = start
        start, findings = screen_start(self._checks, start, origin)
        # A token the registry does not know is asked of roaming outside the database work
        # (the eMSP may take a while to answer), then the work runs again with the answer.
        asked: list[RoamingDecision | None] = []

        async def work(session: AsyncSession) -> tuple[TransactionRecord | None, bool]:
            token = await self._token_info(session, start.id_token) if start.id_token else None
            existing = await self._find_replayed_start(session, station_id, start, sent)
            if existing is not None:
                if token is not None and token.status is AuthorizationStatus.UNKNOWN:
                    token = await _replayed_roaming_token(session, existing) or token
                return TransactionRecord(existing.id, existing.station_tx_id, token), False
            decision = None
            if token is not None and token.status is AuthorizationStatus.UNKNOWN and self.roaming is not None:
                if not asked:
                    return None, False
                decision = asked[0]
                if decision is not None:
                    token = _roaming_info(decision)
            if token:
                token = await self._start_checks(session, station_id, start, token)
            tx = Transaction(
                station_id=station_id,
                station_tx_id=start.station_tx_id or f"pending:{uuid.uuid4().hex}",
                evse_id=start.evse_id,
                connector_id=start.connector_id,
                id_token=start.id_token,
                token_status=token.status.value if token else None,
                reservation_id=start.reservation_id,
                remote_start_id=start.remote_start_id,
                state=ACTIVE,
                charging_state=start.charging_state,
                started_at=start.timestamp,
                meter_start_wh=start.meter_start_wh,
                offline=start.offline,
                last_seq_no=start.seq_no,
                updated_at=utcnow(),
            )
            session.add(tx)
            await session.flush()
            if start.station_tx_id is None:
                tx.station_tx_id = str(tx.id)  # OCPP 1.6: the CSMS names the transaction
            self._track_seq(functools.partial(after_commit, session), station_id, tx, start.seq_no, previous=None)
            if decision is not None:
                session.add(_roaming_transaction(tx, decision))
            if token and token.status is AuthorizationStatus.ACCEPTED:
                await self._reservations.use(session, station_id, start, tx.id, token.group_id)
            found = findings + await self._start_findings(session, station_id, tx, start)
            self._plausibility.record(session, station_id, tx.id, found, origin)
            await self._store_samples(session, station_id, tx, start.samples)
            if start.charging_state == "Charging":
                await self._connectors_charging(session, [tx])
            return TransactionRecord(tx.id, tx.station_tx_id, token), True

        record, new = await self._committer.run(work, key=station_id)
        if record is None:
            asked.append(await self._ask_roaming(start.id_token, None, station_id, start.evse_id))
            record, new = await self._committer.run(work, key=station_id)
        if new:
            self._bus.publish(
                TransactionStarted(station_id, start.timestamp, record.id, start.evse_id, start.id_token)
            )
        return record

    async def _find_replayed_start(
        self, session: AsyncSession, station_id: str, start: TransactionStart, sent: TransactionStart
    ) -> Transaction | None:
        if start.station_tx_id is not None:
            return await self._by_station_tx_id(session, station_id, start.station_tx_id)
        if sent.timestamp != start.timestamp:
            # The station's clock was wrong, so the stored start is the receive time: a replay
            # is the start flagged with the very time this one names.
            return await session.scalar(
                select(Transaction).join(PlausibilityFlag, PlausibilityFlag.transaction_id == Transaction.id)
                .where(
                    Transaction.station_id == station_id,
                    Transaction.connector_id == start.connector_id,
                    Transaction.id_token == start.id_token,
                    PlausibilityFlag.rule == CLOCK_RULE, PlausibilityFlag.field == "timestamp",
                    PlausibilityFlag.value == to_ocpp(sent.timestamp),
                ).limit(1)
            )
        # OCPP 1.6 carries no id of its own: the same connector, token, time and meter is a replay.
        return await session.scalar(
            select(Transaction).where(
                Transaction.station_id == station_id,
                Transaction.connector_id == start.connector_id,
                Transaction.started_at == start.timestamp,
                Transaction.id_token == start.id_token,
            )
        )

    async def _start_checks(
        self, session: AsyncSession, station_id: str, start: TransactionStart, token: TokenInfo
    ) -> TokenInfo:
        """What a token starting a transaction is answered beyond its registry status: a master
        pass starts nothing, one token charges in one place at a time, a reserved EVSE is its
        holder's."""
        accepted = AuthorizationStatus.ACCEPTED
        if token.status is accepted:
            token = await self._check_master_pass(session, station_id, token)
        if token.status is accepted:
            token = await self._check_concurrency(session, station_id, start, token)
        if token.status is accepted:
            token = await self._check_reservation(session, station_id, start, token)
        return token

    async def _adopt_token(
        self, session: AsyncSession, station_id: str, tx: Transaction, id_token: str, token: TokenInfo
    ) -> TokenInfo:
        """2.0.1 E02 / F01, cable plugin first: a transaction started without an idToken takes
        the first one an Updated event brings, answered as a start with it would have been
        (master pass, another session of the token, a reservation), and uses the token's
        reservation there."""
        start = TransactionStart(
            evse_id=tx.evse_id, connector_id=tx.connector_id, timestamp=tx.started_at,
            station_tx_id=tx.station_tx_id, id_token=id_token, reservation_id=tx.reservation_id,
        )
        token = await self._start_checks(session, station_id, start, token)
        tx.id_token, tx.token_status = id_token, token.status.value
        if token.status is AuthorizationStatus.ACCEPTED:
            await self._reservations.use(session, station_id, start, tx.id, token.group_id)
        return token

    async def _check_concurrency(
        self, session: AsyncSession, station_id: str, start: TransactionStart, token: TokenInfo
    ) -> TokenInfo:
        # Only sessions whose token was accepted count: one answered ConcurrentTx (or Invalid)
        # that its station never stops must not lock the token out everywhere.
        running = await session.scalar(
            select(Transaction.id).where(
                Transaction.id_token == start.id_token,
                Transaction.state == ACTIVE,
                Transaction.token_status == AuthorizationStatus.ACCEPTED.value,
                (Transaction.station_id != station_id) | (Transaction.evse_id != start.evse_id),
            ).limit(1)
        )
        if running is None and await self._roams(session, start.id_token):
            running = await self._drivers.running_elsewhere(start.id_token)
        if running is not None:
            return TokenInfo(AuthorizationStatus.CONCURRENT_TX, token.expires_at, token.group_id)
        return token

    async def _roams(self, session: AsyncSession, token: str) -> bool:
        """Whether the token is a driver's, which charges at stations of every database (data
        residency): a resident tenant's own token is known in its database only."""
        if not self._drivers.residency:
            return False
        if self._drivers.roam and await session.scalar(select(IdToken.id).where(IdToken.token == token)):
            return False
        return await self._drivers.is_drivers(token)

    async def _check_reservation(
        self, session: AsyncSession, station_id: str, start: TransactionStart, token: TokenInfo
    ) -> TokenInfo:
        """The station should not let another token start on a reserved EVSE; if it does, the
        answer is Invalid, and the station stops the transaction (its StopTransactionOnInvalidId
        / StopTxOnInvalidId setting decides)."""
        held = await self._reservations.held_for_another(
            session, station_id, start.evse_id, start.id_token, token.group_id)
        if held is not None:
            return TokenInfo(AuthorizationStatus.INVALID, token.expires_at, token.group_id, token.group_type)
        return token

    async def _check_master_pass(self, session: AsyncSession, station_id: str, token: TokenInfo) -> TokenInfo:
        """2.0.1 C16: a token of the station's master pass group may stop any transaction but
        start none; a start with one is answered Invalid (the station then stops it, as its
        StopTxOnInvalidId says). OCPP 1.6 has no master pass."""
        if not token.group_id or self._profiles is None:
            return token
        station = await session.get(Station, station_id)
        if station is None:
            return token
        profile = await self._profiles.of(station, session)
        if profile.get("master_pass_group_id") == token.group_id:
            return TokenInfo(AuthorizationStatus.INVALID, token.expires_at, token.group_id, token.group_type)
        return token

    # -- update and meter values ------------------------------------------------------------

    async def update(
        self, station_id: str, change: TransactionUpdate, origin: Origin | None = None
    ) -> TransactionRecord:
        origin = origin or Origin.now("TransactionEvent")
        change, findings = screen_update(self._checks, change, origin)

        async def work(session: AsyncSession) -> TransactionRecord:
            tx = await self._by_station_tx_id(session, station_id, change.station_tx_id)
            if tx is None:
                # 2.0.1 stations that were offline may send Updated before we stored Started.
                tx = await self._implied_start(session, station_id, change)
            found = findings + await self._energy_findings(session, tx, change.samples)
            self._plausibility.record(session, station_id, tx.id, found, origin)
            self._apply_update(functools.partial(after_commit, session), station_id, tx, change)
            # The idToken the event carries is looked up and answered for itself: the one
            # that started (also when its Started event never reached us), or another one,
            # e.g. a group member or a master pass stopping (C09.FR.03, E01.FR.12).
            token = await self._token_info(session, change.id_token) if change.id_token else None
            if token is not None and not tx.id_token:
                token = await self._adopt_token(session, station_id, tx, change.id_token, token)
            elif token is not None and tx.id_token == change.id_token:
                if tx.token_status:  # what the start was answered stands (a reservation, ConcurrentTx)
                    token = replace(token, status=AuthorizationStatus(tx.token_status))
                else:
                    tx.token_status = token.status.value
            await self._store_samples(session, station_id, tx, change.samples)
            if change.charging_state == "Charging":
                await self._connectors_charging(session, [tx])
            return TransactionRecord(tx.id, tx.station_tx_id, token)

        # Most updates take the batch's shared statements (_UpdatesBulk); `work` is the rest.
        return await self._committer.run_bulk(
            self._updates_bulk, station_id, _Update(station_id, change, tuple(findings), origin, work))

    async def meter_values(
        self,
        station_id: str,
        evse_id: int,
        station_tx_id: str | None,
        samples: tuple[MeterSample, ...],
        origin: Origin | None = None,
    ) -> None:
        """Store sampled values, in the transaction named or else the EVSE's active one.

        Values set aside by the plausibility rules are flagged when the message names a
        transaction (OCPP forbids refusing it) and refused otherwise (`Implausible`)."""
        origin = origin or Origin.now("MeterValues")
        samples, findings = screen_samples(self._checks, samples, origin)
        evse = self._checks.integer(EVSE_FIELD, evse_id)
        if evse is not None:
            findings.append(evse)
        if station_tx_id is None:
            refuse(findings)
        await self._committer.run_bulk(
            self._meter_bulk, station_id,
            _Meter(station_id, 0 if evse is not None else int(evse_id), station_tx_id, samples,
                   tuple(findings), origin),
        )

    # -- stop ---------------------------------------------------------------------------------

    async def stop(
        self, station_id: str, stop: TransactionStop, origin: Origin | None = None
    ) -> TransactionRecord | None:
        origin = origin or Origin.now("StopTransaction")
        stop, findings = screen_stop(self._checks, stop, origin)

        async def work(session: AsyncSession) -> tuple[TransactionRecord | None, Transaction | None]:
            tx = await self._by_station_tx_id(session, station_id, stop.station_tx_id)
            if tx is None:
                return None, None
            token = await self._token_info(session, stop.id_token) if stop.id_token else None
            replayed = tx.state == ENDED
            if not replayed:
                found = findings + await self._energy_findings(
                    session, tx, stop.samples, meter_stop_wh=stop.meter_stop_wh, stopped_at=stop.timestamp
                )
                self._plausibility.record(session, station_id, tx.id, found, origin)
            await self._store_samples(session, station_id, tx, stop.samples)
            record = TransactionRecord(tx.id, tx.station_tx_id, token)
            if replayed:
                return record, None  # a replayed stop
            tx.state = ENDED
            tx.stopped_at = stop.timestamp
            tx.stop_reason = stop.reason or "Local"
            tx.offline = tx.offline or stop.offline
            tx.charging_state = "Idle"
            self._track_seq(functools.partial(after_commit, session), station_id, tx, stop.seq_no,
                            previous=tx.last_seq_no)
            if stop.seq_no is not None:
                tx.last_seq_no = max(stop.seq_no, tx.last_seq_no or 0)
            if stop.meter_stop_wh is not None:
                tx.meter_stop_wh = stop.meter_stop_wh
            tx.energy_wh = await self._energy(session, tx, origin)
            tx.updated_at = utcnow()
            return record, tx

        record, ended = await self._committer.run(work, key=station_id)
        if ended is not None:
            self._bus.publish(
                TransactionEnded(
                    station_id, stop.timestamp, ended.id,
                    str(ended.energy_wh) if ended.energy_wh is not None else None, ended.stop_reason,
                )
            )
        return record

    # -- helpers ------------------------------------------------------------------------------

    def _apply_update(
        self, announce: Callable[[Callable[[], None]], None], station_id: str, tx: Transaction | _Running,
        change: TransactionUpdate,
    ) -> None:
        """What any Updated event changes on its transaction, on every path (`update`,
        `_UpdatesBulk` and its direct write): the seqNos it skipped or filled (E14) and the
        highest one, the charging state, the remote start id (F01: the start the token came
        with), whether it was sent offline, and when it changed. Tokens, samples and flags are
        the caller's; `announce` runs a callback once the change is committed."""
        self._track_seq(announce, station_id, tx, change.seq_no, previous=tx.last_seq_no)
        if change.seq_no is not None and (tx.last_seq_no is None or change.seq_no > tx.last_seq_no):
            tx.last_seq_no = change.seq_no
        if change.charging_state:
            tx.charging_state = change.charging_state
        if change.remote_start_id is not None and tx.remote_start_id is None:
            tx.remote_start_id = change.remote_start_id
        tx.offline = tx.offline or change.offline
        tx.updated_at = utcnow()

    def _track_seq(
        self, announce: Callable[[Callable[[], None]], None], station_id: str, tx: Transaction | _Running,
        seq_no: int | None, previous: int | None,
    ) -> None:
        """Keep the 2.0.1 seqNos this transaction skipped (E14): an event beyond the next one
        expected opens a gap (announced after commit, so the station can be asked whether the
        rest is still queued); a late event fills its place."""
        if seq_no is None:
            return
        missing = set(tx.missing_seq_nos or ())
        expected = 0 if previous is None else previous + 1
        if seq_no - expected > MAX_SEQ_GAP:
            log.warning("%s: transaction %s jumped from seqNo %s to %s; too far to be messages in a queue, "
                        "not tracked", station_id, tx.station_tx_id, expected, seq_no)
            return
        new = set(range(expected, seq_no)) - missing
        missing = (missing | new) - {seq_no}
        tx.missing_seq_nos = sorted(missing) or None
        if new:
            event = TransactionEventsMissing(station_id, utcnow(), tx.id, tx.station_tx_id, tuple(sorted(missing)))
            announce(lambda: self._bus.publish(event))

    async def _by_station_tx_id(
        self, session: AsyncSession, station_id: str, station_tx_id: str
    ) -> Transaction | None:
        return await session.scalar(
            select(Transaction).where(
                Transaction.station_id == station_id, Transaction.station_tx_id == station_tx_id
            )
        )

    async def _implied_start(self, session: AsyncSession, station_id: str, change: TransactionUpdate):
        tx = Transaction(
            station_id=station_id,
            station_tx_id=change.station_tx_id,
            evse_id=change.evse_id or 0,
            connector_id=change.connector_id or 0,
            id_token=change.id_token,
            state=ACTIVE,
            started_at=change.timestamp,
            offline=change.offline,
            updated_at=utcnow(),
        )
        session.add(tx)
        await session.flush()
        return tx

    async def _store_samples(
        self,
        session: AsyncSession,
        station_id: str,
        tx: Transaction | None,
        samples: tuple[MeterSample, ...],
    ) -> None:
        if not samples:
            return
        await insert_ignoring_duplicates(session, MeterRow, _sample_rows(station_id, tx, samples))
        if tx is not None:
            _count_energy(tx, samples)

    async def _energy(
        self, session: AsyncSession, tx: Transaction, origin: Origin | None = None
    ) -> Decimal | None:
        """Energy delivered: meter stop minus start, or the span of the energy register samples.
        A stored value that cannot be used (kept before the plausibility rules existed) is
        flagged and left out: a stop is never refused for what was stored earlier."""
        energy = await self._energy_from_store(session, tx)
        problem = self._checks.reading("energy", energy, register=True) if energy is not None else None
        if problem is None:
            return energy
        finding = self._checks.stored("energy", f"energy {problem.value} Wh from the stored meter start and stop")
        self._plausibility.record(session, tx.station_id, tx.id, [finding], origin or Origin.now())
        return None

    async def _energy_from_store(self, session: AsyncSession, tx: Transaction) -> Decimal | None:
        if tx.meter_stop_wh is None:
            last = await session.scalar(
                select(MeterRow)
                .where(
                    MeterRow.transaction_id == tx.id,
                    MeterRow.measurand == "Energy.Active.Import.Register",
                    MeterRow.phase == "",
                )
                .order_by(MeterRow.timestamp.desc())
                .limit(1)
            )
            if last is not None:
                wh = last.value * 1000 if last.unit == "kWh" else last.value
                if self._checks.reading("meterValue", wh, register=True) is None:
                    tx.meter_stop_wh = wh
        if tx.meter_start_wh is None or tx.meter_stop_wh is None:
            return None
        return max(Decimal(0), tx.meter_stop_wh - tx.meter_start_wh)

    async def _connectors_charging_direct(
        self, db: DirectConnection, charging: list[_Running], connectors: list[tuple]
    ) -> None:
        """`_connectors_charging` on the direct path; `connectors`: (station, EVSE, connector,
        power, status) of at least these sessions' EVSEs, as read with them."""
        wanted = {(tx.station_id, tx.evse_id, tx.connector_id) for tx in charging}
        if not wanted:
            return
        changed = [(station_id, evse_id, connector_id) for station_id, evse_id, connector_id, _, status in connectors
                   if (station_id, evse_id, connector_id) in wanted and status != ConnectorStatus.CHARGING]
        if not changed:
            return
        await db.execute_many(_direct_connector_charging(db.dialect), [
            {"b_station": station_id, "b_evse": evse_id, "b_connector": connector_id}
            for station_id, evse_id, connector_id in changed
        ])
        for station_id, evse_id, connector_id in changed:
            event = ConnectorStatusChanged(
                station_id, utcnow(), evse_id, connector_id, ConnectorStatus.CHARGING.value, None)
            db.after_commit(lambda event=event: self._bus.publish(event))

    async def _connectors_charging(self, session: AsyncSession, charging: list[Transaction]) -> None:
        """The connectors of these sessions marked Charging (one SELECT for all), each change
        announced after the commit."""
        wanted = {(tx.station_id, tx.evse_id, tx.connector_id) for tx in charging}
        if not wanted:
            return
        connectors = await session.scalars(select(Connector).where(
            one_of(session, Connector.station_id, {station_id for station_id, _, _ in wanted})))
        for connector in connectors:
            station_id, evse_id, connector_id = connector.station_id, connector.evse_id, connector.connector_id
            if (station_id, evse_id, connector_id) in wanted and connector.status != ConnectorStatus.CHARGING:
                connector.status = ConnectorStatus.CHARGING.value
                event = ConnectorStatusChanged(station_id, utcnow(), evse_id, connector_id, connector.status, None)
                after_commit(session, lambda event=event: self._bus.publish(event))

    # -- plausibility that needs the session so far (issue 14) --------------------------------

    async def _start_findings(
        self, session: AsyncSession, station_id: str, tx: Transaction, start: TransactionStart
    ) -> list[Finding]:
        """A start on an EVSE the station does not have (it has others, registered or reported),
        and registers in the Started event beyond what the connector delivers. A station that has
        no connector on record yet (auto-provisioned, nothing reported) is not judged by its ids."""
        powers = await station_powers(session, station_id)
        found = []
        if tx.evse_id and powers and tx.evse_id not in powers:
            found.append(self._checks.unknown_evse(tx.evse_id))
        so_far = SessionSoFar(tx.started_at, start.meter_start_wh, None, powers.get(tx.evse_id))
        return found + energy_findings(self._checks, so_far, start.samples)

    async def _energy_findings(
        self,
        session: AsyncSession,
        tx: Transaction,
        samples: tuple[MeterSample, ...],
        *,
        meter_stop_wh: Decimal | None = None,
        stopped_at: datetime | None = None,
    ) -> list[Finding]:
        if meter_stop_wh is None and not any(s.is_energy_register for s in samples):
            return []
        powers = await max_power(session, [(tx.station_id, tx.evse_id)])
        return energy_findings(
            self._checks, _so_far(tx, powers.get((tx.station_id, tx.evse_id))), samples,
            meter_stop_wh=meter_stop_wh, stopped_at=stopped_at,
        )

    # -- an operator ends a transaction its station never stopped -----------------------------

    async def end_by_operator(
        self,
        transaction_id: int,
        reason: str,
        *,
        stopped_at: datetime | None = None,
        meter_stop_wh: Decimal | None = None,
    ) -> Transaction:
        """End an active transaction the station never stopped (it lost power or its memory, or
        went offline for good), with the operator's reason. It ends at `stopped_at`, by default
        its last meter reading (or its start), with `meter_stop_wh` if the operator read it off
        the meter. The station is not told: it has forgotten the transaction, or is not there.
        Billing prices it as any ended session (and holds it if its input was flagged)."""
        now = utcnow()
        async with self._sessions.begin() as session:
            tx = await session.get(Transaction, transaction_id, with_for_update=True)
            if tx is None:
                raise UnknownTransaction(f"no transaction {transaction_id}")
            if tx.state != ACTIVE:
                raise TransactionNotActive(
                    f"transaction {transaction_id} is already {tx.state} ({tx.stop_reason}); only an "
                    "active transaction can be ended"
                )
            # (a start stored in the future, before the clock rule existed, ends now at the latest)
            earliest = min(tx.started_at, now)
            end = stopped_at or min(await self._last_reading(session, tx) or earliest, now)
            if not earliest <= end <= now:
                raise EndRefused(
                    f"stopped_at {to_ocpp(end)} must lie between the transaction's start "
                    f"{to_ocpp(earliest)} and now"
                )
            if meter_stop_wh is not None:
                unreadable = self._checks.reading("meter_stop_wh", meter_stop_wh, register=True)
                problems = [unreadable] if unreadable else await self._energy_findings(
                    session, tx, (), meter_stop_wh=meter_stop_wh, stopped_at=end
                )
                if problems:
                    raise EndRefused("; ".join(p.reason for p in problems))
                tx.meter_stop_wh = meter_stop_wh
            tx.state, tx.stop_reason, tx.charging_state = ENDED, ENDED_BY_OPERATOR, "Idle"
            tx.stopped_at, tx.updated_at = end, now
            tx.energy_wh = await self._energy(session, tx)
            session.add(TransactionEnding(transaction_id=tx.id, reason=reason, ended_at=now))
        self._bus.publish(
            TransactionEnded(
                tx.station_id, now, tx.id, str(tx.energy_wh) if tx.energy_wh is not None else None,
                ENDED_BY_OPERATOR,
            )
        )
        return tx

    @staticmethod
    async def _last_reading(session: AsyncSession, tx: Transaction) -> datetime | None:
        last = await session.scalar(
            select(MeterRow.timestamp).where(MeterRow.transaction_id == tx.id)
            .order_by(MeterRow.timestamp.desc()).limit(1)
        )
        return max(last, tx.started_at) if last is not None else None


async def _info(session: AsyncSession, row: IdToken) -> TokenInfo:
    """What a registered token is answered, from the database `session` found it in."""
    status = AuthorizationStatus(row.status)
    if status is AuthorizationStatus.ACCEPTED and row.expires_at and row.expires_at <= utcnow():
        status = AuthorizationStatus.EXPIRED
    group_type = None
    if row.group_id:  # a group that is a registered token itself has a type of its own
        group_type = await session.scalar(select(IdToken.type).where(IdToken.token == row.group_id))
    return TokenInfo(status, row.expires_at, row.group_id, group_type)


def _roaming_info(decision: RoamingDecision) -> TokenInfo:
    return TokenInfo(decision.status, decision.expires_at, decision.group_id)


def _roaming_transaction(tx: Transaction, decision: RoamingDecision) -> RoamingTransaction:
    """Whose token started `tx`: the eMSP partner and the token as roaming decided on it."""
    return RoamingTransaction(
        transaction_id=tx.id, partner_id=decision.partner_id, roaming_token_id=decision.roaming_token_id,
        country_code=decision.country_code, party_id=decision.party_id, token_uid=decision.token_uid,
        token_type=decision.token_type, contract_id=decision.contract_id,
        authorization_reference=decision.authorization_reference, decided_by=decision.decided_by,
    )


async def _replayed_roaming_token(session: AsyncSession, tx: Transaction) -> TokenInfo | None:
    """A replayed start of a transaction a roaming token started is answered as it was, without
    asking the eMSP again."""
    if tx.token_status is None or await session.get(RoamingTransaction, tx.id) is None:
        return None
    return TokenInfo(AuthorizationStatus(tx.token_status))


class UnknownTransaction(LookupError):
    pass


class TransactionNotActive(ValueError):
    """The transaction has ended already."""


class EndRefused(ValueError):
    """What the operator gave to end a transaction cannot be true; the message says why."""


def _so_far(tx: Transaction, power: Decimal | None) -> SessionSoFar:
    return SessionSoFar(tx.started_at, tx.meter_start_wh, tx.energy_wh, power)


def _sample_rows(
    station_id: str, tx: Transaction | None, samples: tuple[MeterSample, ...], evse_id: int = 0
) -> list[dict]:
    return [
        {
            "station_id": station_id,
            "evse_id": tx.evse_id if tx is not None else evse_id,
            "transaction_id": tx.id if tx is not None else None,
            "timestamp": s.timestamp,
            "measurand": s.measurand,
            "phase": s.phase,
            "location": s.location,
            "context": s.context,
            "unit": s.unit,
            "value": s.value,
        }
        for s in samples
    ]


def _count_energy(tx: Transaction, samples: tuple[MeterSample, ...]) -> None:
    """Take the transaction's meter start from its first register reading, and, while it runs,
    its energy so far, so live views show a session growing, not only its final total."""
    registers = [s for s in samples if s.is_energy_register]
    if not registers:
        return
    if tx.meter_start_wh is None:
        tx.meter_start_wh = min(registers, key=lambda s: s.timestamp).energy_wh
    if tx.state == ACTIVE:
        latest = max(registers, key=lambda s: s.timestamp).energy_wh
        tx.energy_wh = max(Decimal(0), latest - tx.meter_start_wh, tx.energy_wh or Decimal(0))
