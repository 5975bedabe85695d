"""Smart charging end to end (OCPP 1.6 Smart Charging, 2.0.1 block K): simulated chargers of
both versions on a site with a circuit tree, the real gateway, load management and the store
(SQLite and PostgreSQL). Limits are checked from the meter values the chargers send."""

from __future__ import annotations

import asyncio
import random
from decimal import Decimal

import pytest
from sqlalchemy import select

from silkcharge.domain.connectors import ConnectorStandard
from silkcharge.sim.charger import SimulatedCharger
from silkcharge.sim.spec import ConnectorSpec, StationSpec
from silkcharge.store.schema import MeterSample, Transaction
from tests.e2e.network import PASSWORD, add_token, register_station
from tests.guards import HANG_GUARD

VERSIONS = pytest.mark.parametrize("version", ["1.6", "2.0.1", "2.1"])
FAST = pytest.mark.settings(smart_rebalance_delay=0.05, smart_check_every=0.5)
SITE = "ALA-TEST"
CIRCUITS = {"connection": 40.0, "cabinet-a": 32.0, "cabinet-b": 20.0}
PATHS = {"cabinet-a": ("connection", "cabinet-a"), "cabinet-b": ("connection", "cabinet-b")}


def spec(station_id: str, version: str) -> StationSpec:
    return StationSpec(
        station_id, PASSWORD, version, "SilkSim", "AC-22", "1.0",
        tuple(ConnectorSpec(n, 1, ConnectorStandard.TYPE2, Decimal(22)) for n in (1, 2)),
    )


async def until(check, timeout: float = HANG_GUARD, what: str = "condition"):
    async def poll():
        while True:
            value = await check()
            if value:
                return value
            await asyncio.sleep(0.05)

    try:
        return await asyncio.wait_for(poll(), timeout)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


async def smart_site(api, layout: dict[str, list[tuple[str, int]]], limits: dict[str, float] = CIRCUITS) -> None:
    """Put SITE under load management with the given circuits and EVSEs on them."""
    assert (await api.put(f"/api/v1/smart/sites/{SITE}", json={"grid_limit_a": str(limits["connection"])})).status_code == 200
    for circuit, evses in layout.items():
        response = await api.put(f"/api/v1/smart/sites/{SITE}/circuits/{circuit}", json={"limit_a": str(limits[circuit])})
        assert response.status_code == 200, response.text
        for station_id, evse in evses:
            response = await api.put(f"/api/v1/smart/stations/{station_id}/evses/{evse}",
                                     json={"circuit": circuit, "max_current_a": "32"})
            assert response.status_code == 200, response.text


class Site:
    """Simulated chargers running against the platform; every one is stopped at the end."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.chargers: dict[str, SimulatedCharger] = {}
        self.tasks: list[asyncio.Task] = []

    async def start(self, station_id: str, version: str, **options) -> SimulatedCharger:
        charger = SimulatedCharger(spec(station_id, version), self.url, meter_interval=0.2, reconnect_delay=0.1,
                                   heartbeat_fallback=30, rng=random.Random(len(self.chargers)), **options)
        self.chargers[station_id] = charger
        self.tasks.append(asyncio.create_task(charger.run()))
        await asyncio.wait_for(charger.booted.wait(), HANG_GUARD)
        return charger

    async def charge(self, station_id: str, evse: int, token: str) -> str:
        charger = self.chargers[station_id]
        tx = await charger.plug_in_and_charge(evse, token, energy_kwh=Decimal(80))
        charger.connector(evse).meter.ev.max_power_w = Decimal(22000)  # a car that takes all it is given
        return tx

    async def close(self) -> None:
        for charger in self.chargers.values():
            await charger.stop()
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def settled(api, sessions: int) -> dict:
    """The site's power view once `sessions` run and each got the share it was allocated."""
    async def check():
        view = (await api.get(f"/api/v1/smart/sites/{SITE}/power")).json()
        running = [c for c in view["chargers"] if c["transaction_id"] is not None]
        managed = [c for c in running if c["obeys_profiles"]]
        if len(running) == sessions and all(
            c["sent_a"] is not None and c["planned_a"] is not None
            and abs(c["sent_a"] - c["planned_a"]) < 0.05 for c in managed
        ):
            return view
        return None

    return await until(check, what="the allocation to reach every charger")


async def shares_when(api, sessions: int, expected: dict) -> dict:
    """The power view once the allocation gives `expected` shares ({(station, evse): A})."""
    async def check():
        view = await settled(api, sessions)
        shares = {(c["station_id"], c["evse_id"]): c["planned_a"] for c in view["chargers"]}
        return view if all(shares.get(k) == v for k, v in expected.items()) else None

    return await until(check, what=f"the shares {expected}")


async def circuit_peaks(platform, layout: dict[str, list[tuple[str, int]]]) -> dict[str, float]:
    """The highest total current per circuit, rebuilt from the chargers' Current.Import samples:
    each EVSE draws its latest reported current until the next sample or the end of its session."""
    async with platform.sessions() as session:
        txs = (await session.scalars(select(Transaction))).all()
        samples = (await session.scalars(select(MeterSample).where(MeterSample.measurand == "Current.Import"))).all()
    steps: dict[tuple[str, int], list[tuple]] = {}
    by_tx = {tx.id: tx for tx in txs}
    for sample in samples:
        tx = by_tx.get(sample.transaction_id)
        if tx is not None:
            steps.setdefault((tx.station_id, tx.evse_id), []).append((sample.timestamp, 0, float(sample.value)))
    for tx in txs:
        if tx.stopped_at is not None:
            steps.setdefault((tx.station_id, tx.evse_id), []).append((tx.stopped_at, 1, 0.0))
    moments = sorted({t for series in steps.values() for t, _, _ in series})
    peaks = {c: 0.0 for c in CIRCUITS}

    def level(series, moment):
        current = 0.0
        by_time: dict = {}
        for t, order, value in sorted(series):
            if t <= moment:
                by_time[t] = max(by_time.get(t, 0.0), value) if order == 0 else value
                current = by_time[t]
        return current

    for moment in moments:
        draw = {key: level(series, moment) for key, series in steps.items()}
        for circuit, evses in layout.items():
            on_circuit = sum(draw.get(e, 0.0) for e in evses)
            peaks[circuit] = max(peaks[circuit], on_circuit)
        peaks["connection"] = max(peaks["connection"], sum(draw.values()))
    return peaks


@VERSIONS
@FAST
async def test_sessions_starting_and_stopping_never_overload_a_circuit_and_the_taxi_comes_first(
    api, platform, ocpp_url, version
):
    a, b = f"A-{version}", f"B-{version}"
    await register_station(api, a)
    await register_station(api, b)
    for token in ("CAR-1", "CAR-2", "CAR-3"):
        await add_token(api, token)
    await add_token(api, "TAXI-1", group_id="dushanbe-taxi")
    assert (await api.put("/api/v1/smart/priorities/dushanbe-taxi", json={"priority": 10})).status_code == 200
    layout = {"cabinet-a": [(a, 1), (a, 2)], "cabinet-b": [(b, 1), (b, 2)]}
    await smart_site(api, layout)
    site = Site(ocpp_url)
    try:
        await site.start(a, version)
        await site.start(b, version)
        await site.charge(a, 1, "CAR-1")
        await settled(api, 1)
        await site.charge(a, 2, "TAXI-1")
        view = await settled(api, 2)
        shares = {(c["station_id"], c["evse_id"]): c["planned_a"] for c in view["chargers"]}
        assert shares[(a, 2)] > shares[(a, 1)] >= 6
        await site.charge(b, 1, "CAR-2")
        await site.charge(b, 2, "CAR-3")
        # the taxi takes everything above the others' 6 A minimum
        await shares_when(api, 4, {(a, 2): 22.0, (a, 1): 6.0, (b, 1): 6.0, (b, 2): 6.0})
        await site.chargers[a].stop_charging(1)
        await shares_when(api, 3, {(a, 2): 28.0, (b, 1): 6.0, (b, 2): 6.0})
        await asyncio.sleep(0.6)  # a few more meter values at the final shares
        circuits = {c["circuit"]: c for c in (await api.get(f"/api/v1/smart/sites/{SITE}/power")).json()["circuits"]}
        assert circuits["connection"]["actual_a"] > 30  # the meter values show the site really charging
    finally:
        await site.close()
    peaks = await circuit_peaks(platform, {k: v for k, v in layout.items()})
    for circuit, limit in CIRCUITS.items():
        assert peaks[circuit] <= limit + 0.1, f"{circuit} drew {peaks[circuit]} A against {limit} A"
    assert peaks["connection"] > 35  # the check saw the site near its limit, not idle
    problems = (await api.get(f"/api/v1/smart/sites/{SITE}/problems")).json()
    assert [p for p in problems if p["kind"] in ("over_limit", "profile_rejected")] == []


@VERSIONS
@FAST
async def test_a_station_that_ignores_limits_is_reported_and_gets_headroom(api, platform, ocpp_url, version):
    a, b = f"A-{version}", f"B-{version}"
    await register_station(api, a)
    await register_station(api, b)
    await add_token(api, "CAR-1")
    await add_token(api, "CAR-2")
    await smart_site(api, {"cabinet-a": [(a, 1)], "cabinet-b": [(b, 1)]})
    site = Site(ocpp_url)
    try:
        await site.start(a, version, obey_profiles=False)
        await site.start(b, version)
        await site.charge(a, 1, "CAR-1")
        await site.charge(b, 1, "CAR-2")

        async def reported():
            problems = (await api.get(f"/api/v1/smart/sites/{SITE}/problems")).json()
            return [p for p in problems if p["kind"] == "over_limit"]

        over = await until(reported, what="the over-limit report")
        assert over[0]["station_id"] == a and "ignores charging profiles" in over[0]["reason"]
        # B gets the 40 A connection less the 32 A that A may draw
        view = await shares_when(api, 2, {(b, 1): 8.0})
        assert f"{a}/1" in view["unmanaged"]
    finally:
        await site.close()


@VERSIONS
@FAST
async def test_a_rejected_profile_and_a_limit_below_the_minimum_current_are_reported(
        api, platform, ocpp_url, version, caplog):
    a, b = f"A-{version}", f"B-{version}"
    await register_station(api, a)
    await register_station(api, b)
    for token in ("CAR-1", "CAR-2", "CAR-3"):
        await add_token(api, token)
    limits = {"connection": 40.0, "cabinet-a": 32.0, "cabinet-b": 10.0}
    await smart_site(api, {"cabinet-a": [(a, 1)], "cabinet-b": [(b, 1), (b, 2)]}, limits)
    site = Site(ocpp_url)
    try:
        await site.start(a, version, accept_profiles=False)
        await site.start(b, version)
        await site.charge(b, 1, "CAR-1")
        await site.charge(b, 2, "CAR-2")

        async def problems_of(kind: str):
            problems = (await api.get(f"/api/v1/smart/sites/{SITE}/problems")).json()
            return [p for p in problems if p["kind"] == kind]

        rejected = await until(lambda: problems_of("profile_rejected"), what="the rejected profile")
        assert rejected[0]["station_id"] == a and "rejected" in rejected[0]["reason"]
        paused = await until(lambda: problems_of("below_min_current"), what="the paused session")
        assert paused[0]["station_id"] == b and "6" in paused[0]["reason"]
        # and the server's log says where: site, station and EVSE
        assert any(record.getMessage().startswith(f"smart charging: below_min_current at {SITE} {b} EVSE ")
                   for record in caplog.records), [record.getMessage() for record in caplog.records]
        view = await settled(api, 2)
        planned = sorted(c["planned_a"] for c in view["chargers"] if c["station_id"] == b)
        assert planned == [0.0, 10.0]  # 10 A: one car at its minimum or more, the other waits
    finally:
        await site.close()
