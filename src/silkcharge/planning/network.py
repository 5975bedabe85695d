"""The charging network as the planning models see it: sites, their charging points, their power.

A *site* is AFIR's recharging pool: one place where several points stand together. A *point*
is an EVSE, which charges one vehicle at a time; its power for a driver is the highest
``max_power_kw`` among its connectors of the driver's standard. Powers are kW as Decimal, as
the store keeps them. Built from the seed JSON (``sites_from_seed``) or from the store
(``planning.store.load_store_sites``); everything downstream is pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Iterable

from silkcharge.domain.connectors import ConnectorStandard, CurrentType


@dataclass(frozen=True)
class ChargePoint:
    """One EVSE: the connectors it carries and each one's maximum power."""

    connectors: tuple[tuple[ConnectorStandard, Decimal], ...]

    def power_kw(self, standard: ConnectorStandard | None = None) -> Decimal:
        """The point's power for a driver of ``standard`` (any DC standard when None)."""
        powers = [kw for s, kw in self.connectors
                  if (s is standard if standard is not None else s.current is CurrentType.DC)]
        return max(powers, default=Decimal(0))


@dataclass(frozen=True)
class ChargingSite:
    code: str
    name: str
    lat: float
    lon: float
    country: str
    city: str | None
    points: tuple[ChargePoint, ...]

    def dc_points(self, standard: ConnectorStandard | None = None) -> list[Decimal]:
        """Powers of the DC points usable with ``standard`` (every DC point when None)."""
        return [p for p in (pt.power_kw(standard) for pt in self.points) if p > 0]

    def total_kw(self, standard: ConnectorStandard | None = None) -> Decimal:
        return sum(self.dc_points(standard), Decimal(0))

    def all_kw(self) -> Decimal:
        """Every point's power, AC included: what the site offers the public."""
        return sum((max((kw for _, kw in pt.connectors), default=Decimal(0))
                    for pt in self.points), Decimal(0))


def sites_from_seed(network: dict[str, Any]) -> list[ChargingSite]:
    """Sites of a seed-format network (``silkcharge.data.seed.load_seed_network()``)."""
    return [
        ChargingSite(
            code=site["code"], name=site["name"], lat=float(site["lat"]), lon=float(site["lon"]),
            country=site["country"], city=site.get("city"),
            points=tuple(
                ChargePoint(tuple((ConnectorStandard(c["standard"]), Decimal(c["max_power_kw"]))
                                  for c in evse["connectors"]))
                for station in site["stations"] for evse in station["evses"]
            ),
        )
        for site in network["sites"]
    ]


def site(code: str, lat: float, lon: float, points: Iterable[Iterable[tuple[str, str | int]]],
         *, name: str | None = None, country: str = "XX", city: str | None = None) -> ChargingSite:
    """A site from plain values: ``points`` is one list of (standard, kW) pairs per EVSE."""
    return ChargingSite(
        code=code, name=name or code, lat=lat, lon=lon, country=country, city=city,
        points=tuple(ChargePoint(tuple((ConnectorStandard(s), Decimal(str(kw))) for s, kw in pt))
                     for pt in points),
    )
