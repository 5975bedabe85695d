"""Every map of the console on Leaflet, in English, Russian and Chinese: stations cluster and the
clusters split as one zooms in; the offline layers (borders, roads, cities) come from our own
origin with the cities named in the console's language; a trip's ends are labelled and a failed
plan leaves no route behind; the driver maps work on a phone; and with the OpenStreetMap tiles
off no request leaves the origin."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.e2e.peers import eventually
from tests.web.conftest import screenshot
from tests.web.test_driver_pages import ALMATY, same_origin_only

LANGUAGES = {
    "en": {"locale": "en-GB", "Almaty": "Almaty", "Shymkent": "Shymkent", "from": "From", "to": "To",
           "zoom_in": "Zoom in"},
    "ru": {"locale": "ru-RU", "Almaty": "Алматы", "Shymkent": "Шымкент", "from": "Откуда", "to": "Куда",
           "zoom_in": "Приблизить"},
    "zh": {"locale": "zh-CN", "Almaty": "阿拉木图", "Shymkent": "奇姆肯特", "from": "出发地", "to": "目的地",
           "zoom_in": "放大"},
}
PHONE_WIDTH = 390
WIDER = """w => [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > w + 1
  && e.parentElement.getBoundingClientRect().right <= w + 1).slice(0, 5)
  .map(e => e.tagName + '#' + e.id + '.' + e.getAttribute('class') + ' ' + e.getBoundingClientRect().width
    + ' in ' + e.parentElement.tagName + '.' + e.parentElement.getAttribute('class') + ' ' + e.parentElement.getBoundingClientRect().width
    + [...e.children].map(c => ' ' + c.tagName + ':' + c.getBoundingClientRect().width).join(''))"""


async def fits_the_phone(page) -> None:
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE_WIDTH, f"{width} px wide: {await page.evaluate(WIDER, PHONE_WIDTH)}"


async def cluster_counts(page, map_id: str) -> list[int]:
    return [int(n) for n in await page.locator(f"#{map_id} .cluster span").evaluate_all(
        "spans => spans.map(s => s.dataset.count)")]


@pytest.mark.parametrize("lang", LANGUAGES)
async def test_operator_map_clusters_split_as_one_zooms_in_with_cities_in_the_ui_language(
    fleet, open_console, console_url, lang
):
    words = LANGUAGES[lang]
    page = await open_console("/#/map", locale=words["locale"])
    elsewhere = same_origin_only(page, console_url)
    await expect(page.locator("#map .cluster").first).to_be_visible()
    await expect(page.locator('#map .city-label[data-place="Almaty"]')).to_have_text(words["Almaty"])
    await expect(page.locator("#map path.road")).to_have_count(1)
    await expect(page.locator("#map .leaflet-control-zoom-in")).to_have_attribute("title", words["zoom_in"])
    # every layer is asked for as the map is built; the event stream keeps the network busy,
    # so the drawn roads and labels are the sign that the layers' requests are done
    await screenshot(page, f"{lang}-map-clusters", full_page=False)

    counts = await cluster_counts(page, "map")
    biggest = max(counts)
    assert biggest > 1 and sum(counts) <= len(fleet)
    await page.locator(f'#map .cluster span[data-count="{biggest}"]').first.click()

    async def split() -> bool:
        after = await cluster_counts(page, "map")
        dots = await page.locator("#map .dot[data-station]").count()
        return len(after) + dots >= 2 and max(after, default=0) < biggest

    assert await eventually(split), "the cluster did not split when the map zoomed in on it"
    await screenshot(page, f"{lang}-map-zoomed", full_page=False)
    assert elsewhere == [], "the map loaded something from another origin with the tiles off"


@pytest.mark.parametrize("lang", LANGUAGES)
async def test_a_trips_ends_are_labelled_and_a_failed_plan_clears_its_route_on_a_phone(
    fleet, open_console, console_url, lang
):
    words = LANGUAGES[lang]
    page = await open_console("/#/trip", locale=words["locale"], signed_in=False, phone=True)
    elsewhere = same_origin_only(page, console_url)
    await expect(page.locator("#vehicle option")).not_to_have_count(0)
    await page.fill("#origin", "Almaty")
    await page.fill("#destination", "Shymkent")
    await page.select_option("#vehicle", "byd-dolphin-extended-range-2025-cn")
    await page.click("#plan")
    trip = page.locator("#trip-map")
    await expect(trip.locator("path.route")).to_have_count(1)
    await expect(trip.locator(".dot.place.origin + .mark-label")).to_have_text(f"{words['from']}: {words['Almaty']}")
    await expect(trip.locator(".dot.place.destination + .mark-label")).to_have_text(
        f"{words['to']}: {words['Shymkent']}")
    await expect(trip.locator(".dot.stop")).not_to_have_count(0)
    await fits_the_phone(page)
    await trip.scroll_into_view_if_needed()
    await screenshot(page, f"{lang}-phone-trip-map", full_page=False)

    await page.fill("#destination", "Atlantis")
    await page.click("#plan")
    await expect(page.locator("#trip-status.error")).to_be_visible()
    await expect(trip.locator("path.route")).to_have_count(0)
    await expect(trip.locator(".dot.stop, .dot.place")).to_have_count(0)
    assert elsewhere == [], "the trip page loaded something from another origin with the tiles off"


@pytest.mark.parametrize("lang", LANGUAGES)
async def test_the_find_map_on_a_phone_shows_sites_and_cities_in_the_ui_language(
    fleet, open_console, console_url, lang
):
    words = LANGUAGES[lang]
    page = await open_console("/#/find", locale=words["locale"], signed_in=False, phone=True,
                              geolocation=ALMATY)
    elsewhere = same_origin_only(page, console_url)
    await expect(page.locator("#find-map .dot.here")).to_have_count(1)  # the first search is done
    await page.uncheck("#available")  # no charger is connected: every seeded site, free or not
    await page.click("#search")
    found = page.locator("#find-map .dot.site, #find-map .cluster")
    await expect(found.first).to_be_visible()
    await expect(page.locator('#find-map .city-label[data-place="Almaty"]')).to_have_text(words["Almaty"])
    await fits_the_phone(page)
    await page.wait_for_load_state("networkidle")
    await page.locator("#find-map").scroll_into_view_if_needed()
    await screenshot(page, f"{lang}-phone-find-map", full_page=False)
    assert elsewhere == [], "the find page loaded something from another origin with the tiles off"


@pytest.mark.parametrize("lang", LANGUAGES)
async def test_the_planning_map_draws_every_corridor_and_its_gaps_in_red(
    fleet, open_console, console_url, lang
):
    words = LANGUAGES[lang]
    page = await open_console("/#/map", locale=words["locale"])
    elsewhere = same_origin_only(page, console_url)
    await page.click("#planning-link")
    rows = page.locator("#planning-corridors tbody tr")
    await expect(rows).to_have_count(9)  # the corridors of data/corridors.json
    await expect(page.locator("#planning-map path.corridor")).to_have_count(9)
    flagged = await page.locator("#planning-corridors tr.has-gaps").count()
    assert flagged >= 1, "the seeded sample network leaves some corridor with a gap"
    await expect(page.locator("#planning-map path.gap")).not_to_have_count(0)
    await expect(rows.filter(has_text=words["Almaty"]).first).to_be_visible()
    await expect(page.locator('#planning-map .city-label[data-place="Almaty"]')).to_have_text(words["Almaty"])
    await expect(page.locator("#planning-map .cluster").first).to_be_visible()
    await screenshot(page, f"{lang}-planning-map")
    assert elsewhere == [], "the planning page loaded something from another origin with the tiles off"
