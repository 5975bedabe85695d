"""OCPP-J RPC framing: CALL, CALLRESULT and CALLERROR frames, and the errors a frame can earn.

Both versions share the frame shapes but spell some error codes differently (1.6 keeps the
historic 'FormationViolation' and 'OccurenceConstraintViolation'); `RpcError.code_for(version)`
chooses the spelling so the rest of the gateway speaks of error *kinds* only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import orjson

CALL, CALLRESULT, CALLERROR = 2, 3, 4
UNKNOWN_MESSAGE_ID = "-1"
MAX_MESSAGE_ID_LENGTH = 36


class ErrorKind(Enum):
    FORMAT_VIOLATION = "FormatViolation"
    PROTOCOL_ERROR = "ProtocolError"
    RPC_FRAMEWORK_ERROR = "RpcFrameworkError"
    MESSAGE_TYPE_NOT_SUPPORTED = "MessageTypeNotSupported"
    NOT_IMPLEMENTED = "NotImplemented"
    NOT_SUPPORTED = "NotSupported"
    TYPE_CONSTRAINT_VIOLATION = "TypeConstraintViolation"
    PROPERTY_CONSTRAINT_VIOLATION = "PropertyConstraintViolation"
    OCCURRENCE_CONSTRAINT_VIOLATION = "OccurrenceConstraintViolation"
    SECURITY_ERROR = "SecurityError"
    INTERNAL_ERROR = "InternalError"
    GENERIC_ERROR = "GenericError"


# OCPP-J 1.6 has neither RpcFrameworkError nor MessageTypeNotSupported, and two typos of record.
_SPELLING_16 = {
    ErrorKind.FORMAT_VIOLATION: "FormationViolation",
    ErrorKind.OCCURRENCE_CONSTRAINT_VIOLATION: "OccurenceConstraintViolation",
    ErrorKind.RPC_FRAMEWORK_ERROR: "FormationViolation",
    ErrorKind.MESSAGE_TYPE_NOT_SUPPORTED: "ProtocolError",
}


class RpcError(Exception):
    """A fault in what a peer sent, to be answered with a CALLERROR."""

    def __init__(
        self,
        kind: ErrorKind,
        description: str,
        *,
        message_id: str = UNKNOWN_MESSAGE_ID,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(description)
        self.kind = kind
        self.description = description[:255]
        self.message_id = message_id
        self.details = details or {}

    def code_for(self, version: str) -> str:
        if version == "1.6":
            return _SPELLING_16.get(self.kind, self.kind.value)
        return self.kind.value


@dataclass(slots=True)
class Call:
    message_id: str
    action: str
    payload: dict[str, Any]


@dataclass(slots=True)
class CallResult:
    message_id: str
    payload: dict[str, Any]


@dataclass(slots=True)
class CallError:
    message_id: str
    code: str
    description: str
    details: dict[str, Any] = field(default_factory=dict)


Frame = Call | CallResult | CallError

_MESSAGE_ID_PREFIX = re.compile(rb'^\s*\[\s*[234]\s*,\s*"([^"\\]{1,36})"')


def recover_message_id(raw: bytes) -> str:
    """Best effort: the message id of a frame we could not parse, else '-1' as OCPP-J advises."""
    match = _MESSAGE_ID_PREFIX.match(raw[:128])
    return match.group(1).decode("utf-8", "replace") if match else UNKNOWN_MESSAGE_ID


def decode(raw: str | bytes) -> Frame:
    """Parse one WebSocket text frame into a Frame, or raise RpcError saying what is wrong."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    try:
        message = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise RpcError(
            ErrorKind.RPC_FRAMEWORK_ERROR,
            f"frame is not valid JSON: {exc}",
            message_id=recover_message_id(data),
        ) from None
    if not isinstance(message, list) or len(message) < 3:
        raise RpcError(
            ErrorKind.RPC_FRAMEWORK_ERROR,
            "frame must be a JSON array [MessageTypeId, MessageId, ...]",
            message_id=recover_message_id(data),
        )
    type_id, message_id = message[0], message[1]
    if not isinstance(message_id, str) or not message_id or len(message_id) > MAX_MESSAGE_ID_LENGTH:
        raise RpcError(
            ErrorKind.RPC_FRAMEWORK_ERROR,
            f"MessageId must be a string of 1 to {MAX_MESSAGE_ID_LENGTH} characters",
        )
    if type_id == CALL:
        if len(message) != 4 or not isinstance(message[2], str) or not isinstance(message[3], dict):
            raise RpcError(
                ErrorKind.RPC_FRAMEWORK_ERROR,
                "CALL must be [2, MessageId, Action, {payload}]",
                message_id=message_id,
            )
        return Call(message_id, message[2], message[3])
    if type_id == CALLRESULT:
        if len(message) != 3 or not isinstance(message[2], dict):
            raise RpcError(
                ErrorKind.RPC_FRAMEWORK_ERROR,
                "CALLRESULT must be [3, MessageId, {payload}]",
                message_id=message_id,
            )
        return CallResult(message_id, message[2])
    if type_id == CALLERROR:
        if len(message) != 5 or not all(isinstance(part, str) for part in message[2:4]):
            raise RpcError(
                ErrorKind.RPC_FRAMEWORK_ERROR,
                "CALLERROR must be [4, MessageId, errorCode, errorDescription, {details}]",
                message_id=message_id,
            )
        details = message[4] if isinstance(message[4], dict) else {}
        return CallError(message_id, message[2], message[3], details)
    raise RpcError(
        ErrorKind.MESSAGE_TYPE_NOT_SUPPORTED,
        f"MessageTypeId {type_id!r} is not one of 2 (CALL), 3 (CALLRESULT), 4 (CALLERROR)",
        message_id=message_id,
    )


def encode_call(message_id: str, action: str, payload: dict[str, Any]) -> str:
    return orjson.dumps([CALL, message_id, action, payload]).decode()


def encode_result(message_id: str, payload: dict[str, Any]) -> str:
    return orjson.dumps([CALLRESULT, message_id, payload]).decode()


def encode_error(error: RpcError, version: str) -> str:
    return orjson.dumps(
        [CALLERROR, error.message_id, error.code_for(version), error.description, error.details]
    ).decode()
