"""The console's alerts page shows the tariffs a regulated price cap suspends, in every language."""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import expect

from tests.conftest import API_KEY
from tests.guards import HANG_GUARD
from tests.web.conftest import screenshot
from tests.web.test_languages import LANGUAGES, RAW_KEY, strings

# 95 KZT + 16 % VAT = 110.20 KZT/kWh: above Almaty's 100 KZT/kWh cap.
DEAR = {"currency": "KZT", "country_code": "KZ",
        "elements": [{"price_components": [{"type": "ENERGY", "price": "95", "vat": 16}]}]}
LOCALES = {"en": "en-GB", "ru": "ru-RU", "kk": "kk-KZ", "uz": "uz-UZ", "ky": "ky-KG", "tg": "tg-TJ",
           "zh": "zh-CN"}


@pytest.fixture
async def suspended(fleet, console_url) -> list[dict]:
    """A network-wide tariff of the seeded Kazakh operator that breaks the Almaty cap: published,
    and suspended at each of its Almaty sites."""
    async with httpx.AsyncClient(timeout=HANG_GUARD, base_url=console_url, headers={"X-API-Key": API_KEY}) as api:
        published = await api.post("/api/v1/tariffs", json={"code": "KZ-DEAR", "operator": "KZ-SLK",
                                                             "tariff": DEAR})
        assert published.status_code == 201, published.text
        return published.json()["suspensions"]


async def test_the_alerts_page_lists_each_tariff_a_cap_suspends(suspended, open_console):
    sites = sorted(s["site_name"] for s in suspended)
    assert len(sites) == 5  # the seeded network's five Almaty sites, none outside the city
    page = await open_console("/#/alerts")
    cards = page.locator("#cap-suspensions article")
    await expect(cards).to_have_count(5)
    first = cards.first
    await expect(first).to_contain_text("Tariff KZ-DEAR at")
    await expect(first).to_contain_text("Cap kz-almaty-2025-100kzt: at most")
    await expect(first).to_contain_text("= 110.20 KZT per kWh exceeds the cap of 100 KZT/kWh incl. VAT")
    await expect(first).to_contain_text("Publish a tariff within the cap")
    shown = sorted(await cards.locator("h2").all_inner_texts())
    assert [text.split(" at ", 1)[1].split(" · ")[0] for text in shown] == sites
    await screenshot(page, "alerts-caps-en", full_page=False)


@pytest.mark.parametrize("language", LANGUAGES[1:])
async def test_the_cap_alerts_are_translated(suspended, open_console, language):
    page = await open_console("/#/alerts", locale=LOCALES[language])
    await expect(page.locator("#cap-suspensions article")).to_have_count(5)
    title = strings(language)["alerts.capsTitle"]
    await expect(page.locator("#cap-suspensions h2").first).to_have_text(title)
    text = await page.locator("#cap-suspensions").inner_text()
    assert not RAW_KEY.findall(text)
    assert await page.evaluate("[...window.silkchargeMissing]") == []
    # The server's reason stays in English, marked as such for the reader and screen readers.
    assert await page.locator("#cap-suspensions .meaning span[lang=en]").count() == 5
    if language in ("ru", "zh"):
        await screenshot(page, f"alerts-caps-{language}", full_page=False)


async def test_no_cap_alert_says_so(fleet, open_console):
    page = await open_console("/#/alerts")
    await expect(page.locator("#caps-none")).to_have_text("No tariff breaks a price cap.")
