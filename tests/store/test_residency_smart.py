"""Smart charging with data residency (issue 15, item 6): load management of a resident
tenant's site runs on its own database, next to a site of the platform's database with the
same id. Two real databases (tests/store/residents.py), two real OCPP 1.6 chargers (the `ocpp`
package) over real sockets, raw SQL on both databases."""

from __future__ import annotations

from contextlib import AsyncExitStack
from decimal import Decimal

import pytest
from ocpp.v16 import call

from silkcharge.domain.clock import to_ocpp, utcnow
from tests.e2e.network import add_token
from tests.e2e.peers import Peer16, connected_peer, eventually
from tests.store.residents import KZ_STATION, UZ_STATION, Resident, rows

pytestmark = pytest.mark.postgres

SITE = "ALA-TEST"  # each tenant's, both with id 1: the first site of each database


async def manage(api, station_id: str, grid_a: int) -> None:
    """Put the tenant's site under load management: EVSE 1 of `station_id` on one cabinet."""
    assert (await api.put(f"/api/v1/smart/sites/{SITE}", json={"grid_limit_a": str(grid_a)})).status_code == 200
    cabinet = await api.put(f"/api/v1/smart/sites/{SITE}/circuits/cabinet", json={"limit_a": str(grid_a)})
    assert cabinet.status_code == 200, cabinet.text
    evse = await api.put(f"/api/v1/smart/stations/{station_id}/evses/1",
                         json={"circuit": "cabinet", "max_current_a": "32"})
    assert evse.status_code == 200, evse.text


def tx_limits(peer: Peer16) -> list[float]:
    """The limits of the TxProfiles the station was sent, in order."""
    return [
        float(p["cs_charging_profiles"]["charging_schedule"]["charging_schedule_period"][0]["limit"])
        for action, p in peer.received
        if action == "SetChargingProfile" and p["cs_charging_profiles"]["charging_profile_purpose"] == "TxProfile"
    ]


async def charging(resident: Resident, stack: AsyncExitStack, api, station_id: str, token: str) -> Peer16:
    """A booted station of the tenant behind `api`, charging on EVSE 1 with `token`."""
    await add_token(api, token)
    peer = await stack.enter_async_context(connected_peer(resident.ocpp_url, station_id, "1.6"))
    boot = await peer.call(call.BootNotification(charge_point_vendor="Zhida", charge_point_model="AC-22"))
    assert boot.status == "Accepted"
    started = await peer.call(call.StartTransaction(
        connector_id=1, id_tag=token, meter_start=0, timestamp=to_ocpp(utcnow())))
    assert started.id_tag_info["status"] == "Accepted"
    peer.transaction_id = started.transaction_id
    return peer


async def planned(api) -> dict[str, float | None]:
    view = (await api.get(f"/api/v1/smart/sites/{SITE}/power")).json()
    return {c["station_id"]: c["planned_a"] for c in view["chargers"] if c["transaction_id"] is not None}


async def test_two_databases_sites_with_one_id_are_managed_apart_each_in_its_own_database(resident):
    await manage(resident.kz, KZ_STATION, 16)
    await manage(resident.uz, UZ_STATION, 24)
    async with AsyncExitStack() as stack:
        kz_peer = await charging(resident, stack, resident.kz, KZ_STATION, "KZ-CAR")
        uz_peer = await charging(resident, stack, resident.uz, UZ_STATION, "UZ-CAR")
        # Both sessions are transaction 1 of site 1, each in its own database: each station gets
        # its own site's share, computed from its own database.
        assert kz_peer.transaction_id == uz_peer.transaction_id == 1
        await eventually(lambda: _async(16.0 in tx_limits(kz_peer) and 24.0 in tx_limits(uz_peer)))
        assert set(tx_limits(kz_peer)) == {16.0} and set(tx_limits(uz_peer)) == {24.0}
        # Each tenant's API shows its own site's state, never the other's.
        assert await eventually(lambda: _equal(planned(resident.kz), {KZ_STATION: 16.0}))
        assert await eventually(lambda: _equal(planned(resident.uz), {UZ_STATION: 24.0}))

        # A grid signal on the resident tenant's site narrows that site only.
        signal = await resident.kz.put(f"/api/v1/smart/sites/{SITE}/grid-signal", json={"limit_kw": "6.9"})
        assert signal.status_code == 200, signal.text
        await eventually(lambda: _async(tx_limits(kz_peer)[-1:] == [10.0]))
        assert (await resident.uz.get(f"/api/v1/smart/sites/{SITE}/grid-signal")).json() == {"signal": None}
        assert await planned(resident.uz) == {UZ_STATION: 24.0}
        assert set(tx_limits(uz_peer)) == {24.0}

    # What load management stored is in the database of the site's tenant, and only there.
    kz, home = resident.kz_url, resident.platform_url
    assert rows(kz, "SELECT station_id, purpose FROM charging_profiles ORDER BY purpose") == [
        (KZ_STATION, "TxDefaultProfile"), (KZ_STATION, "TxProfile")]
    assert rows(home, "SELECT DISTINCT station_id FROM charging_profiles") == [(UZ_STATION,)]
    assert rows(kz, "SELECT tenant_id, grid_limit_a FROM smart_sites") == [(resident.kz_id, Decimal(16))]
    assert rows(home, "SELECT tenant_id, grid_limit_a FROM smart_sites") == [(resident.uz_id, Decimal(24))]


async def test_the_meter_check_finds_a_resident_station_over_its_limit_in_its_own_database(resident):
    """The periodic meter check runs per database: a resident station drawing more than its
    share is reported in its tenant's database, and given headroom there."""
    await manage(resident.kz, KZ_STATION, 16)
    await manage(resident.uz, UZ_STATION, 24)
    async with AsyncExitStack() as stack:
        kz_peer = await charging(resident, stack, resident.kz, KZ_STATION, "KZ-CAR")
        uz_peer = await charging(resident, stack, resident.uz, UZ_STATION, "UZ-CAR")
        await eventually(lambda: _async(16.0 in tx_limits(kz_peer) and 24.0 in tx_limits(uz_peer)))

        async def reported_over_limit():
            # The station ignores its 16 A: each round it reports 30 A drawn, until the check sees it.
            await kz_peer.call(call.MeterValues(connector_id=1, transaction_id=kz_peer.transaction_id, meter_value=[{
                "timestamp": to_ocpp(utcnow()),
                "sampledValue": [{"value": "30", "measurand": "Current.Import", "unit": "A", "phase": "L1"}],
            }]))
            return rows(resident.kz_url, "SELECT station_id FROM smart_problems WHERE kind = 'over_limit'")

        assert await eventually(reported_over_limit) == [(KZ_STATION,)]
        # The problem is recorded first, then the EVSE is marked as one that ignores limits.
        await eventually(lambda: _async(rows(resident.kz_url, "SELECT obeys_profiles FROM evse_circuits") == [(False,)]))
        problems = (await resident.kz.get(f"/api/v1/smart/sites/{SITE}/problems")).json()
        assert ("over_limit", KZ_STATION) in [(p["kind"], p["station_id"]) for p in problems]
    # Nothing of it in the platform's database, whose station obeys its limit.
    assert rows(resident.platform_url, "SELECT count(*) FROM smart_problems") == [(0,)]
    assert rows(resident.platform_url, "SELECT obeys_profiles FROM evse_circuits") == [(True,)]
    assert (await resident.uz.get(f"/api/v1/smart/sites/{SITE}/problems")).json() == []


async def _async(value):
    return value


async def _equal(view, expected) -> bool:
    return await view == expected
