"""Analytics cannot stall the server (issue 14): a range longer than `analytics_max_days` and a
mistyped start are refused with a reason, and a station's heartbeat is answered while the
analytics read, which runs on a worker thread; a burst of heavy requests beyond the workers
and their queue is answered 503 with Retry-After."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta

import pytest
from ocpp.v16 import call

from silkcharge.domain.clock import utcnow
from tests.e2e.network import register_station
from tests.e2e.peers import connected_peer, eventually


def _range(days: float) -> dict[str, str]:
    end = utcnow().replace(microsecond=0)
    return {"start": (end - timedelta(days=days)).isoformat(), "end": end.isoformat()}


async def test_a_range_beyond_the_limit_is_refused_with_the_limit_and_its_setting(api):
    for route in ("summary", "utilisation", "utilisation.svg", "uptime", "attention"):
        answer = await api.get(f"/api/v1/analytics/{route}", params=_range(401))
        assert answer.status_code == 422, route
        assert "is 401 days; at most 400 days" in answer.json()["detail"]
        assert "SILKCHARGE_ANALYTICS_MAX_DAYS" in answer.json()["detail"]
    assert (await api.get("/api/v1/analytics/summary", params=_range(400))).status_code == 200


@pytest.mark.settings(analytics_max_days=31)
async def test_the_range_limit_is_a_setting(api):
    refused = await api.get("/api/v1/analytics/uptime", params=_range(32))
    assert refused.status_code == 422 and "at most 31 days" in refused.json()["detail"]
    assert (await api.get("/api/v1/analytics/uptime", params=_range(31))).status_code == 200


@pytest.mark.parametrize("start, reason", [
    ("2026", "days; at most 400 days"),  # seconds after 1970: a range of 56 years froze the server
    ("-1", "before 1970-01-01"),
    ("0001-01-01T00:00:00Z", "before 1970-01-01"),
])
async def test_a_mistyped_start_is_refused_while_a_station_is_answered(api, ocpp_url, start, reason):
    await register_station(api, "ANA-STALL")
    async with connected_peer(ocpp_url, "ANA-STALL", "1.6") as peer:
        await peer.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
        analytics = asyncio.create_task(api.get("/api/v1/analytics/summary", params={
            "start": start, "end": utcnow().isoformat()}))
        beat = await peer.call(call.Heartbeat())
        answer = await analytics
    assert beat.current_time
    assert answer.status_code == 422 and reason in answer.json()["detail"]


async def test_a_year_of_analytics_is_answered_while_a_station_heartbeats(api, ocpp_url, platform):
    await register_station(api, "ANA-YEAR")
    async with connected_peer(ocpp_url, "ANA-YEAR", "1.6") as peer:
        await peer.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
        year = asyncio.create_task(api.get("/api/v1/analytics/summary", params={
            **_range(365), "group_by": "station"}))
        beats = [await peer.call(call.Heartbeat()) for _ in range(3)]
        answer = await year
    assert all(b.current_time for b in beats)
    assert answer.status_code == 200
    (group,) = answer.json()["groups"]
    assert group["group"] == "ANA-YEAR" and group["stations"] == 1


@pytest.mark.settings(heavy_work_threads=1, heavy_work_queue=0)
async def test_heavy_requests_beyond_the_workers_are_answered_503_with_retry_after(api, platform):
    release, started = threading.Event(), threading.Event()

    async def occupying(_sessions) -> None:  # holds the only worker, as a long plan would
        started.set()
        release.wait(timeout=60)

    held = asyncio.create_task(platform.workers.run(occupying, refuse_when_busy=False))
    await asyncio.to_thread(started.wait)
    plan = {"origin": "Almaty", "destination": "Bishkek", "vehicle_id": "hyundai-ioniq-5-2024-eu"}
    busy = await api.post("/api/v1/trips/plan", json=plan)
    assert busy.status_code == 503 and busy.headers["Retry-After"] == "5"
    assert "busy" in busy.json()["detail"]
    summary = await api.get("/api/v1/analytics/summary", params=_range(1))
    assert summary.status_code == 503
    release.set()
    await held
    # Free again once the platform's own jobs that waited meanwhile (search, roll-ups) are done.
    await eventually(lambda: _answered(api.post("/api/v1/trips/plan", json=plan)), timeout=30)
    await eventually(lambda: _answered(api.get("/api/v1/analytics/summary", params=_range(1))), timeout=30)


async def _answered(request) -> bool:
    return (await request).status_code == 200
