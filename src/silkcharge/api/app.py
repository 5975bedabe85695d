"""The HTTP API application: operator routes under /api/v1, OpenAPI at /docs; OCPI roaming
partners under /ocpi (roaming/http.py)."""

from __future__ import annotations

from fastapi import Depends, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

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


def create_api(platform: Platform) -> FastAPI:
    app = FastAPI(
        title="silkcharge",
        version=__version__,
        description="Charging station management for the networks of Central Asia.",
        docs_url=None,  # served below from the package's own copy of Swagger UI: no CDN
        redoc_url=None,
    )
    app.state.platform = platform
    app.add_middleware(audit_api.AuditRecorder)  # innermost: sees what the routes see
    app.add_middleware(NoNulText)
    app.add_middleware(BodySizeLimit, max_bytes=platform.settings.http_max_body_bytes)  # outermost
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
    async def health() -> dict:
        return {"status": "ok", "version": __version__, "stations_connected": len(platform.router.connected())}

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
    if platform.roaming is not None:
        ocpi_http.install(app, platform.roaming)  # /ocpi: OCPI partners, with their own tokens and errors
    console.install(app)  # last: it serves the web console at /
    return app
