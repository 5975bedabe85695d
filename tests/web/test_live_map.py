"""The map follows the network live: a station's colour changes as it charges and faults. It
loads nothing from another origin until the OpenStreetMap tiles are switched on."""

from __future__ import annotations

import asyncio
import re

from playwright.async_api import expect

from tests.conftest import API_KEY
from tests.e2e.peers import eventually
from tests.web.conftest import screenshot
from tests.web.helpers import pick

COLOUR = "el => getComputedStyle(el).backgroundColor"


async def test_station_goes_available_charging_faulted_on_the_map_without_reload(
    fleet, chargers, open_console
):
    spec = pick(fleet, "KZ-ALA", "1.6")
    charger = await chargers(spec)
    neighbours = [pick(fleet, prefix, version) for prefix, version in
                  [("UZ-TAS", "1.6"), ("KG-BIS", "2.0.1"), ("TJ-DUS", "1.6"), ("KZ-AST", "2.0.1")]]
    await asyncio.gather(*(chargers(s) for s in neighbours))

    page = await open_console("/#/login", signed_in=False)
    await expect(page.locator("#login-person h1")).to_be_visible()
    await page.click("#use-key")  # people sign in with a password; a key is the second way
    await page.fill("#api-key", API_KEY)
    await page.press("#api-key", "Enter")
    await expect(page.locator("#stations-online")).to_contain_text("5")
    await page.click('nav a[href="#/map"]')
    await expect(page.locator("#map .cluster").first).to_be_visible()
    # the map's link to one station zooms it out of its cluster
    await page.evaluate(f"location.hash = '#/map/{spec.station_id}'")
    dot = page.locator(f'#map .dot[data-station="{spec.station_id}"]')
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


async def test_map_link_zooms_to_its_station_when_the_stations_arrive_before_the_map_has_a_size(
    fleet, chargers, open_console
):
    """On a loaded machine the stations can be fetched before the browser lays the map out; the
    link to one station must wait for the map rather than throw (it did, in CI)."""
    spec = pick(fleet, "KZ-ALA", "1.6")
    await chargers(spec)
    page = await open_console("/#/")
    await expect(page.locator("#stations-online")).to_contain_text("1")
    hidden = await page.add_style_tag(content="#map { display: none !important; }")
    await page.evaluate(f"location.hash = '#/map/{spec.station_id}'")
    # the stations are placed while the map has no size, so it has not been drawn yet
    await expect(page.locator("#map")).to_have_attribute("aria-busy", "false")
    assert await page.locator("#map .dot").count() == 0
    await hidden.evaluate("style => style.remove()")
    dot = page.locator(f'#map .dot[data-station="{spec.station_id}"]')
    await expect(dot).to_be_visible()
    await expect(dot).to_have_attribute("data-state", "available")


async def test_operator_map_loads_nothing_from_elsewhere_until_osm_tiles_are_switched_on(
    fleet, chargers, open_console, console_url
):
    await chargers(pick(fleet, "KZ-ALA", "1.6"))
    page = await open_console("/#/map")
    elsewhere: list[str] = []
    page.on("request", lambda r: None if r.url.startswith((console_url, "data:")) else elsewhere.append(r.url))
    tiles: list[str] = []

    async def tile(route):
        tiles.append(route.request.url)
        await route.fulfill(status=204)  # the test machine is offline; the request is what counts

    await page.route("https://tile.openstreetmap.org/**", tile)
    await expect(page.locator("#map .cluster").first).to_be_attached()
    await expect(page.locator("#map path.country")).not_to_have_count(0)
    await expect(page.locator("#map path.road")).to_have_count(1)
    await expect(page.locator('#map .city-label[data-place="Almaty"]')).to_be_attached()
    await expect(page.locator("#map-osm")).not_to_be_checked()
    await page.wait_for_timeout(500)  # past the tile layer's redraw delay
    assert elsewhere == [] and await page.locator("#map img.leaflet-tile").count() == 0

    await page.check("#map-osm")
    await expect(page.locator("#map img.leaflet-tile").first).to_have_attribute(
        "src", re.compile(r"^https://tile\.openstreetmap\.org/\d+/\d+/\d+\.png$"))
    await expect(page.locator(".geomap-frame .attribution")).to_contain_text("OpenStreetMap")

    async def requested() -> bool:
        return bool(tiles)

    assert await eventually(requested)
    assert {url.split("/")[2] for url in elsewhere} == {"tile.openstreetmap.org"}
    await page.reload()
    await expect(page.locator("#map-osm")).to_be_checked()  # the choice is remembered, shared with driver maps
