"""The console's reference routes and the static mount."""

from __future__ import annotations

import httpx
import pytest

from silkcharge.ocpp.commands import COMMANDS

OCPP16_ERROR_CODES = {
    "ConnectorLockFailure", "EVCommunicationError", "GroundFailure", "HighTemperature", "InternalError",
    "LocalListConflict", "NoError", "OtherError", "OverCurrentFailure", "OverVoltage", "PowerMeterFailure",
    "PowerSwitchFailure", "ReaderFailure", "ResetFailure", "UnderVoltage", "WeakSignal",
}


async def test_error_codes_explain_every_ocpp16_code_and_what_to_check(api: httpx.AsyncClient):
    codes = (await api.get("/api/v1/console/error-codes", headers={"X-API-Key": ""})).json()["codes"]
    assert OCPP16_ERROR_CODES | {"Offline", "NeverConnected"} <= set(codes)
    for code, entry in codes.items():
        assert entry["meaning"] and entry["check"] and entry["source"], code
        assert entry["severity"] in {"none", "warning", "fault"}, code


async def test_command_forms_describe_every_command(api: httpx.AsyncClient):
    forms = (await api.get("/api/v1/console/commands")).json()
    assert set(forms) == set(COMMANDS)
    assert forms["reset"]["properties"]["type"]["enum"] == ["soft", "hard"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_the_console_is_served_at_the_root_and_the_api_still_answers(api: httpx.AsyncClient):
    from silkcharge.api.console import STATIC

    if not (STATIC / "index.html").is_file():
        pytest.skip("the console is not built (make web)")
    page = await api.get("/")
    assert page.status_code == 200 and '<div id="page"' not in page.text and 'id="page"' in page.text
    assert (await api.get("/api/v1/health")).json()["status"] == "ok"
    assert (await api.get("/docs")).status_code == 200
