"""Driver accounts: register, log in and out, and know which idTokens are the driver's own.

A driver browses without an account; reserving needs one, so that a reservation is made for
a token the driver owns instead of any token typed into a form. Passwords are scrypt hashes
(`services/passwords.py`). A login gives a random session token; only its SHA-256 is stored,
with an expiry, so a copy of the database logs no one in.

Registering creates the driver's own app token (type ``Central``, the OCPP 2.0.1 name for a
token the central system issued), so a new driver can reserve at once. Cards are linked by
the operator or the seed (`link_tokens`), never by the driver typing a card number.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from silkcharge.domain.clock import utcnow
from silkcharge.services.passwords import PasswordVerifier, hash_password
from silkcharge.store.schema import Driver, DriverSession, DriverToken, IdToken, Reservation

LANGUAGES = ("en", "ru", "kk", "uz", "ky", "tg", "zh")
"""The console's languages: a driver's preferred one is one of these."""
MIN_PASSWORD, MAX_PASSWORD = 8, 128
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
# Checked when the email is unknown, so a wrong email costs the same time as a wrong password.
_DECOY_HASH = hash_password(secrets.token_urlsafe(16))


class AccountRefused(ValueError):
    """What was sent cannot make or change an account; the message says what to change."""


class AccountExists(AccountRefused):
    pass


class NotLoggedIn(PermissionError):
    """No session, an unknown one, or one that has expired."""


@dataclass(frozen=True)
class DriverAccount:
    id: int
    email: str
    name: str
    language: str
    created_at: datetime
    tokens: tuple[str, ...]
    """The driver's own idTokens, the app token first."""


@dataclass(frozen=True)
class LoggedIn:
    token: str
    """The session token, given to the driver once and never stored."""
    expires_at: datetime
    driver: DriverAccount


def session_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def normal_email(email: str) -> str:
    return email.strip().lower()


class DriverService:
    def __init__(self, sessions: async_sessionmaker, session_lifetime: timedelta) -> None:
        self._sessions = sessions
        self._lifetime = session_lifetime
        self._verifier = PasswordVerifier(cache_size=10_000)

    # -- accounts -------------------------------------------------------------------------------

    async def register(
        self, email: str, password: str, name: str, language: str = "en"
    ) -> DriverAccount:
        """A new driver with a fresh app token. Raises `AccountRefused` (nothing stored)."""
        email, name = _check_account(email, password, name, language)
        password_hash = await asyncio.to_thread(hash_password, password)
        async with self._sessions.begin() as session:
            if await session.scalar(select(Driver.id).where(Driver.email == email)) is not None:
                raise AccountExists(f"an account for {email} exists already; log in instead")
            driver = Driver(email=email, password_hash=password_hash, name=name, language=language)
            session.add(driver)
            await session.flush()
            token = IdToken(token=f"APP-{secrets.token_hex(6).upper()}", type="Central",
                            label=f"app account of driver {driver.id}")
            session.add(token)
            await session.flush()
            session.add(DriverToken(id_token_id=token.id, driver_id=driver.id))
            return await self._account(session, driver)

    async def ensure(
        self, email: str, password: str, name: str, language: str, tokens: list[str]
    ) -> DriverAccount:
        """The seed's driver: created if missing (with `tokens`, which must exist), else left
        as it is. Idempotent, like the rest of the seed."""
        email, name = _check_account(email, password, name, language)
        async with self._sessions.begin() as session:
            driver = await session.scalar(select(Driver).where(Driver.email == email))
            if driver is None:
                driver = Driver(email=email, password_hash=hash_password(password), name=name,
                                language=language)
                session.add(driver)
                await session.flush()
                await _link(session, driver.id, tokens)
            return await self._account(session, driver)

    async def link_tokens(self, driver_id: int, tokens: list[str]) -> DriverAccount:
        """Make existing idTokens (cards) this driver's own."""
        async with self._sessions.begin() as session:
            driver = await session.get(Driver, driver_id)
            if driver is None:
                raise AccountRefused(f"no driver {driver_id}")
            await _link(session, driver_id, tokens)
            return await self._account(session, driver)

    # -- sessions -------------------------------------------------------------------------------

    async def login(self, email: str, password: str) -> LoggedIn:
        """A new session. Raises `NotLoggedIn` with one message for a wrong email or password."""
        email = normal_email(email)
        async with self._sessions() as session:
            driver = await session.scalar(select(Driver).where(Driver.email == email))
        stored = driver.password_hash if driver is not None else _DECOY_HASH
        good = await asyncio.to_thread(self._verifier.verify, f"driver:{email}", password, stored)
        if driver is None or not good:
            raise NotLoggedIn("wrong email or password")
        now = utcnow()
        token = secrets.token_urlsafe(32)
        async with self._sessions.begin() as session:
            await session.execute(delete(DriverSession).where(
                DriverSession.driver_id == driver.id, DriverSession.expires_at <= now))
            session.add(DriverSession(driver_id=driver.id, token_hash=session_digest(token),
                                      created_at=now, expires_at=now + self._lifetime))
            account = await self._account(session, driver)
        return LoggedIn(token, now + self._lifetime, account)

    async def logout(self, token: str) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                delete(DriverSession).where(DriverSession.token_hash == session_digest(token)))

    async def authenticate(self, token: str | None) -> DriverAccount:
        """The driver a session token belongs to; `NotLoggedIn` if none or expired."""
        if not token:
            raise NotLoggedIn("log in as a driver first")
        async with self._sessions() as session:
            found = (await session.execute(
                select(Driver, DriverSession.expires_at)
                .join(DriverSession, DriverSession.driver_id == Driver.id)
                .where(DriverSession.token_hash == session_digest(token))
            )).first()
            if found is None:
                raise NotLoggedIn("this session is unknown or was logged out; log in again")
            driver, expires_at = found
            if expires_at <= utcnow():
                raise NotLoggedIn("this session has expired; log in again")
            return await self._account(session, driver)

    async def reservations_of(self, driver: DriverAccount) -> list[Reservation]:
        """Reservations made for the driver's own tokens, newest first."""
        async with self._sessions() as session:
            return list((await session.scalars(
                select(Reservation).where(Reservation.id_token.in_(driver.tokens))
                .order_by(Reservation.id.desc()).limit(100)
            )).all())

    # -- helpers --------------------------------------------------------------------------------

    @staticmethod
    async def _account(session: AsyncSession, driver: Driver) -> DriverAccount:
        tokens = (await session.scalars(
            select(IdToken.token).join(DriverToken, DriverToken.id_token_id == IdToken.id)
            .where(DriverToken.driver_id == driver.id)
            .order_by(IdToken.type != "Central", IdToken.id)
        )).all()
        return DriverAccount(driver.id, driver.email, driver.name, driver.language,
                             driver.created_at, tuple(tokens))


def _check_account(email: str, password: str, name: str, language: str) -> tuple[str, str]:
    email, name = normal_email(email), name.strip()
    if len(email) > 254 or not _EMAIL.match(email):
        raise AccountRefused(f"{email!r} is not an email address")
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise AccountRefused(
            f"a password needs {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    if not name or len(name) > 200:
        raise AccountRefused("a name needs 1 to 200 characters")
    if language not in LANGUAGES:
        raise AccountRefused(f"language must be one of {', '.join(LANGUAGES)}")
    return email, name


async def _link(session: AsyncSession, driver_id: int, tokens: list[str]) -> None:
    for text in tokens:
        token = await session.scalar(select(IdToken).where(IdToken.token == text))
        if token is None:
            raise AccountRefused(f"unknown idToken {text}")
        owner = await session.get(DriverToken, token.id)
        if owner is not None and owner.driver_id != driver_id:
            raise AccountRefused(f"idToken {text} belongs to another driver")
        if owner is None:
            session.add(DriverToken(id_token_id=token.id, driver_id=driver_id))
