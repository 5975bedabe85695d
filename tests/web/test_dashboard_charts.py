"""The dashboard charts a week of energy, sessions and revenue per currency; connector
standards have their human names; the operator navigation fits a 1280 px screen on one row."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.async_api import expect

from silkcharge.demo.business import load_business, publish_tariffs
from silkcharge.demo.history import write_history
from tests.web.conftest import TOKENS, screenshot

I18N = Path(__file__).resolve().parents[2] / "web" / "src" / "i18n"


def strings(language: str) -> dict[str, str]:
    return json.loads((I18N / f"{language}.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize(("locale", "language"), [("en-GB", "en"), ("ru-RU", "ru"), ("zh-CN", "zh")])
async def test_the_dashboard_charts_the_week_per_day_and_revenue_per_currency(
        platform, fleet, open_console, locale, language):
    await publish_tariffs(platform.billing, load_business())
    report = await write_history(platform, ["KZ-ALA-001-A", "TJ-DUS-001-A"], [t["token"] for t in TOKENS])
    assert report.priced > 0
    words = strings(language)
    page = await open_console("/#/", locale=locale)
    for chart, title in (("#chart-energy", f'{words["dash.chartEnergy"]} ({words["unit.kwh"]})'),
                         ("#chart-sessions", words["dash.chartSessions"]),
                         ("#chart-revenue-KZT", words["dash.chartRevenue"].replace("{currency}", "KZT")),
                         ("#chart-revenue-TJS", words["dash.chartRevenue"].replace("{currency}", "TJS"))):
        await expect(page.locator(f"{chart} h2")).to_have_text(title)
        await expect(page.locator(f"{chart} rect.day-bar")).to_have_count(7)
    heights = await page.locator("#chart-sessions rect.day-bar").evaluate_all(
        "bars => bars.map(b => Number(b.getAttribute('height')))")
    assert sum(1 for height in heights if height > 0) >= 5  # a week of history, not one day
    assert await page.locator("#chart-revenue-USD").count() == 0  # only currencies that earned
    await expect(page.locator("#uptime-today .value")).not_to_have_text("–")
    await screenshot(page, f"{language}-dashboard-week", full_page=False)


@pytest.mark.parametrize(("locale", "language"), [("en-GB", "en"), ("ru-RU", "ru"), ("zh-CN", "zh")])
async def test_the_operator_navigation_fits_1280_px_on_one_row(fleet, open_console, locale, language):
    page = await open_console("/#/", locale=locale)
    links = page.locator("header nav a")
    await expect(links.first).to_be_visible()
    boxes = await links.evaluate_all("links => links.map(a => a.getBoundingClientRect().toJSON())")
    assert len({round(box["top"]) for box in boxes}) == 1, "the navigation wraps"
    assert max(box["right"] for box in boxes) <= 1280
    header = await page.locator("header").bounding_box()
    assert header["height"] < 110  # two rows: the tools above, the pages below


async def test_connector_standards_have_their_human_names(fleet, open_console):
    page = await open_console("/#/stations/KZ-ALA-001-A")
    table = page.locator("#connector-table")
    await expect(table).to_contain_text("GB/T DC")
    await expect(table).to_contain_text("CCS2")
    await expect(table).not_to_contain_text("gbt_dc")


@pytest.mark.parametrize(("locale", "language"), [("en-GB", "en"), ("ru-RU", "ru"), ("zh-CN", "zh")])
async def test_the_demo_prices_are_marked_illustrative_where_a_driver_finds_a_charger(
        platform, fleet, chargers, open_console, locale, language):
    await publish_tariffs(platform.billing, load_business())
    await chargers(fleet["KZ-ALA-001-C"])  # AC 22 kW, Type 2
    page = await open_console("/#/find", signed_in=False, locale=locale,
                              geolocation={"latitude": 43.2389, "longitude": 76.8897})
    await page.click("#search")
    row = page.locator('tr[data-station="KZ-ALA-001-C"]').first
    await expect(row.locator(".price .illustrative")).to_have_text(strings(language)["find.illustrative"])
    await expect(row.locator(".price")).to_contain_text("30")
