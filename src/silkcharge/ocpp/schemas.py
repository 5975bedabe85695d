"""Payload validation against the official OCA JSON schemas shipped by the `ocpp` package.

Schemas are compiled once per (version, action, direction), twice: by jsonschema-rs, whose
compiled Rust validator says whether a payload is valid (a 2.0.1 TransactionEvent with four
meter readings: 1.4 us, against 20.8 for fastjsonschema's generated Python, which was a fifth
of the event loop's time on 2.0.1 meter values: docs/benchmarks.md, issue 20), and by
fastjsonschema, which decides every payload jsonschema-rs does not accept and names its first
violation for the CALLERROR. So what is refused, and how, is fastjsonschema's as before; a
payload jsonschema-rs accepts, fastjsonschema accepts too (tests/e2e/test_schemas_agree.py:
generated from every schema, and each with a field made wrong). Where jsonschema-rs is the
stricter (a leap second's :60, 1.0 for a 1.6 integer), fastjsonschema has the last word.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any, Callable

import fastjsonschema
import jsonschema_rs
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
def _schema(version: str, action: str, response: bool) -> tuple[dict, str] | None:
    """The schema as both validators compile it (no `multipleOf`, no `$id`) and its draft."""
    path = _schema_path(version, action, response)
    if not path.is_file():
        return None
    schema = json.loads(path.read_text(encoding="utf-8-sig"))
    draft = schema.pop("$schema", None) or ""
    schema.pop("$id", None)
    return _drop_multiple_of(schema), draft


@functools.cache
def validator(version: str, action: str, response: bool) -> Callable[[dict], Any] | None:
    """The compiled validator that names a violation, or None when the version has no such message."""
    found = _schema(version, action, response)
    return None if found is None else fastjsonschema.compile(found[0])


@functools.cache
def accepts(version: str, action: str, response: bool) -> Callable[[Any], bool] | None:
    """Whether a payload is valid, fast (jsonschema-rs, formats checked, the schema's own draft);
    None when the version has no such message."""
    found = _schema(version, action, response)
    if found is None:
        return None
    schema, draft = found
    kind = jsonschema_rs.Draft4Validator if "draft-04" in draft else jsonschema_rs.Draft6Validator
    return kind(schema, validate_formats=True).is_valid


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
    valid = accepts(version, action, response)
    if valid is None:
        raise RpcError(
            ErrorKind.NOT_IMPLEMENTED, f"{action} is not an OCPP {version} action", message_id=message_id
        )
    try:
        if valid(payload):
            return
    except Exception:  # never on a decoded frame so far; fastjsonschema decides it then
        pass
    check = validator(version, action, response)
    assert check is not None
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
