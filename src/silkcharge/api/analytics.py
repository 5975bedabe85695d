"""Operations analytics routes: sessions, energy, revenue, utilisation, uptime, attention.

Every route takes an aware time range (``start``, ``end``, ISO 8601 with a zone, e.g. ``Z``)
of at most ``analytics_max_days``; the definitions are in ``silkcharge.planning.analytics`` and
docs/planning.md. Whole days come from the roll-ups (``silkcharge.planning.rollups``), and the
reading and computing run on a worker thread, off the event loop.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response

from silkcharge.api.heavy import off_loop
from silkcharge.planning import analytics, charts
from silkcharge.planning.analysis import jsonable
from silkcharge.planning.rollups import load_range

router = APIRouter(prefix="/analytics", tags=["analytics"])

START = Query(..., description="range start, ISO 8601 with a time zone (e.g. 2026-11-01T00:00:00Z)")
END = Query(..., description="range end (exclusive), ISO 8601 with a time zone; at most "
                             "analytics_max_days (400 by default) after the start")
T = TypeVar("T")


async def _answer(request: Request, start: datetime, end: datetime,
                  compute: Callable[[analytics.RangeTotals], T]) -> T:
    """Read the range's totals and compute the answer from them, on a worker thread."""
    settings = request.app.state.platform.settings

    async def job(sessions) -> T:
        totals = await load_range(sessions, start, end, default_heartbeat=settings.heartbeat_interval,
                                  grace_seconds=settings.offline_grace,
                                  max_days=settings.analytics_max_days)
        return compute(totals)

    try:
        return await off_loop(request, job)
    except analytics.AnalyticsInputError as exc:
        raise HTTPException(422, str(exc)) from None


def _range(totals: analytics.RangeTotals) -> dict[str, Any]:
    return {"start": totals.start.isoformat(), "end": totals.end.isoformat(),
            "observed_end": totals.observed_end.isoformat()}


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
    return await _answer(request, start, end, lambda t: {
        **_range(t), "group_by": group_by, "groups": jsonable(analytics.summary(t, group_by))})


@router.get("/utilisation")
async def utilisation(request: Request, start: datetime = START,
                      end: datetime = END) -> dict[str, Any]:
    """Per connector: share of the range in a transaction, and a 24-hour profile (site clock)."""
    return await _answer(request, start, end, lambda t: {
        **_range(t), "connectors": jsonable(analytics.utilisation(t))})


@router.get("/utilisation.svg", response_class=Response)
async def utilisation_heatmap(request: Request, start: datetime = START,
                              end: datetime = END) -> Response:
    """The utilisation heat map: hour of day (site clock) × connector, as SVG."""
    def heatmap(t: analytics.RangeTotals) -> str:
        title = f"Utilisation {t.start:%Y-%m-%d %H:%M} to {t.observed_end:%Y-%m-%d %H:%M} UTC"
        return charts.utilisation_heatmap(analytics.utilisation(t), title)

    return Response(await _answer(request, start, end, heatmap), media_type="image/svg+xml")


@router.get("/uptime")
async def uptime(request: Request, start: datetime = START, end: datetime = END) -> dict[str, Any]:
    """Per station: present, station-wide faulted and available shares of the range."""
    return await _answer(request, start, end, lambda t: {
        **_range(t), "stations": jsonable(analytics.uptime(t))})


@router.get("/attention")
async def attention(request: Request, start: datetime = START,
                    end: datetime = END) -> dict[str, Any]:
    """Stations ranked by need of attention, with plain reasons."""
    return await _answer(request, start, end, lambda t: {
        **_range(t), "stations": jsonable(analytics.attention(t))})
