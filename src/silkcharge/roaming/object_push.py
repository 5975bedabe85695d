"""Our Locations and Tariffs pushed whole to partners: a new site, an edited one, a tariff
published or withdrawn reaches every partner that receives the module, without its pull.

Status is pushed as it happens (roaming/push.py `EvseStatusPush`, EVSE PATCHes). Everything
else in a Location or a Tariff changes through many doors (the operator API, seeding, a
station's boot notification naming new connectors, a VAT rate coming into force), so rather
than hook each one, `ObjectPush` compares: for each registered partner with the module's
RECEIVER endpoint it keeps, per object, a digest of what the partner was sent (without
timestamps and live status: `content_digest`) in `roaming_pushed_objects`. A look (every
`roaming_object_push_seconds`) builds the objects whose last_updated moved past what was last
compared, and puts a PUT in the outbox for each one whose digest differs, recording the new
digest in the same transaction: a change is pushed once, a crash before the commit pushes it at
the next look, and a partner that registers later is sent every object at its first look.

A tariff no longer published (withdrawn, or no longer valid) is DELETEd at the partner. OCPI
2.2.1 has no DELETE of a Location: a site that stops being published keeps its last version at
the partner until its EVSEs' status says otherwise.

One look runs where the API runs. With several API processes, two looks at once may both push
the same change: a PUT is idempotent, so the partner ends with the same object.
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import orjson
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from silkcharge.domain.clock import utcnow
from silkcharge.periodic import Periodic
from silkcharge.roaming.auth import PartyRole
from silkcharge.roaming.location_mapping import short_id
from silkcharge.roaming.locations import PublishedLocations
from silkcharge.roaming.outbox import Outbox, Push
from silkcharge.roaming.partners import PartnerService
from silkcharge.roaming.tariffs import PublishedTariffs, tariffs_for_sites
from silkcharge.roaming.wire import dumps, ocpi_datetime
from silkcharge.store.schema import RoamingIdentity, RoamingPartner, RoamingPushedObject, Site
from silkcharge.store.tenancy import tenant_scope

log = logging.getLogger(__name__)

RECEIVER = "RECEIVER"
LOCATIONS = "locations"
TARIFFS = "tariffs"
_VOLATILE = frozenset({"last_updated", "status"})
"""Left out of a digest: every object's timestamps, and an EVSE's status (pushed as a PATCH)."""
_EVERYTHING = 1_000_000_000


def plain(body: dict[str, Any]) -> dict[str, Any]:
    """The body as JSON values (Decimals as numbers), as the outbox stores and sends it."""
    return orjson.loads(dumps(body))


def content_digest(body: dict[str, Any]) -> str:
    """A hash of what an OCPI object (as JSON values) says, apart from `_VOLATILE` fields at any
    depth."""

    def stable(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: stable(v) for k, v in value.items() if k not in _VOLATILE}
        if isinstance(value, list):
            return [stable(v) for v in value]
        return value

    return hashlib.sha256(orjson.dumps(stable(body), option=orjson.OPT_SORT_KEYS)).hexdigest()


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


@dataclass
class PushReport:
    """What one look put in the outbox, per partner id."""

    put: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    deleted: dict[int, int] = field(default_factory=lambda: defaultdict(int))


@dataclass(frozen=True)
class _Mark:
    digest: str
    seen_until: datetime


class ObjectPush:
    """Looks for changed Locations and Tariffs and pushes them (see the module)."""

    def __init__(self, sessions: async_sessionmaker, outbox: Outbox, look_every: float | None = 30.0) -> None:
        self._sessions = sessions
        self._outbox = outbox
        self._tariff_signatures: dict[int, tuple] = {}
        """Per tenant, its tariffs and each site's roaming tariff at the last look."""
        self._looks = None if look_every is None else Periodic("roaming-object-push", self.push_changed, look_every,
                                                                    at_once=False)

    def start(self) -> None:
        if self._looks is not None:
            self._looks.start()

    async def stop(self) -> None:
        if self._looks is not None:
            await self._looks.stop()

    async def push_changed(self) -> PushReport:
        """One look, for every tenant that roams as a CPO and has partners that receive."""
        report = PushReport()
        async with self._sessions() as session:
            partners = (await session.scalars(
                select(RoamingPartner).where(RoamingPartner.state == "registered").order_by(RoamingPartner.id)
            )).all()
        by_tenant: dict[int, list[RoamingPartner]] = defaultdict(list)
        for partner in partners:
            by_tenant[partner.tenant_id].append(partner)
        for tenant_id, tenant_partners in by_tenant.items():
            with tenant_scope(tenant_id):
                party = await self._our_cpo(tenant_id)
                if party is None:
                    continue  # the tenant does not roam as a CPO: nothing of ours to publish
                receiving = {module: [p.id for p in tenant_partners
                                      if PartnerService.endpoint(p, module, RECEIVER) is not None]
                             for module in (LOCATIONS, TARIFFS)}
                if receiving[LOCATIONS]:
                    await self._push_locations(tenant_id, party, receiving[LOCATIONS], report)
                if receiving[TARIFFS]:
                    await self._push_tariffs(tenant_id, party, receiving[TARIFFS], report)
        return report

    async def _our_cpo(self, tenant_id: int) -> PartyRole | None:
        async with self._sessions() as session:
            identity = await session.scalar(select(RoamingIdentity).where(
                RoamingIdentity.tenant_id == tenant_id, RoamingIdentity.role == "CPO").order_by(RoamingIdentity.id))
        if identity is None:
            return None
        return PartyRole(identity.country_code.upper(), identity.party_id.upper(), "CPO")

    async def _marks(self, session: AsyncSession, module: str, partner_ids: list[int]) -> dict[tuple[int, str], _Mark]:
        rows = (await session.execute(
            select(RoamingPushedObject.partner_id, RoamingPushedObject.object_id,
                   RoamingPushedObject.digest, RoamingPushedObject.seen_until)
            .where(RoamingPushedObject.module == module, RoamingPushedObject.partner_id.in_(partner_ids))
        )).all()
        return {(row.partner_id, row.object_id): _Mark(row.digest, _aware(row.seen_until)) for row in rows}

    async def _push_locations(self, tenant_id: int, party: PartyRole, partner_ids: list[int],
                              report: PushReport) -> None:
        """A site is built again when its last_updated moved past what was compared, when a
        partner has no mark of it, or when the tenant's tariffs changed (a tariff withdrawn or
        coming into force changes the Location's tariff_ids without moving any site's time)."""
        published = PublishedLocations(self._sessions)
        async with self._sessions.begin() as session:
            stamps = {stamp.site_id: _aware(stamp.last_updated) for stamp in await published.stamps(session)}
            if not stamps:
                return
            marks = await self._marks(session, LOCATIONS, partner_ids)
            sites = (await session.execute(
                select(Site.id, Site.code, Site.operator_id).where(Site.id.in_(list(stamps))))).all()
            ids = {site.id: short_id(site.code) for site in sites}
            tariffs = await tariffs_for_sites(session)
            now = utcnow()
            signature = (
                tuple((record.id, record.created_at) for record in tariffs.records),
                tuple((site.id, tariffs.for_roaming(site.operator_id, site.id, now)) for site in sites),
            )
            tariffs_moved = self._tariff_signatures.get(tenant_id) != signature
            stale = sorted(site_id for site_id, stamp in stamps.items() if tariffs_moved or any(
                (mark := marks.get((partner, ids[site_id]))) is None or stamp > mark.seen_until
                for partner in partner_ids))
            objects = await published.objects(session, party, stale)
            for site_id in stale:
                if site_id not in objects:
                    continue
                body = plain(objects[site_id])
                location_id = str(body["id"])
                path = f"{party.country_code}/{party.party_id}/{location_id}"
                await self._compare(session, tenant_id, LOCATIONS, location_id, path, path, body,
                                    stamps[site_id], partner_ids, marks, report)
        self._tariff_signatures[tenant_id] = signature  # only once the look's pushes are committed

    async def _push_tariffs(self, tenant_id: int, party: PartyRole, partner_ids: list[int],
                            report: PushReport) -> None:
        bodies, _ = await PublishedTariffs(self._sessions).page(party, offset=0, limit=_EVERYTHING)
        async with self._sessions.begin() as session:
            marks = await self._marks(session, TARIFFS, partner_ids)
            current = set()
            for body in map(plain, bodies):
                tariff_id = str(body["id"])
                current.add(tariff_id)
                path = f"{party.country_code}/{party.party_id}/{tariff_id}"
                stamp = _aware(datetime.fromisoformat(str(body["last_updated"]).replace("Z", "+00:00")))
                await self._compare(session, tenant_id, TARIFFS, tariff_id, path, f"tariff/{path}", body,
                                    stamp, partner_ids, marks, report)
            for (partner_id, tariff_id) in sorted(marks):
                if tariff_id in current:
                    continue
                path = f"{party.country_code}/{party.party_id}/{tariff_id}"
                await self._outbox.enqueue(session, Push(partner_id, TARIFFS, f"tariff/{path}", "DELETE", path, None),
                                           tenant_id=tenant_id)
                await session.execute(delete(RoamingPushedObject).where(
                    RoamingPushedObject.partner_id == partner_id, RoamingPushedObject.module == TARIFFS,
                    RoamingPushedObject.object_id == tariff_id))
                report.deleted[partner_id] += 1

    async def _compare(self, session: AsyncSession, tenant_id: int, module: str, object_id: str, path: str,
                       key: str, body: dict[str, Any], stamp: datetime, partner_ids: list[int],
                       marks: dict[tuple[int, str], _Mark], report: PushReport) -> None:
        """PUT `body` to each partner whose mark holds another digest (or none), and move every
        mark to `stamp`."""
        digest = content_digest(body)
        for partner_id in partner_ids:
            mark = marks.get((partner_id, object_id))
            if mark is not None and mark.digest == digest:
                if stamp > mark.seen_until:  # changed in status or time only: not built again until it moves
                    await session.execute(_mark(partner_id, module, object_id).values(seen_until=stamp))
                continue
            sent, sent_stamp = body, stamp
            if mark is not None and stamp <= mark.seen_until:
                # changed without its time moving (a tariff withdrawn or coming into force changes
                # a Location's tariff_ids): dated now, or the partner keeps what it holds as newer
                sent_stamp = utcnow()
                sent = restamped(body, ocpi_datetime(sent_stamp))
            await self._outbox.enqueue(session, Push(partner_id, module, key, "PUT", path, sent), tenant_id=tenant_id)
            if mark is None:
                session.add(RoamingPushedObject(tenant_id=tenant_id, partner_id=partner_id, module=module,
                                                object_id=object_id, digest=digest, seen_until=stamp))
            else:
                await session.execute(_mark(partner_id, module, object_id).values(
                    digest=digest, seen_until=sent_stamp, pushed_at=utcnow()))
            report.put[partner_id] += 1


def restamped(body: Any, last_updated: str) -> Any:
    """`body` with every last_updated, at any depth, set to `last_updated`."""
    if isinstance(body, dict):
        return {k: (last_updated if k == "last_updated" else restamped(v, last_updated)) for k, v in body.items()}
    if isinstance(body, list):
        return [restamped(v, last_updated) for v in body]
    return body


def _mark(partner_id: int, module: str, object_id: str):
    return update(RoamingPushedObject).where(
        RoamingPushedObject.partner_id == partner_id, RoamingPushedObject.module == module,
        RoamingPushedObject.object_id == object_id,
    ).execution_options(synchronize_session=False)
