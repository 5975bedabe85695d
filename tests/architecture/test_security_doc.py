"""docs/security.md shows the roles and permissions the API enforces: its tables are generated
from domain/roles.py by scripts/roles_table.py, and this fails when the page is stale."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "roles_table.py"


def _script():
    spec = importlib.util.spec_from_file_location("roles_table", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_security_page_shows_the_grants_the_code_enforces():
    script = _script()
    text = script.DOC.read_text(encoding="utf-8")
    assert script.current(text) == text, "docs/security.md is stale: run scripts/roles_table.py"


def test_a_changed_grant_makes_the_page_stale():
    script = _script()
    text = script.DOC.read_text(encoding="utf-8")
    edited = text.replace("| `commands` | yes", "| `commands` | —", 1)
    assert edited != text
    assert script.current(edited) != edited
