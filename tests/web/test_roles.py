"""People sign in to the console with email and password, and each role sees what it may do and
nothing else (issue 15, items 2 and 4): a technician reaches diagnostics and commands but no
tariffs; a regulator reads cap compliance of operators of two tenants without anything
personal; the audit page lists a command just sent, with who sent it; a viewer has no command
to press."""

from __future__ import annotations

import httpx
from playwright.async_api import expect
from sqlalchemy import select

from silkcharge.domain import totp
from silkcharge.domain.clock import utcnow
from silkcharge.domain.roles import Role
from silkcharge.services.access import Principal
from silkcharge.store.schema import Operator, Site
from tests.conftest import API_KEY
from tests.e2e.test_caps import CAP, energy, tariff
from tests.guards import HANG_GUARD
from tests.web.conftest import TOKENS, screenshot
from tests.web.helpers import pick

BOOT = Principal("key", None, "test bootstrap", Role.PLATFORM_ADMIN, None)
PASSWORD = "a-long-password-1"


async def person(platform, role: Role, email: str, name: str, tenant: int | None = 1) -> str:
    await platform.access.create_account(BOOT, email, name, PASSWORD, role, None if role is Role.REGULATOR else tenant)
    return email


async def sign_in(open_console, email: str, *, locale: str = "en-GB"):
    """The sign-in page as a person uses it: wait for it to be drawn, type, press Enter."""
    page = await open_console("/#/login", signed_in=False, locale=locale)
    await expect(page.locator("#login-person h1")).to_be_visible()
    await page.fill("#login-email", email)
    await page.fill("#login-password", PASSWORD)
    await page.press("#login-password", "Enter")
    await expect(page.locator("#operator-name")).to_be_visible()
    return page


async def test_a_technician_signs_in_reaches_diagnostics_and_commands_and_no_tariffs(
        platform, fleet, chargers, open_console):
    spec = pick(fleet, "KZ-ALA", "2.0.1")
    await chargers(spec)
    email = await person(platform, Role.TECHNICIAN, "tech@example.org", "Aigerim Technician")
    page = await sign_in(open_console, email)
    await expect(page.locator("#operator-name")).to_have_text("Aigerim Technician")
    await expect(page.locator("#operator-role")).to_have_text("Technician")
    nav = page.locator("header nav")
    await expect(nav.locator('a[href="#/map"]')).to_be_visible()
    assert await nav.locator('a[href="#/tariffs"]').count() == 0
    assert await nav.locator('a[href="#/review"]').count() == 0

    await page.evaluate(f"location.hash = '#/stations/{spec.station_id}'")
    await expect(page.locator("#monitors")).to_be_visible()  # the 2.0.1 device model
    await expect(page.locator("#reports")).to_be_visible()
    await expect(page.locator("#certificates")).to_be_visible()
    await expect(page.locator("#command-reset")).to_be_visible()
    await expect(page.locator("#command-unlock_connector")).to_be_visible()
    await expect(page.locator("#command-update_firmware")).to_be_visible()
    assert await page.locator("#command-set_default_tariff").count() == 0  # prices are finance's
    assert await page.locator("#registration button").count() == 0  # network:write
    await screenshot(page, "technician-station", full_page=False)

    await page.evaluate("location.hash = '#/tariffs'")
    await expect(page.locator("#not-allowed")).to_be_visible()
    assert await page.locator("#tariff-table").count() == 0


async def _second_tenant_in_almaty(platform, console_url: str) -> str:
    """Tenant 'beta' with one operator and two sites in Almaty, a tariff within the cap, and a
    person with an email; a seeded Almaty operator of tenant 1 publishes a tariff over the cap.
    The seeded operator's code."""
    async with platform.sessions() as session:
        seeded = await session.scalar(select(Operator.code).join(Site, Site.operator_id == Operator.id)
                                      .where(Site.city == "Almaty").order_by(Operator.code).limit(1))
    await platform.access.create_tenant("beta", "Beta networks")
    _, admin = await platform.access.create_key(BOOT, "platform", Role.PLATFORM_ADMIN, None, None)
    async with httpx.AsyncClient(timeout=HANG_GUARD, base_url=console_url) as client:
        dear = await client.post("/api/v1/tariffs", headers={"X-API-Key": API_KEY}, json={
            "code": "WEB-DEAR", "operator": seeded, "tariff": tariff(energy("95"))})
        assert dear.status_code == 201, dear.text
        beta = {"X-API-Key": admin, "X-Tenant": "beta"}
        for path, body in (
            ("/api/v1/operators", {"code": "BETA-OP", "name": "Beta Charge", "country": "KZ", "currency": "KZT"}),
            ("/api/v1/sites", {"code": "BETA-ALA-1", "operator": "BETA-OP", "name": "Beta one", "country": "KZ",
                               "timezone": "Asia/Almaty", "lat": 43.238, "lon": 76.945}),
            ("/api/v1/tariffs", {"code": "BETA-FAIR", "operator": "BETA-OP", "tariff": tariff(energy("80"))}),
            ("/api/v1/access/accounts", {"email": "boss@beta.example", "name": "Beta Boss", "password": PASSWORD,
                                         "role": "operator_admin", "tenant": "beta"}),
        ):
            response = await client.post(path, headers=beta, json=body)
            assert response.status_code == 201, response.text
    await platform.billing.caps.recheck_cap()
    return seeded


async def test_a_regulator_reads_cap_compliance_of_two_tenants_and_nothing_personal(
        platform, fleet, console_url, open_console):
    seeded = await _second_tenant_in_almaty(platform, console_url)
    email = await person(platform, Role.REGULATOR, "regulator@energy.example", "Regulator Office")
    page = await sign_in(open_console, email)
    await expect(page).to_have_url(f"{console_url}/#/caps")  # where a regulator starts
    table = page.locator("#compliance-table")
    ours = table.locator("tr", has=page.locator(f'[data-operator="{seeded}"]'))
    theirs = table.locator("tr", has=page.locator('[data-operator="BETA-OP"]'))
    await expect(ours).to_contain_text("Default tenant")
    await expect(ours.locator("[data-violations]")).not_to_have_attribute("data-violations", "0")
    await expect(theirs).to_contain_text("Beta networks")
    await expect(theirs.locator("[data-violations]")).to_have_attribute("data-violations", "0")
    await expect(theirs).to_contain_text("within the cap")
    nav = page.locator("header nav a")
    assert await nav.evaluate_all("links => links.map(a => a.getAttribute('href'))") == [
        "#/caps", "#/find", "#/trip", "#/vehicles"]
    await screenshot(page, "regulator-caps", full_page=False)
    text = await page.locator("body").inner_text()
    html = await page.content()
    for personal in ("@", "Beta Boss", *(t["token"] for t in TOKENS)):
        assert personal not in text.replace(email, ""), personal
    assert "boss@beta.example" not in html and CAP in html  # the cap's code is in a title, nothing personal


async def test_the_audit_page_lists_a_command_just_sent_with_who_sent_it(
        platform, fleet, chargers, open_console):
    spec = pick(fleet, "KZ-ALA", "1.6")
    await chargers(spec)
    email = await person(platform, Role.OPERATOR_ADMIN, "admin@example.org", "Dana Admin")
    page = await sign_in(open_console, email)
    await page.evaluate(f"location.hash = '#/stations/{spec.station_id}'")
    await expect(page.locator("#station-state")).to_be_visible()
    form = page.locator('form.command[data-command="trigger_message"]')
    await expect(form).to_be_visible()
    await form.locator('select[name="message"]').select_option("Heartbeat")
    await form.locator("button").click()
    await expect(form.locator(".reply")).to_have_class("reply ok")

    await page.evaluate("location.hash = '#/audit'")
    row = page.locator('#audit-table tr[data-action="POST /api/v1/stations/{station_id}/commands/{command}"]')
    await expect(row.first).to_contain_text(email)
    await expect(row.first.locator(".role")).to_have_text("Operator administrator")
    await expect(row.first.locator(".target")).to_contain_text(spec.station_id)
    await row.first.locator("summary").click()
    await expect(row.first.locator("pre.after")).to_contain_text("Accepted")
    # filtered by who: the same entry, and nothing by anyone else
    await page.fill("#audit-actor", "nobody-here")
    await page.press("#audit-actor", "Enter")
    await expect(page.locator("#audit-message")).to_have_text("No entries.")
    await page.fill("#audit-actor", "admin@example")
    await page.press("#audit-actor", "Enter")
    await expect(row.first).to_contain_text(email)
    await screenshot(page, "audit", full_page=False)


async def test_a_viewer_sees_no_command_button(platform, fleet, chargers, open_console):
    spec = pick(fleet, "KZ-ALA", "1.6")
    await chargers(spec)
    email = await person(platform, Role.VIEWER, "viewer@example.org", "Vera Viewer")
    page = await sign_in(open_console, email)
    await page.evaluate(f"location.hash = '#/stations/{spec.station_id}'")
    await expect(page.locator("#station-state")).to_be_visible()
    await expect(page.locator("#connector-table")).to_be_visible()
    for hidden in ("#commands", "form.command", "#registration button", "#security", "#certificates", "#reports"):
        assert await page.locator(hidden).count() == 0, hidden
    await page.evaluate("location.hash = '#/sessions'")
    await expect(page.locator("h1")).to_have_text("Sessions")
    assert await page.locator("button.end").count() == 0
    await expect(page.locator('header nav a[href="#/tariffs"]')).to_be_visible()  # viewers read prices
    assert await page.locator('header nav a[href="#/audit"]').count() == 0


async def test_a_person_with_a_second_factor_is_asked_for_the_code_and_logging_out_ends_the_session(
        platform, open_console, console_url):
    email = await person(platform, Role.FINANCE, "finance@example.org", "Farida Finance")
    account = next(a for a in await platform.access.accounts(BOOT) if a.email == email)
    me = Principal("account", account.id, email, Role.FINANCE, 1)
    secret, _ = await platform.access.start_totp(me)
    await platform.access.confirm_totp(me, totp.code_at(secret, utcnow()))

    page = await open_console("/#/login", signed_in=False)
    await expect(page.locator("#login-person h1")).to_be_visible()
    await page.fill("#login-email", email)
    await page.fill("#login-password", PASSWORD)
    await page.press("#login-password", "Enter")
    await expect(page.locator("#login-code")).to_be_visible()  # the server said a code is needed
    assert await page.locator("#operator-name").count() == 0
    await page.fill("#login-code", totp.code_at(secret, utcnow()))
    await page.press("#login-code", "Enter")
    await expect(page.locator("#operator-name")).to_have_text("Farida Finance")
    await expect(page.locator('header nav a[href="#/tariffs"]')).to_be_visible()

    token = next(c["value"] for c in await page.context.cookies() if c["name"] == "silkcharge_operator")
    async with page.expect_response("**/api/v1/access/logout") as ended:
        await page.click("#logout")
    assert (await ended.value).status == 204
    await expect(page.locator("#login-person")).to_be_visible()
    await page.reload()  # the cookie is gone: the console asks again
    await expect(page.locator("#login-person h1")).to_be_visible()
    assert await page.locator("#operator-name").count() == 0
    assert not [c for c in await page.context.cookies() if c["name"] == "silkcharge_operator"]
    async with httpx.AsyncClient(timeout=HANG_GUARD, base_url=console_url, cookies={"silkcharge_operator": token}) as client:
        assert (await client.get("/api/v1/access/me")).status_code == 401  # ended on the server too
