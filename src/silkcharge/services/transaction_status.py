"""Are a transaction's messages still queued at the station? (OCPP 2.0.1 E14)

A 2.0.1 station numbers each transaction's events (seqNo). Back online after a while offline,
it delivers what it queued; when the events that arrive skip numbers, the transaction service
announces the gap and this service asks the station, on its own, with GetTransactionStatus:
`messagesInQueue` true means the rest is on its way, false means the station no longer has
them (lost, or never made), which is logged for the operator. The answer is kept on the
transaction (`messages_in_queue`, `status_checked_at`), also when an operator asks through the
API or the generic command route.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from silkcharge.bus.local import (
    EventBus,
    StationCallError,
    StationOffline,
    StationReplyInvalid,
    StationTimeout,
)
from silkcharge.domain.clock import utcnow
from silkcharge.domain.commands import CommandParams, GetTransactionStatus
from silkcharge.domain.events import TransactionEventsMissing
from silkcharge.services.commands import (
    CommandObserver,
    CommandRefused,
    CommandResult,
    CommandService,
)
from silkcharge.services.device_model import UnknownRecord
from silkcharge.store.schema import Transaction

log = logging.getLogger(__name__)
FAILURES = (StationOffline, StationTimeout, StationCallError, StationReplyInvalid, CommandRefused)


class TransactionStatusChecks(CommandObserver):
    def __init__(self, sessions: async_sessionmaker, bus: EventBus, commands: CommandService) -> None:
        self._sessions = sessions
        self._bus = bus
        self._commands = commands
        self._task: asyncio.Task | None = None
        self._checks: set[asyncio.Task] = set()
        commands.observe(self)

    def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="transaction-status-checks")

    async def stop(self) -> None:
        tasks = [t for t in (self._task, *self._checks) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._task = None

    async def _listen(self) -> None:
        async with self._bus.subscribe(local_only=True, kinds=(TransactionEventsMissing,)) as queue:
            while True:
                event = await queue.get()
                if isinstance(event, TransactionEventsMissing):
                    # Not awaited here: one slow station must not hold up the others' checks.
                    task = asyncio.create_task(self._check_gap(event))
                    self._checks.add(task)
                    task.add_done_callback(self._checks.discard)

    async def _check_gap(self, event: TransactionEventsMissing) -> None:
        log.info("%s: transaction %s skipped seqNo %s; asking whether they are still queued",
                 event.station_id, event.station_tx_id, list(event.missing))
        try:
            result = await self._commands.send(
                event.station_id, "get_transaction_status", {"station_tx_id": event.station_tx_id}
            )
        except FAILURES as error:
            log.warning("%s: GetTransactionStatus for %s failed: %s", event.station_id, event.station_tx_id, error)
            return
        if result.details.get("messages_in_queue") is False:
            async with self._sessions() as session:
                missing = await session.scalar(select(Transaction.missing_seq_nos).where(
                    Transaction.id == event.transaction_id))
            if missing:
                log.warning("%s: transaction %s lost events %s: the station queues nothing more for it",
                            event.station_id, event.station_tx_id, missing)

    async def check(self, transaction_id: int) -> CommandResult:
        """An operator's GetTransactionStatus for one of silkcharge's transactions."""
        async with self._sessions() as session:
            tx = await session.get(Transaction, transaction_id)
        if tx is None:
            raise UnknownRecord(f"no transaction {transaction_id}")
        if not tx.station_tx_id or tx.station_tx_id.startswith("pending:"):
            raise CommandRefused(f"transaction {transaction_id} has no id of the station's own yet")
        return await self._commands.send(tx.station_id, "get_transaction_status", {"station_tx_id": tx.station_tx_id})

    async def after(
        self, station_id: str, params: CommandParams, reply: dict[str, Any], details: dict[str, Any],
        status: str | None,
    ) -> None:
        if not isinstance(params, GetTransactionStatus) or params.station_tx_id is None:
            return
        async with self._sessions.begin() as session:
            tx = await session.scalar(select(Transaction).where(
                Transaction.station_id == station_id, Transaction.station_tx_id == params.station_tx_id))
            if tx is not None:
                tx.messages_in_queue = details.get("messages_in_queue")
                tx.status_checked_at = utcnow()
