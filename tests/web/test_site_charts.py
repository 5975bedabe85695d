"""Utilisation and uptime per site (issue 19, item 7), in English, Russian and Chinese, over the
demo's week of history with one seeded site's chargers running: a card per site with a bar per day for
each, the history's days busy, today's uptime counted from the stations' registration (not
0.1 % after a start), and a city filter."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from silkcharge.demo.history import write_history
from tests.web.conftest import TOKENS, screenshot
from tests.web.test_dashboard_charts import strings


@pytest.mark.parametrize(("locale", "language"), [("en-GB", "en"), ("ru-RU", "ru"), ("zh-CN", "zh")])
async def test_each_site_charts_its_utilisation_and_uptime_per_day(
        platform, fleet, chargers, open_console, locale, language):
    for station_id in sorted(fleet):
        if station_id.startswith("KZ-ALA-001-"):
            await chargers(fleet[station_id])  # every station of the site, up since just after its registration
    report = await write_history(platform, ["KZ-ALA-001-A", "TJ-DUS-001-A"], [t["token"] for t in TOKENS])
    assert report.sessions > 0
    words = strings(language)
    page = await open_console("/#/", locale=locale)
    await page.click("#to-sites a")
    await expect(page.locator("h1")).to_have_text(words["sites.title"])

    almaty = page.locator('.site-card[data-site="KZ-ALA-001"]')
    await expect(almaty.locator("h2")).to_contain_text("Almaty, city site 1")
    await expect(almaty.locator(".utilisation .metric-title")).to_contain_text(words["sites.utilisation"])
    await expect(almaty.locator(".uptime .metric-title")).to_contain_text(words["sites.uptime"])
    busy = await almaty.locator(".utilisation rect.day-bar").evaluate_all(
        "bars => bars.map(b => Number(b.getAttribute('data-value')))")
    assert len(busy) >= 5 and sum(1 for v in busy if v > 0) >= 5  # the week of history, day by day
    # today: the site's chargers connected moments after their registration and their uptime
    # counts from then: most of it, not the 0.1 % share of the day since midnight that a minute is
    uptime = almaty.locator(".uptime rect.day-bar")
    await expect(uptime).to_have_count(1)  # the days before the stations existed have no uptime: a dash
    assert float(await uptime.get_attribute("data-value")) > 0.3
    assert await almaty.locator(".uptime text", has_text="–").count() == 6  # of the 7 days shown

    dushanbe = page.locator('.site-card[data-site="TJ-DUS-001"]')
    await expect(dushanbe).to_be_visible()
    await page.select_option("#sites-city", "Dushanbe")
    await expect(almaty).to_have_count(0)
    await expect(dushanbe).to_be_visible()
    await page.select_option("#sites-city", "")
    await page.select_option("#sites-order", "utilisation")
    first_two = await page.locator(".site-card").evaluate_all("cards => cards.slice(0, 2).map(c => c.dataset.site)")
    assert set(first_two) == {"KZ-ALA-001", "TJ-DUS-001"}  # the two with history are the busiest
    await screenshot(page, f"{language}-site-charts", full_page=False)
    assert await page.evaluate("[...window.silkchargeMissing]") == []
