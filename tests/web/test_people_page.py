"""The console's people and API keys page and each person's own account (issue 15, item 2): an
operator administrator adds a technician and a key (its secret shown once, and it works against
the API) and revokes the key (then 401); a person turns on the second factor with the QR code's
secret and changes their password, and the next sign-in asks for the authenticator's code; a
viewer and a technician do not see the page."""

from __future__ import annotations

import httpx
from playwright.async_api import expect

from silkcharge.domain import totp
from silkcharge.domain.clock import utcnow
from silkcharge.domain.roles import Role
from tests.web.conftest import screenshot
from tests.web.test_roles import PASSWORD, person, sign_in


async def test_an_operator_admin_adds_a_technician_and_a_key_that_works_until_revoked(
        platform, fleet, console_url, open_console):
    admin = await person(platform, Role.OPERATOR_ADMIN, "admin@example.org", "Dana Admin")
    page = await sign_in(open_console, admin)
    await page.click('header nav a[href="#/people"]')
    await expect(page.locator("h1")).to_have_text("People and API keys")
    you = page.locator('#people-table tr[data-email="admin@example.org"]')
    await expect(you).to_contain_text("Dana Admin")
    assert await you.locator("button").count() == 0  # nobody changes their own access

    # a technician, who can then sign in in that role
    await page.fill("#person-name", "Timur Technician")
    await page.fill("#person-email", "timur@example.org")
    await page.fill("#person-password", PASSWORD)
    await page.select_option("#person-role", "technician")
    assert await page.locator('#person-role option[value="platform_admin"]').count() == 0  # more than an admin holds
    await page.click("#person-add")
    await expect(page.locator("#person-message")).to_have_text("Timur Technician can now sign in as Technician.")
    row = page.locator('#people-table tr[data-email="timur@example.org"]')
    await expect(row.locator("select")).to_have_value("technician")
    await expect(row).to_contain_text("off")  # no second factor yet
    async with httpx.AsyncClient(base_url=console_url) as client:
        login = await client.post("/api/v1/access/login", json={"email": "timur@example.org", "password": PASSWORD})
        assert login.status_code == 200 and login.json()["me"]["role"] == "technician"

    # a key: the secret is shown once, works, and is gone from the page after "copied"
    await page.fill("#key-name", "billing export")
    await page.select_option("#key-role", "viewer")
    await page.click("#key-create")
    await expect(page.locator("#new-key-warning")).to_be_visible()
    secret = await page.locator("#new-key-secret").input_value()
    assert secret.startswith("sck_")
    key_row = page.locator(f'#keys-table tr[data-key="{secret[:10]}"]')
    await expect(key_row).to_contain_text("billing export")
    await expect(key_row).to_contain_text("Viewer")
    await screenshot(page, "people", full_page=True)
    async with httpx.AsyncClient(base_url=console_url, headers={"X-API-Key": secret}) as client:
        assert (await client.get("/api/v1/stations")).status_code == 200
        assert (await client.get("/api/v1/access/me")).json()["role"] == "viewer"
    await page.click("#new-key-done")
    await expect(page.locator("#new-key")).to_be_hidden()
    assert secret not in await page.content()
    await page.reload()
    await expect(key_row).to_be_visible()
    assert secret not in await page.content()  # stored only as a digest: never shown again

    page.once("dialog", lambda dialog: dialog.accept())
    await key_row.locator("button.revoke").click()
    await expect(key_row).to_contain_text("revoked")
    async with httpx.AsyncClient(base_url=console_url, headers={"X-API-Key": secret}) as client:
        assert (await client.get("/api/v1/stations")).status_code == 401

    # the technician becomes a viewer, then is disabled: their session ends
    await row.locator("select").select_option("viewer")
    await expect(row.locator("select")).to_have_value("viewer")
    await row.locator("button.disable").click()
    await expect(row).to_contain_text("disabled since")
    async with httpx.AsyncClient(base_url=console_url) as client:
        refused = await client.post("/api/v1/access/login", json={"email": "timur@example.org", "password": PASSWORD})
        assert refused.status_code == 401


async def test_a_person_turns_on_the_second_factor_and_the_next_sign_in_asks_for_the_code(
        platform, open_console):
    email = await person(platform, Role.TECHNICIAN, "tech@example.org", "Aigerim Technician")
    page = await sign_in(open_console, email)
    await page.click("#operator-name")
    await expect(page.locator("h1")).to_have_text("Your account")
    await expect(page.locator("#totp-status")).to_contain_text("off")
    await page.click("#totp-start")
    await expect(page.locator("#totp-qr svg")).to_be_visible()
    secret = await page.locator("#totp-secret").get_attribute("data-secret")
    assert (await page.locator("#totp-secret").inner_text()).replace(" ", "") == secret
    uri = await page.locator("#totp-uri").text_content()
    assert uri.startswith("otpauth://totp/") and f"secret={secret}" in uri
    await screenshot(page, "account-totp", full_page=True)
    await page.fill("#totp-code", "000000" if totp.code_at(secret, utcnow()) != "000000" else "111111")
    await page.click("#totp-confirm-button")
    await expect(page.locator("#totp-message")).to_contain_text("not the app’s current code")
    await page.fill("#totp-code", totp.code_at(secret, utcnow()))
    await page.click("#totp-confirm-button")
    await expect(page.locator("#totp-message")).to_contain_text("from your next sign-in on")
    await expect(page.locator("#totp-status")).to_contain_text("The second factor is on")

    new_password = "a-new-long-password-2"
    await page.fill("#password-current", PASSWORD)
    await page.fill("#password-new", new_password)
    await page.fill("#password-again", new_password + "x")
    await page.click("#password-change")
    await expect(page.locator("#password-message")).to_have_text("The two new passwords differ.")
    await page.fill("#password-again", new_password)
    await page.click("#password-change")
    await expect(page.locator("#password-message")).to_have_text("Your password is changed.")
    await page.click("#logout")

    await expect(page.locator("#login-person h1")).to_be_visible()
    await page.fill("#login-email", email)
    await page.fill("#login-password", new_password)
    await page.press("#login-password", "Enter")
    await expect(page.locator("#login-code")).to_be_visible()  # the second factor is asked for
    await page.fill("#login-code", totp.code_at(secret, utcnow()))
    await page.press("#login-code", "Enter")
    await expect(page.locator("#operator-name")).to_have_text("Aigerim Technician")


async def test_a_viewer_and_a_technician_do_not_see_the_people_page(platform, open_console):
    for role, email in ((Role.VIEWER, "viewer@example.org"), (Role.TECHNICIAN, "tech@example.org")):
        address = await person(platform, role, email, f"A {role.value}")
        page = await sign_in(open_console, address)
        assert await page.locator('header nav a[href="#/people"]').count() == 0
        await page.evaluate("location.hash = '#/people'")
        await expect(page.locator("#not-allowed")).to_be_visible()
        assert await page.locator("#people-table").count() == 0
        await page.evaluate("location.hash = '#/account'")  # their own account they do see
        await expect(page.locator("#totp-start")).to_be_visible()
