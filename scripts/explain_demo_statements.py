"""Every SQL statement a demo run sends, with how often and how SQLite plans it.

Runs `silkcharge demo` (SQLite, the seeded network, its simulated chargers) in this process for
`--seconds`, with a trace callback on every SQLite connection the platform opens, so that the
direct path's statements (store/direct.py, on the bare driver) are seen as well as the
sessions'. Then it stops the demo as Ctrl-C would, copies its database, and explains each
distinct statement (literals folded, so one statement with other values counts once) against
the copy. Printed, most frequent first: statements whose plan reads a whole table (`SCAN`),
then with `--all` every plan.

A `SCAN` of a table that grows (sessions, readings, reservations, the roaming outbox) in a
statement run per message or per session is a cost that rises with the network's age; so is a
`SEARCH` through an index that narrows by a column of few values (a state) while the statement
names a better one. The statements of 2026-12-06 that did either were fixed then (issue 20:
migrations 0040 and 0041, the meter batches' reads by key).

    .venv/bin/python scripts/explain_demo_statements.py
    .venv/bin/python scripts/explain_demo_statements.py --seconds 300 --all --json /tmp/statements.json
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import signal
import sqlite3
import sys
import tempfile
import threading
from pathlib import Path

from sqlalchemy.util.concurrency import await_only

from silkcharge.store import db

WRITES_AND_READS = ("SELECT", "UPDATE", "DELETE", "INSERT", "WITH")


def shape(sql: str) -> str:
    """The statement with its literals folded to `?`, so that its runs count as one."""
    folded = re.sub(r"'(?:[^']|'')*'", "?", sql)
    folded = re.sub(r"\b\d+(\.\d+)?\b", "?", folded)
    return re.sub(r"\s+", " ", folded).strip()


class Traced:
    """Counts each statement shape and keeps one example of it with its values."""

    def __init__(self) -> None:
        self.counts: collections.Counter[str] = collections.Counter()
        self.examples: dict[str, str] = {}
        self._lock = threading.Lock()  # callbacks come from every connection's thread

    def __call__(self, sql: str) -> None:
        key = shape(sql)
        with self._lock:
            self.counts[key] += 1
            self.examples.setdefault(key, sql)

    def install(self) -> None:
        """Trace every SQLite connection the platform opens from now on."""
        pragmas = db._sqlite_pragmas

        def traced(dbapi_connection, record) -> None:
            pragmas(dbapi_connection, record)
            driver = getattr(dbapi_connection, "_connection", None)  # the aiosqlite connection
            if driver is not None and hasattr(driver, "set_trace_callback"):
                await_only(driver.set_trace_callback(self))

        db._sqlite_pragmas = traced


def run_demo(seconds: float) -> None:
    from silkcharge.cli import app

    stop = threading.Timer(seconds, lambda: os.kill(os.getpid(), signal.SIGINT))
    stop.start()
    sys.argv = ["silkcharge", "demo"]
    try:
        app()
    except SystemExit:
        pass
    finally:
        stop.cancel()  # a demo that ended early (it failed to start): no Ctrl-C for what follows


def explain(traced: Traced, database: Path, show_all: bool) -> list[dict]:
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / "copy.sqlite3"
        with sqlite3.connect(database) as source, sqlite3.connect(copy) as target:
            source.backup(target)
        connection = sqlite3.connect(copy)
        found = []
        for key, count in traced.counts.most_common():
            sql = traced.examples[key]
            if not sql.lstrip().upper().startswith(WRITES_AND_READS):
                continue
            try:
                plan = [row[3] for row in connection.execute("EXPLAIN QUERY PLAN " + sql)]
            except sqlite3.Error as error:
                plan = [f"(not explained: {error})"]
            scans = [line for line in plan if line.startswith("SCAN ") and "VIRTUAL TABLE" not in line
                     and "CONSTANT ROW" not in line]
            found.append({"count": count, "statement": key, "plan": plan, "scans": scans})
        connection.close()
    flagged = [entry for entry in found if entry["scans"]]
    print(f"{len(found)} distinct statements, {sum(e['count'] for e in found):,} runs; "
          f"{len(flagged)} read a whole table:\n")
    for entry in (found if show_all else flagged):
        print(f"{entry['count']:>8,}  {entry['statement'][:400]}")
        for line in entry["plan"]:
            print(f"{'':>10}{'! ' if line in entry['scans'] else '  '}{line}")
        print()
    return found


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=150.0, help="how long the demo runs, its start included")
    parser.add_argument("--all", action="store_true", help="print every statement's plan, not only full scans")
    parser.add_argument("--json", type=Path, help="also write every statement, count and plan here")
    args = parser.parse_args(argv)
    traced = Traced()
    traced.install()
    run_demo(args.seconds)
    from silkcharge.cli import DEMO_DIR  # where the demo keeps its database, from where it runs

    found = explain(traced, DEMO_DIR / "silkcharge.sqlite3", args.all)
    if args.json:
        args.json.write_text(json.dumps(found, indent=1))


if __name__ == "__main__":
    main()
