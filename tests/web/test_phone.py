"""The driver pages on a phone (390 x 844): nothing wider than the screen, the navigation and
the main controls within reach, in English, Russian and Chinese."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.web.conftest import API_KEY, PHONE_WIDTH, page_width, screenshot
from tests.web.helpers import pick

PHONE = {"width": PHONE_WIDTH, "height": 844}
PAGES = {"find": "#search", "trip": "main h1", "vehicles": "main h1", "driver/login": "main h1"}


@pytest.mark.parametrize(("locale", "language"), [("en-GB", "en"), ("ru-RU", "ru"), ("zh-CN", "zh")])
async def test_the_driver_pages_fit_a_phone_screen(browser, console_url, fleet, locale, language):
    context = await browser.new_context(locale=locale, viewport=PHONE, is_mobile=True, has_touch=True)
    page = await context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(error))
    too_wide = {}
    for path, ready in PAGES.items():
        await page.goto(f"{console_url}/#/{path}")
        await expect(page.locator(ready).first).to_be_visible()
        width = await page_width(page)
        if width > PHONE_WIDTH:
            too_wide[path] = width
        await screenshot(page, f"{language}-phone-{path.replace('/', '-')}", full_page=False)
    await context.close()
    assert not errors
    assert too_wide == {}, f"wider than the phone: {too_wide}"


OPERATOR_PAGES = ["", "map", "sessions", "alerts", "review", "smart", "tariffs", "caps", "audit", "people", "roaming"]


@pytest.mark.parametrize(("locale", "language", "viewport"), [
    ("ru-RU", "ru", PHONE), ("kk-KZ", "kk", {"width": 1280, "height": 860})])
async def test_the_operator_pages_are_no_wider_than_the_screen_and_every_link_is_within_reach(
    browser, console_url, fleet, chargers, locale, language, viewport
):
    spec = pick(fleet, "KZ-ALA", "2.0.1")
    await chargers(spec)  # a station online, so its page has all its sections (device model, display messages ...)
    phone = viewport == PHONE
    context = await browser.new_context(locale=locale, viewport=viewport, is_mobile=phone, has_touch=phone)
    await context.add_init_script(
        f"sessionStorage.setItem('silkcharge.apiKey', {API_KEY!r}); localStorage.setItem('silkcharge.language', {language!r})")
    page = await context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(error))
    too_wide = {}
    for path in [*OPERATOR_PAGES, f"stations/{spec.station_id}"]:
        await page.goto(f"{console_url}/#/{path}")
        await expect(page.locator("main h1").first).to_be_visible()
        if path.startswith("stations/"):
            await expect(page.locator("#connector-table tbody tr")).to_have_count(len(spec.connectors))
            # the connectors' OCPP statuses in the operator's words ("Available" in the tooltip)
            await expect(page.locator("#connector-table .status").first).to_have_text(
                {"ru": "Свободен", "kk": "Бос"}[language])
            await expect(page.locator("textarea").first).to_be_visible()  # the display message form
        width = await page_width(page)
        if width > viewport["width"]:
            too_wide[path or "dashboard"] = width
    # the last of the operator's links (on a phone the row scrolls sideways by itself) still opens its page
    roaming = page.locator('header nav a[href="#/roaming"]')
    await roaming.scroll_into_view_if_needed()
    await roaming.click()
    await expect(page.locator("main h1")).to_have_text(await roaming.inner_text())
    await screenshot(page, f"{language}-{'phone' if phone else 'wide'}-operator-roaming", full_page=False)
    await context.close()
    assert not errors
    assert too_wide == {}, f"wider than the screen: {too_wide}"
