"""The review page: a CDR held because its charger's clock said 1970 is listed with the reason
and what the charger sent; the operator corrects it and it is billed at the corrected price.
And from the sessions page, an operator ends a session its charger never stopped."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from ocpp.v16 import call
from playwright.async_api import expect
from sqlalchemy import select

from silkcharge.domain.clock import to_ocpp, utcnow
from silkcharge.store.schema import Operator, Site, Station, TransactionEnding
from tests.e2e.peers import connected_peer, eventually
from tests.web.conftest import screenshot
from tests.web.helpers import pick

TARIFF = {
    "currency": "KZT", "country_code": "KZ", "party_id": "SLK",
    "elements": [{"price_components": [{"type": "ENERGY", "price": "80", "vat": 16, "step_size": 1}]}],
}


async def tariff_for(platform, station_id: str) -> None:
    async with platform.sessions() as session:
        operator = await session.scalar(
            select(Operator.code).join(Site, Site.operator_id == Operator.id)
            .join(Station, Station.site_id == Site.id).where(Station.id == station_id)
        )
    await platform.billing.publish("REVIEW-TEST", operator, None, TARIFF)


async def test_a_cdr_held_for_a_clock_in_1970_is_corrected_from_the_review_page(platform, fleet, open_console):
    spec = pick(fleet, "KZ-ALA", "1.6")
    await tariff_for(platform, spec.station_id)
    url = f"ws://127.0.0.1:{platform.gateway.port}/ocpp"
    async with connected_peer(url, spec.station_id, "1.6", password=spec.password) as peer:
        await peer.call(call.BootNotification(charge_point_vendor=spec.vendor, charge_point_model=spec.model))
        started = await peer.call(call.StartTransaction(connector_id=1, id_tag="WEB-0001", meter_start=0,
                                                        timestamp="1970-01-01T00:00:00.000Z"))
        await peer.call(call.StopTransaction(meter_stop=900, timestamp=to_ocpp(utcnow()),
                                             transaction_id=started.transaction_id))

    async def held():
        return [cdr for cdr, review in await platform.reviews.find("held")]

    [cdr] = await eventually(held)
    page = await open_console("/#/review")
    article = page.locator(f'article[data-cdr="{cdr.id}"]')
    await expect(article.locator('li[data-rule="clock-window"]')).to_contain_text("check the charger's clock")
    await expect(article.locator('li[data-rule="clock-window"] code').nth(1)).to_have_text("1970-01-01T00:00:00.000Z")
    await screenshot(page, "review-held")

    await article.locator("button.void").click()  # a void needs a note
    await expect(article.locator('[role="alert"]')).to_have_text(
        "Write a note: it says why you void or correct the session.")
    await article.locator('input[name="note"]').fill("the driver's app shows 12 kWh; the charger lost its clock")
    await article.locator('input[name="energy_kwh"]').fill("12")
    # the charger's clock said 1970: the car actually plugged in an hour before it left
    an_hour_earlier = await page.evaluate(
        """end => { const d = new Date(Date.parse(end) - 3600e3), p = n => String(n).padStart(2, "0");
        return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`
             + `T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`; }""",
        cdr.body["end_date_time"])
    await article.locator('input[name="started_at"]').fill(an_hour_earlier)
    await article.locator("button.correct").click()
    await expect(page.locator("#review-none")).to_be_visible()

    await page.select_option("#review-status", "corrected")
    corrected = page.locator(f'article[data-cdr="{cdr.id}"]')
    await expect(corrected.locator(".status")).to_have_text("Corrected")
    await expect(corrected.locator(".total")).to_contain_text("1,113.60")  # 12 kWh x 80 + 16 % VAT
    stored, review = await platform.reviews.get(cdr.id)
    assert (review.status, stored.total_incl_vat) == ("corrected", Decimal("1113.6"))
    assert "Corrected by the operator" in stored.receipts["en"]

    await page.evaluate("location.hash = '#/alerts'")
    clock = page.locator(f'article.alert.clock[data-station="{spec.station_id}"]')
    await expect(clock.locator(".check")).to_contain_text("Check the charger's clock")
    await expect(clock.locator(".meaning")).to_contain_text("1970-01-01T00:00:00.000Z")
    await screenshot(page, "alerts-clock", full_page=False)


async def test_an_operator_ends_a_session_its_charger_never_stopped_from_the_sessions_page(
    platform, fleet, open_console
):
    spec = pick(fleet, "KZ-ALA", "1.6", skip=1)
    url = f"ws://127.0.0.1:{platform.gateway.port}/ocpp"
    async with connected_peer(url, spec.station_id, "1.6", password=spec.password) as peer:
        await peer.call(call.BootNotification(charge_point_vendor=spec.vendor, charge_point_model=spec.model))
        started = await peer.call(call.StartTransaction(
            connector_id=1, id_tag="WEB-0002", meter_start=0, timestamp=to_ocpp(utcnow() - timedelta(hours=5))))
    page = await open_console("/#/sessions")
    await page.locator(f'button.end[data-transaction="{started.transaction_id}"]').click()
    form = page.locator(f'form.end-form[data-transaction="{started.transaction_id}"]')
    await form.locator('input[name="reason"]').fill("charger rebooted and forgot the session")
    await screenshot(page, "sessions-end")
    await form.locator('button[type="submit"]').click()
    row = page.locator("#sessions tbody tr", has_text=spec.station_id).first
    await expect(row).to_contain_text("Ended by operator")
    async with platform.sessions() as session:
        ending = await session.get(TransactionEnding, started.transaction_id)
    assert ending.reason == "charger rebooted and forgot the session"
