"""The smart-charging pages in a real browser against the real server and simulated chargers: a
site's circuits with planned and actual current that follow a car plugging in, a car paused for
lack of room explained in plain words, Rebalance, a depot plan, the what-if question, and the
same pages in Russian and Chinese with no missing strings."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from playwright.async_api import expect

from silkcharge.domain.clock import to_ocpp
from tests.e2e.network import add_token
from tests.web.conftest import screenshot
from tests.web.test_languages import RAW_KEY

FAST = pytest.mark.settings(smart_rebalance_delay=0.05, smart_check_every=0.5)
SITE = "KZ-ALA-003"
AC = "KZ-ALA-003-B"  # OCPP 1.6, two Type 2 EVSEs of 22 kW
DC = "KZ-ALA-003-A"  # OCPP 1.6, two GB/T DC EVSEs of 120 kW
CABINET_A = 10  # room for one car's share, not for a second car's 6 A minimum
DEPOT = "KZ-ALA-004"
EVENING = "2025-03-01T13:00:00Z"  # 18:00 in Almaty
BUSES = [
    {"code": code, "arrival": arrival, "departure": departure, "max_power_kw": "22", "energy_kwh": kwh}
    for code, arrival, departure, kwh in [
        ("bus-1", EVENING, "2025-03-01T21:00:00Z", "40"),
        ("bus-2", EVENING, "2025-03-01T21:00:00Z", "40"),
        ("bus-3", "2025-03-01T13:30:00Z", "2025-03-01T21:00:00Z", "40"),
        # half an hour at 22 kW gives 11 kWh: this one cannot leave full whatever the connection
        ("bus-4", "2025-03-01T18:30:00Z", "2025-03-01T19:00:00Z", "30"),
    ]
]
PRICES = {"currency": "KZT", "utc_offset_minutes": 300, "demand_charge_per_kw": "1500",
          "bands": [{"starts": "07:00", "price_per_kwh": "30"}, {"starts": "23:00", "price_per_kwh": "18"}]}


async def manage(api, path: str, body: dict | list) -> None:
    response = await api.put(f"/api/v1/smart/{path}", json=body)
    assert response.status_code == 200, response.text


async def managed_site(api) -> None:
    """SITE under load management: 40 A at the connection, the AC station's two EVSEs on a
    10 A cabinet, the DC station on a 25 A feeder."""
    await manage(api, f"sites/{SITE}", {"grid_limit_a": "40"})
    await manage(api, f"sites/{SITE}/circuits/cabinet-a", {"limit_a": str(CABINET_A), "name": "AC cabinet"})
    await manage(api, f"sites/{SITE}/circuits/dc-feeder", {"limit_a": "25", "name": "DC feeder"})
    for evse in (1, 2):
        await manage(api, f"stations/{AC}/evses/{evse}", {"circuit": "cabinet-a", "max_current_a": "32"})
        await manage(api, f"stations/{DC}/evses/{evse}", {"circuit": "dc-feeder", "max_current_a": "25"})


async def depot_site(api) -> None:
    await manage(api, f"sites/{DEPOT}", {"grid_limit_kw": "60", "depot": True, "prices": PRICES})
    await manage(api, f"sites/{DEPOT}/depot/vehicles", BUSES)


async def charge(charger, evse: int, token: str) -> None:
    await charger.plug_in_and_charge(evse, token, energy_kwh=Decimal(80))
    charger.connector(evse).meter.ev.max_power_w = Decimal(22000)  # a car that takes all it is given


def bar(page, circuit: str, kind: str):
    return page.locator(f'[data-circuit="{circuit}"] .bar-value.{kind}')


def evse_row(page, station: str, evse: int):
    return page.locator(f'tr[data-station="{station}"][data-evse="{evse}"]')


async def intl(page, locale: str, value: float) -> str:
    return await page.evaluate(
        f"new Intl.NumberFormat({json.dumps(locale)}, {{maximumFractionDigits: 1}}).format({value})")


@FAST
async def test_circuits_follow_a_car_plugging_in_a_paused_car_is_explained_and_rebalance_answers(
    fleet, chargers, open_console, api
):
    await managed_site(api)
    charger = await chargers(fleet[AC])
    await chargers(fleet[DC])
    page = await open_console("/#/smart")
    await page.click(f'a[data-site="{SITE}"]')
    await expect(page.locator("main h1")).to_have_text(f"Smart charging: {SITE}")
    await expect(page.locator("[data-circuit]")).to_have_count(3)  # the connection and two circuits
    await expect(page.locator('[data-circuit="cabinet-a"] .circuit-head')).to_contain_text("AC cabinet")
    await expect(page.locator('[data-circuit="cabinet-a"] .limit')).to_contain_text("limit 10 A (6.9 kW)")
    await expect(bar(page, "cabinet-a", "planned")).to_have_attribute("data-amps", "0")
    await expect(evse_row(page, AC, 1).locator(".note")).to_contain_text("No car; holds 0 A")
    await page.evaluate("window.sameDocument = true")

    await charge(charger, 1, "WEB-0001")
    await expect(bar(page, "cabinet-a", "planned")).to_have_attribute("data-amps", str(CABINET_A))
    await expect(bar(page, "connection", "planned")).to_have_attribute("data-amps", str(CABINET_A))
    await page.wait_for_function(  # the charger's meter values show the car drawing its share
        "Number(document.querySelector('[data-circuit=\"cabinet-a\"] .bar-value.actual').dataset.amps) > 8")
    await expect(page.locator('[data-circuit="cabinet-a"] .bar-row.planned .bar')).to_have_class("bar near")
    await expect(evse_row(page, AC, 1).locator(".sent")).to_have_text("10 A")
    await expect(evse_row(page, AC, 1).locator(".note")).to_have_text("Charging at its share")

    await charge(charger, 2, "WEB-0002")
    problem = page.locator('article.smart-problem[data-kind="below_min_current"]')
    await expect(problem).to_contain_text("A car is paused for lack of room")
    await expect(problem.locator(".explain")).to_contain_text("less than the 6 A a car needs")
    await expect(evse_row(page, AC, 2).locator(".note")).to_have_text("Paused: not enough room for its minimum")
    await expect(page.locator("#smart-paused")).to_have_text("1")

    await page.click("#rebalance")
    result = page.locator("#rebalance-result")
    await expect(result).to_have_class("ok")
    await expect(result).to_contain_text("1 charging, given 10 A of the connection's 40 A; 1 paused.")
    assert await page.evaluate("window.sameDocument === true"), "the page was reloaded"
    await screenshot(page, "smart-site")


async def test_what_if_answers_yes_and_no_in_plain_words(open_console, fleet, api):
    await managed_site(api)
    page = await open_console("/#/smart")
    await expect(page.locator(f'#smart-site-table a[data-site="{SITE}"]')).to_be_visible()
    row = page.locator("#smart-site-table tbody tr")
    await expect(row).to_contain_text("40 A · 27.6 kW")

    await page.click("#whatif-run")  # the form opens on 40 taxis × 22 kW on 250 kW
    await expect(page.locator("#whatif-verdict")).to_have_text("Yes: all 40 vehicles leave full.")
    await expect(page.locator("#whatif-answer")).to_contain_text("Together they need 1,600 kWh between 18:00 and")
    await expect(page.locator("#whatif-answer")).to_contain_text("on your 250 kW connection")

    await page.fill("#whatif-connection_kw", "60")
    await page.click("#whatif-run")
    verdict = page.locator("#whatif-verdict")
    await expect(verdict).to_contain_text("No: ")
    await expect(verdict).to_contain_text("of 40 vehicles leave short")
    await expect(verdict).to_have_class("verdict short")
    await screenshot(page, "smart-whatif")

    await page.fill("#whatif-base_load_kw", "70")
    await page.click("#whatif-run")
    await expect(page.locator("#whatif-error")).to_have_text("the base load alone fills the connection")


async def test_a_depot_plan_says_who_leaves_short_by_how_much_and_the_peak_it_saves(
    open_console, fleet, api
):
    await depot_site(api)
    page = await open_console(f"/#/smart/{DEPOT}")
    vehicles = page.locator("#depot-vehicles tbody tr")
    await expect(vehicles).to_have_count(4)
    await expect(page.locator('#depot-vehicles tr[data-vehicle="bus-4"]')).to_contain_text("30 kWh")

    await page.click("#plan")
    verdict = page.locator("#depot-verdict")
    await expect(verdict).to_contain_text("1 of 4 vehicles leave short")
    plan = (await api.post(f"/api/v1/smart/sites/{DEPOT}/depot/plan", json={
        "start": EVENING, "end": "2025-03-01T21:00:00Z", "push": False})).json()
    assert list(plan["shortfall_kwh"]) == ["bus-4"] and plan["uncontrolled_peak_kw"] == 60.0
    short = await intl(page, "en-GB", plan["shortfall_kwh"]["bus-4"])
    await expect(page.locator('#depot-vehicles tr[data-vehicle="bus-4"] .short')).to_have_text(f"Short by {short} kWh")
    await expect(page.locator('#depot-vehicles tr[data-vehicle="bus-1"] .full')).to_have_text("Leaves full")
    peak = page.locator("#depot-peak")
    await expect(peak).to_contain_text(f"The plan peaks at {await intl(page, 'en-GB', plan['peak_kw'])} kW")
    await expect(peak).to_contain_text("would peak at 60 kW")
    assert plan["peak_kw"] < 60
    energy_cost = await page.evaluate(  # costs in the site's currency, as exact decimals
        f"new Intl.NumberFormat('en-GB', {{style: 'currency', currency: 'KZT'}}).format('{plan['energy_cost']}')")
    await expect(page.locator("#depot-plan")).to_contain_text(f"Energy {energy_cost} and peak charge")
    await screenshot(page, "smart-depot")


@FAST
async def test_a_bus_the_depot_plan_drives_is_shown_following_it_and_a_passer_by_beside_it_charging_at_its_share(
    fleet, chargers, open_console, api
):
    station = "KZ-ALA-004-A"  # OCPP 1.6, two DC EVSEs of 60 kW
    now = datetime.now(timezone.utc)
    await manage(api, f"sites/{DEPOT}", {"grid_limit_kw": "60", "depot": True, "prices": PRICES})
    await manage(api, f"sites/{DEPOT}/circuits/yard", {"limit_a": "80", "name": "Bus yard"})
    for evse in (1, 2):
        await manage(api, f"stations/{station}/evses/{evse}", {"circuit": "yard", "max_current_a": "40"})
    await manage(api, f"sites/{DEPOT}/depot/vehicles", [{
        "code": "bus-1", "arrival": to_ocpp(now - timedelta(minutes=1)), "departure": to_ocpp(now + timedelta(hours=8)),
        "max_power_kw": "22", "energy_kwh": "40", "station_id": station, "evse_id": 1, "id_token": "WEB-BUS-1"}])
    planned = await api.post(f"/api/v1/smart/sites/{DEPOT}/depot/plan", json={
        "start": to_ocpp(now), "end": to_ocpp(now + timedelta(hours=8))})
    assert planned.status_code == 200, planned.text
    for token in ("WEB-BUS-1", "WEB-PASSER"):
        await add_token(api, token)
    charger = await chargers(fleet[station])
    await charge(charger, 1, "WEB-BUS-1")  # the bus the plan knows
    await charge(charger, 2, "WEB-PASSER")  # somebody else at the yard's other charger
    page = await open_console(f"/#/smart/{DEPOT}")
    await expect(evse_row(page, station, 1).locator(".note")).to_have_text(
        "Follows the depot plan: its charger has the plan's profile")
    await expect(evse_row(page, station, 2).locator(".note")).to_have_text("Charging at its share")
    await expect(page.locator("#smart-paused")).to_have_text("0")


@FAST
@pytest.mark.parametrize("locale, language, title", [("ru-RU", "ru", "Умная зарядка"), ("zh-CN", "zh", "智能充电")])
async def test_smart_pages_render_in_russian_and_chinese_with_no_missing_strings(
    fleet, chargers, open_console, api, locale, language, title
):
    await managed_site(api)
    await depot_site(api)
    charger = await chargers(fleet[AC])
    await charge(charger, 1, "WEB-0001")
    await charge(charger, 2, "WEB-0002")
    page = await open_console("/#/smart", locale=locale)
    await expect(page.locator('nav a[href="#/smart"]')).to_have_text(title)
    await page.click("#whatif-run")
    await expect(page.locator("#whatif-verdict")).to_be_visible()
    await check_strings(page, "#/smart")

    await page.evaluate(f"location.hash = {json.dumps(f'#/smart/{SITE}')}")
    await expect(page.locator('article.smart-problem[data-kind="below_min_current"]')).to_be_visible()
    await expect(bar(page, "cabinet-a", "planned")).to_have_attribute("data-amps", str(CABINET_A))
    await check_strings(page, SITE)
    await screenshot(page, f"{language}-smart-site")

    await page.evaluate(f"location.hash = {json.dumps(f'#/smart/{DEPOT}')}")
    await page.click("#plan")
    await expect(page.locator("#depot-verdict")).to_be_visible()
    await check_strings(page, DEPOT)


async def check_strings(page, where: str) -> None:
    text = await page.locator("body").inner_text()
    assert not RAW_KEY.findall(text), f"{where}: raw keys on screen"
    assert await page.evaluate("[...window.silkchargeMissing]") == [], where


V2G_PRICES = {"currency": "KZT", "utc_offset_minutes": 300, "battery_wear_per_kwh": "1",
              "bands": [{"starts": "07:00", "price_per_kwh": "30"}, {"starts": "23:00", "price_per_kwh": "18"}]}
V2G_CAR = {"arrival": EVENING, "departure": "2025-03-02T01:00:00Z", "max_power_kw": "11",
           "battery_kwh": "60", "soc": "0.6", "target_soc": "0.9"}
TAXIS = [
    {**V2G_CAR, "code": "taxi-v2g", "v2g": True, "max_discharge_kw": "11", "min_soc": "0.3"},
    {**V2G_CAR, "code": "taxi-plain"},
]


@pytest.mark.parametrize("locale, language, gives_back, no_v2g", [
    ("en-GB", "en", "Gives back (V2G)", "does not give back"),
    ("ru-RU", "ru", "Отдаёт (V2G)", "не отдаёт"),
])
async def test_a_v2g_depot_plan_shows_the_discharge_below_zero_and_each_cars_cycled_energy_and_wear(
    open_console, fleet, api, locale, language, gives_back, no_v2g
):
    # the evening costs 30 KZT/kWh and the night 18: a car that opted in gives the site's 20 kW of
    # other load some of its charge in the evening and takes it back at night
    await manage(api, f"sites/{DEPOT}", {"grid_limit_kw": "100", "depot": True, "base_load_w": "20000",
                                         "prices": V2G_PRICES})
    await manage(api, f"sites/{DEPOT}/depot/vehicles", TAXIS)
    page = await open_console(f"/#/smart/{DEPOT}", locale=locale)
    await expect(page.locator("#depot-vehicles thead")).to_contain_text(gives_back)
    await page.uncheck("#plan-push")
    await page.click("#plan")
    chart = page.locator("#depot-chart")
    await expect(chart).to_be_visible()
    plan = (await api.post(f"/api/v1/smart/sites/{DEPOT}/depot/plan", json={
        "start": EVENING, "end": "2025-03-02T01:00:00Z", "push": False})).json()
    assert set(plan["cycled_kwh"]) == {"taxi-v2g"} and plan["cycled_kwh"]["taxi-v2g"] > 0

    # the chart: charging above zero, the discharge below it, in the slots the plan gives back
    given = [i for i, kw in enumerate(plan["discharge"]["taxi-v2g"]) if kw > 0]
    below = chart.locator("rect.discharging")
    await expect(below).to_have_count(len(given))
    assert [int(s) for s in await below.evaluate_all("rs => rs.map(r => r.dataset.slot)")] == given
    assert all(float(kw) < 0 for kw in await below.evaluate_all("rs => rs.map(r => r.dataset.kw)"))
    assert await chart.locator("rect.charging[data-kw]").count() == len(plan["grid_kw"])

    # per car: what it gave back and its wear; the car that did not opt in says so
    row = page.locator('#depot-vehicles tr[data-vehicle="taxi-v2g"]')
    await expect(row.locator(".cycled")).to_have_text(f"{await intl(page, locale, plan['cycled_kwh']['taxi-v2g'])} "
                                                      f"{'kWh' if language == 'en' else 'кВт·ч'}")
    wear = await page.evaluate(f"new Intl.NumberFormat({json.dumps(locale)}, {{style: 'currency', currency: 'KZT'}})"
                               f".format('{plan['vehicle_wear_cost']['taxi-v2g']}')")
    assert Decimal(plan["vehicle_wear_cost"]["taxi-v2g"]) > 0
    await expect(row).to_contain_text(wear)
    await expect(page.locator('#depot-vehicles tr[data-vehicle="taxi-plain"]')).to_contain_text(no_v2g)

    # the peak and the cost against the same night charging only
    assert plan["charge_only_peak_kw"] is not None
    summary = page.locator("#depot-v2g")
    await expect(summary).to_contain_text(await intl(page, locale, plan["charge_only_peak_kw"]))
    await expect(summary).to_contain_text(await intl(page, locale, plan["uncontrolled_peak_kw"]))
    await expect(page.locator("#depot-v2g-cost")).to_be_visible()
    await check_strings(page, f"{DEPOT} V2G {language}")
    await screenshot(page, f"{language}-smart-depot-v2g")
