"""Pulling from roaming partners (our eMSP role): a partner CPO's Locations and Tariffs read from
its SENDER endpoints, page after page (client paging, roaming/client.py), and kept exactly as
its pushes are: the same checks, the same merge (roaming/location_merge.py: an object older
than the one held changes nothing), the same tables.

Pushes keep us current; a pull catches up what pushes cannot: everything a partner published
before we registered, and whatever a push lost. A partner is pulled
- when an operator asks (`POST /api/v1/roaming/partners/{id}/pull`, which answers what it got),
- and by `PartnerPuller`, every `roaming_pull_minutes`, for each registered partner that has a
  locations or tariffs SENDER endpoint, first soon after it registered.
After the first, a pull asks only for what changed since the previous one began
(`date_from`, with a minute of overlap for the partner's clock).

An object that fails the checks is skipped and counted (the pull's report names the first few
problems); the rest are kept. A partner that cannot be reached, or answers a page that is not
a list, ends the pull with an error kept on the partner (`last_error`), and `last_pull_at`
moves only on success, so the next pull asks from the same point.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from silkcharge.domain.clock import utcnow
from silkcharge.periodic import Periodic
from silkcharge.roaming.client import OcpiPeerError
from silkcharge.roaming.location_merge import LOCATION, checked, put_location
from silkcharge.roaming.locations import ForeignLocations
from silkcharge.roaming.objects import check_object, known_fields
from silkcharge.roaming.partners import PartnerService, UnknownPartner
from silkcharge.roaming.tariffs import TARIFF, ForeignTariffs
from silkcharge.roaming.wire import OcpiError, Status, ocpi_datetime
from silkcharge.store.schema import RoamingPartner
from silkcharge.store.tenancy import tenant_scope

log = logging.getLogger(__name__)

SENDER = "SENDER"
CLOCK_OVERLAP = timedelta(minutes=1)
"""How far before the previous pull began the next one asks from: the partner's clock and
ours differ, and an object written as the previous pull read is stamped before it ended."""
PROBLEMS_KEPT = 5


@dataclass
class PullReport:
    """What one pull of one partner got."""

    partner_id: int
    since: datetime | None
    """`date_from` asked (None: everything)."""
    locations: int = 0
    tariffs: int = 0
    skipped: int = 0
    problems: list[str] = field(default_factory=list)
    """The first few objects skipped, and why."""
    error: str | None = None
    """Why the pull stopped early; None when it read every page."""


class PartnerNotPullable(Exception):
    """The partner is not registered, or offers neither locations nor tariffs to pull."""


class PartnerPull:
    """One pull of one partner (see the module)."""

    def __init__(self, sessions: async_sessionmaker, partners: PartnerService) -> None:
        self._sessions = sessions
        self._partners = partners
        self._locations = ForeignLocations(sessions)
        self._tariffs = ForeignTariffs(sessions)

    async def pull(self, partner_id: int, *, everything: bool = False) -> PullReport:
        async with self._sessions() as session:
            partner = await session.get(RoamingPartner, partner_id)
        if partner is None:
            raise UnknownPartner(f"no roaming partner {partner_id}")
        if partner.state != "registered" or not partner.token_to_them:
            raise PartnerNotPullable(f"roaming partner {partner_id} is not registered")
        locations_url = PartnerService.endpoint(partner, "locations", SENDER)
        tariffs_url = PartnerService.endpoint(partner, "tariffs", SENDER)
        if locations_url is None and tariffs_url is None:
            raise PartnerNotPullable(f"roaming partner {partner_id} offers no locations or tariffs to pull")
        began = utcnow()
        since = None if everything or partner.last_pull_at is None else _aware(partner.last_pull_at) - CLOCK_OVERLAP
        report = PullReport(partner_id, since)
        params = {} if since is None else {"date_from": ocpi_datetime(since)}
        parties = {(r.get("country_code", "").upper(), r.get("party_id", "").upper()) for r in partner.roles or ()}
        with tenant_scope(partner.tenant_id):
            try:
                async with await self._partners.client_for(partner) as client:
                    if tariffs_url is not None:  # tariffs first: a location found next is priced at once
                        async for item in client.pages(tariffs_url, params):
                            await self._keep_tariff(partner_id, parties, item, report)
                    if locations_url is not None:
                        async for item in client.pages(locations_url, params):
                            await self._keep_location(partner_id, parties, item, report)
            except OcpiPeerError as exc:
                report.error = str(exc)
            # only a pull that read every page moves last_pull_at: the next asks from when it began
            await self._partners.record_exchange(partner_id, pulled=report.error is None, error=report.error,
                                                 pulled_at=began)
        log.info("pulled roaming partner %s: %d locations, %d tariffs, %d skipped%s", partner_id,
                 report.locations, report.tariffs, report.skipped, f"; stopped: {report.error}" if report.error else "")
        return report

    async def _keep_location(self, partner_id: int, parties: set, item: Any, report: PullReport) -> None:
        try:
            body = checked(item, LOCATION, "a location")
            _check_party(parties, body)
            await self._locations.write(partner_id, body["country_code"], body["party_id"], body["id"],
                                        lambda held: put_location(held, body))
        except OcpiError as exc:
            _skip(report, item, exc.message)
            return
        report.locations += 1

    async def _keep_tariff(self, partner_id: int, parties: set, item: Any, report: PullReport) -> None:
        problems = check_object(item, TARIFF)
        if problems:
            _skip(report, item, "; ".join(problems[:3]))
            return
        body = known_fields(item, TARIFF)
        try:
            _check_party(parties, body)
        except OcpiError as exc:
            _skip(report, item, exc.message)
            return
        await self._tariffs.put(partner_id, body["country_code"], body["party_id"], body["id"], body)
        report.tariffs += 1


def _check_party(parties: set, body: dict[str, Any]) -> None:
    party = (body["country_code"].upper(), body["party_id"].upper())
    if party not in parties:
        raise OcpiError(Status.INVALID_PARAMETERS, f"{'/'.join(party)} is not a party of this partner")


def _skip(report: PullReport, item: Any, why: str) -> None:
    report.skipped += 1
    if len(report.problems) < PROBLEMS_KEPT:
        which = item.get("id") if isinstance(item, dict) else None
        report.problems.append(f"{which or 'an object'}: {why}")


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


class PartnerPuller:
    """Pulls every registered partner that offers locations or tariffs, every `every` (see the
    module); a partner not pulled yet is pulled at the next look, `look_every` at most after
    it registered. A pull that failed is tried again after `every` as well, not at each look."""

    def __init__(self, sessions: async_sessionmaker, pull: PartnerPull, every: timedelta,
                 look_every: float = 30.0) -> None:
        self._sessions = sessions
        self._pull = pull
        self._every = every
        self._tried: dict[int, datetime] = {}
        self._looks = Periodic("roaming-pull", self.pull_due, look_every)

    def start(self) -> None:
        self._looks.start()

    async def stop(self) -> None:
        await self._looks.stop()

    async def pull_due(self) -> list[PullReport]:
        """Pull each partner whose last pull is older than `every` (or that was never pulled)."""
        now = utcnow()
        async with self._sessions() as session:
            partners = (await session.scalars(select(RoamingPartner).where(RoamingPartner.state == "registered")
                                              .order_by(RoamingPartner.id))).all()
        reports = []
        for partner in partners:
            last = max((_aware(t) for t in (partner.last_pull_at, self._tried.get(partner.id)) if t is not None),
                       default=None)
            if last is not None and now - last < self._every:
                continue
            if not any(PartnerService.endpoint(partner, module, SENDER) for module in ("locations", "tariffs")):
                continue
            self._tried[partner.id] = now
            try:
                reports.append(await self._pull.pull(partner.id))
            except (PartnerNotPullable, UnknownPartner):  # unregistered meanwhile
                continue
        return reports
