"""Payload validation against the official OCA JSON schemas shipped by the `ocpp` package.

Schemas are compiled once per (version, action, direction) with fastjsonschema, so the hot
path runs generated code instead of interpreting the schema for every message.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any, Callable

import fastjsonschema
import ocpp

from silkcharge.ocpp.rpc import ErrorKind, RpcError

_SCHEMA_ROOT = Path(ocpp.__file__).parent
_DIRS = {"1.6": "v16", "2.0.1": "v201", "2.1": "v21"}

# Which schema rule earns which CALLERROR (OCPP-J: occurrence = missing or repeated fields,
# type = wrong JSON type, property = a value outside what the field allows, format = shape).
_RULE_KIND = {
    "required": ErrorKind.OCCURRENCE_CONSTRAINT_VIOLATION,
    "minItems": ErrorKind.OCCURRENCE_CONSTRAINT_VIOLATION,
    "maxItems": ErrorKind.OCCURRENCE_CONSTRAINT_VIOLATION,
    "type": ErrorKind.TYPE_CONSTRAINT_VIOLATION,
    "additionalProperties": ErrorKind.FORMAT_VIOLATION,
}


def _schema_path(version: str, action: str, response: bool) -> Path:
    folder = _SCHEMA_ROOT / _DIRS[version] / "schemas"
    if version == "1.6":
        return folder / f"{action}{'Response' if response else ''}.json"
    return folder / f"{action}{'Response' if response else 'Request'}.json"


def _drop_multiple_of(node: Any) -> Any:
    # OCPP 1.6 asks for multipleOf 0.1 on a few limits; binary floats cannot honour it exactly,
    # so we do not reject 21.4 for being 21.399999999999995. Values are rounded where we build them.
    if isinstance(node, dict):
        return {k: _drop_multiple_of(v) for k, v in node.items() if k != "multipleOf"}
    if isinstance(node, list):
        return [_drop_multiple_of(v) for v in node]
    return node


@functools.cache
def validator(version: str, action: str, response: bool) -> Callable[[dict], Any] | None:
    """The compiled validator, or None when the version has no such message."""
    path = _schema_path(version, action, response)
    if not path.is_file():
        return None
    schema = json.loads(path.read_text(encoding="utf-8-sig"))
    schema.pop("$schema", None)
    schema.pop("$id", None)
    return fastjsonschema.compile(_drop_multiple_of(schema))


@functools.cache
def _actions(version: str) -> frozenset[str]:
    """Every CALL the version defines, read once from its schema folder (not a stat per frame)."""
    suffix = ".json" if version == "1.6" else "Request.json"
    folder = _SCHEMA_ROOT / _DIRS[version] / "schemas"
    return frozenset(
        path.name.removesuffix(suffix)
        for path in folder.glob(f"*{suffix}")
        if not path.name.endswith("Response.json")
    )


def known_action(version: str, action: str) -> bool:
    return action in _actions(version)


def validate(version: str, action: str, payload: dict, *, response: bool, message_id: str) -> None:
    """Raise RpcError with the CALLERROR kind the OCPP-J tables assign to the first violation."""
    check = validator(version, action, response)
    if check is None:
        raise RpcError(
            ErrorKind.NOT_IMPLEMENTED, f"{action} is not an OCPP {version} action", message_id=message_id
        )
    try:
        check(payload)
    except fastjsonschema.JsonSchemaValueException as exc:
        kind = _RULE_KIND.get(exc.rule, ErrorKind.PROPERTY_CONSTRAINT_VIOLATION)
        if version == "1.6" and exc.rule == "required":
            kind = ErrorKind.PROTOCOL_ERROR  # 1.6: "Payload for Action is incomplete"
        where = exc.name.replace("data", action, 1)
        raise RpcError(
            kind,
            f"{where}: {exc.message.replace('data', action, 1)}",
            message_id=message_id,
            details={"field": where, "rule": exc.rule},
        ) from None
