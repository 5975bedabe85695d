"""What the data residency tests share (tests/store/test_residency*.py): two real PostgreSQL
databases, the platform's and the Kazakh operator's, and raw SQL on either to see where each
row landed. The `resident` fixture (tests/store/conftest.py) builds the platform on them."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
import psycopg
import pytest

from silkcharge.api.app import create_api
from silkcharge.app import Platform, build_platform
from silkcharge.domain.roles import Role
from silkcharge.services.access import Principal
from silkcharge.settings import Settings
from tests.conftest import API_KEY, _pg_available, fresh_pg_database
from tests.e2e.network import register_station

BOOT = Principal("key", None, "test bootstrap", Role.PLATFORM_ADMIN, None)
KZ_STATION = "KZ-RES-1"
UZ_STATION = "UZ-HOME-1"


def raw_url(url: str) -> str:
    """The URL psycopg takes for a SQLAlchemy asyncpg URL."""
    return url.replace("postgresql+asyncpg://", "postgresql://")


def rows(url: str, sql: str, *params) -> list[tuple]:
    """What a database holds, asked without the platform's code."""
    with psycopg.connect(raw_url(url)) as connection:
        return connection.execute(sql, params).fetchall()


class Resident:
    """The platform, both databases, and an API client each for the Kazakh operator (whose
    rows live in its own database), the Uzbek one (in the platform's) and a driver (no key)."""

    def __init__(self, platform: Platform, platform_url: str, kz_url: str, kz_id: int, uz_id: int,
                 kz: httpx.AsyncClient, uz: httpx.AsyncClient, driver: httpx.AsyncClient, kz_key: str) -> None:
        self.platform, self.platform_url, self.kz_url = platform, platform_url, kz_url
        self.kz_id, self.uz_id = kz_id, uz_id
        self.kz, self.uz, self.driver, self.kz_key = kz, uz, driver, kz_key

    @property
    def ocpp_url(self) -> str:
        return f"ws://127.0.0.1:{self.platform.gateway.port}/ocpp"


@contextlib.asynccontextmanager
async def resident_platform() -> AsyncIterator[Resident]:
    """The platform's database and the Kazakh operator's; tenant kz-op lives in the latter,
    tenant uz-op in the platform's. Each has its network registered through its own key: the
    same operator and site codes in both, and so, each in its own database, site id 1."""
    if not _pg_available():
        pytest.skip("PostgreSQL on 127.0.0.1:5432 is not running")
    with fresh_pg_database("silkcharge_platform") as platform_url, fresh_pg_database("silkcharge_kz") as kz_url:
        settings = Settings(
            database_url=platform_url, tenant_databases={"kz-op": kz_url}, ocpp_host="127.0.0.1", ocpp_port=0,
            api_key=API_KEY, heartbeat_interval=30, call_timeout=30, message_log_flush_seconds=0.05,
            smart_rebalance_delay=0.05, smart_check_every=0.5,
        )
        platform = build_platform(settings)
        await platform.start()
        try:
            kz_tenant = await platform.access.create_tenant("kz-op", "Kazakh operator")
            uz_tenant = await platform.access.create_tenant("uz-op", "Uzbek operator")
            _, kz_key = await platform.access.create_key(BOOT, "kz admin", Role.OPERATOR_ADMIN, kz_tenant.id, None)
            _, uz_key = await platform.access.create_key(BOOT, "uz admin", Role.OPERATOR_ADMIN, uz_tenant.id, None)
            app = create_api(platform)
            async with contextlib.AsyncExitStack() as stack:
                kz, uz, driver = [
                    await stack.enter_async_context(httpx.AsyncClient(
                        transport=httpx.ASGITransport(app=app), base_url="http://silkcharge",
                        headers={"X-API-Key": key} if key else {},
                    ))
                    for key in (kz_key, uz_key, None)
                ]
                await register_station(kz, KZ_STATION)
                await register_station(uz, UZ_STATION)
                yield Resident(platform, platform_url, kz_url, kz_tenant.id, uz_tenant.id, kz, uz, driver, kz_key)
        finally:
            await platform.stop()
