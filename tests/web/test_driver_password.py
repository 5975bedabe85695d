"""The driver's password pages in a real browser against the real server, with reset mail
delivered to a real SMTP server: a forgotten password is reset through the mailed link, a
logged-in driver changes theirs, a used or unknown link and too many attempts are explained
in plain words, in the console's language."""

from __future__ import annotations

import math
import re
import socket
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from playwright.async_api import expect

from tests.api.mailbox import RESET_LINK, Mailbox, running_mailbox
from tests.e2e.server_process import listening_socket, port_of
from tests.guards import HANG_GUARD
from tests.web.conftest import screenshot, serve_console

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")

DRIVER = ("dilnoza@example.uz", "samarkand-blue", "Dilnoza")
NEW_PASSWORD = "registan-at-dusk"
LINK_SENT = ("If an account exists for this address, we sent it a link to set a new password. "
             "Look in your mailbox (and its spam folder).")


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    with running_mailbox() as box:
        yield box


@pytest.fixture
def console_socket() -> Iterator[socket.socket]:
    """Bound before the platform starts, so the reset mail can link to the console itself."""
    with listening_socket() as sock:
        yield sock


@pytest.fixture
def settings(settings, mailbox, console_socket):
    """The suite's settings, mailing through the test's SMTP server, links to this console."""
    return settings.model_copy(update={
        "smtp_url": mailbox.url, "mail_from": "silkcharge <no-reply@example.uz>",
        "public_url": f"http://127.0.0.1:{port_of(console_socket)}",
    })


@pytest.fixture
async def console_url(platform, console_socket) -> AsyncIterator[str]:
    """The console served as tests/web/conftest.py serves it, on the port the mail links to."""
    async with serve_console(platform, console_socket) as url:
        yield url


async def log_in(page, password: str) -> None:
    await page.fill("#driver-email", DRIVER[0])
    await page.fill("#driver-password", password)
    await page.click("#driver-login")


async def api_login(console_url: str, password: str) -> int:
    async with httpx.AsyncClient(timeout=HANG_GUARD, base_url=console_url) as api:
        answer = await api.post("/api/v1/driver/login", json={"email": DRIVER[0], "password": password})
    return answer.status_code


async def test_a_forgotten_password_is_reset_through_the_mailed_link_and_the_new_one_logs_in(
    open_console, console_url, platform, mailbox
):
    await platform.drivers.ensure(*DRIVER, "uz", [])
    page = await open_console("/#/driver/login", signed_in=False)
    await page.click("#driver-forgot-link")
    await expect(page).to_have_url(f"{console_url}/#/driver/forgot")
    for email in ("nobody@example.uz", DRIVER[0]):  # the same answer with or without an account
        await page.fill("#forgot-email", email)
        await page.click("#forgot-send")
        await expect(page.locator("#forgot-message")).to_have_text(LINK_SENT)

    mail = await mailbox.next_message()
    assert [to for _, to in mailbox.envelopes] == [[DRIVER[0]]]
    link = RESET_LINK.search(mail.get_content()).group(0)
    assert link.startswith(f"{console_url}/#/driver/reset/")
    await page.goto(link)
    await page.fill("#reset-password", NEW_PASSWORD)
    await page.fill("#reset-repeat", NEW_PASSWORD + "!")
    await page.click("#reset-save")
    await expect(page.locator("#reset-message")).to_have_text("The two new passwords differ.")
    await page.fill("#reset-repeat", NEW_PASSWORD)
    await page.click("#reset-save")
    await expect(page.locator("#reset-message")).to_have_text(
        "Your new password is set, and every session of your account was logged out. "
        "Log in with the new password.")

    await page.click("#reset-login")
    await expect(page).to_have_url(f"{console_url}/#/driver/login")
    await log_in(page, DRIVER[1])
    await expect(page.locator("#driver-login-form .error")).to_have_text("Wrong email or password.")
    await log_in(page, NEW_PASSWORD)
    await expect(page.locator("#driver-name")).to_have_text(DRIVER[2])

    await page.goto(link)  # the link works once
    await page.fill("#reset-password", "another-new-one")
    await page.fill("#reset-repeat", "another-new-one")
    await page.click("#reset-save")
    await expect(page.locator("#reset-message")).to_have_text(
        "This link was used already: each link works once. Ask for a new link")
    await expect(page.locator("#reset-ask-again")).to_have_attribute("href", "#/driver/forgot")
    await screenshot(page, "driver-reset")
    assert await api_login(console_url, "another-new-one") == 401
    assert await api_login(console_url, NEW_PASSWORD) == 200


async def test_a_logged_in_driver_changes_the_password_on_the_account_page(
    open_console, console_url, platform
):
    await platform.drivers.ensure(*DRIVER, "uz", [])
    page = await open_console("/#/driver/account", signed_in=False)
    await expect(page).to_have_url(f"{console_url}/#/driver/login")  # asks for a login first
    await log_in(page, DRIVER[1])
    await expect(page).to_have_url(f"{console_url}/#/driver/account")
    await expect(page.locator("#account-email")).to_have_text(DRIVER[0])
    message = page.locator("#change-message")

    async def change(current: str, new: str, repeat: str | None = None) -> None:
        await page.fill("#change-current", current)
        await page.fill("#change-password", new)
        await page.fill("#change-repeat", repeat or new)
        await page.click("#change-save")

    await change("not-my-password", NEW_PASSWORD)
    await expect(message).to_have_text("The current password is wrong.")
    await change(DRIVER[1], NEW_PASSWORD, "registan-at-dawn")
    await expect(message).to_have_text("The two new passwords differ.")
    await change(DRIVER[1], DRIVER[1])
    await expect(message).to_have_text("The new password is the same as the current one.")
    await change(DRIVER[1], NEW_PASSWORD)
    await expect(message).to_have_text("Password changed. Your other sessions were logged out; this one stays.")
    await expect(page.locator("#change-current")).to_have_value("")
    await screenshot(page, "driver-account")

    await page.reload()  # this session stays
    await expect(page.locator("#driver-name")).to_have_text(DRIVER[2])
    assert await api_login(console_url, DRIVER[1]) == 401
    assert await api_login(console_url, NEW_PASSWORD) == 200


async def test_too_many_attempts_say_which_limit_and_when_to_try_again(
    open_console, console_url, platform
):
    await platform.drivers.ensure(*DRIVER, "uz", [])
    async with httpx.AsyncClient(timeout=HANG_GUARD, base_url=console_url) as api:
        for _ in range(5):
            wrong = await api.post("/api/v1/driver/login", json={"email": DRIVER[0], "password": "guess"})
            assert wrong.status_code == 401
        for _ in range(3):
            asked = await api.post("/api/v1/driver/password-reset", json={"email": "nobody@example.uz"})
            assert asked.status_code == 202

    page = await open_console("/#/driver/login", signed_in=False)
    async with page.expect_response("**/api/v1/driver/login") as login:
        await log_in(page, DRIVER[1])  # even the right password waits out the lockout
    await expect(page.locator("#driver-login-form .error")).to_have_text(
        re.compile(rf"^Too many failed logins for this email\. {await retry_text(login)}$"))
    await page.click("#driver-forgot-link")
    await page.fill("#forgot-email", "nobody@example.uz")
    async with page.expect_response("**/api/v1/driver/password-reset") as reset:
        await page.click("#forgot-send")
    await expect(page.locator("#forgot-message")).to_have_text(re.compile(
        r"^A link was asked for this email several times already: look for it in your mailbox "
        rf"\(and its spam folder\)\. {await retry_text(reset)}$"))


async def retry_text(response_info) -> str:
    """What the page must say of a 429: the minutes of its own Retry-After, rounded up (the
    lockout runs from the first failed attempt, so on a slow machine it may be 14, not 15)."""
    response = await response_info.value
    assert response.status == 429
    minutes = math.ceil(int(response.headers["retry-after"]) / 60)
    return rf"Try again in {minutes} min \(at \d\d:\d\d:\d\d\)\."


@pytest.mark.parametrize("locale, title, unknown", [
    ("ru-RU", "Восстановление пароля", "Эта ссылка не найдена"),
    ("zh-CN", "找回密码", "无法识别此链接"),
])
async def test_the_password_pages_speak_the_console_language(
    open_console, console_url, locale, title, unknown
):
    page = await open_console("/#/driver/forgot", locale=locale, signed_in=False)
    await expect(page.locator("#forgot-form h1")).to_have_text(title)
    await page.goto(f"{console_url}/#/driver/reset/no-such-token")
    await page.fill("#reset-password", NEW_PASSWORD)
    await page.fill("#reset-repeat", NEW_PASSWORD)
    await page.click("#reset-save")
    await expect(page.locator("#reset-message")).to_contain_text(unknown)
    assert not re.search(r"\bdriver\.[a-z]\w+", await page.locator("body").inner_text())
    assert await page.evaluate("[...window.silkchargeMissing]") == []
