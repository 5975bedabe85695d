"""How a simulated station reaches its CSMS: its network connection profiles (2.0.1 slots and
their priority; a 1.6 station has its ws endpoint and, once raised to profile 2 or 3, its wss
endpoint), its security profile, the CA it trusts for wss, its own client certificate
(profile 3) and its Basic-auth password.

What a CSMS can change here, as a real charger allows it:
- a new password (2.0.1 SecurityCtrlr.BasicAuthPassword, 1.6 AuthorizationKey hex encoded):
  used from the next connection on, which the station opens at once;
- a higher security profile (2.0.1 SetNetworkProfile + NetworkConfigurationPriority, 1.6
  SecurityProfile): used from the next boot on. A lower one is refused, and so is profile 3
  without a client certificate or a wss endpoint without one to go to.

A station that cannot connect on its preferred profile `attempts` times in a row falls back to
the next one in priority (OCPP 2.0.1 B10 / A05), and starts from the preferred one again at its
next boot.
"""

from __future__ import annotations

import base64
import ssl
from dataclasses import dataclass
from pathlib import Path

ACCEPTED, REJECTED = "Accepted", "Rejected"


@dataclass(frozen=True)
class ConnectionProfile:
    url: str  # the CSMS endpoint without the station id: ws://... or wss://...
    security_profile: int


class Network:
    def __init__(
        self,
        station_id: str,
        password: str,
        url: str,
        *,
        security_profile: int = 1,
        tls_url: str | None = None,
        ca_file: str | Path | None = None,
        certificate_file: str | Path | None = None,
        key_file: str | Path | None = None,
        attempts: int = 3,
    ) -> None:
        self.station_id = station_id
        self.password = password.encode()
        self.tls_url = tls_url
        self.ca_file = ca_file
        self.certificate_file, self.key_file = certificate_file, key_file
        self.attempts = attempts
        first = ConnectionProfile(tls_url if security_profile > 1 and tls_url else url, security_profile)
        self.slots: dict[int, ConnectionProfile] = {0: first}
        self.priority: list[int] = [0]
        self.security_profile = security_profile  # of the connection that last succeeded
        self._tried = 0  # index into priority of the profile tried now
        self._failures = 0

    # -- connecting --------------------------------------------------------------------------

    def current(self) -> ConnectionProfile:
        return self.slots[self.priority[self._tried % len(self.priority)]]

    def connected(self, profile: ConnectionProfile) -> None:
        self._failures = 0
        self.security_profile = profile.security_profile

    def failed(self) -> None:
        """The current profile did not get a connection: after `attempts`, try the next one."""
        self._failures += 1
        if self._failures >= self.attempts and len(self.priority) > 1:
            self._failures = 0
            self._tried += 1

    def start_over(self) -> None:
        """At boot: the preferred profile first."""
        self._tried = self._failures = 0

    def headers(self, profile: ConnectionProfile) -> dict[str, str]:
        if profile.security_profile >= 3:
            return {}  # the client certificate says who the station is
        credentials = base64.b64encode(self.station_id.encode() + b":" + self.password).decode()
        return {"Authorization": f"Basic {credentials}"}

    def ssl_context(self, profile: ConnectionProfile) -> ssl.SSLContext | None:
        if not profile.url.startswith("wss://"):
            return None
        context = ssl.create_default_context(
            ssl.Purpose.SERVER_AUTH, cafile=str(self.ca_file) if self.ca_file else None
        )
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if profile.security_profile >= 3 and self.certificate_file:
            context.load_cert_chain(str(self.certificate_file), str(self.key_file) if self.key_file else None)
        return context

    # -- what a CSMS may change --------------------------------------------------------------

    def set_password(self, password: bytes) -> str:
        """2.0.1 BasicAuthPassword (16-40 characters) or a decoded 1.6 AuthorizationKey (16-20 bytes)."""
        if not 16 <= len(password) <= 40:
            return REJECTED
        self.password = password
        return ACCEPTED

    def set_authorization_key(self, hex_text: str) -> str:
        try:
            key = bytes.fromhex(hex_text)
        except ValueError:
            return REJECTED
        return self.set_password(key) if len(key) <= 20 else REJECTED

    def set_slot(self, slot: int, url: str, security_profile: int) -> str:
        """2.0.1 SetNetworkProfile: never the slot in use, never below the current profile."""
        active = self.priority[self._tried % len(self.priority)]
        if slot == active or not self._can_use(url, security_profile):
            return REJECTED
        self.slots[slot] = ConnectionProfile(url.rstrip("/"), security_profile)
        return ACCEPTED

    def set_priority(self, text: str) -> bool:
        """2.0.1 OCPPCommCtrlr.NetworkConfigurationPriority: configured slots only."""
        try:
            slots = [int(item) for item in text.split(",") if item.strip()]
        except ValueError:
            return False
        if not slots or any(slot not in self.slots for slot in slots):
            return False
        self.priority = slots
        return True

    def raise_profile(self, security_profile: int) -> str:
        """1.6 SecurityProfile: a higher profile on the wss endpoint, first from the next boot on."""
        url = self.tls_url if security_profile > 1 else self.current().url
        if url is None or not self._can_use(url, security_profile):
            return REJECTED
        slot = max(self.slots) + 1
        self.slots[slot] = ConnectionProfile(url, security_profile)
        self.priority = [slot, *self.priority]
        return ACCEPTED

    def priority_text(self) -> str:
        return ",".join(str(slot) for slot in self.priority)

    def _can_use(self, url: str, security_profile: int) -> bool:
        if security_profile < self.security_profile or security_profile not in (1, 2, 3):
            return False
        if security_profile > 1 and not url.startswith("wss://"):
            return False
        return security_profile < 3 or bool(self.certificate_file)
