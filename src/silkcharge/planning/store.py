"""Read the platform's store into the planning models' and the analytics' pure inputs."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from sqlalchemy import and_, case, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from silkcharge.domain.clock import utcnow
from silkcharge.domain.connectors import ConnectorStandard
from silkcharge.planning.analytics import (
    AUTH_ACTIONS,
    CdrRow,
    ConnectorRow,
    FrameRow,
    OperationsData,
    SessionRow,
    StationRow,
    check_range,
    utc,
)
from silkcharge.planning.network import ChargePoint, ChargingSite
from silkcharge.services.cdr_review import BILLED
from silkcharge.store.schema import (
    CdrReview,
    ChargeDetailRecord,
    Connector,
    OcppMessage,
    Operator,
    Site,
    Station,
    Transaction,
)
from silkcharge.store.upsert import one_of


async def load_store_sites(sessions: async_sessionmaker) -> list[ChargingSite]:
    """Every stored site with its stations' EVSEs; stations without a site are left out.

    Connectors with a standard this version does not know are skipped rather than guessed.
    """
    async with sessions() as session:
        sites = (await session.scalars(select(Site).order_by(Site.code))).all()
        rows = (await session.execute(
            select(Station.site_id, Connector.station_id, Connector.evse_id, Connector.standard,
                   Connector.max_power_kw).join(Station, Station.id == Connector.station_id)
        )).all()
    points: dict[int, dict[tuple[str, int], list]] = defaultdict(lambda: defaultdict(list))
    for site_id, station_id, evse_id, standard, kw in rows:
        if site_id is None or standard not in ConnectorStandard._value2member_map_:
            continue
        points[site_id][(station_id, evse_id)].append((ConnectorStandard(standard), Decimal(kw)))
    return [
        ChargingSite(code=s.code, name=s.name, lat=s.lat, lon=s.lon, country=s.country,
                     city=s.city,
                     points=tuple(ChargePoint(tuple(c)) for _, c in sorted(points[s.id].items())))
        for s in sites
    ]


async def load_operations(sessions: async_sessionmaker, start: datetime, end: datetime, *,
                          default_heartbeat: int = 300, grace_seconds: int = 60,
                          lookback: timedelta = timedelta(days=7),
                          as_of: datetime | None = None) -> OperationsData:
    """The raw rows operations analytics need for ``[start, end)``, in one read.

    Frames are read from ``start - lookback`` so a heartbeat or a Faulted status just before
    the range still counts inside it; a fault reported more than ``lookback`` before the
    range without a later StatusNotification is not seen. ``planning.rollups`` answers a
    range from per-day totals instead, reading raw rows only for its partial days.
    """
    as_of = as_of or utcnow()
    check_range(start, end, as_of)
    start, end = utc(start), utc(end)
    observed_end = min(end, as_of)
    async with sessions() as session:
        stations = await load_stations(session, default_heartbeat)
        activity = await load_activity(session, start, observed_end, frames_from=earlier(start, lookback))
    return OperationsData(start=start, end=end, as_of=as_of, grace_seconds=grace_seconds,
                          stations=stations, **activity)


async def load_stations(session: AsyncSession, default_heartbeat: int) -> tuple[StationRow, ...]:
    """Every registered station as the analytics group it, with its connectors as they are now."""
    stations = (await session.execute(
        select(Station.id, Station.online, Station.heartbeat_interval, Site.code, Site.timezone,
               Site.city, Site.corridor, Operator.code, Station.created_at)
        .outerjoin(Site, Site.id == Station.site_id)
        .outerjoin(Operator, Operator.id == Site.operator_id)
        .where(Station.planned.is_(False), Station.moved_to.is_(None))  # not (or no longer) ours to run: no uptime
        .order_by(Station.id))).all()
    connectors = (await session.execute(
        select(Connector.station_id, Connector.evse_id, Connector.connector_id, Connector.status)
        .order_by(Connector.station_id, Connector.evse_id, Connector.connector_id))).all()
    outlets: dict[str, list[ConnectorRow]] = defaultdict(list)
    for station_id, evse_id, connector_id, status in connectors:
        outlets[station_id].append(ConnectorRow(evse_id, connector_id, status))
    return tuple(
        StationRow(station_id, site, zone or "UTC", operator, city, corridor, online,
                   heartbeat or default_heartbeat, tuple(outlets[station_id]),
                   in_service_from=_aware(created))
        for station_id, online, heartbeat, site, zone, city, corridor, operator, created in stations)


def _aware(moment: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; the store keeps UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=timezone.utc)


async def load_activity(session: AsyncSession, start: datetime, end: datetime, *,
                        frames_from: datetime | None = None,
                        station_ids: Sequence[str] | None = None) -> dict[str, tuple]:
    """What happened in ``[start, end)``: the transactions overlapping it, the CDRs of those
    started in it, and (with ``frames_from``) the frames from then until ``end``, as the
    ``sessions``, ``cdrs`` and ``frames`` of ``OperationsData``. Only the frames whose content
    the analytics read (status reports, answers to authorisations) carry their text; for the
    rest, when they came is all that counts."""
    txs = select(Transaction.id, Transaction.station_id, Transaction.evse_id, Transaction.connector_id,
                 Transaction.started_at, Transaction.stopped_at, Transaction.energy_wh,
                 Transaction.token_status).where(
        Transaction.started_at < end, or_(Transaction.stopped_at.is_(None), Transaction.stopped_at > start))
    cdrs = (select(ChargeDetailRecord.transaction_id, ChargeDetailRecord.currency,
                   ChargeDetailRecord.total_excl_vat, ChargeDetailRecord.total_incl_vat)
            .join(Transaction, Transaction.id == ChargeDetailRecord.transaction_id)
            .outerjoin(CdrReview, CdrReview.cdr_id == ChargeDetailRecord.id)
            .where(Transaction.started_at >= start, Transaction.started_at < end)
            # revenue is what was billed: not a CDR held for review, nor a voided one
            .where(or_(CdrReview.status.is_(None), CdrReview.status.in_(BILLED))))
    if station_ids is not None:
        txs = txs.where(one_of(session, Transaction.station_id, station_ids))
        cdrs = cdrs.where(one_of(session, Transaction.station_id, station_ids))
    found = {
        "sessions": tuple(SessionRow(*row) for row in await session.execute(txs)),
        "cdrs": tuple(CdrRow(*row) for row in await session.execute(cdrs)),
        "frames": (),
    }
    if frames_from is not None:
        read = or_(and_(OcppMessage.direction == "in", OcppMessage.action == "StatusNotification"),
                   and_(OcppMessage.direction == "out", OcppMessage.action.in_(AUTH_ACTIONS)))
        frames = (select(OcppMessage.station_id, OcppMessage.at, OcppMessage.direction,
                         OcppMessage.message_type, OcppMessage.action,
                         case((read, OcppMessage.payload), else_=literal("")))
                  .where(OcppMessage.at >= frames_from, OcppMessage.at < end)
                  .where(or_(OcppMessage.direction == "in", OcppMessage.action.in_(AUTH_ACTIONS)))
                  .order_by(OcppMessage.id))
        if station_ids is not None:
            frames = frames.where(one_of(session, OcppMessage.station_id, station_ids))
        found["frames"] = tuple(FrameRow(*row) for row in await session.execute(frames))
    return found


def earlier(moment: datetime, by: timedelta) -> datetime:
    """``moment - by``, or the earliest time there is (a range may start in year 1)."""
    try:
        return moment - by
    except OverflowError:
        return datetime.min.replace(tzinfo=timezone.utc)


async def load_status_reports(session: AsyncSession, start: datetime, end: datetime) -> tuple[FrameRow, ...]:
    """The inbound StatusNotification frames of ``[start, end)``: how connector statuses moved."""
    rows = await session.execute(
        select(OcppMessage.station_id, OcppMessage.at, OcppMessage.direction, OcppMessage.message_type,
               OcppMessage.action, OcppMessage.payload)
        .where(OcppMessage.at >= start, OcppMessage.at < end, OcppMessage.direction == "in",
               OcppMessage.action == "StatusNotification")
        .order_by(OcppMessage.id))
    return tuple(FrameRow(*row) for row in rows)
