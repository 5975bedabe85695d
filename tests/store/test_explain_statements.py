"""scripts/explain_demo_statements.py folds a statement's values so that its runs count as one,
and flags a plan that reads a whole table but not one that seeks through an index. (The demo
run itself is the script's; here its statements are fed by hand.)"""

from __future__ import annotations

import sqlite3

from tests.loading import script_module


def test_runs_of_one_statement_count_once_and_only_whole_table_reads_are_flagged(tmp_path, capsys):
    script = script_module("scripts/explain_demo_statements.py")
    database = tmp_path / "network.sqlite3"
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE sessions (id INTEGER PRIMARY KEY, station TEXT, state TEXT)")
        connection.execute("CREATE INDEX ix_sessions_station ON sessions (station)")
    traced = script.Traced()
    for station in ("KZ-ALA-001", "UZ-TAS-002", "KG-BIS-003"):
        traced(f"SELECT id FROM sessions WHERE station = '{station}'")
    traced("SELECT id FROM sessions WHERE state = 'Active'")
    traced("BEGIN")

    found = script.explain(traced, database, show_all=False)

    assert {entry["statement"]: entry["count"] for entry in found} == {
        "SELECT id FROM sessions WHERE station = ?": 3, "SELECT id FROM sessions WHERE state = ?": 1}
    flagged = [entry["statement"] for entry in found if entry["scans"]]
    assert flagged == ["SELECT id FROM sessions WHERE state = ?"]
    assert "1 read a whole table" in capsys.readouterr().out
