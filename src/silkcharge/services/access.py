"""Who is calling: tenants, operator accounts (password, optional TOTP, console sessions) and
API keys, each with one role (domain/roles.py).

A credential resolves to a `Principal`; the API sets the tenant scope from it (store/tenancy.py)
and checks the route's permission. Keys and session tokens are random and stored only as
SHA-256 digests, so a copy of the database lets no one in; passwords are scrypt hashes, with
failed logins limited per email and per address like drivers' (services/attempts.py).

Granting is bounded: nobody creates a key or an account with permissions they do not hold
themselves, and a tenant's people act only inside their tenant.

The key of an install from before tenancy (`SILKCHARGE_API_KEY`) keeps working as the admin
key of tenant 1, which holds everything that install stored; each use logs a deprecation
warning (once per process) until it is replaced by a key from `POST /api/v1/access/keys`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import async_sessionmaker

from silkcharge.domain import totp
from silkcharge.domain.clock import utcnow
from silkcharge.domain.roles import CAPS_WRITE, CROSS_TENANT, GRANTS, Role
from silkcharge.services.attempts import AttemptLimiter, Limit
from silkcharge.services.passwords import PasswordVerifier, hash_password
from silkcharge.store.residency import residency_of
from silkcharge.store.schema import ApiKey, OperatorAccount, OperatorSession, Tenant
from silkcharge.store.tenancy import current_tenant

log = logging.getLogger(__name__)

LEGACY_TENANT = 1
LEGACY_EXTRA = frozenset({CAPS_WRITE})
"""An install from before tenancy kept its jurisdictions and price caps with its one key; the
key keeps that, beyond what an operator admin holds (on a hosted platform only its
administrator writes caps)."""
KEY_PREFIX = "sck_"
MIN_PASSWORD = 12
MAX_PASSWORD = 200
LOGIN_PER_EMAIL = Limit("op-login-email", 5, timedelta(minutes=15), "too many failed logins for this email")
LOGIN_PER_ADDRESS = Limit("op-login-addr", 20, timedelta(minutes=15),
                          "too many failed logins from this address")
_DECOY_HASH = hash_password(secrets.token_urlsafe(16))
_CODE = re.compile(r"^[a-z0-9][a-z0-9-]{1,31}$")


@dataclass(frozen=True)
class Principal:
    """Who a request acts as."""

    kind: str  # "key", "account" or "legacy-key"
    id: int | None
    name: str
    role: Role
    tenant_id: int | None
    """The tenant it acts in; None only for the cross-tenant roles."""
    extra: frozenset[str] = frozenset()
    """Permissions beyond the role's: only the legacy key has any (`LEGACY_EXTRA`)."""
    person: str | None = None
    """A person's name, for an account (the console's header shows it); `name` is the email."""

    @property
    def permissions(self) -> frozenset[str]:
        return GRANTS[self.role] | self.extra

    @property
    def label(self) -> str:
        """How the audit trail and logs name it."""
        return f"{self.kind}:{self.id}:{self.name}" if self.id is not None else f"{self.kind}:{self.name}"


class AccessRefused(PermissionError):
    """The caller may not do this (a 403, with the reason)."""


class AccessInvalid(ValueError):
    """What was asked cannot be (a 422, with the reason)."""


class AccessConflict(ValueError):
    """It exists already (a 409)."""


class UnknownAccess(LookupError):
    """No such tenant, account or key visible to the caller (a 404)."""


class LoginFailed(PermissionError):
    """Wrong email, password or code: one answer for all, so it tells nothing."""


class SecondFactorNeeded(LoginFailed):
    """The email and password are right and the account has TOTP on, but no code came: the
    console then asks for one. Only someone who knows the password learns this."""


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class AccessService:
    def __init__(self, sessions: async_sessionmaker, legacy_key: str | None, *,
                 session_hours: float = 12, clock=utcnow) -> None:
        self._sessions = sessions
        self._legacy_key = legacy_key
        self._session_lifetime = timedelta(hours=session_hours)
        self._clock = clock
        self._verifier = PasswordVerifier(cache_size=1000)
        self._attempts = AttemptLimiter(sessions, LOGIN_PER_EMAIL.window, clock=clock)
        self._warned = False
        self._used: dict[int, datetime] = {}

    # -- resolving a credential -------------------------------------------------------------

    async def from_key(self, key: str) -> Principal | None:
        if self._legacy_key and secrets.compare_digest(key.encode(), self._legacy_key.encode()):
            if not self._warned:
                self._warned = True
                log.warning("the shared SILKCHARGE_API_KEY is deprecated: it acts as the admin of tenant %s; "
                            "create personal keys with POST /api/v1/access/keys", LEGACY_TENANT)
            return Principal("legacy-key", None, "SILKCHARGE_API_KEY", Role.OPERATOR_ADMIN, LEGACY_TENANT,
                             LEGACY_EXTRA)
        if not key.startswith(KEY_PREFIX):
            return None
        now = self._clock()
        async with self._sessions() as session:
            row = await session.scalar(select(ApiKey).where(ApiKey.key_hash == digest(key)))
            if row is None or row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now):
                return None
            if self._used.get(row.id, datetime.min.replace(tzinfo=now.tzinfo)) < now - timedelta(minutes=1):
                self._used[row.id] = now  # "last used" to the minute: no write per request
                row.last_used_at = now
                await session.commit()
        return Principal("key", row.id, row.name, Role(row.role), row.tenant_id)

    async def from_session(self, token: str) -> Principal | None:
        now = self._clock()
        async with self._sessions() as session:
            found = (await session.execute(
                select(OperatorAccount, OperatorSession.expires_at)
                .join(OperatorSession, OperatorSession.account_id == OperatorAccount.id)
                .where(OperatorSession.token_hash == digest(token))
            )).first()
        if found is None:
            return None
        account, expires_at = found
        if expires_at <= now or account.disabled_at is not None:
            return None
        return Principal("account", account.id, account.email, Role(account.role), account.tenant_id,
                         person=account.name)

    # -- logging in -----------------------------------------------------------------------------

    async def login(self, email: str, password: str, code: str | None, address: str | None) -> tuple[str, Principal]:
        """A new console session for the account; `LoginFailed` for any wrong part, and
        `TooManyAttempts` past the limits."""
        email = email.strip().lower()
        attempt = await self._attempts.begin([(LOGIN_PER_EMAIL, email), (LOGIN_PER_ADDRESS, address)])
        async with self._sessions() as session:
            account = await session.scalar(select(OperatorAccount).where(OperatorAccount.email == email))
        stored = account.password_hash if account is not None else _DECOY_HASH
        good = await asyncio.to_thread(self._verifier.verify, f"operator:{email}", password, stored)
        if account is None or not good or account.disabled_at is not None:
            raise LoginFailed("wrong email, password or code")
        if account.totp_secret is not None and not code:
            raise SecondFactorNeeded("this account needs the authenticator's code")
        if account.totp_secret is not None and not totp.verify(account.totp_secret, code, self._clock()):
            raise LoginFailed("wrong email, password or code")
        await self._attempts.clear(LOGIN_PER_EMAIL, email)
        await self._attempts.forgive(attempt, LOGIN_PER_ADDRESS)
        token = secrets.token_urlsafe(32)
        now = self._clock()
        async with self._sessions.begin() as session:
            session.add(OperatorSession(account_id=account.id, token_hash=digest(token), created_at=now,
                                        expires_at=now + self._session_lifetime))
            await session.execute(update(OperatorAccount).where(OperatorAccount.id == account.id)
                                  .values(last_login_at=now))
        return token, Principal("account", account.id, account.email, Role(account.role), account.tenant_id,
                                person=account.name)

    async def logout(self, token: str) -> None:
        async with self._sessions.begin() as session:
            row = await session.scalar(select(OperatorSession).where(OperatorSession.token_hash == digest(token)))
            if row is not None:
                await session.delete(row)

    # -- tenants --------------------------------------------------------------------------------

    async def tenants(self) -> list[Tenant]:
        async with self._sessions() as session:
            return list((await session.scalars(select(Tenant).order_by(Tenant.id))).all())

    async def tenant_by_code(self, code: str) -> Tenant:
        async with self._sessions() as session:
            tenant = await session.scalar(select(Tenant).where(Tenant.code == code))
        if tenant is None:
            raise UnknownAccess(f"no tenant {code}")
        return tenant

    async def create_tenant(self, code: str, name: str) -> Tenant:
        if not _CODE.match(code):
            raise AccessInvalid("a tenant code is 2-32 lower-case letters, digits and dashes")
        async with self._sessions.begin() as session:
            if await session.scalar(select(Tenant.id).where(Tenant.code == code)) is not None:
                raise AccessConflict(f"tenant {code} exists already")
            tenant = Tenant(code=code, name=name, created_at=self._clock())
            session.add(tenant)
        residency = residency_of(self._sessions)
        if residency is not None:  # a tenant with a database of its own moves in before its first row
            await residency.attach_tenant(tenant.id, tenant.code, tenant.name)
        return tenant

    # -- keys -----------------------------------------------------------------------------------

    async def create_key(self, actor: Principal, name: str, role: Role, tenant_id: int | None,
                         expires_at: datetime | None) -> tuple[ApiKey, str]:
        """A new key and its secret (shown once)."""
        tenant_id = self._grantable(actor, role, tenant_id)
        if expires_at is not None and expires_at <= self._clock():
            raise AccessInvalid("expires_at is in the past")
        secret = KEY_PREFIX + secrets.token_urlsafe(32)
        row = ApiKey(tenant_id=tenant_id, name=name, role=role.value, prefix=secret[:10], key_hash=digest(secret),
                     created_by=actor.label, created_at=self._clock(), expires_at=expires_at)
        async with self._sessions.begin() as session:
            session.add(row)
        return row, secret

    async def keys(self, actor: Principal) -> list[ApiKey]:
        async with self._sessions() as session:
            query = select(ApiKey).order_by(ApiKey.id)
            if self._bound(actor) is not None:
                query = query.where(ApiKey.tenant_id == self._bound(actor))
            return list((await session.scalars(query)).all())

    async def revoke_key(self, actor: Principal, key_id: int) -> ApiKey:
        async with self._sessions.begin() as session:
            row = await session.get(ApiKey, key_id)
            if row is None or not self._sees(actor, row.tenant_id):
                raise UnknownAccess(f"no API key {key_id}")
            self._grantable(actor, Role(row.role), row.tenant_id)
            if row.revoked_at is None:
                row.revoked_at = self._clock()
        return row

    # -- accounts -------------------------------------------------------------------------------

    async def create_account(self, actor: Principal, email: str, name: str, password: str, role: Role,
                             tenant_id: int | None) -> OperatorAccount:
        tenant_id = self._grantable(actor, role, tenant_id)
        email = email.strip().lower()
        if "@" not in email:
            raise AccessInvalid("email is not an email address")
        if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
            raise AccessInvalid(f"a password has {MIN_PASSWORD} to {MAX_PASSWORD} characters")
        password_hash = await asyncio.to_thread(hash_password, password)
        async with self._sessions.begin() as session:
            if await session.scalar(select(OperatorAccount.id).where(OperatorAccount.email == email)) is not None:
                raise AccessConflict(f"an account for {email} exists already")
            row = OperatorAccount(tenant_id=tenant_id, email=email, name=name, role=role.value,
                                  password_hash=password_hash, created_at=self._clock())
            session.add(row)
        return row

    async def accounts(self, actor: Principal) -> list[OperatorAccount]:
        async with self._sessions() as session:
            query = select(OperatorAccount).order_by(OperatorAccount.id)
            if self._bound(actor) is not None:
                query = query.where(OperatorAccount.tenant_id == self._bound(actor))
            return list((await session.scalars(query)).all())

    async def change_account(self, actor: Principal, account_id: int, *, role: Role | None = None,
                             disabled: bool | None = None) -> OperatorAccount:
        async with self._sessions.begin() as session:
            row = await session.get(OperatorAccount, account_id)
            if row is None or not self._sees(actor, row.tenant_id):
                raise UnknownAccess(f"no account {account_id}")
            self._grantable(actor, Role(row.role), row.tenant_id)
            if actor.kind == "account" and actor.id == row.id:
                raise AccessRefused("nobody changes their own role or access")
            if role is not None:
                self._grantable(actor, role, row.tenant_id)
                row.role = role.value
            if disabled is not None:
                row.disabled_at = self._clock() if disabled else None
            if disabled or role is not None:  # sessions end with the access they had
                for old in (await session.scalars(
                        select(OperatorSession).where(OperatorSession.account_id == row.id))).all():
                    await session.delete(old)
        return row

    async def has_totp(self, actor: Principal) -> bool | None:
        """Whether a person's second factor is on; None for a key (it has none)."""
        if actor.kind != "account":
            return None
        async with self._sessions() as session:
            return await session.scalar(select(OperatorAccount.totp_secret.is_not(None))
                                        .where(OperatorAccount.id == actor.id))

    async def start_totp(self, actor: Principal) -> tuple[str, str]:
        """A new secret for the caller's own account, pending until a code confirms it."""
        if actor.kind != "account":
            raise AccessRefused("a second factor belongs to a person's account, not to a key")
        secret = totp.new_secret()
        async with self._sessions.begin() as session:
            row = await session.get(OperatorAccount, actor.id)
            row.totp_pending = secret
        return secret, totp.uri(secret, actor.name)

    async def confirm_totp(self, actor: Principal, code: str) -> None:
        if actor.kind != "account":
            raise AccessRefused("a second factor belongs to a person's account, not to a key")
        async with self._sessions.begin() as session:
            row = await session.get(OperatorAccount, actor.id)
            if row.totp_pending is None:
                raise AccessInvalid("start with POST /api/v1/access/me/totp")
            if not totp.verify(row.totp_pending, code, self._clock()):
                raise AccessInvalid("that code is not the authenticator's current one")
            row.totp_secret, row.totp_pending = row.totp_pending, None

    async def change_password(self, actor: Principal, current: str, new: str, keep_token: str | None) -> None:
        """The caller's own password, given the current one (a session left open on a shared
        screen does not let anyone lock its owner out). Every other session of the account
        ends; the one asking (`keep_token`) stays. A wrong current password counts as a failed
        login (same limits)."""
        if actor.kind != "account":
            raise AccessRefused("a password belongs to a person's account, not to a key")
        if not MIN_PASSWORD <= len(new) <= MAX_PASSWORD:
            raise AccessInvalid(f"a password has {MIN_PASSWORD} to {MAX_PASSWORD} characters")
        if new == current:
            raise AccessInvalid("the new password is the current one")
        attempt = await self._attempts.begin([(LOGIN_PER_EMAIL, actor.name)])
        async with self._sessions() as session:
            stored = await session.scalar(select(OperatorAccount.password_hash)
                                          .where(OperatorAccount.id == actor.id))
        if stored is None or not await asyncio.to_thread(self._verifier.verify, f"operator:{actor.name}", current,
                                                         stored):
            raise LoginFailed("the current password is not right")
        await self._attempts.forgive(attempt, LOGIN_PER_EMAIL)
        password_hash = await asyncio.to_thread(hash_password, new)
        async with self._sessions.begin() as session:
            row = await session.get(OperatorAccount, actor.id)
            row.password_hash = password_hash
            for old in (await session.scalars(
                    select(OperatorSession).where(OperatorSession.account_id == row.id))).all():
                if keep_token is None or old.token_hash != digest(keep_token):
                    await session.delete(old)

    # -- rules ----------------------------------------------------------------------------------

    def _grantable(self, actor: Principal, role: Role, tenant_id: int | None) -> int | None:
        """The tenant the new grant lives in, or AccessRefused/AccessInvalid."""
        if not GRANTS[role] <= actor.permissions:
            raise AccessRefused(f"a {actor.role.value} cannot grant the role {role.value}")
        if role in CROSS_TENANT:
            return None
        if actor.role not in CROSS_TENANT:
            if tenant_id is not None and tenant_id != actor.tenant_id:
                raise AccessRefused("a tenant's people grant access only in their own tenant")
            return actor.tenant_id
        if tenant_id is None:
            raise AccessInvalid(f"the role {role.value} belongs to one tenant: name it")
        return tenant_id

    @staticmethod
    def _bound(actor: Principal) -> int | None:
        """The one tenant whose people and keys the actor sees: the tenant in scope (a platform
        administrator acting in one with X-Tenant), else the actor's own; None: every tenant."""
        scoped = current_tenant()
        if scoped is not None:
            return scoped
        return None if actor.role in CROSS_TENANT else actor.tenant_id

    @classmethod
    def _sees(cls, actor: Principal, tenant_id: int | None) -> bool:
        bound = cls._bound(actor)
        return bound is None or tenant_id == bound
