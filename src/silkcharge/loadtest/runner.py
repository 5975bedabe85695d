"""The coordinator: starts the worker processes, runs the phases in step, samples the processes
under measurement around each phase, and turns the workers' tallies into a Report."""

from __future__ import annotations

import math
import multiprocessing
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from urllib.parse import urlsplit

from silkcharge.loadtest.phases import BootStorm, Mix, Phase, Ramp, ReconnectStorm, Steady
from silkcharge.loadtest.probe import Machine, ProcessGroup, Sample
from silkcharge.loadtest.report import GENERATOR_BUSY_PCT, Report, Usage, phase_report
from silkcharge.loadtest.sockets import resolve, source_addresses
from silkcharge.loadtest.station import Endpoint
from silkcharge.loadtest.tally import Tally
from silkcharge.loadtest.worker import WorkerPlan, run_worker

READY_TIMEOUT_S = 120.0
START_LEAD_S = (
    0.5  # a phase starts this long after its order is sent, at the same moment in every worker
)
STATIONS_PER_WORKER = 12_500


class LoadTestFailed(Exception):
    """A worker failed or went silent; the message says which and why."""


@dataclass(frozen=True)
class LoadTest:
    url: str  # ws://host:port/path; each station connects to <url>/<its id>
    stations: int
    phases: tuple[Phase, ...]
    workers: int = 0  # 0: one per STATIONS_PER_WORKER stations
    mix: Mix = field(default_factory=Mix)
    timeout_s: float = 10.0
    id_prefix: str = "LOAD-"
    password_prefix: str | None = "loadtest-password-"
    id_tag: str = "LOADTEST"
    seed: int = 1
    sources: tuple[str, ...] | None = None  # None: spread over 127.0.0.x for a loopback server
    gap_s: float = 2.0  # quiet time between phases

    def worker_count(self) -> int:
        wanted = self.workers or math.ceil(self.stations / STATIONS_PER_WORKER)
        return max(1, min(wanted, self.stations))

    def station_ids(self) -> list[str]:
        width = max(6, len(str(self.stations)))
        return [f"{self.id_prefix}{n:0{width}d}" for n in range(1, self.stations + 1)]


def run(
    test: LoadTest,
    measured: tuple[ProcessGroup | Machine, ...] = (),
    progress: Callable[[str], None] = lambda line: None,
) -> Report:
    """Run the load test; raises LoadTestFailed if a worker fails."""
    parts = urlsplit(test.url)
    if parts.scheme != "ws" or not parts.hostname:
        raise ValueError(f"{test.url!r}: give a ws:// URL (TLS is not load-tested)")
    port = parts.port or 80
    address = resolve(parts.hostname, port)
    sources = test.sources if test.sources is not None else source_addresses(address, test.stations)
    endpoint = Endpoint(
        test.url.rstrip("/"), address, port, test.timeout_s, test.password_prefix, test.id_tag
    )
    workers = start_workers(test, endpoint, sources)
    try:
        return coordinate(test, workers, list(measured), sources, progress)
    finally:
        for process, pipe in workers:
            process.join(30)
            if process.is_alive():
                process.terminate()
                process.join(5)
            pipe.close()


def start_workers(
    test: LoadTest, endpoint: Endpoint, sources: tuple[str, ...]
) -> list[tuple[multiprocessing.Process, Connection]]:
    indexed = list(enumerate(test.station_ids()))
    count = test.worker_count()
    context = multiprocessing.get_context("spawn")
    workers = []
    for w in range(count):
        plan = WorkerPlan(
            endpoint, tuple(indexed[w::count]), sources, test.phases, test.mix, test.seed
        )
        ours, theirs = context.Pipe()
        process = context.Process(
            target=run_worker, args=(plan, theirs), daemon=True, name=f"loadtest-{w}"
        )
        process.start()
        theirs.close()
        workers.append((process, ours))
    return workers


def receive_all(pipes: list[Connection], expect: str, timeout_s: float) -> list:
    """One message of kind `expect` from every pipe, in pipe order."""
    answers: dict[int, object] = {}
    deadline = time.monotonic() + timeout_s
    while len(answers) < len(pipes):
        remaining = deadline - time.monotonic()
        ready = wait(
            [p for i, p in enumerate(pipes) if i not in answers], timeout=max(0, remaining)
        )
        if not ready:
            raise LoadTestFailed(
                f"{len(pipes) - len(answers)} worker(s) sent no {expect} within {timeout_s:g} s"
            )
        for pipe in ready:
            try:
                message = pipe.recv()
            except EOFError:
                raise LoadTestFailed("a worker process exited without a word") from None
            if message[0] == "failed":
                raise LoadTestFailed(f"a worker failed: {message[1]}")
            if message[0] != expect:
                raise LoadTestFailed(f"a worker sent {message[0]!r}, expected {expect!r}")
            answers[pipes.index(pipe)] = message[1:]
    return [answers[i] for i in range(len(pipes))]


@dataclass
class Window:
    start: float
    end: float
    before: dict[str, Sample]
    after: dict[str, Sample]


def phase_timeout(phase: Phase, test: LoadTest) -> float:
    """How long a phase may take before its workers count as hung."""
    slack = 4 * test.timeout_s + 60
    if isinstance(phase, Steady):
        return phase.seconds + slack
    if isinstance(phase, Ramp):
        return test.stations / phase.rate + phase.deadline + slack
    if isinstance(phase, ReconnectStorm):
        return phase.deadline * phase.rounds + slack
    assert isinstance(phase, BootStorm)
    return phase.deadline + slack


def coordinate(
    test: LoadTest,
    workers: list[tuple[multiprocessing.Process, Connection]],
    measured: list[ProcessGroup | Machine],
    sources: tuple[str, ...],
    progress: Callable[[str], None],
) -> Report:
    pipes = [pipe for _, pipe in workers]
    receive_all(pipes, "ready", READY_TIMEOUT_S)
    generator = ProcessGroup("loadgen", (os.getpid(), *(p.pid for p, _ in workers)), tree=False)
    groups = [*measured, generator]
    rss_before = {g.name: g.sample().rss_kib / 1024 for g in measured}
    windows: list[Window] = []
    for index, phase in enumerate(test.phases):
        start = time.monotonic() + START_LEAD_S
        for pipe in pipes:
            pipe.send(("phase", index, start))
        time.sleep(max(0.0, start - time.monotonic()))
        before = {g.name: g.sample() for g in groups}
        if isinstance(phase, Steady):  # the window is the configured one
            end = start + phase.seconds
            time.sleep(max(0.0, end - time.monotonic()))
            after = {g.name: g.sample() for g in groups}
            receive_all(pipes, "done", phase_timeout(phase, test))
        else:  # the window lasts until every station settled or gave up
            receive_all(pipes, "done", phase_timeout(phase, test))
            end = time.monotonic()
            after = {g.name: g.sample() for g in groups}
        windows.append(Window(start, end, before, after))
        progress(f"{phase.name}: done after {time.monotonic() - start:.1f} s")
        time.sleep(test.gap_s)
    for pipe in pipes:
        pipe.send(("finish", test.timeout_s))
    finals = receive_all(pipes, "tallies", test.timeout_s + 120)
    return build_report(test, sources, windows, [f[0] for f in finals], rss_before)


def build_report(
    test: LoadTest,
    sources: tuple[str, ...],
    windows: list[Window],
    tallies_by_worker: list[list[Tally]],
    rss_before: dict[str, float],
) -> Report:
    phases = []
    warnings = []
    for index, (phase, window) in enumerate(zip(test.phases, windows, strict=True)):
        total = Tally()
        for tallies in tallies_by_worker:
            total.merge(tallies[index])
        seconds = window.end - window.start
        usage = {
            name: Usage.between(window.before[name], window.after[name], seconds)
            for name in window.after
        }
        steady = isinstance(phase, Steady)
        phases.append(
            phase_report(
                phase.name,
                "steady" if steady else phase.name,
                total,
                seconds,
                phase.seconds if steady else seconds,
                window.start,
                usage,
            )
        )
        busy = usage["loadgen"].cpu_pct / max(1, len(tallies_by_worker))
        if busy > GENERATOR_BUSY_PCT:
            warnings.append(
                f"{phase.name}: the load workers averaged {busy:.0f} % of a core each; the "
                f"generator may be the bottleneck (use more --workers, or a second machine)"
            )
        for name, sample in window.after.items():
            if sample.processes == 0:
                warnings.append(
                    f"{phase.name}: no live process left in the measured group {name!r}"
                )
    return Report(
        url=test.url,
        stations=test.stations,
        workers=len(tallies_by_worker),
        source_addresses=list(sources),
        phases=phases,
        rss_before_mib=rss_before,
        warnings=warnings,
    )
