"""What a station holds beyond charging, as silkcharge keeps it: monitors and their events,
display messages, customer information, firmware it publishes, limits set from outside, the
EV's own schedule, and whether transaction messages are still queued (OCPP 2.0.1 blocks N, O,
L, K11-K17 and E14). Each concept is its own module; this one gathers them for the adapters and
the API, and names what they answer when a request cannot be done."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from silkcharge.services.customer_information import CustomerInformationService
    from silkcharge.services.der_control import DerControlService
    from silkcharge.services.device_reports import DeviceReports
    from silkcharge.services.display_messages import DisplayMessageService
    from silkcharge.services.ev_schedules import EvSchedules
    from silkcharge.services.external_limits import ExternalLimits
    from silkcharge.services.firmware_publishing import FirmwarePublishing
    from silkcharge.services.monitoring import MonitoringService
    from silkcharge.services.station_configuration import StationConfiguration
    from silkcharge.services.transaction_status import TransactionStatusChecks


class StationDeclined(Exception):
    """The station answered, and its answer is no (the message names the station's status)."""

    def __init__(self, message: str, status: str | None = None) -> None:
        super().__init__(message)
        self.status = status


class RequestInvalid(ValueError):
    """The request cannot be done as asked (the message says what to change)."""


class UnknownRecord(LookupError):
    """What the request names is not stored (the message says what is missing)."""


@dataclass
class DeviceModelServices:
    monitoring: MonitoringService
    display_messages: DisplayMessageService
    customer_information: CustomerInformationService
    firmware_publishing: FirmwarePublishing
    external_limits: ExternalLimits
    ev_schedules: EvSchedules
    transaction_status: TransactionStatusChecks
    configuration: StationConfiguration
    reports: DeviceReports
    der_control: DerControlService
