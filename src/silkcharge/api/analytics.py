"""Operations analytics routes: sessions, energy, revenue, utilisation, uptime, attention.

Every route takes an aware time range (``start``, ``end``, ISO 8601 with a zone, e.g. ``Z``)
of at most ``analytics_max_days``; the definitions are in ``silkcharge.planning.analytics`` and
docs/planning.md. Whole days come from the roll-ups (``silkcharge.planning.rollups``), and the
reading and computing run on a worker thread, off the event loop.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response
from sqlalchemy import select

from silkcharge.api.heavy import off_loop
from silkcharge.planning import analytics, charts
from silkcharge.planning.analysis import jsonable
from silkcharge.planning.rollups import day_bounds, load_days, load_range
from silkcharge.store.schema import Site

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


SITE_DAYS_MAX = 92
"""The most days `/analytics/sites/daily` answers at once: each day is one roll-up read."""


@router.get("/sites/daily")
async def sites_daily(request: Request,
                      start: date = Query(..., description="first UTC day, e.g. 2026-11-21"),
                      end: date = Query(..., description=f"the UTC day after the last (exclusive); at most "
                                                         f"{SITE_DAYS_MAX} days after the start")
                      ) -> dict[str, Any]:
    """Per site and UTC day: mean connector utilisation, mean station uptime (from each
    station's registration on, as everywhere), sessions and energy; from the daily roll-ups.
    Days that have not begun are left out; today counts up to now."""
    if end <= start:
        raise HTTPException(422, f"the range {start} to {end} is empty or inverted: end is the day after the last")
    if (end - start).days > SITE_DAYS_MAX:
        raise HTTPException(422, f"the range {start} to {end} is {(end - start).days} days; "
                                 f"at most {SITE_DAYS_MAX} can be asked at once")
    settings = request.app.state.platform.settings

    async def job(sessions) -> dict[str, Any]:
        days = await load_days(sessions, start, end - timedelta(days=1),
                               default_heartbeat=settings.heartbeat_interval, grace_seconds=settings.offline_grace)
        async with sessions() as session:
            names = {code: (name, city) for code, name, city in
                     (await session.execute(select(Site.code, Site.name, Site.city))).all()}
        return {
            "start": day_bounds(start)[0].isoformat(), "end": day_bounds(end)[0].isoformat(),
            "days": [{"day": d.start.date().isoformat(), "observed_end": d.observed_end.isoformat()} for d in days],
            "sites": [{**jsonable(s), "name": names.get(s.site, (None, None))[0],
                       "city": names.get(s.site, (None, None))[1]} for s in analytics.site_days(days)],
        }

    try:
        return await off_loop(request, job)
    except analytics.AnalyticsInputError as exc:
        raise HTTPException(422, str(exc)) from None
