"""Commands from the station page reach the simulated charger and show its reply."""

from __future__ import annotations

from datetime import timedelta

import pytest
import websockets
from playwright.async_api import expect
from sqlalchemy import update

from silkcharge.domain.clock import utcnow
from silkcharge.store.schema import SecurityEvent, Station
from tests.e2e.peers import connected_peer
from tests.web.conftest import screenshot
from tests.web.helpers import pick


async def test_clear_cache_from_the_station_page_reaches_the_charger_and_shows_its_reply(
    fleet, chargers, open_console
):
    spec = pick(fleet, "KZ-ALA", "1.6")
    charger = await chargers(spec)
    charger.auth_cache["WEB-0002"] = "Accepted"
    page = await open_console(f"/#/stations/{spec.station_id}")
    await expect(page.locator("#connector-table tbody tr")).to_have_count(len(spec.connectors))
    await expect(page.locator("#station-state")).to_have_text("Available")

    await page.click("#command-clear_cache")
    reply = page.locator('pre.reply[data-command="clear_cache"]')
    await expect(reply).to_contain_text("Accepted")
    assert charger.auth_cache == {}

    form = page.locator('form[data-command="get_configuration"]')
    await form.locator('input[name="keys"]').fill("HeartbeatInterval")
    await form.locator("button").click()
    reply = page.locator('pre.reply[data-command="get_configuration"]')
    await expect(reply).to_contain_text('"key": "HeartbeatInterval"')
    await expect(page.locator("#message-table")).to_contain_text("ClearCache")
    await screenshot(page, "station")


async def test_a_command_to_an_offline_station_shows_why_it_failed(fleet, open_console):
    spec = pick(fleet, "KZ-ALA", "2.0.1")
    page = await open_console(f"/#/stations/{spec.station_id}")
    form = page.locator('form[data-command="reset"]')
    await form.locator('select[name="type"]').select_option("hard")
    await form.locator("button").click()
    reply = page.locator('pre.reply[data-command="reset"]')
    await expect(reply).to_contain_text("never connected")
    await expect(reply).to_have_class("reply failed")


async def test_a01_rotating_a_password_from_the_station_page_reaches_the_charger_and_is_recorded(
    fleet, chargers, open_console
):
    spec = pick(fleet, "KZ-ALA", "2.0.1")
    charger = await chargers(spec)
    page = await open_console(f"/#/stations/{spec.station_id}")
    await expect(page.locator("#security-profile")).to_contain_text("1 — password")
    await expect(page.locator("#station-password")).to_have_text("set")

    await page.click("#rotate-password")
    await expect(page.locator("#security-reply")).to_contain_text("SetVariables: Accepted")
    await expect(page.locator("#security-events")).to_contain_text("BasicAuthPasswordRotated")
    assert charger.network.password != spec.password.encode()
    # The charger reconnects with its new password; the old one is then refused.
    await expect(page.locator("#station-password")).to_have_text("set")
    await expect(page.locator("#raise-profile-2")).to_be_visible()
    await screenshot(page, "station-security")


async def test_the_station_page_shows_its_effective_profile_with_sources(fleet, chargers, open_console):
    spec = pick(fleet, "KZ-ALA", "1.6")
    await chargers(spec)
    page = await open_console(f"/#/stations/{spec.station_id}")
    profile = page.locator("#profile-table")
    await expect(profile).to_contain_text("profile generic-ocpp1.6")
    await expect(profile).to_contain_text("Least charging current (A)")
    await expect(page.locator("#station-profile")).to_contain_text("generic-ocpp1.6")
    await screenshot(page, "station-profile")


async def test_a_refused_handshake_reads_in_the_operators_language_and_an_older_event_as_it_was_stored(
    platform, fleet, open_console
):
    spec = pick(fleet, "KZ-ALA", "2.0.1")
    ocpp_url = f"ws://127.0.0.1:{platform.gateway.port}/ocpp"
    with pytest.raises(websockets.InvalidStatus):  # the gateway refuses it, and records why
        async with connected_peer(ocpp_url, spec.station_id, "2.0.1", password="not-its-password"):
            pass
    async with platform.sessions.begin() as session:  # a decision recorded before reasons had codes
        session.add(SecurityEvent(station_id=spec.station_id, origin="csms", type="SecurityProfileSet",
                                  reason="set from 1 to 2 by an operator (recorded in English only)",
                                  occurred_at=utcnow() - timedelta(days=1)))
    page = await open_console(f"/#/stations/{spec.station_id}", locale="ru-RU")
    events = page.locator("#security-events")
    await expect(events.locator("tr", has_text="InvalidPassword")).to_contain_text(
        "неверный или отсутствующий пароль для этой станции")
    await expect(events.locator("tr", has_text="SecurityProfileSet")).to_contain_text(
        "set from 1 to 2 by an operator (recorded in English only)")
    await screenshot(page, "station-security-ru")


async def test_a_station_moved_to_another_csms_says_where_on_its_page_and_raises_no_alert(
    platform, fleet, open_console
):
    spec = pick(fleet, "KZ-ALA", "2.0.1")
    async with platform.sessions.begin() as session:  # as a B10 move whose reset was accepted leaves it
        await session.execute(update(Station).where(Station.id == spec.station_id).values(
            moved_to="wss://csms-b.example.kz/ocpp", moved_at=utcnow() - timedelta(hours=2)))
    page = await open_console("/#/alerts", locale="ru-RU")
    await expect(page.locator("article.alert").first).to_be_visible()  # the other silent stations
    await expect(page.locator(f'article.alert[data-station="{spec.station_id}"]')).to_have_count(0)
    await page.goto(page.url.split("#")[0] + f"#/stations/{spec.station_id}")
    await expect(page.locator("#station-state")).to_have_text("Переведена в другую CSMS")
    await expect(page.locator("#station-moved")).to_contain_text("wss://csms-b.example.kz/ocpp")
    await expect(page.locator("#station-moved")).to_contain_text("подключения сюда больше не ожидается")
    await screenshot(page, "station-moved-ru", full_page=False)
