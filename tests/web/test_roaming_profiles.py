"""Charging profiles on both Roaming pages, in a real browser against two real networks: the
Uzbek eMSP sets a profile on its driver's session at the Kazakh CPO's simulated charger, the
Kazakh operator lowers the charger's maximum, and the Kazakh side pushes the session's
ActiveChargingProfile. The Kazakh operator's Roaming page (English) lists the SET it received
and the profile it pushed, with its limit and its time; the Uzbek operator's (Russian) lists the
SET it sent and the profile pushed to it, and where its driver charges by the name of the Kazakh
location once it pulled it. Waits are on conditions (the push arriving, text shown)."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.roaming.conftest import kz, registered, uz  # noqa: F401 (the two networks, as fixtures)
from tests.roaming.test_charging_profiles import networks  # noqa: F401 (the fixture)
from tests.roaming.test_commands import STATION
from tests.roaming.test_profile_push import set_then_lowered, simulated
from tests.web.conftest import screenshot


@pytest.fixture
async def console_url(registered) -> str:  # noqa: F811 (the Kazakh CPO's console; the Uzbek one is opened by URL)
    return registered[0].url


async def clock(page, at: str, locale: str) -> str:
    """The time of day `at` as the console writes it for `locale` ("10:05")."""
    return await page.evaluate(
        "([at, locale]) => new Intl.DateTimeFormat(locale, {timeStyle: 'short'}).format(new Date(at))", [at, locale])


async def test_both_roaming_pages_list_the_emsps_set_and_the_active_profile_pushed_with_its_limit(
        networks, open_console):  # noqa: F811
    kz_net, uz_net, partner_id = networks
    async with simulated(kz_net) as station:
        session_id, active = await set_then_lowered(kz_net, uz_net, partner_id, station)
        await kz_net.platform.roaming_profiles.idle()
    start = active["charging_profile"].get("start_date_time") or active["start_date_time"]

    # the CPO's operator: the partner's SET for its driver's session at our charger, and our push
    page = await open_console("/#/roaming")
    table = page.locator("#roaming-charging-profiles")
    received = table.locator('tr[data-direction="received"][data-kind="SET"]')
    await expect(received).to_have_count(1)
    for text in ("Partner's driver at our charger", "UzEnergy", "Set a charging profile", session_id,
                 f"{STATION}*1", "accepted", "16 A from the start · 10.5 A after 30 min", "until further notice"):
        await expect(received).to_contain_text(text)
    pushed = table.locator('tr[data-direction="pushed"]')
    await expect(pushed).to_have_count(1)
    for text in ("Pushed to partner", "Active charging profile", "after a change: operator", session_id,
                 f"{STATION}*1", "pushed", f"8 A from {await clock(page, start, 'en-GB')}", "for 60 min"):
        await expect(pushed).to_contain_text(text)
    # newest first: the push came after the SET
    assert await table.locator("tbody tr").first.get_attribute("data-direction") == "pushed"
    await expect(page.locator("#roaming-pushed-profiles tbody")).to_have_text(
        "No partner has pushed us a charging profile yet.")
    assert await page.evaluate("[...window.silkchargeMissing]") == []
    await screenshot(page, "roaming-profiles")

    # the eMSP's operator, in Russian: the SET it sent, and the profile the CPO pushed it; where
    # its driver charges by the name of the CPO's location, once the eMSP pulled the locations
    pulled = await uz_net.api.post(f"/api/v1/roaming/partners/{partner_id}/pull")
    assert pulled.status_code == 200, pulled.text
    partner_page = await open_console("/#/", locale="ru-RU")
    await partner_page.goto(f"{uz_net.url}/#/roaming")
    sent = partner_page.locator('#roaming-charging-profiles tr[data-direction="sent"][data-kind="SET"]')
    for text in ("Наш водитель на станции партнёра", "Silk Charge KZ", "Установить профиль зарядки", session_id,
                 "принят", "16 А с начала зарядки · 10,5 А через 30 мин"):
        await expect(sent).to_contain_text(text)
    await expect(sent.locator(".where")).to_have_text(f"Kaskelen test siteALA-TEST · {STATION}*1")
    ours_there = partner_page.locator(f'#roaming-sessions tr[data-session="{session_id}"] .where')
    await expect(ours_there).to_have_text(f"Kaskelen test siteALA-TEST · {STATION}*1")
    to_us = partner_page.locator(f'#roaming-pushed-profiles tr[data-session="{session_id}"]')
    for text in ("Silk Charge KZ", f"8 А с {await clock(partner_page, start, 'ru-RU')}", "на 60 мин"):
        await expect(to_us).to_contain_text(text)
    assert await partner_page.evaluate("[...window.silkchargeMissing]") == []
    await screenshot(partner_page, "ru-roaming-profiles-partner")


async def test_an_open_roaming_page_shows_a_partners_session_and_the_push_as_they_happen(
        networks, open_console):  # noqa: F811
    kz_net, uz_net, partner_id = networks
    page = await open_console("/#/roaming")
    await expect(page.locator("#roaming-charging-profiles tbody")).to_contain_text("No charging profiles")
    # the eMSP's page too, open before its driver starts
    partner_page = await open_console("/#/")
    await partner_page.goto(f"{uz_net.url}/#/roaming")
    await expect(partner_page.locator("#roaming-sessions tbody")).to_contain_text("No roaming sessions")
    async with simulated(kz_net) as station:
        session_id, _ = await set_then_lowered(kz_net, uz_net, partner_id, station)
        # no reload: the live feed's transaction and profile events bring them in
        row = page.locator(f'#roaming-sessions tr[data-session="{session_id}"]')
        await expect(row).to_have_count(1)
        await expect(row.locator(".status")).to_have_text("Charging")  # our "Active", in words
        await expect(page.locator('#roaming-charging-profiles tr[data-direction="pushed"]')).to_contain_text(session_id)
        # on the eMSP's side the partner's Session and its pushed profile arrive by OCPI, and the
        # page shows them as they are received
        theirs = partner_page.locator(f'#roaming-sessions tr[data-session="{session_id}"]')
        await expect(theirs.locator(".status")).to_have_text("Charging")
        await expect(partner_page.locator(f'#roaming-pushed-profiles tr[data-session="{session_id}"]')).to_contain_text(
            "8 A")
