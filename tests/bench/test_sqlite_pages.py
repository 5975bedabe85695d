"""bench/sqlite_pages.py writes what the gateway writes: its rows fit the migrated schema of
today (unique key, foreign keys, the trigger that counts priced readings), and its "silkcharge"
configuration is the one store/db.py gives every connection. Not a benchmark: a few rows."""

from __future__ import annotations

from sqlalchemy import text

from silkcharge.store.db import create_sync_engine_for
from tests.loading import script_module


def load_bench():
    return script_module("bench/sqlite_pages.py")


def test_the_benchmark_stores_every_reading_of_its_batches_and_counts_the_priced_ones(tmp_path):
    bench = load_bench()
    db = bench.open_database(tmp_path / "b.db", 3, bench.CONFIGURATIONS["silkcharge's pragmas"])
    result = bench.run_round(db, 3, 0, 2)
    assert result["cpu_us"] > 0 and result["commit_ms"] > 0
    assert db.execute("SELECT count(*) FROM meter_samples").fetchone() == (3 * 4 * 2,)
    # Energy and power are priced: two a reading, counted by the trigger per session.
    assert db.execute("SELECT priced_readings FROM transactions ORDER BY id").fetchall() == [(4,), (4,), (4,)]
    db.close()


def test_the_benchmarks_silkcharge_configuration_is_what_the_platform_sets(tmp_path):
    bench = load_bench()
    engine = create_sync_engine_for(f"sqlite+aiosqlite:///{tmp_path / 'p.db'}")
    with engine.connect() as connection:
        platform = {
            name: connection.execute(text(f"PRAGMA {name}")).scalar()
            for name in ("cache_size", "wal_autocheckpoint", "journal_size_limit")
        }
    engine.dispose()
    measured = dict(pragma.removeprefix("PRAGMA ").split("=") for pragma in bench.CONFIGURATIONS["silkcharge's pragmas"])
    assert platform == {name: int(value) for name, value in measured.items()}
