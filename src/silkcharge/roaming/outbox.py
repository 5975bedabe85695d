"""The roaming outbox: every change silkcharge pushes to a partner is a row first, sent later.

Nothing is lost between partners: a push is written to `roaming_outbox` (store/schema.py), in
the database transaction of the change when the caller has one (`Outbox.enqueue`), and a
background job (`OutboxSender`) sends it to the partner's module endpoint, again and again with
a capped exponential backoff while the partner is away, until the partner took it. A process
that stops (or dies) before sending leaves the rows in the database; the next one sends them.

Order: `sequence` grows per (partner, object), and only the head of an object's queue is ever
sent, after everything before it was taken, so an object's later change never overtakes an
earlier one. Different objects of one partner go one by one (due order, then id), partners in
parallel: one partner's outage costs no other partner anything.

What the partner answers decides what happens to a row (`verdict`): taken (sent); refused in a
way no retry fixes, an OCPI 2xxx client error such as 2001 (parked with the error, until an
operator re-queues it); anything else, a timeout, a dropped connection, HTTP 5xx, OCPI 3xxx or
4xxx (retried). A retryable failure holds the whole partner, not only the row, for the backoff
delay: a partner that is down is probed by one request per delay, not by every row.

A parked row does not hold back its object: the later changes of that object go on in order
(they carry newer state: the whole object on a PUT, the current value on a PATCH), because
freezing an object at a partner until an operator acts would be worse than one lost change.
Re-queueing a parked row puts it at the back of its object's queue; when a later change of the
object was sent or is pending, re-sending the old one after it would undo it, so that needs `force`.

A PUT carries the whole object, so a PUT enqueued supersedes the pending PUTs and PATCHes of
the same object for that partner that no sender holds (state `superseded`): a partner back
after hours gets the object once, in its latest state, not every step on the way.

A partner reported away (every party it speaks for OFFLINE, PLANNED or SUSPENDED in OCPI
hubclientinfo, roaming/hubclientinfo.py) is not sent to at all: its rows wait, in order, and it
is not probed, since it told us it cannot take them. Reported CONNECTED again, it is sent to at
once (`OutboxSender.retry_now`), its backoff forgotten. A partner that simply went down without
a word (connections refused, timeouts) is retried with the backoff until it is back; either way
nothing is dropped, and what waited goes in each object's order.

Delivery is at least once: a sender that dies with a request in flight leaves the row held
until `lock_seconds` pass, then it is sent again (OCPI PUT and PATCH are idempotent).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import delete, event, exists, func, literal_column, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from silkcharge.domain.clock import utcnow
from silkcharge.store.residency import database_in_use, each_database
from silkcharge.store.schema import RoamingOutboxRow, RoamingOutboxSequence, RoamingPartner
from silkcharge.store.tenancy import current_tenant

log = logging.getLogger(__name__)

MODULES = ("locations", "tariffs", "sessions", "cdrs", "tokens", "chargingprofiles")
METHODS = ("PUT", "PATCH", "POST", "DELETE")
PENDING, SENT, PARKED, SUPERSEDED = "pending", "sent", "parked", "superseded"
PRUNE_CHUNK = 5_000
"""Rows the hourly prune deletes per transaction."""
STATES = (PENDING, SENT, PARKED, SUPERSEDED)


@dataclass(frozen=True)
class Push:
    """One change for one partner: `method` on `path` below the partner's `module` RECEIVER
    endpoint (e.g. "KZ/SLK/ALA-001/ST-7*1" for EVSE 1 of station ST-7), with `body` as JSON;
    for chargingprofiles its SENDER endpoint (roaming/push.py `push_url`)."""

    partner_id: int
    module: str
    object_key: str
    method: str
    path: str
    body: Any = None

    def __post_init__(self) -> None:
        if self.module not in MODULES:
            raise ValueError(f"unknown OCPI module {self.module!r}")
        if self.method not in METHODS:
            raise ValueError(f"{self.method!r} is not a push method")


# -- the partner side, as the outbox needs it ---------------------------------------------------


class PushRefused(Exception):
    """The partner refused the push in a way no retry fixes: the row is parked."""


class PushFailed(Exception):
    """The push did not get through (yet): timeout, connection, HTTP 5xx, OCPI 3xxx/4xxx."""


class PartnerLink(Protocol):
    """How the sender reaches partners (roaming/push.py builds it on ocpi-core's OcpiClient
    and PartnerService)."""

    async def send(self, partner_id: int, module: str, method: str, path: str, body: Any) -> None:
        """Send one push to the partner's `module` RECEIVER endpoint + `path`; return when the
        partner took it, raise PushRefused or PushFailed otherwise."""

    async def noted(self, partner_id: int, pushed_at: datetime | None, error: str | None) -> None:
        """Keep on the partner when a push last got through and the last error (None: cleared)."""


def verdict(ocpi_status: int | None, http_status: int | None) -> type[Exception]:
    """PushRefused or PushFailed for a partner's refusal (OCPI status from its envelope, when it
    sent one, and the HTTP status). Parked: the OCPI client errors about the request itself
    (2001 invalid or missing parameters, 2002 not enough information, 2003 unknown location,
    2004 unknown token, other 2xxx) and a generic 2000 unless it is about our credentials
    (HTTP 401/403: the partner's registration, which an operator fixes for all rows at once).
    Everything else is retried: server and hub errors (3xxx, 4xxx), HTTP 5xx, 408, 429, and
    answers without an OCPI status (a proxy's 404 or 502 says nothing about our object)."""
    if ocpi_status is not None and 2000 <= ocpi_status < 3000:
        if ocpi_status == 2000 and http_status in (401, 403):
            return PushFailed
        return PushRefused
    return PushFailed


# -- backoff ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Backoff:
    base: float
    """Seconds before the first retry."""
    cap: float
    """The longest wait between two attempts."""

    def delay(self, failures: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after `failures` consecutive failures (1 = the first): doubling from
        `base`, never above `cap`, the upper half jittered so that partners and nodes that
        failed together do not come back together."""
        ceiling = min(self.cap, self.base * 2 ** min(max(failures, 1) - 1, 62))
        return ceiling / 2 + (rng or random).uniform(0, ceiling / 2)


# -- enqueue ----------------------------------------------------------------------------------


async def _next_sequence(session: AsyncSession, tenant_id: int, partner_id: int, object_key: str) -> int:
    """The object's next sequence for this partner. The upsert locks the counter row until the
    caller's transaction ends, so concurrent enqueuers of one object line up in commit order."""
    table = RoamingOutboxSequence.__table__
    builder = postgresql.insert if session.bind.dialect.name == "postgresql" else sqlite.insert
    statement = builder(table).values(tenant_id=tenant_id, partner_id=partner_id, object_key=object_key, last=1)
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.partner_id, table.c.object_key], set_={"last": table.c.last + 1},
    ).returning(table.c.last)
    return int((await session.execute(statement)).scalar_one())


async def enqueue(session: AsyncSession, push: Push, *, tenant_id: int | None = None,
                  now: datetime | None = None) -> RoamingOutboxRow:
    """Add `push` to the outbox in the caller's session: it is committed, or rolled back, with
    the caller's change. `tenant_id` is the partner's tenant (default: the tenant in scope).
    A PUT supersedes the object's pending pushes to that partner that no sender holds."""
    tenant = tenant_id if tenant_id is not None else current_tenant()
    if tenant is None:
        raise ValueError("enqueue needs the partner's tenant: in its scope or as tenant_id")
    now = now or utcnow()
    sequence = await _next_sequence(session, tenant, push.partner_id, push.object_key)
    if push.method == "PUT":
        await session.execute(
            update(RoamingOutboxRow)
            .where(RoamingOutboxRow.partner_id == push.partner_id, RoamingOutboxRow.object_key == push.object_key,
                   RoamingOutboxRow.state == PENDING, RoamingOutboxRow.sequence < sequence,
                   RoamingOutboxRow.method.in_(("PUT", "PATCH")), _not_held(RoamingOutboxRow, now))
            .values(state=SUPERSEDED, last_error=f"superseded by the PUT of sequence {sequence}")
            .execution_options(synchronize_session=False)
        )
    row = RoamingOutboxRow(
        tenant_id=tenant, partner_id=push.partner_id, module=push.module, object_key=push.object_key,
        method=push.method, path=push.path, body=push.body, sequence=sequence, state=PENDING,
        created_at=now, attempts=0, next_attempt_at=now,
    )
    session.add(row)
    await session.flush()
    return row


def _not_held(model, now: datetime):
    return or_(model.locked_until.is_(None), model.locked_until <= now)


class RequeueConflict(Exception):
    """Re-sending the parked row would undo a later change of its object that was sent since."""


class NotParked(LookupError):
    """No parked row with that id (in the tenant in scope)."""


class Outbox:
    """Enqueueing and the operator's view. Wakes the sender once a push is committed."""

    def __init__(self, sessions: async_sessionmaker, *, clock: Callable[[], datetime] = utcnow) -> None:
        self._sessions = sessions
        self._clock = clock
        self._wakers: list[Callable[[], None]] = []

    def on_commit(self, wake: Callable[[], None]) -> None:
        """Call `wake` after a transaction that enqueued commits (the sender registers itself)."""
        self._wakers.append(wake)

    def _wake(self) -> None:
        for wake in self._wakers:
            wake()

    async def enqueue(self, session: AsyncSession, push: Push, *, tenant_id: int | None = None) -> RoamingOutboxRow:
        """`enqueue` in the caller's transaction; the sender is woken when it commits."""
        row = await enqueue(session, push, tenant_id=tenant_id, now=self._clock())
        sync = session.sync_session
        sync.info["roaming_outbox_wake"] = True  # a rollback leaves it: at worst one needless look
        if not sync.info.get("roaming_outbox_listening"):
            sync.info["roaming_outbox_listening"] = True

            def committed(_session) -> None:
                if sync.info.pop("roaming_outbox_wake", False):
                    self._wake()

            event.listen(sync, "after_commit", committed)
        return row

    async def enqueue_after_commit(self, pushes: Iterable[Push], *, tenant_id: int | None = None) -> list[int]:
        """For a change already committed (an event from the bus): the pushes in a transaction
        of their own. A crash between the change and this loses these pushes, which the next
        full push or a partner's pull repairs; prefer `enqueue` inside the change's transaction."""
        async with self._sessions.begin() as session:
            rows = [await enqueue(session, push, tenant_id=tenant_id, now=self._clock()) for push in pushes]
            ids = [row.id for row in rows]
        if ids:
            self._wake()
        return ids

    # -- operator view ------------------------------------------------------------------------

    async def counts(self, partner_id: int | None = None) -> dict[str, int]:
        """Rows per state (of the tenant in scope; of every tenant for the platform)."""
        query = select(RoamingOutboxRow.state, func.count()).group_by(RoamingOutboxRow.state)
        if partner_id is not None:
            query = query.where(RoamingOutboxRow.partner_id == partner_id)
        async with self._sessions() as session:
            found = dict((await session.execute(query)).all())
        return {state: int(found.get(state, 0)) for state in STATES}

    async def rows(self, *, partner_id: int | None = None, state: str | None = None,
                   limit: int = 100) -> list[RoamingOutboxRow]:
        """The newest rows first."""
        query = select(RoamingOutboxRow).order_by(RoamingOutboxRow.id.desc()).limit(limit)
        if partner_id is not None:
            query = query.where(RoamingOutboxRow.partner_id == partner_id)
        if state is not None:
            query = query.where(RoamingOutboxRow.state == state)
        async with self._sessions() as session:
            return list((await session.scalars(query)).all())

    async def requeue(self, row_id: int, *, force: bool = False) -> RoamingOutboxRow:
        """Send a parked row again, as the newest change of its object."""
        now = self._clock()
        async with self._sessions.begin() as session:
            row = await session.get(RoamingOutboxRow, row_id, with_for_update=True)
            if row is None or row.state != PARKED:
                raise NotParked(row_id)
            later = aliased(RoamingOutboxRow)
            overtaken = await session.scalar(select(func.count()).select_from(later).where(
                later.partner_id == row.partner_id, later.object_key == row.object_key,
                later.sequence > row.sequence, later.state.in_((SENT, PENDING))))
            if overtaken and not force:
                raise RequeueConflict(
                    f"{overtaken} later change(s) of {row.object_key} reached the partner or are on their way; "
                    "re-sending this one after them would undo them (force to send it anyway)")
            row.sequence = await _next_sequence(session, row.tenant_id, row.partner_id, row.object_key)
            row.state, row.attempts, row.next_attempt_at, row.locked_until = PENDING, 0, now, None
            await session.flush()
            session.expunge(row)
        self._wake()
        return row


# -- the sender -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SenderTiming:
    backoff: Backoff
    poll_seconds: float = 5.0
    """Longest sleep between two looks at the outbox when nothing wakes the sender."""
    lock_seconds: float = 120.0
    """How long a row in flight is held; after a crash mid-request it is sent again then."""
    keep_sent: timedelta | None = timedelta(days=30)
    """Sent and superseded rows are kept this long for audits (None: forever)."""
    batch: int = 100


@dataclass
class _Hold:
    failures: int = 0
    until: datetime | None = None


class OutboxSender:
    """The background job that empties the outbox (started where the API runs, app.py)."""

    def __init__(self, sessions: async_sessionmaker, link: PartnerLink, timing: SenderTiming, *,
                 clock: Callable[[], datetime] = utcnow, rng: random.Random | None = None,
                 away: Callable[[], Awaitable[set[int]]] | None = None) -> None:
        """`away`: the partners not to send to now, in the database in use (reported
        unreachable by hubclientinfo); their rows wait."""
        self._sessions = sessions
        self._away = away
        self._link = link
        self._timing = timing
        self._clock = clock
        self._rng = rng or random.Random()
        self._holds: dict[tuple[str | None, int], _Hold] = {}
        self._task: asyncio.Task | None = None
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pruned_at: datetime | None = None
        self.sent = 0
        """Rows taken by partners since start (for tests and metrics)."""

    def wake(self) -> None:
        """Look at the outbox now (safe from any thread: a worker's commit may call it)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._wake.set()
        else:
            loop.call_soon_threadsafe(self._wake.set)

    async def retry_now(self, partner_id: int) -> None:
        """Send the partner's waiting rows now (in the database in use): it is back, so its
        backoff is forgotten and the rows it put off are due again."""
        self._holds.pop((database_in_use(self._sessions), partner_id), None)
        now = self._clock()
        async with self._sessions.begin() as session:
            await session.execute(
                update(RoamingOutboxRow)
                .where(RoamingOutboxRow.partner_id == partner_id, RoamingOutboxRow.state == PENDING,
                       RoamingOutboxRow.next_attempt_at > now)
                .values(next_attempt_at=now)
                .execution_options(synchronize_session=False))
        self.wake()

    async def _partners_away(self) -> set[int]:
        return await self._away() if self._away is not None else set()

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._run(), name="roaming-outbox")

    async def stop(self) -> None:
        """Stop at once: a request in flight is abandoned (its row is sent again later)."""
        if self._task is not None:
            self._task.cancel()
            # asyncio.wait, not wait_for: on 3.11 wait_for may swallow a cancellation (billing.py).
            await asyncio.wait([self._task], timeout=10)
            self._task = None
        self._loop = None

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.run_once()
                pause = await self._pause()
            except Exception:  # a round that fails is tried again; the rows wait in the database
                log.exception("the roaming outbox round failed; it runs again in %g s", self._timing.poll_seconds)
                pause = self._timing.poll_seconds
            if pause > 0 and not self._wake.is_set():
                waiter = asyncio.ensure_future(self._wake.wait())
                try:
                    await asyncio.wait([waiter], timeout=pause)
                finally:
                    waiter.cancel()

    async def _pause(self) -> float:
        """Seconds until something may be due: the earliest pending row not held back, or a
        partner's hold ending; at most `poll_seconds`."""
        now = self._clock()
        moments = [hold.until for hold in self._holds.values() if hold.until is not None and hold.until > now]
        for earliest in await each_database(self._sessions, self._earliest_due_here):
            if earliest is not None:
                moments.append(earliest)
        if not moments:
            return self._timing.poll_seconds
        return max(0.0, min(self._timing.poll_seconds, (min(moments) - now).total_seconds()))

    async def _earliest_due_here(self) -> datetime | None:
        now = self._clock()
        held = [pid for (db, pid), hold in self._holds.items()
                if db == database_in_use(self._sessions) and hold.until is not None and hold.until > now]
        held += sorted(await self._partners_away())  # they wait for word that they are back
        query = select(func.min(_earliest_pending_of_partner())).select_from(RoamingPartner)
        if held:
            query = query.where(RoamingPartner.id.not_in(held))
        async with self._sessions() as session:
            return await session.scalar(query)

    async def run_once(self) -> int:
        """Send everything due now, in every database; how many rows partners took."""
        before = self.sent
        await each_database(self._sessions, self._round_here)
        await self._prune()
        return self.sent - before

    async def _round_here(self) -> None:
        now = self._clock()
        async with self._sessions() as session:
            partners = list((await session.scalars(select(RoamingPartner.id).where(exists().where(
                RoamingOutboxRow.partner_id == RoamingPartner.id, RoamingOutboxRow.state == PENDING,
                RoamingOutboxRow.next_attempt_at <= now,
            )))).all())
        away = await self._partners_away() if partners else set()
        partners = [pid for pid in partners if not self._held(pid, now) and pid not in away]
        if partners:  # partners in parallel; each partner's objects one by one
            await asyncio.gather(*(self._drain(pid) for pid in partners))

    def _hold(self, partner_id: int) -> _Hold:
        return self._holds.setdefault((database_in_use(self._sessions), partner_id), _Hold())

    def _held(self, partner_id: int, now: datetime) -> bool:
        hold = self._holds.get((database_in_use(self._sessions), partner_id))
        return hold is not None and hold.until is not None and hold.until > now

    async def _drain(self, partner_id: int) -> None:
        pushed_at: datetime | None = None
        error: str | None = None
        try:
            while True:
                now = self._clock()
                async with self._sessions() as session:
                    heads = list((await session.scalars(_due_heads(partner_id, now, self._timing.batch))).all())
                if not heads:
                    return
                for row in heads:
                    outcome = await self._send(row)
                    if outcome is None:
                        continue  # another sender holds it, or it was superseded meanwhile
                    taken, problem = outcome
                    if taken:
                        pushed_at, error = self._clock(), None
                    elif problem is not None:
                        error = problem
                    if self._held(partner_id, self._clock()):
                        return  # the partner is away: nothing more this round
        finally:
            task = asyncio.current_task()
            stopping = task is not None and task.cancelling()  # a stop: no more database work
            if (pushed_at is not None or error is not None) and not stopping:
                try:
                    await self._link.noted(partner_id, pushed_at, error)
                except Exception:
                    log.exception("could not note the push state of roaming partner %s", partner_id)

    async def _send(self, row: RoamingOutboxRow) -> tuple[bool, str | None] | None:
        """Claim, send and record one row: (taken, error), or None when it was not ours to send."""
        now = self._clock()
        async with self._sessions.begin() as session:
            claimed = await session.execute(
                update(RoamingOutboxRow)
                .where(RoamingOutboxRow.id == row.id, RoamingOutboxRow.state == PENDING,
                       _not_held(RoamingOutboxRow, now))
                .values(locked_until=now + timedelta(seconds=self._timing.lock_seconds))
                .execution_options(synchronize_session=False))
        if claimed.rowcount != 1:
            return None
        try:
            await self._link.send(row.partner_id, row.module, row.method, row.path, row.body)
        except PushRefused as refusal:
            problem = _brief(refusal)
            await self._record(row, state=PARKED, last_error=problem)
            log.warning("roaming partner %s refused %s %s (%s): parked", row.partner_id, row.method,
                        row.object_key, problem)
            return False, problem
        except Exception as failure:  # PushFailed, or anything the link did not foresee: retry
            problem = _brief(failure)
            hold = self._hold(row.partner_id)
            hold.failures += 1
            wait = self._timing.backoff.delay(hold.failures, self._rng)
            hold.until = self._clock() + timedelta(seconds=wait)
            await self._record(row, next_attempt_at=hold.until, last_error=problem)
            log.info("push to roaming partner %s failed (%s); next attempt in %.1f s", row.partner_id, problem, wait)
            return False, problem
        self._hold(row.partner_id).failures = 0
        self._hold(row.partner_id).until = None
        await self._record(row, state=SENT, sent_at=self._clock(), last_error=None)
        self.sent += 1
        return True, None

    async def _record(self, row: RoamingOutboxRow, **values: Any) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                update(RoamingOutboxRow).where(RoamingOutboxRow.id == row.id)
                .values(attempts=RoamingOutboxRow.attempts + 1, locked_until=None, **values)
                .execution_options(synchronize_session=False))

    async def _prune(self) -> None:
        """Delete sent and superseded rows past `keep_sent`, at most once an hour, a chunk of
        `PRUNE_CHUNK` per transaction: on SQLite a delete holds the one write lock, and an
        hour of a busy network's pushes deleted at once held every station's durable write
        behind it."""
        keep, now = self._timing.keep_sent, self._clock()
        if keep is None or (self._pruned_at is not None and now - self._pruned_at < timedelta(hours=1)):
            return
        self._pruned_at = now
        old = (select(RoamingOutboxRow.id)
               .where(RoamingOutboxRow.state.in_((SENT, SUPERSEDED)),
                      func.coalesce(RoamingOutboxRow.sent_at, RoamingOutboxRow.created_at) < now - keep)
               .order_by(RoamingOutboxRow.id).limit(PRUNE_CHUNK).scalar_subquery())

        async def here() -> None:
            while True:
                async with self._sessions.begin() as session:
                    deleted = (await session.execute(delete(RoamingOutboxRow).where(RoamingOutboxRow.id.in_(old))
                                                     .execution_options(synchronize_session=False))).rowcount
                if deleted < PRUNE_CHUNK:
                    return
                await asyncio.sleep(0)  # the stations' writes go between chunks

        await each_database(self._sessions, here)


def _earliest_pending_of_partner():
    """The earliest moment a pending row of the partner of the enclosing row of
    `roaming_partners` may go (None: it has none). Asked per partner, it is a lookup on
    `ix_roaming_outbox_due` (partner, state, ...) that reads the partner's pending rows only;
    asked of the whole table, state first, it read every row the outbox keeps (30 days of sent
    ones) at every pause, as the poll's "which partners have something due" did too
    (tests/roaming/test_outbox_scale.py)."""
    return (
        select(func.min(func.coalesce(RoamingOutboxRow.locked_until, RoamingOutboxRow.next_attempt_at)))
        .where(RoamingOutboxRow.partner_id == RoamingPartner.id, RoamingOutboxRow.state == PENDING)
        .correlate(RoamingPartner)
        .scalar_subquery()
    )


def _due_heads(partner_id: int, now: datetime, limit: int):
    """The partner's rows that may go now: pending, due, first of their object's pending rows,
    and no row of their object in flight."""
    row, earlier, busy = RoamingOutboxRow, aliased(RoamingOutboxRow), aliased(RoamingOutboxRow)
    # Both looks at the object's other rows are of its pending ones (a row in flight is pending
    # until it is sent), through `ix_roaming_outbox_pending`, whose condition the statement must
    # state as a constant for the planner to use it; otherwise they read every push of the
    # object the outbox keeps.
    pending = literal_column(f"'{PENDING}'")
    return (
        select(row)
        .where(row.partner_id == partner_id, row.state == PENDING, row.next_attempt_at <= now)
        .where(~exists().where(earlier.partner_id == row.partner_id, earlier.object_key == row.object_key,
                               earlier.state == pending, earlier.sequence < row.sequence))
        .where(~exists().where(busy.partner_id == row.partner_id, busy.object_key == row.object_key,
                               busy.state == pending, busy.locked_until > now))
        .order_by(row.next_attempt_at, row.id)
        .limit(limit)
    )


def _brief(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return text[:500]
