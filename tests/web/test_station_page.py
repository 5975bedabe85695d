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


async def test_a01_rotating_a_password_from_the_station_page_reaches_the_charger_and_is_recorded(
    fleet, chargers, open_console
):
    spec = pick(fleet, "KZ-ALA", "2.0.1")
    charger = await chargers(spec)
    page = await open_console(f"/#/stations/{spec.station_id}")
    await expect(page.locator("#security-profile")).to_contain_text("1 — password")
    await expect(page.locator("#station-password")).to_have_text("set")

    await page.click("#rotate-password")
    await expect(page.locator("#security-reply")).to_contain_text("SetVariables: Accepted")
    await expect(page.locator("#security-events")).to_contain_text("BasicAuthPasswordRotated")
    assert charger.network.password != spec.password.encode()
    # The charger reconnects with its new password; the old one is then refused.
    await expect(page.locator("#station-password")).to_have_text("set")
    await expect(page.locator("#raise-profile-2")).to_be_visible()
    await screenshot(page, "station-security")


async def test_the_station_page_shows_its_effective_profile_with_sources(fleet, chargers, open_console):
    spec = pick(fleet, "KZ-ALA", "1.6")
    await chargers(spec)
    page = await open_console(f"/#/stations/{spec.station_id}")
    profile = page.locator("#profile-table")
    await expect(profile).to_contain_text("profile generic-ocpp1.6")
    await expect(profile).to_contain_text("Least charging current (A)")
    await expect(page.locator("#station-profile")).to_contain_text("generic-ocpp1.6")
    await screenshot(page, "station-profile")
