"""What numbers and documents the API accepts: ids within what the store's columns hold,
finite numbers, JSON nested no deeper than the API can answer with.

Declared once here and used by path and query parameters and request bodies alike, so a
value out of range is a 422 that names it (not an overflow deep in a database driver, which
was a 500), and the bound shows in the OpenAPI document.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from annotated_types import Interval
from pydantic import AfterValidator, AllowInfNan

INT32_MAX = 2**31 - 1
"""PostgreSQL's `integer`, and OCPP's integer ids (evseId, connectorId, reservationId)."""
INT64_MAX = 2**63 - 1
"""PostgreSQL's `bigint` and SQLite's integer: the largest row id either holds."""

RowId = Annotated[int, Interval(ge=1, le=INT64_MAX)]
"""The id of a row in a `bigint` table: transactions, the message log, security events."""
SmallRowId = Annotated[int, Interval(ge=1, le=INT32_MAX)]
"""The id of a row in an `integer` table: API keys, operator accounts."""
OcppId = Annotated[int, Interval(ge=0, le=INT32_MAX)]
"""An id OCPP carries as an integer and the store as `integer`: EVSE, connector, reservation,
charging profile."""
Int32 = Annotated[int, Interval(ge=-INT32_MAX - 1, le=INT32_MAX)]

Finite = Annotated[float, AllowInfNan(False)]
"""A float that is a number: `inf`, `nan` and `1e999` are refused."""
FiniteDecimal = Annotated[Decimal, AllowInfNan(False)]
"""A decimal that is a number. Give it a range too: `1E+999999` is finite, and the store's
NUMERIC(20, 6) (`store/types.py`) holds less than 10^14."""

MAX_JSON_DEPTH = 32
"""How deep a free-form JSON document (a site's provenance, a tariff, OCPP parameters) may
nest. Answers are serialised by pydantic, which gives up somewhere above 200 levels: a stored
site nested 400 deep made the site list fail for everyone."""


def depth_problem(value: Any, limit: int = MAX_JSON_DEPTH) -> str | None:
    """Why `value` nests too deep, or None. Walks without recursion, so any depth is safe."""
    if not isinstance(value, dict | list):
        return None
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return f"nests deeper than {limit} levels"
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return None


def _shallow(value: Any) -> Any:
    problem = depth_problem(value)
    if problem:
        raise ValueError(problem)
    return value


JsonObject = Annotated[dict[str, Any], AfterValidator(_shallow)]
"""A free-form JSON object in a request, nested at most `MAX_JSON_DEPTH` levels."""
