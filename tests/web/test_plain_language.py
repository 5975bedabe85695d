"""Refusals read as sentences in the console's language, never as OCPP or Python text: a
charger that answers a command with a CALLERROR (Russian, operator) and a reservation the
charger refuses (Chinese, driver), with an `ocpp` package charger against the real server."""

from __future__ import annotations

from ocpp.v16 import call
from playwright.async_api import expect

from tests.e2e.peers import connected_peer
from tests.web.conftest import screenshot

ALMATY = {"latitude": 43.2389, "longitude": 76.8897}
GBT_STATION = "KZ-ALA-001-B"  # OCPP 1.6, two GB/T DC connectors of 120 kW
DRIVER = ("dana@example.kz", "steppe-driver", "Dana")


async def booted(peer) -> None:
    await peer.call(call.BootNotification(charge_point_vendor="Zhida", charge_point_model="DC120-2E"))
    for connector in (1, 2):
        await peer.call(call.StatusNotification(connector_id=connector, error_code="NoError", status="Available"))


async def test_a_callerror_from_the_charger_reads_as_a_russian_sentence_on_the_station_page(
    fleet, open_console, platform
):
    spec = fleet[GBT_STATION]
    async with connected_peer(f"ws://127.0.0.1:{platform.gateway.port}/ocpp", GBT_STATION, "1.6",
                              password=spec.password) as peer:
        await booted(peer)
        page = await open_console(f"/#/stations/{GBT_STATION}", locale="ru-RU")
        await expect(page.locator("#configuration h2")).to_be_visible()  # the first load is over
        # This charger's firmware has no GetCompositeSchedule: it answers CALLERROR NotImplemented.
        form = page.locator('form.command[data-command="get_composite_schedule"]')
        await form.locator('[name="evse_id"]').fill("1")
        await form.locator('[name="evse_id"]').press("Enter")
        reply = page.locator('pre.reply[data-command="get_composite_schedule"]')
        await expect(reply).to_have_text("Станция не знает эту команду.")
        await expect(reply).to_have_attribute("data-code", "station_callerror")
        await expect(reply).to_have_class("reply failed")
    await reply.scroll_into_view_if_needed()
    await screenshot(page, "ru-station-callerror", full_page=False)


async def test_a_reservation_the_charger_refuses_reads_as_a_chinese_sentence_for_the_driver(
    fleet, open_console, platform, console_url
):
    await platform.drivers.ensure(*DRIVER, "zh", ["WEB-0003"])
    spec = fleet[GBT_STATION]
    async with connected_peer(f"ws://127.0.0.1:{platform.gateway.port}/ocpp", GBT_STATION, "1.6",
                              password=spec.password) as peer:
        await booted(peer)
        peer.reserve_answer = "Faulted"  # the charger knows better than its last status
        page = await open_console("/#/driver/login", signed_in=False, locale="zh-CN", geolocation=ALMATY)
        await page.fill("#driver-email", DRIVER[0])
        await page.fill("#driver-password", DRIVER[1])
        await page.click("#driver-login")
        await expect(page.locator("#driver-name")).to_have_text(DRIVER[2])
        await page.goto(f"{console_url}/#/find")
        await page.select_option("#standard", "GB/T DC")
        await page.click("#search")
        row = page.locator(f'tr[data-station="{GBT_STATION}"][data-evse="1"]')
        await row.locator("button.reserve").click()
        message = page.locator("#reserve-message")
        await expect(message).to_have_attribute("data-code", "reservation_answered")
        await expect(message).to_contain_text("充电桩出现故障。")
        text = await message.inner_text()
        assert "Faulted" not in text and "reservation refused" not in text, text
        assert [action for action, _ in peer.received].count("ReserveNow") == 1
    await screenshot(page, "zh-driver-reservation-refused", full_page=False)
