"""bench/pg_meter_write.py writes what the gateway writes, in its three forms, on databases of
its own that it drops: every form stores every reading and counts the priced ones as the
schema's trigger of its revision does (the benchmark checks the count itself and exits if it
differs). Not a benchmark: a few rows."""

from __future__ import annotations

import os

import psycopg
import pytest

from tests.bench.test_node_generator import _need
from tests.conftest import PG_ADMIN, _pg_available
from tests.loading import script_module


@pytest.mark.postgres
@pytest.mark.parametrize("forms", [None, "0041:batch,head:batch"])
def test_each_form_writes_its_rounds_on_a_database_of_its_own_which_is_dropped_after(capsys, forms):
    _need(_pg_available(), "PostgreSQL on 127.0.0.1:5432")
    bench = script_module("bench/pg_meter_write.py")
    chosen = bench.forms(forms) if forms else bench.FORMS
    bench.main(["--stations", "3", "--messages", "2", "--batch", "2", "--rounds", "2", "--pg-admin", PG_ADMIN,
                *(["--forms", forms] if forms else [])])
    rows = [line.split("|")[1:4] for line in capsys.readouterr().out.splitlines() if line.startswith("| ")]
    measured = [[cell.strip() for cell in row] for row in rows[1:]]  # the header's row first
    assert sorted(measured) == sorted(
        [str(round_), revision, form] for round_ in (1, 2) for revision, form in chosen
    )
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        left = admin.execute("SELECT datname FROM pg_database WHERE datname LIKE %s",
                             (f"silkcharge_bench_{os.getpid()}_pgmeter%",)).fetchall()
    assert not left, "every form's database was dropped"
