"""Operations analytics routes: sessions, energy, revenue, utilisation, uptime, attention.

Every route takes an aware time range (``start``, ``end``, ISO 8601 with a zone, e.g. ``Z``);
the definitions are in ``silkcharge.planning.analytics`` and docs/planning.md.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response

from silkcharge.planning import analytics, charts
from silkcharge.planning.analysis import jsonable
from silkcharge.planning.store import load_operations

router = APIRouter(prefix="/analytics", tags=["analytics"])

START = Query(..., description="range start, ISO 8601 with a time zone (e.g. 2026-11-01T00:00:00Z)")
END = Query(..., description="range end (exclusive), ISO 8601 with a time zone")


async def _data(request: Request, start: datetime, end: datetime) -> analytics.OperationsData:
    settings = request.app.state.platform.settings
    try:
        return await load_operations(request.app.state.platform.sessions, start, end,
                                     default_heartbeat=settings.heartbeat_interval,
                                     grace_seconds=settings.offline_grace)
    except analytics.AnalyticsInputError as exc:
        raise HTTPException(422, str(exc)) from None


def _range(data: analytics.OperationsData) -> dict[str, Any]:
    return {"start": data.start.isoformat(), "end": data.end.isoformat(),
            "observed_end": data.observed_end.isoformat()}


@router.get("/summary")
async def summary(request: Request, start: datetime = START, end: datetime = END,
                  group_by: str = Query("operator", description="operator, city, corridor, "
                                                                "site or station")
                  ) -> dict[str, Any]:
    """Sessions, energy (kWh), revenue per currency, mean utilisation and uptime, failed starts."""
    try:
        analytics.check_group_by(group_by)
    except analytics.AnalyticsInputError as exc:
        raise HTTPException(422, str(exc)) from None
    data = await _data(request, start, end)
    return {**_range(data), "group_by": group_by,
            "groups": jsonable(analytics.summary(data, group_by))}


@router.get("/utilisation")
async def utilisation(request: Request, start: datetime = START,
                      end: datetime = END) -> dict[str, Any]:
    """Per connector: share of the range in a transaction, and a 24-hour profile (site clock)."""
    data = await _data(request, start, end)
    return {**_range(data), "connectors": jsonable(analytics.utilisation(data))}


@router.get("/utilisation.svg", response_class=Response)
async def utilisation_heatmap(request: Request, start: datetime = START,
                              end: datetime = END) -> Response:
    """The utilisation heat map: hour of day (site clock) × connector, as SVG."""
    data = await _data(request, start, end)
    title = f"Utilisation {data.start:%Y-%m-%d %H:%M} to {data.observed_end:%Y-%m-%d %H:%M} UTC"
    svg = charts.utilisation_heatmap(analytics.utilisation(data), title)
    return Response(svg, media_type="image/svg+xml")


@router.get("/uptime")
async def uptime(request: Request, start: datetime = START, end: datetime = END) -> dict[str, Any]:
    """Per station: present, station-wide faulted and available shares of the range."""
    data = await _data(request, start, end)
    return {**_range(data), "stations": jsonable(analytics.uptime(data))}


@router.get("/attention")
async def attention(request: Request, start: datetime = START,
                    end: datetime = END) -> dict[str, Any]:
    """Stations ranked by need of attention, with plain reasons."""
    data = await _data(request, start, end)
    return {**_range(data), "stations": jsonable(analytics.attention(data))}
