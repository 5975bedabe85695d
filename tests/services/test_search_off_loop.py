"""The search's refresh reads the store on a worker thread (issue 14); a status a station
reports meanwhile is not undone by the older snapshot the refresh read, and the first load
builds the whole network off the loop."""

from __future__ import annotations

import asyncio
import threading

import pytest
from ocpp.v16 import call
from sqlalchemy import update

from silkcharge.domain.clock import utcnow
from silkcharge.services.search import SearchQuery
from silkcharge.store.schema import Connector
from tests.e2e.network import register_station
from tests.e2e.peers import connected_peer, eventually

TEST_SITE = SearchQuery(43.2, 76.62, radius_km=10)  # tests/e2e/network.py: Kaskelen


async def status_of(platform, evse: int = 1) -> str:
    (site,) = await platform.search.search(TEST_SITE)
    return next(c.status for s in site.stations for c in s.connectors if c.evse_id == evse)


@pytest.mark.settings(heavy_work_threads=1)
async def test_a_status_reported_during_a_refresh_outlives_the_snapshot_it_read(api, platform, ocpp_url):
    await register_station(api, "OFF-LOOP-1", connectors=1)
    async with connected_peer(ocpp_url, "OFF-LOOP-1", "1.6") as peer:
        await peer.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
        await peer.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Available"))
        await eventually(lambda: _is(status_of(platform), "Available"))

        release, started = threading.Event(), threading.Event()

        async def hold(_sessions) -> None:  # the only worker is busy: the refresh waits for it
            started.set()
            release.wait(timeout=60)

        held = asyncio.create_task(platform.workers.run(hold, refuse_when_busy=False))
        await asyncio.to_thread(started.wait)
        refreshing = asyncio.create_task(platform.search.refresh())
        await eventually(lambda: _is(platform.workers.waiting, 1))

        await peer.call(call.StatusNotification(connector_id=1, error_code="GroundFailure", status="Faulted"))
        await eventually(lambda: _is(status_of(platform), "Faulted"))
        async with platform.sessions.begin() as session:  # what a read from before the report saw
            await session.execute(update(Connector).where(Connector.station_id == "OFF-LOOP-1")
                                  .values(status="Available", updated_at=utcnow()))
        release.set()
        await held
        await refreshing
        assert await status_of(platform) == "Faulted", "the report, replayed after the merge, wins"


async def test_the_first_load_builds_the_network_and_its_index_off_the_loop(api, platform):
    await register_station(api, "OFF-LOOP-2", connectors=2)
    await platform.search.refresh()
    assert platform.search.full_loads == 1
    assert not platform.search.network.index_stale
    (site,) = await platform.search.search(TEST_SITE)
    assert [s.id for s in site.stations] == ["OFF-LOOP-2"]


async def _is(value, expected) -> bool:
    return (await value if asyncio.iscoroutine(value) else value) == expected
