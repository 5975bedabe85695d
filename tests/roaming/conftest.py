"""Two silkcharge networks that roam with each other, each with its own database and its own
API served by uvicorn on a free port: the Kazakh network (KZ*SLK, a CPO) and the Uzbek one
(UZ*UZE, an eMSP). On the postgres parameter both databases are PostgreSQL databases.

Tests reach each side only as a partner or an operator would: over HTTP, with an operator key
on /api/v1 or an OCPI token on /ocpi. What a side stores is read from its own database."""

from __future__ import annotations

import base64
import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from silkcharge.api.app import create_api
from silkcharge.app import Platform
from silkcharge.security.outbound import verifying_context
from silkcharge.server import api_server
from silkcharge.settings import Settings
from silkcharge.store.schema import RoamingPartner
from tests.conftest import API_KEY, recycled_pg_database, recycled_sqlite_database, running_platform
from tests.e2e.server_process import listening_socket, port_of, serving

KZ_IDENTITY = {"country_code": "KZ", "party_id": "SLK", "role": "CPO", "business_name": "Silk Charge Kazakhstan",
               "website": "https://silkcharge.kz"}
UZ_IDENTITY = {"country_code": "UZ", "party_id": "UZE", "role": "EMSP", "business_name": "UzEnergy eMobility"}


@dataclass
class Network:
    """One silkcharge install as the tests see it."""

    name: str
    platform: Platform
    url: str
    api: httpx.AsyncClient
    """The operator API, with the operator key."""
    database_url: str = ""
    """Its database: a network started again on it (`running_network(..., port=network.port)`)
    is the same network after a restart."""

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    @property
    def versions_url(self) -> str:
        return f"{self.url}/ocpi/versions"

    async def partner_row(self, partner_id: int | None = None) -> RoamingPartner:
        """A partner as stored (the only partner, unless `partner_id` says which)."""
        async with self.platform.sessions() as session:
            query = select(RoamingPartner).order_by(RoamingPartner.id)
            if partner_id is not None:
                query = query.where(RoamingPartner.id == partner_id)
            return (await session.scalars(query)).first()

    async def ocpi(self, method: str, path: str, token: str | None, **kwargs: Any) -> httpx.Response:
        """A request to this network's /ocpi with `token` (as 2.2.1 sends it), no checks."""
        headers = dict(kwargs.pop("headers", {}))
        if token is not None:
            headers["Authorization"] = "Token " + base64.b64encode(token.encode()).decode()
        async with httpx.AsyncClient(timeout=30, verify=verifying_context()) as client:
            return await client.request(method, f"{self.url}/ocpi/{path.lstrip('/')}", headers=headers, **kwargs)


@contextlib.contextmanager
def another_database(database_url: str) -> Iterator[str]:
    """A second fresh database of the same kind as `database_url`."""
    recycled = recycled_sqlite_database() if database_url.startswith("sqlite") else recycled_pg_database()
    with recycled as url:
        yield url


@contextlib.asynccontextmanager
async def running_network(name: str, database_url: str, identity: dict | None, *, port: int = 0,
                          **overrides: Any) -> AsyncIterator[Network]:
    """A network serving until the block ends; then its platform stops and its port is closed
    (partners' calls are refused), as when its process went down. `port`: the port of a network
    that ran before, to bring it back where partners know it; `overrides` change its settings (a
    test's @pytest.mark.settings reaches the `kz` network this way)."""
    sock = listening_socket(port)
    port = port_of(sock)
    settings = Settings(**{
        "database_url": database_url, "ocpp_host": "127.0.0.1", "ocpp_port": 0, "api_key": API_KEY,
        "api_host": "127.0.0.1", "api_port": port, "public_url": f"http://127.0.0.1:{port}",
        "ocpi_client_timeout": 20, "message_log_flush_seconds": 0.05,
        "roaming_pull_minutes": None,  # a test pulls when it means to (POST .../pull)
        "roaming_object_push_seconds": None,  # and pushes changed sites and tariffs (ObjectPush.push_changed)
        **overrides,
    })
    async with running_platform(settings) as platform:
        server = api_server(create_api(platform), settings)
        async with serving(server, sock):
            server.force_exit = True  # at the end, open keep-alive connections need not be waited for
            url = f"http://127.0.0.1:{port}"
            async with httpx.AsyncClient(base_url=url, headers={"X-API-Key": API_KEY}, timeout=60,
                                         verify=verifying_context()) as api:
                if identity is not None:
                    answer = await api.put("/api/v1/roaming/identities", json=[identity])
                    assert answer.status_code == 200, answer.text
                yield Network(name, platform, url, api, database_url)


@pytest.fixture
async def kz(database_url, request) -> AsyncIterator[Network]:
    """The Kazakh network, a CPO (KZ*SLK), in the test's database, with the test's
    @pytest.mark.settings."""
    marker = request.node.get_closest_marker("settings")
    async with running_network("kz", database_url, KZ_IDENTITY, **(marker.kwargs if marker else {})) as network:
        yield network


@pytest.fixture
async def uz(database_url) -> AsyncIterator[Network]:
    """The Uzbek network, an eMSP (UZ*UZE), in a database of its own."""
    with another_database(database_url) as url:
        async with running_network("uz", url, UZ_IDENTITY) as network:
            yield network


async def invite(network: Network, name: str) -> dict:
    answer = await network.api.post("/api/v1/roaming/partners/invite", json={"name": name})
    assert answer.status_code == 201, answer.text
    return answer.json()


async def register(network: Network, name: str, versions_url: str, token: str) -> httpx.Response:
    return await network.api.post("/api/v1/roaming/partners/register",
                                  json={"name": name, "versions_url": versions_url, "credentials_token": token})


@pytest.fixture
async def registered(kz, uz) -> tuple[Network, Network]:
    """KZ invited UZ, and UZ registered with it."""
    invitation = await invite(kz, "UzEnergy")
    answer = await register(uz, "Silk Charge KZ", invitation["versions_url"], invitation["credentials_token"])
    assert answer.status_code == 201, answer.text
    return kz, uz
