"""The HTTP API application: operator routes under /api/v1, OpenAPI at /docs; OCPI roaming
partners under /ocpi (roaming/http.py).

A process builds its route table once and every API it serves shares it (`create_api`).
FastAPI builds an app's 220 routes on its first request, analysing each endpoint's signature
and dependencies: about 0.2 s of CPU, and about a third of the CPU of the API tests, which
build an API per test. The routes, their middleware and the OCPI routes read what is per
platform from `request.app.state`, which for the shared table is the serving API's own
(`PlatformApi` sets it for each request it carries)."""

from __future__ import annotations

import threading
from contextvars import ContextVar
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from starlette.datastructures import State
from starlette.types import Receive, Scope, Send

from silkcharge import __version__
from silkcharge.api import access as access_api
from silkcharge.api import audit as audit_api
from silkcharge.api import console, errors
from silkcharge.api import smart as smart_api
from silkcharge.api.accounts import router as accounts_router
from silkcharge.api.analytics import router as analytics_router
from silkcharge.api.billing import router as billing_router
from silkcharge.api.caps import router as caps_router
from silkcharge.api.certificates import router as certificates_router
from silkcharge.api.der import router as der_router
from silkcharge.api.device import router as device_router
from silkcharge.api.driver import router as driver_router
from silkcharge.api.driver_data import router as driver_data_router
from silkcharge.api.exchange_rates import router as exchange_rates_router
from silkcharge.api.limits import BodySizeLimit, NoNulText
from silkcharge.api.local_cost import public as receipts_router
from silkcharge.api.local_cost import router as local_cost_router
from silkcharge.api.metrics import router as metrics_router
from silkcharge.api.network import router as network_router
from silkcharge.api.operator import router as operator_router
from silkcharge.api.planning import router as planning_router
from silkcharge.api.plausibility import router as plausibility_router
from silkcharge.api.principals import authorized
from silkcharge.api.roaming import router as roaming_router
from silkcharge.api.roaming_commands import router as roaming_commands_router
from silkcharge.api.roaming_outbox import router as roaming_outbox_router
from silkcharge.api.roaming_profiles import router as roaming_profiles_router
from silkcharge.api.station_profiles import router as station_profiles_router
from silkcharge.api.station_security import router as station_security_router
from silkcharge.api.trips import router as trips_router
from silkcharge.app import Platform
from silkcharge.roaming import http as ocpi_http

API_DOCS_ASSETS = "/api-docs-assets"  # in the console's build (web/scripts/api-docs-assets.mjs)


_SERVING: ContextVar[State] = ContextVar("silkcharge_api_state")
"""The state of the API carrying the current request (its platform, its roaming)."""


class _ServingState(State):
    """`app.state` of a shared route table: each attribute is that of the API carrying the
    request (`PlatformApi`)."""

    def __getattr__(self, key: str) -> Any:
        try:
            state = _SERVING.get()
        except LookupError:
            raise AttributeError(f"app.state.{key}: read outside a request carried by a PlatformApi") from None
        return getattr(state, key)

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError(f"app.state.{key}: the route table is shared; set it on the PlatformApi's state")


class PlatformApi:
    """The HTTP API of one platform: the process's route table, carrying this platform's state
    (`state.platform`; with roaming, `state.roaming` and the OCPI endpoints it lists). Anything
    else (`openapi()`, `routes`, `url_path_for`) is the route table's."""

    def __init__(self, platform: Platform, routes: FastAPI) -> None:
        self.platform = platform
        self.state = State()
        self.state.platform = platform
        if platform.roaming is not None:
            self.state.roaming = platform.roaming
            self.state.ocpi_endpoints = ocpi_http.endpoints(ocpi_http.MODULES)
        self._routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        serving = _SERVING.set(self.state)
        try:
            await self._routes(scope, receive, send)
        finally:
            _SERVING.reset(serving)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._routes, name)


_TABLES: dict[bool, FastAPI] = {}
_BUILDING = threading.Lock()


def create_api(platform: Platform) -> PlatformApi:
    """The API of `platform`, on the route table this process built (with /ocpi when the
    platform roams)."""
    roaming = platform.roaming is not None
    with _BUILDING:
        table = _TABLES.get(roaming)
        if table is None:
            table = _TABLES[roaming] = _route_table(roaming)
    return PlatformApi(platform, table)


def _max_body_bytes(scope: Scope) -> int:
    return scope["app"].state.platform.settings.http_max_body_bytes


def _route_table(roaming: bool) -> FastAPI:
    app = FastAPI(
        title="silkcharge",
        version=__version__,
        description="Charging station management for the networks of Central Asia.",
        docs_url=None,  # served below from the package's own copy of Swagger UI: no CDN
        redoc_url=None,
    )
    app.state = _ServingState()
    app.add_middleware(audit_api.AuditRecorder)  # innermost: sees what the routes see
    app.add_middleware(NoNulText)
    app.add_middleware(BodySizeLimit, max_bytes=_max_body_bytes)  # outermost
    errors.install(app)

    @app.get("/docs", include_in_schema=False)
    async def api_docs() -> HTMLResponse:
        """Swagger UI from the files the console build ships (npm swagger-ui-dist), so the API
        documentation works offline."""
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json", title="silkcharge API",
            swagger_js_url=f"{API_DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{API_DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{API_DOCS_ASSETS}/favicon-32x32.png",
        )

    @app.get("/api/v1/health", tags=["meta"])
    async def health(request: Request) -> dict:
        connected = request.app.state.platform.router.connected()
        return {"status": "ok", "version": __version__, "stations_connected": len(connected)}

    # Every operator route: a credential, the permission its area needs, the caller's tenant
    # scope (api/principals.py).
    keyed = {"dependencies": [Depends(authorized)], "responses": errors.answers(401, 403, 404)}
    app.include_router(operator_router, prefix="/api/v1", **keyed)
    app.include_router(billing_router, prefix="/api/v1", **keyed)
    app.include_router(plausibility_router, prefix="/api/v1", **keyed)
    app.include_router(caps_router, prefix="/api/v1", **keyed)
    app.include_router(local_cost_router, prefix="/api/v1", **keyed)
    app.include_router(receipts_router, prefix="/api/v1")
    app.include_router(certificates_router, prefix="/api/v1", **keyed)
    app.include_router(device_router, prefix="/api/v1", **keyed)
    app.include_router(der_router, prefix="/api/v1", **keyed)
    app.include_router(exchange_rates_router, prefix="/api/v1", **keyed)
    app.include_router(roaming_outbox_router, prefix="/api/v1", **keyed)
    # Heavy work runs on worker threads (api/heavy.py): every one busy and the queue full is a 503.
    heavy = {"dependencies": [Depends(authorized)], "responses": errors.answers(401, 403, 404, 503)}
    app.include_router(trips_router, prefix="/api/v1", tags=["trips"], responses=errors.answers(503))
    app.include_router(driver_router, prefix="/api/v1", tags=["driver"])
    app.include_router(accounts_router, prefix="/api/v1")
    app.include_router(driver_data_router, prefix="/api/v1")
    app.include_router(planning_router, prefix="/api/v1", **heavy)
    app.include_router(analytics_router, prefix="/api/v1", **heavy)
    app.include_router(smart_api.router, prefix="/api/v1", **keyed)
    app.include_router(station_profiles_router, prefix="/api/v1", **keyed)
    smart_api.install(app)
    app.include_router(station_security_router, prefix="/api/v1", **keyed)
    app.include_router(network_router, prefix="/api/v1", **keyed)
    app.include_router(access_api.open_router, prefix="/api/v1")
    app.include_router(access_api.router, prefix="/api/v1", **keyed)
    app.include_router(access_api.tenants_router, prefix="/api/v1", **keyed)
    app.include_router(audit_api.router, prefix="/api/v1", **keyed)
    app.include_router(roaming_router, prefix="/api/v1", **keyed)
    app.include_router(roaming_commands_router, prefix="/api/v1", **keyed)
    app.include_router(roaming_profiles_router, prefix="/api/v1", **keyed)
    app.include_router(metrics_router)
    if roaming:  # /ocpi: OCPI partners, with their own tokens and errors; shared as this table is
        ocpi = ocpi_http.ocpi_app(None, ocpi_http.MODULES)
        ocpi.state = _ServingState()
        app.mount(ocpi_http.PREFIX, ocpi)
    console.install(app)  # last: it serves the web console at /
    return app
