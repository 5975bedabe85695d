"""bench/sqlite_meter_write.py writes what the gateway writes on SQLite, on three schemas of its
own: every schema stores every reading of every round (the benchmark checks the count itself and
exits if it differs), and its table has a row per round and schema. Not a benchmark: a few rows."""

from __future__ import annotations

from tests.loading import script_module


def test_every_schema_stores_every_reading_of_every_round(capsys):
    bench = script_module("bench/sqlite_meter_write.py")
    bench.main(["--stations", "3", "--fill", "2", "--messages", "2", "--batch", "2", "--rounds", "2"])
    rows = [line.split("|")[1:4] for line in capsys.readouterr().out.splitlines() if line.startswith("| ")]
    measured = [[cell.strip() for cell in row] for row in rows[1:]]  # the header's row first
    assert sorted(measured) == sorted(
        [str(round_), schema, f"{4 * 3 * (2 + (round_ - 1) * 2):,}"]
        for round_ in (1, 2) for schema, _ in bench.SCHEMAS
    )
