"""The fleet runner starts and ends sessions by itself, and leaves nothing open at shutdown."""

from __future__ import annotations

import asyncio
import random
from decimal import Decimal

import pytest

from silkcharge.domain.connectors import ConnectorStandard
from silkcharge.sim.fleet import run_fleet
from silkcharge.sim.spec import ConnectorSpec
from tests.guards import HANG_GUARD

from .conftest import station

pytestmark = pytest.mark.asyncio


async def test_fleet_runs_live_sessions_and_ends_them_at_shutdown(csms16):
    specs = [
        station(f"FLEET-{n}", "1.6", ConnectorSpec(1, 1, ConnectorStandard.TYPE2, Decimal("22")))
        for n in range(3)
    ]
    stop = asyncio.Event()
    fleet = asyncio.create_task(run_fleet(
        csms16.url, specs, session_rate_per_hour=36000, tokens=["TOKEN1", "TOKEN2", "TOKEN3"],
        meter_interval=0.2, stop=stop, ramp_seconds=0.3, rng=random.Random(3)))
    await csms16.wait_for("MeterValues", timeout=5)
    assert len(csms16.calls("BootNotification")) == 3
    started = csms16.calls("StartTransaction")
    assert started and len({s["idTag"] for s in started}) == len(started)
    stop.set()
    await asyncio.wait_for(fleet, HANG_GUARD)
    assert len(csms16.calls("StopTransaction")) == len(csms16.calls("StartTransaction"))


async def test_drivers_take_the_cards_in_turn_the_first_card_first(csms16):
    """The demo relies on it: its roaming partner's first card is the first driver's."""
    spec = station("FLEET-TURN", "1.6", ConnectorSpec(1, 1, ConnectorStandard.TYPE2, Decimal("22")))
    stop = asyncio.Event()
    fleet = asyncio.create_task(run_fleet(
        csms16.url, [spec], session_rate_per_hour=36000, tokens=["TOKEN2", "TOKEN3", "TOKEN1"],
        meter_interval=0.2, stop=stop, ramp_seconds=0, rng=random.Random(1)))
    await csms16.wait_for("StartTransaction")
    stop.set()
    await asyncio.wait_for(fleet, HANG_GUARD)
    assert csms16.calls("StartTransaction")[0]["idTag"] == "TOKEN2"


async def test_a_card_with_a_place_charges_only_there_and_the_others_anywhere(csms16):
    """The demo's Dushanbe taxi cards stay in Dushanbe; before, its random drivers used them in
    Almaty, Bishkek and Tashkent minutes apart. (TOKEN1 is the taxi's card here.)"""
    specs = [station(name, "1.6", ConnectorSpec(1, 1, ConnectorStandard.TYPE2, Decimal("22")))
             for name in ("KZ-ALA-9", "TJ-DUS-9")]
    stop = asyncio.Event()
    fleet = asyncio.create_task(run_fleet(
        csms16.url, specs, session_rate_per_hour=36000, tokens=["TOKEN1", "TOKEN2", "TOKEN3"],
        meter_interval=0.2, stop=stop, ramp_seconds=0, rng=random.Random(5), token_places={"TOKEN1": "TJ-DUS-"}))

    def starts() -> set[tuple[str, str]]:
        return {(station_id, payload["idTag"]) for station_id, action, payload in csms16.log_by_station
                if action == "StartTransaction"}

    async def both_stations_and_the_taxi_at_home():
        while not ({"KZ-ALA-9", "TJ-DUS-9"} <= {s for s, _ in starts()} and ("TJ-DUS-9", "TOKEN1") in starts()):
            await asyncio.sleep(0.02)

    await asyncio.wait_for(both_stations_and_the_taxi_at_home(), HANG_GUARD)
    stop.set()
    await asyncio.wait_for(fleet, HANG_GUARD)
    assert [station_id for station_id, tag in starts() if tag == "TOKEN1"] == ["TJ-DUS-9"]


async def test_a_session_starting_when_the_fleet_stops_is_ended_with_the_others(csms16):
    """The drivers are called off while a StartTransaction waits for its answer: that start
    still completes, and its session is ended at shutdown like any other."""
    csms16.hold_starts = asyncio.Event()
    spec = station("FLEET-LATE", "1.6", ConnectorSpec(1, 1, ConnectorStandard.TYPE2, Decimal("22")))
    stop = asyncio.Event()
    fleet = asyncio.create_task(run_fleet(
        csms16.url, [spec], session_rate_per_hour=36000, tokens=["TOKEN1"],
        meter_interval=0.2, stop=stop, ramp_seconds=0, rng=random.Random(7)))
    await csms16.wait_for("StartTransaction")
    stop.set()  # the fleet's shutdown runs before the held answer goes out
    csms16.hold_starts.set()
    await asyncio.wait_for(fleet, HANG_GUARD)
    assert len(csms16.calls("StartTransaction")) == 1
    assert len(csms16.calls("StopTransaction")) == 1
