"""What the generator puts on the wire is valid OCPP 1.6; it can hold the sockets asked of it."""

from __future__ import annotations

import resource

import orjson
import pytest
from typer.testing import CliRunner

from silkcharge.cli import app
from silkcharge.loadtest import frames
from silkcharge.loadtest.sockets import (
    FILES_BESIDES_SOCKETS,
    SOCKETS_PER_SOURCE,
    LimitTooLow,
    raise_open_files,
    source_addresses,
)
from silkcharge.ocpp import schemas

NOW = frames.now()
FILLED = {
    "BootNotification": frames.BOOT % b"1",
    "Heartbeat": frames.HEARTBEAT % b"2",
    "StatusNotification": frames.STATUS % (b"3", b"Charging", NOW),
    "MeterValues": frames.METER_VALUES % (b"4", NOW, b"123456"),
    "MeterValues in a transaction": frames.METER_VALUES_IN_TRANSACTION
    % (b"5", b"42", NOW, b"123457"),
    "StartTransaction": frames.START_TRANSACTION % (b"6", b"LOADTEST", b"123456", NOW),
    "StopTransaction": frames.STOP_TRANSACTION % (b"7", b"42", b"123999", NOW),
}


@pytest.mark.parametrize("name", sorted(FILLED))
def test_every_spliced_frame_passes_the_official_ocpp16_schema(name):
    kind, message_id, action, payload = orjson.loads(FILLED[name])
    assert kind == frames.CALL and name.startswith(action)
    schemas.validate("1.6", action, payload, response=False, message_id=message_id)


def test_transaction_frames_carry_integers_where_the_schema_wants_them():
    start = orjson.loads(FILLED["StartTransaction"])[3]
    assert (start["meterStart"], start["idTag"]) == (123456, "LOADTEST")
    assert orjson.loads(FILLED["MeterValues in a transaction"])[3]["transactionId"] == 42


def test_fifty_thousand_loopback_sockets_are_spread_over_enough_source_addresses():
    sources = source_addresses("127.0.0.1", 50_000)
    assert len(sources) * SOCKETS_PER_SOURCE >= 50_000 and len(set(sources)) == len(sources)
    assert all(s.startswith("127.") and s != "127.0.0.1" for s in sources)
    assert source_addresses("192.0.2.10", 50_000) == ()  # not loopback: the kernel picks


def test_the_open_file_limit_is_raised_up_to_the_hard_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = min(hard, soft + 1_000) - FILES_BESIDES_SOCKETS
    assert raise_open_files(wanted) >= wanted + FILES_BESIDES_SOCKETS
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] >= wanted + FILES_BESIDES_SOCKETS


def test_more_sockets_than_the_hard_limit_allows_are_refused_naming_the_fix_or_the_limit_rises():
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        pytest.skip("no hard limit on open files here")
    try:
        granted = raise_open_files(hard)
    except LimitTooLow as refusal:  # an unprivileged process (no CAP_SYS_RESOURCE)
        assert "ulimit -Hn" in str(refusal) and "worker processes" in str(refusal)
        assert resource.getrlimit(resource.RLIMIT_NOFILE)[1] == hard
    else:  # a privileged one lifts the hard limit itself
        assert granted >= hard + FILES_BESIDES_SOCKETS


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        (["--phases", "ramp,flood"], "unknown phase 'flood'"),
        (["--mix", "heartbeat=1,teleport=1"], "bad mix entry 'teleport=1'"),
        (["--url", "http://127.0.0.1:9000/ocpp"], "give a ws:// URL"),
        (["--phases", "ramp", "--ramp-rate", "0"], "rate must be > 0"),
    ],
)
def test_loadtest_refuses_bad_options_with_a_reason(arguments, says):
    result = CliRunner().invoke(app, ["loadtest", *arguments])
    assert result.exit_code == 2
    assert says in result.output
