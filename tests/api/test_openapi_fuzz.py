"""The OpenAPI document says what the API answers. schemathesis generates requests for every
operation from the document (valid and invalid ones, and the boundary values of each
parameter) and checks every answer: no 5xx, a status code the operation declares, a body that
matches the declared schema (error bodies included), the declared content type.

It runs the schemathesis CLI against `silkcharge serve` on a free port (real uvicorn with the
limits of docs/operations.md), on its own database seeded by `silkcharge seed`, so the run's
thousands of failed driver logins and reset requests touch no other test's limits.
PostgreSQL when it runs: it refuses what SQLite lets pass (text longer than its column, the
NUL character, integers beyond 32 bits). The run is bounded and repeatable; its settings, and
the operations it leaves out and why, are in tests/api/openapi_fuzz.toml.

A failure prints schemathesis's report: the operation, the check that failed, the answer, and
a curl command that repeats the request. A route that answers an error it does not declare
fails here: declare it with `responses=answers(...)` (silkcharge.api.errors).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import API_KEY, _pg_available, fresh_pg_database
from tests.e2e.server_process import ServerProcess

CONFIG = Path(__file__).with_name("openapi_fuzz.toml")

pytestmark = pytest.mark.slow


@pytest.fixture
def fuzz_database(tmp_path) -> Iterator[str]:
    if _pg_available():
        with fresh_pg_database("silkcharge_fuzz") as url:
            yield url
        return
    if os.environ.get("CI"):
        pytest.fail("PostgreSQL on 127.0.0.1:5432 is required in CI")
    yield f"sqlite+aiosqlite:///{tmp_path}/silkcharge.sqlite3"


@pytest.fixture
def seeded_server(fuzz_database, tmp_path) -> Iterator[ServerProcess]:
    """`silkcharge serve` on the seeded network of the region."""
    server = ServerProcess(fuzz_database, API_KEY)
    subprocess.run([sys.executable, "-m", "silkcharge.cli", "seed", "--fleet", str(tmp_path / "fleet.json")],
                   env=server.env, check=True, capture_output=True, timeout=300)
    server.start(timeout=120)
    # The document is built on its first request (seconds for ~200 operations, more on a
    # loaded machine) and kept; schemathesis gives its load 10 s, so it gets the kept one.
    assert httpx.get(f"{server.api_url}/openapi.json", timeout=120).status_code == 200
    try:
        yield server
    finally:
        server.stop()


SHARDS = 3
"""The operations are fuzzed in this many tests, each against its own server, so that test
workers run them side by side (one run of all of them took minutes on its own)."""

METHODS = ("get", "put", "post", "patch", "delete")
NOT_FUZZED = {"/api/v1/events"}
"""Paths openapi_fuzz.toml leaves out, and why it does."""


def operations(document: dict, shard: int) -> list[str]:
    """The shard's operations, every SHARDS-th of the document's in a fixed order."""
    names = sorted(f"{method.upper()} {path}" for path, item in document["paths"].items()
                   for method in item if method in METHODS)
    return names[shard::SHARDS]


@pytest.mark.parametrize("shard", range(SHARDS))
def test_every_operation_answers_as_its_document_says(seeded_server, tmp_path, shard):
    document = httpx.get(f"{seeded_server.api_url}/openapi.json", timeout=120).json()
    chosen = operations(document, shard)
    assert chosen
    run = subprocess.run(
        [sys.executable, "-c", "from schemathesis.cli import schemathesis; schemathesis()",
         "--config-file", str(CONFIG), "--no-color",
         "run", f"{seeded_server.api_url}/openapi.json", "--workers", "1",
         *[arg for name in chosen for arg in ("--include-name", name)]],
        env={**os.environ, "FUZZ_API_KEY": API_KEY}, cwd=tmp_path, capture_output=True, text=True,
        timeout=1800,  # a guard against a hang only: the bounded run took over 10 min on a loaded 2-core machine
    )
    report = run.stdout + run.stderr
    assert run.returncode == 0, (
        f"schemathesis found answers the document does not declare:\n{summary(report)}\n\n"
        f"Its report, with a curl command per failure:\n{report}")
    assert "Operations:" in report and " passed" in report, report
    fuzzed = [name for name in chosen if name.split()[1] not in NOT_FUZZED]
    assert re.search(rf"Selected: {len(fuzzed)}/", report), f"the shard's {len(fuzzed)} operations:\n{report}"


def summary(report: str) -> str:
    """One line per failing operation, check and answer, from schemathesis's report."""
    lines, operation, check = [], None, None
    for line in report.splitlines():
        header = re.fullmatch(r"_+ ([A-Z]+ /\S*) _+", line.strip())
        if header:
            operation, check = header.group(1), None
        elif operation and re.match(r"- ST\d+ ", line):
            check = line[2:]
            lines.append(f"  {operation}: {check}")
        elif operation and check and line.strip().startswith("Received:"):
            lines[-1] = f"  {operation}: {check}, {line.strip().lower()}"
            check = None
    return "\n".join(dict.fromkeys(lines)) or "  (no failing operation named; see the report)"
