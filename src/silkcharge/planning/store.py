"""Read the platform's stations into the planning models' pure inputs."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from silkcharge.domain.connectors import ConnectorStandard
from silkcharge.planning.network import ChargePoint, ChargingSite
from silkcharge.store.schema import Connector, Site, Station


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
