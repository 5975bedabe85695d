"""Load a curated network (operators, sites, stations, connectors) into the store.

Used by `silkcharge seed` and the demo. Loading is idempotent: what exists is left as it is,
so seeding twice, or seeding over a network an operator has edited, changes nothing stored.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from silkcharge.services.passwords import hash_password
from silkcharge.store.schema import Connector, Evse, IdToken, Operator, Site, Station
from silkcharge.store.tenancy import tenant_scope


@dataclass(frozen=True)
class SeededStation:
    """What a simulated charger needs to act as a seeded station."""

    station_id: str
    password: str
    ocpp_version: str
    vendor: str
    model: str
    connectors: list[dict[str, Any]]


def wire_model(station: dict[str, Any]) -> str:
    """A model name that fits OCPP's 20 characters: 'DC240-2E' for a two-EVSE 240 kW DC unit."""
    connectors = [c for evse in station["evses"] for c in evse["connectors"]]
    power = max(Decimal(c["max_power_kw"]) for c in connectors)
    kind = "DC" if any(c["standard"] in ("gbt_dc", "ccs2", "chademo", "ccs1") for c in connectors) else "AC"
    return f"{kind}{power.normalize():f}-{len(station['evses'])}E"[:20]


async def seed_network(
    sessions: async_sessionmaker, network: dict[str, Any], *, tokens: list[dict[str, Any]] = (),
    tenant: int = 1, progress: Callable[[int, int], None] | None = None,
) -> list[SeededStation]:
    """Store the network as `tenant`'s (the install's first tenant by default); return every
    newly created station with its fresh password. `progress(done, total)` hears of every
    tenth station stored (each costs a password hash: seconds in all on a busy machine)."""
    with tenant_scope(tenant):
        return await _seed(sessions, network, tokens, progress)


async def _seed(
    sessions: async_sessionmaker, network: dict[str, Any], tokens: list[dict[str, Any]],
    progress: Callable[[int, int], None] | None = None,
) -> list[SeededStation]:
    created: list[SeededStation] = []
    total = sum(len(site["stations"]) for site in network["sites"])
    done = 0
    async with sessions.begin() as session:
        operators = {}
        for item in network["operators"]:
            row = await session.scalar(select(Operator).where(Operator.code == item["code"]))
            if row is None:
                row = Operator(
                    code=item["code"], name=item["name"], country=item["country"], currency=item["currency"]
                )
                session.add(row)
                await session.flush()
            operators[item["code"]] = row
        for item in network["sites"]:
            site = await session.scalar(select(Site).where(Site.code == item["code"]))
            if site is None:
                site = Site(
                    code=item["code"], operator_id=operators[item["operator"]].id, name=item["name"],
                    city=item.get("city"), country=item["country"], address=item.get("address"),
                    lat=item["lat"], lon=item["lon"], timezone=item["timezone"],
                    corridor=item.get("corridor"), provenance=item.get("provenance"),
                )
                session.add(site)
                await session.flush()
            for station in item["stations"]:
                done += 1
                if progress is not None and (done % 10 == 0 or done == total):
                    progress(done, total)
                if await session.get(Station, station["station_id"]) is not None:
                    continue
                created.append(await _add_station(session, site.id, station))
        for token in tokens:
            if await session.scalar(select(IdToken.id).where(IdToken.token == token["token"])) is None:
                session.add(IdToken(**token))
    return created


async def _add_station(session, site_id: int, station: dict[str, Any]) -> SeededStation:
    password = secrets.token_urlsafe(18)
    session.add(
        Station(
            id=station["station_id"], site_id=site_id, password_hash=hash_password(password),
            registration_status="Accepted", vendor=station["vendor"], model=wire_model(station),
        )
    )
    await session.flush()  # the schema declares no ORM relationships, so order the inserts here
    connectors = []
    for evse in station["evses"]:
        session.add(Evse(station_id=station["station_id"], evse_id=evse["evse_id"]))
        for connector in evse["connectors"]:
            session.add(
                Connector(
                    station_id=station["station_id"], evse_id=evse["evse_id"],
                    connector_id=connector["connector_id"], standard=connector["standard"],
                    max_power_kw=Decimal(connector["max_power_kw"]),
                )
            )
            connectors.append({"evse_id": evse["evse_id"], **connector})
    return SeededStation(
        station["station_id"], password, station["ocpp_version"], station["vendor"][:20],
        wire_model(station), connectors,
    )
