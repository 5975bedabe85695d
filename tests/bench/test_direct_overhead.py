"""bench/direct_overhead.py still times what it says on today's store (Direct, the pool,
aiosqlite's thread): a few calls of each step, not a benchmark."""

from __future__ import annotations

from tests.loading import script_module


def test_the_benchmark_times_each_layer_of_a_batch_of_one(capsys):
    bench = script_module("bench/direct_overhead.py")
    rows = bench.main(["--calls", "20"])
    assert [name for name, _, _ in rows] == [
        "Direct.run of SELECT 1, committed",
        "one hand-over to aiosqlite's thread and back",
        "greenlet_spawn of a no-op",
        "pool checkout and return (with its rollback)",
        "pool checkout and return of a committed connection",
    ]
    assert all(wall > 0 and cpu >= 0 for _, wall, cpu in rows)
    assert "| Direct.run of SELECT 1, committed |" in capsys.readouterr().out
