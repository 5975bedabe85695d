"""ocpp/schemas.py accepts a payload when jsonschema-rs says it is valid, and otherwise lets
fastjsonschema decide and name the violation. That is only what it was before if jsonschema-rs
never accepts what fastjsonschema refuses. Payloads are made from every OCPP 1.6, 2.0.1 and 2.1
schema, each field either as its schema allows or, now and then, wrong in the ways a station
gets it wrong (1.0 for an integer, a boolean, a string for a number, a time without its zone, a
leap second, an unknown field, a value off its enum, too long, too many, missing)."""

from __future__ import annotations

import functools
from typing import Any

import fastjsonschema
from hypothesis import given, settings
from hypothesis import strategies as st

from silkcharge.ocpp import schemas

TIMES = ("2026-12-06T21:26:12.466Z", "2026-12-06T21:26:12Z", "2026-12-06T21:26:12+05:00", "2026-12-06T21:26:60Z",
         "2026-12-06T21:26:12", "2026-12-06 21:26:12Z", "2026-02-30T00:00:00Z", "2026-13-01T00:00:00Z",
         "2026-12-06T24:00:00Z", "2026-12-06t21:26:12z", "2026-12-06T21:26:12.5+0500", "")
WRONG = st.sampled_from([None, True, False, 0, 1, 1.0, -1, 2**63, 1.5, "", "x", "1", [], {}, TIMES[3], TIMES[4]])


def _resolve(node: dict, root: dict) -> dict:
    while "$ref" in node:
        node = root["definitions"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def _payload(node: dict, root: dict, depth: int = 0) -> st.SearchStrategy[Any]:
    """A value for `node`: mostly one its schema allows, sometimes a wrong one."""
    node = _resolve(node, root)
    return st.one_of(_allowed(node, root, depth), WRONG) if depth else _allowed(node, root, depth)


def _allowed(node: dict, root: dict, depth: int) -> st.SearchStrategy[Any]:
    if "enum" in node:
        return st.one_of(st.sampled_from(node["enum"]), st.just("NotInTheEnum"))
    kind = node.get("type")
    if kind == "object":
        properties = node.get("properties", {})
        required = set(node.get("required", ()))
        fields = {name: _payload(schema, root, depth + 1) for name, schema in properties.items()}

        @st.composite
        def made(draw):
            value = {}
            for name, strategy in fields.items():
                if name in required or draw(st.booleans()):
                    if not (name in required and draw(st.integers(0, 30)) == 0):  # now and then missing
                        value[name] = draw(strategy)
            if draw(st.integers(0, 20)) == 0:
                value["unknownField"] = 1
            return value

        return made()
    if kind == "array":
        items = _payload(node.get("items", {}), root, depth + 1)
        low, high = node.get("minItems", 0), min(node.get("maxItems", 3), 3)
        return st.lists(items, min_size=max(0, low - 1), max_size=high + 1)
    if kind == "string":
        if node.get("format") == "date-time":
            return st.sampled_from(TIMES)
        longest = node.get("maxLength", 20)
        return st.one_of(st.text(max_size=min(longest, 20)), st.just("x" * (longest + 1)))
    if kind == "integer":
        return st.one_of(st.integers(node.get("minimum", -10), node.get("maximum", 10**6)), st.just(1.0), st.just(-1))
    if kind == "number":
        return st.one_of(st.floats(allow_nan=False, allow_infinity=False, width=32), st.integers(-5, 10**6))
    if kind == "boolean":
        return st.booleans()
    return WRONG


def _every_schema() -> list[tuple[str, str, bool]]:
    found = []
    for version, folder in schemas._DIRS.items():
        for path in sorted((schemas._SCHEMA_ROOT / folder / "schemas").glob("*.json")):
            response = path.stem.endswith("Response")
            action = path.stem.removesuffix("Response").removesuffix("Request")
            if schemas._schema(version, action, response) is not None:  # 2.1's one SEND has no "Request"
                found.append((version, action, response))
    return found


@functools.cache
def _strategy(version: str, action: str, response: bool) -> st.SearchStrategy[Any]:
    schema, _ = schemas._schema(version, action, response)
    return _payload(schema, schema)


@settings(max_examples=3000, deadline=None)
@given(data=st.data(), which=st.sampled_from(_every_schema()))
def test_a_payload_the_fast_validator_accepts_is_one_the_naming_validator_accepts(data, which):
    payload = data.draw(_strategy(*which))
    if schemas.accepts(*which)(payload):
        try:
            schemas.validator(*which)(payload)
        except fastjsonschema.JsonSchemaValueException as refused:
            raise AssertionError(f"{which}: jsonschema-rs accepts, fastjsonschema refuses ({refused.message}): "
                                 f"{payload!r}") from None


def test_both_validators_see_a_valid_meter_event_and_a_refused_one_is_named_as_before():
    event = {"eventType": "Updated", "timestamp": TIMES[0], "triggerReason": "MeterValuePeriodic", "seqNo": 7,
             "transactionInfo": {"transactionId": "TX-1"},
             "meterValue": [{"timestamp": TIMES[0], "sampledValue": [{"value": 1214}]}]}
    assert schemas.accepts("2.0.1", "TransactionEvent", False)(event)
    schemas.validate("2.0.1", "TransactionEvent", event, response=False, message_id="1")
    event["seqNo"] = "7"
    try:
        schemas.validate("2.0.1", "TransactionEvent", event, response=False, message_id="1")
    except schemas.RpcError as refused:
        assert (refused.kind, refused.details) == (schemas.ErrorKind.TYPE_CONSTRAINT_VIOLATION,
                                                   {"field": "TransactionEvent.seqNo", "rule": "type"})
    else:
        raise AssertionError("a seqNo given as a string was accepted")
