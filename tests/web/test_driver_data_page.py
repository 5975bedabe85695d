"""A driver's own data in a real browser against the real server (issue 15, item 5): after a real
OCPP session with their card, the driver sees it on their account page with its cost,
downloads its receipt and all their data as JSON, then deletes the account and is logged out,
while the session and its CDR stay under a pseudonym. In English and in Russian, with no
string missing."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from ocpp.v16 import call
from playwright.async_api import expect

from silkcharge.domain.clock import to_ocpp
from silkcharge.store.schema import Driver, Transaction
from tests.conftest import API_KEY
from tests.e2e.peers import connected_peer, eventually
from tests.guards import HANG_GUARD
from tests.web.conftest import PHONE_WIDTH, page_width, screenshot
from tests.web.test_driver_pages import GBT_STATION, publish_tariff

CARD = "WEB-0003"
T0 = datetime(2026, 11, 21, 10, 0, tzinfo=timezone.utc)


async def charged_session(platform, fleet) -> int:
    """A 10 kWh session with the driver's card at the GB/T charger, ended; its id."""
    spec = fleet[GBT_STATION]
    async with connected_peer(f"ws://127.0.0.1:{platform.gateway.port}/ocpp", GBT_STATION, "1.6",
                              password=spec.password) as peer:
        await peer.call(call.BootNotification(charge_point_vendor="Zhida", charge_point_model="DC120-2E"))
        started = await peer.call(call.StartTransaction(connector_id=1, id_tag=CARD, meter_start=0,
                                                        timestamp=to_ocpp(T0)))
        await peer.call(call.StopTransaction(meter_stop=10000, timestamp=to_ocpp(T0 + timedelta(minutes=30)),
                                             transaction_id=started.transaction_id, id_tag=CARD))
    return started.transaction_id


async def priced(console_url: str, transaction_id: int) -> dict:
    async with httpx.AsyncClient(timeout=HANG_GUARD, base_url=console_url, headers={"X-API-Key": API_KEY}) as api:
        async def ready():
            response = await api.get(f"/api/v1/transactions/{transaction_id}/cdr")
            return response.json() if response.status_code == 200 else None

        return await eventually(ready)


@pytest.mark.parametrize("locale, language, driver, phone", [
    ("en-GB", "en", ("aigerim@example.kz", "steppe-driver", "Aigerim"), False),
    ("ru-RU", "ru", ("dmitry@example.kz", "степной-водитель", "Дмитрий"), False),
    ("zh-CN", "zh", ("li.wei@example.cn", "丝绸之路上的电动车司机", "李伟"), True),
])
async def test_a_driver_downloads_their_receipt_and_data_then_deletes_their_account(
    fleet, open_console, console_url, platform, locale, language, driver, phone
):
    await publish_tariff(console_url)  # 80 KZT per kWh + 16 % VAT: 10 kWh cost 928 KZT
    account = await platform.drivers.ensure(*driver, language, [CARD])
    tx = await charged_session(platform, fleet)
    cdr = await priced(console_url, tx)
    assert Decimal(cdr["total_incl_vat"]) == Decimal("928")

    page = await open_console("/#/driver/login", signed_in=False, locale=locale, phone=phone)
    await page.fill("#driver-email", driver[0])
    await page.fill("#driver-password", driver[1])
    await page.click("#driver-login")
    await expect(page.locator("#driver-name")).to_have_text(driver[2])
    await page.goto(f"{console_url}/#/driver/account")
    row = page.locator(f'#driver-sessions-table tr[data-session="{tx}"]')
    total = await page.evaluate(
        f"new Intl.NumberFormat('{locale}', {{style: 'currency', currency: 'KZT'}}).format('928')")
    await expect(row.locator(".total")).to_have_text(total)
    if phone:
        assert await page_width(page) <= PHONE_WIDTH, "the account page is wider than the phone"
    await screenshot(page, f"{'phone-' if phone else ''}driver-data-{language}")

    async with page.expect_download() as receipt_download:
        await row.locator("a.receipt").click()
    receipt = await (await receipt_download.value).path()
    assert (await receipt_download.value).suggested_filename == f"receipt-{cdr['id']}.html"
    text = Path(receipt).read_text(encoding="utf-8").replace("\u00a0", " ")
    assert ("928,00" if language == "ru" else "928.00") in text and cdr["id"] in text

    async with page.expect_download() as data_download:
        await page.click("#export-data")
    document = json.loads(Path(await (await data_download.value).path()).read_text(encoding="utf-8"))
    assert document["account"]["email"] == driver[0]
    assert [s["id"] for s in document["charging_sessions"]] == [tx]
    assert [t["id_token"] for t in document["tokens"]] == [CARD]

    await page.fill("#delete-password", "not my password")
    await page.check("#delete-sure")
    await page.click("#delete-account")
    await expect(page.locator("#delete-message")).not_to_be_empty()
    await expect(page).to_have_url(f"{console_url}/#/driver/account")
    await page.fill("#delete-password", driver[1])
    await page.click("#delete-account")
    await expect(page).to_have_url(f"{console_url}/#/driver/deleted")
    await expect(page.locator("#driver-deleted h1")).to_be_visible()
    await expect(page.locator("#driver-login-link")).to_be_visible()  # logged out
    await screenshot(page, f"driver-deleted-{language}")
    assert await page.evaluate("[...window.silkchargeMissing]") == []

    async with platform.sessions() as db:
        gone = await db.get(Driver, account.id)
        kept = await db.get(Transaction, tx)
    assert gone.deleted_at is not None and driver[0] not in gone.email and gone.name == ""
    assert kept.id_token == platform.pseudonym_key.pseudonyms.of(CARD)
    await page.goto(f"{console_url}/#/driver/account")  # the account page now asks for a login
    await expect(page).to_have_url(f"{console_url}/#/driver/login")
