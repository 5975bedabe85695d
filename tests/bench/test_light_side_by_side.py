"""bench/light_side_by_side.py runs a base revision and this tree at once under a light load:
a few stations and CALLs, not a benchmark. Needs git, Node and bench/node's packages (`make
test` installs them first)."""

from __future__ import annotations

import math
import os
import subprocess
from pathlib import Path

import psycopg
import pytest

from tests.bench.test_node_generator import NODE_DIR, _need
from tests.conftest import PG_ADMIN, _pg_available
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


@pytest.mark.postgres
def test_on_postgresql_each_side_answers_from_a_database_of_its_own_which_is_dropped_after(capsys):
    _need((NODE_DIR / "node_modules" / "ws").is_dir(), "bench/node/node_modules (make bench-node)")
    _need(_pg_available(), "PostgreSQL on 127.0.0.1:5432")
    bench = script_module("bench/light_side_by_side.py")
    assert not bench_databases()
    results = bench.main([
        "--base", "HEAD", "--database", "postgres", "--pg-admin", PG_ADMIN,
        "--stations", "3", "--messages", "2", "--rate", "5", "--rounds", "1", "--warm-up", "1",
    ])  # fmt: skip
    (result,) = results
    assert len(result.rows) == 2 and all(row.ok for row in result.rows.values())
    assert "PostgreSQL" in capsys.readouterr().out
    assert not bench_databases(), "both sides' databases were dropped"


def bench_databases() -> set[str]:
    """The two sides' databases, if they exist (named by this process: another test worker may
    be making its own)."""
    names = [f"silkcharge_bench_{os.getpid()}_{side}" for side in (0, 1)]
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        return {name for (name,) in admin.execute(
            "SELECT datname FROM pg_database WHERE datname = ANY(%s)", (names,))}


def test_a_base_revision_that_does_not_exist_is_refused_with_its_name():
    _need((NODE_DIR / "node_modules" / "ws").is_dir(), "bench/node/node_modules (make bench-node)")
    bench = script_module("bench/light_side_by_side.py")
    with pytest.raises(SystemExit, match="cannot check out --base no-such-revision"):
        bench.main(["--base", "no-such-revision"])
