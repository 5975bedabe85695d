"""Roaming with data residency: a tenant whose rows live in a database of its own keeps its
partners there, and a partner's token still finds it (store/residency.py)."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import pytest

from tests.store.residents import Resident, resident_platform, rows


@pytest.fixture
async def resident() -> AsyncIterator[Resident]:
    async with resident_platform() as built:
        yield built


async def test_a_resident_tenants_partner_lives_in_its_database_and_its_token_is_found_there(resident):
    identity = [{"country_code": "KZ", "party_id": "RES", "role": "CPO", "business_name": "Resident KZ"}]
    assert (await resident.kz.put("/api/v1/roaming/identities", json=identity)).status_code == 200
    invited = await resident.kz.post("/api/v1/roaming/partners/invite", json={"name": "UzEnergy"})
    assert invited.status_code == 201, invited.text
    token_a = invited.json()["credentials_token"]

    assert rows(resident.kz_url, "SELECT name, state FROM roaming_partners") == [("UzEnergy", "invited")]
    assert rows(resident.platform_url, "SELECT name FROM roaming_partners") == []
    authorization = {"Authorization": "Token " + base64.b64encode(token_a.encode()).decode()}
    answer = await resident.driver.get("/ocpi/versions", headers=authorization)
    assert answer.status_code == 200 and answer.json()["status_code"] == 1000, answer.text
    assert (await resident.uz.get("/api/v1/roaming/partners")).json() == []
