"""The version-neutral command vocabulary: what an operator can ask of any station.

Each adapter turns a command into its own OCPP call and reads the station's reply back into
one shape, so the API, the console and the CLI never ask which version a station speaks.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
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
    """Hold an EVSE (2.0.1) or connector (1.6, where each connector is an EVSE) for one token;
    evse_id 0 holds the whole station (1.6 connectorId 0, 2.0.1 ReserveNow without evseId)."""

    reservation_id: int = Field(ge=0)
    evse_id: int = Field(ge=0)
    connector_id: int | None = Field(default=None, ge=1)
    id_token: str = Field(min_length=1, max_length=20)
    expires_at: datetime


class CancelReservation(CommandParams):
    reservation_id: int = Field(ge=0)


class SchedulePeriodIn(BaseModel):
    model_config = {"extra": "forbid"}
    start_period: int = Field(ge=0, description="seconds from the schedule's start")
    limit: Decimal = Field(ge=0, description="in the schedule's unit (A or W), one decimal is sent")
    number_phases: int | None = Field(default=None, ge=1, le=3)


class ChargingScheduleIn(BaseModel):
    model_config = {"extra": "forbid"}
    rate_unit: Literal["A", "W"] = "A"
    periods: list[SchedulePeriodIn] = Field(min_length=1)
    start_schedule: datetime | None = None
    duration: int | None = Field(default=None, gt=0)
    min_charging_rate: Decimal | None = Field(default=None, ge=0)


class ChargingProfileIn(BaseModel):
    """A charging profile in the neutral vocabulary (smart/profiles.py checks the specs' rules)."""

    model_config = {"extra": "forbid"}
    id: int = Field(ge=1)
    stack_level: int = Field(default=0, ge=0)
    purpose: Literal[
        "ChargingStationMaxProfile", "ChargingStationExternalConstraints", "TxDefaultProfile", "TxProfile"
    ]
    kind: Literal["Absolute", "Recurring", "Relative"] = "Relative"
    recurrency: Literal["Daily", "Weekly"] | None = None
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    transaction_id: str | None = Field(
        default=None, max_length=36,
        description="TxProfile only: the transaction as the station knows it (the API's station_tx_id)",
    )
    schedule: ChargingScheduleIn


class SetChargingProfile(CommandParams):
    evse_id: int = Field(ge=0, description="0: the whole station (station maximum, TxDefault for all)")
    profile: ChargingProfileIn


class ClearChargingProfile(CommandParams):
    """Clear by id, or by any combination of EVSE, purpose and stack level (none: everything)."""

    profile_id: int | None = Field(default=None, ge=1)
    evse_id: int | None = Field(default=None, ge=0)
    purpose: Literal[
        "ChargingStationMaxProfile", "ChargingStationExternalConstraints", "TxDefaultProfile", "TxProfile"
    ] | None = None
    stack_level: int | None = Field(default=None, ge=0)


class GetCompositeSchedule(CommandParams):
    evse_id: int = Field(ge=0)
    duration: int = Field(default=3600, gt=0, le=7 * 86400, description="seconds from now")
    rate_unit: Literal["A", "W"] | None = None


class GetChargingProfiles(CommandParams):
    """OCPP 2.0.1 only: the station answers, then sends ReportChargingProfiles."""

    request_id: int = Field(default=1, ge=0)
    evse_id: int | None = Field(default=None, ge=0)
    purpose: Literal[
        "ChargingStationMaxProfile", "ChargingStationExternalConstraints", "TxDefaultProfile", "TxProfile"
    ] | None = None
    stack_level: int | None = Field(default=None, ge=0)
    profile_ids: list[int] = Field(default_factory=list)


class RunningCost(CommandParams):
    """A session's cost so far for the charger's display (2.0.1 CostUpdated; 1.6 the OCA
    California Pricing DataTransfer RunningCost). Amounts incl. VAT, in the tariff's currency."""

    station_tx_id: str = Field(min_length=1, max_length=36, description="the station's own transaction id")
    total_cost: Decimal = Field(ge=0)
    timestamp: datetime
    meter_wh: int = Field(ge=0)
    charging: bool = True
    kwh_price: Decimal | None = Field(default=None, ge=0)
    hour_price: Decimal | None = Field(default=None, ge=0)
    flat_fee: Decimal | None = Field(default=None, ge=0)
    idle_hour_price: Decimal | None = Field(default=None, ge=0)


class FinalCost(CommandParams):
    """What an ended session costs, for the charger's display (1.6 California Pricing FinalCost;
    2.0.1 carries it in the TransactionEventResponse instead)."""

    station_tx_id: str = Field(min_length=1, max_length=36)
    total_cost: Decimal = Field(ge=0)
    price_text: str = Field(min_length=1, max_length=500)


class UserPrice(CommandParams):
    """The prices that apply to this driver, shown when they identify (1.6 SetUserPrice)."""

    id_token: str = Field(min_length=1, max_length=20)
    price_text: str = Field(min_length=1, max_length=500)


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
    "set_charging_profile": SetChargingProfile,
    "clear_charging_profile": ClearChargingProfile,
    "get_composite_schedule": GetCompositeSchedule,
    "get_charging_profiles": GetChargingProfiles,
    "running_cost": RunningCost,
    "final_cost": FinalCost,
    "user_price": UserPrice,
}


class CommandNotSupported(Exception):
    """The command has no equivalent in the station's protocol version."""
