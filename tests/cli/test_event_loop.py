"""The event loop `serve` and `demo` run on (SILKCHARGE_EVENT_LOOP): uvloop's unless asked."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from silkcharge import cli

PRINT_LOOP = textwrap.dedent("""
    import asyncio
    from silkcharge import cli

    async def main():
        print(type(asyncio.get_running_loop()).__module__, flush=True)

    cli.until_signal(main())
""")


@pytest.mark.parametrize(("setting", "module"), [(None, "uvloop"), ("uvloop", "uvloop"), ("asyncio", "asyncio")])
def test_until_signal_runs_on_the_configured_event_loop(setting, module):
    env = {k: v for k, v in os.environ.items() if k != "SILKCHARGE_EVENT_LOOP"}
    if setting is not None:
        env["SILKCHARGE_EVENT_LOOP"] = setting
    done = subprocess.run([sys.executable, "-c", PRINT_LOOP], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().split(".")[0] == module


def test_asking_for_uvloop_where_it_is_not_installed_says_what_to_do(monkeypatch):
    monkeypatch.setitem(sys.modules, "uvloop", None)  # makes `import uvloop` fail
    with pytest.raises(SystemExit) as stopped:
        cli.event_loop_factory("uvloop")
    assert "uvloop is not installed" in str(stopped.value)
    assert "SILKCHARGE_EVENT_LOOP=asyncio" in str(stopped.value)
