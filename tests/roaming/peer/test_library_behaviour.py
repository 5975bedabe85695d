"""What the peer's library (extrawest-ocpi 2025.7.16) does on the wire where it differs from
OCPI 2.2.1, so docs/roaming.md ("Interoperability") states facts and silkcharge's tests know
what a real-world peer sends. A library upgrade that changes one of these fails here first.

The pair below is an eMSP peer and a CPO peer registered with each other; the tests speak as
the CPO (with the token the eMSP issued it) to the eMSP's receiver endpoints.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.roaming.peer.fixture import OcpiPeer, authorization, running_peer

pytestmark = pytest.mark.slow  # starts peer processes


@dataclass
class Pair:
    emsp: OcpiPeer
    token: str  # what the CPO sends to the eMSP (token B of the handshake)
    endpoints: dict[str, str]  # the eMSP's endpoints, by module identifier


@pytest.fixture(scope="module")
def pair() -> Iterator[Pair]:
    with running_peer(party_id="EMS") as emsp, running_peer(party_id="CPX", roles=("CPO",)) as cpo:
        registered = httpx.post(
            f"{emsp.base_url}/peer/register",
            json={"versions_url": cpo.versions_url, "token": cpo.token_a},
            timeout=60,
        ).json()
        assert registered["ok"], registered
        [at_cpo] = httpx.get(f"{cpo.base_url}/peer/partners", timeout=10).json()
        yield Pair(
            emsp=emsp,
            token=at_cpo["their_token"],
            endpoints={e["identifier"]: e["url"] for e in at_cpo["endpoints"]},
        )


def location(location_id: str, **changes) -> dict:
    connector = {
        "id": "1",
        "standard": "IEC_62196_T2",
        "format": "SOCKET",
        "power_type": "AC_3_PHASE",
        "max_voltage": 230,
        "max_amperage": 32,
        "last_updated": "2026-12-04T10:00:00Z",
    }
    evse = {
        "uid": "EVSE-1",
        "status": "AVAILABLE",
        "connectors": [connector],
        "last_updated": "2026-12-04T10:00:00Z",
    }
    return {
        "country_code": "KZ",
        "party_id": "CPX",
        "id": location_id,
        "publish": True,
        "address": "Abay Avenue 1",
        "city": "Almaty",
        "country": "KAZ",
        "coordinates": {"latitude": "43.238949", "longitude": "76.889709"},
        "time_zone": "Asia/Almaty",
        "evses": [evse],
        "last_updated": "2026-12-04T10:00:00.250Z",
    } | changes


async def test_an_unknown_token_gets_403_on_modules_and_401_on_versions_without_an_envelope(pair):
    async with httpx.AsyncClient(timeout=10) as client:
        answer = await client.get(pair.endpoints["tokens"], headers=authorization("unknown"))
        missing = await client.get(pair.endpoints["tokens"])
        on_versions = await client.get(pair.emsp.versions_url, headers=authorization("unknown"))

    assert (answer.status_code, answer.json()) == (
        403,
        {"detail": "Your authorization token is invalid."},
    )
    assert (missing.status_code, missing.json()) == (403, {"detail": "Not authenticated"})
    assert (on_versions.status_code, on_versions.json()) == (401, {"detail": "Unauthorized"})


async def test_a_token_that_is_not_base64_gets_http_200_with_status_3000(pair):
    async with httpx.AsyncClient(timeout=10) as client:
        answer = await client.get(pair.emsp.versions_url, headers={"Authorization": "Token abc"})

    assert answer.status_code == 200
    assert answer.json()["status_code"] == 3000


async def test_endpoint_urls_end_with_a_slash_that_a_naive_join_doubles(pair):
    base = pair.endpoints["locations"]
    assert base.endswith("/locations/")
    async with httpx.AsyncClient(timeout=10) as client:
        doubled = await client.put(
            f"{base}/KZ/CPX/LOC-A", json=location("LOC-A"), headers=authorization(pair.token)
        )
        joined = await client.put(
            f"{base.rstrip('/')}/KZ/CPX/LOC-A",
            json=location("LOC-A"),
            headers=authorization(pair.token),
        )
        bare_list = await client.get(
            pair.endpoints["tokens"].rstrip("/"), headers=authorization(pair.token)
        )

    assert doubled.status_code == 404
    assert (joined.status_code, joined.json()["status_code"]) == (200, 1000)
    assert bare_list.status_code == 307  # a list without the slash is redirected to it


async def test_a_pushed_location_is_stored_lowercased_and_without_fractional_seconds(pair):
    url = pair.endpoints["locations"] + "KZ/CPX/LOC-B"
    async with httpx.AsyncClient(timeout=10) as client:
        put = await client.put(url, json=location("LOC-B"), headers=authorization(pair.token))
        got = await client.get(url, headers=authorization(pair.token))

    # The answer to PUT and GET of one object is a list of one, not the object.
    assert isinstance(put.json()["data"], list)
    [stored] = got.json()["data"]
    assert (stored["country_code"], stored["party_id"], stored["id"]) == ("kz", "cpx", "loc-b")
    assert stored["evses"][0]["uid"] == "evse-1"
    assert stored["last_updated"] == "2026-12-04T10:00:00Z"
    assert stored["name"] is None  # unset optional fields come back as null, not omitted
    assert [s["id"] for s in await pair.emsp.objects("locations")].count("loc-b") == 1


async def test_an_unknown_or_invalid_object_gets_http_errors_without_an_envelope(pair):
    base = pair.endpoints["locations"]
    async with httpx.AsyncClient(timeout=10) as client:
        unknown = await client.get(base + "KZ/CPX/NOWHERE", headers=authorization(pair.token))
        too_long = await client.put(
            base + "KZ/CPX/LOC-C",
            json=location("LOC-C", address="x" * 46),
            headers=authorization(pair.token),
        )

    assert (unknown.status_code, unknown.json()) == (404, {"detail": "Object not found."})
    assert too_long.status_code == 422
    assert "status_code" not in too_long.json()


async def test_pagination_links_point_nowhere_and_the_last_page_sends_an_empty_link(pair):
    for n in range(3):
        await pair.emsp.seed(
            "tokens",
            {
                "country_code": "NL",
                "party_id": "EMS",
                "uid": f"PAGE-{n}",
                "type": "RFID",
                "contract_id": f"NL-EMS-C{n}",
                "issuer": "EMS",
                "valid": True,
                "whitelist": "ALWAYS",
                "last_updated": "2026-12-04T10:00:00Z",
            },
        )
    async with httpx.AsyncClient(timeout=10) as client:
        first = await client.get(
            pair.endpoints["tokens"], params={"limit": 2}, headers=authorization(pair.token)
        )
        last = await client.get(
            pair.endpoints["tokens"],
            params={"limit": 2, "offset": 2},
            headers=authorization(pair.token),
        )

    assert (first.headers["X-Total-Count"], first.headers["X-Limit"]) == ("3", "2")
    link = first.headers["Link"]
    assert link.startswith("<https://127.0.0.1:")  # https although the peer speaks http
    assert "/ocpi/cpo/VersionNumber.v_2_2_1/ModuleID.tokens/?" in link  # role, version, module
    assert "date_from=None&date_to=None" in link
    assert last.headers["Link"] == ""
    assert len(last.json()["data"]) == 1


async def test_the_answers_carry_no_request_or_correlation_id(pair):
    async with httpx.AsyncClient(timeout=10) as client:
        answer = await client.get(
            pair.endpoints["tokens"],
            headers=authorization(pair.token) | {"X-Request-ID": "r-1", "X-Correlation-ID": "c-1"},
        )

    assert answer.status_code == 200
    assert "X-Request-ID" not in answer.headers
    assert "X-Correlation-ID" not in answer.headers
