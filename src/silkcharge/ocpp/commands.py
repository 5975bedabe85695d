"""The version-neutral command vocabulary: what an operator can ask of any station.

Each adapter turns a command into its own OCPP call and reads the station's reply back into
one shape, so the API, the console and the CLI never ask which version a station speaks.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class CommandParams(BaseModel):
    model_config = {"extra": "forbid"}


class RemoteStart(CommandParams):
    id_token: str = Field(min_length=1, max_length=20)
    evse_id: int | None = Field(default=None, ge=1)
    connector_id: int | None = Field(default=None, ge=1)
    remote_start_id: int | None = Field(default=None, ge=0)


class RemoteStop(CommandParams):
    transaction_id: int = Field(description="silkcharge transaction id (as listed by the API)")


class Reset(CommandParams):
    type: Literal["soft", "hard"] = "soft"


class UnlockConnector(CommandParams):
    evse_id: int = Field(ge=1)
    connector_id: int = Field(default=1, ge=1)


class ChangeAvailability(CommandParams):
    operative: bool
    evse_id: int = Field(default=0, ge=0, description="0 means the whole station")
    connector_id: int | None = Field(default=None, ge=1)


class GetConfiguration(CommandParams):
    keys: list[str] = Field(
        default_factory=list,
        description="1.6 keys ('HeartbeatInterval'); 2.0.1 'Component.Variable' "
        "('OCPPCommCtrlr.HeartbeatInterval'); empty asks a 1.6 station for everything",
    )


class SetConfiguration(CommandParams):
    key: str = Field(min_length=1, max_length=100)
    value: str = Field(max_length=1000)


class ClearCache(CommandParams):
    pass


class TriggerMessage(CommandParams):
    message: Literal[
        "BootNotification",
        "Heartbeat",
        "StatusNotification",
        "MeterValues",
        "FirmwareStatusNotification",
        "DiagnosticsStatusNotification",
        "LogStatusNotification",
    ]
    evse_id: int | None = Field(default=None, ge=1)
    connector_id: int | None = Field(default=None, ge=1)


class UpdateFirmware(CommandParams):
    location: str = Field(min_length=1, max_length=512)
    retrieve_at: datetime
    retries: int | None = Field(default=None, ge=0)
    retry_interval: int | None = Field(default=None, ge=0)
    request_id: int = Field(default=1, ge=0)


class GetDiagnostics(CommandParams):
    location: str = Field(min_length=1, max_length=512)
    start: datetime | None = None
    stop: datetime | None = None
    request_id: int = Field(default=1, ge=0)


class LocalListEntry(BaseModel):
    id_token: str = Field(min_length=1, max_length=20)
    status: Literal["Accepted", "Blocked", "Expired", "Invalid"] | None = Field(
        default="Accepted", description="None removes the entry in a differential update"
    )
    expires_at: datetime | None = None


class SendLocalList(CommandParams):
    version: int = Field(ge=1)
    update_type: Literal["full", "differential"] = "full"
    entries: list[LocalListEntry] = Field(default_factory=list)


class GetLocalListVersion(CommandParams):
    pass


class DataTransfer(CommandParams):
    vendor_id: str = Field(min_length=1, max_length=255)
    message_id: str | None = Field(default=None, max_length=50)
    data: str | None = None


class GetBaseReport(CommandParams):
    report: Literal["ConfigurationInventory", "FullInventory", "SummaryInventory"] = "FullInventory"
    request_id: int = Field(default=1, ge=0)


class ReserveNow(CommandParams):
    """Hold an EVSE (2.0.1) or connector (1.6, where each connector is an EVSE) for one token."""

    reservation_id: int = Field(ge=0)
    evse_id: int = Field(ge=1)
    connector_id: int | None = Field(default=None, ge=1)
    id_token: str = Field(min_length=1, max_length=20)
    expires_at: datetime


class CancelReservation(CommandParams):
    reservation_id: int = Field(ge=0)


COMMANDS: dict[str, type[CommandParams]] = {
    "remote_start": RemoteStart,
    "remote_stop": RemoteStop,
    "reset": Reset,
    "unlock_connector": UnlockConnector,
    "change_availability": ChangeAvailability,
    "get_configuration": GetConfiguration,
    "set_configuration": SetConfiguration,
    "clear_cache": ClearCache,
    "trigger_message": TriggerMessage,
    "update_firmware": UpdateFirmware,
    "get_diagnostics": GetDiagnostics,
    "send_local_list": SendLocalList,
    "get_local_list_version": GetLocalListVersion,
    "data_transfer": DataTransfer,
    "get_base_report": GetBaseReport,
    "reserve_now": ReserveNow,
    "cancel_reservation": CancelReservation,
}


class CommandNotSupported(Exception):
    """The command has no equivalent in the station's protocol version."""
