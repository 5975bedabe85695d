"""The OCPI client against a platform on a real port: what it sends, what it accepts as an
answer, how it follows pages, and how it fails."""

from __future__ import annotations

import asyncio
import base64
import ssl

import pytest
from fastapi import Request
from fastapi.responses import JSONResponse, Response

from silkcharge.roaming.client import OcpiClient, OcpiPeerError, PartyHeaders
from silkcharge.roaming.wire import Status
from silkcharge.security.outbound import verifying_context
from tests.e2e.server_process import free_port
from tests.roaming.foreign import envelope, foreign_platform

ITEMS = [{"id": f"LOC{n:03d}"} for n in range(7)]


def _paged(request: Request) -> Response:
    offset, limit = int(request.query_params.get("offset", 0)), int(request.query_params.get("limit", 3))
    headers = {"X-Total-Count": str(len(ITEMS)), "X-Limit": str(limit)}
    if offset + limit < len(ITEMS):
        headers["Link"] = f'<{str(request.url.include_query_params(offset=offset + limit, limit=limit))}>; rel="next"'
    return JSONResponse(envelope(ITEMS[offset:offset + limit]), headers=headers)


async def test_every_partner_client_checks_certificates_with_the_one_trust_store_of_the_process():
    """The roaming push builds a client per partner request; loading the CA bundle for each
    cost ~30 ms of CPU. Every client shares one context, and that context still verifies."""
    async with OcpiClient("a") as first, OcpiClient("b") as second:
        contexts = [client._http._transport._pool._ssl_context for client in (first, second)]
    assert contexts == [verifying_context(), verifying_context()]
    assert verifying_context().verify_mode == ssl.CERT_REQUIRED
    assert verifying_context().check_hostname


async def test_every_request_carries_the_base64_token_fresh_request_ids_one_correlation_id_and_party_headers():
    async with foreign_platform() as foreign:
        foreign.versions = envelope([])
        parties = PartyHeaders("KZ", "SLK", "UZ", "UZE")
        async with OcpiClient("token-ç-1", party_headers=parties) as client:
            await client.get(foreign.versions_url)
            await client.get(foreign.versions_url)
        (_, _, first), (_, _, second) = foreign.requests
    assert first["authorization"] == "Token " + base64.b64encode("token-ç-1".encode()).decode()
    assert first["x-request-id"] != second["x-request-id"]
    assert first["x-correlation-id"] == second["x-correlation-id"] == client.correlation_id
    assert (first["ocpi-from-country-code"], first["ocpi-from-party-id"]) == ("KZ", "SLK")
    assert (first["ocpi-to-country-code"], first["ocpi-to-party-id"]) == ("UZ", "UZE")


async def test_pages_are_followed_through_their_link_headers_to_the_last():
    async with foreign_platform() as foreign:
        foreign.routes["locations"] = _paged
        async with OcpiClient("t") as client:
            seen = [item async for item in client.pages(f"{foreign.url}/locations", {"limit": 3})]
        paths = [path for _, path, _ in foreign.requests]
    assert seen == ITEMS and len(paths) == 3


async def test_a_link_that_leaves_the_endpoint_is_not_followed_and_the_next_pages_are_asked_by_offset():
    elsewhere = f"http://127.0.0.1:{free_port()}/steal"  # nothing listens: a request there would fail the test

    def misleading(request: Request) -> Response:
        answer = _paged(request)
        if "link" in answer.headers:
            answer.headers["Link"] = f'<{elsewhere}?offset=3>; rel="next"'
        return answer

    async with foreign_platform() as foreign:
        foreign.routes["locations"] = misleading
        async with OcpiClient("t") as client:
            seen = [item async for item in client.pages(f"{foreign.url}/locations", {"limit": 3})]
        asked = [headers.get("authorization") for _, _, headers in foreign.requests]
    assert seen == ITEMS
    assert len(asked) == 3 and all(token == asked[0] for token in asked)  # all to the list's own endpoint


@pytest.mark.parametrize("answer, status, http_status, words", [
    (lambda _: JSONResponse(envelope(None, 2003) | {"status_message": "no location X"}, status_code=404),
     Status.UNKNOWN_LOCATION, 404, "no location X"),
    (lambda _: JSONResponse(envelope(None, 2001) | {"status_message": "bad"}), Status.INVALID_PARAMETERS, 200, "bad"),
    (lambda _: Response(b"<html>gateway</html>", status_code=502), Status.UNABLE_TO_USE_CLIENT_API, 502,
     "without an OCPI envelope"),
    (lambda _: JSONResponse({"data": []}), Status.UNABLE_TO_USE_CLIENT_API, 200, "status_code missing"),
], ids=["refusal-with-http-error", "refusal-in-200", "html", "no-status-code"])
async def test_an_answer_other_than_a_2xx_success_envelope_is_an_error_that_says_what_came_back(
    answer, status, http_status, words,
):
    async with foreign_platform() as foreign:
        foreign.routes["thing"] = answer
        async with OcpiClient("t") as client:
            with pytest.raises(OcpiPeerError) as failed:
                await client.get(f"{foreign.url}/thing")
    assert failed.value.status == status and failed.value.http_status == http_status
    assert words in str(failed.value)


async def test_no_answer_in_time_and_no_listener_are_errors_without_an_http_status():
    silent_port = free_port()
    accepted: list[asyncio.StreamWriter] = []

    async def never_answer(_reader, writer):
        accepted.append(writer)

    server = await asyncio.start_server(never_answer, "127.0.0.1", silent_port)
    try:
        async with OcpiClient("t", timeout=0.3) as client:
            with pytest.raises(OcpiPeerError) as silent:
                await client.get(f"http://127.0.0.1:{silent_port}/versions")
            with pytest.raises(OcpiPeerError) as nobody:
                await client.get(f"http://127.0.0.1:{free_port()}/versions")
    finally:
        for writer in accepted:
            writer.close()
        server.close()
        await server.wait_closed()
    assert "no answer in time" in str(silent.value) and silent.value.http_status is None
    assert "could not connect" in str(nobody.value) and nobody.value.http_status is None


@pytest.mark.parametrize("url", ["https://\u00e9\x0e]~/versions", "http://exa mple.org/versions", "https://[::1/versions"])
async def test_a_url_no_http_client_can_use_is_an_ocpi_error_not_a_crash(url):
    async with OcpiClient("t") as client:
        with pytest.raises(OcpiPeerError) as refused:
            await client.get(url)
    assert refused.value.status == Status.UNABLE_TO_USE_CLIENT_API
