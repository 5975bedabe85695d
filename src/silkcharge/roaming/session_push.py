"""Sessions and CDRs of partners' drivers at our stations, pushed to their eMSP as they happen.

`SessionFollower` follows the bus (`local_only`: each event is pushed once, by the node that
published it; it runs in every role, since the gateway publishes the transactions and billing
the CDRs): a transaction started is the Session's PUT, its end a PATCH (status, kWh, end),
its CDR a PATCH with the total cost followed by the CDR's POST. All go through the outbox,
which sends an object's pushes in order and keeps them across outages.

Which eMSP owns a session's token is a `TokenOwners`: `RoamingTransactionOwners` reads
ocpi-tokens' link (roaming_transactions: the partner and cdr_token of a transaction started
with a partner's token). A session of one of our own drivers has none and is never sent.

The events come after their change is committed, so the pushes are enqueued in a transaction
of their own: a crash in between loses them. For a CDR, which is money, `catch_up` repairs
that (where the API runs, every few minutes): a CDR's pushes are committed with a mark of it,
and a CDR of a partner's driver with no mark is enqueued then. A lost Session PUT or PATCH is
repaired by the CDR's PATCH and by the partner's pull of our SENDER list.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Protocol

import orjson
from sqlalchemy import Select, and_, false, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from silkcharge.bus.local import EventBus
from silkcharge.domain.clock import utcnow
from silkcharge.domain.events import CdrCreated, TransactionEnded, TransactionStarted
from silkcharge.domain.money import CURRENCY_OF_COUNTRY, Money, Price
from silkcharge.roaming.cdrs import cdr_location, cdr_object
from silkcharge.roaming.outbox import Outbox, Push
from silkcharge.roaming.sessions import Party, TokenOwner, auth_method, session_key, session_object
from silkcharge.roaming.state import Roaming
from silkcharge.roaming.wire import dumps, ocpi_datetime
from silkcharge.store.residency import (
    database_in_use,
    database_scope,
    each_database,
    station_database,
)
from silkcharge.store.schema import (
    ChargeDetailRecord,
    RoamingIdentity,
    RoamingPushedObject,
    RoamingTransaction,
    Site,
    Station,
    Transaction,
)

log = logging.getLogger(__name__)

CATCH_UP_WITHIN = timedelta(days=7)
"""How far back the catch-up looks for CDRs never enqueued."""
CATCH_UP_EVERY = 300.0
"""Seconds between two catch-ups."""
PROGRESS_EVERY = 60.0
"""Seconds between two looks for running sessions whose kWh moved (`push_progress`)."""
CATCH_UP_AFTER = timedelta(minutes=2)
"""A CDR younger than this is left to its event (the catch-up is for pushes that were lost)."""
PATCHED_AT_END = ("kwh", "status", "end_date_time", "total_cost", "last_updated")


class TokenOwners(Protocol):
    async def owner_of(self, session: AsyncSession, tx: Transaction) -> TokenOwner | None:
        """The eMSP partner whose token started `tx`, or None (one of our own drivers)."""

    def transactions_of(self, partner_id: int) -> Select:
        """A select of the ids of the transactions started with the partner's tokens."""


class RoamingTransactionOwners:
    """ocpi-tokens' link: the partner and cdr_token kept on a transaction started with a
    partner's token (roaming_transactions)."""

    async def owner_of(self, session: AsyncSession, tx: Transaction) -> TokenOwner | None:
        link = await session.get(RoamingTransaction, tx.id)
        if link is None or link.partner_id is None:
            return None
        return TokenOwner(partner_id=link.partner_id, country_code=link.country_code, party_id=link.party_id,
                          uid=link.token_uid, type=link.token_type, contract_id=link.contract_id,
                          authorization_reference=link.authorization_reference)

    def transactions_of(self, partner_id: int) -> Select:
        return select(RoamingTransaction.transaction_id).where(RoamingTransaction.partner_id == partner_id)


class NoTokenOwners:
    """Until ocpi-tokens' link is merged: no transaction belongs to a partner's driver."""

    async def owner_of(self, session: AsyncSession, tx: Transaction) -> TokenOwner | None:
        return None

    def transactions_of(self, partner_id: int) -> Select:
        return select(Transaction.id).where(false())


def _plain(body: dict) -> dict:
    """The body as JSON values (Decimals as numbers), as the outbox stores it."""
    return orjson.loads(dumps(body))


class SessionFollower:
    def __init__(self, sessions: async_sessionmaker, bus: EventBus, outbox: Outbox, roaming: Roaming) -> None:
        self._sessions = sessions
        self._bus = bus
        self._outbox = outbox
        self._roaming = roaming
        self._task: asyncio.Task | None = None
        self._catch_up_task: asyncio.Task | None = None
        self._progress: dict[tuple[str | None, int], Decimal] = {}
        """The energy (Wh) last pushed per running session, by database and transaction id."""

    @property
    def owners(self) -> TokenOwners:
        return self._roaming.token_owners or NoTokenOwners()

    def start(self, *, catch_up: bool = True) -> None:
        """Follow the bus; and, with `catch_up` (where the API runs), push running sessions'
        kWh every `PROGRESS_EVERY` and look for lost CDR pushes every `CATCH_UP_EVERY`."""
        self._task = asyncio.create_task(self._follow(), name="roaming-sessions")
        if catch_up:
            self._catch_up_task = asyncio.create_task(self._catch_up_now_and_then(), name="roaming-cdr-catch-up")

    async def stop(self) -> None:
        for task in (self._task, self._catch_up_task):
            if task is not None:
                task.cancel()
                await asyncio.wait([task], timeout=10)
        self._task = self._catch_up_task = None

    async def _catch_up_now_and_then(self) -> None:
        """Progress every PROGRESS_EVERY, the CDR catch-up every CATCH_UP_EVERY."""
        rounds = 0
        while True:
            await asyncio.sleep(PROGRESS_EVERY)
            rounds += 1
            try:
                await self.push_progress()
                if rounds * PROGRESS_EVERY >= CATCH_UP_EVERY:
                    rounds = 0
                    await self.catch_up()
            except Exception:  # the next round tries again
                log.exception("the roaming session progress or CDR catch-up failed")

    async def _follow(self) -> None:
        async with self._bus.subscribe(local_only=True, kinds=(TransactionStarted, TransactionEnded, CdrCreated)) as events:
            while True:
                event = await events.get()
                try:
                    with database_scope(await station_database(self._sessions, event.station_id)):
                        if isinstance(event, CdrCreated):
                            await self.push_cdr(event.cdr_id)
                        else:
                            await self.push_session(event.transaction_id, started=isinstance(event, TransactionStarted))
                except Exception:
                    log.exception("could not enqueue the roaming session push after %s", event)

    async def push_session(self, transaction_id: int, *, started: bool) -> list[int]:
        """The session's PUT (`started`) or its end's PATCH, for the token's eMSP; the row ids."""
        async with self._sessions() as session:
            facts = await session_facts(session, self.owners, transaction_id)
        if facts is None:
            return []
        body = _plain(session_body(facts))
        key = session_key(facts.cpo, body["id"])
        if started:
            push = Push(facts.owner.partner_id, "sessions", key, "PUT", key, body)
        else:
            ended = {name: body[name] for name in PATCHED_AT_END if name in body}
            # never older than a progress PATCH, which is dated by our clock, not the station's
            ended["last_updated"] = ocpi_datetime(max(_aware(facts.tx.stopped_at or facts.tx.started_at),
                                                      _aware(facts.tx.updated_at)))
            push = Push(facts.owner.partner_id, "sessions", key, "PATCH", key, ended)
        return await self._outbox.enqueue_after_commit([push], tenant_id=facts.tx.tenant_id)

    async def push_cdr(self, cdr_id: str) -> list[int]:
        """The session's total cost (a PATCH) and then its CDR (a POST), for the token's eMSP;
        the row ids. Each CDR is enqueued once: the pushes and a mark of the CDR
        (roaming_pushed_objects, module "cdrs") are committed together, so `catch_up` finds a
        CDR whose pushes were lost to a crash, and a second call (the catch-up and the event
        at once) enqueues nothing."""
        async with self._sessions() as session:
            record = await session.get(ChargeDetailRecord, cdr_id)
            if record is None or record.transaction_id is None:
                return []  # a no-show fee has no session: not pushed yet
            facts = await session_facts(session, self.owners, record.transaction_id)
        if facts is None:
            return []
        cdr = _plain(cdr_body(facts, record, utcnow()))
        key = session_key(facts.cpo, str(facts.tx.id))
        ended = _plain(session_body(facts))
        # the end state again, with the cost: should the end's PATCH have been lost or come late,
        # the eMSP's session still ends COMPLETED with its final kWh
        patch = _plain({**{name: ended[name] for name in ("kwh", "status", "end_date_time") if name in ended},
                        "total_cost": total_of_record(record).to_ocpi(), "currency": record.currency,
                        "last_updated": cdr["last_updated"]})
        partner = facts.owner.partner_id
        pushes = [Push(partner, "sessions", key, "PATCH", key, patch),
                  Push(partner, "cdrs", f"cdr/{facts.cpo.country_code}/{facts.cpo.party_id}/{cdr['id']}", "POST", "",
                       cdr)]
        try:
            async with self._sessions.begin() as session:
                if await session.scalar(select(RoamingPushedObject.id).where(
                        RoamingPushedObject.partner_id == partner, RoamingPushedObject.module == "cdrs",
                        RoamingPushedObject.object_id == cdr_id)) is not None:
                    return []
                session.add(RoamingPushedObject(
                    tenant_id=facts.tx.tenant_id, partner_id=partner, module="cdrs", object_id=cdr_id,
                    digest=hashlib.sha256(dumps(cdr)).hexdigest(), seen_until=record.created_at))
                await session.flush()
                rows = [await self._outbox.enqueue(session, push, tenant_id=facts.tx.tenant_id) for push in pushes]
                return [row.id for row in rows]
        except IntegrityError:  # another process marked it first: it enqueued the pushes
            return []

    async def push_progress(self) -> list[int]:
        """A PATCH of `kwh` for each running session of a partner's driver whose energy moved
        since the last one from this process, so the eMSP's session grows as it charges; the
        row ids. Dated by our clock when the sessions were read: a session that ends after the
        read has its end dated no earlier (`push_session`), so the end is never taken for late."""

        async def here() -> list[int]:
            read_at = utcnow()
            async with self._sessions() as session:
                running = (await session.execute(
                    select(Transaction.id, Transaction.energy_wh)
                    .join(RoamingTransaction, RoamingTransaction.transaction_id == Transaction.id)
                    .where(Transaction.state == "Active", RoamingTransaction.partner_id.is_not(None))
                )).all()
            database = database_in_use(self._sessions)
            seen = {(database, tx_id) for tx_id, _ in running}
            for gone in [key for key in self._progress if key[0] == database and key not in seen]:
                del self._progress[gone]
            ids: list[int] = []
            for tx_id, energy in running:
                if energy is None or self._progress.get((database, tx_id)) == energy:
                    continue
                async with self._sessions() as session:
                    facts = await session_facts(session, self.owners, tx_id)
                if facts is None:
                    continue
                key = session_key(facts.cpo, str(tx_id))
                body = _plain({"kwh": session_body(facts)["kwh"], "last_updated": ocpi_datetime(read_at)})
                ids += await self._outbox.enqueue_after_commit(
                    [Push(facts.owner.partner_id, "sessions", key, "PATCH", key, body)], tenant_id=facts.tx.tenant_id)
                self._progress[(database, tx_id)] = energy
            return ids

        return [row for rows in await each_database(self._sessions, here) for row in rows]

    async def catch_up(self, within: timedelta = CATCH_UP_WITHIN, after: timedelta = CATCH_UP_AFTER) -> list[str]:
        """Enqueue the CDRs of partners' drivers made in the last `within` (but not in the last
        `after`) that were never enqueued: their event was lost to a crash between billing's
        commit and the push's. The CDR ids, in each database."""
        now = utcnow()
        since, until = now - within, now - after

        async def here() -> list[str]:
            async with self._sessions() as session:
                missing = (await session.scalars(
                    select(ChargeDetailRecord.id)
                    .join(RoamingTransaction, RoamingTransaction.transaction_id == ChargeDetailRecord.transaction_id)
                    .outerjoin(RoamingPushedObject, and_(
                        RoamingPushedObject.module == "cdrs", RoamingPushedObject.object_id == ChargeDetailRecord.id,
                        RoamingPushedObject.partner_id == RoamingTransaction.partner_id))
                    .where(RoamingTransaction.partner_id.is_not(None), ChargeDetailRecord.created_at >= since,
                           ChargeDetailRecord.created_at <= until,
                           RoamingPushedObject.id.is_(None))
                    .order_by(ChargeDetailRecord.created_at)
                )).all()
            pushed = []
            for cdr_id in missing:
                if await self.push_cdr(cdr_id):
                    pushed.append(cdr_id)
            return pushed

        found = await each_database(self._sessions, here)
        caught = [cdr_id for ids in found for cdr_id in ids]
        if caught:
            log.warning("roaming CDRs enqueued by the catch-up (their push was lost): %s", ", ".join(caught))
        return caught


@dataclass(frozen=True)
class SessionFacts:
    """What the OCPI Session and CDR of a transaction are made of."""

    tx: Transaction
    site: Site
    cpo: Party
    owner: TokenOwner


async def session_facts(session: AsyncSession, owners: TokenOwners, transaction_id: int) -> SessionFacts | None:
    """The facts of a transaction of a partner's driver at one of our sites, when the tenant
    roams as a CPO; None otherwise (nothing to tell a partner)."""
    tx = await session.get(Transaction, transaction_id)
    if tx is None:
        return None
    site = await session.scalar(select(Site).join(Station, Station.site_id == Site.id)
                                .where(Station.id == tx.station_id))
    if site is None:
        return None  # a station at no site is at no OCPI location
    ours = await session.scalar(select(RoamingIdentity).where(
        RoamingIdentity.tenant_id == tx.tenant_id, RoamingIdentity.role == "CPO").order_by(RoamingIdentity.id))
    if ours is None:
        return None  # the tenant does not roam as a CPO
    owner = await owners.owner_of(session, tx)
    if owner is None:
        return None
    return SessionFacts(tx, site, Party(ours.country_code, ours.party_id), owner)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def total_of_record(record: ChargeDetailRecord) -> Price:
    return Price(Money(record.total_excl_vat, record.currency), Money(record.total_incl_vat, record.currency))


def session_body(facts: SessionFacts, record: ChargeDetailRecord | None = None) -> dict:
    """The OCPI Session (with its cost once the CDR is made)."""
    currency = record.currency if record is not None else CURRENCY_OF_COUNTRY.get(facts.site.country.upper(), "KZT")
    return session_object(facts.tx, cpo=facts.cpo, location_id=facts.site.code, owner=facts.owner, currency=currency,
                          total_cost=total_of_record(record) if record is not None else None,
                          last_updated=record.created_at if record is not None else None)


def cdr_body(facts: SessionFacts, record: ChargeDetailRecord, last_updated: datetime) -> dict:
    """The whole OCPI CDR of the transaction's CDR as billing stored it."""
    site, tx = facts.site, facts.tx
    location = cdr_location(site_code=site.code, site_name=site.name, address=site.address, city=site.city,
                            country=site.country, lat=site.lat, lon=site.lon, station_id=tx.station_id,
                            evse_id=tx.evse_id, connector_id=tx.connector_id)
    body = cdr_object(record.body, cpo=facts.cpo, owner=facts.owner, location=location,
                      auth_method=auth_method(tx), last_updated=last_updated)
    body["session_id"] = str(tx.id)
    return body
