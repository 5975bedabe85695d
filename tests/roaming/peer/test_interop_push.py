"""silkcharge as a CPO pushing to a party that is not silkcharge: a connector's status, as
the EVSE status the extrawest-ocpi peer (an eMSP) keeps for that Location.

Needs the roaming outbox (roaming/push.py, branch ocpi-outbox); skipped until it is there.
"""

from __future__ import annotations

import pytest

pytest.importorskip("silkcharge.roaming.push", reason="the roaming outbox is not merged yet")

from ocpp.v16 import call  # noqa: E402

from tests.e2e.network import register_station  # noqa: E402
from tests.e2e.peers import connected_peer  # noqa: E402
from tests.roaming.conftest import register  # noqa: E402

pytestmark = pytest.mark.slow  # starts a peer process

FAST = {
    "roaming_push_backoff_base": 0.05,
    "roaming_push_backoff_cap": 0.4,
    "roaming_push_poll_seconds": 0.5,
}


# Our Locations are pushed whole (an hour between looks: the test looks when it means to), so
# an EVSE's status goes only to a partner that was sent its Location (roaming/push.py).
@pytest.mark.settings(**FAST, roaming_object_push_seconds=3600)
async def test_a_connector_status_reaches_the_peer_as_its_evse_status(kz, ocpi_peer):
    answer = await register(kz, "Extrawest peer", ocpi_peer.versions_url, ocpi_peer.token_a)
    assert answer.status_code == 201, answer.text
    await register_station(kz.api, "RM-1", connectors=2)
    report = await kz.platform.roaming_objects.push_changed()  # what the periodic look does
    assert sum(report.put.values()) == 1  # the Location (the peer takes no tariffs)

    gateway = f"ws://127.0.0.1:{kz.platform.gateway.port}/ocpp"
    async with connected_peer(gateway, "RM-1", "1.6") as station:
        await station.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
        await station.call(
            call.StatusNotification(connector_id=1, error_code="NoError", status="Charging")
        )
        first = await ocpi_peer.wait_for_request(lambda r: "/locations/" in r["path"])
        assert first["status"] == 200, first  # the peer took the first push: the Location exists
        # the station's coming online is PATCHed first (its EVSEs' status then), the Charging after
        patched = await ocpi_peer.wait_for_request(
            lambda r: r["method"] == "PATCH" and r["status"] == 200
            and (r.get("body") or {}).get("status") == "CHARGING"
        )

    assert patched["path"].endswith("/KZ/SLK/ALA-TEST/RM-1*1")
    [location] = await ocpi_peer.objects("locations")
    [evse] = [e for e in location["evses"] if e["uid"] == "rm-1*1"]  # the peer lowercases ids
    assert evse["status"] == "CHARGING"
