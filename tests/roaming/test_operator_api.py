"""The operator API of roaming (/api/v1/roaming): identities, who may do what, tenants kept
apart, and the answers to bad requests."""

from __future__ import annotations

import pytest

from silkcharge.domain.roles import Role
from silkcharge.services.access import Principal
from tests.roaming.conftest import UZ_IDENTITY, invite, register

BOOT = Principal("key", None, "test bootstrap", Role.PLATFORM_ADMIN, None)
BETA_IDENTITY = {"country_code": "KZ", "party_id": "BTA", "role": "CPO", "business_name": "Beta Charge Astana"}


async def test_identities_are_replaced_as_a_whole_and_read_back_upper_case(kz):
    answer = await kz.api.put("/api/v1/roaming/identities", json=[
        {"country_code": "kz", "party_id": "slk", "role": "CPO", "business_name": "Silk Charge Kazakhstan"},
        {"country_code": "KZ", "party_id": "SLK", "role": "EMSP", "business_name": "Silk Charge Drivers"},
    ])
    assert answer.status_code == 200, answer.text
    assert {(i["country_code"], i["party_id"], i["role"]) for i in answer.json()} == {
        ("KZ", "SLK", "CPO"), ("KZ", "SLK", "EMSP")}
    assert len((await kz.api.get("/api/v1/roaming/identities")).json()) == 2


async def test_the_same_identity_twice_is_a_conflict_and_changes_nothing(kz):
    body = [{"country_code": "KZ", "party_id": "SLK", "role": "CPO", "business_name": "A"},
            {"country_code": "kz", "party_id": "slk", "role": "CPO", "business_name": "B"}]
    before = (await kz.api.get("/api/v1/roaming/identities")).json()
    answer = await kz.api.put("/api/v1/roaming/identities", json=body)
    assert answer.status_code == 409 and "once" in answer.json()["detail"]
    assert (await kz.api.get("/api/v1/roaming/identities")).json() == before


@pytest.mark.parametrize("path, body, field", [
    ("/api/v1/roaming/identities", [{"country_code": "KAZ", "party_id": "SLK", "role": "CPO",
                                     "business_name": "x"}], "country_code"),
    ("/api/v1/roaming/identities", [{"country_code": "KZ", "party_id": "SLK", "role": "HUB",
                                     "business_name": "x"}], "role"),
    ("/api/v1/roaming/partners/register", {"name": "x", "versions_url": "ftp://x.example/versions",
                                           "credentials_token": "a"}, "versions_url"),
    ("/api/v1/roaming/partners/register", {"name": "x", "versions_url": "https://x.example/versions",
                                           "credentials_token": "with space"}, "credentials_token"),
    ("/api/v1/roaming/partners/register", {"name": "x", "versions_url": "https://\u00e9\u000e]~.example/v",
                                           "credentials_token": "a"}, "versions_url"),
    ("/api/v1/roaming/partners/invite", {"name": ""}, "name"),
])
async def test_a_bad_request_is_a_422_naming_the_field(kz, path, body, field):
    method = kz.api.put if path.endswith("identities") else kz.api.post
    answer = await method(path, json=body)
    assert answer.status_code == 422 and field in answer.json()["detail"], answer.text


async def test_an_unknown_partner_is_404_and_a_partner_in_the_wrong_state_is_409(kz):
    invited = (await invite(kz, "UzEnergy"))["partner"]["id"]
    assert (await kz.api.get("/api/v1/roaming/partners/999")).status_code == 404
    assert (await kz.api.post("/api/v1/roaming/partners/999/unregister")).status_code == 404
    for action in ("update", "unregister"):
        answer = await kz.api.post(f"/api/v1/roaming/partners/{invited}/{action}")
        assert answer.status_code == 409 and "invited" in answer.json()["detail"]


async def test_a_viewer_reads_partners_but_may_not_invite(kz):
    _, key = await kz.platform.access.create_key(BOOT, "viewer", Role.VIEWER, 1, None)
    headers = {"X-API-Key": key}
    assert (await kz.api.get("/api/v1/roaming/partners", headers=headers)).status_code == 200
    refused = await kz.api.post("/api/v1/roaming/partners/invite", json={"name": "x"}, headers=headers)
    assert refused.status_code == 403 and "roaming:write" in refused.json()["detail"]


async def test_a_partner_belongs_to_the_tenant_that_invited_it_and_speaks_with_that_tenants_identity(kz, uz):
    beta = await kz.platform.access.create_tenant("beta", "Beta Charge")
    _, key = await kz.platform.access.create_key(BOOT, "beta admin", Role.OPERATOR_ADMIN, beta.id, None)
    as_beta = {"X-API-Key": key}
    assert (await kz.api.put("/api/v1/roaming/identities", json=[BETA_IDENTITY], headers=as_beta)).status_code == 200
    invited = await kz.api.post("/api/v1/roaming/partners/invite", json={"name": "UzEnergy"}, headers=as_beta)
    invitation = invited.json()

    assert (await register(uz, "Beta", invitation["versions_url"], invitation["credentials_token"])).status_code == 201

    partner_id = invitation["partner"]["id"]
    assert (await kz.api.get("/api/v1/roaming/partners")).json() == []  # tenant 1 sees none of beta's
    assert (await kz.api.get(f"/api/v1/roaming/partners/{partner_id}")).status_code == 404
    assert (await kz.api.post(f"/api/v1/roaming/partners/{partner_id}/unregister")).status_code == 404
    (seen,) = (await kz.api.get("/api/v1/roaming/partners", headers=as_beta)).json()
    assert seen["state"] == "registered" and seen["roles"][0]["party_id"] == UZ_IDENTITY["party_id"]
    # UZ got beta's parties, not tenant 1's, and its token opens beta's side only.
    (joined,) = (await uz.api.get("/api/v1/roaming/partners")).json()
    assert [(r["country_code"], r["party_id"]) for r in joined["roles"]] == [("KZ", "BTA")]
    token_c = (await uz.partner_row()).token_to_them
    ours = (await kz.ocpi("GET", "2.2.1/credentials", token_c)).json()["data"]
    assert [r["party_id"] for r in ours["roles"]] == ["BTA"]
    assert (await kz.partner_row()).tenant_id == beta.id


async def test_a_platform_admin_names_the_tenant_before_changing_identities_or_partners(kz):
    _, key = await kz.platform.access.create_key(BOOT, "platform admin", Role.PLATFORM_ADMIN, None, None)
    admin = {"X-API-Key": key}
    before = (await kz.api.get("/api/v1/roaming/identities")).json()
    for method, path, body in (("PUT", "/api/v1/roaming/identities", []),
                               ("POST", "/api/v1/roaming/partners/invite", {"name": "x"}),
                               ("POST", "/api/v1/roaming/partners/register",
                                {"name": "x", "versions_url": "http://127.0.0.1:9/versions", "credentials_token": "a"})):
        refused = await kz.api.request(method, path, json=body, headers=admin)
        assert refused.status_code == 403 and "X-Tenant" in refused.json()["detail"], path
    assert (await kz.api.get("/api/v1/roaming/identities")).json() == before  # nothing replaced
    assert (await kz.api.get("/api/v1/roaming/partners")).json() == []
    chosen = await kz.api.post("/api/v1/roaming/partners/invite", json={"name": "x"},
                               headers={**admin, "X-Tenant": "default"})
    assert chosen.status_code == 201
