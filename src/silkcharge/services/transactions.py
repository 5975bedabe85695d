"""Authorization and transactions: the money-bearing messages, stored before they are answered.

Every method commits before it returns, and the gateway sends its reply only after that, so a
crash after a reply loses nothing a station was told we have. Replays (a station resending a
message whose reply it never got) are recognised and answered the same way, storing nothing twice.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import or_, select
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
from silkcharge.domain.clock import utcnow
from silkcharge.domain.events import ConnectorStatusChanged, TransactionEnded, TransactionStarted
from silkcharge.services.reservations import ReservationLedger
from silkcharge.store.group_commit import GroupCommitter, after_commit
from silkcharge.store.schema import Connector, IdToken, Transaction
from silkcharge.store.schema import MeterSample as MeterRow
from silkcharge.store.upsert import insert_ignoring_duplicates, one_of

ACTIVE, ENDED = "Active", "Ended"


@dataclass(frozen=True)
class _Meter:
    """A MeterValues message, waiting for its batch."""

    station_id: str
    evse_id: int
    station_tx_id: str | None
    samples: tuple[MeterSample, ...]


class _MeterValuesBulk:
    """Stores a batch's MeterValues together: one SELECT finds the transactions they belong
    to, one executemany inserts every sample, and the energy so far is set on each session.
    Per message that replaces two to three round-trips (and the ORM work around each)."""

    async def apply(self, session: AsyncSession, items: list[_Meter]) -> list[None]:
        transactions = await self._transactions(session, items)
        rows: list[dict] = []
        touched: list[tuple[Transaction, tuple[MeterSample, ...]]] = []
        for item in items:
            tx = None
            if item.station_tx_id is not None:
                tx = transactions.named.get((item.station_id, item.station_tx_id))
            if tx is None and item.evse_id:
                tx = transactions.active.get((item.station_id, item.evse_id))
            rows.extend(_sample_rows(item.station_id, tx, item.samples, item.evse_id))
            if tx is not None:
                touched.append((tx, item.samples))
        await insert_ignoring_duplicates(session, MeterRow, rows)
        for tx, samples in touched:
            _count_energy(tx, samples)
        return [None] * len(items)

    @staticmethod
    async def _transactions(session: AsyncSession, items: list[_Meter]) -> _Found:
        """The transactions the items name, and the latest active one per EVSE, in one query."""
        stations = {i.station_id for i in items if i.station_tx_id is not None or i.evse_id}
        found = _Found({}, {})
        if not stations:
            return found
        named = {i.station_tx_id for i in items if i.station_tx_id is not None}
        wanted = Transaction.state == ACTIVE
        if named:
            wanted = or_(wanted, one_of(session, Transaction.station_tx_id, named))
        rows = await session.scalars(
            select(Transaction)
            .where(one_of(session, Transaction.station_id, stations), wanted)
            .order_by(Transaction.started_at)
        )
        for tx in rows:
            found.named[(tx.station_id, tx.station_tx_id)] = tx
            if tx.state == ACTIVE:
                found.active[(tx.station_id, tx.evse_id)] = tx  # ordered: the latest wins
        return found


@dataclass
class _Found:
    named: dict[tuple[str, str], Transaction]
    active: dict[tuple[str, int], Transaction]


class TransactionService:
    def __init__(
        self,
        sessions: async_sessionmaker,
        bus: EventBus,
        reservations: ReservationLedger,
        committer: GroupCommitter | None = None,
    ) -> None:
        self._sessions = sessions
        self._bus = bus
        self._reservations = reservations
        # Writes go through the group committer: durable before the reply, one commit per batch.
        self._committer = committer or GroupCommitter(sessions)
        self._meter_bulk = _MeterValuesBulk()

    # -- authorization ----------------------------------------------------------------------

    async def authorize(self, token: str) -> TokenInfo:
        async with self._sessions() as session:
            return await self._token_info(session, token)

    async def _token_info(self, session: AsyncSession, token: str) -> TokenInfo:
        row = await session.scalar(select(IdToken).where(IdToken.token == token))
        if row is None:
            return TokenInfo(AuthorizationStatus.UNKNOWN)
        status = AuthorizationStatus(row.status)
        if status is AuthorizationStatus.ACCEPTED and row.expires_at and row.expires_at <= utcnow():
            status = AuthorizationStatus.EXPIRED
        return TokenInfo(status, row.expires_at, row.group_id)

    # -- start --------------------------------------------------------------------------------

    async def start(self, station_id: str, start: TransactionStart) -> TransactionRecord:
        async def work(session: AsyncSession) -> tuple[TransactionRecord, bool]:
            token = await self._token_info(session, start.id_token) if start.id_token else None
            existing = await self._find_replayed_start(session, station_id, start)
            if existing is not None:
                return TransactionRecord(existing.id, existing.station_tx_id, token), False
            if token and token.status is AuthorizationStatus.ACCEPTED:
                token = await self._check_concurrency(session, station_id, start, token)
            if token and token.status is AuthorizationStatus.ACCEPTED:
                token = await self._check_reservation(session, station_id, start, token)
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
            if token and token.status is AuthorizationStatus.ACCEPTED:
                await self._reservations.use(session, station_id, start, tx.id)
            await self._store_samples(session, station_id, tx, start.samples)
            if start.charging_state == "Charging":
                await self._connector_charging(session, station_id, tx)
            return TransactionRecord(tx.id, tx.station_tx_id, token), True

        record, new = await self._committer.run(work, key=station_id)
        if new:
            self._bus.publish(
                TransactionStarted(station_id, start.timestamp, record.id, start.evse_id, start.id_token)
            )
        return record

    async def _find_replayed_start(
        self, session: AsyncSession, station_id: str, start: TransactionStart
    ) -> Transaction | None:
        if start.station_tx_id is not None:
            return await self._by_station_tx_id(session, station_id, start.station_tx_id)
        # OCPP 1.6 carries no id of its own: the same connector, token, time and meter is a replay.
        return await session.scalar(
            select(Transaction).where(
                Transaction.station_id == station_id,
                Transaction.connector_id == start.connector_id,
                Transaction.started_at == start.timestamp,
                Transaction.id_token == start.id_token,
            )
        )

    async def _check_concurrency(
        self, session: AsyncSession, station_id: str, start: TransactionStart, token: TokenInfo
    ) -> TokenInfo:
        running = await session.scalar(
            select(Transaction.id).where(
                Transaction.id_token == start.id_token,
                Transaction.state == ACTIVE,
                (Transaction.station_id != station_id) | (Transaction.evse_id != start.evse_id),
            ).limit(1)
        )
        if running is not None:
            return TokenInfo(AuthorizationStatus.CONCURRENT_TX, token.expires_at, token.group_id)
        return token

    async def _check_reservation(
        self, session: AsyncSession, station_id: str, start: TransactionStart, token: TokenInfo
    ) -> TokenInfo:
        """The station should not let another token start on a reserved EVSE; if it does, the
        answer is Invalid, and the station stops the transaction (its StopTransactionOnInvalidId
        / StopTxOnInvalidId setting decides)."""
        held = await self._reservations.held_for_another(session, station_id, start.evse_id, start.id_token)
        if held is not None:
            return TokenInfo(AuthorizationStatus.INVALID, token.expires_at, token.group_id)
        return token

    # -- update and meter values ------------------------------------------------------------

    async def update(self, station_id: str, change: TransactionUpdate) -> TransactionRecord:
        async def work(session: AsyncSession) -> TransactionRecord:
            tx = await self._by_station_tx_id(session, station_id, change.station_tx_id)
            if tx is None:
                # 2.0.1 stations that were offline may send Updated before we stored Started.
                tx = await self._implied_start(session, station_id, change)
            if change.seq_no is not None and (tx.last_seq_no is None or change.seq_no > tx.last_seq_no):
                tx.last_seq_no = change.seq_no
            if change.charging_state:
                tx.charging_state = change.charging_state
            if change.id_token and not tx.id_token:
                tx.id_token = change.id_token
                tx.token_status = (await self._token_info(session, change.id_token)).status.value
            tx.offline = tx.offline or change.offline
            tx.updated_at = utcnow()
            await self._store_samples(session, station_id, tx, change.samples)
            if change.charging_state == "Charging":
                await self._connector_charging(session, station_id, tx)
            token = TokenInfo(AuthorizationStatus(tx.token_status)) if tx.token_status else None
            return TransactionRecord(tx.id, tx.station_tx_id, token)

        return await self._committer.run(work, key=station_id)

    async def meter_values(
        self, station_id: str, evse_id: int, station_tx_id: str | None, samples: tuple[MeterSample, ...]
    ) -> None:
        """Store sampled values, in the transaction named or else the EVSE's active one."""
        await self._committer.run_bulk(
            self._meter_bulk, station_id, _Meter(station_id, evse_id, station_tx_id, samples)
        )

    # -- stop ---------------------------------------------------------------------------------

    async def stop(self, station_id: str, stop: TransactionStop) -> TransactionRecord | None:
        async def work(session: AsyncSession) -> tuple[TransactionRecord | None, Transaction | None]:
            tx = await self._by_station_tx_id(session, station_id, stop.station_tx_id)
            if tx is None:
                return None, None
            token = await self._token_info(session, stop.id_token) if stop.id_token else None
            await self._store_samples(session, station_id, tx, stop.samples)
            record = TransactionRecord(tx.id, tx.station_tx_id, token)
            if tx.state == ENDED:
                return record, None  # a replayed stop
            tx.state = ENDED
            tx.stopped_at = stop.timestamp
            tx.stop_reason = stop.reason or "Local"
            tx.offline = tx.offline or stop.offline
            tx.charging_state = "Idle"
            if stop.seq_no is not None:
                tx.last_seq_no = max(stop.seq_no, tx.last_seq_no or 0)
            if stop.meter_stop_wh is not None:
                tx.meter_stop_wh = stop.meter_stop_wh
            tx.energy_wh = await self._energy(session, tx)
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

    async def _energy(self, session: AsyncSession, tx: Transaction) -> Decimal | None:
        """Energy delivered: meter stop minus start, or the span of the energy register samples."""
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
                tx.meter_stop_wh = last.value * 1000 if last.unit == "kWh" else last.value
        if tx.meter_start_wh is None or tx.meter_stop_wh is None:
            return None
        return max(Decimal(0), tx.meter_stop_wh - tx.meter_start_wh)

    async def _connector_charging(self, session: AsyncSession, station_id: str, tx: Transaction) -> None:
        connector = await session.scalar(
            select(Connector).where(
                Connector.station_id == station_id,
                Connector.evse_id == tx.evse_id,
                Connector.connector_id == tx.connector_id,
            )
        )
        if connector is not None and connector.status != ConnectorStatus.CHARGING:
            connector.status = ConnectorStatus.CHARGING.value
            event = ConnectorStatusChanged(
                station_id, utcnow(), tx.evse_id, tx.connector_id, connector.status, None
            )
            after_commit(session, lambda: self._bus.publish(event))


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
