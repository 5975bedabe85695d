"""Durable before acknowledged: kill -9 the server mid-transaction, restart it, lose nothing."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest
from ocpp.v16 import call
from ocpp.v201 import call as call201

from silkcharge.domain.clock import to_ocpp, utcnow
from tests.conftest import API_KEY
from tests.e2e.network import add_token, register_station
from tests.e2e.peers import connected_peer
from tests.e2e.server_process import ServerProcess
from tests.guards import HANG_GUARD

pytestmark = pytest.mark.slow


@pytest.fixture
def server(database_url):
    process = ServerProcess(database_url, API_KEY)
    process.start()
    yield process
    process.stop()


def energy_16(wh: int) -> list[dict]:
    return [{"timestamp": to_ocpp(utcnow()), "sampledValue": [{"value": str(wh)}]}]


async def test_kill_9_after_replies_loses_no_acknowledged_transaction_data(server):
    async with httpx.AsyncClient(timeout=HANG_GUARD, base_url=server.api_url, headers={"X-API-Key": API_KEY}) as api:
        await register_station(api, "CRASH-16")
        await add_token(api, "DRIVER-9")
        started_at = to_ocpp(utcnow())
        async with connected_peer(server.ocpp_url, "CRASH-16", "1.6") as peer:
            await peer.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
            started = await peer.call(
                call.StartTransaction(connector_id=1, id_tag="DRIVER-9", meter_start=500, timestamp=started_at)
            )
            for wh in (1500, 2500, 3500):
                await peer.call(call.MeterValues(connector_id=1, transaction_id=started.transaction_id,
                                                 meter_value=energy_16(wh)))
            server.kill_hard()

        server.start()
        async with connected_peer(server.ocpp_url, "CRASH-16", "1.6") as peer:
            # the station never saw a reply it might have missed, but replays its start anyway
            replay = await peer.call(
                call.StartTransaction(connector_id=1, id_tag="DRIVER-9", meter_start=500, timestamp=started_at)
            )
            assert replay.transaction_id == started.transaction_id
            await peer.call(call.StopTransaction(meter_stop=4000, timestamp=to_ocpp(utcnow()),
                                                 transaction_id=started.transaction_id))

        tx = (await api.get(f"/api/v1/transactions/{started.transaction_id}")).json()
        assert tx["state"] == "Ended"
        assert Decimal(tx["energy_wh"]) == Decimal(3500)
        assert sorted(Decimal(s["value"]) for s in tx["meter_samples"]) == [1500, 2500, 3500]
        assert len((await api.get("/api/v1/transactions?station_id=CRASH-16")).json()) == 1


async def test_kill_9_mid_201_transaction_then_replayed_events_are_not_duplicated(server):
    async with httpx.AsyncClient(timeout=HANG_GUARD, base_url=server.api_url, headers={"X-API-Key": API_KEY}) as api:
        await register_station(api, "CRASH-201")
        events = [
            call201.TransactionEvent(
                event_type="Started", timestamp=to_ocpp(utcnow()), trigger_reason="CablePluggedIn", seq_no=0,
                transaction_info={"transaction_id": "t-1"}, evse={"id": 1, "connector_id": 1},
                meter_value=[{"timestamp": to_ocpp(utcnow()), "sampled_value": [{"value": 100}]}],
            ),
            call201.TransactionEvent(
                event_type="Updated", timestamp=to_ocpp(utcnow()), trigger_reason="MeterValuePeriodic", seq_no=1,
                transaction_info={"transaction_id": "t-1", "charging_state": "Charging"},
                meter_value=[{"timestamp": to_ocpp(utcnow()), "sampled_value": [{"value": 900}]}],
            ),
        ]
        boot = call201.BootNotification(charging_station={"model": "M", "vendor_name": "V"}, reason="PowerUp")
        async with connected_peer(server.ocpp_url, "CRASH-201", "2.0.1") as peer:
            await peer.call(boot)
            for event in events:
                await peer.call(event)
            server.kill_hard()

        server.start()
        async with connected_peer(server.ocpp_url, "CRASH-201", "2.0.1") as peer:
            await peer.call(boot)
            for event in events:  # a station unsure what arrived sends it all again
                await peer.call(event)
            await peer.call(call201.TransactionEvent(
                event_type="Ended", timestamp=to_ocpp(utcnow()), trigger_reason="StopAuthorized", seq_no=2,
                transaction_info={"transaction_id": "t-1", "stopped_reason": "Local"},
                meter_value=[{"timestamp": to_ocpp(utcnow()), "sampled_value": [{"value": 1700}]}],
            ))

        sessions = (await api.get("/api/v1/transactions?station_id=CRASH-201")).json()
        assert len(sessions) == 1
        tx = (await api.get(f"/api/v1/transactions/{sessions[0]['id']}")).json()
        assert [Decimal(s["value"]) for s in tx["meter_samples"]] == [100, 900, 1700]
        assert Decimal(tx["energy_wh"]) == Decimal(1600)
