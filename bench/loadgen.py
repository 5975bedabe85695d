"""The load: many OCPP 1.6 stations in one process, each a raw WebSocket client.

Kept lean on purpose, because it shares the machine's cores with the server it measures: no
`ocpp` ChargePoint, no schema validation, frames spliced from templates that orjson encoded
once, replies parsed with orjson and matched by message id. Each station keeps at most one
CALL outstanding, as OCPP-J requires, and waits for its reply before the next.

A worker process runs a slice of the stations. It reports over a pipe when they are connected
and booted, waits for the "go" with the shared start time, runs every phase on the system-wide
monotonic clock and sends back one Tally per phase.
"""

from __future__ import annotations

import asyncio
import base64
import random
import resource
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

CALL, CALLRESULT, CALLERROR = 2, 3, 4
HANDSHAKES_AT_ONCE = 50
STATUSES = (b"Available", b"Preparing", b"Charging", b"Finishing")


@dataclass(frozen=True)
class Phase:
    """One stretch of load. rate > 0: each station sends `rate` CALLs a second (or as fast as
    replies allow, if the server falls behind); rate == 0: a closed loop, the next CALL as soon
    as the reply is in, after `think_s`."""

    name: str
    seconds: float
    rate: float = 0.0
    think_s: float = 0.0


@dataclass(frozen=True)
class Mix:
    heartbeat: float = 0.2
    status: float = 0.2
    meter_values: float = 0.6


@dataclass
class Tally:
    """What one worker saw in one phase. Latencies are in milliseconds."""

    sent: int = 0
    answered_in_window: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    call_errors: dict[str, int] = field(default_factory=dict)
    timeouts: int = 0
    late_replies: int = 0
    lost: int = 0
    disconnects: int = 0
    held: int = 0
    client_cpu_s: float = 0.0

    def merge(self, other: Tally) -> None:
        self.sent += other.sent
        self.answered_in_window += other.answered_in_window
        self.latencies_ms.extend(other.latencies_ms)
        for code, count in other.call_errors.items():
            self.call_errors[code] = self.call_errors.get(code, 0) + count
        self.timeouts += other.timeouts
        self.late_replies += other.late_replies
        self.lost += other.lost
        self.disconnects += other.disconnects
        self.held += other.held
        self.client_cpu_s += other.client_cpu_s


@dataclass(frozen=True)
class WorkerPlan:
    url: str
    station_ids: tuple[str, ...]
    phases: tuple[Phase, ...]
    gap_s: float
    timeout_s: float
    mix: Mix
    seed: int


@dataclass
class Ready:
    connected: int
    refused: list[str]
    boot_latencies_ms: list[float]
    boot_rejected: int


# -- frames ------------------------------------------------------------------------------------


def _template(action: str, payload: dict) -> bytes:
    """A CALL frame encoded once, with %b holes where ID, TS, STATUS and METER stand."""
    encoded = orjson.dumps([CALL, "ID", action, payload])
    for hole in (b'"ID"', b'"TS"', b'"STATUS"', b'"METER"'):
        encoded = encoded.replace(hole, b'"%b"')
    return encoded


BOOT = _template(
    "BootNotification", {"chargePointVendor": "silkcharge-bench", "chargePointModel": "loadgen"}
)
HEARTBEAT = _template("Heartbeat", {})
STATUS = _template(
    "StatusNotification",
    {"connectorId": 1, "errorCode": "NoError", "status": "STATUS", "timestamp": "TS"},
)
METER_VALUES = _template(
    "MeterValues",
    {
        "connectorId": 1,
        "meterValue": [
            {
                "timestamp": "TS",
                "sampledValue": [
                    {"value": "METER", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                    {"value": "7210", "measurand": "Power.Active.Import", "unit": "W"},
                    {"value": "31.4", "measurand": "Current.Import", "unit": "A", "phase": "L1"},
                    {"value": "229.6", "measurand": "Voltage", "unit": "V", "phase": "L1-N"},
                ],
            }
        ],
    },
)


def ocpp_now() -> bytes:
    moment = datetime.now(UTC)
    return b"%s.%03dZ" % (moment.strftime("%Y-%m-%dT%H:%M:%S").encode(), moment.microsecond // 1000)


class Station:
    """One simulated station's socket and counters."""

    def __init__(self, station_id: str, ws: ClientConnection, rng: random.Random, mix: Mix) -> None:
        self.station_id = station_id
        self.ws = ws
        self.rng = rng
        self.weights = (mix.heartbeat, mix.status, mix.meter_values)
        self.next_id = 0
        self.meter_wh = rng.randrange(10_000, 1_000_000)
        self.unanswered: dict[bytes, Tally] = {}  # timed-out CALLs, by the phase that sent them
        self.closed = False

    def frame(self, message_id: bytes) -> bytes:
        kind = self.rng.choices((0, 1, 2), self.weights)[0]
        if kind == 0:
            return HEARTBEAT % message_id
        if kind == 1:
            return STATUS % (message_id, self.rng.choice(STATUSES), ocpp_now())
        self.meter_wh += self.rng.randrange(1, 40)
        return METER_VALUES % (message_id, ocpp_now(), b"%d" % self.meter_wh)

    def new_id(self) -> bytes:
        self.next_id += 1
        return b"%x" % self.next_id

    async def reply_to(self, message_id: bytes, tally: Tally) -> list:
        """Read frames until the reply to `message_id` arrives (bounded by the caller's timeout)."""
        while True:
            raw = await self.ws.recv(decode=False)
            frame = orjson.loads(raw)
            if frame[0] == CALL:
                await self.refuse(frame[1])
                continue
            reply_id = frame[1].encode()
            if reply_id == message_id:
                return frame
            owner = self.unanswered.pop(reply_id, None)
            if owner is not None:
                owner.late_replies += 1

    async def refuse(self, message_id: str) -> None:
        """The bench stations implement nothing the CSMS might ask of them."""
        error = orjson.dumps([CALLERROR, message_id, "NotImplemented", "benchmark station", {}])
        await self.ws.send(error, text=True)


# -- one station's life ------------------------------------------------------------------------


async def sleep_until(moment: float) -> None:
    delay = moment - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)


async def exchange(station: Station, tally: Tally, timeout_s: float, window_end: float) -> None:
    """One CALL and its reply, counted in `tally`."""
    message_id = station.new_id()
    frame = station.frame(message_id)
    sent = time.perf_counter()
    await station.ws.send(frame, text=True)
    tally.sent += 1
    try:
        async with asyncio.timeout(timeout_s):
            reply = await station.reply_to(message_id, tally)
    except TimeoutError:
        tally.timeouts += 1
        station.unanswered[message_id] = tally
        return
    tally.latencies_ms.append((time.perf_counter() - sent) * 1000.0)
    if time.monotonic() < window_end:
        tally.answered_in_window += 1
    if reply[0] == CALLERROR:
        code = str(reply[2])
        tally.call_errors[code] = tally.call_errors.get(code, 0) + 1


async def run_phase(
    station: Station, phase: Phase, start: float, tally: Tally, timeout_s: float
) -> None:
    end = start + phase.seconds
    interval = 1.0 / phase.rate if phase.rate > 0 else 0.0
    next_at = start + station.rng.random() * interval
    await sleep_until(next_at)
    max_calls = int(phase.seconds * (phase.rate or 1e5)) + 1
    for _ in range(max_calls):
        if time.monotonic() >= end:
            break
        await exchange(station, tally, timeout_s, end)
        if interval:
            next_at = max(next_at + interval, time.monotonic())
            if next_at >= end:
                break
            await sleep_until(next_at)
        elif phase.think_s:
            await asyncio.sleep(phase.think_s)


async def run_station(station: Station, plan: WorkerPlan, t0: float, tallies: list[Tally]) -> None:
    start = t0
    for phase, tally in zip(plan.phases, tallies):
        if not station.closed:
            try:
                await sleep_until(start)
                await run_phase(station, phase, start, tally, plan.timeout_s)
            except (ConnectionClosed, OSError):
                station.closed = True
                tally.disconnects += 1
        tally.held += 0 if station.closed else 1
        start += phase.seconds + plan.gap_s


async def drain(station: Station, seconds: float) -> None:
    """Give timed-out CALLs a last chance to be answered; what stays unanswered is lost."""
    if station.unanswered and not station.closed:
        try:
            async with asyncio.timeout(seconds):
                await station.reply_to(b"", Tally())
        except (TimeoutError, ConnectionClosed, OSError):
            pass
    for owner in station.unanswered.values():
        owner.lost += 1


# -- connecting and booting ----------------------------------------------------------------------


async def open_station(
    url: str, station_id: str, gate: asyncio.Semaphore, timeout_s: float
) -> ClientConnection:
    password = f"bench-password-{station_id}"
    token = base64.b64encode(f"{station_id}:{password}".encode()).decode()
    async with gate:
        return await connect(
            f"{url}/{station_id}",
            subprotocols=["ocpp1.6"],
            additional_headers={"Authorization": f"Basic {token}"},
            compression=None,
            proxy=None,
            open_timeout=timeout_s,
            ping_interval=None,
            close_timeout=2,
        )


async def boot(station: Station, timeout_s: float) -> tuple[float, bool]:
    message_id = station.new_id()
    sent = time.perf_counter()
    await station.ws.send(BOOT % message_id, text=True)
    async with asyncio.timeout(timeout_s):
        reply = await station.reply_to(message_id, Tally())
    accepted = reply[0] == CALLRESULT and reply[2].get("status") == "Accepted"
    return (time.perf_counter() - sent) * 1000.0, accepted


async def bring_up(plan: WorkerPlan) -> tuple[list[Station], Ready]:
    gate = asyncio.Semaphore(HANDSHAKES_AT_ONCE)
    opened = await asyncio.gather(
        *(open_station(plan.url, sid, gate, plan.timeout_s) for sid in plan.station_ids),
        return_exceptions=True,
    )
    stations, refused = [], []
    for index, (sid, ws) in enumerate(zip(plan.station_ids, opened)):
        if isinstance(ws, BaseException):
            refused.append(f"{sid}: {type(ws).__name__}: {ws}"[:200])
        else:
            stations.append(
                Station(sid, ws, random.Random(plan.seed * 1_000_003 + index), plan.mix)
            )
    boots = await asyncio.gather(
        *(boot(s, plan.timeout_s) for s in stations), return_exceptions=True
    )
    latencies = [b[0] for b in boots if not isinstance(b, BaseException)]
    rejected = sum(1 for b in boots if isinstance(b, BaseException) or not b[1])
    return stations, Ready(len(stations), refused, latencies, rejected)


# -- the worker process --------------------------------------------------------------------------


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def watch_cpu(plan: WorkerPlan, t0: float, tallies: list[Tally]) -> None:
    start = t0
    for phase, tally in zip(plan.phases, tallies):
        await sleep_until(start)
        before = cpu_seconds()
        await sleep_until(start + phase.seconds)
        tally.client_cpu_s = cpu_seconds() - before
        start += phase.seconds + plan.gap_s


async def work(plan: WorkerPlan, pipe: Connection) -> None:
    stations, ready = await bring_up(plan)
    pipe.send(ready)
    if not await asyncio.to_thread(pipe.poll, 300):
        raise SystemExit("the benchmark never said go")
    t0 = pipe.recv()
    tallies = [Tally() for _ in plan.phases]
    await asyncio.gather(
        watch_cpu(plan, t0, tallies), *(run_station(s, plan, t0, tallies) for s in stations)
    )
    await asyncio.gather(*(drain(s, plan.gap_s) for s in stations))
    pipe.send(tallies)
    await asyncio.gather(*(s.ws.close() for s in stations), return_exceptions=True)


def run_worker(plan: WorkerPlan, pipe: Connection) -> None:
    """Entry point of a worker process."""
    try:
        asyncio.run(work(plan, pipe))
    except Exception as error:  # noqa: BLE001 - the parent reports it, naming the server measured
        pipe.send(RuntimeError(f"{type(error).__name__}: {error}"))
    finally:
        pipe.close()
