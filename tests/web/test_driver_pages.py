"""The driver pages in a real browser against the real server: find a GB/T charger near me with
its price in KZT and reserve it (the ReserveNow reaches the charger), plan a trip and see its
stops on the map, compare vehicles, and the map loads nothing from elsewhere until OSM tiles
are switched on."""

from __future__ import annotations

import re
from decimal import Decimal

import httpx
import pytest
from ocpp.v16 import call
from playwright.async_api import expect
from sqlalchemy import select

from silkcharge.store.schema import Reservation
from tests.conftest import API_KEY
from tests.e2e.peers import connected_peer, eventually
from tests.guards import HANG_GUARD
from tests.web.conftest import PHONE_WIDTH, page_width, screenshot
from tests.web.helpers import pick

ALMATY = {"latitude": 43.2389, "longitude": 76.8897}
GBT_STATION = "KZ-ALA-001-B"  # OCPP 1.6, two GB/T DC connectors of 120 kW
TYPE2_STATION = "KZ-ALA-001-C"  # same site, Type 2 only
DRIVER = ("aigerim@example.kz", "steppe-driver", "Aigerim")
TARIFF = {"currency": "KZT", "country_code": "KZ", "party_id": "SLK",
          "elements": [{"price_components": [{"type": "ENERGY", "price": "80", "vat": 16, "step_size": 1}]}]}
PRICE_30_KWH = "2784.00"  # 30 kWh x 80 KZT + 16 % VAT
SESSION_FEE = {"type": "FLAT", "price": "200", "vat": 16, "step_size": 1}


async def publish_tariff(console_url: str, tariff: dict = TARIFF) -> None:
    async with httpx.AsyncClient(timeout=HANG_GUARD, base_url=console_url, headers={"X-API-Key": API_KEY}) as api:
        made = await api.post("/api/v1/tariffs", json={"code": "KZ-SLK-STD", "operator": "KZ-SLK",
                                                       "tariff": tariff})
    assert made.status_code == 201, made.text


def same_origin_only(page, origin: str) -> list[str]:
    """Collect every request the page makes to another origin."""
    elsewhere: list[str] = []
    page.on("request", lambda r: None if r.url.startswith((origin, "data:")) else elsewhere.append(r.url))
    return elsewhere


@pytest.mark.parametrize("phone", [False, True], ids=["desktop", "phone"])
async def test_a_driver_finds_a_gbt_charger_sees_its_price_in_kzt_and_reserves_it(
    fleet, chargers, open_console, console_url, platform, phone
):
    await publish_tariff(console_url)
    await platform.drivers.ensure(*DRIVER, "en", ["WEB-0003"])
    await chargers(fleet[TYPE2_STATION])
    spec = fleet[GBT_STATION]
    async with connected_peer(f"ws://127.0.0.1:{platform.gateway.port}/ocpp", GBT_STATION, "1.6",
                              password=spec.password) as peer:
        await peer.call(call.BootNotification(charge_point_vendor="Zhida", charge_point_model="DC120-2E"))
        for connector in (1, 2):
            await peer.call(call.StatusNotification(connector_id=connector, error_code="NoError",
                                                    status="Available"))

        page = await open_console("/#/find", signed_in=False, geolocation=ALMATY, phone=phone)
        elsewhere = same_origin_only(page, console_url)
        await page.select_option("#standard", "GB/T DC")
        await page.fill("#min-power", "100")
        await page.click("#search")
        row = page.locator(f'tr[data-station="{GBT_STATION}"][data-evse="1"]')
        await expect(row.locator(".status")).to_have_text("Available")
        expected = await page.evaluate(
            f"new Intl.NumberFormat('en-GB', {{style: 'currency', currency: 'KZT'}}).format('{PRICE_30_KWH}')")
        await expect(row.locator(".price")).to_have_text(f"{expected} for 30 kWh")
        assert "KZT" in expected or "₸" in expected
        await expect(page.locator(f'tr[data-station="{TYPE2_STATION}"]')).to_have_count(0)
        await expect(page.locator("#find-map .dot.site.free, #find-map .cluster.free")).not_to_have_count(0)

        await row.locator("button.reserve").click()  # not logged in: the page asks for a login
        await expect(page).to_have_url(f"{console_url}/#/driver/login")
        assert not [r for r in await platform.reservations.find() if r.station_id == GBT_STATION]
        await page.fill("#driver-email", DRIVER[0])
        await page.fill("#driver-password", DRIVER[1])
        await page.click("#driver-login")
        await expect(page.locator("#driver-name")).to_have_text(DRIVER[2])
        await expect(page.locator("#standard")).to_have_value("GB/T DC")  # the search is kept
        await row.locator("button.reserve").click()
        await expect(page.locator("#reserve-message")).to_contain_text(f"Reserved: {GBT_STATION}, EVSE 1")

        reserve_now = [p for action, p in peer.received if action == "ReserveNow"]
        assert len(reserve_now) == 1
        assert reserve_now[0]["connector_id"] == 1 and reserve_now[0]["id_tag"] == "WEB-0003"
        async with platform.sessions() as session:
            stored = (await session.scalars(select(Reservation))).all()
        assert [(r.station_id, r.evse_id, r.id_token, r.status) for r in stored] == [
            (GBT_STATION, 1, "WEB-0003", "Accepted")]
        mine = page.locator(f'#my-reservations tr[data-reservation="{stored[0].id}"]')
        await expect(mine).to_contain_text("Confirmed by the charger")
        if phone:
            assert await page_width(page) <= PHONE_WIDTH, "the find page is wider than the phone"
            await screenshot(page, "phone-driver-reserved", full_page=False)
        else:
            await screenshot(page, "driver-find")

        await mine.locator("button.cancel").click()
        await expect(page.locator("#reserve-message")).to_have_text("Reservation cancelled.")
        assert ("CancelReservation", {"reservation_id": stored[0].id}) in peer.received
        assert (await platform.reservations.get(stored[0].id)).status == "Cancelled"
    assert elsewhere == [], "the page loaded something from another origin"


async def test_a_driver_starts_charging_at_one_of_our_chargers_from_the_find_page(
    fleet, chargers, open_console, console_url, platform
):
    await publish_tariff(console_url)
    await platform.drivers.ensure(*DRIVER, "en", ["WEB-0003"])
    await chargers(fleet[TYPE2_STATION])  # a simulated charger: it answers the remote start and charges
    page = await open_console("/#/find", signed_in=False, geolocation=ALMATY)
    row = page.locator(f'tr[data-station="{TYPE2_STATION}"][data-evse="1"]')
    await expect(row.locator(".status")).to_have_text("Available")

    await row.locator("button.start-here").click()  # not logged in: the page asks for a login
    await expect(page).to_have_url(f"{console_url}/#/driver/login")
    await page.fill("#driver-email", DRIVER[0])
    await page.fill("#driver-password", DRIVER[1])
    await page.click("#driver-login")
    await expect(page.locator("#driver-name")).to_have_text(DRIVER[2])
    await row.locator("button.start-here").click()
    await expect(page.locator("#reserve-message")).to_have_text(
        f"Charging can begin at {TYPE2_STATION}, EVSE 1: plug in your car.")

    async with httpx.AsyncClient(timeout=HANG_GUARD, base_url=console_url, headers={"X-API-Key": API_KEY}) as api:
        async def charging():
            found = (await api.get("/api/v1/transactions")).json()
            return [tx for tx in found if tx["station_id"] == TYPE2_STATION and tx["state"] == "Active"]

        [started] = await eventually(charging)
    assert (started["id_token"], started["evse_id"]) == ("WEB-0003", 1)
    await screenshot(page, "driver-find-started")


async def test_when_asking_who_is_logged_in_fails_the_find_page_says_so_and_the_next_click_asks_again(
    fleet, chargers, open_console, console_url
):
    await chargers(fleet[TYPE2_STATION])
    page = await open_console("/#/find", signed_in=False, geolocation=ALMATY)
    asked: list[str] = []

    async def network_down(route):  # the driver's connection drops: the request never arrives
        asked.append(route.request.url)
        await route.abort("internetdisconnected")

    await page.route("**/api/v1/driver/me", network_down)
    await page.reload()  # the page's first question of who is logged in fails
    row = page.locator(f'tr[data-station="{TYPE2_STATION}"][data-evse="1"]')
    await expect(row.locator(".status")).to_have_text("Available")
    before = len(asked)  # the search asks who is logged in before it asks for the stations
    assert before > 0

    await row.locator("button.reserve").click()  # asked again, fails again: the page says why, in words
    await expect(page.locator("#reserve-message.error")).to_have_text(
        "Could not check who is logged in: The server could not be reached. Check the connection and try again.")
    assert len(asked) > before, "the failed answer was kept instead of asking again"
    await expect(page).to_have_url(f"{console_url}/#/find")

    await page.unroute("**/api/v1/driver/me")  # back online: the next click finds nobody logged in
    await row.locator("button.start-here").click()
    await expect(page).to_have_url(f"{console_url}/#/driver/login")


async def test_a_trip_plan_shows_its_charging_stops_on_the_map(fleet, open_console):
    page = await open_console("/#/trip", signed_in=False)
    await expect(page.locator("#vehicle option")).not_to_have_count(0)
    await page.fill("#origin", "Almaty")
    await page.fill("#destination", "Shymkent")
    await page.select_option("#vehicle", "byd-dolphin-extended-range-2025-cn")
    await page.click("#plan")
    stops_in_table = page.locator("#leg-table tr.with-stop")
    await expect(stops_in_table.first).to_be_visible()
    count = await stops_in_table.count()
    assert count >= 1, "Almaty to Shymkent (about 690 km) needs stops in a BYD Dolphin Premium"
    await expect(page.locator("#trip-map .dot.stop")).to_have_count(count)
    await expect(page.locator("#trip-stops .value")).to_have_text(str(count))
    await expect(page.locator("#trip-map path.route")).to_have_count(1)
    await expect(page.locator('#trip-map .dot.place[data-place="Shymkent"]')).to_have_count(1)
    await screenshot(page, "driver-trip")


async def test_two_vehicles_compare_side_by_side_with_the_best_marked(open_console, database_url):
    page = await open_console("/#/vehicles", signed_in=False)
    await page.fill("#vehicle-search", "dolphin 2025")
    for vehicle in ("byd-dolphin-2025-cn", "byd-dolphin-extended-range-2025-eu"):
        await page.locator(f'li[data-vehicle="{vehicle}"] input').check()
    await page.click("#compare")
    table = page.locator("#comparison-table")
    await expect(table.locator("thead th")).to_have_text(
        ["", "BYD Dolphin (2025, CN)", "BYD Dolphin Premium (2025, EU)"])
    await expect(table.locator('tr[data-row="dc_inlets"] td')).to_have_text(["GB/T DC", "CCS2"])
    battery = table.locator('tr[data-row="battery_kwh"]')
    await expect(battery.locator("th")).to_have_text("Battery")
    await expect(battery.locator("td.best")).to_have_text("60 kWh")  # the bigger battery
    await expect(table.locator('tr[data-row="market"] td.best')).to_have_count(0)
    await screenshot(page, "driver-vehicles")


async def test_maps_load_nothing_from_elsewhere_until_osm_tiles_are_switched_on(
    open_console, console_url, database_url
):
    page = await open_console("/#/find", signed_in=False, geolocation=ALMATY)
    elsewhere = same_origin_only(page, console_url)
    tiles: list[str] = []

    async def tile(route):
        tiles.append(route.request.url)
        await route.fulfill(status=204)  # the test machine is offline; the request is what counts

    await page.route("https://tile.openstreetmap.org/**", tile)
    await expect(page.locator("#find-status")).to_contain_text("Sites found")
    await expect(page.locator("#find-map path.country")).not_to_have_count(0)
    await page.wait_for_load_state("networkidle")
    assert elsewhere == []

    await page.check("#find-map-osm")
    await expect(page.locator("#find-map img.leaflet-tile").first).to_have_attribute(
        "src", re.compile(r"^https://tile\.openstreetmap\.org/\d+/\d+/\d+\.png$"))
    await expect(page.locator(".geomap-frame .attribution")).to_contain_text("OpenStreetMap")

    async def requested() -> bool:
        return bool(tiles)

    assert await eventually(requested)
    await page.reload()
    await expect(page.locator("#find-map-osm")).to_be_checked()  # the choice is remembered


async def test_the_dashboard_shows_revenue_by_currency_and_uptime_today(
    fleet, chargers, open_console, console_url, platform
):
    with_fee = {**TARIFF, "elements": [{"price_components": [SESSION_FEE]}, *TARIFF["elements"]]}
    await publish_tariff(console_url, with_fee)  # a session fee: revenue even for a short session
    # Astana: a session of a few Wh is charged its session fee there, while Almaty's cap
    # (at most 100 KZT per kWh) would make it cost nothing.
    spec = pick(fleet, "KZ-AST", "1.6")
    charger = await chargers(spec)
    await charger.plug_in_and_charge(1, "WEB-0004")
    await charger.stop_charging(1)

    async def billed():
        async with httpx.AsyncClient(timeout=HANG_GUARD, base_url=console_url, headers={"X-API-Key": API_KEY}) as api:
            sessions = (await api.get("/api/v1/transactions")).json()
            if not sessions or sessions[0]["state"] == "Active":
                return None
            cdr = await api.get(f"/api/v1/transactions/{sessions[0]['id']}/cdr")
            return cdr.json() if cdr.status_code == 200 else None

    cdr = await eventually(billed)
    assert cdr["currency"] == "KZT" and Decimal(cdr["total_incl_vat"]) > 0
    page = await open_console("/#/")
    revenue = page.locator('#revenue-today .money[data-currency="KZT"]')
    expected = await page.evaluate(
        f"new Intl.NumberFormat('en-GB', {{style: 'currency', currency: 'KZT'}}).format('{cdr['total_incl_vat']}')")
    await expect(revenue).to_have_text(expected)
    await expect(page.locator("#uptime-today .value")).to_contain_text("%")
    await screenshot(page, "dashboard-revenue")


async def test_a_mountain_trip_shows_its_elevation_chart_and_a_refusal_in_russian(fleet, open_console):
    page = await open_console("/#/trip", locale="ru-RU", signed_in=False)
    await expect(page.locator("#vehicle option")).not_to_have_count(0)
    await page.fill("#vehicle-search", "chery eq7 2024 CN")
    await expect(page.locator("#vehicle option[value='chery-eq7-2024-cn']")).to_be_attached()
    await page.select_option("#vehicle", "chery-eq7-2024-cn")
    await page.fill("#origin", "Bishkek")
    await page.fill("#destination", "Osh")
    await page.fill("#trip-date", "2026-07-15")
    await page.click("#plan")
    await expect(page.locator("#trip-profile path.elevation").first).to_be_attached()
    await expect(page.locator("#trip-profile path.soc")).to_have_count(1)
    await screenshot(page, "ru-driver-trip-profile")
    await page.fill("#destination", "Urumqi")
    await page.click("#plan")
    status = page.locator("#trip-status[data-code='crossing_closed_to_private_cars']")
    await expect(status).to_be_visible()
    text = await status.inner_text()
    assert "частным автомобилям" in text, text
    assert await page.evaluate("[...window.silkchargeMissing]") == []


LATIN_WORD = re.compile(r"[A-Za-z]{2,}")


async def test_road_notes_names_and_hours_show_in_russian_with_no_english_words(fleet, open_console):
    """Issue 18 (5): the notes of passes and border crossings are data, translated like the
    rest: a winter trip over Too-Ashuu, a trip through Alat – Farap and a refusal at Khorgos
    show them in Russian, the unchecked facts marked as such."""
    page = await open_console("/#/trip", locale="ru-RU", signed_in=False)
    await expect(page.locator("#vehicle option")).not_to_have_count(0)
    await page.select_option("#vehicle", "byd-dolphin-extended-range-2025-cn")
    await page.fill("#origin", "Bishkek")
    await page.fill("#destination", "Osh")
    await page.fill("#trip-date", "2027-01-15")
    await page.click("#plan")
    hazard = page.locator("#trip-summary p.warning[data-code='seasonal_hazard']")
    await expect(hazard.first).to_be_visible()
    texts = await hazard.all_inner_texts()
    assert any("Тоо-Ашуу" in t and "снег с конца октября до марта" in t for t in texts), texts
    for text in texts:
        assert not LATIN_WORD.findall(text), text

    await page.fill("#origin", "Bukhara")
    await page.fill("#destination", "Turkmenabat")
    await page.fill("#trip-date", "2026-07-15")
    await page.click("#plan")
    note = page.locator("#trip-summary p.warning[data-code='crossing_note']")
    await expect(note).to_have_text(
        "Пункт пропуска Алат – Фарап: нужна транзитная виза Туркменистана (не проверено).")
    hours = await page.locator("#trip-summary p.warning[data-code='crossing_hours']").inner_text()
    assert "ежедневно с 09:00 до 18:00 (UTC+5) (не проверено)" in hours, hours
    assert LATIN_WORD.findall(hours) == ["UTC"], hours
    await screenshot(page, "ru-driver-trip-crossing-notes")

    await page.fill("#origin", "Almaty")
    await page.fill("#destination", "Urumqi")
    await page.click("#plan")
    status = page.locator("#trip-status[data-code='crossing_closed_to_private_cars']")
    await expect(status).to_be_visible()
    refusal = await status.inner_text()
    assert "Нур Жолы – Хоргос" in refusal and "Алматы" in refusal, refusal
    assert not LATIN_WORD.findall(refusal), refusal
    assert await page.evaluate("[...window.silkchargeMissing]") == []
