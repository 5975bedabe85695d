"""Registration with a platform that cannot be used: the operator is told why (a 4xx with the
reason and the OCPI status), a partner POSTing to us is told with the OCPI status the spec
names (3001, 3002, 3003), and nothing half-made is kept."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tests.e2e.server_process import free_port
from tests.roaming.conftest import invite, register, running_network
from tests.roaming.foreign import envelope, foreign_platform


def _at(body: Any, url: str) -> Any:
    """`body` with "{url}" replaced by the foreign platform's address."""
    if body is None or isinstance(body, bytes):
        return body
    return json.loads(json.dumps(body).replace("{url}", url))


async def _refused(network, versions_url: str) -> dict:
    answer = await register(network, "foreign", versions_url, "their-token-a")
    assert answer.status_code == 422, answer.text
    assert (await network.api.get("/api/v1/roaming/partners")).json() == []  # nothing half-made kept
    return answer.json()


@pytest.mark.parametrize("garbage, reason", [
    (b"<html>503 Service Unavailable</html>", "did not answer an OCPI envelope"),
    ({"versions": ["2.2.1"]}, "did not answer an OCPI envelope"),
    (envelope({"version": "2.2.1"}), "no list of versions"),
    (envelope("2.2.1"), "no list of versions"),
], ids=["html", "json-not-envelope", "object-not-list", "string"])
async def test_a_versions_url_answering_garbage_is_refused_with_the_reason(kz, garbage, reason):
    async with foreign_platform() as foreign:
        foreign.versions = garbage
        refusal = await _refused(kz, foreign.versions_url)
    assert reason in refusal["detail"] and "OCPI 3001" in refusal["detail"]
    assert foreign.requests[0][2]["authorization"] == "Token " + base64.b64encode(b"their-token-a").decode()


async def test_a_versions_url_where_nothing_listens_is_refused_as_unreachable(kz):
    refusal = await _refused(kz, f"http://127.0.0.1:{free_port()}/ocpi/versions")
    assert "could not connect" in refusal["detail"]


async def test_a_platform_without_2_2_1_is_refused_with_3002_naming_what_it_offers(kz):
    async with foreign_platform() as foreign:
        foreign.versions = envelope([{"version": "2.1.1", "url": f"{foreign.url}/details"},
                                     {"version": "2.0", "url": f"{foreign.url}/old"}])
        refusal = await _refused(kz, foreign.versions_url)
    assert "OCPI 3002" in refusal["detail"] and "2.1.1, 2.0" in refusal["detail"]


async def test_a_platform_whose_2_2_1_lacks_the_credentials_endpoint_is_refused_with_3003(kz):
    async with foreign_platform() as foreign:
        foreign.versions = envelope([{"version": "2.2.1", "url": f"{foreign.url}/details"}])
        foreign.details = envelope({"version": "2.2.1", "endpoints": [
            {"identifier": "locations", "role": "RECEIVER", "url": f"{foreign.url}/locations"}]})
        refusal = await _refused(kz, foreign.versions_url)
    assert "OCPI 3003" in refusal["detail"] and "credentials" in refusal["detail"]


async def test_a_platform_refusing_our_credentials_is_refused_with_its_own_message(kz):
    async with foreign_platform() as foreign:
        foreign.versions = envelope([{"version": "2.2.1", "url": f"{foreign.url}/details"}])
        foreign.details = envelope({"version": "2.2.1", "endpoints": [
            {"identifier": "credentials", "role": "RECEIVER", "url": f"{foreign.url}/credentials"}]})
        refusal = await _refused(kz, foreign.versions_url)
        posted = [r for r in foreign.requests if r[0] == "POST"]
    assert "refused our credentials" in refusal["detail"] and "OCPI 2000" in refusal["detail"]
    (_, path, headers), = posted
    assert path == "/credentials" and headers["ocpi-from-country-code"] == "KZ"
    assert headers["ocpi-from-party-id"] == "SLK" and headers["x-request-id"] and headers["x-correlation-id"]


@pytest.mark.parametrize("versions, details, status", [
    (envelope([{"version": "2.1.1", "url": "{url}/details"}]), None, 3002),
    (envelope([{"version": "2.2.1", "url": "{url}/details"}]),
     envelope({"version": "2.2.1", "endpoints": []}), 3003),
    (b"not even json", None, 3001),
], ids=["no-2.2.1", "no-credentials-endpoint", "garbage"])
async def test_a_partner_posting_credentials_from_an_unusable_platform_is_told_why_and_stays_invited(
    kz, versions, details, status,
):
    token_a = (await invite(kz, "foreign"))["credentials_token"]
    async with foreign_platform() as foreign:
        foreign.versions, foreign.details = _at(versions, foreign.url), _at(details, foreign.url)
        answer = await kz.ocpi("POST", "2.2.1/credentials", token_a, json={
            "token": "foreign-token-b", "url": foreign.versions_url,
            "roles": [{"role": "EMSP", "party_id": "FOR", "country_code": "DE", "business_details": {"name": "F"}}]})
        called = foreign.requests[0][2]
    assert answer.status_code == 400 and answer.json()["status_code"] == status, answer.text
    assert called["authorization"] == "Token " + base64.b64encode(b"foreign-token-b").decode()
    assert (await kz.partner_row()).state == "invited"
    assert (await kz.ocpi("GET", "versions", token_a)).status_code == 200


async def test_registering_or_inviting_without_an_identity_of_ours_is_a_conflict(database_url):
    async with running_network("bare", database_url, None) as bare:
        invited = await bare.api.post("/api/v1/roaming/partners/invite", json={"name": "x"})
        registering = await register(bare, "x", "http://127.0.0.1:9/versions", "a")
    assert invited.status_code == registering.status_code == 409
    assert "identity" in invited.json()["detail"] and "identity" in registering.json()["detail"]
