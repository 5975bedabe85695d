"""The station page of a 2.0.1 charger: monitors and their events, messages on its screen and
customer information, driven in the browser against a simulated charger (as in the demo)."""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal

from playwright.async_api import expect

from tests.web.conftest import screenshot
from tests.web.helpers import pick, settled
from tests.web.test_languages import RAW_KEY


async def test_monitors_display_messages_and_customer_information_from_the_station_page(
    fleet, chargers, open_console
):
    spec = pick(fleet, "KZ-ALA", "2.0.1")
    charger = await chargers(spec)
    page = await open_console(f"/#/stations/{spec.station_id}")
    await expect(page.locator("#monitors")).to_be_visible()
    await settled(page)

    # A monitor on the station's power; charging above it raises an event on the page.
    form = page.locator("#monitor-form")
    await form.locator('input[name="value"]').fill("2000")
    await form.locator('select[name="severity"]').select_option("3")
    await page.click("#monitor-set")
    await expect(page.locator("#monitor-reply")).to_contain_text("Accepted")
    await expect(page.locator("#monitor-table tbody tr")).to_have_count(1)
    await charger.plug_in_and_charge(1, "WEB-0001", energy_kwh=Decimal(30))
    await expect(page.locator("#device-event-table tbody tr").first).to_contain_text("ChargingStation.Power")
    await expect(page.locator("#device-event-table .severity.s3").first).to_contain_text("Critical")

    # A message in three languages: before its report the station is asked its display's
    # language, and gets the text in that one.
    messages = page.locator("#display-form")
    await messages.locator('textarea[name="text-kk"]').fill("Тегін зарядтау 18:00-ге дейін")
    await messages.locator('textarea[name="text-ru"]').fill("Бесплатная зарядка до 18:00")
    await messages.locator('textarea[name="text-en"]').fill("Free charging until 18:00")
    await messages.locator('select[name="priority"]').select_option("InFront")
    await page.click("#display-send")
    await expect(page.locator("#display-reply")).to_contain_text("Sent in: kk")
    await expect(page.locator("#display-message-table tbody tr")).to_have_count(1)
    assert [m["message"]["content"] for m in charger.settings.management.display.messages.values()] == [
        "Тегін зарядтау 18:00-ге дейін"]

    # What the charger holds about the driver who just charged, in parts, joined on the page.
    await settled(page)
    customer = page.locator("#customer-form")
    await customer.locator('input[name="id_token"]').fill("WEB-0001")
    await page.click("#customer-ask")
    await expect(page.locator("#customer-reply")).to_contain_text("Accepted")
    await expect(page.locator("#customer-request-table .customer-data")).to_contain_text(
        "authorization cache: Accepted")
    await screenshot(page, "station-device")

    # The alert stands on the alerts page too, until the monitor reports it cleared.
    await page.evaluate("location.hash = '#/alerts'")
    alert = page.locator(f'article.alert.monitor[data-station="{spec.station_id}"]')
    await expect(alert).to_contain_text("ChargingStation.Power")
    await expect(alert.locator(".meaning")).to_contain_text("Critical")
    await screenshot(page, "alerts-monitor", full_page=False)
    await page.evaluate(f"location.hash = '#/stations/{spec.station_id}'")

    await page.locator("#display-message-table button.clear-message").first.click()
    await expect(page.locator("#display-reply")).to_contain_text("Accepted")
    await expect(page.locator("#display-message-list")).to_contain_text("No messages on the screen.")
    assert charger.settings.management.display.messages == {}


async def test_the_device_sections_speak_the_console_language(fleet, chargers, open_console):
    spec = pick(fleet, "KZ-ALA", "2.0.1")
    await chargers(spec)
    page = await open_console(f"/#/stations/{spec.station_id}", locale="kk-KZ")
    await expect(page.locator("#monitors h2")).to_have_text("Мониторлар")
    await expect(page.locator("#display-messages h2")).to_have_text("Зарядтау станциясының экранындағы хабарламалар")
    text = await page.locator("main").inner_text()
    assert not RAW_KEY.findall(text)
    assert await page.evaluate("[...window.silkchargeMissing]") == []
    await settled(page)
    await page.locator("#customer-form").locator('input[name="id_token"]').fill("WEB-0002")
    await page.click("#customer-ask")
    await expect(page.locator("#customer-request-table")).to_contain_text("no data held about idToken WEB-0002")
    await screenshot(page, "kk-station-device")
    assert json.loads(await page.evaluate("JSON.stringify(document.documentElement.lang)")) == "kk"


async def test_a_21_station_page_has_every_section_a_201_station_has(fleet, chargers, open_console):
    # OCPP 2.1 keeps 2.0.1's device model, reports, network profiles and GetChargingProfiles.
    # The demo runs one seeded 2.0.1 station as 2.1 (cli.py, `_seed`); so does this test.
    spec = replace(pick(fleet, "KZ-ALA", "2.0.1"), ocpp_version="2.1")
    await chargers(spec)
    page = await open_console(f"/#/stations/{spec.station_id}")
    await expect(page.locator("#station-info dd").nth(3)).to_have_text("2.1")  # it booted as 2.1
    for section in ("#monitors", "#display-messages", "#reports", "#network-profiles", "#reported-profiles"):
        await expect(page.locator(section)).to_be_visible()
    await page.click("#profiles-report")  # K09 on a 2.1 station: it holds none, and says so
    await expect(page.locator("#profile-reply")).to_contain_text("NoProfiles")
