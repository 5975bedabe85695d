"""How a silkcharge process stops: SIGINT or SIGTERM cancels its main task, and if that stop
takes longer than the grace period the process ends anyway, saying what held it.

The signals are heard by a thread, not by the event loop. asyncio's own signal handlers run only
when the loop gets back to its selector, so anything that holds the loop (a CPU-bound request, a
runaway loop over bad input) made the process deaf to SIGTERM until it was killed with SIGKILL
(issue 14). Python's C-level handler writes each signal's number to the interpreter's wakeup fd
whatever the main thread is doing; a thread reading that fd asks the loop to cancel the task and
starts the grace clock. When the clock runs out it logs what every task awaits and where the
event loop's thread is, and ends the process with status 1. A second signal ends it at once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
import threading
import traceback
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopOnSignal:
    """Installed around the main task by `run_until_signal`; one per process."""

    def __init__(self, loop: asyncio.AbstractEventLoop, task: asyncio.Future, grace_seconds: float) -> None:
        self._loop = loop
        self._task = task
        self._grace = grace_seconds
        self._stopping = threading.Event()
        self._reader, self._writer = socket.socketpair()
        self._writer.setblocking(False)
        self._previous_fd = -1
        self._previous_handlers: dict[int, object] = {}
        self._listener = threading.Thread(target=self._listen, name="stop-on-signal", daemon=True)

    def install(self) -> None:
        """Call from the main thread (signal handlers and the wakeup fd live there)."""
        for sig in STOP_SIGNALS:
            # A Python-level handler makes the interpreter catch the signal (and write the wakeup
            # fd); it does nothing itself, so no KeyboardInterrupt lands in the middle of a write.
            self._previous_handlers[sig] = signal.signal(sig, _ignore)
        self._previous_fd = signal.set_wakeup_fd(self._writer.fileno(), warn_on_full_buffer=False)
        self._listener.start()

    def reclaim(self) -> None:
        """Call from inside the running loop: an event loop may set its own wakeup fd while it
        runs (uvloop does, for its own signal handlers, which silkcharge does not use), and the
        listener would not hear a signal again until the loop stopped."""
        signal.set_wakeup_fd(self._writer.fileno(), warn_on_full_buffer=False)

    def uninstall(self) -> None:
        signal.set_wakeup_fd(self._previous_fd)
        for sig, handler in self._previous_handlers.items():
            signal.signal(sig, handler)
        self._writer.close()  # the listener reads end-of-file and returns
        self._listener.join(timeout=5)
        self._reader.close()

    def _listen(self) -> None:
        while True:
            try:
                received = self._reader.recv(64)
            except OSError:
                return
            if not received:
                return
            for number in received:
                if number in STOP_SIGNALS:
                    self._signalled(signal.Signals(number))

    def _signalled(self, sig: signal.Signals) -> None:
        if self._stopping.is_set():
            log.error("%s again while stopping: ending the process now", sig.name)
            _end_process()
        self._stopping.set()
        log.info("%s: stopping (at most %g s)", sig.name, self._grace)
        timer = threading.Timer(self._grace, self._overdue)
        timer.daemon = True
        timer.start()
        try:
            self._loop.call_soon_threadsafe(self._cancel)
        except RuntimeError:  # the loop is closed already: the process is on its way out
            pass

    def _cancel(self) -> None:
        if not self._task.done():
            self._task.cancel()

    def _overdue(self) -> None:
        pending = [t for t in _tasks_of(self._loop) if not t.done()]
        log.error("stop took over %g s; %d tasks still running, ending the process", self._grace, len(pending))
        for t in pending[:20]:
            log.error("still running: %s: %s", t.get_name(), " -> ".join(awaiting(t.get_coro())))
        log.error("the event loop's thread is at: %s", main_thread_position())
        _end_process()


def run_until_signal(
    coro, grace_seconds: float, loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None
) -> None:
    """Run `coro` in a new event loop (made by `loop_factory`, asyncio's own by default) until it
    returns or SIGINT/SIGTERM stops it (see the module).

    The signals stay ours until the loop is closed: asyncio's own clean-up after the main task
    (cancelling the tasks left, waiting for them) can hang on a task that swallows its
    cancellation, and a second signal must still end the process then. Given back any earlier,
    asyncio's runner would take the second SIGINT as its own first one and wait on (issue 14).
    That clean-up runs inside the main run, where the wakeup fd is taken back from a loop that
    sets its own (`StopOnSignal.reclaim`); the runner's close then finds nothing left to wait on.
    """
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        loop = runner.get_loop()
        task = loop.create_task(coro)
        stopper = StopOnSignal(loop, task, grace_seconds)
        stopper.install()
        try:
            runner.run(_until_done(task, stopper))
            runner.close()
        finally:
            stopper.uninstall()


async def _until_done(task: asyncio.Task, stopper: StopOnSignal) -> None:
    stopper.reclaim()
    try:
        await task
    except asyncio.CancelledError:
        pass
    finally:
        await _clean_up()


async def _clean_up() -> None:
    """What `asyncio.Runner.close` does, here, while the stop signals are heard: cancel the
    tasks left and wait for them, close async generators, shut the default executor down."""
    loop = asyncio.get_running_loop()
    left = [t for t in asyncio.all_tasks(loop) if t is not asyncio.current_task() and not t.done()]
    for t in left:
        t.cancel()
    for outcome in await asyncio.gather(*left, return_exceptions=True):
        if isinstance(outcome, Exception):
            loop.call_exception_handler(
                {"message": "unhandled exception during shutdown", "exception": outcome}
            )
    await loop.shutdown_asyncgens()
    await loop.shutdown_default_executor()


def _ignore(_signum, _frame) -> None:
    """The Python-level half of a stop signal: the listener thread does the work."""


def _tasks_of(loop: asyncio.AbstractEventLoop) -> list[asyncio.Task]:
    try:
        return list(asyncio.all_tasks(loop))
    except RuntimeError:  # the set changed while copied, from the loop's own thread
        return []


def awaiting(coro) -> list[str]:
    """Where a suspended coroutine waits: its frame, then the frames of what it awaits."""
    chain = []
    while coro is not None and len(chain) < 12:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is None:
            chain.append(type(coro).__name__)
            break
        chain.append(f"{frame.f_code.co_name} ({Path(frame.f_code.co_filename).name}:{frame.f_lineno})")
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    return chain


def main_thread_position(depth: int = 6) -> str:
    """The innermost frames of the main thread: where a loop that does not answer is busy."""
    frame = sys._current_frames().get(threading.main_thread().ident)
    if frame is None:
        return "(unknown)"
    stack = traceback.extract_stack(frame)[-depth:]
    return " <- ".join(f"{f.name} ({Path(f.filename).name}:{f.lineno})" for f in reversed(stack))


def _end_process() -> None:
    logging.shutdown()
    os._exit(1)
