"""Roaming in a real browser against two real networks, the Uzbek one (an eMSP) serving the
console: its driver finds the Kazakh partner's Almaty site marked as roaming, priced in UZS at
the entered rate with the Kazakh price under it, starts it, and plans a trip through it; its
operator sees the partner registered, pulls it from the Roaming page and reads the month."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.e2e.network import add_token
from tests.roaming.conftest import kz, registered, uz  # noqa: F401 (the two networks, as fixtures)
from tests.roaming.test_partner_sites import almaty_site, charger_online, enter_rate, pull
from tests.web.conftest import screenshot

ALMATY = {"latitude": 43.2389, "longitude": 76.8897}


@pytest.fixture
async def console_url(registered) -> str:  # noqa: F811 (the Uzbek network serves the console)
    return registered[1].url


@pytest.mark.parametrize("locale", ["en-GB", "ru-RU"])
async def test_a_partners_site_is_marked_as_roaming_and_priced_in_the_drivers_currency(
        registered, open_console, locale):  # noqa: F811
    kz_net, uz_net = registered
    await almaty_site(kz_net)
    await enter_rate(uz_net)
    async with charger_online(kz_net):
        await pull(uz_net)
        await page_shows_the_partner_site(open_console, locale)


async def page_shows_the_partner_site(open_console, locale: str) -> None:
    page = await open_console("/#/find", signed_in=False, geolocation=ALMATY, locale=locale)
    await page.select_option("#standard", "CCS2")
    await page.click("#search")
    site = page.locator('article.result.roaming[data-site="ALA-DOSTYK"]')
    words = {"en-GB": ("Roaming: Silk Charge KZ", "at the partner's tariff", "for 30 kWh"),
             "ru-RU": ("Роуминг: Silk Charge KZ", "по тарифу партнёра", "за 30 кВт·ч")}[locale]
    await expect(site.locator(".roaming-badge")).to_have_text(words[0])
    row = site.locator('tr[data-station="ALA-DOS-01*1"]')
    price = row.locator(".price")
    ours = await page.evaluate(
        f"new Intl.NumberFormat('{locale}', {{style: 'currency', currency: 'UZS'}}).format('82824.00')")
    theirs = await page.evaluate(
        f"new Intl.NumberFormat('{locale}', {{style: 'currency', currency: 'KZT'}}).format('3360.00')")
    await expect(price).to_contain_text(f"{ours}")
    await expect(price).to_contain_text(words[2])
    await expect(price.locator(".partner-price")).to_contain_text(theirs)
    await expect(price.locator(".partner-price")).to_contain_text(words[1])
    await expect(row.locator("button.reserve")).to_have_count(0)  # reserved through the partner, not here
    await expect(page.locator("#find-map .dot.site.roaming")).to_have_count(1)
    if locale == "en-GB":
        await screenshot(page, "driver-find-roaming")


DRIVER = ("dilnoza@example.uz", "silk road 2026", "Dilnoza")
CARD = "UZ-DRIVER-7"


async def test_a_driver_starts_a_partners_charger_from_the_find_page_and_the_charger_gets_their_card(
        registered, open_console):  # noqa: F811
    kz_net, uz_net = registered
    await almaty_site(kz_net)
    await add_token(uz_net.api, CARD)
    await uz_net.platform.drivers.ensure(*DRIVER, "en", [CARD])
    async with charger_online(kz_net) as charger:
        await pull(uz_net)
        page = await open_console("/#/find", signed_in=False, geolocation=ALMATY)
        await page.select_option("#standard", "CCS2")
        await page.click("#search")
        row = page.locator('article.result.roaming tr[data-station="ALA-DOS-01*1"]')
        await row.locator("button.start-partner").click()  # not logged in: the page asks for a login
        await page.fill("#driver-email", DRIVER[0])
        await page.fill("#driver-password", DRIVER[1])
        await page.click("#driver-login")
        await expect(page.locator("#driver-name")).to_have_text(DRIVER[2])
        await row.locator("button.start-partner").click()
        await expect(page.locator("#reserve-message")).to_have_text(
            "Charging can begin: Silk Charge KZ's charger started for your card.")
        starts = [p for action, p in charger.received if action == "RemoteStartTransaction"]
        assert [s["id_tag"] for s in starts] == [CARD]
        await screenshot(page, "driver-find-roaming-started")


async def test_a_trip_stops_at_a_partners_site_marked_as_roaming(registered, open_console):  # noqa: F811
    kz_net, uz_net = registered
    await almaty_site(kz_net)
    await pull(uz_net)
    page = await open_console("/#/trip", signed_in=False)
    await expect(page.locator("#vehicle option")).not_to_have_count(0)
    await page.fill("#origin", "Almaty")
    await page.fill("#destination", "Bishkek")
    await page.select_option("#vehicle", "hyundai-ioniq-5-2024-eu")
    await page.fill("#start-soc", "20")
    await page.click("#plan")
    stop = page.locator("#leg-table tr.with-stop")
    await expect(stop).to_have_count(1)
    await expect(stop).to_contain_text("Dostyk Plaza")
    await expect(stop.locator(".roaming-badge")).to_have_text("Roaming: Silk Charge KZ")
    await screenshot(page, "driver-trip-roaming")


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
