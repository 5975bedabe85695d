"""Driver passwords: change, reset through a link mailed by a real SMTP server, and limits on
login attempts and reset requests kept in the database, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select, update

from silkcharge.api.app import create_api
from silkcharge.app import build_platform
from silkcharge.domain.clock import utcnow
from silkcharge.services.drivers import session_digest
from silkcharge.store.schema import AuthAttempt, DriverPasswordReset, DriverSession
from tests.api.mailbox import Mailbox, reset_token, running_mailbox
from tests.api.test_driver_accounts import ANA, NO_KEY, count, login, register

PUBLIC_URL = "https://charge.example.kz"
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    with running_mailbox() as box:
        yield box


@pytest.fixture
def settings(settings, mailbox):
    """The suite's settings, sending mail through the test's SMTP server."""
    return settings.model_copy(update={
        "smtp_url": mailbox.url, "mail_from": "silkcharge <no-reply@example.kz>",
        "public_url": PUBLIC_URL,
    })


def client(platform, address: str = "127.0.0.1") -> httpx.AsyncClient:
    """An API client whose requests come from `address`."""
    transport = httpx.ASGITransport(app=create_api(platform), client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://silkcharge", headers=NO_KEY)


def bearer(token: str) -> dict[str, str]:
    return {**NO_KEY, "Authorization": f"Bearer {token}"}


async def ask_reset(api: httpx.AsyncClient, email: str = ANA["email"]) -> httpx.Response:
    return await api.post("/api/v1/driver/password-reset", json={"email": email}, headers=NO_KEY)


async def confirm(api: httpx.AsyncClient, token: str, password: str) -> httpx.Response:
    return await api.post("/api/v1/driver/password-reset/confirm",
                          json={"token": token, "new_password": password}, headers=NO_KEY)


async def change(api: httpx.AsyncClient, token: str, current: str, new: str) -> httpx.Response:
    return await api.post("/api/v1/driver/password", headers=bearer(token),
                          json={"current_password": current, "new_password": new})


# -- change ------------------------------------------------------------------------------------

async def test_changing_the_password_ends_the_other_sessions_and_the_old_password_stops_working(api):
    await register(api)
    phone = (await login(api)).json()["token"]
    laptop = (await login(api)).json()["token"]

    changed = await change(api, laptop, ANA["password"], "a new battery staple")
    assert changed.status_code == 204, changed.text

    assert (await api.get("/api/v1/driver/me", headers=bearer(laptop))).status_code == 200
    assert (await api.get("/api/v1/driver/me", headers=bearer(phone))).status_code == 401
    assert (await login(api)).status_code == 401
    assert (await login(api, password="a new battery staple")).status_code == 200


async def test_a_wrong_current_password_or_a_short_new_one_changes_nothing(api, platform):
    await register(api)
    token = (await login(api)).json()["token"]
    other = (await login(api)).json()["token"]

    wrong = await change(api, token, "not the password", "a new battery staple")
    assert wrong.status_code == 403 and wrong.json()["detail"] == "the current password is wrong"
    short = await change(api, token, ANA["password"], "short")
    assert short.status_code == 422 and "at least 8 characters" in short.text
    same = await change(api, token, ANA["password"], ANA["password"])
    assert same.status_code == 422 and "the same as the current one" in same.json()["detail"]
    api.cookies.clear()
    anonymous = await api.post("/api/v1/driver/password", headers=NO_KEY,
                               json={"current_password": "x", "new_password": "long enough"})
    assert anonymous.status_code == 401

    assert (await api.get("/api/v1/driver/me", headers=bearer(other))).status_code == 200
    assert (await login(api)).status_code == 200


# -- reset -------------------------------------------------------------------------------------

async def test_a_reset_link_arrives_through_smtp_and_sets_a_new_password(api, platform, mailbox):
    await register(api)
    old_session = (await login(api)).json()["token"]

    asked = await ask_reset(api, "ANA@example.KZ")
    assert asked.status_code == 202, asked.text
    mail = await mailbox.next_message()
    assert mailbox.envelopes == [("no-reply@example.kz", ["ana@example.kz"])]
    assert mail["To"] == "ana@example.kz" and mail["Subject"] == "silkcharge құпия сөзін қалпына келтіру"  # Ana reads Kazakh
    assert f"{PUBLIC_URL}/#/driver/reset/" in mail.get_content()
    token = reset_token(mail)
    async with platform.sessions() as db:
        stored = (await db.scalars(select(DriverPasswordReset))).one()
    assert stored.token_hash == session_digest(token)  # only the digest is kept
    assert timedelta(minutes=29) < stored.expires_at - utcnow() <= timedelta(minutes=30)

    done = await confirm(api, token, "a new battery staple")
    assert done.status_code == 204, done.text
    assert (await api.get("/api/v1/driver/me", headers=bearer(old_session))).status_code == 401
    assert await count(platform, DriverSession) == 0
    assert (await login(api)).status_code == 401
    assert (await login(api, password="a new battery staple")).status_code == 200


async def test_a_reset_token_works_once(api, mailbox):
    await register(api)
    await ask_reset(api)
    token = reset_token(await mailbox.next_message())
    assert (await confirm(api, token, "first new password")).status_code == 204

    again = await confirm(api, token, "second new password")
    assert again.status_code == 400 and "used already" in again.json()["detail"]
    assert (await login(api, password="first new password")).status_code == 200


async def test_an_expired_or_made_up_reset_token_is_refused(api, platform, mailbox):
    await register(api)
    await ask_reset(api)
    token = reset_token(await mailbox.next_message())
    async with platform.sessions.begin() as db:
        await db.execute(update(DriverPasswordReset).values(expires_at=utcnow() - timedelta(seconds=1)))

    expired = await confirm(api, token, "a new battery staple")
    assert expired.status_code == 400 and "has expired" in expired.json()["detail"]
    made_up = await confirm(api, "made-up-token", "a new battery staple")
    assert made_up.status_code == 400 and "unknown" in made_up.json()["detail"]
    assert (await login(api)).status_code == 200


async def test_a_new_password_voids_reset_links_still_out(api, mailbox):
    await register(api)
    await ask_reset(api)
    token = reset_token(await mailbox.next_message())
    session = (await login(api)).json()["token"]
    assert (await change(api, session, ANA["password"], "changed meanwhile")).status_code == 204

    late = await confirm(api, token, "a new battery staple")
    assert late.status_code == 400 and "used already" in late.json()["detail"]


async def test_an_unknown_email_gets_the_same_answer_and_no_mail(api, platform, mailbox):
    await register(api)
    known = await ask_reset(api)
    unknown = await ask_reset(api, "nobody@example.kz")
    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json()
    await mailbox.next_message()
    assert mailbox.received == [] and len(mailbox.envelopes) == 1
    assert await count(platform, DriverPasswordReset) == 1

    malformed = await ask_reset(api, "not-an-email")
    assert malformed.status_code == 422 and "is not an email address" in malformed.json()["detail"]


async def test_reset_requests_for_one_email_are_limited_whether_or_not_it_has_an_account(api, mailbox):
    await register(api)
    for email in (ANA["email"], "nobody@example.kz"):
        answers = [await ask_reset(api, email) for _ in range(4)]
        assert [a.status_code for a in answers] == [202, 202, 202, 429], email
        assert int(answers[-1].headers["Retry-After"]) > 14 * 60
        assert "several times already" in answers[-1].json()["detail"]
    for _ in range(3):
        await mailbox.next_message()
    assert len(mailbox.envelopes) == 3  # only the account's first three asks were mailed


# -- limits on login attempts --------------------------------------------------------------------

async def test_five_failed_logins_lock_the_email_even_against_the_right_password(api, platform):
    await register(api)
    for _ in range(5):
        assert (await login(api, password="guess")).status_code == 401

    locked = await login(api)
    assert locked.status_code == 429
    assert 14 * 60 < int(locked.headers["Retry-After"]) <= 15 * 60
    assert locked.json()["detail"] == "too many failed logins for this email; try again in 15 minutes"
    unknown = [await login(api, "nobody@example.kz", "guess") for _ in range(6)]
    assert [a.status_code for a in unknown] == [401] * 5 + [429]  # says nothing about existence
    assert unknown[-1].json()["detail"] == locked.json()["detail"]

    async with platform.sessions.begin() as db:  # the window passes
        await db.execute(update(AuthAttempt).values(at=utcnow() - timedelta(minutes=16)))
    assert (await login(api)).status_code == 200


async def test_a_successful_login_starts_the_email_count_afresh(api):
    await register(api)
    for _ in range(4):
        await login(api, password="guess")
    assert (await login(api)).status_code == 200
    for _ in range(4):
        assert (await login(api, password="guess")).status_code == 401
    assert (await login(api)).status_code == 200


async def test_twenty_failed_logins_from_one_address_lock_that_address_only(platform):
    async with client(platform, "203.0.113.9") as guesser, client(platform, "198.51.100.4") as ana:
        await register(ana)
        for n in range(20):  # four guesses at each of five emails: no email reaches its limit
            answer = await login(guesser, f"person{n % 5}@example.kz", "guess")
            assert answer.status_code == 401, n
        locked = await login(guesser)
        assert locked.status_code == 429 and "from this address" in locked.json()["detail"]
        assert int(locked.headers["Retry-After"]) > 0
        assert (await login(ana)).status_code == 200


async def test_a_wrong_current_password_counts_as_a_failed_login(api):
    await register(api)
    token = (await login(api)).json()["token"]
    for _ in range(5):
        assert (await change(api, token, "guess", "a new battery staple")).status_code == 403
    assert (await change(api, token, ANA["password"], "a new battery staple")).status_code == 429
    assert (await login(api)).status_code == 429


@pytest.fixture
async def second_process(settings) -> AsyncIterator[httpx.AsyncClient]:
    """Another platform with its own engine and API on the same database: a second API process."""
    other = build_platform(settings)
    await other.start()
    try:
        async with client(other) as api:
            yield api
    finally:
        await other.stop()


async def test_the_count_is_shared_by_two_api_processes_on_one_database(api, second_process, platform):
    await register(api)
    for first, second in [(api, second_process)] * 2:
        assert (await login(first, password="guess")).status_code == 401
        assert (await login(second, password="guess")).status_code == 401
    assert (await login(api, password="guess")).status_code == 401  # the fifth failure

    assert (await login(second_process)).status_code == 429
    assert (await login(api)).status_code == 429
    async with platform.sessions() as db:
        assert await db.scalar(select(func.count()).select_from(AuthAttempt)) >= 5
