"""Regulated price caps in the CSMS: which sites a cap binds, and which tariffs it suspends there.

A cap belongs to a jurisdiction, an area (`JurisdictionRecord`, a polygon): it binds every site
whose location lies inside, whoever operates it, and every tariff that can apply there (the
site's own and its operator's network-wide ones, for every audience). The caps and areas live
in the store, managed through the API; the ones silkcharge ships (`data/price_caps.json`,
`data/jurisdictions.json`) are installed once, by code, the first time the service is used.

A tariff that breaks a cap at a site is *suspended* there: a `TariffSuspension` row, which is
the alert its operator sees (API and console). While suspended, its published price is not
what a driver pays there: every session at a capped site is charged at most the cap per kWh
(`caps.apply_cap`, on the receipt, the charger's display and the search quote alike), and a
suspended tariff's sessions carry the flag `tariff-suspended`.

When is it checked? On every change that can make a tariff break a cap or keep it:
- a tariff published (`BillingService.publish`: a site's own tariff that breaks a cap is refused;
  a network-wide one is stored and suspended at the capped sites it breaks);
- a site created or moved, a cap or an area added or changed (the API calls `recheck_site` /
  `recheck_cap`);
- anything else (connectors added with a slower power, a site imported by the seeder, another
  node's change, a new day): `recheck_stale` every `RECHECK_SECONDS`, which re-checks each site
  whose inputs (position, caps, tariffs, connector powers, local date) changed since its last
  check. A suspension is resolved, not deleted, when its tariff holds again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from silkcharge.domain.caps import (
    InvalidCap,
    Jurisdiction,
    PriceCapRule,
    Violation,
    check_tariff,
    load_jurisdictions,
    load_price_caps,
)
from silkcharge.domain.clock import utcnow
from silkcharge.domain.tariffs import InvalidTariff, Tariff
from silkcharge.store.residency import database_in_use, each_database
from silkcharge.store.schema import (
    Connector,
    JurisdictionRecord,
    Operator,
    PriceCapRecord,
    Site,
    Station,
    TariffRecord,
    TariffSuspension,
    Tenant,
)

log = logging.getLogger(__name__)

RECHECK_SECONDS = 60.0
_CHUNK = 500
TARIFF_SUSPENDED = "tariff-suspended"
"""Flag on the CDR of a session priced with a tariff suspended at its site."""


@dataclass(frozen=True)
class BoundCap:
    """A cap in force with its area, as the store holds them."""

    id: int
    rule: PriceCapRule
    area: Jurisdiction
    bounds: tuple[float, float, float, float]
    version: datetime

    def binds(self, lat: float, lon: float) -> bool:
        west, south, east, north = self.bounds
        return west <= lon <= east and south <= lat <= north and self.area.contains(lat, lon)


@dataclass(frozen=True)
class SiteCheck:
    """What one site's check found: the caps that bind it and every violation, by tariff."""

    site_id: int
    caps: tuple[BoundCap, ...]
    violations: dict[tuple[int, int], list[Violation]]
    """(tariff store id, cap store id) -> the violations (none: the tariff holds)."""


@dataclass(frozen=True)
class Compliance:
    """How one operator stands against one cap that binds some of its sites: counts only, no
    driver, token or session in it (what a regulator reads across tenants)."""

    tenant: str
    tenant_name: str
    operator: str
    operator_name: str
    country: str
    cap: str
    jurisdiction: str
    cap_per_kwh_incl_vat: Decimal
    currency: str
    sites: int
    """The operator's sites inside the cap's area."""
    tariffs: int
    """The operator's tariffs that can apply at those sites: each is checked against the cap."""
    suspended_tariffs: int
    """Of those, the tariffs suspended at one of the sites or more (breaking the cap now)."""
    violations: int
    """Open suspensions: a tariff breaking the cap at a site, counted per site."""


class CapService:
    def __init__(self, sessions: async_sessionmaker) -> None:
        self._sessions = sessions
        self._caps: tuple[BoundCap, ...] = ()
        self._version: tuple | None = None
        self._installed = False
        self._install_lock = asyncio.Lock()
        self._check_lock = asyncio.Lock()
        self._inputs: dict[tuple[str | None, int], tuple] = {}
        """Per site (of a database: data residency), the inputs of its last check (see `recheck_stale`)."""
        self._results: dict[tuple, list[Violation]] = {}
        self._task: asyncio.Task | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._recheck_periodically(), name="caps-recheck")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task], timeout=10)
            self._task = None

    async def _recheck_periodically(self) -> None:
        while True:
            try:
                await self.recheck_stale()
            except Exception:
                log.exception("price-cap re-check failed; it runs again in %s s", RECHECK_SECONDS)
            await asyncio.sleep(RECHECK_SECONDS)

    # -- the caps in force ----------------------------------------------------------------------

    @staticmethod
    def version_columns() -> tuple[Any, ...]:
        """What tells whether the stored caps or areas changed: read alone by `current`, or
        inside another query's row (`BillingService.running_cost`) and handed to `current`."""
        return (
            select(func.max(PriceCapRecord.updated_at)).scalar_subquery(),
            select(func.count(PriceCapRecord.id)).scalar_subquery(),
            select(func.max(JurisdictionRecord.updated_at)).scalar_subquery(),
            select(func.count(JurisdictionRecord.id)).scalar_subquery(),
        )

    async def current(self, session: AsyncSession, version: tuple | None = None) -> tuple[BoundCap, ...]:
        """The caps in force (not withdrawn) with their areas, reloaded when the store's changed
        (`version`: the values of `version_columns`, when the caller read them already).

        Reads with the caller's session only: the shipped caps are installed before (by
        `install_shipped`, at the platform's start). Installing here would open a second
        session inside the caller's, which on SQLite's single connection waits for itself."""
        if not self._installed:
            raise RuntimeError("the shipped price caps are not installed yet: "
                               "CapService.install_shipped() runs when the platform starts")
        if version is None:
            version = tuple((await session.execute(select(*self.version_columns()))).one())
        if version != self._version:
            rows = (await session.execute(
                select(PriceCapRecord, JurisdictionRecord)
                .join(JurisdictionRecord, JurisdictionRecord.id == PriceCapRecord.jurisdiction_id)
                .where(PriceCapRecord.withdrawn_at.is_(None))
                .order_by(PriceCapRecord.id)
            )).all()
            caps = []
            for cap, area in rows:
                try:
                    caps.append(_bound(cap, area))
                except (InvalidCap, KeyError) as exc:
                    log.error("price cap %s cannot be read and is not enforced: %s", cap.code, exc)
            self._caps, self._version = tuple(caps), version
        return self._caps

    def binding(self, lat: float, lon: float, currency: str | None = None) -> list[PriceCapRule]:
        """The caps (of the last `current`) that bind a site at this position, in `currency`
        when given (a cap in another currency cannot price a session)."""
        return [c.rule for c in self._caps
                if c.binds(lat, lon) and (currency is None or c.rule.currency == currency)]

    async def install_shipped(self) -> None:
        """Install the packaged areas and caps whose codes the store does not know yet, once
        per process, in a session of its own (before anything reads the caps)."""
        if self._installed:
            return
        async with self._install_lock:
            if self._installed:
                return
            try:
                async with self._sessions.begin() as session:
                    known = set((await session.scalars(select(JurisdictionRecord.code))).all())
                    areas = {}
                    for area in load_jurisdictions().values():
                        if area.code not in known:
                            areas[area.code] = JurisdictionRecord(**_area_columns(area))
                            session.add(areas[area.code])
                    await session.flush()
                    ids = dict((await session.execute(
                        select(JurisdictionRecord.code, JurisdictionRecord.id))).all())
                    caps = set((await session.scalars(select(PriceCapRecord.code))).all())
                    for rule in load_price_caps().values():
                        if rule.id not in caps and rule.jurisdiction in ids:
                            session.add(PriceCapRecord(code=rule.id, jurisdiction_id=ids[rule.jurisdiction],
                                                       body=_rule_body(rule)))
            except IntegrityError:
                pass  # another node installed them at the same moment
            self._installed = True

    # -- checking -------------------------------------------------------------------------------

    async def violations_at(self, session: AsyncSession, site: Site, tariff: Tariff) -> list[str]:
        """Why `tariff` could not be published at `site` (empty: it holds under every cap)."""
        caps = [c for c in await self.current(session) if c.binds(site.lat, site.lon)]
        if not caps:
            return []
        powers = await _powers(session, site.id)
        today = _today(site.timezone)
        found = []
        for cap in caps:
            for violation in await asyncio.to_thread(
                check_tariff, tariff, cap.rule, on=today, time_zone=site.timezone, powers_kw=powers
            ):
                found.append(f"site {site.code}: {violation.message}")
        return found

    async def recheck_site(self, site_id: int) -> SiteCheck | None:
        """Check every tariff that can apply at the site against every cap that binds it, and
        open or resolve its suspensions accordingly. None when the site no longer exists."""
        async with self._check_lock, self._sessions.begin() as session:
            site = await session.get(Site, site_id)
            if site is None:
                self._inputs.pop((database_in_use(self._sessions), site_id), None)
                return None
            caps = tuple(c for c in await self.current(session) if c.binds(site.lat, site.lon))
            tariffs = await _tariffs_of(session, site)
            powers = await _powers(session, site.id)
            today = _today(site.timezone)
            inputs = _inputs(site, caps, tariffs, powers, today)
            violations = {}
            for row in tariffs:
                tariff = _parsed(row)
                for cap in caps:
                    violations[(row.id, cap.id)] = [] if tariff is None else \
                        await self._check(tariff, row, cap, site.timezone, powers, today)
            await _record(session, site, caps, violations)
        self._inputs[(database_in_use(self._sessions), site_id)] = inputs
        return SiteCheck(site_id, caps, violations)

    async def recheck_cap(self, cap_id: int | None = None) -> int:
        """Re-check every site a cap (or every cap) binds, and the sites it had suspended
        tariffs at; how many sites were checked."""
        async with self._sessions() as session:
            caps = [c for c in await self.current(session) if cap_id is None or c.id == cap_id]
            suspended = select(TariffSuspension.site_id).where(TariffSuspension.resolved_at.is_(None))
            if cap_id is not None:
                suspended = suspended.where(TariffSuspension.cap_id == cap_id)
            site_ids = set((await session.scalars(suspended)).all())
            for cap in caps:
                site_ids |= set(await _sites_in(session, cap))
        for site_id in sorted(site_ids):
            await self.recheck_site(site_id)
        return len(site_ids)

    async def recheck_stale(self) -> int:
        """Re-check every site inside a cap's area, or with an open suspension, whose inputs
        changed since its last check (all of them the first time); how many were checked.
        A few set-wise queries, whatever the number of sites. With data residency, in every
        database."""
        return sum(await each_database(self._sessions, self._recheck_stale_here))

    async def _recheck_stale_here(self) -> int:
        database = database_in_use(self._sessions)
        async with self._sessions() as session:
            caps = await self.current(session)
            columns = select(Site.id, Site.lat, Site.lon, Site.timezone, Site.operator_id)
            open_ids = set((await session.scalars(
                select(TariffSuspension.site_id).where(TariffSuspension.resolved_at.is_(None))
            )).all())
            rows = {r.id: r for n in range(0, len(open_ids), _CHUNK) for r in await session.execute(
                columns.where(Site.id.in_(sorted(open_ids)[n:n + _CHUNK])))}
            for cap in caps:
                west, south, east, north = cap.bounds
                for row in await session.execute(columns.where(
                        Site.lat.between(south, north), Site.lon.between(west, east))):
                    if cap.area.contains(row.lat, row.lon):
                        rows[row.id] = row
            tariffs = (await session.execute(
                select(TariffRecord.id, TariffRecord.operator_id, TariffRecord.site_id)
                .where(TariffRecord.operator_id.in_({r.operator_id for r in rows.values()}))
                .order_by(TariffRecord.id)
            )).all()
            powers: dict[int, set[Decimal]] = {}
            ids = sorted(rows)
            for n in range(0, len(ids), _CHUNK):
                for site_id, power in await session.execute(
                    select(Station.site_id, Connector.max_power_kw).distinct()
                    .join(Station, Station.id == Connector.station_id)
                    .where(Station.site_id.in_(ids[n:n + _CHUNK]), Connector.max_power_kw > 0)
                ):
                    powers.setdefault(site_id, set()).add(Decimal(power))
        stale = []
        for site_id, row in sorted(rows.items()):
            own = tuple(t.id for t in tariffs
                        if t.operator_id == row.operator_id and t.site_id in (None, site_id))
            inputs = (row.lat, row.lon, row.timezone,
                      tuple((c.id, c.version) for c in caps if c.binds(row.lat, row.lon)),
                      own, tuple(sorted(powers.get(site_id, ()))), _today(row.timezone))
            if self._inputs.get((database, site_id)) == inputs:
                continue
            if not own and site_id not in open_ids:
                self._inputs[(database, site_id)] = inputs  # no tariff to check and no alert to resolve
            else:
                stale.append(site_id)
        for site_id in stale:
            await self.recheck_site(site_id)
        return len(stale)

    async def _check(
        self, tariff: Tariff, row: TariffRecord, cap: BoundCap, time_zone: str,
        powers: tuple[Decimal, ...], today: date,
    ) -> list[Violation]:
        # A tariff never changes; its id is one per database (data residency).
        key = (database_in_use(self._sessions), row.id, cap.id, cap.version, time_zone, powers, today)
        if key not in self._results:
            if len(self._results) > 10_000:
                self._results.clear()
            self._results[key] = await asyncio.to_thread(
                check_tariff, tariff, cap.rule, on=today, time_zone=time_zone, powers_kw=powers
            )
        return self._results[key]

    # -- what regulators read ------------------------------------------------------------------

    async def compliance(self) -> list[Compliance]:
        """Per operator and cap in force that binds any of its sites: the sites, the tariffs
        checked there and the open violations, from what the checks recorded. In the tenant in
        scope; with none (a regulator, the platform), across every tenant."""
        async with self._sessions() as session:
            caps = {cap.id: cap for cap in await self.current(session)}
            bound: dict[tuple[int, int], set[int]] = {}  # (operator, cap) -> its sites in the area
            for cap in caps.values():
                west, south, east, north = cap.bounds
                for row in await session.execute(select(Site.id, Site.lat, Site.lon, Site.operator_id).where(
                        Site.lat.between(south, north), Site.lon.between(west, east))):
                    if cap.area.contains(row.lat, row.lon):
                        bound.setdefault((row.operator_id, cap.id), set()).add(row.id)
            operator_ids = {operator_id for operator_id, _ in bound}
            tariffs = (await session.execute(
                select(TariffRecord.id, TariffRecord.operator_id, TariffRecord.site_id)
                .where(TariffRecord.operator_id.in_(operator_ids)))).all() if operator_ids else []
            open_rows = (await session.execute(
                select(TariffSuspension.tariff_id, TariffSuspension.site_id, TariffSuspension.cap_id)
                .where(TariffSuspension.resolved_at.is_(None)))).all()
            operators = {row.Operator.id: row for row in await session.execute(
                select(Operator, Tenant).join(Tenant, Tenant.id == Operator.tenant_id)
                .where(Operator.id.in_(operator_ids)))} if operator_ids else {}
        found = []
        for (operator_id, cap_id), sites in bound.items():
            operator, tenant = operators[operator_id]
            checked = {t.id for t in tariffs if t.operator_id == operator_id and t.site_id in (None, *sites)}
            breaking = [(t, site) for t, site, cap in open_rows if cap == cap_id and site in sites and t in checked]
            rule = caps[cap_id].rule
            found.append(Compliance(
                tenant=tenant.code, tenant_name=tenant.name, operator=operator.code,
                operator_name=operator.name, country=operator.country, cap=rule.id,
                jurisdiction=caps[cap_id].area.name, cap_per_kwh_incl_vat=rule.max_price_per_kwh_incl_vat,
                currency=rule.currency, sites=len(sites), tariffs=len(checked),
                suspended_tariffs=len({t for t, _ in breaking}), violations=len(breaking)))
        return sorted(found, key=lambda c: (c.tenant, c.operator, c.cap))

    # -- what pricing asks ----------------------------------------------------------------------

    async def suspended_at(self, session: AsyncSession, site_id: int) -> frozenset[str]:
        """The codes of the tariffs suspended at the site now (billing prices with them)."""
        return frozenset((await session.scalars(
            select(TariffRecord.code)
            .join(TariffSuspension, TariffSuspension.tariff_id == TariffRecord.id)
            .where(TariffSuspension.site_id == site_id, TariffSuspension.resolved_at.is_(None))
        )).all())

    async def suspended(self, session: AsyncSession, site_id: int, tariff_code: str) -> bool:
        """Whether the tariff is suspended at the site now."""
        return tariff_code in await self.suspended_at(session, site_id)


def _bound(cap: PriceCapRecord, area: JurisdictionRecord) -> BoundCap:
    rule = PriceCapRule.from_dict({**cap.body, "id": cap.code, "jurisdiction": area.code})
    jurisdiction = Jurisdiction.from_dict({
        "code": area.code, "name": area.name, "country": area.country, "polygon": area.polygon,
        "source": area.source, "source_date": area.source_date, "licence": area.licence,
        "confidence": area.confidence,
    })
    return BoundCap(cap.id, rule, jurisdiction, jurisdiction.bounds(), max(cap.updated_at, area.updated_at))


def _area_columns(area: Jurisdiction) -> dict[str, Any]:
    return {
        "code": area.code, "name": area.name, "country": area.country,
        "polygon": [[list(point) for point in ring] for ring in area.polygon],
        "source": area.source, "source_date": area.source_date, "licence": area.licence,
        "confidence": area.confidence,
    }


def _rule_body(rule: PriceCapRule) -> dict[str, Any]:
    body = rule.to_dict()
    del body["id"], body["jurisdiction"]
    return body


def _today(time_zone: str) -> date:
    return utcnow().astimezone(ZoneInfo(time_zone)).date()


def _parsed(row: TariffRecord) -> Tariff | None:
    try:
        return Tariff.from_ocpi(row.body)
    except (InvalidTariff, KeyError, TypeError, ValueError) as exc:
        log.error("tariff %s cannot be read, so it cannot be checked against caps: %s", row.code, exc)
        return None


def _inputs(site: Site, caps: Sequence[BoundCap], tariffs: Sequence[TariffRecord],
            powers: tuple[Decimal, ...], today: date) -> tuple:
    """What a site's check depends on (`recheck_stale` builds the same tuple set-wise)."""
    return (site.lat, site.lon, site.timezone, tuple((c.id, c.version) for c in caps),
            tuple(row.id for row in tariffs), powers, today)


async def _tariffs_of(session: AsyncSession, site: Site) -> list[TariffRecord]:
    """Every tariff that can apply at the site: its own and its operator's network-wide ones."""
    return list((await session.scalars(
        select(TariffRecord).where(
            TariffRecord.operator_id == site.operator_id,
            or_(TariffRecord.site_id == site.id, TariffRecord.site_id.is_(None)),
        ).order_by(TariffRecord.id)
    )).all())


async def _powers(session: AsyncSession, site_id: int) -> tuple[Decimal, ...]:
    """The distinct rated powers of the site's connectors (kW), lowest first."""
    powers = (await session.scalars(
        select(Connector.max_power_kw).distinct()
        .join(Station, Station.id == Connector.station_id)
        .where(Station.site_id == site_id, Connector.max_power_kw > 0)
    )).all()
    return tuple(sorted({Decimal(p) for p in powers}))


async def _sites_in(session: AsyncSession, cap: BoundCap) -> list[int]:
    west, south, east, north = cap.bounds
    rows = await session.execute(select(Site.id, Site.lat, Site.lon).where(
        Site.lat.between(south, north), Site.lon.between(west, east)))
    return [row.id for row in rows if cap.area.contains(row.lat, row.lon)]


async def _record(session: AsyncSession, site: Site, caps: Sequence[BoundCap],
                  violations: dict[tuple[int, int], list[Violation]]) -> None:
    """Open a suspension for every new violation, keep the open ones current, resolve the rest."""
    now = utcnow()
    open_rows = (await session.scalars(select(TariffSuspension).where(
        TariffSuspension.site_id == site.id, TariffSuspension.resolved_at.is_(None)))).all()
    current = {(row.tariff_id, row.cap_id): row for row in open_rows}
    for (tariff_id, cap_id), found in violations.items():
        row = current.pop((tariff_id, cap_id), None)
        if not found:
            if row is not None:
                row.resolved_at, row.resolution = now, "the tariff is within the cap"
            continue
        reason = "; ".join(v.message for v in found)
        effective = min(v.effective_from for v in found)
        if row is None:
            session.add(TariffSuspension(tariff_id=tariff_id, site_id=site.id, cap_id=cap_id,
                                         reason=reason, effective_from=effective, since=now))
        elif (row.reason, row.effective_from) != (reason, effective):
            row.reason, row.effective_from = reason, effective
    bound = {c.id for c in caps}
    for (_, cap_id), row in current.items():
        row.resolved_at = now
        if cap_id in bound:
            row.resolution = "the tariff no longer applies at the site"
        elif await _cap_in_force(session, cap_id):
            row.resolution = "the site is outside the cap's area"
        else:
            row.resolution = "the cap was withdrawn"


async def _cap_in_force(session: AsyncSession, cap_id: int) -> bool:
    return bool(await session.scalar(select(PriceCapRecord.id).where(
        PriceCapRecord.id == cap_id, PriceCapRecord.withdrawn_at.is_(None))))
