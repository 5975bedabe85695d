"""A week of demo history: charging sessions made by the platform's own services.

Before the demo's chargers connect, every simulated station 'replays' a week of sessions through
`TransactionService` (start, meter values, stop, with the times they would have had) and each
ended session is priced by `BillingService`, so the dashboard, analytics, revenue and the demo
driver's receipts have content from the first minute. The sessions are synthetic and say so:
their transaction id (`station_tx_id`) is `demo-history-N`. Drawn from a fixed seed, so every
demo starts with the same week (relative to today)."""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import select

from silkcharge.domain.charging import MeterSample, TransactionStart, TransactionStop
from silkcharge.domain.plausibility import Origin
from silkcharge.store.schema import Connector, Site, Station

HISTORY_PREFIX = "demo-history-"
DC = {"gbt_dc", "ccs2", "ccs1", "chademo"}
WORKERS = 8


@dataclass(frozen=True)
class HistoryReport:
    sessions: int
    priced: int
    days: int


@dataclass(frozen=True)
class _Outlet:
    station_id: str
    evse_id: int
    connector_id: int
    max_kw: Decimal
    dc: bool
    zone: ZoneInfo


async def write_history(platform, station_ids: list[str], tokens: list[str], *, days: int = 7,
                        now: datetime | None = None, seed: int = 19,
                        progress=None) -> HistoryReport:
    """Sessions on `station_ids` over the `days` days before `now`, each started, metered,
    stopped and priced through the platform's services. Idempotent: nothing is written when the
    store already holds demo history."""
    now = now or datetime.now(timezone.utc)
    outlets = await _outlets(platform.sessions, station_ids)
    if not outlets or not tokens:
        return HistoryReport(0, 0, days)
    async with platform.sessions() as session:
        from silkcharge.store.schema import Transaction

        if await session.scalar(select(Transaction.id).where(
                Transaction.station_tx_id.like(f"{HISTORY_PREFIX}%")).limit(1)):
            return HistoryReport(0, 0, days)
    plan = _draw(outlets, tokens, now, days, random.Random(seed))
    # One worker per station group, so the group committer can batch their writes; a token
    # charges in one place at a time, so each session holds its token's lock.
    locks = {token: asyncio.Lock() for token in tokens}
    by_station: dict[str, list] = defaultdict(list)
    for number, item in enumerate(plan, 1):
        by_station[item[0].station_id].append((number, *item))
    queue: asyncio.Queue = asyncio.Queue()
    for items in by_station.values():
        queue.put_nowait(items)
    counts = {"made": 0, "priced": 0}

    async def worker() -> None:
        while not queue.empty():
            items = queue.get_nowait()
            register = Decimal(1_000_000 + 7_919 * len(items))
            for number, outlet, token, start, minutes, kw in items:
                async with locks[token]:
                    record = await _session(platform, outlet, token, start, minutes, kw, register, number)
                register += _energy_wh(minutes, kw)
                counts["made"] += 1
                if progress is not None and counts["made"] % 100 == 0:
                    progress(counts["made"], len(plan))
                if await platform.billing.price(record) is not None:
                    counts["priced"] += 1

    await asyncio.gather(*(worker() for _ in range(WORKERS)))
    return HistoryReport(counts["made"], counts["priced"], days)


async def _outlets(sessions, station_ids: list[str]) -> list[_Outlet]:
    async with sessions() as session:
        rows = (await session.execute(
            select(Connector, Site.timezone).join(Station, Station.id == Connector.station_id)
            .join(Site, Site.id == Station.site_id).where(Connector.station_id.in_(station_ids))
            .order_by(Connector.station_id, Connector.evse_id, Connector.connector_id)
        )).all()
    outlets, seen = [], set()
    for connector, zone in rows:
        if (connector.station_id, connector.evse_id) in seen:
            continue  # one session at a time per EVSE: its first connector stands for it
        seen.add((connector.station_id, connector.evse_id))
        outlets.append(_Outlet(connector.station_id, connector.evse_id, connector.connector_id,
                               Decimal(connector.max_power_kw or 22), connector.standard in DC,
                               ZoneInfo(zone or "UTC")))
    return outlets


def _draw(outlets: list[_Outlet], tokens: list[str], now: datetime, days: int, rng: random.Random):
    """(outlet, token, start, minutes, kW) in time order; sessions on one EVSE never overlap."""
    plan = []
    for outlet in outlets:
        local_today = now.astimezone(outlet.zone).date()
        for back in range(days, -1, -1):
            day = local_today - timedelta(days=back)
            count = rng.choice((0, 0, 1, 1, 2)) if outlet.dc else rng.choice((0, 0, 0, 1))
            free_from = datetime.combine(day, time(7, 0), outlet.zone)
            for _ in range(count):
                start = free_from + timedelta(minutes=rng.randint(0, 300))
                if outlet.dc:
                    minutes = rng.randint(18, 55)
                    kw = min(outlet.max_kw, Decimal(rng.choice((40, 50, 60, 80, 100))))
                else:
                    minutes = rng.randint(60, 200)
                    kw = min(outlet.max_kw, Decimal(rng.choice(("6.6", "7", "11"))))
                end = start + timedelta(minutes=minutes)
                if end >= now - timedelta(minutes=5) or end.astimezone(outlet.zone).date() != day:
                    break
                plan.append((outlet, start.astimezone(timezone.utc), minutes, kw))
                free_from = end + timedelta(minutes=rng.randint(10, 90))
    plan.sort(key=lambda item: item[1])
    return [(outlet, tokens[n % len(tokens)], start, minutes, kw)
            for n, (outlet, start, minutes, kw) in enumerate(plan)]


def _energy_wh(minutes: int, kw: Decimal) -> Decimal:
    """Energy at 90 % of the drawn power on average (a ramp at the start, a taper at the end)."""
    return (kw * Decimal(minutes) / 60 * Decimal("0.9") * 1000).quantize(Decimal(1))


async def _session(platform, outlet: _Outlet, token: str, start: datetime, minutes: int,
                   kw: Decimal, register: Decimal, number: int) -> int:
    services = platform.transactions
    tx_id = f"{HISTORY_PREFIX}{number}"
    record = await services.start(outlet.station_id, TransactionStart(
        evse_id=outlet.evse_id, connector_id=outlet.connector_id, timestamp=start,
        station_tx_id=tx_id, id_token=token, meter_start_wh=register, charging_state="Charging",
    ), Origin(None, "TransactionEvent", start))
    energy = _energy_wh(minutes, kw)
    samples = tuple(
        sample
        for share in (Decimal("0.25"), Decimal("0.5"), Decimal("0.75"))
        for at in [start + timedelta(minutes=float(minutes * share))]
        for sample in (
            MeterSample(at, "Energy.Active.Import.Register", (register + energy * share).quantize(Decimal(1)), "Wh"),
            MeterSample(at, "Power.Active.Import", kw * 1000, "W"),
        )
    )
    end = start + timedelta(minutes=minutes)
    await services.stop(outlet.station_id, TransactionStop(
        station_tx_id=record.station_tx_id, timestamp=end, reason="Local", id_token=token,
        meter_stop_wh=register + energy, samples=samples,
    ), Origin(None, "TransactionEvent", end))
    return record.id
