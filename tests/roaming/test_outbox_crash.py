"""Nothing enqueued is lost when the process dies: `kill -9` of a real `silkcharge serve` with
pushes in its outbox (one in flight, the partner never answered), then a new process sends them
all, in order per object."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from ocpp.v16 import call
from sqlalchemy import func, select

from silkcharge.store.db import create_engine_for, sessionmaker_for
from silkcharge.store.schema import RoamingOutboxRow
from tests.conftest import API_KEY
from tests.e2e.network import register_station
from tests.e2e.peers import connected_peer, eventually
from tests.e2e.server_process import ServerProcess
from tests.guards import HANG_GUARD
from tests.roaming.fake_partner import FakePartner
from tests.roaming.test_outbox import add_partner_to

pytestmark = pytest.mark.slow


async def test_pushes_in_the_outbox_survive_a_kill_9_and_the_next_process_sends_them(database_url):
    partner = FakePartner()
    await partner.start()
    engine = create_engine_for(database_url, 2)
    server = ServerProcess(database_url, API_KEY)
    server.env.update({
        "SILKCHARGE_ROAMING_PUSH_BACKOFF_BASE": "0.05", "SILKCHARGE_ROAMING_PUSH_BACKOFF_CAP": "0.5",
        "SILKCHARGE_ROAMING_PUSH_LOCK_SECONDS": "1", "SILKCHARGE_OCPI_CLIENT_TIMEOUT": "60",
        "SILKCHARGE_ROAMING_OBJECT_PUSH_SECONDS": "86400",  # no whole Location pushed: status PATCHes only
    })
    try:
        sessions = sessionmaker_for(engine)
        await add_partner_to(sessions, partner.endpoint)
        partner.hold = True  # the first push never gets its answer
        await asyncio.to_thread(server.start)
        async with httpx.AsyncClient(timeout=HANG_GUARD, base_url=server.api_url,
                                     headers={"X-API-Key": API_KEY}) as api:
            await register_station(api, "RM-KILL", connectors=2)
        def enqueued(count: int):
            async def check() -> bool:
                async with sessions() as session:
                    return await session.scalar(select(func.count()).select_from(RoamingOutboxRow)) == count
            return check

        async with connected_peer(server.ocpp_url, "RM-KILL", "1.6") as peer:
            await peer.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
            # The station online: each EVSE's status as stored when that event is handled, so
            # the statuses follow only once it is (on a loaded machine it can be handled late).
            await eventually(enqueued(2))
            await peer.call(call.StatusNotification(connector_id=1, error_code="GroundFailure", status="Faulted"))
            await peer.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Available"))
            await eventually(enqueued(4))  # then the two changes of EVSE 1
            await partner.until_attempted(1)
            await asyncio.to_thread(server.kill_hard)
        assert partner.taken == []

        partner.hold = False
        await asyncio.to_thread(server.start)  # a new process: nothing of the first but the database
        await partner.until_taken(4)
        assert [b["status"] for b in partner.of("KZ/SLK/ALA-TEST/RM-KILL*1")] == ["UNKNOWN", "OUTOFORDER", "AVAILABLE"]
        assert [b["status"] for b in partner.of("KZ/SLK/ALA-TEST/RM-KILL*2")] == ["UNKNOWN"]
    finally:
        await asyncio.to_thread(server.stop)
        partner.hold = False
        await partner.stop()
        await engine.dispose()
