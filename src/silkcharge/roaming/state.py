"""What the OCPI routers need from the platform, in one object: built by app.py, kept by the
API as `app.state.roaming`, read by every module as `request.app.state.roaming`.

Modules of other parts (locations, tariffs, the push outbox) add their services as fields
with a default, so the wiring grows without breaking those who build it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import async_sessionmaker

from silkcharge.bus.local import EventBus
from silkcharge.domain.clock import utcnow
from silkcharge.domain.events import PartnerObjectReceived
from silkcharge.settings import Settings

if TYPE_CHECKING:
    from silkcharge.roaming.charging_profiles import ProfileDesk, ProfileSender
    from silkcharge.roaming.commands import CommandDesk, CommandSender
    from silkcharge.roaming.driver_start import DriverStarts
    from silkcharge.roaming.partners import PartnerService
    from silkcharge.roaming.pull import PartnerPull
    from silkcharge.roaming.tokens import TokenPublisher


@dataclass
class Roaming:
    settings: Settings
    sessions: async_sessionmaker
    bus: EventBus
    partners: PartnerService
    token_owners: Any = field(default=None)
    """Which eMSP partner owns the token of a transaction at our stations (roaming/session_push.py
    `TokenOwners`); set by app.py."""
    tokens: TokenPublisher | None = None
    """Our drivers' tokens pushed to partner CPOs (roaming/tokens.py); the operator API calls it
    when a token is created or changed."""
    commands: CommandDesk | None = None
    """Partners' commands to our chargers (roaming/commands.py, CPO role)."""
    command_sender: CommandSender | None = None
    """Our commands to partners' chargers (roaming/commands.py, eMSP role)."""
    charging_profiles: ProfileDesk | None = None
    """Partners' charging profiles for their drivers' sessions at our chargers
    (roaming/charging_profiles.py, CPO role)."""
    profile_sender: ProfileSender | None = None
    """Our charging profile requests for our drivers' sessions at partners' chargers
    (roaming/charging_profiles.py, eMSP role)."""
    driver_starts: DriverStarts | None = None
    """Our drivers' starts at partners' chargers from the app (roaming/driver_start.py)."""
    pull: PartnerPull | None = None
    """Partners' locations and tariffs pulled when an operator asks (roaming/pull.py)."""
    retry_partner: Callable[[int], Awaitable[None]] | None = None
    """Send a partner's waiting pushes now, its backoff forgotten (roaming/outbox.py
    `OutboxSender.retry_now`): called when a hub reports one of its parties CONNECTED again."""

    def received(self, partner_id: int, module: str, object_id: str) -> None:
        """Tell live views that a partner CPO's object about our driver changed what we hold;
        called by the eMSP receivers once it is committed."""
        self.bus.publish(PartnerObjectReceived("", utcnow(), partner_id, module, object_id))
