"""Driver accounts against a clock the test moves: reset links expire, the login window slides
and lets a locked email in again, and old attempts are pruned. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from silkcharge.services.attempts import TooManyAttempts
from silkcharge.services.drivers import DriverService, NotLoggedIn, ResetRefused, reset_email
from silkcharge.store.db import create_engine_for, sessionmaker_for
from silkcharge.store.schema import AuthAttempt

EMAIL, PASSWORD = "timur@example.uz", "correct horse"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 21, 9, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def sessions(database_url) -> AsyncIterator[async_sessionmaker]:
    engine = create_engine_for(database_url)
    try:
        yield sessionmaker_for(engine)
    finally:
        await engine.dispose()


@pytest.fixture
async def drivers(sessions, clock) -> DriverService:
    service = DriverService(sessions, timedelta(hours=72), clock=clock)
    await service.register(EMAIL, PASSWORD, "Timur", "uz")
    return service


async def attempts_stored(sessions: async_sessionmaker) -> int:
    async with sessions() as session:
        return await session.scalar(select(func.count()).select_from(AuthAttempt))


async def test_a_reset_token_expires_after_thirty_minutes(drivers, clock):
    reset = await drivers.request_password_reset(EMAIL)
    assert reset is not None and reset.expires_at == clock.now + timedelta(minutes=30)
    clock.advance(minutes=30)
    with pytest.raises(ResetRefused, match="has expired"):
        await drivers.reset_password(reset.token, "a new battery staple")

    fresh = await drivers.request_password_reset(EMAIL)
    clock.advance(minutes=29, seconds=59)
    account = await drivers.reset_password(fresh.token, "a new battery staple")
    assert account.email == EMAIL
    assert (await drivers.login(EMAIL, "a new battery staple")).driver == account


async def test_the_reset_mail_links_to_the_console_and_says_how_long_it_works(drivers):
    reset = await drivers.request_password_reset(EMAIL)
    mail = reset_email(reset, "https://charge.example.uz/")
    assert mail.to == EMAIL and "30 daqiqa ichida" in mail.text  # the driver chose Uzbek
    assert f"https://charge.example.uz/#/driver/reset/{reset.token}\n" in mail.text
    assert await drivers.request_password_reset("nobody@example.uz") is None


@pytest.mark.parametrize(("language", "subject", "minutes"), [
    ("ru", "Сброс пароля silkcharge", "в течение 30 мин."),
    ("zh", "重置您的 silkcharge 密码", "在 30 分钟内"),
    ("uz", "silkcharge parolini tiklash", "30 daqiqa ichida"),
])
async def test_the_reset_mail_is_written_in_the_drivers_language(drivers, language, subject, minutes):
    account = await drivers.register(f"{language}@example.uz", "a long password", "Nodira", language)
    reset = await drivers.request_password_reset(account.email)
    mail = reset_email(reset, "https://charge.example.uz")
    assert mail.subject == subject and minutes in mail.text and "Nodira" in mail.text
    assert f"https://charge.example.uz/#/driver/reset/{reset.token}\n" in mail.text
    assert "hopefully you" not in mail.text  # no English left in it


async def test_the_login_window_slides_past_the_oldest_failure(drivers, clock):
    for _ in range(5):
        with pytest.raises(NotLoggedIn):
            await drivers.login(EMAIL, "guess", "192.0.2.1")
        clock.advance(minutes=1)  # failures at 09:00, 09:01, ... 09:04; now 09:05

    with pytest.raises(TooManyAttempts) as locked:
        await drivers.login(EMAIL, PASSWORD, "192.0.2.1")
    assert locked.value.retry_after == timedelta(minutes=10)  # 09:00's failure leaves at 09:15
    assert locked.value.retry_after_seconds == 600

    clock.advance(minutes=10)
    assert (await drivers.login(EMAIL, PASSWORD, "192.0.2.1")).driver.email == EMAIL


async def test_refused_attempts_are_not_counted_so_knocking_does_not_extend_a_lockout(drivers, clock):
    for _ in range(5):
        with pytest.raises(NotLoggedIn):
            await drivers.login(EMAIL, "guess")
    for _ in range(10):
        clock.advance(minutes=1)
        with pytest.raises(TooManyAttempts):
            await drivers.login(EMAIL, "guess")
    clock.advance(minutes=5)
    await drivers.login(EMAIL, PASSWORD)


async def test_attempts_older_than_every_window_are_pruned(drivers, clock, sessions):
    for _ in range(3):
        with pytest.raises(NotLoggedIn):
            await drivers.login(EMAIL, "guess", "192.0.2.1")
    assert await attempts_stored(sessions) == 6  # under the email and under the address

    clock.advance(minutes=16)
    with pytest.raises(NotLoggedIn):
        await drivers.login("someone@example.uz", "guess")
    assert await attempts_stored(sessions) == 1
