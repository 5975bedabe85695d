"""What the services need from the adapters at the edge, as interfaces the adapters implement.

Services never import the OCPP package: they hold a `ProtocolAdapter` per version (handed to
them by the composition root) and ask it to build a neutral command's CALL, or what a station's
stored configuration says. `ocpp/adapter.py` implements it once per version.

Likewise they never import the roaming package: a token no registry knows is asked of a
`RoamingAuthority` (roaming/tokens.py implements it), handed to TransactionService by app.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from silkcharge.domain.charging import AuthorizationStatus
from silkcharge.domain.commands import CommandParams


@dataclass(frozen=True)
class OutboundCall:
    """A CALL ready to send in a station's own version, and how to read its reply back into
    the neutral shape (`status`, `values`, ...)."""

    action: str
    payload: dict[str, Any]
    read: Callable[[dict[str, Any]], dict[str, Any]] | None = None


class ProtocolAdapter(Protocol):
    version: str

    def can_build(self, name: str) -> bool:
        """Whether this version has an equivalent of the neutral command `name`."""
        ...

    async def build(self, name: str, params: CommandParams, context: dict[str, Any]) -> OutboundCall:
        """The CALL for a neutral command; raises `CommandNotSupported` where there is none."""
        ...

    def knows_action(self, action: str) -> bool:
        """Whether `action` is a CSMS-initiated action of this version (for raw calls)."""
        ...

    def profile_facts(self, configuration: dict[str, Any]) -> dict[str, tuple[Any, str]]:
        """What a station's stored configuration says of the station-profile facts
        (domain/station_profiles.py), as fact -> (value, the key it was read from)."""
        ...

    def profile_keys(self, fact: str) -> tuple[str, ...]:
        """The configuration keys that tell `fact` (to ask a station that has not said)."""
        ...

    def split(self, call: OutboundCall, configuration: dict[str, Any]) -> list[OutboundCall]:
        """The call as the station can take it: several CALLs where its stored configuration
        limits the items or bytes per message (2.0.1 ItemsPerMessage, BytesPerMessage); raises
        ValueError when even one item is too large."""
        ...

    def join(self, call: OutboundCall, replies: list[dict[str, Any]]) -> dict[str, Any]:
        """The replies to the CALLs `split` made, as the one reply of `call`."""
        ...


@dataclass(frozen=True)
class RoamingDecision:
    """What roaming says of a token the registry does not know: a roaming partner's driver's
    (status as OCPP answers it), whose it is and how it was decided. The transaction started
    with it keeps `partner_id` and the token (store/schema.py RoamingTransaction)."""

    status: AuthorizationStatus
    partner_id: int
    roaming_token_id: int | None
    country_code: str
    party_id: str
    token_uid: str
    token_type: str
    contract_id: str
    decided_by: str
    """"whitelist", "realtime", "offline" or "command" (a partner's START_SESSION vouched for it)."""
    authorization_reference: str | None = None
    expires_at: datetime | None = None
    group_id: str | None = None


class RoamingAuthority(Protocol):
    """Who is asked about a token the registry does not know (roaming/tokens.py implements it
    over the tokens eMSP partners pushed and their real-time authorization). Only unknown tokens
    reach it: our own drivers' tokens cost nothing extra."""

    async def authorize(
        self, id_token: str, token_type: str | None, station_id: str | None, evse_id: int | None,
    ) -> RoamingDecision | None:
        """The decision for `id_token` (its OCPP type, if the station said) at that station and
        EVSE, in the station's tenant scope; None when no roaming partner knows the token.
        Bounded in time: it never keeps a station waiting past the OCPP call's timeout."""
        ...
