"""The map follows the network live: a station's colour changes as it charges and faults."""

from __future__ import annotations

import asyncio

from playwright.async_api import expect

from tests.conftest import API_KEY
from tests.web.conftest import screenshot
from tests.web.helpers import pick

COLOUR = "el => getComputedStyle(el).fill"


async def test_station_goes_available_charging_faulted_on_the_map_without_reload(
    fleet, chargers, open_console
):
    spec = pick(fleet, "KZ-ALA", "1.6")
    charger = await chargers(spec)
    neighbours = [pick(fleet, prefix, version) for prefix, version in
                  [("UZ-TAS", "1.6"), ("KG-BIS", "2.0.1"), ("TJ-DUS", "1.6"), ("KZ-AST", "2.0.1")]]
    await asyncio.gather(*(chargers(s) for s in neighbours))

    page = await open_console("/#/login", signed_in=False)
    await page.fill("#api-key", API_KEY)
    await page.click("#login")
    await expect(page.locator("#stations-online")).to_contain_text("5")
    await page.click('nav a[href="#/map"]')
    dot = page.locator(f'circle[data-station="{spec.station_id}"]')
    await expect(page.locator("#live.on")).to_be_visible()
    await expect(dot).to_have_attribute("data-state", "available")
    available = await dot.evaluate(COLOUR)
    await page.evaluate("window.sameDocument = true")

    await charger.plug_in_and_charge(1, "WEB-0001")
    await expect(dot).to_have_attribute("data-state", "charging")
    charging = await dot.evaluate(COLOUR)

    await charger.set_fault(1, "GroundFailure")
    await expect(dot).to_have_attribute("data-state", "faulted")
    faulted = await dot.evaluate(COLOUR)

    assert len({available, charging, faulted}) == 3
    assert await page.evaluate("window.sameDocument === true"), "the page was reloaded"
    await screenshot(page, "map")

    await page.click('nav a[href="#/alerts"]')
    alert = page.locator(f'article.alert[data-station="{spec.station_id}"]')
    await expect(alert).to_contain_text("GroundFailure")
    await expect(alert).to_contain_text("earth-fault protection")
    await screenshot(page, "alerts", full_page=False)

    await page.click('nav a[href="#/sessions"]')
    await expect(page.locator("#sessions tbody tr").first).to_contain_text(spec.station_id)
    await screenshot(page, "sessions")

    await page.click('nav a[href="#/"]')
    await expect(page.locator("#sessions-today .value")).to_have_text("1")
    await expect(page.locator("#state-faulted .value")).to_have_text("1")
    await screenshot(page, "dashboard")
