"""Alerts come one per station and error, listing every connector it touches; a planned
station raises none."""

from __future__ import annotations

import pytest
from playwright.async_api import expect
from sqlalchemy import update

from silkcharge.store.schema import Station
from tests.web.conftest import screenshot
from tests.web.helpers import pick


@pytest.mark.parametrize(("locale", "language"), [("en-GB", "en"), ("ru-RU", "ru"), ("zh-CN", "zh")])
async def test_two_connectors_with_one_error_are_one_alert_and_planned_stations_raise_none(
        platform, fleet, chargers, open_console, locale, language):
    spec = pick(fleet, "KZ-ALA", "1.6")
    charger = await chargers(spec)
    assert len({c.evse_id for c in spec.connectors}) >= 2
    await charger.set_fault(1, "GroundFailure")
    await charger.set_fault(2, "GroundFailure")
    others = [sid for sid in fleet if sid != spec.station_id]
    async with platform.sessions.begin() as session:
        await session.execute(update(Station).where(Station.id.in_(others[:-1])).values(planned=True))
    page = await open_console("/#/alerts", locale=locale)
    faults = page.locator(f'article.alert[data-station="{spec.station_id}"][data-code="GroundFailure"]')
    await expect(faults).to_have_count(1)
    await expect(faults.locator("h2")).to_contain_text("1/1, 2/1")
    # of the silent stations only the one not planned is an alert
    silent = page.locator('article.alert[data-code="NeverConnected"]')
    await expect(silent).to_have_count(1)
    await expect(silent).to_have_attribute("data-station", others[-1])
    await screenshot(page, f"{language}-alerts-grouped", full_page=False)
