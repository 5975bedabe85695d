"""The HTTP API application: operator routes under /api/v1, OpenAPI at /docs."""

from __future__ import annotations

import secrets

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.security import APIKeyHeader

from silkcharge import __version__
from silkcharge.api import console, errors
from silkcharge.api import smart as smart_api
from silkcharge.api.accounts import router as accounts_router
from silkcharge.api.analytics import router as analytics_router
from silkcharge.api.billing import router as billing_router
from silkcharge.api.driver import router as driver_router
from silkcharge.api.operator import router as operator_router
from silkcharge.api.planning import router as planning_router
from silkcharge.api.trips import router as trips_router
from silkcharge.app import Platform

API_KEY = APIKeyHeader(name="X-API-Key", auto_error=False)


def create_api(platform: Platform) -> FastAPI:
    app = FastAPI(
        title="silkcharge",
        version=__version__,
        description="Charging station management for the networks of Central Asia.",
    )
    app.state.platform = platform
    errors.install(app)

    async def require_key(request: Request, key: str | None = Depends(API_KEY)) -> None:
        expected = request.app.state.platform.settings.api_key
        if not key or not expected or not secrets.compare_digest(key, expected):
            raise HTTPException(401, "missing or wrong X-API-Key header")

    @app.get("/api/v1/health", tags=["meta"])
    async def health() -> dict:
        return {"status": "ok", "version": __version__, "stations_connected": len(platform.router.connected())}

    app.include_router(operator_router, prefix="/api/v1", dependencies=[Depends(require_key)])
    app.include_router(billing_router, prefix="/api/v1", dependencies=[Depends(require_key)])
    app.include_router(trips_router, prefix="/api/v1", tags=["trips"])
    app.include_router(driver_router, prefix="/api/v1", tags=["driver"])
    app.include_router(accounts_router, prefix="/api/v1")
    app.include_router(planning_router, prefix="/api/v1", dependencies=[Depends(require_key)])
    app.include_router(analytics_router, prefix="/api/v1", dependencies=[Depends(require_key)])
    app.include_router(smart_api.router, prefix="/api/v1", dependencies=[Depends(require_key)])
    smart_api.install(app)
    console.install(app)  # last: it serves the web console at /
    return app
