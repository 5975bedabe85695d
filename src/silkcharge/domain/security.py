"""Station security in the neutral vocabulary: security profiles, the rules a station password
follows, and which configuration keys hold a secret the CSMS must never store, show or log.

The key names are data: OCPP 1.6 configuration keys and 2.0.1 device-model variables (written
`Component.Variable`, as the rest of silkcharge stores them). A new secret is one more entry.
"""

from __future__ import annotations

import re
import secrets
import string
from typing import Any, Literal

from pydantic import BaseModel, Field

PROFILES = (1, 2, 3)
"""1: Basic auth (ws or wss); 2: TLS with Basic auth; 3: TLS with a client certificate."""
REDACTED = "(redacted)"

# (component, variable) of each secret; a 1.6 key is a variable without a component.
SECRET_SETTINGS: frozenset[tuple[str | None, str]] = frozenset({
    (None, "AuthorizationKey"),  # 1.6 security whitepaper: the Basic-auth password, hex encoded
    ("SecurityCtrlr", "BasicAuthPassword"),  # 2.0.1: the Basic-auth password
})
# A stored 2.0.1 key: Component[instance]@evse.Variable[instance] (ocpp/v201.py `_variable_key`).
_KEY = re.compile(r"^(?:(?P<component>[^.\[@]+)(?:\[[^\]]*\])?(?:@\d+)?\.)?(?P<variable>[^.\[]+)(?:\[[^\]]*\])?$")

PASSWORD_RULE = r"^[A-Za-z0-9*\-_=:+|@.]{16,40}$"
"""16 to 40 characters of OCPP's identifierString: what 2.0.1 allows for BasicAuthPassword."""
_GENERATED_LENGTH = 20  # also the most a 1.6 AuthorizationKey carries (20 bytes, 40 hex digits)


def is_secret(component: str | None, variable: str) -> bool:
    """Whether a 1.6 key (component None) or a 2.0.1 variable holds a secret. OCPP names are
    compared without regard to case, as stations write them in either."""
    wanted = (component.lower() if component else None, variable.lower())
    return any((c.lower() if c else None, v.lower()) == wanted for c, v in SECRET_SETTINGS)


def is_secret_key(key: str) -> bool:
    """Whether a stored configuration key ('AuthorizationKey', 'SecurityCtrlr.BasicAuthPassword')
    holds a secret."""
    match = _KEY.match(key)
    if match is None:
        return False
    return is_secret(match["component"], match["variable"])


def redact_configuration(values: dict[str, Any] | None) -> dict[str, Any] | None:
    """The configuration with every secret's value replaced by REDACTED (its key stays, so an
    operator sees that the station has one)."""
    if not values:
        return values
    return {key: REDACTED if is_secret_key(key) else value for key, value in values.items()}


def new_station_password() -> str:
    """A random password that fits both versions' rules: 20 letters and digits (about 119 bits)."""
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(_GENERATED_LENGTH))


class PasswordRotation(BaseModel):
    """A new Basic-auth password for a station (OCPP 2.0.1 A01, 1.6 AuthorizationKey)."""

    model_config = {"extra": "forbid"}
    password: str | None = Field(
        default=None, pattern=PASSWORD_RULE,
        description="16-40 letters, digits or *-_=:+|@. (1.6 stations take at most 20); "
        "none: a random one is made and never shown",
    )


class ProfileUpgrade(BaseModel):
    """Raise a station's security profile (OCPP 2.0.1 A05, 1.6 security whitepaper)."""

    model_config = {"extra": "forbid"}
    profile: Literal[2, 3]
    configuration_slot: int | None = Field(
        default=None, ge=0, le=99,
        description="2.0.1: the network profile slot to write (default: the first not in use)",
    )
    ocpp_interface: Literal[
        "Wired0", "Wired1", "Wired2", "Wired3", "Wireless0", "Wireless1", "Wireless2", "Wireless3"
    ] = Field(default="Wired0", description="2.0.1: the interface of the new network profile")
