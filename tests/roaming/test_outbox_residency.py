"""The outbox with data residency: a resident tenant's pushes live in its own database and go to
its own partner, though partner ids repeat across databases (both partners here are id 1)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from silkcharge.store.schema import RoamingIdentity, RoamingPartner
from silkcharge.store.tenancy import tenant_scope
from tests.e2e.peers import connected_peer
from tests.roaming.fake_partner import FakePartner
from tests.roaming.test_outbox import TOKEN_TO_THEM
from tests.store.residents import KZ_STATION, UZ_STATION, Resident, resident_platform, rows


@pytest.fixture
async def resident() -> AsyncIterator[Resident]:
    async with resident_platform() as built:
        yield built


async def add_partner_of(resident: Resident, tenant_id: int, party: str, endpoint: str) -> int:
    with tenant_scope(tenant_id):  # the tenant's rows go to the tenant's database
        async with resident.platform.sessions.begin() as session:
            session.add(RoamingIdentity(country_code="KZ", party_id=party, role="CPO", business_name=party))
            row = RoamingPartner(name=f"eMSP of {party}", state="registered", version="2.2.1",
                                 endpoints=[{"identifier": "locations", "role": "RECEIVER", "url": endpoint}],
                                 roles=[{"country_code": "KZ", "party_id": "EMP", "role": "EMSP"}],
                                 token_to_them=TOKEN_TO_THEM)
            session.add(row)
            await session.flush()
            return row.id


async def test_a_resident_tenants_pushes_stay_in_its_database_and_reach_its_own_partner(resident):
    kz_partner, uz_partner = FakePartner(), FakePartner()
    await kz_partner.start()
    await uz_partner.start()
    try:
        ids = {await add_partner_of(resident, resident.kz_id, "RES", kz_partner.endpoint),
               await add_partner_of(resident, resident.uz_id, "HOM", uz_partner.endpoint)}
        assert ids == {1}  # the same id in each database
        for station in (KZ_STATION, UZ_STATION):
            async with connected_peer(resident.ocpp_url, station, "1.6"):
                pass  # online, then offline: each EVSE's status, twice
        kz_taken, uz_taken = await kz_partner.until_taken(4), await uz_partner.until_taken(4)
        assert {t.path.rsplit("/", 1)[0] for t in kz_taken} == {"KZ/RES/ALA-TEST"}
        assert {t.path.rsplit("/", 1)[1].split("*")[0] for t in kz_taken} == {KZ_STATION}
        assert {t.path.rsplit("/", 1)[0] for t in uz_taken} == {"KZ/HOM/ALA-TEST"}
        assert {t.path.rsplit("/", 1)[1].split("*")[0] for t in uz_taken} == {UZ_STATION}
        in_kz = rows(resident.kz_url, "SELECT DISTINCT object_key FROM roaming_outbox")
        in_platform = rows(resident.platform_url, "SELECT DISTINCT object_key FROM roaming_outbox")
        assert in_kz and all(KZ_STATION in key for (key,) in in_kz)
        assert in_platform and all(UZ_STATION in key for (key,) in in_platform)
    finally:
        await kz_partner.stop()
        await uz_partner.stop()
