"""A driver of ours starts charging at a roaming partner's charger from the app (our eMSP role).

The driver names the place as search shows it (the partner's party, the location id and the
EVSE's uid) and one of their own tokens; we check that the partner published that EVSE to us
and it is not REMOVED, write the token as the OCPI Token object we publish
(roaming/tokens.py `our_token`, so the CPO sees the same token it may have whitelisted), and
send START_SESSION through `CommandSender` (roaming/commands.py), which keeps the command, the
partner's CommandResponse and, when the partner posts it, the CommandResult. The session
itself then arrives as the partner pushes it (roaming/sessions.py).
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from silkcharge.roaming.commands import CommandSender
from silkcharge.roaming.hubclientinfo import UNREACHABLE, party_status
from silkcharge.roaming.tokens import our_token
from silkcharge.store.schema import IdToken, RoamingCommand, RoamingIdentity, RoamingLocation


class NotStartable(LookupError):
    """No such EVSE among the partners' locations we hold (404)."""


class PartyUnreachable(RuntimeError):
    """The partner (a hub) reports the charger's party OFFLINE, PLANNED or SUSPENDED
    (roaming/hubclientinfo.py): a command could not reach it (503)."""


class TokenDoesNotRoam(ValueError):
    """The driver's token cannot be used at partners: no eMSP identity, or a kind of token OCPI
    has no type for (422)."""


class DriverStarts:
    def __init__(self, sessions: async_sessionmaker, sender: CommandSender, whitelist: str) -> None:
        self._sessions = sessions
        self._sender = sender
        self._whitelist = whitelist

    async def start(self, id_token: str, party: str, location_id: str, evse_uid: str) -> RoamingCommand:
        country, _, party_id = party.upper().partition("*")
        async with self._sessions() as session:
            location = await session.scalar(select(RoamingLocation).where(
                RoamingLocation.country_code == country, RoamingLocation.party_id == party_id,
                func.upper(RoamingLocation.location_id) == location_id.upper()))
            token_row = await session.scalar(select(IdToken).where(IdToken.token == id_token))
            identity = await session.scalar(select(RoamingIdentity).where(RoamingIdentity.role == "EMSP")
                                            .order_by(RoamingIdentity.id).limit(1))
            connection = None if location is None else await party_status(
                session, location.partner_id, location.country_code, location.party_id)
        evse = None if location is None else next(
            (e for e in location.body.get("evses") or () if str(e.get("uid", "")).upper() == evse_uid.upper()), None)
        if location is None or evse is None or evse.get("status") == "REMOVED" or not location.publish:
            raise NotStartable(f"no charger {evse_uid} at {party} location {location_id} among our roaming "
                               "partners' stations")
        if connection in UNREACHABLE:
            raise PartyUnreachable(f"{party} is reported {connection} by its roaming partner: the charger cannot "
                                   "be reached now")
        if identity is None or token_row is None:
            raise TokenDoesNotRoam("this network is not set up to charge at partners' stations (no eMSP identity)")
        token = our_token(token_row, identity, whitelist=self._whitelist)
        if token is None:
            raise TokenDoesNotRoam(f"token {id_token} is of a kind that cannot be used at partners' stations")
        return await self._sender.send(location.partner_id, "START_SESSION", {
            "token": token, "location_id": location.location_id, "evse_uid": evse["uid"]})

    async def command_of(self, tokens: list[str], command_id: int) -> RoamingCommand | None:
        """One of the commands sent for these tokens (a driver's own), else None."""
        row = await self._sender.get(command_id)
        return row if row is not None and row.token_uid in tokens else None
