"""OCPP 2.0.1 device model of a simulated station: components, variables, Get/Set and reports.

Only the Actual attribute is modelled. Variables the station acts on are bound to its
`Tunables`; live ones (availability, problems, list size) are read from its state when asked.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from silkcharge.sim.device_management import (
    PRECONFIGURED,
    Display,
    Monitor,
    Monitors,
    StationManagement,
    display_languages,
)
from silkcharge.sim.state import ConnectorState, ConnectorStatus, setting_text, setting_value

if TYPE_CHECKING:
    from silkcharge.sim.charger import SimulatedCharger

RO, RW = "ReadOnly", "ReadWrite"
MEASURANDS = (
    "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage,SoC,"
    "Energy.Active.Export.Register,Power.Active.Export,Power.Offered,Frequency,Temperature"
)


@dataclass
class Variable:
    component: str
    name: str
    mutability: str
    data_type: str  # OCPP DataEnumType
    value: str = ""
    evse: int | None = None
    connector: int | None = None
    variable_instance: str | None = None
    unit: str | None = None
    values_list: str | None = None
    bound_to: str | None = None  # a Tunables attribute
    live: Callable[[], str] | None = None
    write: Callable[[str], bool] | None = None  # applies a new value; False: Rejected
    monitorable: bool = False  # SetVariableMonitoring may watch it (N04)

    def component_dict(self) -> dict:
        component: dict = {"name": self.component}
        if self.evse is not None:
            component["evse"] = {"id": self.evse}
            if self.connector is not None:
                component["evse"]["connector_id"] = self.connector
        return component

    def variable_dict(self) -> dict:
        variable = {"name": self.name}
        if self.variable_instance is not None:
            variable["instance"] = self.variable_instance
        return variable


class DeviceModel:
    def __init__(
        self, charger: SimulatedCharger, variables: list[Variable], management: StationManagement,
    ) -> None:
        self._tunables = charger.tunables
        self.variables = variables
        self.event_ids = itertools.count(1)  # NotifyEvent eventId, unique per station
        self.management = management

    def read(self, v: Variable) -> str:
        if v.live is not None:
            return v.live()
        if v.bound_to is not None:
            return setting_text(getattr(self._tunables, v.bound_to))
        return v.value

    def find(self, component: dict, variable: dict) -> Variable | str:
        """The variable addressed, or GetVariableStatus UnknownComponent / UnknownVariable."""
        evse = component.get("evse") or {}
        in_component = [
            v for v in self.variables
            if v.component == component["name"]
            and v.evse == evse.get("id")
            and v.connector == evse.get("connector_id")
        ]
        if not in_component:
            return "UnknownComponent"
        for v in in_component:
            if v.name == variable["name"] and v.variable_instance == variable.get("instance"):
                return v
        return "UnknownVariable"

    def get(self, component: dict, variable: dict, attribute_type: str | None = None) -> dict:
        found = self.find(component, variable)
        result = {"component": component, "variable": variable,
                  "attribute_type": attribute_type or "Actual"}
        if isinstance(found, str):
            return {**result, "attribute_status": found}
        if (attribute_type or "Actual") != "Actual":
            return {**result, "attribute_status": "NotSupportedAttributeType"}
        if found.mutability == "WriteOnly":
            return {**result, "attribute_status": "Rejected"}
        return {**result, "attribute_status": "Accepted", "attribute_value": self.read(found)}

    def set(self, component: dict, variable: dict, value: str,
            attribute_type: str | None = None) -> dict:
        found = self.find(component, variable)
        result = {"component": component, "variable": variable,
                  "attribute_type": attribute_type or "Actual"}
        if isinstance(found, str):
            return {**result, "attribute_status": found}
        if (attribute_type or "Actual") != "Actual":
            return {**result, "attribute_status": "NotSupportedAttributeType"}
        if found.mutability == RO or not _valid(found, value):
            return {**result, "attribute_status": "Rejected"}
        if found.write is not None:
            return {**result, "attribute_status": "Accepted" if found.write(value) else "Rejected"}
        if found.bound_to is not None:
            setattr(self._tunables, found.bound_to,
                    setting_value(value, found.data_type == "boolean"))
        else:
            found.value = value
        return {**result, "attribute_status": "Accepted"}

    def report(self, base: str) -> list[dict]:
        """ReportData for GetBaseReport: Configuration-, Full- or SummaryInventory."""
        if base == "ConfigurationInventory":
            chosen = [v for v in self.variables if v.mutability == RW]
        elif base == "SummaryInventory":
            chosen = [v for v in self.variables if v.name in ("AvailabilityState", "Problem")]
        else:
            chosen = self.variables
        return [self._report_data(v) for v in chosen]

    def custom_report(self, criteria: list[str], component_variables: list[dict]) -> list[dict]:
        """ReportData for GetReport (B08): the variables named (a component named without a
        variable: all of its variables; none named: all), of components that meet every
        criterion."""
        chosen = [v for v in self.variables
                  if (not component_variables or any(_names(cv, v) for cv in component_variables))
                  and all(self._meets(v, criterion) for criterion in criteria)]
        return [self._report_data(v) for v in chosen]

    def _meets(self, v: Variable, criterion: str) -> bool:
        """A component meets Active, Available, Enabled or Problem when its variable of that
        name is true; one without such a variable is taken as active, available and enabled,
        and without a problem."""
        for other in self.variables:
            if (other.component, other.evse, other.connector, other.name) == (v.component, v.evse, v.connector, criterion):
                return self.read(other) == "true"
        return criterion != "Problem"

    def monitoring_refusal(self, component: dict, variable: dict) -> str | None:
        """Why a monitor cannot watch this variable (SetMonitoringStatus), or None."""
        found = self.find(component, variable)
        if isinstance(found, str):
            return found
        return None if found.monitorable else "Rejected"

    def value_of(self, component: dict, variable: dict) -> str | None:
        found = self.find(component, variable)
        return None if isinstance(found, str) else self.read(found)

    def reservations_enabled(self) -> bool:
        found = self.find({"name": "ReservationCtrlr"}, {"name": "Enabled"})
        return not isinstance(found, Variable) or self.read(found) == "true"

    def master_pass_group(self) -> str | None:
        """AuthCtrlr.MasterPassGroupId (C16), or None when it is not set."""
        found = self.find({"name": "AuthCtrlr"}, {"name": "MasterPassGroupId"})
        return (self.read(found) or None) if isinstance(found, Variable) else None

    def measurands(self, name: str) -> list[str]:
        found = self.find({"name": "SampledDataCtrlr"}, {"name": name})
        assert not isinstance(found, str), name
        return [m for m in self.read(found).split(",") if m]

    def _report_data(self, v: Variable) -> dict:
        attribute = {"type": "Actual", "mutability": v.mutability, "persistent": True,
                     "constant": v.mutability == RO and v.live is None}
        if v.mutability != "WriteOnly":
            attribute["value"] = self.read(v)
        characteristics: dict = {"data_type": v.data_type, "supports_monitoring": v.monitorable}
        if v.unit:
            characteristics["unit"] = v.unit
        if v.values_list:
            characteristics["values_list"] = v.values_list
        return {"component": v.component_dict(), "variable": v.variable_dict(),
                "variable_attribute": [attribute], "variable_characteristics": characteristics}


def _names(asked: dict, v: Variable) -> bool:
    """Whether a ComponentVariableType names the variable."""
    component, variable = asked["component"], asked.get("variable")
    evse = component.get("evse")
    if component["name"] != v.component:
        return False
    if evse is not None and (evse["id"] != v.evse
                             or evse.get("connector_id", v.connector) != v.connector):
        return False
    if variable is None:
        return True
    return variable["name"] == v.name and variable.get("instance", v.variable_instance) == v.variable_instance


def station_device_model(charger: SimulatedCharger) -> DeviceModel:
    spec = charger.spec
    variables = [
        Variable("ChargingStation", "Model", RO, "string", spec.model),
        Variable("ChargingStation", "VendorName", RO, "string", spec.vendor),
        Variable("ChargingStation", "SerialNumber", RO, "string", spec.station_id),
        Variable("ChargingStation", "AvailabilityState", RO, "OptionList",
                 values_list="Available,Occupied,Reserved,Unavailable,Faulted",
                 live=lambda: _station_state(charger), monitorable=True),
        Variable("ChargingStation", "Available", RO, "boolean",
                 live=lambda: _bool(any(c.operative for c in charger.connectors))),
        Variable("Controller", "FirmwareVersion", RO, "string", spec.firmware_version),
        Variable("OCPPCommCtrlr", "HeartbeatInterval", RW, "integer", unit="s",
                 bound_to="heartbeat_interval"),
        Variable("OCPPCommCtrlr", "MessageTimeout", RW, "integer", "30", unit="s",
                 variable_instance="Default"),
        Variable("OCPPCommCtrlr", "MessageAttempts", RW, "integer", "3",
                 variable_instance="TransactionEvent"),
        Variable("OCPPCommCtrlr", "MessageAttemptInterval", RW, "integer", "60", unit="s",
                 variable_instance="TransactionEvent"),
        Variable("OCPPCommCtrlr", "NetworkConfigurationPriority", RW, "SequenceList",
                 live=charger.network.priority_text, write=charger.network.set_priority),
        Variable("OCPPCommCtrlr", "ActiveNetworkProfile", RO, "integer",
                 live=lambda: str(charger.network.priority[0])),
        Variable("OCPPCommCtrlr", "NetworkProfileConnectionAttempts", RW, "integer", "3"),
        Variable("OCPPCommCtrlr", "OfflineThreshold", RW, "integer", "60", unit="s"),
        Variable("OCPPCommCtrlr", "ResetRetries", RW, "integer", "1"),
        Variable("OCPPCommCtrlr", "UnlockOnEVSideDisconnect", RW, "boolean", "true"),
        Variable("OCPPCommCtrlr", "WebSocketPingInterval", RW, "integer", "20", unit="s"),
        Variable("OCPPCommCtrlr", "FileTransferProtocols", RO, "MemberList", "HTTP,HTTPS",
                 values_list="FTP,FTPS,HTTP,HTTPS,SFTP"),
        Variable("SampledDataCtrlr", "Enabled", RW, "boolean", "true"),
        Variable("SampledDataCtrlr", "TxStartedMeasurands", RW, "MemberList",
                 "Energy.Active.Import.Register", values_list=MEASURANDS),
        Variable("SampledDataCtrlr", "TxUpdatedMeasurands", RW, "MemberList",
                 _default_measurands(charger), values_list=MEASURANDS),
        Variable("SampledDataCtrlr", "TxUpdatedInterval", RW, "integer", unit="s",
                 bound_to="meter_interval"),
        Variable("SampledDataCtrlr", "TxEndedMeasurands", RW, "MemberList",
                 "Energy.Active.Import.Register", values_list=MEASURANDS),
        Variable("SampledDataCtrlr", "TxEndedInterval", RW, "integer", "0", unit="s"),
        Variable("AlignedDataCtrlr", "Measurands", RW, "MemberList",
                 "Energy.Active.Import.Register", values_list=MEASURANDS),
        Variable("AlignedDataCtrlr", "Interval", RW, "integer", "0", unit="s"),
        Variable("AuthCtrlr", "Enabled", RW, "boolean", "true"),
        Variable("AuthCtrlr", "AuthorizeRemoteStart", RW, "boolean",
                 bound_to="authorize_remote_start"),
        Variable("AuthCtrlr", "LocalAuthorizeOffline", RW, "boolean",
                 bound_to="local_authorize_offline"),
        Variable("AuthCtrlr", "LocalPreAuthorize", RW, "boolean", "false"),
        Variable("AuthCtrlr", "OfflineTxForUnknownIdEnabled", RW, "boolean", "false"),
        # C16: tokens of this group may stop any transaction but start none ("" : no master pass).
        Variable("AuthCtrlr", "MasterPassGroupId", RW, "string", ""),
        Variable("ReservationCtrlr", "Enabled", RW, "boolean", "true"),
        Variable("ReservationCtrlr", "Available", RO, "boolean", "true"),
        Variable("ReservationCtrlr", "NonEvseSpecific", RO, "boolean", "true"),
        Variable("AuthCacheCtrlr", "Enabled", RW, "boolean", bound_to="auth_cache_enabled"),
        Variable("AuthCacheCtrlr", "LifeTime", RW, "integer", "86400", unit="s"),
        Variable("LocalAuthListCtrlr", "Enabled", RW, "boolean",
                 bound_to="local_auth_list_enabled"),
        Variable("LocalAuthListCtrlr", "Entries", RO, "integer",
                 live=lambda: str(len(charger.local_list.entries))),
        Variable("LocalAuthListCtrlr", "ItemsPerMessage", RO, "integer", "100"),
        Variable("LocalAuthListCtrlr", "BytesPerMessage", RO, "integer", "16384"),
        Variable("TxCtrlr", "EVConnectionTimeOut", RW, "integer", "60", unit="s"),
        Variable("TxCtrlr", "StopTxOnEVSideDisconnect", RW, "boolean", "true"),
        Variable("TxCtrlr", "StopTxOnInvalidId", RW, "boolean", "true"),
        Variable("TxCtrlr", "TxStartPoint", RW, "MemberList", "Authorized,PowerPathClosed",
                 values_list="ParkingBayOccupancy,EVConnected,Authorized,DataSigned,"
                             "PowerPathClosed,EnergyTransfer"),
        Variable("TxCtrlr", "TxStopPoint", RW, "MemberList", "EVConnected,Authorized",
                 values_list="ParkingBayOccupancy,EVConnected,Authorized,DataSigned,"
                             "PowerPathClosed,EnergyTransfer"),
        Variable("DeviceDataCtrlr", "ItemsPerMessage", RO, "integer", "20",
                 variable_instance="GetReport"),
        Variable("DeviceDataCtrlr", "ItemsPerMessage", RO, "integer", "50",
                 variable_instance="GetVariables"),
        Variable("DeviceDataCtrlr", "ItemsPerMessage", RO, "integer", "50",
                 variable_instance="SetVariables"),
        Variable("ClockCtrlr", "TimeSource", RW, "SequenceList", "Heartbeat"),
        Variable("SecurityCtrlr", "SecurityProfile", RO, "integer",
                 live=lambda: str(charger.network.security_profile)),
        Variable("SecurityCtrlr", "BasicAuthPassword", "WriteOnly", "string",
                 write=lambda value: charger.network.set_password(value.encode()) == "Accepted"),
        Variable("SmartChargingCtrlr", "Enabled", RO, "boolean", "true"),
        Variable("SmartChargingCtrlr", "RateUnit", RO, "MemberList", "A,W", values_list="A,W"),
        Variable("SmartChargingCtrlr", "PeriodsPerSchedule", RO, "integer", "96"),
        Variable("SmartChargingCtrlr", "ProfileStackLevel", RO, "integer", "10"),
        Variable("SmartChargingCtrlr", "LimitChangeSignificance", RW, "decimal", "0.1"),
        Variable("SmartChargingCtrlr", "Entries", RO, "integer", variable_instance="ChargingProfiles",
                 live=lambda: str(len(charger.profiles.installed))),
    ]
    for c in charger.connectors:
        variables.extend(_connector_variables(c))
    for evse_id in sorted({c.evse_id for c in charger.connectors}):
        on_evse = [c for c in charger.connectors if c.evse_id == evse_id]
        variables.extend(_evse_variables(evse_id, on_evse))
    management = _management(charger)
    variables.extend(_management_variables(charger, management))
    return DeviceModel(charger, variables, management)


# ---- device management: monitoring, display, per-message limits (N, O, B) -----------------------


def _management(charger: SimulatedCharger) -> StationManagement:
    """A station's monitors start with one preconfigured: its total power above its rating."""
    rated_w = int(sum(c.spec.max_power_kw for c in charger.connectors) * 1000)
    over_rating = Monitor(1, {"name": "ChargingStation"}, {"name": "Power"}, "UpperThreshold",
                          float(rated_w * 11 // 10), 4, kind=PRECONFIGURED)
    return StationManagement(Monitors([over_rating]), Display(display_languages(charger.spec.station_id)))


def _management_variables(charger: SimulatedCharger, management: StationManagement) -> list[Variable]:
    languages = management.display.languages
    monitors, display, tariffs = management.monitors, management.display, management.tariffs
    return [
        Variable("ChargingStation", "Power", RO, "decimal", unit="W", monitorable=True,
                 live=lambda: str(int(sum(c.meter.power_w() for c in charger.connectors)))),
        Variable("DisplayMessageCtrlr", "Available", RO, "boolean", "true"),
        Variable("DisplayMessageCtrlr", "DisplayMessages", RO, "integer",
                 live=lambda: str(len(display.messages))),
        Variable("DisplayMessageCtrlr", "SupportedFormats", RO, "MemberList", "ASCII,UTF8",
                 values_list="ASCII,HTML,URI,UTF8"),
        Variable("DisplayMessageCtrlr", "SupportedPriorities", RO, "MemberList",
                 "AlwaysFront,InFront,NormalCycle", values_list="AlwaysFront,InFront,NormalCycle"),
        Variable("DisplayMessageCtrlr", "Language", RW, "OptionList", languages[0],
                 values_list=",".join(languages)),
        Variable("TariffCostCtrlr", "Available", RO, "boolean", "true", variable_instance="Tariff"),
        Variable("TariffCostCtrlr", "Available", RO, "boolean", "true", variable_instance="Cost"),
        Variable("TariffCostCtrlr", "Enabled", RW, "boolean", "true", variable_instance="Tariff"),
        Variable("TariffCostCtrlr", "Enabled", RW, "boolean", "true", variable_instance="Cost"),
        Variable("TariffCostCtrlr", "Currency", RW, "string", _currency(charger)),
        Variable("TariffCostCtrlr", "TariffFallbackMessage", RW, "string",
                 live=lambda: tariffs.fallback, write=tariffs.set_fallback),
        Variable("TariffCostCtrlr", "TotalCostFallbackMessage", RW, "string",
                 live=lambda: tariffs.total_cost_fallback, write=tariffs.set_total_cost_fallback),
        Variable("MonitoringCtrlr", "Enabled", RO, "boolean", "true"),
        Variable("MonitoringCtrlr", "ActiveMonitoringBase", RO, "OptionList",
                 values_list="All,FactoryDefault,HardWiredOnly", live=lambda: monitors.base),
        Variable("MonitoringCtrlr", "ActiveMonitoringLevel", RO, "integer", live=lambda: str(monitors.level)),
        Variable("MonitoringCtrlr", "ItemsPerMessage", RO, "integer", "10",
                 variable_instance="SetVariableMonitoring"),
        Variable("MonitoringCtrlr", "ItemsPerMessage", RO, "integer", "10",
                 variable_instance="ClearVariableMonitoring"),
        Variable("MonitoringCtrlr", "BytesPerMessage", RO, "integer", "4096",
                 variable_instance="SetVariableMonitoring"),
        Variable("DeviceDataCtrlr", "BytesPerMessage", RO, "integer", "8192",
                 variable_instance="GetVariables"),
        Variable("DeviceDataCtrlr", "BytesPerMessage", RO, "integer", "8192",
                 variable_instance="SetVariables"),
    ]


# The currency of a station's country (station ids begin with the country code, as the seed
# network names them).
_CURRENCIES = {"KZ": "KZT", "UZ": "UZS", "KG": "KGS", "TJ": "TJS", "CN": "CNY", "TM": "TMT"}


def _currency(charger: SimulatedCharger) -> str:
    return _CURRENCIES.get(charger.spec.station_id[:2].upper(), "KZT")


def _evse_variables(evse_id: int, connectors: list[ConnectorState]) -> list[Variable]:
    power_w = str(int(max(c.spec.max_power_kw for c in connectors) * 1000))
    return [
        Variable("EVSE", "AvailabilityState", RO, "OptionList", evse=evse_id,
                 values_list="Available,Occupied,Reserved,Unavailable,Faulted",
                 live=lambda: _evse_state(connectors), monitorable=True),
        Variable("EVSE", "Available", RO, "boolean", evse=evse_id,
                 live=lambda: _bool(any(c.operative for c in connectors))),
        Variable("EVSE", "Power", RO, "decimal", power_w, evse=evse_id, unit="W"),
    ]


def _connector_variables(c: ConnectorState) -> list[Variable]:
    at = {"evse": c.evse_id, "connector": c.connector_id}
    return [
        Variable("Connector", "AvailabilityState", RO, "OptionList", **at,
                 values_list="Available,Occupied,Reserved,Unavailable,Faulted",
                 live=lambda: wire_status(c.status), monitorable=True),
        Variable("Connector", "Available", RO, "boolean", **at, live=lambda: _bool(c.operative)),
        Variable("Connector", "ConnectorType", RO, "string", c.spec.standard.ocpp201, **at),
        Variable("Connector", "Problem", RO, "boolean", **at,
                 live=lambda: _bool(c.fault is not None), monitorable=True),
    ]


def wire_status(status: ConnectorStatus) -> str:
    """2.0.1 ConnectorStatusEnumType: every in-use 1.6 status is Occupied."""
    if status in (ConnectorStatus.AVAILABLE, ConnectorStatus.UNAVAILABLE, ConnectorStatus.FAULTED,
                  ConnectorStatus.RESERVED):
        return status.value
    return "Occupied"


def _evse_state(connectors: list[ConnectorState]) -> str:
    states = {wire_status(c.status) for c in connectors}
    for state in ("Occupied", "Faulted", "Available"):
        if state in states:
            return state
    return "Unavailable"


def _station_state(charger: SimulatedCharger) -> str:
    return "Available" if any(c.operative for c in charger.connectors) else "Unavailable"


def _default_measurands(charger: SimulatedCharger) -> str:
    measurands = "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage"
    if any(c.meter.current_type.value == "DC" for c in charger.connectors) or charger.spec.ocpp_version == "2.1":
        measurands += ",SoC"
    if charger.spec.ocpp_version == "2.1":  # a 2.1 station meters what a bidirectional car gives back
        measurands += ",Energy.Active.Export.Register,Power.Active.Export"
    return measurands


def _valid(v: Variable, value: str) -> bool:
    text = value.strip()
    if v.data_type == "integer":
        return text.lstrip("-").isdigit() and (v.unit != "s" or int(text) >= 0)
    if v.data_type == "boolean":
        return text.lower() in ("true", "false")
    if v.data_type in ("MemberList", "SequenceList") and v.values_list:
        allowed = set(v.values_list.split(","))
        return all(item in allowed for item in text.split(",") if item)
    if v.data_type == "OptionList" and v.values_list:
        return text in v.values_list.split(",")
    return True


def _bool(value: bool) -> str:
    return "true" if value else "false"
