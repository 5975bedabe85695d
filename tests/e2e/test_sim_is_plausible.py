"""The demo's simulated chargers are well-behaved: a full session of each OCPP version, metered
every second at the connector's real power, leaves no plausibility flag and no clock alert, and
its CDR is billed without review. (If a rule ever fired on them, the demo would fill the review
page with false alarms.)"""

from __future__ import annotations

import asyncio
import json
import random
from dataclasses import asdict
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from silkcharge.data.seed import load_seed_network
from silkcharge.services.seeding import seed_network
from silkcharge.sim.charger import SimulatedCharger
from silkcharge.sim.spec import load_fleet
from silkcharge.store.schema import MeterSample, PlausibilityFlag, Transaction
from tests.e2e.peers import eventually
from tests.e2e.test_billing import STANDARD
from tests.guards import HANG_GUARD

TOKENS = [{"token": "SIM-0001", "type": "ISO14443"}, {"token": "SIM-0002", "type": "ISO14443"}]


async def started_chargers(platform, tmp_path, versions: tuple[str, ...]) -> list[SimulatedCharger]:
    created = await seed_network(platform.sessions, load_seed_network(), tokens=TOKENS)
    path = tmp_path / "fleet.json"
    path.write_text(json.dumps([{**asdict(s), "firmware_version": "1.0.0"} for s in created]))
    fleet = sorted(load_fleet(path), key=lambda s: s.station_id)
    url = f"ws://127.0.0.1:{platform.gateway.port}/ocpp"
    chargers = []
    for version in versions:
        spec = next(s for s in fleet if s.ocpp_version == version and s.station_id.startswith("KZ-ALA"))
        charger = SimulatedCharger(spec, url, meter_interval=1, reconnect_delay=0.2, step_delay=0.05,
                                   heartbeat_fallback=30, rng=random.Random(spec.station_id))
        charger.task = asyncio.create_task(charger.run())
        await asyncio.wait_for(charger.booted.wait(), HANG_GUARD)
        chargers.append(charger)
    return chargers


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_a_simulated_session_is_never_flagged_and_billed_without_review(platform, api, tmp_path, version):
    [charger] = await started_chargers(platform, tmp_path, (version,))
    try:
        site_id = (await api.get(f"/api/v1/stations/{charger.spec.station_id}")).json()["site_id"]
        site = next(s for s in (await api.get("/api/v1/sites")).json() if s["id"] == site_id)
        operators = {o["id"]: o["code"] for o in (await api.get("/api/v1/operators")).json()}
        await platform.billing.publish("SIM-TARIFF", operators[site["operator_id"]], None, STANDARD)
        await charger.plug_in_and_charge(1, "SIM-0001", energy_kwh=Decimal(50))

        async def metered(readings: int):
            async with platform.sessions() as session:
                tx = await session.scalar(select(Transaction))
                registers = await session.scalar(select(func.count()).where(
                    MeterSample.measurand == "Energy.Active.Import.Register"))
            return tx if tx is not None and registers >= readings and (tx.energy_wh or 0) > 0 else None

        await eventually(lambda: metered(4), timeout=20)  # a reading a second, at the car's power
        await charger.stop_charging(1)
        tx = await metered(4)
        cdr = await eventually(lambda: _cdr(api, tx.id))
    finally:
        await charger.stop()
        await charger.task
    async with platform.sessions() as session:
        flags = (await session.scalars(select(PlausibilityFlag))).all()
    assert [(f.rule, f.reason) for f in flags] == []
    assert (await api.get("/api/v1/plausibility/clock-alerts")).json() == []
    assert cdr["review"] is None and cdr["billed"] is True


async def _cdr(api, transaction_id: int):
    response = await api.get(f"/api/v1/transactions/{transaction_id}/cdr")
    return response.json() if response.status_code == 200 else None
