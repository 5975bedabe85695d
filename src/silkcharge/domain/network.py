"""How a station reaches its CSMS: an OCPP 2.0.1 NetworkConnectionProfile (B09) and moving a
station to another CSMS (B10)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator

OcppInterface = Literal["Wired0", "Wired1", "Wired2", "Wired3", "Wireless0", "Wireless1", "Wireless2", "Wireless3"]


class NetworkConnection(BaseModel):
    """The connectionData of a SetNetworkProfile, as an operator gives it. OCPP 2.0.1 over
    JSON; security profile 1 is plain ws://, 2 and 3 are TLS (wss://)."""

    model_config = {"extra": "forbid"}
    ocpp_csms_url: str = Field(
        min_length=6, max_length=512, pattern=r"^wss?://[^\s/?#]+[^\s?#]*$",
        description="the CSMS endpoint without the station's id, e.g. wss://csms.example.kz/ocpp",
    )
    security_profile: Literal[1, 2, 3]
    ocpp_interface: OcppInterface = "Wired0"
    message_timeout: int = Field(default=30, ge=1, le=3600, description="seconds")

    @model_validator(mode="after")
    def _transport_fits_the_profile(self) -> NetworkConnection:
        tls = self.ocpp_csms_url.startswith("wss://")
        if self.security_profile == 1 and tls:
            raise ValueError("security profile 1 is without TLS: use a ws:// URL, or profile 2 or 3 for wss://")
        if self.security_profile > 1 and not tls:
            raise ValueError(f"security profile {self.security_profile} is over TLS: the URL must be wss://")
        return self

    def connection_data(self) -> dict[str, object]:
        """OCPP 2.0.1 NetworkConnectionProfileType."""
        return {
            "ocppVersion": "OCPP20", "ocppTransport": "JSON", "ocppCsmsUrl": self.ocpp_csms_url.rstrip("/"),
            "messageTimeout": self.message_timeout, "securityProfile": self.security_profile,
            "ocppInterface": self.ocpp_interface,
        }


class NetworkProfileSetting(NetworkConnection):
    """B09: write one network connection profile into a slot; nothing else changes."""

    configuration_slot: int = Field(ge=0, le=99, description="the slot to write (not the one in use)")


class CsmsMigration(NetworkConnection):
    """B10: a profile for another CSMS, first in NetworkConfigurationPriority, then a reset."""

    configuration_slot: int | None = Field(
        default=None, ge=0, le=99, description="the slot to write (default: the first not in use)")
