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


def test_plan_trip_prints_the_notes_of_a_crossing_in_english_marked_unverified(tmp_path, monkeypatch):
    """The CLI has no language option: crossing notes and hours print in English, an unchecked
    fact with "(unverified)", never the data's raw [memory] tag or a text key."""
    monkeypatch.setenv("SILKCHARGE_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/empty.sqlite3")
    monkeypatch.setenv("COLUMNS", "200")
    result = runner.invoke(app, ["plan-trip", "Bukhara", "Turkmenabat", "--vehicle", "chery-eq7-2024-cn",
                                 "--date", "2026-07-15"])
    assert result.exit_code == 0, result.output
    assert "note: Alat – Farap: a Turkmen transit visa is required (unverified)" in result.output
    assert "note: Alat – Farap: open daily 09:00–18:00 (UTC+5) (unverified)" in result.output
    assert "[memory]" not in result.output and "note.tm" not in result.output


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


def _empty_database(tmp_path, monkeypatch):
    monkeypatch.setenv("SILKCHARGE_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/empty.sqlite3")


def test_a_mistake_is_an_error_on_stderr_with_exit_code_2_and_nothing_on_stdout(tmp_path, monkeypatch):
    _empty_database(tmp_path, monkeypatch)
    for args in (["plan-trip", "Almaty", "Nowhere", "--vehicle", "byd-han-flagship-2025-cn"],
                 ["plan-trip", "Almaty", "Bishkek", "--vehicle", "no-such-car"],
                 ["simulate", "--fleet", str(tmp_path / "missing.json")],
                 ["smart", "what-if", "--vehicles", "4", "--power-kw", "22", "--connection-kw", "50",
                  "--arrive", "late"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert result.stdout == "", args
        assert result.stderr.startswith("error: "), (args, result.stderr)


def test_a_bad_value_is_named_by_its_flag_not_its_python_field(tmp_path, monkeypatch):
    _empty_database(tmp_path, monkeypatch)
    result = runner.invoke(app, ["plan-trip", "Almaty", "Bishkek", "--vehicle", "byd-han-flagship-2025-cn",
                                 "--start-soc", "120"])
    assert result.exit_code == 2
    assert "--start-soc must be a percentage" in result.stderr and "start_soc" not in result.stderr


def test_a_mistyped_vehicle_far_from_any_id_still_gets_the_nearest_ids_by_their_words(tmp_path, monkeypatch):
    _empty_database(tmp_path, monkeypatch)
    result = runner.invoke(app, ["plan-trip", "Almaty", "Bishkek", "--vehicle", "byd-hann-2025"])
    assert result.exit_code == 2
    assert "did you mean byd-" in result.stderr
    assert "silkcharge vehicles search" in result.stderr
