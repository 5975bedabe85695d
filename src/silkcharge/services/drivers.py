"""Driver accounts: register, log in and out, and know which idTokens are the driver's own.

A driver browses without an account; reserving needs one, so that a reservation is made for
a token the driver owns instead of any token typed into a form. Passwords are scrypt hashes
(`services/passwords.py`). A login gives a random session token; only its SHA-256 is stored,
with an expiry, so a copy of the database logs no one in.

Registering creates the driver's own app token (type ``Central``, the OCPP 2.0.1 name for a
token the central system issued), so a new driver can reserve at once. Cards are linked by
the operator or the seed (`link_tokens`), never by the driver typing a card number.

A forgotten password is reset through a link sent by email: the link's token is single-use,
lives `reset_lifetime`, and is stored only as a SHA-256 like a session. Asking for a reset
answers the same whether or not the email has an account. Password checks and reset requests
are limited per email and per client address (`services/attempts.py`), in the database so
that every API process counts the same attempts.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import resources
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from silkcharge.domain.clock import utcnow
from silkcharge.services.attempts import Attempt, AttemptLimiter, Limit, key_digest
from silkcharge.services.mailer import Email
from silkcharge.services.passwords import PasswordVerifier, hash_password
from silkcharge.services.pseudonym_key import PseudonymKey
from silkcharge.store.residency import database_scope, each_database, residency_of
from silkcharge.store.schema import (
    AuthAttempt,
    DepotVehicle,
    Driver,
    DriverPasswordReset,
    DriverSession,
    DriverToken,
    IdToken,
    OcppMessage,
    Reservation,
    Transaction,
)

RESERVATIONS_LISTED = 100
"""A driver's newest reservations shown (`reservations_of`)."""
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


class WrongPassword(PermissionError):
    """The current password given to change it is not the driver's."""


class AccountDeleted(NotLoggedIn):
    """The session belongs to an account its driver deleted: nothing of it is left."""


class StillCharging(AccountRefused):
    """The account cannot go while a session with its token runs: its CDR is not made yet."""


class ResetRefused(ValueError):
    """A reset token that is unknown, used already or expired; the message says which."""


RESET_LIFETIME = timedelta(minutes=30)
LOGIN_PER_EMAIL = Limit("login-email", 5, timedelta(minutes=15),
                        "too many failed logins for this email")
LOGIN_PER_ADDRESS = Limit("login-address", 20, timedelta(minutes=15),
                          "too many failed logins from this address")
RESET_PER_EMAIL = Limit("reset-email", 3, timedelta(minutes=15),
                        "a reset link was asked for this email several times already; "
                        "look for it in the mailbox (and its spam folder)")
RESET_PER_ADDRESS = Limit("reset-address", 20, timedelta(minutes=15),
                          "too many password resets asked from this address")
LIMITS = (LOGIN_PER_EMAIL, LOGIN_PER_ADDRESS, RESET_PER_EMAIL, RESET_PER_ADDRESS)


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
class Deleted:
    """What deleting an account did: the personal data went, the accounting stays."""

    deleted_at: datetime
    sessions_kept: int
    """Charging sessions kept for accounting, with a pseudonym in place of the idToken."""
    reservations_kept: int


@dataclass(frozen=True)
class LoggedIn:
    token: str
    """The session token, given to the driver once and never stored."""
    expires_at: datetime
    driver: DriverAccount


@dataclass(frozen=True)
class PasswordReset:
    """A reset just issued: the token goes to the driver by email and nowhere else."""

    token: str
    expires_at: datetime
    valid_for: timedelta
    driver: DriverAccount


def session_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def normal_email(email: str) -> str:
    return email.strip().lower()


class DriverService:
    def __init__(
        self, sessions: async_sessionmaker, session_lifetime: timedelta, *,
        reset_lifetime: timedelta = RESET_LIFETIME, clock: Callable[[], datetime] = utcnow,
        pseudonyms: PseudonymKey | None = None, app_tenant: int = 1,
    ) -> None:
        self._sessions = sessions
        self._app_tenant = app_tenant
        """The tenant that issues registered drivers' app tokens (settings.driver_app_tenant)."""
        self._pseudonyms = pseudonyms
        self._lifetime = session_lifetime
        self._reset_lifetime = reset_lifetime
        self._clock = clock
        self._verifier = PasswordVerifier(cache_size=10_000)
        self._attempts = AttemptLimiter(
            sessions, max(limit.window for limit in LIMITS), clock=clock)


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
                            label=_app_label(driver.id), tenant_id=self._app_tenant)
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

    async def login(self, email: str, password: str, address: str | None = None) -> LoggedIn:
        """A new session. Raises `NotLoggedIn` with one message for a wrong email or password,
        and `TooManyAttempts` past the limits for the email or the client `address`, before
        the password is checked (so even the right one is refused then)."""
        email = normal_email(email)
        driver = await self._verify_login(email, password, address)
        if driver is None:
            raise NotLoggedIn("wrong email or password")
        now = self._clock()
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
            if driver.deleted_at is not None:
                raise AccountDeleted(
                    f"this account was deleted on {driver.deleted_at:%Y-%m-%d %H:%M} UTC; "
                    f"nothing of it is left to show or delete")
            if expires_at <= self._clock():
                raise NotLoggedIn("this session has expired; log in again")
            return await self._account(session, driver)

    # -- passwords ------------------------------------------------------------------------------

    async def change_password(
        self, driver: DriverAccount, session_token: str, current: str, new: str,
        address: str | None = None,
    ) -> None:
        """Set a new password, given the current one; every other session of the driver ends,
        the one making the change stays. A wrong current password counts as a failed login."""
        _check_password(new)
        if new == current:
            raise AccountRefused("the new password is the same as the current one")
        if await self._verify_login(driver.email, current, address) is None:
            raise WrongPassword("the current password is wrong")
        password_hash = await asyncio.to_thread(hash_password, new)
        async with self._sessions.begin() as session:
            await self._set_password(session, driver.id, password_hash)
            await session.execute(delete(DriverSession).where(
                DriverSession.driver_id == driver.id,
                DriverSession.token_hash != session_digest(session_token)))

    async def request_password_reset(
        self, email: str, address: str | None = None
    ) -> PasswordReset | None:
        """A reset token for the account with this email, or None if there is none; the caller
        answers the same either way. Counted per email and address whether or not it exists,
        so `TooManyAttempts` tells nothing about the account either."""
        email = normal_email(email)
        _check_email(email)
        await self._attempts.begin([(RESET_PER_EMAIL, email), (RESET_PER_ADDRESS, address)])
        now = self._clock()
        token = secrets.token_urlsafe(32)
        async with self._sessions.begin() as session:
            driver = await session.scalar(select(Driver).where(Driver.email == email))
            if driver is None:
                return None
            await session.execute(delete(DriverPasswordReset).where(
                DriverPasswordReset.driver_id == driver.id, DriverPasswordReset.expires_at <= now))
            session.add(DriverPasswordReset(
                driver_id=driver.id, token_hash=session_digest(token), created_at=now,
                expires_at=now + self._reset_lifetime))
            account = await self._account(session, driver)
        return PasswordReset(token, now + self._reset_lifetime, self._reset_lifetime, account)

    async def reset_password(self, token: str, new: str) -> DriverAccount:
        """Set the password of the driver a reset token was sent to. The token is used up
        (by whichever process gets there first), and every session of the driver ends."""
        _check_password(new)
        now = self._clock()
        async with self._sessions() as session:
            reset = await session.scalar(select(DriverPasswordReset).where(
                DriverPasswordReset.token_hash == session_digest(token)))
        _check_reset(reset, now)  # before hashing: a made-up token costs no scrypt
        password_hash = await asyncio.to_thread(hash_password, new)
        async with self._sessions.begin() as session:
            taken = await session.execute(
                update(DriverPasswordReset)
                .where(DriverPasswordReset.id == reset.id, DriverPasswordReset.used_at.is_(None))
                .values(used_at=now))
            if taken.rowcount != 1:
                raise ResetRefused("this reset link was used already; ask for a new one")
            await self._set_password(session, reset.driver_id, password_hash)
            await session.execute(
                delete(DriverSession).where(DriverSession.driver_id == reset.driver_id))
            driver = await session.get(Driver, reset.driver_id)
            account = await self._account(session, driver)
        await self._attempts.clear(LOGIN_PER_EMAIL, account.email)  # the mailbox's owner is back
        return account

    # -- deleting an account -------------------------------------------------------------------

    async def delete_account(
        self, driver: DriverAccount, session_token: str, password: str, address: str | None = None
    ) -> Deleted:
        """Erase the driver's personal data, giving the password once more (a wrong one counts
        as a failed login). Name, email, password, reset links and login counts go; the app
        token is deleted and cards are detached (they stay the operator's); the charging
        sessions, reservations and depot plans made with the driver's tokens, and the OCPP frames
        that carry them, keep a pseudonym in place of the idToken, as accounting needs the
        sessions and their CDRs. Every session of the account ends; this one is kept, ended,
        until the retention sweep, so that using it again says the account was deleted. While a
        session with one of the driver's tokens still charges, nothing is deleted
        (`StillCharging`): its CDR is made for the driver's token when it ends."""
        if self._pseudonyms is None:
            raise RuntimeError("deleting accounts needs the pseudonym key")
        if await self._verify_login(driver.email, password, address) is None:
            raise WrongPassword("the password is wrong")
        pseudonyms, now = self._pseudonyms.pseudonyms, self._clock()
        elsewhere = await self._pseudonymise_in_tenant_databases(driver, pseudonyms.of)
        async with self._sessions.begin() as session:
            row = await session.get(Driver, driver.id, with_for_update=True)
            if row is None or row.deleted_at is not None:
                raise AccountDeleted("this account was deleted already")
            _refuse_while_charging(await _running_session(session, driver.tokens))
            kept = await _pseudonymise_tokens(session, driver.tokens, pseudonyms.of)
            await _detach_tokens(session, driver.id)
            await _erase(session, row, session_digest(session_token), now)
        return Deleted(now, kept[0] + elsewhere[0], kept[1] + elsewhere[1])

    async def _pseudonymise_in_tenant_databases(
        self, driver: DriverAccount, pseudonym: Callable[[str], str]
    ) -> tuple[int, int]:
        """Data residency: what the driver's tokens made at stations of tenants with databases
        of their own (reservations, their frames) is there, and gets the pseudonyms too, first.
        Nothing changes until no database has a session of the driver's running; a database
        that cannot be reached fails the deletion (503), to be asked again, rather than keep
        the driver's tokens."""
        residency = residency_of(self._sessions)
        if residency is None or not driver.tokens:
            return 0, 0
        for database in residency.keys:
            with database_scope(database):
                async with self._sessions() as session:
                    _refuse_while_charging(await _running_session(session, driver.tokens))
        kept = (0, 0)
        for database in residency.engines:
            with database_scope(database):
                async with self._sessions.begin() as session:
                    here = await _pseudonymise_tokens(session, driver.tokens, pseudonym)
            kept = (kept[0] + here[0], kept[1] + here[1])
        return kept

    async def reservations_of(self, driver: DriverAccount) -> list[Reservation]:
        """Reservations made for the driver's own tokens, newest first. With data residency,
        from every database (a driver reserves at any operator's stations), merged by when
        they were made."""
        found = await each_database(self._sessions, lambda: self._reservations_here(driver))
        if len(found) == 1:
            return found[0]
        merged = sorted((r for here in found for r in here), key=lambda r: r.created_at, reverse=True)
        return merged[:RESERVATIONS_LISTED]

    async def _reservations_here(self, driver: DriverAccount) -> list[Reservation]:
        async with self._sessions() as session:
            return list((await session.scalars(
                select(Reservation).where(Reservation.id_token.in_(driver.tokens))
                .order_by(Reservation.id.desc()).limit(RESERVATIONS_LISTED)
            )).all())

    # -- helpers --------------------------------------------------------------------------------

    async def _verify_login(
        self, email: str, password: str, address: str | None
    ) -> Driver | None:
        """The driver if `password` is theirs, else None; counted against the login limits. An
        unknown email is checked against a decoy, so it costs the same time."""
        attempt = await self._attempts.begin(
            [(LOGIN_PER_EMAIL, email), (LOGIN_PER_ADDRESS, address)])
        async with self._sessions() as session:
            driver = await session.scalar(select(Driver).where(Driver.email == email))
        stored = driver.password_hash if driver is not None else _DECOY_HASH
        good = await asyncio.to_thread(self._verifier.verify, f"driver:{email}", password, stored)
        if driver is None or not good:
            return None
        await self._forgive(attempt, email)
        return driver

    async def _forgive(self, attempt: Attempt, email: str) -> None:
        """A right password: the email's count starts afresh and this attempt is not a failure
        of its address."""
        await self._attempts.clear(LOGIN_PER_EMAIL, email)
        await self._attempts.forgive(attempt, LOGIN_PER_ADDRESS)

    async def _set_password(
        self, session: AsyncSession, driver_id: int, password_hash: str
    ) -> None:
        """New hash; any reset link still out for the old password stops working."""
        await session.execute(
            update(Driver).where(Driver.id == driver_id).values(password_hash=password_hash))
        await session.execute(
            update(DriverPasswordReset)
            .where(DriverPasswordReset.driver_id == driver_id,
                   DriverPasswordReset.used_at.is_(None))
            .values(used_at=self._clock()))

    @staticmethod
    async def _account(session: AsyncSession, driver: Driver) -> DriverAccount:
        tokens = (await session.scalars(
            select(IdToken.token).join(DriverToken, DriverToken.id_token_id == IdToken.id)
            .where(DriverToken.driver_id == driver.id)
            .order_by(IdToken.type != "Central", IdToken.id)
        )).all()
        return DriverAccount(driver.id, driver.email, driver.name, driver.language,
                             driver.created_at, tuple(tokens))


def _check_email(email: str) -> None:
    if len(email) > 254 or not _EMAIL.match(email):
        raise AccountRefused(f"{email!r} is not an email address")


def _check_password(password: str) -> None:
    """The one password rule, for registering, changing and resetting alike."""
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise AccountRefused(
            f"a password needs {MIN_PASSWORD} to {MAX_PASSWORD} characters")


def _check_reset(reset: DriverPasswordReset | None, now: datetime) -> None:
    if reset is None:
        raise ResetRefused("this reset link is unknown; ask for a new one")
    if reset.used_at is not None:
        raise ResetRefused("this reset link was used already; ask for a new one")
    if reset.expires_at <= now:
        raise ResetRefused("this reset link has expired; ask for a new one")


def reset_email(reset: PasswordReset, console_url: str) -> Email:
    """The message carrying a reset link, in the driver's language (data/emails.json). The
    token is in the link's fragment, which browsers do not send to servers, so it stays out of
    access logs and Referer headers."""
    link = f"{console_url.rstrip('/')}/#/driver/reset/{reset.token}"
    minutes = round(reset.valid_for.total_seconds() / 60)
    texts = _emails()["password_reset"]
    wording = texts.get(reset.driver.language, texts["en"])
    values = {"name": reset.driver.name, "minutes": minutes, "link": link, "token": reset.token}
    return Email(to=reset.driver.email, subject=wording["subject"], text=wording["text"].format(**values))


@functools.cache
def _emails() -> dict[str, Any]:
    return json.loads((resources.files("silkcharge.data") / "emails.json").read_text("utf-8"))


def _check_account(email: str, password: str, name: str, language: str) -> tuple[str, str]:
    email, name = normal_email(email), name.strip()
    _check_email(email)
    _check_password(password)
    if not name or len(name) > 200:
        raise AccountRefused("a name needs 1 to 200 characters")
    if language not in LANGUAGES:
        raise AccountRefused(f"language must be one of {', '.join(LANGUAGES)}")
    return email, name


async def _pseudonymise_tokens(
    session: AsyncSession, tokens: tuple[str, ...], pseudonym: Callable[[str], str]
) -> tuple[int, int]:
    """Put each token's pseudonym where accounting keeps it; (sessions, reservations) kept."""
    sessions = reservations = 0
    for token in tokens:
        alias = pseudonym(token)
        done = await session.execute(
            update(Transaction).where(Transaction.id_token == token).values(id_token=alias))
        sessions += done.rowcount or 0
        done = await session.execute(
            update(Reservation).where(Reservation.id_token == token).values(id_token=alias))
        reservations += done.rowcount or 0
        await session.execute(
            update(DepotVehicle).where(DepotVehicle.id_token == token).values(id_token=alias))
        quoted = json.dumps(token)  # as the token sits in a logged frame
        await session.execute(
            update(OcppMessage).where(OcppMessage.payload.contains(quoted, autoescape=True))
            .values(payload=func.replace(OcppMessage.payload, quoted, json.dumps(alias))))
    return sessions, reservations


def _refuse_while_charging(running: int | None) -> None:
    if running is not None:
        raise StillCharging(f"session {running} with your card is still charging; delete the "
                            f"account once it has ended and been billed")


async def _running_session(session: AsyncSession, tokens: tuple[str, ...]) -> int | None:
    if not tokens:
        return None
    return await session.scalar(select(Transaction.id).where(
        Transaction.id_token.in_(tokens), Transaction.state == "Active").limit(1))


async def _erase(session: AsyncSession, driver: Driver, kept_session: str, now: datetime) -> None:
    """The account's personal data out: reset links, login counts, every session but the one
    asking (ended, kept as the sign that the account was deleted), name, email, password."""
    await session.execute(delete(DriverPasswordReset).where(DriverPasswordReset.driver_id == driver.id))
    await session.execute(delete(DriverSession).where(
        DriverSession.driver_id == driver.id, DriverSession.token_hash != kept_session))
    await session.execute(update(DriverSession).where(DriverSession.driver_id == driver.id)
                          .values(expires_at=now))
    await session.execute(delete(AuthAttempt).where(AuthAttempt.key_hash == key_digest(driver.email)))
    driver.email, driver.name, driver.password_hash = f"deleted-{driver.id}@deleted.invalid", "", ""
    driver.language, driver.deleted_at = "en", now


async def _detach_tokens(session: AsyncSession, driver_id: int) -> None:
    """Cards go back to the operator, unowned; the app token made for the account is deleted."""
    owned = select(DriverToken.id_token_id).where(DriverToken.driver_id == driver_id)
    app_tokens = (await session.scalars(select(IdToken.id).where(
        IdToken.id.in_(owned), IdToken.type == "Central",
        IdToken.label == _app_label(driver_id)))).all()
    await session.execute(delete(DriverToken).where(DriverToken.driver_id == driver_id))
    if app_tokens:
        await session.execute(delete(IdToken).where(IdToken.id.in_(app_tokens)))


def _app_label(driver_id: int) -> str:
    return f"app account of driver {driver_id}"


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
