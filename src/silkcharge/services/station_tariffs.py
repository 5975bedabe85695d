"""Local cost (OCPP 2.1): the operator's tariffs on the station, and the cost it calculates.

A tariff goes to a station only as the platform itself prices it: one of the operator's
published tariffs that applies at the station's site, for everyone (a concession is for a
driver, not a default), not suspended there, and within every price cap that binds the site,
with the VAT rates of the site's day. Every command that sends a tariff is checked here
(`tariff_for`, given to CommandService), whichever route asked; what the station accepted is
kept (`after`).

What the station then calculates (2.1 costDetails) is kept per transaction and compared with
the platform's own price (domain/local_cost.py): the platform's CDR stays the bill.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import async_sessionmaker

from silkcharge.domain.clock import utcnow
from silkcharge.domain.commands import (
    ChangeTransactionTariff,
    ClearTariffs,
    CommandParams,
    SetDefaultTariff,
)
from silkcharge.domain.local_cost import CostComparison, StationCost, compare
from silkcharge.domain.money import Money
from silkcharge.services.billing import BillingService, parse_tariff
from silkcharge.services.commands import CommandObserver, CommandRefused
from silkcharge.store.schema import (
    ChargeDetailRecord,
    Site,
    Station,
    StationCostRecord,
    StationTariff,
    TariffRecord,
    Transaction,
)


@dataclass(frozen=True)
class TransactionCosts:
    transaction_id: int
    station_id: str
    reported: list[StationCostRecord]
    comparison: CostComparison


class StationTariffs(CommandObserver):
    def __init__(self, sessions: async_sessionmaker, billing: BillingService) -> None:
        self._sessions = sessions
        self._billing = billing

    # -- sending tariffs ----------------------------------------------------------------------

    async def tariff_for(self, station_id: str, code: str) -> dict[str, Any]:
        """The OCPI body of tariff `code` as the station at `station_id` may be sent it, or
        CommandRefused with every reason it may not."""
        async with self._sessions() as session:
            await self._billing.caps.current(session)  # installs the shipped caps on first use
            station = await session.get(Station, station_id)
            site = await session.get(Site, station.site_id) if station and station.site_id else None
            if site is None:
                raise CommandRefused(f"station {station_id} belongs to no site, so none of its operator's tariffs applies")
            row = await session.scalar(select(TariffRecord).where(TariffRecord.code == code))
            if row is None or row.operator_id != site.operator_id or row.site_id not in (None, site.id):
                raise CommandRefused(f"no tariff {code} applies at site {site.code}")
            tariff = parse_tariff(row.body)
            problems = []
            if tariff.is_concession:
                problems.append(f"tariff {code} is for some drivers only (a concession); a station's tariff is for everyone")
            if await self._billing.caps.suspended(session, site.id, code):
                problems.append(f"tariff {code} is suspended at site {site.code} for breaking a price cap")
            problems += await self._billing.caps.violations_at(session, site, tariff)
        if problems:
            raise CommandRefused(f"tariff {code} may not be sent to {station_id}: " + "; ".join(problems))
        return tariff.to_ocpi(vat_on=_today(site.timezone))

    async def after(self, station_id: str, params: CommandParams, reply: dict[str, Any],
                    details: dict[str, Any], status: str | None) -> None:
        if isinstance(params, (SetDefaultTariff, ChangeTransactionTariff)):
            await self._sent(station_id, params, status or "", details.get("reason"))
        elif isinstance(params, ClearTariffs) and details.get("cleared"):
            await self._cleared(station_id, params, details["cleared"])

    async def _sent(self, station_id: str, params: SetDefaultTariff | ChangeTransactionTariff, status: str,
                    reason: str | None) -> None:
        async with self._sessions.begin() as session:
            evse_id, transaction_id = 0, None
            if isinstance(params, SetDefaultTariff):
                evse_id = params.evse_id
                if status == "Accepted":  # the station replaces what that EVSE had
                    await session.execute(update(StationTariff).where(
                        StationTariff.station_id == station_id, StationTariff.evse_id == evse_id,
                        StationTariff.transaction_id.is_(None), StationTariff.cleared_at.is_(None),
                        StationTariff.status == "Accepted",
                    ).values(cleared_at=utcnow()))
            else:
                transaction_id = params.transaction_id
                evse_id = await session.scalar(select(Transaction.evse_id).where(Transaction.id == transaction_id)) or 0
            session.add(StationTariff(station_id=station_id, evse_id=evse_id, tariff_code=params.tariff_code,
                                      transaction_id=transaction_id, status=status[:32],
                                      reason=reason[:500] if reason else None))

    async def _cleared(self, station_id: str, params: ClearTariffs, codes: list[str]) -> None:
        query = update(StationTariff).where(
            StationTariff.station_id == station_id, StationTariff.cleared_at.is_(None),
            StationTariff.tariff_code.in_(codes))
        if params.evse_id:
            query = query.where(StationTariff.evse_id == params.evse_id)
        async with self._sessions.begin() as session:
            await session.execute(query.values(cleared_at=utcnow()))

    async def on_station(self, station_id: str) -> list[StationTariff] | None:
        """The tariffs the station holds by what it accepted, newest first; None: no station."""
        async with self._sessions() as session:
            if await session.get(Station, station_id) is None:
                return None
            return list((await session.scalars(
                select(StationTariff).where(StationTariff.station_id == station_id, StationTariff.status == "Accepted",
                                            StationTariff.cleared_at.is_(None))
                .order_by(StationTariff.id.desc()))).all())

    # -- the station's own cost ---------------------------------------------------------------

    async def station_cost(self, station_id: str, station_tx_id: str, cost: StationCost) -> None:
        async with self._sessions.begin() as session:
            transaction_id = await session.scalar(select(Transaction.id).where(
                Transaction.station_id == station_id, Transaction.station_tx_id == station_tx_id))
            if transaction_id is None:
                return
            session.add(StationCostRecord(
                transaction_id=transaction_id, event=cost.event, reported_at=cost.reported_at,
                currency=cost.currency, total_excl_vat=cost.total_excl_vat, total_incl_vat=cost.total_incl_vat,
                type_of_cost=cost.type_of_cost, tariff_id=cost.tariff_id, energy_wh=cost.energy_wh,
                charging_seconds=cost.charging_seconds, idle_seconds=cost.idle_seconds,
                failure_reason=cost.failure_reason[:500] if cost.failure_reason else None,
            ))

    async def costs(self, transaction_id: int) -> TransactionCosts | None:
        """What the station reported for a transaction, and its latest figure against the
        platform's: the CDR's total once priced, else the running cost. None: no transaction."""
        async with self._sessions() as session:
            tx = await session.get(Transaction, transaction_id)
            if tx is None:
                return None
            rows = list((await session.scalars(
                select(StationCostRecord).where(StationCostRecord.transaction_id == transaction_id)
                .order_by(StationCostRecord.reported_at, StationCostRecord.id))).all())
            cdr = await session.scalar(select(ChargeDetailRecord).where(ChargeDetailRecord.transaction_id == transaction_id))
        platform: Money | None = Money(cdr.total_incl_vat, cdr.currency) if cdr is not None else None
        if cdr is None and tx.state == "Active":
            running = await self._billing.running_cost(transaction_id)
            if running is not None:
                platform = running.total.incl_vat or running.total.excl_vat
        latest = _neutral(rows[-1]) if rows else None
        return TransactionCosts(transaction_id, tx.station_id, rows, compare(latest, platform))

    async def reported(self, station_id: str | None = None, limit: int = 100) -> list[TransactionCosts]:
        """The transactions with a station-calculated cost, newest first, each compared."""
        query = select(StationCostRecord.transaction_id).distinct()
        if station_id is not None:
            query = query.join(Transaction, Transaction.id == StationCostRecord.transaction_id).where(
                Transaction.station_id == station_id)
        async with self._sessions() as session:
            ids = sorted((await session.scalars(query)).all(), reverse=True)[:limit]
        found = [await self.costs(i) for i in ids]
        return [f for f in found if f is not None]


def _neutral(row: StationCostRecord) -> StationCost:
    return StationCost(
        reported_at=row.reported_at, event=row.event, currency=row.currency, total_excl_vat=row.total_excl_vat,
        total_incl_vat=row.total_incl_vat, type_of_cost=row.type_of_cost, tariff_id=row.tariff_id,
        energy_wh=row.energy_wh, charging_seconds=row.charging_seconds, idle_seconds=row.idle_seconds,
        failure_reason=row.failure_reason,
    )


def _today(time_zone: str) -> date:
    return utcnow().astimezone(ZoneInfo(time_zone)).date()

