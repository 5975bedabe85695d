"""bench/session_reads.py reads a meter batch's sessions in both forms, on both engines, on a
network it grows, and drops its PostgreSQL database after. Not a benchmark: a small network and
a read or two. The forms' rows are compared by the benchmark itself, which exits if they differ."""

from __future__ import annotations

import os

import psycopg
import pytest

from tests.bench.test_node_generator import _need
from tests.conftest import PG_ADMIN, _pg_available
from tests.loading import script_module


@pytest.mark.postgres
def test_both_forms_read_the_same_sessions_for_every_engine_network_kind_and_batch(capsys):
    _need(_pg_available(), "PostgreSQL on 127.0.0.1:5432")
    bench = script_module("bench/session_reads.py")
    bench.main(["--history", "3", "--elsewhere", "20", "--rounds", "2", "--repeats", "1", "--pg-admin", PG_ADMIN])
    rows = [line.split("|")[1:5] for line in capsys.readouterr().out.splitlines() if line.startswith("| ")]
    measured = [[cell.strip() for cell in row] for row in rows[1:]]  # the header's row first
    assert sorted(measured) == sorted(
        [database, network, kind, str(batch)] for database in ("sqlite", "postgresql")
        for network in ("fresh", "grown") for kind in ("1.6", "2.0.1") for batch in bench.BATCHES
    )
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        left = admin.execute("SELECT datname FROM pg_database WHERE datname LIKE %s",
                             (f"silkcharge_bench_{os.getpid()}_reads",)).fetchall()
    assert not left, "the benchmark's database was dropped"
