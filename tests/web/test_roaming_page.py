"""The operators' roaming page in a real browser against two real networks: the Uzbek eMSP sees
its Kazakh partner registered, pulls its locations and tariffs from the page, and reads the
month's settlement."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.roaming.conftest import kz, registered, uz  # noqa: F401 (the two networks, as fixtures)
from tests.roaming.test_partner_sites import almaty_site
from tests.web.conftest import screenshot


@pytest.fixture
async def console_url(registered) -> str:  # noqa: F811 (the Uzbek network serves the console)
    return registered[1].url


@pytest.mark.parametrize("locale", ["en-GB", "ru-RU"])
async def test_an_operator_sees_the_partner_registered_pulls_it_and_reads_the_months_settlement(
        registered, open_console, locale):  # noqa: F811
    kz_net, uz_net = registered
    await almaty_site(kz_net)
    partner = await uz_net.partner_row()
    page = await open_console("/#/roaming", locale=locale)
    row = page.locator(f'#roaming-partners tr[data-partner="{partner.id}"]')
    words = {"en-GB": ("registered", "Pulled 1 locations and 1 tariffs; 0 skipped."),
             "ru-RU": ("зарегистрирован", "Получено локаций: 1, тарифов: 1; пропущено: 0.")}[locale]
    await expect(row).to_contain_text("Silk Charge KZ")
    await expect(row).to_contain_text("KZ*SLK CPO")
    await expect(row.locator(".state")).to_contain_text(words[0])
    await expect(row.locator(".pulled")).to_have_text("–")
    await row.locator("button.pull").click()
    await expect(page.locator("#roaming-message")).to_have_text(words[1])
    await expect(row.locator(".pulled")).not_to_have_text("–")
    settled = page.locator(f'#roaming-settlement tr[data-partner="{partner.id}"]')
    await expect(settled).to_contain_text("Silk Charge KZ")
    assert await page.evaluate("[...window.silkchargeMissing]") == []
    if locale == "en-GB":
        await expect(page.locator("#roaming-sessions tbody")).to_have_text("No roaming sessions yet.")
        await expect(page.locator("#roaming-cdrs tbody")).to_have_text("No CDRs from partners yet.")
        await screenshot(page, "roaming")
