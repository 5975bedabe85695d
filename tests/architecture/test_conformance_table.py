"""The conformance table in docs/ocpp.md names only tests that exist, lists every OCPP 2.0.1 use
case and 1.6 message once, claims nothing without a test, and its summary adds up
(scripts/check_conformance_table.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "check_conformance_table.py"


def _checker():
    spec = importlib.util.spec_from_file_location("check_conformance_table", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_conformance_table_names_real_tests_and_adds_up():
    checker = _checker()
    assert checker.check(checker.DOC.read_text(encoding="utf-8"), checker.test_names()) == []


def test_a_missing_test_a_lost_use_case_and_a_claim_without_a_test_are_each_caught():
    checker = _checker()
    text = checker.DOC.read_text(encoding="utf-8")
    wanted = ("| D01 ", "| D02 ", "| P02 ")
    row = {line[:6]: line for line in text.splitlines() if line[:6] in wanted}
    broken = (text.replace(row["| D02 "], "| D02 | Get Local List Version | yes | claimed | — |")
                  .replace(row["| D01 "], row["| D01 "].replace("`test_d01_", "`test_d01_no_such_"))
                  .replace(row["| P02 "] + "\n", ""))
    problems = "\n".join(checker.check(broken, checker.test_names()))
    assert "D02 is 'yes' but names no test" in problems
    assert "`test_d01_no_such_send_local_list_carries_each_token_type` is no test" in problems
    assert "2.0.1 block P" in problems and "summary for 'P. DataTransfer'" in problems
