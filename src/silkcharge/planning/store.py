"""Read the platform's store into the planning models' and the analytics' pure inputs."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from silkcharge.domain.clock import utcnow
from silkcharge.domain.connectors import ConnectorStandard
from silkcharge.planning.analytics import (
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
from silkcharge.store.schema import (
    ChargeDetailRecord,
    Connector,
    OcppMessage,
    Operator,
    Site,
    Station,
    Transaction,
)


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
    """The rows operations analytics need for ``[start, end)``, in one read.

    Frames are read from ``start - lookback`` so a heartbeat or a Faulted status just before
    the range still counts inside it; a fault reported more than ``lookback`` before the
    range without a later StatusNotification is not seen.
    """
    as_of = as_of or utcnow()
    check_range(start, end, as_of)
    start, end = utc(start), utc(end)
    observed_end = min(end, as_of)
    async with sessions() as session:
        stations = (await session.execute(
            select(Station, Site, Operator)
            .outerjoin(Site, Site.id == Station.site_id)
            .outerjoin(Operator, Operator.id == Site.operator_id).order_by(Station.id))).all()
        connectors = (await session.scalars(
            select(Connector).order_by(Connector.station_id, Connector.evse_id,
                                       Connector.connector_id))).all()
        txs = (await session.scalars(select(Transaction).where(
            Transaction.started_at < observed_end,
            or_(Transaction.stopped_at.is_(None), Transaction.stopped_at > start)))).all()
        cdrs = (await session.scalars(
            select(ChargeDetailRecord).join(Transaction)
            .where(Transaction.started_at >= start, Transaction.started_at < observed_end))).all()
        frames = (await session.execute(
            select(OcppMessage.station_id, OcppMessage.at, OcppMessage.direction,
                   OcppMessage.message_type, OcppMessage.action, OcppMessage.payload)
            .where(OcppMessage.at >= start - lookback, OcppMessage.at < observed_end)
            .where(or_(OcppMessage.direction == "in",
                       OcppMessage.action.in_(("Authorize", "StartTransaction",
                                               "TransactionEvent"))))
            .order_by(OcppMessage.id))).all()
    outlets: dict[str, list[ConnectorRow]] = defaultdict(list)
    for c in connectors:
        outlets[c.station_id].append(ConnectorRow(c.evse_id, c.connector_id, c.status))
    return OperationsData(
        start=start, end=end, as_of=as_of, grace_seconds=grace_seconds,
        stations=tuple(
            StationRow(st.id, site.code if site else None, site.timezone if site else "UTC",
                       op.code if op else None, site.city if site else None,
                       site.corridor if site else None, st.online,
                       st.heartbeat_interval or default_heartbeat, tuple(outlets[st.id]))
            for st, site, op in stations),
        sessions=tuple(SessionRow(t.id, t.station_id, t.evse_id, t.connector_id, t.started_at,
                                  t.stopped_at, t.energy_wh, t.token_status) for t in txs),
        cdrs=tuple(CdrRow(c.transaction_id, c.currency, c.total_excl_vat, c.total_incl_vat)
                   for c in cdrs),
        frames=tuple(FrameRow(*row) for row in frames),
    )
