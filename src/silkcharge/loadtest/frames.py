"""OCPP 1.6 CALL frames for the load generator, encoded once and spliced, never validated.

The generator shares the machine with the server it measures, so a frame costs one `%`
substitution: orjson encodes each template once, with `%b` holes where the message id, a
timestamp, a status, a meter reading or a transaction id go. Replies are parsed with orjson
and nothing else; the server is the one whose schema checks are being measured.
"""

from __future__ import annotations

import orjson

from silkcharge.domain.clock import to_ocpp, utcnow

CALL, CALLRESULT, CALLERROR = 2, 3, 4
STRING_HOLES = (b'"ID"', b'"TS"', b'"STATUS"', b'"TAG"', b'"METER"')
NUMBER_HOLES = (b'"TX"', b'"WH"')


def template(action: str, payload: dict) -> bytes:
    """A CALL frame with a `%b` hole wherever a placeholder stands: ID, TS, STATUS, TAG and
    METER are strings on the wire (the hole keeps its quotes); TX and WH are integers."""
    encoded = orjson.dumps([CALL, "ID", action, payload])
    for hole in STRING_HOLES:
        encoded = encoded.replace(hole, b'"%b"')
    for hole in NUMBER_HOLES:
        encoded = encoded.replace(hole, b"%b")
    return encoded


def _sampled(energy_hole: str) -> list[dict]:
    return [
        {"value": energy_hole, "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
        {"value": "7210", "measurand": "Power.Active.Import", "unit": "W"},
        {"value": "31.4", "measurand": "Current.Import", "unit": "A", "phase": "L1"},
        {"value": "229.6", "measurand": "Voltage", "unit": "V", "phase": "L1-N"},
    ]


BOOT = template(
    "BootNotification",
    {"chargePointVendor": "silkcharge-loadtest", "chargePointModel": "loadgen"},
)
HEARTBEAT = template("Heartbeat", {})
STATUS = template(
    "StatusNotification",
    {"connectorId": 1, "errorCode": "NoError", "status": "STATUS", "timestamp": "TS"},
)
METER_VALUES = template(
    "MeterValues",
    {"connectorId": 1, "meterValue": [{"timestamp": "TS", "sampledValue": _sampled("METER")}]},
)
METER_VALUES_IN_TRANSACTION = template(
    "MeterValues",
    {
        "connectorId": 1,
        "transactionId": "TX",
        "meterValue": [{"timestamp": "TS", "sampledValue": _sampled("METER")}],
    },
)
START_TRANSACTION = template(
    "StartTransaction",
    {"connectorId": 1, "idTag": "TAG", "meterStart": "WH", "timestamp": "TS"},
)
STOP_TRANSACTION = template(
    "StopTransaction",
    {"transactionId": "TX", "meterStop": "WH", "timestamp": "TS", "reason": "Local"},
)


def now() -> bytes:
    """The current time as an OCPP timestamp, ready to fill a hole."""
    return to_ocpp(utcnow()).encode()


def call_error(message_id: str, code: str, description: str) -> bytes:
    return orjson.dumps([CALLERROR, message_id, code, description, {}])
