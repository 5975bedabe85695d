"""A stop that hangs on one stuck task ends anyway, and says which task held it; SIGTERM is heard
also while the event loop is held (issue 14: a frozen loop ignored it until SIGKILL). Each on
both event loops `serve` can run: uvloop sets its own signal wakeup fd while it runs, and the
stop listener must take it back (shutdown.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest


@pytest.fixture(autouse=True, params=["uvloop", "asyncio"])
def event_loop_name(request, monkeypatch):
    """Every child process below runs `cli.until_signal` on this loop."""
    monkeypatch.setenv("SILKCHARGE_EVENT_LOOP", request.param)
    return request.param


STUBBORN = textwrap.dedent("""
    import asyncio, logging
    from silkcharge import cli

    async def stubborn():
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                pass  # a task that swallows its cancellation: the stop would hang forever

    async def main():
        asyncio.create_task(stubborn(), name="stubborn-writer")
        await asyncio.sleep(0)
        print("ready", flush=True)  # the signal handlers are in place by now
        await asyncio.sleep(3600)

    logging.basicConfig(level="INFO")
    cli.until_signal(main())
""")


def test_a_stop_stuck_past_the_grace_period_ends_the_process_and_names_the_task():
    env = {**os.environ, "SILKCHARGE_STOP_GRACE_SECONDS": "1"}
    child = subprocess.Popen(
        [sys.executable, "-c", STUBBORN], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout.readline().strip() == "ready"
        child.send_signal(signal.SIGTERM)
        started = time.monotonic()
        _, stderr = child.communicate(timeout=30)
    finally:
        child.kill()
    assert child.returncode == 1
    assert time.monotonic() - started < 25, "ended by the grace period, not by the test's timeout"
    assert "stop took over 1 s" in stderr
    assert "still running: stubborn-writer: stubborn (" in stderr, "names the task and where it waits"


def test_a_clean_stop_exits_normally():
    script = textwrap.dedent("""
        import asyncio
        from silkcharge import cli

        async def main():
            await asyncio.sleep(0)
            print("ready", flush=True)
            await asyncio.sleep(3600)

        cli.until_signal(main())
    """)
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=30) == 0
    finally:
        child.kill()


HOGS = {
    "python": "while True:\n            sum(range(1000))  # a runaway loop over bad input",
    "blocking call": "time.sleep(3600)  # a blocking call made on the loop",
}


@pytest.mark.parametrize("hog", HOGS)
def test_sigterm_ends_a_process_whose_event_loop_is_held(hog):
    script = textwrap.dedent("""
        import asyncio, logging, time
        from silkcharge import cli

        async def main():
            await asyncio.sleep(0)
            print("ready", flush=True)
            HOG

        logging.basicConfig(level="INFO")
        cli.until_signal(main())
    """).replace("HOG", HOGS[hog])
    env = {**os.environ, "SILKCHARGE_STOP_GRACE_SECONDS": "1"}
    child = subprocess.Popen(
        [sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout.readline().strip() == "ready"
        child.send_signal(signal.SIGTERM)
        _, stderr = child.communicate(timeout=60)
    finally:
        child.kill()
    assert child.returncode == 1, "ended by the grace period, not by the test's kill"
    assert "SIGTERM: stopping (at most 1 s)" in stderr
    assert "the event loop's thread is at: main (<string>:" in stderr, "says where the loop was held"


def test_a_second_signal_ends_the_process_at_once():
    returncode, stderr = _stop_twice(STUBBORN, when_it_prints="ready")
    assert returncode == 1
    assert "SIGINT again while stopping: ending the process now" in stderr


def _stop_twice(script: str, when_it_prints: str) -> tuple[int, str]:
    """SIGTERM once `script` prints the line, SIGINT once it logs that it is stopping; its exit
    status and log. The grace period is long: only the second signal can end it in time."""
    env = {**os.environ, "SILKCHARGE_STOP_GRACE_SECONDS": "600"}
    child = subprocess.Popen(
        [sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout.readline().strip() == when_it_prints
        child.send_signal(signal.SIGTERM)
        _wait_for_line(child.stderr, "SIGTERM: stopping")
        child.send_signal(signal.SIGINT)
        _, stderr = child.communicate(timeout=60)
    finally:
        child.kill()
    return child.returncode, stderr



def _wait_for_line(stream, text: str) -> None:
    for line in stream:
        if text in line:
            return
    raise AssertionError(f"the process ended without logging {text!r}")


def test_signals_are_still_heard_while_the_finished_loop_waits_on_a_stubborn_task():
    # The main task has returned; asyncio's clean-up cancels the task left and waits on it for
    # ever. A stop signal then must still start the grace clock, and a second end the process
    # (before, the handlers were given back at that point and the second SIGINT was swallowed).
    script = textwrap.dedent("""
        import asyncio, logging
        from silkcharge import cli

        async def stubborn():
            while True:
                try:
                    await asyncio.sleep(3600)
                except asyncio.CancelledError:
                    print("cancelled, carrying on", flush=True)

        async def main():
            asyncio.create_task(stubborn(), name="stubborn-writer")
            await asyncio.sleep(0)

        logging.basicConfig(level="INFO")
        cli.until_signal(main())
    """)
    returncode, stderr = _stop_twice(script, when_it_prints="cancelled, carrying on")
    assert returncode == 1
    assert "SIGINT again while stopping: ending the process now" in stderr
