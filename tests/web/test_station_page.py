"""Commands from the station page reach the simulated charger and show its reply."""

from __future__ import annotations

from playwright.async_api import expect

from tests.web.conftest import screenshot
from tests.web.helpers import pick


async def test_clear_cache_from_the_station_page_reaches_the_charger_and_shows_its_reply(
    fleet, chargers, open_console
):
    spec = pick(fleet, "KZ-ALA", "1.6")
    charger = await chargers(spec)
    charger.auth_cache["WEB-0002"] = "Accepted"
    page = await open_console(f"/#/stations/{spec.station_id}")
    await expect(page.locator("#connector-table tbody tr")).to_have_count(len(spec.connectors))
    await expect(page.locator("#station-state")).to_have_text("Available")

    await page.click("#command-clear_cache")
    reply = page.locator('pre.reply[data-command="clear_cache"]')
    await expect(reply).to_contain_text("Accepted")
    assert charger.auth_cache == {}

    form = page.locator('form[data-command="get_configuration"]')
    await form.locator('input[name="keys"]').fill("HeartbeatInterval")
    await form.locator("button").click()
    reply = page.locator('pre.reply[data-command="get_configuration"]')
    await expect(reply).to_contain_text('"key": "HeartbeatInterval"')
    await expect(page.locator("#message-table")).to_contain_text("ClearCache")
    await screenshot(page, "station")


async def test_a_command_to_an_offline_station_shows_why_it_failed(fleet, open_console):
    spec = pick(fleet, "KZ-ALA", "2.0.1")
    page = await open_console(f"/#/stations/{spec.station_id}")
    form = page.locator('form[data-command="reset"]')
    await form.locator('select[name="type"]').select_option("hard")
    await form.locator("button").click()
    reply = page.locator('pre.reply[data-command="reset"]')
    await expect(reply).to_contain_text("never connected")
    await expect(reply).to_have_class("reply failed")
