"""bench/light_side_by_side.py runs a base revision and this tree at once under a light load:
a few stations and CALLs, not a benchmark. Needs git, Node and bench/node's packages (`make
test` installs them first)."""

from __future__ import annotations

import math
import subprocess
from pathlib import Path

import pytest

from tests.bench.test_node_generator import NODE_DIR, _need
from tests.loading import script_module

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def test_both_sides_answer_every_light_round_and_the_tables_name_the_base_revision(capsys):
    _need((NODE_DIR / "node_modules" / "ws").is_dir(), "bench/node/node_modules (make bench-node)")
    bench = script_module("bench/light_side_by_side.py")
    results = bench.main([
        "--base", "HEAD", "--stations", "3", "--messages", "2", "--rate", "5", "--rounds", "2", "--warm-up", "1",
    ])  # fmt: skip
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True, check=True).stdout.strip()
    assert [(r.version, r.kind, r.round_) for r in results] == [("1.6", "status", 1), ("1.6", "status", 2)]
    for result in results:
        assert set(result.rows) == {f"base {head}", "this tree"}
        for row in result.rows.values():
            assert row.ok, row.problems
            assert (row.load, row.stations, row.messages) == ("light", 3, 2)
            assert math.isfinite(row.p50_ms) and row.p50_ms > 0
    out = capsys.readouterr().out
    assert "| 1.6 | StatusNotification | 2 | " in out  # the summary: two rounds
    assert f"base {head} p50 ms" in out


def test_a_base_revision_that_does_not_exist_is_refused_with_its_name():
    _need((NODE_DIR / "node_modules" / "ws").is_dir(), "bench/node/node_modules (make bench-node)")
    bench = script_module("bench/light_side_by_side.py")
    with pytest.raises(SystemExit, match="cannot check out --base no-such-revision"):
        bench.main(["--base", "no-such-revision"])
