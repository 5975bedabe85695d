"""Check the conformance table in docs/ocpp.md against the specification's lists and the tests.

Run: .venv/bin/python scripts/check_conformance_table.py  (prints every problem; exit status 1
when there is one). tests/architecture/test_conformance_table.py runs the same check, so the
table cannot name a test that does not exist, lose a use case, claim support without a test,
or disagree with its own summary.

What it checks, in the section "## Conformance" of docs/ocpp.md:
- every backticked name starting with `test_` is a test function somewhere under tests/;
- the OCPP 2.0.1 tables hold each use case of Part 2 blocks A-P exactly once (the lists below,
  from OCPP 2.0.1 Part 2, edition 2), and the 1.6 tables each message of the feature profiles
  and each use case of the security whitepaper (edition 3) exactly once;
- every row's status is yes, partly, no or charger, and a `yes` row names at least one test;
- the summary table's counts are the counts of the rows of each group and of each version.
"""

from __future__ import annotations

import ast
import re
import sys
from collections import Counter
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "ocpp.md"
TESTS = ROOT / "tests"
STATUSES = ("yes", "partly", "no", "charger")

# OCPP 2.0.1 Part 2: the number of use cases of each functional block (A01-A05, B01-B12, ...).
# C17+, E16+, I07+ are OCPP 2.1 additions, not 2.0.1 use cases.
USE_CASES_201 = {"A": 5, "B": 12, "C": 16, "D": 2, "E": 15, "F": 6, "G": 5, "H": 4, "I": 6,
                 "J": 3, "K": 17, "L": 4, "M": 6, "N": 10, "O": 6, "P": 2}

# OCPP 1.6 (section 3.x profiles, chapter 5/6 messages) and "Improved security for OCPP 1.6-J"
# edition 3: the first cell of each row of each 1.6 group.
ROWS_16 = {
    "Core": ["Authorize", "BootNotification", "ChangeAvailability", "ChangeConfiguration",
             "ClearCache", "DataTransfer", "GetConfiguration", "Heartbeat", "MeterValues",
             "RemoteStartTransaction", "RemoteStopTransaction", "Reset", "StartTransaction",
             "StatusNotification", "StopTransaction", "UnlockConnector"],
    "Firmware Management": ["DiagnosticsStatusNotification", "FirmwareStatusNotification",
                            "GetDiagnostics", "UpdateFirmware"],
    "Local Auth List Management": ["GetLocalListVersion", "SendLocalList"],
    "Reservation": ["CancelReservation", "ReserveNow"],
    "Smart Charging": ["ClearChargingProfile", "GetCompositeSchedule", "SetChargingProfile",
                       "RemoteStartTransaction with chargingProfile"],
    "Remote Trigger": ["TriggerMessage"],
    "Security extension: security profiles": ["Profile 1", "Profile 2", "Profile 3"],
    "Security extension: use cases": ["A01", "A02", "A03", "A04", "A05", "M03", "M04", "M05",
                                      "N01", "L01"],
}

# The summary's rows for all of a version.
TOTAL_201 = "OCPP 2.0.1, all blocks"
TOTAL_16 = "OCPP 1.6J, all"

TEST_NAME = re.compile(r"`(test_[A-Za-z0-9_]+)`")


class Row(NamedTuple):
    group: str
    key: str
    status: str
    tests: list[str]
    line: int


Table = tuple[list[str], list[tuple[int, list[str]]]]  # header cells, rows with their line


def conformance_section(text: str) -> tuple[list[str], int]:
    """The lines of '## Conformance' up to the next level-2 heading, and its first line number."""
    lines = text.splitlines()
    try:
        start = lines.index("## Conformance")
    except ValueError:
        raise SystemExit(f"{DOC} has no '## Conformance' section") from None
    end = next((n for n in range(start + 1, len(lines)) if lines[n].startswith("## ")), len(lines))
    return lines[start:end], start + 1


def cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def tables(lines: list[str], first: int) -> dict[str, Table]:
    """Each '####' group's table."""
    found: dict[str, Table] = {}
    group = None
    for offset, line in enumerate(lines):
        if line.startswith("#### "):
            group = line[5:].strip()
            found[group] = ([], [])
        elif line.startswith("### "):
            group = None
        elif group is not None and line.startswith("|"):
            header, rows = found[group]
            if not header:
                header.extend(c.lower() for c in cells(line))
            elif not set(line.replace("|", "").strip()) <= set("-: "):
                rows.append((first + offset, cells(line)))
    return found


def summary(lines: list[str]) -> dict[str, list[int]]:
    """The summary table under '### Summary': group -> [rows, yes, partly, no, charger]."""
    counts: dict[str, list[int]] = {}
    inside = False
    for line in lines:
        if line.startswith("### "):
            inside = line.strip() == "### Summary"
        elif inside and line.startswith("|"):
            row = cells(line)
            if len(row) == 6 and all(c.isdigit() for c in row[1:]):
                counts[row[0]] = [int(c) for c in row[1:]]
    return counts


def test_names() -> set[str]:
    """Every test function under tests/ (async or not, at module level or in a class)."""
    functions = (ast.FunctionDef, ast.AsyncFunctionDef)
    return {
        node.name
        for path in TESTS.rglob("test_*.py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, functions) and node.name.startswith("test_")
    }


def rows_of(found: dict[str, Table]) -> tuple[list[Row], list[str]]:
    problems: list[str] = []
    rows: list[Row] = []
    for group, (header, lines) in found.items():
        missing = [column for column in ("supported", "tests") if column not in header]
        if missing:
            problems.append(f"table '{group}' has no column {', '.join(missing)}")
            continue
        status_at, tests_at = header.index("supported"), header.index("tests")
        for number, row in lines:
            if len(row) != len(header):
                problems.append(f"line {number}: {len(row)} cells, the header {len(header)}")
                continue
            tests = TEST_NAME.findall(row[tests_at])
            rows.append(Row(group, row[0], row[status_at], tests, number))
    return rows, problems


def unknown_tests(lines: list[str], first: int, known: set[str]) -> list[str]:
    return [
        f"line {number}: `{name}` is no test under tests/"
        for number, line in enumerate(lines, start=first)
        for name in TEST_NAME.findall(line)
        if name not in known
    ]


def unfounded(rows: list[Row]) -> list[str]:
    problems = []
    for row in rows:
        if row.status not in STATUSES:
            problems.append(f"line {row.line}: status '{row.status}' is not one of {STATUSES}")
        elif row.status == "yes" and not row.tests:
            problems.append(f"line {row.line}: {row.key} is 'yes' but names no test")
    return problems


def blocks_201(rows: list[Row]) -> dict[str, str]:
    """The 2.0.1 groups ('A. Security', ...) and their block letters."""
    return {r.group: r.group[0] for r in rows if re.match(r"[A-P]\. ", r.group)}


def incomplete(rows: list[Row]) -> list[str]:
    problems = []
    blocks = blocks_201(rows)
    for block, count in USE_CASES_201.items():
        expected = [f"{block}{n:02d}" for n in range(1, count + 1)]
        listed = [r.key for r in rows if blocks.get(r.group) == block]
        if sorted(listed) != expected:
            problems.append(f"2.0.1 block {block}: rows {listed}, expected {expected}")
    for group, expected in ROWS_16.items():
        listed = [r.key for r in rows if r.group == group]
        if sorted(listed) != sorted(expected):
            problems.append(f"1.6 group '{group}': rows {listed}, expected {expected}")
    return problems


def miscounted(rows: list[Row], stated: dict[str, list[int]]) -> list[str]:
    groups: dict[str, list[Row]] = {}
    for row in rows:
        groups.setdefault(row.group, []).append(row)
    groups[TOTAL_201] = [r for r in rows if r.group in blocks_201(rows)]
    groups[TOTAL_16] = [r for r in rows if r.group in ROWS_16]
    problems = []
    for group, members in groups.items():
        tally = Counter(r.status for r in members)
        actual = [len(members), *(tally[s] for s in STATUSES)]
        if stated.get(group) != actual:
            problems.append(f"summary for '{group}': {stated.get(group)}, the rows say {actual}")
    for group in stated.keys() - groups.keys():
        problems.append(f"summary names '{group}', which has no table")
    return problems


def check(text: str, known_tests: set[str]) -> list[str]:
    """Every problem of the conformance section of `text` (an empty list: none)."""
    lines, first = conformance_section(text)
    rows, problems = rows_of(tables(lines, first))
    return (problems + unknown_tests(lines, first, known_tests) + unfounded(rows)
            + incomplete(rows) + miscounted(rows, summary(lines)))


def main() -> int:
    problems = check(DOC.read_text(encoding="utf-8"), test_names())
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
