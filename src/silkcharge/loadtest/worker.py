"""A load worker process: a slice of the stations, run phase by phase on the coordinator's word.

The coordinator and its workers talk over a pipe:

    worker → ("ready", stations) once its stations exist (nothing is connected yet)
    coord  → ("phase", index, start)   run phase `index` from `start` (system-wide monotonic)
    worker → ("done", index)
    coord  → ("finish", drain_s)       give timed-out CALLs a last chance, then report
    worker → ("tallies", [Tally per phase])
    worker → ("failed", reason)        at any point, instead of the above

Tallies travel only at the end, because a reply that comes late is credited to the phase that
sent the CALL, and a CALL still unanswered when the run ends is counted lost there.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection

from silkcharge.loadtest.frames import CALLRESULT
from silkcharge.loadtest.phases import BootStorm, Mix, Phase, Ramp, ReconnectStorm, Steady
from silkcharge.loadtest.sockets import raise_open_files
from silkcharge.loadtest.station import Endpoint, Gone, LoadStation
from silkcharge.loadtest.tally import Tally

ROUND_PAUSE_S = 1.0  # between reconnect-storm rounds
CLOSE_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class WorkerPlan:
    endpoint: Endpoint
    stations: tuple[tuple[int, str], ...]  # (index over all workers, station id)
    sources: tuple[str, ...]  # source addresses to spread sockets over; () lets the kernel pick
    phases: tuple[Phase, ...]
    mix: Mix
    seed: int


async def sleep_until(moment: float) -> None:
    await asyncio.sleep(max(0.0, moment - time.monotonic()))


# -- the phases, per station ---------------------------------------------------------------------


async def ramp(phase: Ramp, stations: list[LoadStation], start: float, tally: Tally) -> None:
    async def one(station: LoadStation) -> None:
        at = start + station.index / phase.rate
        await sleep_until(at)
        await station.bring_up(tally, at + phase.deadline, began=at)

    waiting = [s for s in stations if not s.connected]
    tally.stations += len(waiting)
    await asyncio.gather(*(one(s) for s in waiting))


async def steady(phase: Steady, stations: list[LoadStation], start: float, tally: Tally) -> None:
    end = start + phase.seconds
    chosen = [s for s in stations if phase.participants is None or s.index < phase.participants]
    tally.stations += len(chosen)
    await asyncio.gather(*(steady_one(phase, s, start, end, tally) for s in chosen))


async def steady_one(
    phase: Steady, station: LoadStation, start: float, end: float, tally: Tally
) -> None:
    interval = 1.0 / phase.rate if phase.rate > 0 else 0.0
    next_at = start + station.rng.random() * interval
    await sleep_until(start)
    while time.monotonic() < end:
        try:
            if not station.connected and not await reopen(station, tally, end):
                return
            if station.boot_triggered:
                await station.boot(tally, end)
            if interval:
                await station.idle_until(min(next_at, end), tally)
                if time.monotonic() >= end or station.boot_triggered:
                    continue
            await station.exchange(tally, end)
            if interval:
                next_at = max(next_at + interval, time.monotonic())
            elif phase.think_s:
                await station.idle_until(time.monotonic() + phase.think_s, tally)
        except Gone:
            tally.disconnects += 1
            station.forget_socket()


async def reopen(station: LoadStation, tally: Tally, deadline: float) -> bool:
    """A station whose socket dropped reconnects; one that was never Accepted boots as well."""
    station.forget_socket()
    if not station.accepted:
        return await station.bring_up(tally, deadline, began=time.monotonic())
    if await station.connect_until(tally, deadline):
        tally.reconnects += 1
        return True
    return False


async def boot_storm(
    phase: BootStorm, stations: list[LoadStation], start: float, tally: Tally
) -> None:
    await sleep_until(start)
    for station in stations:
        station.abort()
        station.accepted = False
        station.transaction_id = None  # the power cut ended its session
    tally.stations += len(stations)

    async def one(station: LoadStation) -> None:
        at = start + station.rng.random() * phase.window
        await sleep_until(at)
        await station.bring_up(tally, start + phase.deadline, began=at)

    await asyncio.gather(*(one(s) for s in stations))


async def reconnect_storm(
    phase: ReconnectStorm, stations: list[LoadStation], start: float, tally: Tally
) -> None:
    deadline = start + phase.deadline
    round_start = start
    for _ in range(phase.rounds):
        chosen = [s for s in stations if s.rng.random() < phase.fraction]
        tally.stations += len(chosen)
        await asyncio.gather(
            *(reconnect_one(phase, s, round_start, deadline, tally) for s in chosen)
        )
        round_start = time.monotonic() + ROUND_PAUSE_S


async def reconnect_one(
    phase: ReconnectStorm, station: LoadStation, round_start: float, deadline: float, tally: Tally
) -> None:
    overlap = station.rng.random() < phase.overlap
    await sleep_until(round_start + station.rng.random() * phase.window)
    old, closing = station.ws, None
    if overlap and station.connected:
        assert old is not None
        closing = asyncio.create_task(old.close())  # the close handshake runs on meanwhile
        station.forget_socket()
    else:
        station.abort()
    try:
        if not await reopen(station, tally, deadline):
            return
        message_id = station.new_id()
        reply = await station.call(station.status_frame(message_id), message_id, tally, deadline)
        if reply is not None and reply[0] == CALLRESULT:
            tally.settle(time.monotonic())
    except Gone:
        tally.disconnects += 1
        station.forget_socket()
    finally:
        if closing is not None:
            await asyncio.gather(closing, return_exceptions=True)


RUNNERS = {Ramp: ramp, Steady: steady, BootStorm: boot_storm, ReconnectStorm: reconnect_storm}


# -- the process ---------------------------------------------------------------------------------


async def finish(stations: list[LoadStation], drain_s: float) -> None:
    """Wait up to drain_s for replies to timed-out CALLs; what is still unanswered is lost."""

    async def drain(station: LoadStation) -> None:
        with contextlib.suppress(*Gone):
            await station.idle_until(time.monotonic() + drain_s, Tally())

    await asyncio.gather(*(drain(s) for s in stations if s.unanswered and s.connected))
    for station in stations:
        for waiting in station.unanswered.values():
            waiting.tally.lost += 1
        station.unanswered.clear()


async def close_all(stations: list[LoadStation]) -> None:
    async def close(station: LoadStation) -> None:
        if station.ws is not None:
            with contextlib.suppress(TimeoutError, *Gone):
                async with asyncio.timeout(CLOSE_TIMEOUT_S):
                    await station.ws.close()
            station.ws.transport.abort()

    await asyncio.gather(*(close(s) for s in stations))


async def work(plan: WorkerPlan, pipe: Connection) -> None:
    raise_open_files(len(plan.stations))
    stations = [
        LoadStation(
            station_id,
            index,
            plan.endpoint,
            plan.sources[index % len(plan.sources)] if plan.sources else None,
            random.Random(plan.seed * 1_000_003 + index),
            plan.mix,
        )
        for index, station_id in plan.stations
    ]
    pipe.send(("ready", len(stations)))
    tallies: list[Tally] = []
    while True:
        message = await asyncio.to_thread(pipe.recv)
        if message[0] == "phase":
            _, index, start = message
            phase = plan.phases[index]
            tally = Tally()
            tallies.append(tally)
            await RUNNERS[type(phase)](phase, stations, start, tally)
            tally.held = sum(1 for s in stations if s.connected)
            pipe.send(("done", index))
        else:
            await finish(stations, message[1])
            pipe.send(("tallies", tallies))
            await close_all(stations)
            return


def run_worker(plan: WorkerPlan, pipe: Connection) -> None:
    """Entry point of a worker process."""
    try:
        asyncio.run(work(plan, pipe))
    except Exception as error:  # noqa: BLE001 - the coordinator reports it
        with contextlib.suppress(OSError):
            pipe.send(("failed", f"{type(error).__name__}: {error}"))
    finally:
        pipe.close()
