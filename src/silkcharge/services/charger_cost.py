"""Cost on the charger: what the driver pays, on the station's own display, while charging.

The numbers come from `BillingService` (the one price computation, with the caps the receipt
applies), so the display, search and the receipt never disagree. This service decides when to
tell a station; the adapters say how, in the station's version, through neutral commands:

- `user_price` when a session starts (1.6 SetUserPrice): the unit prices for this driver.
- `running_cost` while it runs (2.0.1 CostUpdated, 1.6 RunningCost): for each session that has
  new meter readings, at most once per `every` seconds, and only when the total changed.
- `final_cost` when it ends (1.6 FinalCost). A 2.0.1 station gets the final cost, and a running
  one, in its TransactionEventResponse (`final_total` / `running_total`, asked by the adapter).

Only stations that show cost get these messages: the station's effective profile says so
(fact `cost_display`: a 1.6 station's California Pricing key `CustomDisplayCostAndPrice`, a
2.0.1 station's `TariffCostCtrlr.Enabled[Cost]`, or a profile); when nothing says, the station
is asked once with GetConfiguration for the keys its adapter names. A message a station cannot
take is logged and dropped: the display is a courtesy, the CDR is the bill.
"""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from silkcharge.bus.local import EventBus
from silkcharge.domain.events import StationConnected, TransactionEnded, TransactionStarted
from silkcharge.domain.pricing import price_text
from silkcharge.services.billing import HELD_FOR_REVIEW, BillingService, RunningCost, RunningRead
from silkcharge.services.commands import CommandService
from silkcharge.services.display_facts import DisplayFacts
from silkcharge.services.ports import ProtocolAdapter
from silkcharge.store.residency import current_database, each_database
from silkcharge.store.schema import ChargeDetailRecord, MeterSample, Station, Transaction

log = logging.getLogger(__name__)


FACT = "cost_display"


class ChargerCostService:
    def __init__(
        self,
        sessions: async_sessionmaker,
        bus: EventBus,
        billing: BillingService,
        commands: CommandService,
        adapters: dict[str, ProtocolAdapter],
        displays: DisplayFacts,
        *,
        every: float,
    ) -> None:
        self._sessions = sessions
        self._bus = bus
        self._billing = billing
        self._commands = commands
        self._adapters = adapters
        self._displays = displays
        self._every = every
        # Per database (data residency, store/residency.py): its sessions' ids are its own.
        self._shown: dict[tuple[str | None, int], Decimal] = {}
        self._cursors: dict[str | None, int] = {}
        self._tasks: list[asyncio.Task] = []

    # -- what the adapters ask while answering a TransactionEvent -------------------------------

    async def running_total(self, transaction_id: int, read: RunningRead | None = None) -> Decimal | None:
        """The session's cost so far incl. VAT, or None when it cannot be priced; `read`: its
        row as the write of the message being answered read it (`BillingService.read_running`)."""
        cost = await self._billing.running_cost(transaction_id, read)
        return None if cost is None else _incl(cost)

    async def final_total(self, transaction_id: int) -> Decimal | None:
        """The ended session's CDR total incl. VAT (making the CDR now if need be); None while
        the CDR is held for review: the driver is shown no amount that may not be billed."""
        record = await self._billing.price(transaction_id)
        return None if _not_final(record) else record.total_incl_vat

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        async def newest() -> None:
            async with self._sessions() as session:
                self._cursors[current_database()] = await session.scalar(select(func.max(MeterSample.id))) or 0

        await each_database(self._sessions, newest)
        self._tasks = [
            asyncio.create_task(self._follow_sessions(), name="charger-cost-events"),
            asyncio.create_task(self._push_running_costs(), name="charger-cost-running"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=10)
        self._tasks = []

    async def _follow_sessions(self) -> None:
        async with self._bus.subscribe(
            local_only=True, kinds=(TransactionStarted, StationConnected, TransactionEnded)
        ) as events:
            while True:
                event = await events.get()
                try:
                    if isinstance(event, TransactionStarted) and event.id_token:
                        await self._send_user_price(event.station_id, event.transaction_id, event.id_token)
                    elif isinstance(event, StationConnected):
                        self._displays.forget(event.station_id, FACT)
                    elif isinstance(event, TransactionEnded):
                        self._shown.pop((current_database(), event.transaction_id), None)
                        await self._send_final_cost(event.station_id, event.transaction_id)
                except Exception:
                    log.exception("could not show the cost of transaction %s", event)

    async def _push_running_costs(self) -> None:
        while True:
            await asyncio.sleep(self._every)
            try:
                await self.push_running_costs()
            except Exception:
                log.exception("running costs not sent; trying again in %s s", self._every)

    # -- the messages ---------------------------------------------------------------------------

    async def push_running_costs(self) -> int:
        """Send the running cost of every active session with readings since the last round
        whose total changed; how many were sent. With data residency, in every database."""
        return sum(await each_database(self._sessions, self._push_here))

    async def _push_here(self) -> int:
        database = current_database()
        cursor = self._cursors.get(database, 0)
        async with self._sessions() as session:
            rows = (await session.execute(
                select(Transaction.id, Transaction.station_id, func.max(MeterSample.id))
                .join(MeterSample, MeterSample.transaction_id == Transaction.id)
                .where(MeterSample.id > cursor, Transaction.state == "Active")
                .group_by(Transaction.id, Transaction.station_id)
            )).all()
        sent = 0
        for transaction_id, station_id, newest in rows:
            self._cursors[database] = cursor = max(cursor, newest)
            if self._displays.known(station_id, FACT) is False:
                continue
            cost = await self._billing.running_cost(transaction_id)
            if cost is None or self._shown.get((database, transaction_id)) == _incl(cost):
                continue
            if not await self._shows_cost(station_id, "running_cost"):
                continue
            if await self._send(station_id, "running_cost", _running_params(cost)):
                self._shown[(database, transaction_id)] = _incl(cost)
                sent += 1
        return sent

    async def _send_user_price(self, station_id: str, transaction_id: int, id_token: str) -> None:
        # Priced first: a station is only asked whether it shows cost when there is a cost to show.
        cost = await self._billing.running_cost(transaction_id)
        if cost is not None and await self._shows_cost(station_id, "user_price"):
            await self._send(station_id, "user_price", {"id_token": id_token, "price_text": price_text(cost.prices)})

    async def _send_final_cost(self, station_id: str, transaction_id: int) -> None:
        record = await self._billing.price(transaction_id)
        if _not_final(record) or not await self._shows_cost(station_id, "final_cost"):
            return
        async with self._sessions() as session:
            tx = await session.get(Transaction, transaction_id)
        text = f"Total {record.total_incl_vat} {record.currency} incl. VAT"
        if tx is not None and tx.energy_wh is not None:
            text += f", {tx.energy_wh / 1000:.3f} kWh"
        await self._send(station_id, "final_cost", {
            "station_tx_id": tx.station_tx_id if tx else str(transaction_id),
            "total_cost": record.total_incl_vat, "price_text": text,
        })

    async def _shows_cost(self, station_id: str, command: str) -> bool:
        """Whether the station has a way to show this message and says it shows cost."""
        async with self._sessions() as session:
            station = await session.get(Station, station_id)
        adapter = self._adapters.get(station.ocpp_version or "") if station else None
        if adapter is None or not adapter.can_build(command):
            return False
        return await self._displays.shows(station, FACT)

    async def _send(self, station_id: str, command: str, params: dict) -> bool:
        try:
            await self._commands.send(station_id, command, params)
        except Exception as exc:  # offline, timed out, refused: the display is a courtesy
            log.info("%s: %s not delivered: %s", station_id, command, exc)
            return False
        return True


def _not_final(record: ChargeDetailRecord | None) -> bool:
    return record is None or HELD_FOR_REVIEW in (record.flags or [])


def _incl(cost: RunningCost) -> Decimal:
    total = cost.total
    return (total.incl_vat or total.excl_vat).amount


def _running_params(cost: RunningCost) -> dict:
    prices = cost.prices
    return {
        "station_tx_id": cost.station_tx_id,
        "total_cost": _incl(cost),
        "timestamp": cost.at,
        "meter_wh": int(cost.meter_wh),
        "charging": cost.charging,
        "kwh_price": prices.per_kwh,
        "hour_price": prices.per_hour,
        "flat_fee": prices.flat,
        "idle_hour_price": prices.parking_per_hour,
    }
