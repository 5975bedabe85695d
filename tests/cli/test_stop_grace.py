"""A stop that hangs on one stuck task ends anyway, and says which task held it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

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
    cli._run(cli._until_signal(main()))
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

        cli._run(cli._until_signal(main()))
    """)
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=30) == 0
    finally:
        child.kill()
