"""Pulling from a partner that is not silkcharge and misbehaves (tests/roaming/foreign.py, on a
real port): an object that fails the checks or names another party is skipped and counted,
the rest are kept; a partner that cannot answer ends the pull with the reason kept on it, and
the next pull asks from the same point."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse
from sqlalchemy import select

from silkcharge.store.schema import RoamingLocation, RoamingPartner
from silkcharge.store.tenancy import DEFAULT_TENANT
from tests.roaming.foreign import envelope, foreign_platform
from tests.roaming.test_location_merge import location


async def bishkek_partner(platform, url: str) -> int:
    """A registered partner CPO (KG*BIS) whose locations SENDER is the foreign platform's."""
    async with platform.sessions.begin() as session:
        row = RoamingPartner(
            tenant_id=DEFAULT_TENANT, name="Bishkek CPO", state="registered", version="2.2.1",
            endpoints=[{"identifier": "locations", "role": "SENDER", "url": f"{url}/locations"}],
            roles=[{"country_code": "KG", "party_id": "BIS", "role": "CPO"}], token_to_them="token-to-bishkek",
        )
        session.add(row)
        await session.flush()
        return row.id


async def test_a_pull_keeps_what_passes_and_skips_broken_or_foreign_objects_naming_why(platform):
    page: list[Any] = [
        location(),
        location(id="LOC8", coordinates={"latitude": "north", "longitude": "74.6"}),
        location(id="LOC9", party_id="XXX"),
        "not an object",
    ]
    async with foreign_platform() as foreign:
        foreign.routes["locations"] = lambda request: JSONResponse(envelope(page))
        partner_id = await bishkek_partner(platform, foreign.url)
        report = await platform.roaming.pull.pull(partner_id)
    assert (report.locations, report.tariffs, report.skipped, report.error) == (1, 0, 3, None)
    assert report.problems[0].startswith("LOC8: a location refused: coordinates.latitude")
    assert report.problems[1] == "LOC9: KG/XXX is not a party of this partner"
    assert report.problems[2].startswith("an object: a location refused")
    async with platform.sessions() as session:
        kept = (await session.scalars(select(RoamingLocation))).all()
        partner = await session.get(RoamingPartner, partner_id)
    assert [(row.party_id, row.location_id) for row in kept] == [("BIS", "LOC7")]
    assert partner.last_pull_at is not None and partner.last_error is None


async def test_a_partner_that_cannot_answer_ends_the_pull_with_the_reason_and_the_next_asks_from_the_same_point(
        platform):
    async with foreign_platform() as foreign:
        foreign.routes["locations"] = lambda request: JSONResponse(envelope(None, 3000), status_code=503)
        partner_id = await bishkek_partner(platform, foreign.url)
        report = await platform.roaming.pull.pull(partner_id)
        assert report.error is not None and "/locations refused" in report.error
        assert (report.locations, report.skipped) == (0, 0)
        async with platform.sessions() as session:
            partner = await session.get(RoamingPartner, partner_id)
        assert partner.last_pull_at is None and partner.last_error == report.error

        foreign.routes["locations"] = lambda request: JSONResponse(envelope([location()]))
        again = await platform.roaming.pull.pull(partner_id)
        requests = [path for method, path, headers in foreign.requests]
    assert again.since is None and (again.locations, again.error) == (1, None)  # everything, as the first time
    assert requests == ["/locations", "/locations"]


async def test_the_periodic_pull_takes_a_new_partner_at_once_then_waits_its_interval_even_after_a_failure(platform):
    from datetime import timedelta

    from silkcharge.roaming.pull import PartnerPuller

    puller = PartnerPuller(platform.sessions, platform.roaming.pull, every=timedelta(minutes=15))
    async with foreign_platform() as foreign:
        foreign.routes["locations"] = lambda request: JSONResponse(envelope(None, 3000), status_code=503)
        partner_id = await bishkek_partner(platform, foreign.url)
        [failed] = await puller.pull_due()
        assert failed.partner_id == partner_id and failed.error is not None
        assert await puller.pull_due() == []  # not at every look: after the interval
        assert len(foreign.requests) == 1
