"""`silkcharge seed` writes the simulator's fleet file, which holds the stations' passwords: only
its owner may read it, whatever the umask, and a rewrite never widens that."""

from __future__ import annotations

import os
import stat

from typer.testing import CliRunner

from silkcharge.cli import app

runner = CliRunner()


def test_seed_writes_the_fleet_file_readable_by_its_owner_only(tmp_path, monkeypatch):
    monkeypatch.setenv("SILKCHARGE_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/seed.sqlite3")
    fleet = tmp_path / "var" / "fleet.json"
    old = os.umask(0o022)
    try:
        result = runner.invoke(app, ["seed", "--fleet", str(fleet)])
    finally:
        os.umask(old)
    assert result.exit_code == 0, result.output
    assert '"password"' in fleet.read_text()  # the simulator needs them to act as the chargers
    assert stat.S_IMODE(fleet.stat().st_mode) == 0o600


def test_seeding_over_a_world_readable_fleet_file_closes_it(tmp_path, monkeypatch):
    monkeypatch.setenv("SILKCHARGE_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/seed.sqlite3")
    fleet = tmp_path / "fleet.json"
    fleet.write_text("[]")
    fleet.chmod(0o644)
    result = runner.invoke(app, ["seed", "--fleet", str(fleet)])
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(fleet.stat().st_mode) == 0o600
