"""The demo's charging profile exchange (silkcharge.demo.roaming.show_charging_profiles) between
two real networks, through their operator APIs only: once the partner's driver charges at our
simulated charger, the partner sets a profile on the session, our operator lowers the station's
maximum, and the session's ActiveChargingProfile reaches the partner; with no partner driver
charging it gives up within its bound and says why."""

from __future__ import annotations

from decimal import Decimal

import pytest

from silkcharge.demo.roaming import (
    PARTNER_LIMIT_A,
    STATION_MAXIMUM_A,
    RoamingSetupFailed,
    show_charging_profiles,
)
from tests.guards import HANG_GUARD
from tests.roaming.conftest import kz, registered, uz  # noqa: F401 (the two networks, as fixtures)
from tests.roaming.test_charging_profiles import networks  # noqa: F401 (the fixture)
from tests.roaming.test_commands import STATION, TOKEN
from tests.roaming.test_profile_push import charging, simulated


async def test_the_partner_sets_a_profile_we_lower_the_station_and_the_active_profile_reaches_it(networks):  # noqa: F811
    kz_net, uz_net, partner_id = networks
    async with simulated(kz_net) as station:
        session_id = await charging(kz_net, uz_net, station, 1, TOKEN)
        done = await show_charging_profiles(kz_net.api, uz_net.api, wait_seconds=HANG_GUARD, every=0.1)
        await kz_net.platform.roaming_profiles.idle()
    assert (done["session_id"], done["station_id"]) == (session_id, STATION)
    # as each operator's Roaming page lists it
    pushed, received = (await kz_net.api.get("/api/v1/roaming/charging-profiles")).json()
    assert (received["direction"], received["kind"], received["result"]) == ("received", "SET", "ACCEPTED")
    assert received["charging_profile"]["charging_profile_period"] == [{"start_period": 0, "limit": PARTNER_LIMIT_A}]
    assert (pushed["direction"], pushed["result"], pushed["cause"]) == ("pushed", "ACCEPTED", "operator")
    [to_partner] = (await uz_net.api.get("/api/v1/roaming/charging-profiles/pushed")).json()
    assert (to_partner["partner_id"], to_partner["session_id"]) == (partner_id, session_id)
    limits = [Decimal(str(p["limit"])) for p in to_partner["profile"]["charging_profile"]["charging_profile_period"]]
    assert limits[0] == STATION_MAXIMUM_A and max(limits) <= STATION_MAXIMUM_A
    [sent] = (await uz_net.api.get("/api/v1/roaming/charging-profiles")).json()
    assert (sent["id"], sent["result"]) == (done["request_id"], "ACCEPTED")


async def test_with_no_partner_driver_charging_it_gives_up_in_time_and_says_why(networks):  # noqa: F811
    kz_net, uz_net, _ = networks
    with pytest.raises(RoamingSetupFailed, match="no partner driver charged"):
        await show_charging_profiles(kz_net.api, uz_net.api, wait_seconds=0.5, every=0.1)
    assert (await kz_net.api.get("/api/v1/roaming/charging-profiles")).json() == []
