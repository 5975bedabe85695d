"""How roaming/http.py mounts an OCPI module and what a module gets from the transport: the
partner's door (registered partners only, in their tenant), paging with public links, and
OCPI envelopes for every error, over a real port."""

from __future__ import annotations

import base64
import types
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import Response

from silkcharge.roaming import http as ocpi_http
from silkcharge.roaming.auth import Caller, ocpi_caller, token_digest
from silkcharge.roaming.wire import Page, ocpi_response
from silkcharge.security.outbound import verifying_context
from silkcharge.server import api_server
from silkcharge.store.schema import RoamingPartner
from silkcharge.store.tenancy import current_tenant
from tests.e2e.server_process import listening_socket, port_of, serving

PUBLIC = "https://ocpi.silkcharge.example"
ROWS = [{"id": f"KZ-ALA-{n}"} for n in range(5)]
REGISTERED, INVITED = "token-c-of-uze", "token-a-of-someone"


def _demo_module() -> types.ModuleType:
    """A module as the locations or tariffs modules are: routers and ENDPOINTS."""
    router = APIRouter()

    @router.get("/locations")
    async def locations(request: Request, page: Page = Depends(), caller: Caller = Depends(ocpi_caller)) -> Response:
        rows = ROWS[page.offset:page.offset + page.limit]
        return ocpi_response({"rows": rows, "tenant": current_tenant(), "uze": caller.is_party("uz", "uze")},
                             headers=page.headers(request, len(ROWS)))

    @router.get("/broken")
    async def broken(_: Caller = Depends(ocpi_caller)) -> Response:
        raise RuntimeError("a bug, not the caller's fault")

    module = types.ModuleType("demo")
    module.cpo_router, module.emsp_router = router, None
    module.ENDPOINTS = [("locations", "SENDER", "cpo/2.2.1/locations")]
    return module


@pytest.fixture
async def ocpi_url(platform) -> AsyncIterator[str]:
    async with platform.sessions.begin() as session:
        session.add_all([
            RoamingPartner(name="UzEnergy", state="registered", token_to_us_digest=token_digest(REGISTERED),
                           roles=[{"role": "EMSP", "country_code": "UZ", "party_id": "UZE"}]),
            RoamingPartner(name="someone", state="invited", token_to_us_digest=token_digest(INVITED)),
        ])
    app = FastAPI()
    ocpi_http.install(app, platform.roaming, modules=[_demo_module()])
    sock = listening_socket()
    settings = platform.settings.model_copy(update={"api_port": port_of(sock)})
    async with serving(api_server(app, settings), sock):
        yield f"http://127.0.0.1:{settings.api_port}/ocpi"


async def _get(url: str, token: str | None, **params) -> httpx.Response:
    headers = {"Authorization": "Token " + base64.b64encode(token.encode()).decode()} if token else {}
    async with httpx.AsyncClient(timeout=30, verify=verifying_context()) as client:
        return await client.get(url, headers=headers, params=params)


@pytest.mark.settings(public_url=PUBLIC, ocpi_max_page_limit=2)
async def test_a_modules_endpoints_are_listed_at_the_public_address_and_its_router_mounted(ocpi_url):
    details = (await _get(f"{ocpi_url}/2.2.1", REGISTERED)).json()["data"]
    assert {"identifier": "locations", "role": "SENDER", "url": f"{PUBLIC}/ocpi/cpo/2.2.1/locations"} \
        in details["endpoints"]
    answer = await _get(f"{ocpi_url}/cpo/2.2.1/locations", REGISTERED)
    assert answer.status_code == 200 and answer.json()["status_code"] == 1000


@pytest.mark.settings(public_url=PUBLIC, ocpi_max_page_limit=2)
async def test_a_registered_partner_is_served_in_its_tenant_and_known_by_its_parties(ocpi_url):
    data = (await _get(f"{ocpi_url}/cpo/2.2.1/locations", REGISTERED)).json()["data"]
    assert data["tenant"] == 1 and data["uze"] is True


@pytest.mark.settings(public_url=PUBLIC, ocpi_max_page_limit=2)
async def test_only_a_registered_partner_passes_a_modules_door(ocpi_url):
    for token in (INVITED, "nobody", None):
        answer = await _get(f"{ocpi_url}/cpo/2.2.1/locations", token)
        assert answer.status_code == 401 and answer.json()["status_code"] == 2000


@pytest.mark.settings(public_url=PUBLIC, ocpi_max_page_limit=2)
async def test_pages_are_capped_by_the_setting_and_linked_at_the_public_address(ocpi_url):
    first = await _get(f"{ocpi_url}/cpo/2.2.1/locations", REGISTERED, limit=50)
    assert first.json()["data"]["rows"] == ROWS[:2]
    assert first.headers["X-Total-Count"] == "5" and first.headers["X-Limit"] == "2"
    link = first.headers["Link"]
    assert link.startswith(f"<{PUBLIC}/ocpi/cpo/2.2.1/locations?") and "offset=2" in link
    last = await _get(f"{ocpi_url}/cpo/2.2.1/locations", REGISTERED, offset=4)
    assert last.json()["data"]["rows"] == ROWS[4:] and "Link" not in last.headers


@pytest.mark.settings(public_url=PUBLIC)
@pytest.mark.parametrize("params", [{"offset": -1}, {"offset": "x"}, {"limit": 0}, {"date_from": "yesterday"},
                                    {"date_from": "2026-12-02T00:00:00Z", "date_to": "2026-12-01T00:00:00Z"}])
async def test_bad_paging_parameters_are_2001_with_http_400(ocpi_url, params):
    answer = await _get(f"{ocpi_url}/cpo/2.2.1/locations", REGISTERED, **params)
    assert answer.status_code == 400 and answer.json()["status_code"] == 2001
    assert answer.json()["status_message"]


@pytest.mark.settings(public_url=PUBLIC)
async def test_a_fault_of_ours_is_an_ocpi_3000_envelope(ocpi_url):
    answer = await _get(f"{ocpi_url}/cpo/2.2.1/broken", REGISTERED)
    assert answer.status_code == 500 and answer.json()["status_code"] == 3000
    assert "RuntimeError" not in answer.text
