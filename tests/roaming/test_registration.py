"""The OCPI 2.2.1 credentials exchange between two silkcharge networks over real HTTP: invite,
register, renew, unregister, in both directions, and what each side refuses."""

from __future__ import annotations

import re

import pytest

from tests.roaming.conftest import KZ_IDENTITY, UZ_IDENTITY, invite, register

UNKNOWN = "a-token-nobody-was-given"


def _parties(roles: list[dict]) -> set[tuple[str, str, str]]:
    return {(r["country_code"], r["party_id"], r["role"]) for r in roles}


@pytest.mark.parametrize("inviter_is_cpo", [True, False], ids=["cpo-invites", "emsp-invites"])
async def test_an_invitation_and_a_registration_leave_both_sides_registered_with_each_others_parties(
    kz, uz, inviter_is_cpo,
):
    inviter, joiner = (kz, uz) if inviter_is_cpo else (uz, kz)
    invitation = await invite(inviter, "partner")
    token_a = invitation["credentials_token"]
    assert invitation["versions_url"] == inviter.versions_url and invitation["partner"]["state"] == "invited"

    answer = await register(joiner, "partner", invitation["versions_url"], token_a)

    assert answer.status_code == 201, answer.text
    joined = answer.json()
    assert joined["state"] == "registered" and joined["version"] == "2.2.1"
    inviter_party = KZ_IDENTITY if inviter_is_cpo else UZ_IDENTITY
    joiner_party = UZ_IDENTITY if inviter_is_cpo else KZ_IDENTITY
    assert _parties(joined["roles"]) == {(inviter_party["country_code"], inviter_party["party_id"],
                                          inviter_party["role"])}
    assert {"identifier": "credentials", "role": "SENDER", "url": f"{inviter.url}/ocpi/2.2.1/credentials"} \
        in joined["endpoints"]
    (seen,) = (await inviter.api.get("/api/v1/roaming/partners")).json()
    assert seen["state"] == "registered" and seen["versions_url"] == joiner.versions_url
    assert _parties(seen["roles"]) == {(joiner_party["country_code"], joiner_party["party_id"], joiner_party["role"])}
    assert any(e["identifier"] == "credentials" and e["url"].startswith(joiner.url) for e in seen["endpoints"])

    # Each side calls the other with the token the other issued: the joiner with C, the inviter with B.
    token_c = (await joiner.partner_row()).token_to_them
    token_b = (await inviter.partner_row()).token_to_them
    assert len({token_a, token_b, token_c}) == 3
    assert (await inviter.ocpi("GET", "2.2.1/credentials", token_c)).json()["data"]["token"] == token_c
    assert (await joiner.ocpi("GET", "2.2.1/credentials", token_b)).status_code == 200
    # Token A was for one registration only.
    refused = await inviter.ocpi("GET", "versions", token_a)
    assert refused.status_code == 401 and refused.json()["status_code"] == 2000


async def test_no_token_is_shown_by_the_operator_api_or_kept_in_clear_for_the_partner_to_call_us(registered):
    kz, uz = registered
    token_c = (await uz.partner_row()).token_to_them
    token_b = (await kz.partner_row()).token_to_them
    for network in (kz, uz):
        listed = (await network.api.get("/api/v1/roaming/partners")).text
        one = (await network.api.get(f"/api/v1/roaming/partners/{(await network.partner_row()).id}")).text
        assert token_b not in listed + one and token_c not in listed + one
        # No field named token*; the values may say "tokens" (the OCPI module of that name).
        assert re.search(r'"token[^"]*"\s*:', listed + one) is None
    kz_row, uz_row = await kz.partner_row(), await uz.partner_row()
    assert kz_row.token_to_us_digest != token_c and len(kz_row.token_to_us_digest) == 64
    assert uz_row.token_to_us_digest != token_b


async def test_the_version_details_list_credentials_at_absolute_urls_for_any_registering_token(kz):
    token_a = (await invite(kz, "anyone"))["credentials_token"]
    versions = (await kz.ocpi("GET", "versions", token_a)).json()
    assert versions["status_code"] == 1000 and versions["data"] == [{"version": "2.2.1", "url": f"{kz.url}/ocpi/2.2.1"}]
    details = (await kz.ocpi("GET", "2.2.1", token_a)).json()["data"]
    assert details["version"] == "2.2.1"
    assert {(e["identifier"], e["role"], e["url"]) for e in details["endpoints"]} >= {
        ("credentials", "SENDER", f"{kz.url}/ocpi/2.2.1/credentials"),
        ("credentials", "RECEIVER", f"{kz.url}/ocpi/2.2.1/credentials"),
    }


async def test_renewing_the_credentials_issues_new_tokens_both_ways_and_the_old_ones_stop_working(registered):
    kz, uz = registered
    old_c, old_b = (await uz.partner_row()).token_to_them, (await kz.partner_row()).token_to_them

    answer = await uz.api.post(f"/api/v1/roaming/partners/{(await uz.partner_row()).id}/update")

    assert answer.status_code == 200, answer.text
    assert answer.json()["state"] == "registered" and answer.json()["last_error"] is None
    new_c, new_b = (await uz.partner_row()).token_to_them, (await kz.partner_row()).token_to_them
    assert new_c != old_c and new_b != old_b
    assert (await kz.ocpi("GET", "2.2.1/credentials", old_c)).status_code == 401
    assert (await uz.ocpi("GET", "2.2.1/credentials", old_b)).status_code == 401
    assert (await kz.ocpi("GET", "2.2.1/credentials", new_c)).status_code == 200
    assert (await uz.ocpi("GET", "2.2.1/credentials", new_b)).status_code == 200
    assert (await kz.partner_row()).state == (await uz.partner_row()).state == "registered"


async def test_unregistering_tells_the_partner_and_neither_token_is_accepted_afterwards(registered):
    kz, uz = registered
    token_c, token_b = (await uz.partner_row()).token_to_them, (await kz.partner_row()).token_to_them

    answer = await uz.api.post(f"/api/v1/roaming/partners/{(await uz.partner_row()).id}/unregister")

    assert answer.status_code == 200, answer.text
    assert answer.json()["state"] == "unregistered" and answer.json()["last_error"] is None
    (seen,) = (await kz.api.get("/api/v1/roaming/partners")).json()
    assert seen["state"] == "unregistered"
    for network, token in ((kz, token_c), (uz, token_b)):
        refused = await network.ocpi("GET", "versions", token)
        assert refused.status_code == 401 and refused.json()["status_code"] == 2000
    again = await uz.api.post(f"/api/v1/roaming/partners/{(await uz.partner_row()).id}/unregister")
    assert again.status_code == 409 and "unregistered" in again.json()["detail"]


async def test_a_partner_deleting_its_credentials_unregisters_it(registered):
    kz, uz = registered
    token_c = (await uz.partner_row()).token_to_them

    answer = await kz.ocpi("DELETE", "2.2.1/credentials", token_c)

    assert answer.status_code == 200 and answer.json()["status_code"] == 1000
    assert (await kz.partner_row()).state == "unregistered"
    assert (await kz.ocpi("GET", "versions", token_c)).status_code == 401


async def test_posting_credentials_again_when_registered_is_405_and_changes_nothing(registered):
    kz, uz = registered
    token_c = (await uz.partner_row()).token_to_them
    ours = (await uz.ocpi("GET", "2.2.1/credentials", (await kz.partner_row()).token_to_them)).json()["data"]

    answer = await kz.ocpi("POST", "2.2.1/credentials", token_c, json=ours)

    assert answer.status_code == 405 and answer.json()["status_code"] == 2000
    assert "already registered" in answer.json()["status_message"]
    assert (await kz.ocpi("GET", "2.2.1/credentials", token_c)).status_code == 200


async def test_updating_or_deleting_credentials_before_registering_is_405_and_the_invitation_stays(kz, uz):
    token_a = (await invite(kz, "UzEnergy"))["credentials_token"]
    body = {"token": "some-token-b", "url": uz.versions_url,
            "roles": [{"role": "EMSP", "party_id": "UZE", "country_code": "UZ",
                       "business_details": {"name": "UzEnergy"}}]}

    deleted = await kz.ocpi("DELETE", "2.2.1/credentials", token_a)
    updated = await kz.ocpi("PUT", "2.2.1/credentials", token_a, json=body)

    assert (deleted.status_code, deleted.json()["status_code"]) == (405, 2000)
    assert (updated.status_code, updated.json()["status_code"]) == (405, 2000)
    assert (await kz.ocpi("GET", "versions", token_a)).status_code == 200
    assert (await kz.partner_row()).state == "invited"


@pytest.mark.parametrize("authorization", [
    None, "Token", "Token !!!not-base64!!!", "Bearer whatever", "Token YS10b2tlbi1ub2JvZHktd2FzLWdpdmVu",
], ids=["missing", "empty", "garbled", "other-scheme", "unknown"])
async def test_a_missing_garbled_or_unknown_token_is_http_401_with_an_ocpi_2000_envelope(kz, authorization):
    headers = {"Authorization": authorization} if authorization is not None else {}
    headers["X-Request-ID"] = "req-1"
    for path in ("versions", "2.2.1", "2.2.1/credentials"):
        answer = await kz.ocpi("GET", path, None, headers=headers)
        assert answer.status_code == 401
        body = answer.json()
        assert body["status_code"] == 2000 and body["data"] is None and body["timestamp"].endswith("Z")
        assert answer.headers["X-Request-ID"] == "req-1"


async def test_a_malformed_credentials_body_is_2001_and_leaves_the_invitation_usable(kz, uz):
    token_a = (await invite(kz, "UzEnergy"))["credentials_token"]
    bodies = [
        {"content": b"{not json"},
        {"json": {"token": "b", "url": uz.versions_url}},  # no roles
        {"json": {"token": "b", "url": "ftp://nowhere", "roles": []}},
        {"json": {"token": "x" * 65, "url": uz.versions_url, "roles": [
            {"role": "EMSP", "party_id": "UZE", "country_code": "UZ", "business_details": {"name": "U"}}]}},
        {"json": {"token": "b", "url": uz.versions_url, "roles": [
            {"role": "DRIVER", "party_id": "TOOLONG", "country_code": "UZ", "business_details": {}}]}},
        {"json": ["a", "list"]},
    ]
    for body in bodies:
        answer = await kz.ocpi("POST", "2.2.1/credentials", token_a, **body)
        assert answer.status_code == 400, (body, answer.text)
        assert answer.json()["status_code"] == 2001 and answer.json()["status_message"], body
    assert (await kz.ocpi("GET", "versions", token_a)).status_code == 200
    assert (await kz.partner_row()).state == "invited"


async def test_every_ocpi_answer_echoes_the_request_and_correlation_ids_and_an_unknown_path_is_an_envelope(kz):
    token_a = (await invite(kz, "anyone"))["credentials_token"]
    answer = await kz.ocpi("GET", "versions", token_a, headers={"X-Request-ID": "r-42", "X-Correlation-ID": "c-7"})
    assert answer.headers["X-Request-ID"] == "r-42" and answer.headers["X-Correlation-ID"] == "c-7"
    made_up = await kz.ocpi("GET", "versions", token_a)
    assert made_up.headers["X-Request-ID"] and made_up.headers["X-Correlation-ID"]
    missing = await kz.ocpi("GET", "2.2.1/nothing-here", token_a, headers={"X-Request-ID": "r-43"})
    assert missing.status_code == 404 and missing.json()["status_code"] == 2000
    assert missing.headers["X-Request-ID"] == "r-43"
    wrong_method = await kz.ocpi("PATCH", "2.2.1/credentials", token_a)
    assert wrong_method.status_code == 405 and wrong_method.json()["status_code"] == 2000


async def test_the_audit_trail_records_invitations_and_registrations_without_their_tokens(kz, uz):
    invitation = await invite(kz, "UzEnergy")
    token_a = invitation["credentials_token"]
    assert (await register(uz, "Silk Charge KZ", invitation["versions_url"], token_a)).status_code == 201
    for network in (kz, uz):
        trail = await network.api.get("/api/v1/audit", params={"action": "roaming"})
        assert trail.status_code == 200 and trail.json(), trail.text
        assert token_a not in trail.text and "(redacted)" in trail.text
