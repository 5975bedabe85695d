"""Who is calling under /ocpi: the roaming partner whose token is in the Authorization header.

OCPI 2.2.1 sends `Authorization: Token <base64 of the token>`. A peer that still sends the
token as it is (the 2.1.1 habit) is understood too: a token that does not decode is looked
up as written, so leniency costs nothing and a garbled token simply matches no partner.

`ocpi_caller` is the door of every module endpoint: only a REGISTERED partner (its token C)
passes; the request then runs in that partner's tenant scope (store/tenancy.py), as
api/principals.py does for operators, so the services below see only that tenant's rows.
The credentials and versions endpoints accept more (token A of an invited partner, or the
token of a partner mid-registration): roaming/credentials.py has its own door for them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from fastapi import Request

from silkcharge.roaming.wire import OcpiError, Status
from silkcharge.store.tenancy import tenant_scope

UNAUTHORIZED = 401


@dataclass(frozen=True)
class PartyRole:
    """One party of a partner: a country code, a party id and the role it plays ("CPO",
    "EMSP", "HUB", ...)."""

    country_code: str
    party_id: str
    role: str


@dataclass(frozen=True)
class Caller:
    """An authenticated roaming partner."""

    partner_id: int
    tenant_id: int
    roles: tuple[PartyRole, ...]

    def is_party(self, country_code: str, party_id: str) -> bool:
        """Whether the partner speaks for this party (case-insensitive, as OCPI compares)."""
        country, party = country_code.upper(), party_id.upper()
        return any(r.country_code.upper() == country and r.party_id.upper() == party for r in self.roles)


def token_digest(token: str) -> str:
    """What is stored of a token a partner calls us with: its SHA-256, hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def presented_tokens(request: Request) -> list[str]:
    """The tokens the Authorization header may mean, most likely first: the base64-decoded
    one (2.2.1), then the text as sent (2.1.1). Empty when there is no `Token` header."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() != "token" or not value:
        return []
    candidates = []
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        decoded = ""
    if decoded and decoded.isprintable():
        candidates.append(decoded)
    candidates.append(value)
    return candidates


def unauthorized(message: str = "missing or unknown token") -> OcpiError:
    return OcpiError(Status.CLIENT_ERROR, message, http_status=UNAUTHORIZED)


async def ocpi_caller(request: Request) -> AsyncIterator[Caller]:
    """FastAPI dependency (`Depends(ocpi_caller)`): the registered partner calling, with the
    request in its tenant's scope; HTTP 401 with OCPI 2000 otherwise. X-Request-ID and
    X-Correlation-ID are echoed on every /ocpi answer by roaming/http.py."""
    roaming = request.app.state.roaming
    caller = await roaming.partners.caller_for(presented_tokens(request))
    if caller is None:
        raise unauthorized()
    request.state.ocpi_caller = caller
    request.state.tenant_id = caller.tenant_id
    with tenant_scope(caller.tenant_id):
        yield caller
