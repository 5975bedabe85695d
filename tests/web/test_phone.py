"""The driver pages on a phone (390 x 844): nothing wider than the screen, the navigation and
the main controls within reach, in English, Russian and Chinese."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.web.conftest import PHONE_WIDTH, page_width, screenshot

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
