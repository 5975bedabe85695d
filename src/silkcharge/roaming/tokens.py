"""The OCPI 2.2.1 Tokens module, both roles, and roaming authorization at our chargers.

As an eMSP we publish our drivers' tokens (`id_tokens`): partner CPOs pull them (GET list,
SENDER) and are pushed each new or changed one through the outbox (`TokenPublisher`, a PUT
to their RECEIVER), and they ask us in real time whether one may charge (POST authorize).

As a CPO we keep the tokens eMSP partners push to us (`roaming_tokens`; PUT, PATCH, GET under
/ocpi/cpo/2.2.1/tokens), and `RoamingTokenAuthority` decides on a card our registry does not
know (services/ports.py `RoamingAuthority`, asked by TransactionService) as the token's
`whitelist` says:

- ALWAYS: the stored copy decides, no real-time call (OCPI forbids one).
- ALLOWED: we may choose; we ask the eMSP in real time and, when it does not answer within
  `ocpi_authorize_timeout`, the stored copy decides.
- ALLOWED_OFFLINE: real time; only when the eMSP cannot be reached, the stored copy decides.
- NEVER: real time only; no answer means no charging.

A real-time answer is remembered for a short while (`REMEMBERED`) for the one start that
follows an Authorize, so a driver's swipe costs the eMSP one call, not two.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Body, Depends, Request
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from silkcharge.domain.charging import AuthorizationStatus
from silkcharge.domain.clock import utcnow
from silkcharge.roaming.auth import Caller, ocpi_caller
from silkcharge.roaming.client import OcpiPeerError
from silkcharge.roaming.outbox import Outbox, Push
from silkcharge.roaming.partners import PartnerService
from silkcharge.roaming.push import evse_uid
from silkcharge.roaming.wire import (
    OcpiError,
    Page,
    Status,
    ocpi_datetime,
    ocpi_response,
    parse_ocpi_datetime,
)
from silkcharge.services.ports import RoamingDecision
from silkcharge.settings import Settings
from silkcharge.store.schema import (
    Driver,
    DriverToken,
    IdToken,
    RoamingIdentity,
    RoamingPartner,
    RoamingToken,
    Site,
    Station,
)
from silkcharge.store.tenancy import current_tenant

log = logging.getLogger(__name__)

TOKEN_TYPES = ("AD_HOC_USER", "APP_USER", "OTHER", "RFID")
WHITELIST_TYPES = ("ALWAYS", "ALLOWED", "ALLOWED_OFFLINE", "NEVER")
ALLOWED_TYPES = ("ALLOWED", "BLOCKED", "EXPIRED", "NO_CREDIT", "NOT_ALLOWED")
PROFILE_TYPES = ("CHEAP", "FAST", "GREEN", "REGULAR")
DEFAULT_TYPE = "RFID"
REGISTERED = "registered"

OCPI_TYPE_OF = {"ISO14443": "RFID", "ISO15693": "RFID", "Central": "APP_USER", "eMAID": "OTHER"}
"""Our (OCPP) token types that roam, as OCPI names them. Key codes, MAC addresses, tokens the
station made up and card payments do not roam."""

OCPI_TYPES_FOR = {None: ("RFID", "OTHER", "APP_USER", "AD_HOC_USER"), "ISO14443": ("RFID",),
                  "ISO15693": ("RFID",), "eMAID": ("OTHER", "RFID"), "Central": ("APP_USER", "AD_HOC_USER")}
"""Which OCPI token types an idToken a station presents may be, most likely first (OCPP 1.6
idTags have no type: an RFID card first)."""

OCPP_STATUS_OF = {
    "ALLOWED": AuthorizationStatus.ACCEPTED,
    "BLOCKED": AuthorizationStatus.BLOCKED,
    "EXPIRED": AuthorizationStatus.EXPIRED,
    "NO_CREDIT": AuthorizationStatus.INVALID,
    "NOT_ALLOWED": AuthorizationStatus.INVALID,
}

REMEMBERED = 30.0
"""Seconds a real-time answer stands for the next decision on the same card at the same station."""


# -- our tokens as OCPI Token objects (eMSP role) ---------------------------------------------------


def ocpi_type(ocpp_type: str | None) -> str | None:
    """The OCPI TokenType of one of our tokens, or None when it does not roam."""
    return OCPI_TYPE_OF.get(ocpp_type or "")


def contract_id(country_code: str, party_id: str, token_id: int) -> str:
    """The token's contract id in eMA ID form (eMI3): country, provider, 'C' and eight
    characters made from the token's row id (base 36), no check digit: "KZ-SLK-C0000001A"."""
    digits, number = "", token_id
    while number:
        number, rest = divmod(number, 36)
        digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"[rest] + digits
    return f"{country_code.upper()}-{party_id.upper()}-C{digits.rjust(8, '0')}"


def our_token(row: IdToken, identity: RoamingIdentity, *, whitelist: str, language: str | None = None,
              now: datetime | None = None) -> dict[str, Any] | None:
    """One of our tokens as the OCPI Token object a CPO receives, or None when it does not roam.
    Valid while the registry accepts it and it has not expired; RFID cards have the configured
    whitelist, app tokens NEVER (OCPI advises real-time only for them)."""
    kind = ocpi_type(row.type)
    if kind is None or len(row.token) > 36:
        return None
    now = now or utcnow()
    expires = row.expires_at
    if expires is not None and expires.tzinfo is None:
        expires = expires.replace(tzinfo=now.tzinfo)
    valid = row.status == AuthorizationStatus.ACCEPTED.value and (expires is None or expires > now)
    contract = contract_id(identity.country_code, identity.party_id, row.id)
    token: dict[str, Any] = {
        "country_code": identity.country_code.upper(),
        "party_id": identity.party_id.upper(),
        "uid": row.token,
        "type": kind,
        "contract_id": contract,
        "visual_number": contract,
        "issuer": identity.business_name[:64],
        "valid": valid,
        "whitelist": "NEVER" if kind in ("APP_USER", "AD_HOC_USER") else whitelist,
        "last_updated": ocpi_datetime(row.updated_at or row.created_at),
    }
    if row.group_id and len(row.group_id) <= 36:
        token["group_id"] = row.group_id
    if language and len(language) >= 2:
        token["language"] = language[:2].lower()
    return token


def _last_updated(model=IdToken):
    return func.coalesce(model.updated_at, model.created_at)


async def _emsp_identity(session: AsyncSession) -> RoamingIdentity | None:
    """The tenant in scope as an eMSP, if it is one."""
    return await session.scalar(select(RoamingIdentity).where(RoamingIdentity.role == "EMSP")
                                .order_by(RoamingIdentity.id).limit(1))


async def _languages(session: AsyncSession, token_ids: list[int]) -> dict[int, str]:
    """The preferred language of the drivers who own these tokens."""
    if not token_ids:
        return {}
    rows = await session.execute(select(DriverToken.id_token_id, Driver.language)
                                 .join(Driver, Driver.id == DriverToken.driver_id)
                                 .where(DriverToken.id_token_id.in_(token_ids)))
    return {token_id: language for token_id, language in rows.all() if language}


def _roaming_types() -> tuple[str, ...]:
    return tuple(OCPI_TYPE_OF)


class TokenPublisher:
    """Pushes our tokens to every registered partner with a tokens RECEIVER endpoint (a CPO),
    through the outbox: called after a token is created or changed (api/operator.py)."""

    def __init__(self, settings: Settings, sessions: async_sessionmaker, outbox: Outbox) -> None:
        self._settings = settings
        self._sessions = sessions
        self._outbox = outbox

    async def publish(self, tokens: list[str]) -> list[int]:
        """Enqueue a PUT of each of these tokens (by idToken) for each partner CPO of the
        tenant in scope; the outbox ids. Nothing when the tenant is no eMSP or has no CPO
        partner, or the token does not roam."""
        return await self.enqueue(await self.pushes(tokens))

    async def pushes(self, tokens: list[str], *, withdrawn: bool = False) -> tuple[int | None, list[Push]]:
        """The tenant and the PUTs that publish these tokens as they are stored now. `withdrawn`:
        they are about to be deleted, and OCPI deletes no token, so they go out `valid: false`
        (built before the deletion, enqueued after it commits)."""
        async with self._sessions() as session:
            identity = await _emsp_identity(session)
            if identity is None:
                return None, []
            partners = [p for p in (await session.scalars(select(RoamingPartner).where(
                RoamingPartner.state == REGISTERED))).all()
                if PartnerService.endpoint(p, "tokens", "RECEIVER") is not None
                and any(role.get("role") == "CPO" for role in p.roles or [])]
            if not partners:
                return None, []
            rows = list((await session.scalars(select(IdToken).where(IdToken.token.in_(tokens)))).all())
            languages = await _languages(session, [row.id for row in rows])
        pushes = []
        for row in rows:
            token = our_token(row, identity, whitelist=self._settings.ocpi_token_whitelist,
                              language=languages.get(row.id))
            if token is None:
                continue
            if withdrawn:
                token.update(valid=False, last_updated=ocpi_datetime(utcnow()))
            key = "/".join(quote(part, safe="") for part in (token["country_code"], token["party_id"], token["uid"]))
            path = f"{key}?type={token['type']}"
            pushes += [Push(partner.id, "tokens", f"{key}/{token['type']}", "PUT", path, token)
                       for partner in partners]
        return identity.tenant_id, pushes

    async def enqueue(self, built: tuple[int | None, list[Push]]) -> list[int]:
        tenant_id, pushes = built
        if not pushes:
            return []
        return await self._outbox.enqueue_after_commit(pushes, tenant_id=tenant_id)


# -- partners' tokens as we store them (CPO role) --------------------------------------------------


def _text(token: dict, field: str, size: int, *, required: bool = True) -> str | None:
    value = token.get(field)
    if value is None:
        if required:
            raise OcpiError(Status.INVALID_PARAMETERS, f"{field} is required")
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > size or not value.isprintable():
        raise OcpiError(Status.INVALID_PARAMETERS, f"{field} must be a text of 1 to {size} printable characters")
    return value


def _choice(token: dict, field: str, choices: tuple[str, ...], *, required: bool = True) -> str | None:
    value = token.get(field)
    if value is None and not required:
        return None
    if value not in choices:
        raise OcpiError(Status.INVALID_PARAMETERS, f"{field} must be one of {', '.join(choices)}")
    return value


def check_token(token: Any) -> dict[str, Any]:
    """A partner's Token object as the values of a `roaming_tokens` row; OcpiError 2001 naming
    the first field that is missing or wrong."""
    if not isinstance(token, dict):
        raise OcpiError(Status.INVALID_PARAMETERS, "the body must be a Token object")
    country_code = _text(token, "country_code", 2)
    party_id = _text(token, "party_id", 3)
    if len(country_code) != 2 or not country_code.isalpha():
        raise OcpiError(Status.INVALID_PARAMETERS, "country_code must be two letters (ISO 3166-1 alpha-2)")
    valid = token.get("valid")
    if not isinstance(valid, bool):
        raise OcpiError(Status.INVALID_PARAMETERS, "valid must be true or false")
    if "last_updated" not in token or not isinstance(token["last_updated"], str):
        raise OcpiError(Status.INVALID_PARAMETERS, "last_updated is required (an RFC 3339 date and time)")
    energy = token.get("energy_contract")
    if energy is not None:
        if not isinstance(energy, dict):
            raise OcpiError(Status.INVALID_PARAMETERS, "energy_contract must be an object")
        energy = {"supplier_name": _text(energy, "supplier_name", 64)}
        if token["energy_contract"].get("contract_id") is not None:
            energy["contract_id"] = _text(token["energy_contract"], "contract_id", 64)
    language = _text(token, "language", 2, required=False)
    if language is not None and (len(language) != 2 or not language.isalpha()):
        raise OcpiError(Status.INVALID_PARAMETERS, "language must be an ISO 639-1 code of two letters")
    uid = _text(token, "uid", 36)
    return {
        "country_code": country_code.upper(),
        "party_id": party_id.upper(),
        "uid": uid,
        "uid_key": uid.upper(),
        "type": _choice(token, "type", TOKEN_TYPES),
        "contract_id": _text(token, "contract_id", 36),
        "visual_number": _text(token, "visual_number", 64, required=False),
        "issuer": _text(token, "issuer", 64),
        "group_id": _text(token, "group_id", 36, required=False),
        "valid": valid,
        "whitelist": _choice(token, "whitelist", WHITELIST_TYPES),
        "language": language,
        "default_profile_type": _choice(token, "default_profile_type", PROFILE_TYPES, required=False),
        "energy_contract": energy,
        "last_updated": parse_ocpi_datetime(token["last_updated"], "last_updated"),
    }


STORED_FIELDS = ("country_code", "party_id", "uid", "type", "contract_id", "visual_number", "issuer", "group_id",
                 "valid", "whitelist", "language", "default_profile_type", "energy_contract")


def stored_token(row: RoamingToken) -> dict[str, Any]:
    """A stored partner token as the OCPI Token object (absent optional fields left out)."""
    token = {field: getattr(row, field) for field in STORED_FIELDS if getattr(row, field) is not None}
    token["last_updated"] = ocpi_datetime(row.last_updated)
    return token


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=utcnow().tzinfo)


def _type_parameter(request: Request) -> str:
    kind = request.query_params.get("type", DEFAULT_TYPE)
    if kind not in TOKEN_TYPES:
        raise OcpiError(Status.INVALID_PARAMETERS, f"type must be one of {', '.join(TOKEN_TYPES)}")
    return kind


def _their_party(caller: Caller, country_code: str, party_id: str) -> None:
    if not caller.is_party(country_code, party_id):
        raise OcpiError(Status.INVALID_PARAMETERS,
                        f"{country_code}/{party_id} is not a party of the calling platform: it may push only its own tokens")


def _same_ids(token: dict, country_code: str, party_id: str, token_uid: str, kind: str) -> None:
    """The object's ids must be the URL's: a token is never moved to another party or uid."""
    for field, expected in (("country_code", country_code), ("party_id", party_id), ("uid", token_uid),
                            ("type", kind)):
        if field in token and (not isinstance(token[field], str) or token[field].upper() != expected.upper()):
            raise OcpiError(Status.INVALID_PARAMETERS, f"{field} {token[field]!r} differs from the URL's {expected!r}")


async def _stored(session: AsyncSession, country_code: str, party_id: str, token_uid: str,
                  kind: str) -> RoamingToken | None:
    return await session.scalar(select(RoamingToken).where(
        RoamingToken.country_code == country_code.upper(), RoamingToken.party_id == party_id.upper(),
        RoamingToken.uid_key == token_uid.upper(), RoamingToken.type == kind))


def _unknown(token_uid: str) -> OcpiError:
    return OcpiError(Status.UNKNOWN_TOKEN, f"unknown token {token_uid}", http_status=404)


cpo_router = APIRouter(prefix="/tokens", tags=["ocpi-tokens"])


@cpo_router.get("/{country_code}/{party_id}/{token_uid}")
async def get_token(country_code: str, party_id: str, token_uid: str, request: Request,
                    caller: Caller = Depends(ocpi_caller)):
    """The token as we store it (the eMSP checking our copy)."""
    kind = _type_parameter(request)
    _their_party(caller, country_code, party_id)
    async with request.app.state.roaming.sessions() as session:
        row = await _stored(session, country_code, party_id, token_uid, kind)
    if row is None:
        raise _unknown(token_uid)
    return ocpi_response(stored_token(row))


@cpo_router.put("/{country_code}/{party_id}/{token_uid}")
async def put_token(country_code: str, party_id: str, token_uid: str, request: Request,
                    body: Any = Body(None), caller: Caller = Depends(ocpi_caller)):
    """A new or changed token of the eMSP's: stored unless ours is newer (then acknowledged
    and ignored, so a late retry never undoes a later change)."""
    kind = _type_parameter(request)
    _their_party(caller, country_code, party_id)
    if isinstance(body, dict):
        _same_ids(body, country_code, party_id, token_uid, kind)
    values = check_token(body)
    return await _keep(request, caller, values, None)


@cpo_router.patch("/{country_code}/{party_id}/{token_uid}")
async def patch_token(country_code: str, party_id: str, token_uid: str, request: Request,
                      body: Any = Body(None), caller: Caller = Depends(ocpi_caller)):
    """Some fields of a token we hold; last_updated is required. The whole token is checked
    again after the change."""
    kind = _type_parameter(request)
    _their_party(caller, country_code, party_id)
    if not isinstance(body, dict) or not body:
        raise OcpiError(Status.INVALID_PARAMETERS, "the body must be an object with the fields that changed")
    if "last_updated" not in body:
        raise OcpiError(Status.INVALID_PARAMETERS, "last_updated is required in a PATCH")
    _same_ids(body, country_code, party_id, token_uid, kind)
    async with request.app.state.roaming.sessions() as session:
        row = await _stored(session, country_code, party_id, token_uid, kind)
    if row is None:
        raise _unknown(token_uid)
    values = check_token({**stored_token(row), **body})
    return await _keep(request, caller, values, row.id)


async def _keep(request: Request, caller: Caller, values: dict[str, Any], row_id: int | None):
    async with request.app.state.roaming.sessions.begin() as session:
        row = await _stored(session, values["country_code"], values["party_id"], values["uid"], values["type"])
        if row is not None and _aware(row.last_updated) > values["last_updated"]:
            return ocpi_response(None, message="a newer version of this token is stored; this one was ignored")
        if row is None:
            row = RoamingToken(partner_id=caller.partner_id, tenant_id=caller.tenant_id, **values)
            session.add(row)
        else:
            for field, value in values.items():
                setattr(row, field, value)
            row.partner_id = caller.partner_id
        row.received_at = utcnow()
    return ocpi_response(None)


# -- our tokens for partner CPOs (eMSP role: SENDER) ---------------------------------------------------


emsp_router = APIRouter(prefix="/tokens", tags=["ocpi-tokens"])


@emsp_router.get("")
async def list_tokens(request: Request, page: Page = Depends(), caller: Caller = Depends(ocpi_caller)):
    """Our drivers' tokens that roam, oldest change first, paginated, by last_updated window."""
    roaming = request.app.state.roaming
    query = select(IdToken).where(IdToken.type.in_(_roaming_types()), func.length(IdToken.token) <= 36)
    if page.date_from is not None:
        query = query.where(_last_updated() >= page.date_from)
    if page.date_to is not None:
        query = query.where(_last_updated() < page.date_to)
    async with roaming.sessions() as session:
        identity = await _emsp_identity(session)
        if identity is None:
            return ocpi_response([], headers=page.headers(request, 0))
        total = await session.scalar(select(func.count()).select_from(query.subquery()))
        rows = list((await session.scalars(query.order_by(_last_updated(), IdToken.id)
                                           .offset(page.offset).limit(page.limit))).all())
        languages = await _languages(session, [row.id for row in rows])
    whitelist = roaming.settings.ocpi_token_whitelist
    tokens = [our_token(row, identity, whitelist=whitelist, language=languages.get(row.id)) for row in rows]
    return ocpi_response([t for t in tokens if t is not None], headers=page.headers(request, int(total or 0)))


def check_location(body: Any) -> dict[str, Any] | None:
    """The LocationReferences of an authorize request (None when absent); 2001 when malformed."""
    if body is None or body == {}:
        return None
    if not isinstance(body, dict):
        raise OcpiError(Status.INVALID_PARAMETERS, "the body must be a LocationReferences object")
    location = {"location_id": _text(body, "location_id", 36)}
    for field in ("evse_uids", "connector_ids"):
        items = body.get(field)
        if items is None:
            continue
        if not isinstance(items, list) or any(not isinstance(i, str) or not i or len(i) > 36 for i in items):
            raise OcpiError(Status.INVALID_PARAMETERS, f"{field} must be a list of texts of 1 to 36 characters")
        location[field] = items
    return location


def allowed_of(row: IdToken, now: datetime | None = None) -> str:
    """Whether one of our tokens may charge, as OCPI's Allowed says it."""
    now = now or utcnow()
    status = row.status
    expires = row.expires_at
    if expires is not None and _aware(expires) <= now:
        return "EXPIRED"
    return {"Accepted": "ALLOWED", "Blocked": "BLOCKED", "Expired": "EXPIRED"}.get(status, "BLOCKED")


@emsp_router.post("/{token_uid}/authorize")
async def authorize_token(token_uid: str, request: Request, body: Any = Body(None),
                          caller: Caller = Depends(ocpi_caller)):
    """Real-time authorization of one of our tokens at a partner CPO's charger: AuthorizationInfo,
    or 2004 (HTTP 404) for a token we do not issue."""
    kind = _type_parameter(request)
    location = check_location(body)
    roaming = request.app.state.roaming
    async with roaming.sessions() as session:
        identity = await _emsp_identity(session)
        row = await session.scalar(select(IdToken).where(IdToken.token == token_uid))
        if row is None:  # OCPI compares uids case-insensitively; the registry as written first
            row = await session.scalar(select(IdToken).where(func.upper(IdToken.token) == token_uid.upper()).limit(1))
        if identity is None or row is None or ocpi_type(row.type) != kind:
            raise _unknown(token_uid)
        languages = await _languages(session, [row.id])
    token = our_token(row, identity, whitelist=roaming.settings.ocpi_token_whitelist, language=languages.get(row.id))
    if token is None:
        raise _unknown(token_uid)
    allowed = allowed_of(row)
    info: dict[str, Any] = {"allowed": allowed, "token": token}
    if allowed == "ALLOWED":
        info["authorization_reference"] = uuid.uuid4().hex
        if location is not None:
            info["location"] = location
    return ocpi_response(info)


ENDPOINTS = [
    ("tokens", "RECEIVER", "/cpo/2.2.1/tokens"),
    ("tokens", "SENDER", "/emsp/2.2.1/tokens"),
]


# -- deciding on a partner's token at our charger (CPO role) --------------------------------------------


class RoamingTokenAuthority:
    """services.ports.RoamingAuthority over the tokens eMSP partners pushed and their real-time
    authorization (the whitelist rules in this module's docstring)."""

    def __init__(self, settings: Settings, sessions: async_sessionmaker, partners: PartnerService, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._settings = settings
        self._sessions = sessions
        self._partners = partners
        self._clock = clock
        self._remembered: dict[tuple[int | None, str, str | None], tuple[float, RoamingDecision]] = {}
        self.commanded: Callable[[str, str], Awaitable[Any]] | None = None
        """Whether a partner's START_SESSION named this token at this station lately
        (roaming/commands.py `CommandDesk.commanded_start`, set by app.py): OCPI 2.2.1 lets the
        eMSP vouch for its token by sending the command, so no stored copy or real-time call is
        needed for the start it asked for."""

    async def authorize(self, id_token: str, token_type: str | None, station_id: str | None,
                        evse_id: int | None) -> RoamingDecision | None:
        if self.commanded is not None and station_id is not None:
            started = await self.commanded(id_token, station_id)
            if started is not None:
                return _commanded_decision(started)
        key = (current_tenant(), id_token.upper(), station_id)
        remembered = self._remembered.pop(key, None)
        if remembered is not None and remembered[0] > self._clock():
            return remembered[1]
        async with self._sessions() as session:
            token = await self._token(session, id_token, token_type)
            if token is None:
                return None
            partner = await session.get(RoamingPartner, token.partner_id)
            if partner is None or partner.state != REGISTERED:
                return None  # no roaming agreement any more: its drivers' cards are strangers' again
            location = await _location(session, station_id, evse_id) if station_id else None
        decision = await self._decide(token, partner, location)
        if decision.decided_by == "realtime":
            self._forget_stale()
            self._remembered[key] = (self._clock() + REMEMBERED, decision)
        return decision

    async def _token(self, session: AsyncSession, id_token: str, token_type: str | None) -> RoamingToken | None:
        kinds = OCPI_TYPES_FOR.get(token_type, OCPI_TYPES_FOR[None])
        found = list((await session.scalars(select(RoamingToken).where(
            RoamingToken.uid_key == id_token.upper(), RoamingToken.type.in_(kinds)))).all())
        found.sort(key=lambda row: (kinds.index(row.type), -_aware(row.last_updated).timestamp()))
        return found[0] if found else None

    async def _decide(self, token: RoamingToken, partner: RoamingPartner,
                      location: dict[str, Any] | None) -> RoamingDecision:
        if token.whitelist == "ALWAYS":
            return self._decision(token, "whitelist", self._stored_status(token, allows=True))
        answer = await self._ask(token, partner, location)
        if answer is not None:
            return answer
        # The eMSP did not answer: the whitelist says whether the stored copy may decide.
        return self._decision(token, "offline", self._stored_status(token, allows=token.whitelist != "NEVER"))

    @staticmethod
    def _stored_status(token: RoamingToken, *, allows: bool) -> AuthorizationStatus:
        if not allows:
            return AuthorizationStatus.INVALID
        return AuthorizationStatus.ACCEPTED if token.valid else AuthorizationStatus.INVALID

    def _decision(self, token: RoamingToken, decided_by: str, status: AuthorizationStatus,
                  reference: str | None = None) -> RoamingDecision:
        return RoamingDecision(
            status=status, partner_id=token.partner_id, roaming_token_id=token.id,
            country_code=token.country_code, party_id=token.party_id, token_uid=token.uid, token_type=token.type,
            contract_id=token.contract_id, decided_by=decided_by, authorization_reference=reference,
            group_id=token.group_id,
        )

    async def _ask(self, token: RoamingToken, partner: RoamingPartner,
                   location: dict[str, Any] | None) -> RoamingDecision | None:
        """The eMSP's real-time answer, or None when it gave none in time."""
        base = PartnerService.endpoint(partner, "tokens", "SENDER")
        if base is None:
            return None
        url = f"{base.rstrip('/')}/{quote(token.uid, safe='')}/authorize?type={token.type}"
        try:
            client = await self._partners.client_for(partner)
        except Exception as failure:
            log.warning("cannot call roaming partner %s to authorize a token: %s", partner.id, failure)
            return None
        try:
            data, _response = await asyncio.wait_for(client.post(url, json=location),
                                                     timeout=self._settings.ocpi_authorize_timeout)
        except OcpiPeerError as refusal:
            if int(refusal.status) == Status.UNKNOWN_TOKEN or refusal.http_status == 404:
                return self._decision(token, "realtime", AuthorizationStatus.INVALID)  # the eMSP does not know it
            log.warning("roaming partner %s refused the authorization of a token: %s", partner.id, refusal)
            return None
        except (asyncio.TimeoutError, Exception) as failure:  # unreachable, slow, garbled: no answer
            log.warning("roaming partner %s did not answer an authorization in time: %s", partner.id,
                        type(failure).__name__)
            return None
        finally:
            await client.aclose()
        allowed = data.get("allowed") if isinstance(data, dict) else None
        if allowed not in ALLOWED_TYPES:
            log.warning("roaming partner %s answered an authorization without a known 'allowed'", partner.id)
            return None
        reference = data.get("authorization_reference")
        reference = reference if isinstance(reference, str) and 0 < len(reference) <= 36 else None
        return self._decision(token, "realtime", OCPP_STATUS_OF[allowed], reference)

    def _forget_stale(self) -> None:
        now = self._clock()
        for key in [key for key, (until, _) in self._remembered.items() if until <= now]:
            del self._remembered[key]


async def _location(session: AsyncSession, station_id: str, evse_id: int | None) -> dict[str, Any] | None:
    """LocationReferences of a station (its site is the OCPI location) and EVSE."""
    code = await session.scalar(select(Site.code).join(Station, Station.site_id == Site.id)
                                .where(Station.id == station_id))
    if code is None:
        return None
    location: dict[str, Any] = {"location_id": code[:36]}
    if evse_id:
        location["evse_uids"] = [evse_uid(station_id, evse_id)[:36]]
    return location


__all__ = ["ENDPOINTS", "RoamingTokenAuthority", "TokenPublisher", "check_token", "cpo_router", "emsp_router",
           "our_token"]


def _commanded_decision(started: Any) -> RoamingDecision:
    """The start a partner's START_SESSION asked for, accepted on the eMSP's word: the token the
    command carried becomes the transaction's roaming token, decided "command"."""
    token = started.token
    return RoamingDecision(
        status=AuthorizationStatus.ACCEPTED, partner_id=started.partner_id, roaming_token_id=None,
        country_code=str(token.get("country_code", ""))[:2], party_id=str(token.get("party_id", ""))[:3],
        token_uid=str(token.get("uid", ""))[:36], token_type=str(token.get("type", "OTHER"))[:12],
        contract_id=str(token.get("contract_id", ""))[:36], decided_by="command",
        authorization_reference=started.authorization_reference,
    )
