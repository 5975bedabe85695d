"""The load generator measured against a tiny CSMS whose misbehaviour the test controls: the
generator's counts must match what the server really did."""

from __future__ import annotations

import asyncio
import os

import pytest

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
from tests.loadtest.tiny_csms import TinyCsms

HEARTBEATS_ONLY = Mix(heartbeat=1, status=0, meter_values=0, transaction=0)


async def run_against(csms: TinyCsms, stations: int, *phases, **options):
    test = LoadTest(csms.url, stations, tuple(phases), workers=1, gap_s=0.2, **options)
    return await asyncio.to_thread(run, test, (ProcessGroup("server", (os.getpid(),), tree=False),))


async def test_a_reply_the_server_never_sends_is_counted_lost_once():
    async with TinyCsms(drop=("Heartbeat", 5)) as csms:
        report = await run_against(
            csms,
            1,
            Ramp(rate=10),
            Steady(seconds=1.5, rate=0, think_s=0.05),
            mix=HEARTBEATS_ONLY,
            timeout_s=0.5,
        )
    steady = report.phases[1]
    assert steady.sent == csms.counts["Heartbeat"] >= 6
    # The dropped reply is the one lost. On a loaded machine another reply may also come after
    # the timeout: it counts as late, never as lost.
    assert steady.lost == 1
    assert steady.timeouts == steady.late + steady.lost
    assert steady.answered == steady.sent - steady.timeouts
    assert report.phases[0].lost == 0


async def test_a_reply_after_the_timeout_is_late_not_lost():
    async with TinyCsms(delay=("Heartbeat", 3, 1.0)) as csms:
        report = await run_against(
            csms,
            1,
            Ramp(rate=10),
            Steady(seconds=2.5, rate=0, think_s=0.05),
            mix=HEARTBEATS_ONLY,
            timeout_s=0.3,
        )
    steady = report.phases[1]
    # The delayed reply times out and then arrives: late, not lost (on a loaded machine another
    # reply may be late too, and is counted the same way).
    assert steady.lost == 0
    assert steady.late == steady.timeouts >= 1
    assert steady.answered == steady.sent - steady.timeouts


async def test_a_start_acknowledged_after_the_timeout_still_counts_as_started():
    # The server stores every StartTransaction it acknowledges, late or not: the generator must
    # count the late one too, or "acknowledged == stored" fails whenever a machine is slow.
    starts_only = Mix(heartbeat=0, status=0, meter_values=0, transaction=1)
    async with TinyCsms(delay=("StartTransaction", 1, 1.0)) as csms:
        report = await run_against(
            csms, 1, Ramp(rate=10), Steady(seconds=2.5, rate=0, think_s=0.05),
            mix=starts_only, timeout_s=0.3,
        )
    steady = report.phases[1]
    assert steady.late >= 1  # the delayed start (on a loaded machine, maybe another too)
    assert steady.transactions_started == csms.transactions


@pytest.mark.parametrize("status", ["Pending", "Rejected"])
async def test_boot_pending_or_rejected_is_retried_only_after_its_interval(status):
    interval = 1
    async with TinyCsms(first_boot=(status, interval)) as csms:
        report = await run_against(
            csms, 4, Ramp(rate=100, deadline=30), Steady(seconds=0.5, rate=4), mix=HEARTBEATS_ONLY
        )
    ramp = report.phases[0]
    assert ramp.boots_accepted == 4 and ramp.held == 4
    assert (ramp.boots_pending, ramp.boots_rejected) == ((4, 0) if status == "Pending" else (0, 4))
    assert ramp.absorbed_s is not None and ramp.absorbed_s >= interval
    for station in {r.station for r in csms.received}:
        calls = [r for r in csms.received if r.station == station]
        first, second = calls[0], calls[1]
        assert (first.action, second.action) == ("BootNotification", "BootNotification")
        assert second.at - csms.replied_at[(station, first.message_id)] >= interval - 0.01  # an asyncio timer may fire up to a clock tick early
        assert "Heartbeat" in csms.actions(station)  # it went on once Accepted


async def test_the_report_names_every_measure_of_every_phase():
    async with TinyCsms() as csms:
        report = await run_against(
            csms,
            6,
            Ramp(rate=50),
            Steady(seconds=1, rate=5),
            Steady(seconds=1, rate=0, participants=2, label="max"),
            BootStorm(window=0.5),
            ReconnectStorm(fraction=1, overlap=0.5, rounds=2, window=0.2),
        )
    data = report.as_dict()
    assert data["connections_held"] == 6
    assert data["memory_per_connection_kib"] is not None
    assert [p["name"] for p in data["phases"]] == [
        "ramp",
        "steady",
        "max",
        "boot-storm",
        "reconnect-storm",
    ]
    for phase in data["phases"]:
        for measure in (
            "held",
            "msgs_per_s",
            "p50_ms",
            "p95_ms",
            "p99_ms",
            "errors",
            "lost",
            "timeouts",
            "call_errors",
            "handshake_failures",
            "absorbed_s",
            "disconnects",
        ):
            assert measure in phase
        assert set(phase["usage"]) == {"server", "loadgen"}
        assert phase["usage"]["server"]["rss_mib"] > 0 and phase["usage"]["loadgen"]["cpu_pct"] >= 0
        assert phase["lost"] == 0 and phase["errors"] == 0 and phase["held"] == 6
    by_name = {p.name: p for p in report.phases}
    assert by_name["steady"].msgs_per_s > 0 and by_name["max"].stations == 2
    assert (
        by_name["boot-storm"].boots_accepted == 6 and by_name["boot-storm"].absorbed_s is not None
    )
    storm = by_name["reconnect-storm"]
    assert storm.stations == storm.settled == storm.reconnects == 12
    assert csms.counts["BootNotification"] == 12  # a reconnect is not a reboot
    text = report.to_text()
    assert "connections held at most: 6" in text and "server CPU" in text
