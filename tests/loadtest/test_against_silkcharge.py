"""The load generator against the real gateway on SQLite and PostgreSQL: every station is
admitted and Accepted, nothing is lost through a boot storm and a reconnect storm, and every
StartTransaction the generator saw acknowledged is stored once."""

from __future__ import annotations

import asyncio
import os

import pytest
from sqlalchemy import func, select

from silkcharge.loadtest import (
    BootStorm,
    LoadTest,
    Mix,
    ProcessGroup,
    Ramp,
    ReconnectStorm,
    Steady,
    run,
)
from silkcharge.store.schema import Transaction

STATIONS = 8
MOSTLY_STARTS_AND_STOPS = Mix(heartbeat=0, status=0, meter_values=0.25, transaction=0.75)
"""The steady phase is about sessions: with the default mix (one CALL in ten a start or a stop)
a loaded machine that sent only 19 CALLs in the phase saw no start at all (0.9^19 = 14 %).
With three starts or stops in four CALLs, eight CALLs without a start is 1 in 65,000."""


@pytest.mark.settings(auto_provision=True)
async def test_loadtest_run_is_absorbed_and_every_acknowledged_start_is_stored(platform, ocpp_url):
    test = LoadTest(
        ocpp_url,
        STATIONS,
        (
            Ramp(rate=40),
            Steady(seconds=2, rate=3),
            BootStorm(window=0.5),
            ReconnectStorm(rounds=2, window=0.2),
        ),
        workers=2,
        mix=MOSTLY_STARTS_AND_STOPS,
        gap_s=0.3,
        timeout_s=5,
    )
    report = await asyncio.to_thread(
        run, test, (ProcessGroup("server", (os.getpid(),), tree=False),)
    )
    # What must hold whatever the machine's load: every socket held, nothing lost, no CALLERROR.
    # A reply slower than the generator's timeout is no error here (this is not a benchmark): it
    # is counted `late`, and a late-acknowledged start still counts as started below.
    for phase in report.phases:
        assert (phase.held, phase.lost, phase.call_errors, phase.disconnects) == (STATIONS, 0, {}, 0), (
            phase
        )
    ramp, steady, boot_storm, reconnect_storm = report.phases
    assert ramp.boots_accepted == boot_storm.boots_accepted == STATIONS
    assert boot_storm.absorbed_s is not None
    assert reconnect_storm.settled == reconnect_storm.stations == 2 * STATIONS
    assert steady.transactions_started > 0
    async with platform.sessions() as session:
        stored = await session.scalar(select(func.count()).select_from(Transaction))
    assert stored == steady.transactions_started
