"""The driver-facing commands print what a person needs, and say what to change on bad input."""

from __future__ import annotations

from typer.testing import CliRunner

from silkcharge.cli import app

runner = CliRunner()


def test_plan_trip_prints_the_legs_and_totals_from_the_seed_network(tmp_path, monkeypatch):
    monkeypatch.setenv("SILKCHARGE_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/empty.sqlite3")
    monkeypatch.setenv("COLUMNS", "200")
    result = runner.invoke(app, ["plan-trip", "Almaty", "Tashkent", "--vehicle", "byd-han-flagship-2025-cn"])
    assert result.exit_code == 0, result.output
    assert "packaged seed network" in result.output
    assert "Almaty" in result.output and "Tashkent" in result.output
    assert "total " in result.output and "GB/T DC" in result.output


def test_plan_trip_with_an_unknown_vehicle_suggests_close_ids(tmp_path, monkeypatch):
    monkeypatch.setenv("SILKCHARGE_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/empty.sqlite3")
    result = runner.invoke(app, ["plan-trip", "Almaty", "Bishkek", "--vehicle", "byd-han-flagship-2025"])
    assert result.exit_code == 2
    assert "byd-han-flagship-2025-cn" in result.output


def test_vehicles_compare_puts_two_cars_side_by_side_and_refuses_one():
    wide = {"COLUMNS": "200"}
    both = runner.invoke(app, ["vehicles", "compare", "byd-han-flagship-2025-cn", "byd-han-flagship-2025-eu"],
                         env=wide)
    assert both.exit_code == 0, both.output
    assert "gbt_dc" in both.output.lower() or "gb/t" in both.output.lower()
    one = runner.invoke(app, ["vehicles", "compare", "byd-han-flagship-2025-cn"], env=wide)
    assert one.exit_code == 2
