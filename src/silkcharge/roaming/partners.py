"""Roaming partners and the OCPI 2.2.1 credentials exchange, both sides of it.

A tenant roams under its own OCPI identities (country code, party id, role). A partner is
another OCPI platform; registration gives each side a token to call the other with:

- we invite: a fresh token A is shown once to the operator, who hands it and our versions
  URL to the partner out of band; the partner POSTs its credentials (token B) to us with A;
  we fetch its versions and endpoints with B, answer with a new token C and forget A.
- we register (initiator): with the partner's versions URL and token A we fetch its 2.2.1
  endpoints, POST our credentials with a new token B (with which it calls us back), and keep
  its token C. PUT renews both tokens the same way; DELETE ends it (unregistered).

Of a token a partner calls us with only the SHA-256 is stored; the token we call them with
is kept as it is (we have to send it) and never leaves this module but in an Authorization
header. No database session is held open across a call to a partner.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import async_sessionmaker

from silkcharge.domain.clock import utcnow
from silkcharge.roaming.auth import Caller, PartyRole, token_digest
from silkcharge.roaming.client import OcpiClient, OcpiPeerError, PartyHeaders
from silkcharge.roaming.wire import OCPI_VERSION, Status
from silkcharge.settings import Settings
from silkcharge.store.residency import each_database
from silkcharge.store.schema import RoamingIdentity, RoamingPartner
from silkcharge.store.tenancy import tenant_scope

log = logging.getLogger(__name__)

INVITED, REGISTERED, UNREGISTERED = "invited", "registered", "unregistered"
OUR_ROLES = ("CPO", "EMSP")
REQUIRED_ENDPOINTS = ("credentials",)
"""What a partner must offer for us to register with it: the credentials module, to renew and
end the registration. Modules name what else they need when they use a partner."""


# -- the credentials object (credentials.asciidoc) -------------------------------------------------


class BusinessDetails(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str = Field(min_length=1, max_length=100)
    website: str | None = Field(default=None, max_length=255)
    logo: dict[str, Any] | None = None


class CredentialsRole(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["CPO", "EMSP", "HUB", "NAP", "NSP", "OTHER", "SCSP"]
    business_details: BusinessDetails
    party_id: str = Field(min_length=3, max_length=3, pattern=r"^[A-Za-z0-9]{3}$")
    country_code: str = Field(min_length=2, max_length=2, pattern=r"^[A-Za-z]{2}$")


class Credentials(BaseModel):
    """What each side tells the other: the token to call it with, its versions URL, its parties."""

    model_config = ConfigDict(extra="ignore")
    token: str = Field(min_length=1, max_length=64, description="ASCII, not encoded")
    url: str = Field(min_length=1, max_length=255, description="the sender's versions endpoint")
    roles: list[CredentialsRole] = Field(min_length=1)

    @field_validator("token")
    @classmethod
    def _printable_ascii(cls, value: str) -> str:
        if not (value.isascii() and value.isprintable()) or " " in value:
            raise ValueError("a token is printable ASCII without spaces")
        return value

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("an http:// or https:// URL")
        return value


class Version(BaseModel):
    model_config = ConfigDict(extra="ignore")
    version: str
    url: str


class Endpoint(BaseModel):
    model_config = ConfigDict(extra="ignore")
    identifier: str
    role: str
    url: str


class VersionDetails(BaseModel):
    model_config = ConfigDict(extra="ignore")
    version: str
    endpoints: list[Endpoint]


_VERSIONS = TypeAdapter(list[Version])


# -- errors -------------------------------------------------------------------------------------


class UnknownPartner(LookupError):
    pass


class PartnerConflict(ValueError):
    """The partner is not in a state that allows this (register a registered one, say)."""


class NoIdentity(PartnerConflict):
    """The tenant has no OCPI identity yet: there is nothing to tell a partner who we are."""


class RegistrationFailed(Exception):
    """The partner's platform could not be used: `status` is the OCPI status that says why
    (3001 unusable answers, 3002 no common version, 3003 a needed endpoint missing, or the
    partner's own refusal)."""

    def __init__(self, status: Status | int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message

    def __str__(self) -> str:
        return f"{self.message} (OCPI {int(self.status)})"


class RegistrationRefused(Exception):
    """A credentials call the spec answers with HTTP 405 (POST when registered, PUT or DELETE
    when not)."""


@dataclass(frozen=True)
class Presented:
    """A token that names a partner able to use the credentials and versions endpoints."""

    partner_id: int
    tenant_id: int
    state: str
    token: str


@dataclass(frozen=True)
class Identity:
    country_code: str
    party_id: str
    role: str
    business_name: str
    website: str | None = None


def new_token() -> str:
    return secrets.token_urlsafe(32)  # 43 characters of [A-Za-z0-9_-]: within OCPI's 64


class PartnerService:
    def __init__(self, sessions: async_sessionmaker, settings: Settings) -> None:
        self._sessions = sessions
        self._settings = settings

    # -- our own addresses --------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """Where partners reach our OCPI API: the configured public address, + /ocpi."""
        public = self._settings.public_url or f"http://{self._settings.api_host}:{self._settings.api_port}"
        return public.rstrip("/") + "/ocpi"

    @property
    def versions_url(self) -> str:
        return f"{self.base_url}/versions"

    @property
    def version_url(self) -> str:
        return f"{self.base_url}/{OCPI_VERSION}"

    def url_of(self, path: str) -> str:
        """The absolute URL of a path below /ocpi."""
        return f"{self.base_url}/{path.lstrip('/')}"

    # -- our identities (in the caller's tenant scope) -----------------------------------------

    async def identities(self) -> list[RoamingIdentity]:
        async with self._sessions() as session:
            found = await session.scalars(
                select(RoamingIdentity).order_by(RoamingIdentity.role, RoamingIdentity.country_code,
                                                 RoamingIdentity.party_id))
            return list(found)

    async def set_identities(self, wanted: Sequence[Identity]) -> list[RoamingIdentity]:
        """Replace the tenant's identities with `wanted` (kept rows keep their ids)."""
        keys = [(i.country_code.upper(), i.party_id.upper(), i.role) for i in wanted]
        if len(set(keys)) != len(keys):
            raise PartnerConflict("each identity (country code, party id, role) may appear once")
        now = utcnow()
        async with self._sessions.begin() as session:
            existing = {(r.country_code, r.party_id, r.role): r for r in await session.scalars(select(RoamingIdentity))}
            for key, identity in zip(keys, wanted, strict=True):
                row = existing.pop(key, None)
                if row is None:
                    row = RoamingIdentity(country_code=key[0], party_id=key[1], role=key[2], created_at=now)
                    session.add(row)
                row.business_name, row.website, row.updated_at = identity.business_name, identity.website, now
            for row in existing.values():
                await session.delete(row)
        return await self.identities()

    async def our_credentials(self, token: str) -> dict[str, Any]:
        """Our credentials object, carrying `token` (the one the partner is to call us with)."""
        identities = await self.identities()
        if not identities:
            raise NoIdentity("this tenant has no OCPI identity: set one (PUT /api/v1/roaming/identities)")
        return {
            "token": token,
            "url": self.versions_url,
            "roles": [{
                "role": i.role,
                "business_details": {"name": i.business_name, **({"website": i.website} if i.website else {})},
                "party_id": i.party_id,
                "country_code": i.country_code,
            } for i in identities],
        }

    # -- partners, as the operator sees them (in the operator's tenant scope) ------------------

    async def partners(self) -> list[RoamingPartner]:
        async with self._sessions() as session:
            return list(await session.scalars(select(RoamingPartner).order_by(RoamingPartner.id)))

    async def partner(self, partner_id: int) -> RoamingPartner:
        async with self._sessions() as session:
            found = await session.get(RoamingPartner, partner_id)
        if found is None:
            raise UnknownPartner(f"no roaming partner {partner_id}")
        return found

    async def invite(self, name: str) -> tuple[RoamingPartner, str]:
        """A new partner with a fresh token A: the token, to be shown once, and the row."""
        await self._need_identity()
        token = new_token()
        now = utcnow()
        async with self._sessions.begin() as session:
            row = RoamingPartner(name=name, state=INVITED, token_to_us_digest=token_digest(token),
                                 created_at=now, updated_at=now)
            session.add(row)
        log.info("roaming partner %s (%s) invited", row.id, name)
        return row, token

    async def register(self, name: str, versions_url: str, token_a: str) -> RoamingPartner:
        """Register with a partner that invited us; the registered partner, or
        RegistrationFailed saying why (and nothing kept)."""
        await self._need_identity()
        token_b = new_token()
        now = utcnow()
        async with self._sessions.begin() as session:
            row = RoamingPartner(name=name, state=INVITED, versions_url=versions_url,
                                 token_to_us_digest=token_digest(token_b), token_to_them=token_a,
                                 created_at=now, updated_at=now)
            session.add(row)
        try:
            answer = await self._send_credentials(row.id, "POST", versions_url, token_a, token_b)
        except Exception:
            async with self._sessions.begin() as session:  # nothing half-made is kept
                await session.delete(await session.get(RoamingPartner, row.id))
            raise
        async with self._sessions.begin() as session:
            row = await session.get(RoamingPartner, row.id)
            row.state, row.token_to_them, row.updated_at = REGISTERED, answer.token, utcnow()
            row.roles = [r.model_dump(exclude_none=True) for r in answer.roles]
            row.last_error = None
        log.info("registered with roaming partner %s (%s)", row.id, name)
        return row

    async def update(self, partner_id: int) -> RoamingPartner:
        """Renew the registration (PUT): fresh tokens both ways, their endpoints fetched again.
        While it runs, only the new token B' opens our side (they call our versions back with
        it); a failed renewal puts the old one back and keeps the reason in last_error."""
        row = await self.partner(partner_id)
        if row.state != REGISTERED or not row.token_to_them:
            raise PartnerConflict(f"roaming partner {partner_id} is {row.state}: only a registered one is updated")
        old_digest, token_b = row.token_to_us_digest, new_token()
        await self._set_digest(partner_id, token_digest(token_b))
        try:
            answer = await self._send_credentials(partner_id, "PUT", row.versions_url or "", row.token_to_them,
                                                  token_b)
        except Exception as failed:
            await self._set_digest(partner_id, old_digest)
            await self.record_exchange(partner_id, error=str(failed))
            raise
        async with self._sessions.begin() as session:
            row = await session.get(RoamingPartner, partner_id)
            row.token_to_them, row.updated_at, row.last_error = answer.token, utcnow(), None
            row.roles = [r.model_dump(exclude_none=True) for r in answer.roles]
        return row

    async def unregister(self, partner_id: int) -> RoamingPartner:
        """End the registration from our side: DELETE at their credentials endpoint, then
        neither token is usable. Their refusal or silence is kept in last_error; we stop
        all the same (the spec: both parties end automated communication)."""
        row = await self.partner(partner_id)
        if row.state != REGISTERED:
            raise PartnerConflict(f"roaming partner {partner_id} is {row.state}: only a registered one is unregistered")
        error = None
        url = self.endpoint(row, "credentials")
        if url is None or not row.token_to_them:
            error = "their credentials endpoint is unknown: they were not told"
        else:
            try:
                async with await self.client_for(row) as client:
                    await client.delete(url)
            except OcpiPeerError as refused:
                error = f"they were not told: {refused}"
        async with self._sessions.begin() as session:
            row = await session.get(RoamingPartner, partner_id)
            row.state, row.token_to_us_digest, row.token_to_them = UNREGISTERED, None, None
            row.updated_at, row.last_error = utcnow(), error
        log.info("unregistered from roaming partner %s%s", partner_id, f" ({error})" if error else "")
        return row

    async def record_exchange(self, partner_id: int, *, pushed: bool = False, pulled: bool = False,
                              error: str | None = None, pulled_at: datetime | None = None) -> None:
        """For the modules: a push or a pull with this partner happened (or failed: `error`). A
        pull's time is when it began (`pulled_at`, default now): the next one asks from there."""
        values: dict[str, Any] = {"last_error": error[:500] if error else None}
        if pushed:
            values["last_push_at"] = utcnow()
        if pulled:
            values["last_pull_at"] = pulled_at or utcnow()
        async with self._sessions.begin() as session:
            await session.execute(update(RoamingPartner).where(RoamingPartner.id == partner_id).values(**values))

    # -- calling a partner ------------------------------------------------------------------------

    @staticmethod
    def endpoint(partner: RoamingPartner, identifier: str, role: str | None = None) -> str | None:
        """The URL of the partner's module `identifier` in `role` ("SENDER"/"RECEIVER"; None:
        any), from its version details; None if it offers none."""
        for found in partner.endpoints or []:
            if found.get("identifier") == identifier and (role is None or found.get("role") == role):
                return found.get("url")
        return None

    async def client_for(self, partner: RoamingPartner, correlation_id: str | None = None) -> OcpiClient:
        """A client calling `partner` with our token to them, routing headers filled from our
        first identity and their first party."""
        if not partner.token_to_them:
            raise PartnerConflict(f"roaming partner {partner.id} is {partner.state}: we hold no token to call it")
        return OcpiClient(partner.token_to_them, party_headers=await self._party_headers(partner),
                          timeout=self._settings.ocpi_client_timeout, correlation_id=correlation_id)

    async def _party_headers(self, partner: RoamingPartner | None) -> PartyHeaders:
        ours = await self.identities()
        theirs = (partner.roles or []) if partner is not None else []
        return PartyHeaders(
            from_country_code=ours[0].country_code if ours else None, from_party_id=ours[0].party_id if ours else None,
            to_country_code=theirs[0].get("country_code") if theirs else None,
            to_party_id=theirs[0].get("party_id") if theirs else None,
        )

    async def _need_identity(self) -> None:
        if not await self.identities():
            raise NoIdentity("this tenant has no OCPI identity: set one (PUT /api/v1/roaming/identities) first")

    async def _set_digest(self, partner_id: int, digest: str | None) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                update(RoamingPartner).where(RoamingPartner.id == partner_id).values(token_to_us_digest=digest))

    async def _send_credentials(
        self, partner_id: int, method: str, versions_url: str, their_token: str, our_token: str,
    ) -> Credentials:
        """Fetch their 2.2.1 endpoints, send our credentials with `our_token` to their
        credentials endpoint; their answer."""
        ours = await self.our_credentials(our_token)
        async with OcpiClient(their_token, party_headers=await self._party_headers(None),
                              timeout=self._settings.ocpi_client_timeout) as client:
            _, endpoints = await self._their_endpoints(client, versions_url)
            await self._keep_endpoints(partner_id, endpoints)
            credentials_url = next(e.url for e in endpoints if e.identifier == "credentials")
            try:
                data, _ = await client.request(method, credentials_url, json=ours)
            except OcpiPeerError as refused:
                raise RegistrationFailed(refused.status, f"the partner refused our credentials: {refused}") from None
        try:
            return Credentials.model_validate(data)
        except ValidationError as invalid:
            raise RegistrationFailed(Status.UNABLE_TO_USE_CLIENT_API,
                                     f"the partner answered credentials we cannot use: {_first_problem(invalid)}") from None

    async def _their_endpoints(self, client: OcpiClient, versions_url: str) -> tuple[str, list[Endpoint]]:
        """Their 2.2.1 version details: (its URL, its endpoints)."""
        try:
            data, _ = await client.get(versions_url)
        except OcpiPeerError as failed:
            raise RegistrationFailed(Status.UNABLE_TO_USE_CLIENT_API,
                                     f"their versions endpoint could not be used: {failed}") from None
        try:
            versions = _VERSIONS.validate_python(data)
        except ValidationError as invalid:
            raise RegistrationFailed(Status.UNABLE_TO_USE_CLIENT_API,
                                     f"their versions endpoint answered no list of versions: {_first_problem(invalid)}"
                                     ) from None
        chosen = next((v for v in versions if v.version == OCPI_VERSION), None)
        if chosen is None:
            offered = ", ".join(v.version for v in versions) or "none"
            raise RegistrationFailed(Status.UNSUPPORTED_VERSION,
                                     f"they offer OCPI versions {offered}; silkcharge speaks {OCPI_VERSION}")
        try:
            details_data, _ = await client.get(chosen.url)
            details = VersionDetails.model_validate(details_data)
        except OcpiPeerError as failed:
            raise RegistrationFailed(Status.UNABLE_TO_USE_CLIENT_API,
                                     f"their {OCPI_VERSION} version details could not be used: {failed}") from None
        except ValidationError as invalid:
            raise RegistrationFailed(Status.UNABLE_TO_USE_CLIENT_API,
                                     f"their {OCPI_VERSION} version details are not usable: {_first_problem(invalid)}"
                                     ) from None
        missing = [name for name in REQUIRED_ENDPOINTS if not any(e.identifier == name for e in details.endpoints)]
        if missing:
            raise RegistrationFailed(Status.NO_MATCHING_ENDPOINTS,
                                     f"their {OCPI_VERSION} endpoints lack {', '.join(missing)}")
        return chosen.url, details.endpoints

    async def _keep_endpoints(self, partner_id: int, endpoints: list[Endpoint]) -> None:
        async with self._sessions.begin() as session:
            row = await session.get(RoamingPartner, partner_id)
            row.version = OCPI_VERSION
            row.endpoints = [e.model_dump() for e in endpoints]
            row.updated_at = utcnow()

    # -- answering a partner's credentials calls (roaming/credentials.py) -----------------------

    async def presented(self, tokens: Sequence[str]) -> Presented | None:
        """The invited or registered partner one of `tokens` names (the first that does)."""
        if not tokens:
            return None
        digests = {token_digest(t): t for t in tokens}

        async def lookup() -> list[Any]:
            async with self._sessions() as session:
                return list(await session.execute(
                    select(RoamingPartner.id, RoamingPartner.tenant_id, RoamingPartner.state,
                           RoamingPartner.token_to_us_digest)
                    .where(RoamingPartner.token_to_us_digest.in_(list(digests)),
                           RoamingPartner.state.in_((INVITED, REGISTERED)))))

        # A token names its partner whatever the tenant, and wherever the tenant's rows live
        # (store/residency.py: a resident tenant's partners are in its own database).
        with tenant_scope(None):
            rows = [row for found in await each_database(self._sessions, lookup) for row in found]
        if not rows:
            return None
        partner_id, tenant_id, state, digest = rows[0]
        return Presented(partner_id, tenant_id, state, digests[digest])

    async def caller_for(self, tokens: Sequence[str]) -> Caller | None:
        """The registered partner one of `tokens` names, as module endpoints see it."""
        found = await self.presented(tokens)
        if found is None or found.state != REGISTERED:
            return None
        with tenant_scope(found.tenant_id):
            async with self._sessions() as session:
                roles = await session.scalar(select(RoamingPartner.roles).where(RoamingPartner.id == found.partner_id))
        parties = tuple(PartyRole(r.get("country_code", ""), r.get("party_id", ""), r.get("role", ""))
                        for r in roles or [])
        return Caller(found.partner_id, found.tenant_id, parties)

    async def accept(self, who: Presented, method: str, credentials: Credentials) -> dict[str, Any]:
        """A partner's POST (register) or PUT (update) of its credentials, in its tenant's
        scope: fetch its endpoints with its new token, issue ours, forget the one it used.
        Our credentials for it, or RegistrationRefused / RegistrationFailed."""
        if method == "POST" and who.state == REGISTERED:
            raise RegistrationRefused("already registered: update with PUT, or DELETE first")
        if method == "PUT" and who.state != REGISTERED:
            raise RegistrationRefused("not registered yet: register with POST")
        await self._need_identity()
        first = credentials.roles[0]
        headers = replace(await self._party_headers(None), to_country_code=first.country_code,
                          to_party_id=first.party_id)
        async with OcpiClient(credentials.token, party_headers=headers,
                              timeout=self._settings.ocpi_client_timeout) as client:
            _, endpoints = await self._their_endpoints(client, credentials.url)
        ours = new_token()
        answer = await self.our_credentials(ours)
        async with self._sessions.begin() as session:
            changed = await session.execute(
                update(RoamingPartner)
                .where(RoamingPartner.id == who.partner_id, RoamingPartner.state == who.state,
                       RoamingPartner.token_to_us_digest == token_digest(who.token))
                .values(state=REGISTERED, versions_url=credentials.url, version=OCPI_VERSION,
                        endpoints=[e.model_dump() for e in endpoints],
                        roles=[r.model_dump(exclude_none=True) for r in credentials.roles],
                        token_to_them=credentials.token, token_to_us_digest=token_digest(ours),
                        updated_at=utcnow(), last_error=None))
            if changed.rowcount != 1:  # another call with the same token got there first
                raise RegistrationRefused("this token was used for a registration meanwhile")
        log.info("roaming partner %s %s its credentials", who.partner_id,
                 "registered" if method == "POST" else "updated")
        return answer

    async def forget(self, who: Presented) -> None:
        """A partner's DELETE: unregistered; neither token works any more."""
        if who.state != REGISTERED:
            raise RegistrationRefused("not registered: nothing to unregister")
        async with self._sessions.begin() as session:
            await session.execute(
                update(RoamingPartner).where(RoamingPartner.id == who.partner_id)
                .values(state=UNREGISTERED, token_to_us_digest=None, token_to_them=None, updated_at=utcnow()))
        log.info("roaming partner %s unregistered itself", who.partner_id)


def _first_problem(invalid: ValidationError) -> str:
    error = invalid.errors()[0]
    where = ".".join(str(p) for p in error["loc"]) or "the answer"
    return f"{where}: {error['msg']}"
