"""The OCPI peer itself, before it meets silkcharge: it starts, answers as an OCPI 2.2.1 party
over a real socket, and two of them complete the credentials handshake. When a test against
silkcharge fails, these say the harness is not the reason."""

from __future__ import annotations

import httpx
import pytest

from tests.roaming.peer.fixture import authorization, require_peer_environment


@pytest.mark.slow  # starts peer processes
async def test_the_peer_answers_its_versions_endpoint_with_its_token_a(ocpi_peer):
    async with httpx.AsyncClient(timeout=10) as client:
        versions = await client.get(
            ocpi_peer.versions_url, headers=authorization(ocpi_peer.token_a)
        )
        assert versions.status_code == 200
        assert versions.json()["status_code"] == 1000
        assert versions.json()["data"] == [
            {"version": "2.2.1", "url": f"{ocpi_peer.base_url}/ocpi/2.2.1/details"}
        ]
        details = await client.get(
            versions.json()["data"][0]["url"], headers=authorization(ocpi_peer.token_a)
        )

    assert details.json()["data"]["version"] == "2.2.1"
    endpoints = {(e["identifier"], e["role"]) for e in details.json()["data"]["endpoints"]}
    assert {
        ("credentials", "RECEIVER"),
        ("locations", "RECEIVER"),
        ("tariffs", "RECEIVER"),
        ("sessions", "RECEIVER"),
        ("cdrs", "RECEIVER"),
        ("tokens", "SENDER"),
    } <= endpoints


@pytest.mark.slow  # starts peer processes
async def test_the_peer_refuses_a_token_it_never_issued(ocpi_peer):
    async with httpx.AsyncClient(timeout=10) as client:
        answer = await client.get(
            ocpi_peer.versions_url, headers=authorization("a-token-nobody-issued")
        )

    assert answer.status_code == 401


@pytest.mark.slow  # starts peer processes
async def test_the_peer_keeps_each_request_it_received_with_its_answer(ocpi_peer):
    async with httpx.AsyncClient(timeout=10) as client:
        await client.get(ocpi_peer.versions_url, headers=authorization(ocpi_peer.token_a))

    seen = await ocpi_peer.wait_for_request(lambda r: r["path"] == "/ocpi/versions")
    assert seen["method"] == "GET"
    assert seen["authorization"] == authorization(ocpi_peer.token_a)["Authorization"]
    assert (seen["status"], seen["response"]["status_code"]) == (200, 1000)


@pytest.mark.slow  # starts peer processes
async def test_two_peers_complete_the_credentials_handshake(ocpi_peer_factory):
    emsp = ocpi_peer_factory(party_id="EMS")
    cpo = ocpi_peer_factory(party_id="CPX", roles=("CPO",))

    result = await emsp.register_with(cpo.versions_url, cpo.token_a)

    assert result["ok"], result
    [at_cpo] = await cpo.partners()
    [at_emsp] = await emsp.partners()
    assert (at_cpo["initiated_by"], at_emsp["initiated_by"]) == ("them", "us")
    assert at_cpo["their_token"] == at_emsp["our_token"]  # token B: the CPO calls the eMSP with it
    assert at_emsp["their_token"] == at_cpo["our_token"]  # token C: the eMSP calls the CPO with it
    # Before answering, the CPO's library called the eMSP's versions endpoint with token B.
    token_b = authorization(at_emsp["our_token"])["Authorization"]
    callback = await emsp.wait_for_request(lambda r: r["authorization"] == token_b)
    assert (callback["path"], callback["status"]) == ("/ocpi/versions", 200)
    locations = next(e["url"] for e in at_emsp["endpoints"] if e["identifier"] == "locations")
    async with httpx.AsyncClient(timeout=10) as client:
        with_token_c = await client.get(locations, headers=authorization(at_emsp["their_token"]))
    assert (with_token_c.status_code, with_token_c.json()["status_code"]) == (200, 1000)


@pytest.mark.slow  # starts peer processes
async def test_a_used_token_a_registers_no_second_party(ocpi_peer_factory):
    cpo = ocpi_peer_factory(party_id="CPX", roles=("CPO",))
    first = ocpi_peer_factory(party_id="ONE")
    second = ocpi_peer_factory(party_id="TWO")
    assert (await first.register_with(cpo.versions_url, cpo.token_a))["ok"]

    again = await second.register_with(cpo.versions_url, cpo.token_a)

    assert not again["ok"]
    assert again["steps"][-1]["status"] == 401
    assert len(await cpo.partners()) == 1


@pytest.mark.parametrize("in_ci", [False, True], ids=["locally", "in-ci"])
def test_a_missing_peer_environment_skips_locally_and_fails_in_ci(monkeypatch, tmp_path, in_ci):
    monkeypatch.setenv("OCPI_PEER_PYTHON", str(tmp_path / "no-such-python"))
    if in_ci:
        monkeypatch.setenv("CI", "true")
    else:
        monkeypatch.delenv("CI", raising=False)

    outcome = pytest.fail.Exception if in_ci else pytest.skip.Exception
    with pytest.raises(outcome, match="make ocpi-peer"):
        require_peer_environment()
