"""A station's charging profiles on its console page (K08-K10, K05): the profiles silkcharge
installed, the station's composite schedule compared with silkcharge's, a profile cleared, a
2.0.1 station's own report, and a remote start that carries a TxProfile, driven in the browser
against the demo's simulated charger."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import pytest
from playwright.async_api import expect

from silkcharge.sim.v201 import V201Link
from silkcharge.smart.profiles import ChargingProfilePurpose, profile_from_fields
from tests.web.conftest import screenshot
from tests.web.helpers import pick


def relative(profile_id: int, purpose: str, amps: str, stack_level: int = 0) -> dict:
    return {"id": profile_id, "stack_level": stack_level, "purpose": purpose, "kind": "Relative",
            "schedule": {"rate_unit": "A", "periods": [{"start_period": 0, "limit": amps}]}}


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_k08_k10_charging_profiles_checked_and_cleared_from_the_station_page(
    fleet, chargers, open_console, platform, version, monkeypatch
):
    spec = pick(fleet, "KZ-ALA", version)
    charger = await chargers(spec)
    for evse, profile in ((0, relative(1, "ChargingStationMaxProfile", "20")), (1, relative(2, "TxDefaultProfile", "12"))):
        result = await platform.commands.send(spec.station_id, "set_charging_profile", {"evse_id": evse, "profile": profile})
        assert result.status == "Accepted"
        await platform.smart.record_profile(spec.station_id, evse, profile_from_fields(profile), "operator")
    page = await open_console(f"/#/stations/{spec.station_id}")
    rows = page.locator("#charging-profile-table tbody tr")
    await expect(rows).to_have_count(2)
    await expect(rows.nth(1)).to_contain_text("TxDefaultProfile")
    await expect(rows.nth(1)).to_contain_text("12 A")

    # K08: the station's composite for EVSE 1 agrees with silkcharge's: 12 A.
    await page.fill("#composite-evse", "1")
    await page.click("#composite-check")
    await expect(page.locator("#composite-verdict")).to_have_class("ok")
    await expect(page.locator("#composite-result")).to_contain_text("12")

    # K10: the default is cleared at the station from its row.
    await page.click('.clear-profile[data-profile="2"]')
    await expect(page.locator("#profile-reply")).to_contain_text("Accepted")
    await expect(rows).to_have_count(1)
    assert [item.profile.purpose for item in charger.profiles.installed] == [
        ChargingProfilePurpose.CHARGING_STATION_MAX]

    if version == "2.0.1":  # K09: what the station itself reports it holds
        # The report follows the station's answer; here it comes only after the page has shown
        # the answer and looked once (as on a loaded machine): the page follows its live event.
        report_sent = V201Link.report_charging_profiles
        release = asyncio.Event()

        async def report_late(link, *args):
            await release.wait()
            await report_sent(link, *args)

        monkeypatch.setattr(V201Link, "report_charging_profiles", report_late)
        profiles = f"/api/v1/smart/stations/{spec.station_id}/profiles"
        # Both waits start before the click: the page's look follows the answer at once, and a
        # wait begun after reading the answer could miss it on a loaded machine.
        looked_at = lambda r: r.url.endswith(profiles) and r.request.method == "GET"  # noqa: E731
        async with page.expect_response(looked_at) as looked:
            async with page.expect_response(lambda r: r.url.endswith(profiles + "/report")) as asked:
                await page.click("#profiles-report")
            assert (await (await asked.value).json())["status"] == "Accepted"
        await looked.value
        await expect(page.locator("#reported-table")).to_have_count(0)
        release.set()
        await expect(page.locator("#reported-table")).to_contain_text("ChargingStationMaxProfile")
        await screenshot(page, "station-charging-profiles")
    else:
        await expect(page.locator("#reported-profiles")).to_be_hidden()


async def test_k05_remote_start_with_a_charging_profile_from_the_station_page(fleet, chargers, open_console):
    spec = pick(fleet, "KZ-ALA", "2.0.1")
    charger = await chargers(spec)
    page = await open_console(f"/#/stations/{spec.station_id}")
    form = page.locator('form[data-command="remote_start"]')
    await form.locator('input[name="id_token"]').fill("WEB-0001")
    await form.locator('input[name="evse_id"]').fill("1")
    profile = relative(7, "TxProfile", "10")
    await form.locator('textarea[name="charging_profile"]').fill(json.dumps(profile))
    await form.locator("#command-remote_start").click()
    await expect(page.locator('pre[data-command="remote_start"]')).to_contain_text("Accepted")
    await expect(page.locator("#charging-profile-table")).to_contain_text("TxProfile")
    assert [(item.evse_id, item.profile.id) for item in charger.profiles.installed] == [(1, 7)]


@pytest.mark.settings(smart_rebalance_delay=0.05, smart_check_every=0.5)
async def test_k15_the_site_page_shows_what_an_iso15118_car_needs(fleet, chargers, open_console, api):
    spec = pick(fleet, "KZ-ALA", "2.0.1")
    site = spec.station_id.rsplit("-", 1)[0]
    assert (await api.put(f"/api/v1/smart/sites/{site}", json={"grid_limit_a": "63"})).status_code == 200
    assert (await api.put(f"/api/v1/smart/sites/{site}/circuits/cabinet", json={"limit_a": "63"})).status_code == 200
    evse = spec.connectors[0].evse_id
    response = await api.put(f"/api/v1/smart/stations/{spec.station_id}/evses/{evse}",
                             json={"circuit": "cabinet", "max_current_a": "63"})
    assert response.status_code == 200, response.text
    charger = await chargers(spec)
    charger.iso15118 = True  # the demo's fleet runs its 2.0.1 cars this way
    await charger.plug_in_and_charge(evse, "WEB-0001", energy_kwh=Decimal(30))
    page = await open_console(f"/#/smart/{site}")
    row = page.locator(f'tr[data-station="{spec.station_id}"][data-evse="{evse}"]')
    await expect(row.locator(".ev-needs")).to_contain_text("the car takes at most")


async def test_k03_an_operator_puts_stations_behind_a_local_controller_from_its_page_and_each_names_it(
    fleet, open_console
):
    controller, first, second = [spec.station_id for spec in list(fleet.values())[:3]]
    page = await open_console(f"/#/stations/{controller}")
    state = page.locator("#controller-state")
    await expect(state).to_have_text("No stations sit behind this one.")
    form = page.locator("#controller-form")

    await form.locator("#controller-stations").fill(f"{first}, NOPE-1")  # a station that does not exist
    await form.locator("#controller-save").click()
    await expect(page.locator("#controller-reply")).to_contain_text("no station NOPE-1")
    await expect(state).to_have_text("No stations sit behind this one.")

    await form.locator("#controller-stations").fill(f"{first} {second}")
    await form.locator("#controller-save").click()
    await expect(page.locator("#controller-reply")).to_have_text("Saved: 2 stations behind this one.")
    await expect(state).to_have_text("2 stations sit behind this one.")
    await expect(form.locator("#controller-stations")).to_have_value(", ".join(sorted([first, second])))

    behind = await open_console(f"/#/stations/{second}", locale="ru-RU")
    await expect(behind.locator("#controller-state")).to_contain_text("Эта станция находится за локальным контроллером:")
    await behind.locator("#controller-state a").click()
    await expect(behind).to_have_url(f"{behind.url.split('#')[0]}#/stations/{controller}")
