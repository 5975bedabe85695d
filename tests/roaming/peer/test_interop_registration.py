"""The OCPI 2.2.1 credentials handshake between silkcharge and a party that is not silkcharge
(the extrawest-ocpi peer, tests/roaming/peer/server.py), over real sockets, in both
directions: the peer registers with silkcharge, and silkcharge registers with the peer.

`kz` is a running silkcharge network, a CPO (tests/roaming/conftest.py); the peer is an eMSP.
"""

from __future__ import annotations

import pytest

from silkcharge.roaming.client import OcpiClient
from tests.roaming.conftest import invite, register
from tests.roaming.peer.fixture import authorization

pytestmark = pytest.mark.slow  # starts a peer process


def _parties(roles: list[dict]) -> set[tuple[str, str, str]]:
    return {(r["country_code"].upper(), r["party_id"].upper(), r["role"]) for r in roles}


async def test_the_peer_registers_with_silkcharge_using_the_token_a_of_an_invitation(kz, ocpi_peer):
    invitation = await invite(kz, "Extrawest peer")

    result = await ocpi_peer.register_with(
        invitation["versions_url"], invitation["credentials_token"]
    )

    assert result["ok"], result
    # silkcharge answered with token C and its own parties ...
    assert _parties(result["credentials"]["roles"]) == {("KZ", "SLK", "CPO")}
    [at_peer] = await ocpi_peer.partners()
    assert at_peer["their_token"] == result["credentials"]["token"]
    # ... after calling the peer's versions endpoint with the token B the peer sent it.
    token_b = authorization(at_peer["our_token"])["Authorization"]
    callback = await ocpi_peer.wait_for_request(lambda r: r["authorization"] == token_b)
    assert (callback["path"], callback["status"]) == ("/ocpi/versions", 200)
    [seen] = (await kz.api.get("/api/v1/roaming/partners")).json()
    assert seen["state"] == "registered"
    assert _parties(seen["roles"]) == {("NL", "EXW", "EMSP")}
    assert {e["identifier"] for e in seen["endpoints"]} >= {"credentials", "locations", "tariffs"}
    # Token C now opens silkcharge's OCPI side for the peer; token A no longer does.
    assert (await kz.ocpi("GET", "2.2.1/credentials", at_peer["their_token"])).status_code == 200
    assert (await kz.ocpi("GET", "versions", invitation["credentials_token"])).status_code == 401


async def test_silkcharge_registers_with_the_peer_using_the_peers_token_a(kz, ocpi_peer):
    answer = await register(kz, "Extrawest peer", ocpi_peer.versions_url, ocpi_peer.token_a)

    assert answer.status_code == 201, answer.text + "\n" + ocpi_peer.log()
    joined = answer.json()
    assert joined["state"] == "registered" and joined["version"] == "2.2.1"
    assert _parties(joined["roles"]) == {("NL", "EXW", "EMSP")}
    locations = [e for e in joined["endpoints"] if e["identifier"] == "locations"]
    assert locations == [
        {
            "identifier": "locations",
            "role": "RECEIVER",
            "url": f"{ocpi_peer.base_url}/ocpi/emsp/2.2.1/locations/",
        }
    ]
    # The peer's library called silkcharge back (versions, then details) with silkcharge's
    # token B before it answered: it kept silkcharge's endpoints from that call.
    [at_peer] = await ocpi_peer.partners()
    assert at_peer["initiated_by"] == "them"
    assert at_peer["versions_url"] == kz.versions_url
    assert any(e["identifier"] == "credentials" for e in at_peer["endpoints"])
    # silkcharge now calls the peer with the token C the peer issued, and the peer accepts it.
    assert (await kz.partner_row()).token_to_them == at_peer["our_token"]
    # The peer's token A was used up.
    assert (
        await register(kz, "again", ocpi_peer.versions_url, ocpi_peer.token_a)
    ).status_code == 422


# The peer's Link names https, /ocpi/cpo/VersionNumber.v_2_2_1/ModuleID.tokens/ and
# date_from=None (docs/roaming.md, Interoperability): the client does not follow a link that
# leaves the endpoint, and asks the next page by offset.
async def test_silkcharge_reads_every_page_of_a_list_the_peer_serves(kz, ocpi_peer):
    for n in range(3):
        await ocpi_peer.seed(
            "tokens",
            {
                "country_code": "NL",
                "party_id": "EXW",
                "uid": f"RFID-{n}",
                "type": "RFID",
                "contract_id": f"NL-EXW-C{n}",
                "issuer": "Extrawest",
                "valid": True,
                "whitelist": "ALLOWED",
                "last_updated": "2026-12-04T10:00:00Z",
            },
        )
    answer = await register(kz, "Extrawest peer", ocpi_peer.versions_url, ocpi_peer.token_a)
    assert answer.status_code == 201, answer.text
    tokens = next(e["url"] for e in answer.json()["endpoints"] if e["identifier"] == "tokens")

    async with OcpiClient((await kz.partner_row()).token_to_them) as client:
        uids = [token["uid"] async for token in client.pages(tokens, {"limit": 2})]

    assert sorted(uids) == ["rfid-0", "rfid-1", "rfid-2"]
