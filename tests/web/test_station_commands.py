"""Every command the station page offers, run from the console against a simulated charger of
each OCPP version: each one gets a real answer from the charger (or, where the version has no
such message, the console says so), never a CALLERROR such as NotImplemented."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from playwright.async_api import expect

from silkcharge.domain.commands import COMMANDS
from tests.web.conftest import screenshot
from tests.web.helpers import pick

SOON = (datetime.now(timezone.utc) + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"
# What an operator would type into each form (fields not named keep their defaults).
FILL = {
    "remote_start": {"id_token": "WEB-0003", "evse_id": "2"},
    "remote_stop": {"transaction_id": "1"},
    "unlock_connector": {"evse_id": "1"},
    "change_availability": {"operative": True, "evse_id": "1"},
    "get_configuration": {"keys": {"1.6": "HeartbeatInterval", "2.0.1": "OCPPCommCtrlr.HeartbeatInterval"}},
    "set_configuration": {"key": {"1.6": "HeartbeatInterval", "2.0.1": "OCPPCommCtrlr.HeartbeatInterval"},
                          "value": "60"},
    "update_firmware": {"location": "https://firmware.example/fw-1.0.1.bin", "retrieve_at": SOON},
    "get_diagnostics": {"location": "https://logs.example/upload"},
    "send_local_list": {"version": "3", "entries": json.dumps([{"id_token": "WEB-0001"}])},
    "data_transfer": {"vendor_id": "com.example"},
    "reserve_now": {"reservation_id": "77", "evse_id": "1", "id_token": "WEB-0004", "expires_at": SOON},
    "cancel_reservation": {"reservation_id": "77"},
    "set_charging_profile": {"evse_id": "1", "profile": json.dumps(
        {"id": 5, "purpose": "TxDefaultProfile", "schedule": {"periods": [{"start_period": 0, "limit": 16}]}})},
    "clear_charging_profile": {"profile_id": "5"},
    "get_composite_schedule": {"evse_id": "1"},
    "running_cost": {"station_tx_id": "1", "total_cost": "10", "timestamp": SOON, "meter_wh": "100"},
    "final_cost": {"station_tx_id": "1", "total_cost": "10", "price_text": "10.00 KZT"},
    "user_price": {"id_token": "WEB-0001", "price_text": "95 KZT/kWh"},
    "certificate_signed": {"certificate_chain": PEM},
    "install_certificate": {"certificate_type": "CSMSRootCertificate", "certificate": PEM},
    "get_installed_certificate_ids": {"certificate_types": {"1.6": "CSMSRootCertificate", "2.0.1": ""}},
    "delete_certificate": {"hash_algorithm": "SHA256", "issuer_name_hash": "a" * 64,
                           "issuer_key_hash": "b" * 64, "serial_number": "01"},
    "set_variable_monitoring": {"monitors": json.dumps([{
        "component": "EVSE", "evse_id": 1, "variable": "Power", "type": "UpperThreshold",
        "value": 50000, "severity": 4}])},
    "clear_variable_monitoring": {"ids": "[1]"},
    "set_monitoring_base": {"base": "All"},
    "set_monitoring_level": {"severity": "5"},
    "set_display_message": {"message_id": "1", "content": "Illustrative demo price: 95 KZT/kWh"},
    "clear_display_message": {"message_id": "1"},
    "customer_information": {"report": True, "id_token": "WEB-0001"},
    "publish_firmware": {"location": "https://firmware.example/fw-1.0.1.bin",
                         "checksum": "0123456789abcdef0123456789abcdef"},
    "unpublish_firmware": {"checksum": "0123456789abcdef0123456789abcdef"},
    "set_configuration_values": {"values": json.dumps({"OCPPCommCtrlr.HeartbeatInterval": "60"})},
    "allowed_energy_transfer": {"transaction_id": "1", "modes": "AC_BPT"},
    "set_default_tariff": {"tariff_code": "WEB-TARIFF"},
    "change_transaction_tariff": {"transaction_id": "1", "tariff_code": "WEB-TARIFF"},
    "web_payment_started": {"evse_id": "1"},
    "set_der_control": {"control_id": "web-lmd-1", "control_type": "LimitMaxDischarge",
                        "limit_max_discharge": json.dumps({"priority": 1, "pct_max_discharge_power": 50})},
}
LAST = "reset"  # the charger reboots: run it after everything else


async def _fill(form, values: dict, version: str) -> None:
    for name, value in values.items():
        value = value.get(version, "") if isinstance(value, dict) else value
        field = form.locator(f'[name="{name}"]')
        tag = await field.evaluate("e => e.tagName + ':' + (e.type || '')")
        if tag == "SELECT:select-one":
            await field.select_option(value)
        elif tag == "INPUT:checkbox":
            await field.set_checked(bool(value))
        else:
            await field.fill(value)


@pytest.mark.parametrize(("version", "locale", "language"), [
    ("1.6", "en-GB", "en"), ("2.0.1", "ru-RU", "ru"), ("2.0.1", "zh-CN", "zh")])
async def test_every_console_command_gets_a_real_answer_from_a_simulated_charger(
        fleet, chargers, open_console, version, locale, language):
    spec = pick(fleet, "KZ-ALA", version)
    await chargers(spec)
    page = await open_console(f"/#/stations/{spec.station_id}", locale=locale)
    await expect(page.locator("#connector-table tbody tr")).to_have_count(len(spec.connectors))
    forms = page.locator("#commands form.command")
    await expect(forms.first).to_be_visible()
    offered = [await forms.nth(i).get_attribute("data-command") for i in range(await forms.count())]
    names = [name for name in offered if name in COMMANDS]  # the generic command forms
    assert set(names) == set(COMMANDS)
    answers = {}
    for name in sorted(names, key=lambda n: n == LAST):
        form = page.locator(f'form.command[data-command="{name}"]')
        await _fill(form, FILL.get(name, {}), version)
        await form.locator("button[type=submit]").click()
        reply = page.locator(f'pre.reply[data-command="{name}"]')
        await expect(reply).not_to_have_class("reply waiting")
        await expect(reply).not_to_have_text("")
        answers[name] = (await reply.get_attribute("class"), await reply.inner_text(),
                         await reply.get_attribute("data-code"))
    for name, (kind, text, code) in answers.items():
        assert "NotImplemented" not in text and "NotSupported" not in text, (name, text)
        assert "CALLERROR" not in text and "did not answer" not in text, (name, text)
        if kind != "reply ok":
            # the only refusals, said in the page's language: a message this OCPP version does
            # not have, or an id that is none (or a session already over)
            assert code in ("command_not_in_version", "no_such_transaction", "transaction_already_ended"), (name, text)
            assert "no equivalent in OCPP" not in text and "has no transaction" not in text, (name, text)
    ok = {name for name, (kind, _, _) in answers.items() if kind == "reply ok"}
    assert {"reserve_now", "cancel_reservation", "remote_start", "set_charging_profile",
            "trigger_message", "reset"} <= ok, answers
    await screenshot(page, f"{language}-station-commands-{version}")
