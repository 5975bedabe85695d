"""The station page of a 2.0.1 charger: a custom report of its variables (B08), a network
connection profile written to a slot (B09) and its meter values outside sessions (J01), driven
in the browser against a simulated charger (as in the demo)."""

from __future__ import annotations

from playwright.async_api import expect

from tests.web.conftest import screenshot
from tests.web.helpers import pick
from tests.web.test_languages import RAW_KEY


async def test_b08_b09_j01_report_network_profile_and_meter_values_from_the_station_page(
    fleet, chargers, open_console, platform
):
    spec = pick(fleet, "KZ-ALA", "2.0.1")
    charger = await chargers(spec)
    page = await open_console(f"/#/stations/{spec.station_id}")
    await expect(page.locator("#reports")).to_be_visible()
    # The page's first load ends with the configuration: until then sections above may still
    # grow, and a click could land on the wrong spot.
    await expect(page.locator("#configuration h2")).to_be_visible()

    # A custom report of one controller: its variables come back in parts and are listed.
    report = page.locator("#report-form")
    await report.locator('input[name="component"]').fill("OCPPCommCtrlr")
    await report.locator('input[name="component"]').press("Enter")  # submits the form, as a keyboard user does
    await expect(page.locator("#report-reply")).to_contain_text("Accepted")
    await expect(page.locator("#report-items")).to_contain_text("OCPPCommCtrlr.HeartbeatInterval")
    await expect(page.locator("#report-items")).not_to_contain_text("ChargingStation.Model")

    # A connection profile in slot 1: the charger keeps it for later, and the page records it.
    network = page.locator("#network-form")
    await network.locator('input[name="ocpp_csms_url"]').fill("ws://csms-b.example.kz/ocpp")
    await network.locator('input[name="configuration_slot"]').fill("1")
    await page.click("#network-set")
    await expect(page.locator("#network-reply")).to_contain_text("Accepted")
    await expect(page.locator("#network-change-table tbody tr")).to_have_count(1)
    await expect(page.locator("#network-change-table")).to_contain_text("ws://csms-b.example.kz/ocpp")
    assert charger.network.slots[1].url == "ws://csms-b.example.kz/ocpp"

    # A wss:// address with security profile 1 is refused with the reason, and nothing is sent.
    await network.locator('input[name="ocpp_csms_url"]').fill("wss://csms-b.example.kz/ocpp")
    await page.click("#network-set")
    await expect(page.locator("#network-reply")).to_contain_text("use a ws:// URL")

    # What the charger measures when asked outside a session is listed under it.
    result = await platform.commands.send(spec.station_id, "trigger_message", {"message": "MeterValues", "evse_id": 1})
    assert result.status == "Accepted"
    await page.reload()
    await expect(page.locator("#meter-value-table")).to_contain_text("Energy.Active.Import.Register")
    await page.locator("#network-profiles").scroll_into_view_if_needed()
    await screenshot(page, "station-provisioning", full_page=False)


async def test_the_provisioning_sections_speak_the_console_language(fleet, chargers, open_console):
    spec = pick(fleet, "KZ-ALA", "2.0.1")
    await chargers(spec)
    page = await open_console(f"/#/stations/{spec.station_id}", locale="ru-RU")
    await expect(page.locator("#reports h2")).to_have_text("Отчёты о модели устройства")
    await expect(page.locator("#network-profiles h2")).to_have_text("Сетевое подключение")
    await expect(page.locator("#meter-values h2")).to_have_text("Показания счётчика вне сессий")
    text = await page.locator("main").inner_text()
    assert not RAW_KEY.findall(text)
    assert await page.evaluate("[...window.silkchargeMissing]") == []


async def test_b02_an_operator_makes_a_station_pending_and_accepts_it_from_the_station_page(
    fleet, chargers, open_console
):
    spec = pick(fleet, "KZ-ALA", "2.0.1")
    await chargers(spec)
    page = await open_console(f"/#/stations/{spec.station_id}")
    await expect(page.locator("#registration-status")).to_have_text("accepted")
    await page.click("#registration-Pending")
    await expect(page.locator("#registration-status")).to_contain_text("pending")
    await page.click("#registration-Accepted")
    await expect(page.locator("#registration-status")).to_have_text("accepted")
    # Accepting a waiting station asks it to boot again at once; the charger does.
    await expect(page.locator("#message-table")).to_contain_text("TriggerMessage")
    await expect(page.locator("#message-table")).to_contain_text("BootNotification")
