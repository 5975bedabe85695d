"""The version-neutral command vocabulary: what an operator can ask of any station.

Each adapter turns a command into its own OCPP call and reads the station's reply back into
one shape, so the API, the console and the CLI never ask which version a station speaks.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

OCPP_INT_MAX = 2**31 - 1
"""OCPP's integers are 32-bit, and the store keeps ids of EVSEs, connectors, reservations and
charging profiles in 32-bit columns: a larger id is refused before it reaches either."""

from silkcharge.domain.tokens import IdTokenType


class CommandParams(BaseModel):
    model_config = {"extra": "forbid"}


class RemoteStart(CommandParams):
    id_token: str = Field(min_length=1, max_length=20)
    id_token_type: IdTokenType | None = Field(
        default=None, description="2.0.1 idToken type; default: the type the token registry holds")
    evse_id: int | None = Field(default=None, ge=1, le=OCPP_INT_MAX)
    connector_id: int | None = Field(default=None, ge=1, le=OCPP_INT_MAX)
    remote_start_id: int | None = Field(default=None, ge=0, le=OCPP_INT_MAX)
    charging_profile: ChargingProfileIn | None = Field(
        default=None,
        description="a TxProfile the station applies to the transaction it starts (1.6 "
        "RemoteStartTransaction.chargingProfile, 2.0.1 RequestStartTransaction.chargingProfile): "
        "purpose TxProfile, no transaction_id (the transaction does not exist yet). None on an "
        "EVSE under load management: silkcharge sends the share it can give at once")

    @field_validator("charging_profile")
    @classmethod
    def start_profile(cls, profile: ChargingProfileIn | None) -> ChargingProfileIn | None:
        if profile is None:
            return None
        if profile.purpose != "TxProfile":
            raise ValueError(f"a remote start carries a TxProfile, not a {profile.purpose}")
        if profile.transaction_id is not None:
            raise ValueError("a remote start's profile has no transaction_id: the station gives it "
                             "the transaction it starts")
        return profile


class RemoteStop(CommandParams):
    transaction_id: int = Field(
        ge=1, le=2**63 - 1, description="silkcharge transaction id (as listed by the API)"
    )


ENERGY_TRANSFER_MODES = (
    "AC_single_phase", "AC_two_phase", "AC_three_phase", "DC", "AC_BPT", "AC_BPT_DER", "AC_DER", "DC_BPT",
    "DC_ACDP", "DC_ACDP_BPT", "WPT",
)


class AllowedEnergyTransfer(CommandParams):
    """OCPP 2.1 NotifyAllowedEnergyTransfer: the modes a running transaction may use (the _BPT
    modes are bidirectional: allowing one lets the car discharge)."""

    transaction_id: int = Field(ge=1, le=2**63 - 1, description="silkcharge transaction id (as listed by the API)")
    modes: list[Literal[ENERGY_TRANSFER_MODES]] = Field(min_length=1, max_length=len(ENERGY_TRANSFER_MODES))  # type: ignore[valid-type]


class Reset(CommandParams):
    type: Literal["soft", "hard"] = "soft"


class UnlockConnector(CommandParams):
    evse_id: int = Field(ge=1, le=OCPP_INT_MAX)
    connector_id: int = Field(default=1, ge=1, le=OCPP_INT_MAX)


class ChangeAvailability(CommandParams):
    operative: bool
    evse_id: int = Field(default=0, ge=0, le=OCPP_INT_MAX, description="0 means the whole station")
    connector_id: int | None = Field(default=None, ge=1, le=OCPP_INT_MAX)


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
        "SignChargingStationCertificate",
        "SignV2GCertificate",
    ]
    evse_id: int | None = Field(default=None, ge=1, le=OCPP_INT_MAX)
    connector_id: int | None = Field(default=None, ge=1, le=OCPP_INT_MAX)


class UpdateFirmware(CommandParams):
    location: str = Field(min_length=1, max_length=512)
    retrieve_at: datetime
    retries: int | None = Field(default=None, ge=0, le=OCPP_INT_MAX)
    retry_interval: int | None = Field(default=None, ge=0, le=OCPP_INT_MAX)
    request_id: int = Field(default=1, ge=0, le=OCPP_INT_MAX)
    signing_certificate: str | None = Field(
        default=None, max_length=5500,
        description="PEM certificate that signed the firmware; with `signature`, a 1.6 station is sent "
        "the security extension's SignedUpdateFirmware",
    )
    signature: str | None = Field(default=None, max_length=800, description="base64 signature of the firmware")
    install_at: datetime | None = None

    @model_validator(mode="after")
    def _signed_together(self) -> UpdateFirmware:
        if (self.signing_certificate is None) != (self.signature is None):
            raise ValueError("signing_certificate and signature go together")
        return self


class GetDiagnostics(CommandParams):
    location: str = Field(min_length=1, max_length=512)
    start: datetime | None = None
    stop: datetime | None = None
    request_id: int = Field(default=1, ge=0, le=OCPP_INT_MAX)
    log_type: Literal["DiagnosticsLog", "SecurityLog"] = Field(
        default="DiagnosticsLog",
        description="SecurityLog needs 2.0.1 or the 1.6 security extension (GetLog)",
    )


class LocalListEntry(BaseModel):
    id_token: str = Field(min_length=1, max_length=20)
    type: IdTokenType | None = Field(
        default=None, description="2.0.1 idToken type; default: the type the token registry holds")
    status: Literal["Accepted", "Blocked", "Expired", "Invalid"] | None = Field(
        default="Accepted", description="None removes the entry in a differential update"
    )
    expires_at: datetime | None = None


class SendLocalList(CommandParams):
    version: int = Field(ge=1, le=OCPP_INT_MAX)
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
    request_id: int = Field(default=1, ge=0, le=OCPP_INT_MAX)


ConnectorType = Literal[
    "cCCS1", "cCCS2", "cG105", "cTesla", "cType1", "cType2", "s309-1P-16A", "s309-1P-32A",
    "s309-3P-16A", "s309-3P-32A", "sBS1361", "sCEE-7-7", "sType2", "sType3", "Other1PhMax16A",
    "Other1PhOver16A", "Other3Ph", "Pan", "wInductive", "wResonant", "Undetermined", "Unknown",
]
"""OCPP 2.0.1 ConnectorEnumType, as its ReserveNow schema lists it."""


class ReserveNow(CommandParams):
    """Hold an EVSE (2.0.1) or connector (1.6, where each connector is an EVSE) for one token;
    evse_id 0 holds the whole station (1.6 connectorId 0, 2.0.1 ReserveNow without evseId)."""

    reservation_id: int = Field(ge=0, le=OCPP_INT_MAX)
    evse_id: int = Field(ge=0, le=OCPP_INT_MAX)
    connector_id: int | None = Field(default=None, ge=1, le=OCPP_INT_MAX)
    id_token: str = Field(min_length=1, max_length=20)
    expires_at: datetime
    id_token_type: IdTokenType | None = Field(
        default=None, description="2.0.1 idToken type; default: the type the token registry holds")
    connector_type: ConnectorType | None = Field(
        default=None, description="2.0.1 only: hold an EVSE with a connector of this type")
    group_id_token: str | None = Field(
        default=None, min_length=1, max_length=36,
        description="a token of this group may use the reservation too (1.6 parentIdTag, 2.0.1 groupIdToken)")


class CancelReservation(CommandParams):
    reservation_id: int = Field(ge=0, le=OCPP_INT_MAX)


MAX_LIMIT = 10**9
"""The largest limit a profile may carry, in A or W (a gigawatt): a larger one is no limit a
station could apply, and a number like 1E+999999 would not survive JSON."""


class SchedulePeriodIn(BaseModel):
    model_config = {"extra": "forbid"}
    start_period: int = Field(
        ge=0, le=OCPP_INT_MAX, description="seconds from the schedule's start"
    )
    limit: Decimal = Field(
        ge=0, le=MAX_LIMIT, description="in the schedule's unit (A or W), one decimal is sent")
    number_phases: int | None = Field(default=None, ge=1, le=3)
    # OCPP 2.1 V2X only (a 1.6 or 2.0.1 station is refused a period that uses them)
    discharge_limit: Decimal | None = Field(
        default=None, ge=-MAX_LIMIT, le=0, description="OCPP 2.1: the most the EV may discharge, 0 or negative")
    setpoint: Decimal | None = Field(
        default=None, ge=-MAX_LIMIT, le=MAX_LIMIT, description="OCPP 2.1: what the EV should follow; negative discharges")
    operation_mode: Literal[
        "Idle", "ChargingOnly", "CentralSetpoint", "ExternalSetpoint", "ExternalLimits", "CentralFrequency",
        "LocalFrequency", "LocalLoadBalancing",
    ] | None = Field(default=None, description="OCPP 2.1 operation mode of the period")


class ChargingScheduleIn(BaseModel):
    model_config = {"extra": "forbid"}
    rate_unit: Literal["A", "W"] = "A"
    periods: list[SchedulePeriodIn] = Field(min_length=1)
    start_schedule: datetime | None = None
    duration: int | None = Field(default=None, gt=0, le=OCPP_INT_MAX)
    min_charging_rate: Decimal | None = Field(default=None, ge=0, le=MAX_LIMIT)

    @model_validator(mode="after")
    def periods_in_order(self) -> ChargingScheduleIn:
        starts = [p.start_period for p in self.periods]
        if starts[0] != 0:
            raise ValueError("the first period must start at 0 (start_period 0)")
        if any(b <= a for a, b in zip(starts, starts[1:])):
            raise ValueError(f"period starts {starts} are not in ascending order")
        return self


class ChargingProfileIn(BaseModel):
    """A charging profile in the neutral vocabulary (smart/profiles.py checks the specs' rules)."""

    model_config = {"extra": "forbid"}
    id: int = Field(ge=1, le=OCPP_INT_MAX)
    stack_level: int = Field(default=0, ge=0, le=OCPP_INT_MAX)
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
    evse_id: int = Field(
        ge=0, le=OCPP_INT_MAX,
        description="0: the whole station (station maximum, TxDefault for all)",
    )
    profile: ChargingProfileIn


class ClearChargingProfile(CommandParams):
    """Clear by id, or by any combination of EVSE, purpose and stack level (none: everything)."""

    profile_id: int | None = Field(default=None, ge=1, le=OCPP_INT_MAX)
    evse_id: int | None = Field(default=None, ge=0, le=OCPP_INT_MAX)
    purpose: Literal[
        "ChargingStationMaxProfile", "ChargingStationExternalConstraints", "TxDefaultProfile", "TxProfile"
    ] | None = None
    stack_level: int | None = Field(default=None, ge=0, le=OCPP_INT_MAX)


class GetCompositeSchedule(CommandParams):
    evse_id: int = Field(ge=0, le=OCPP_INT_MAX)
    duration: int = Field(default=3600, gt=0, le=7 * 86400, description="seconds from now")
    rate_unit: Literal["A", "W"] | None = None


class GetChargingProfiles(CommandParams):
    """OCPP 2.0.1 only: the station answers, then sends ReportChargingProfiles."""

    request_id: int = Field(default=1, ge=0, le=OCPP_INT_MAX)
    evse_id: int | None = Field(default=None, ge=0, le=OCPP_INT_MAX)
    purpose: Literal[
        "ChargingStationMaxProfile", "ChargingStationExternalConstraints", "TxDefaultProfile", "TxProfile"
    ] | None = None
    stack_level: int | None = Field(default=None, ge=0, le=OCPP_INT_MAX)
    profile_ids: list[Annotated[int, Field(ge=0, le=OCPP_INT_MAX)]] = Field(default_factory=list)


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


# -- certificate management (2.0.1 blocks A and M, the 1.6 security extension) ----------------

INSTALLABLE_CERTIFICATES = ("CSMSRootCertificate", "ManufacturerRootCertificate", "V2GRootCertificate",
                            "MORootCertificate")
REPORTED_CERTIFICATES = (*INSTALLABLE_CERTIFICATES, "V2GCertificateChain")


class CertificateSigned(CommandParams):
    """Deliver a signed certificate chain (leaf first, PEM) to the station that asked for it
    with SignCertificate. silkcharge sends it itself for the CSRs its CA signs; an operator sends
    it for a chain signed by an outside CA."""

    certificate_chain: str = Field(min_length=1, max_length=10000)
    certificate_type: Literal["ChargingStationCertificate", "V2GCertificate"] | None = None


class InstallCertificate(CommandParams):
    """Install a root certificate (PEM) in the station's trust store (2.0.1 M05; 1.6 security
    extension InstallCertificate, which knows the CSMS and manufacturer roots only)."""

    certificate: str = Field(min_length=1, max_length=5500)
    certificate_type: Literal[
        "CSMSRootCertificate", "ManufacturerRootCertificate", "V2GRootCertificate", "MORootCertificate"
    ]


class GetInstalledCertificateIds(CommandParams):
    """Ask which certificates the station has (M03); empty asks a 2.0.1 station for every type,
    a 1.6 station takes exactly one type per call."""

    certificate_types: list[Literal[
        "CSMSRootCertificate", "ManufacturerRootCertificate", "V2GRootCertificate", "MORootCertificate",
        "V2GCertificateChain",
    ]] = Field(default_factory=list)


class DeleteCertificate(CommandParams):
    """Delete a certificate from the station, named by OCPP CertificateHashData (M04)."""

    hash_algorithm: Literal["SHA256", "SHA384", "SHA512"] = "SHA256"
    issuer_name_hash: str = Field(min_length=1, max_length=128, pattern="^[0-9a-fA-F]+$")
    issuer_key_hash: str = Field(min_length=1, max_length=128, pattern="^[0-9a-fA-F]+$")
    serial_number: str = Field(min_length=1, max_length=40, pattern="^[0-9a-fA-F]+$")


class SetDefaultTariff(CommandParams):
    """OCPP 2.1 SetDefaultTariff (local cost): one of the operator's published tariffs, named by
    its code, for every driver at an EVSE (0: the whole station). What is sent is the tariff as
    the platform prices it, checked against the caps that bind the station's site first
    (services/station_tariffs.py); a code is all a caller can give, never prices."""

    tariff_code: str = Field(min_length=1, max_length=36)
    evse_id: int = Field(default=0, ge=0, le=OCPP_INT_MAX)


class ChangeTransactionTariff(CommandParams):
    """OCPP 2.1 ChangeTransactionTariff: a running transaction is priced by another published
    tariff from now on (same currency), checked against the caps like SetDefaultTariff."""

    transaction_id: int = Field(ge=1, le=2**63 - 1, description="silkcharge transaction id (as listed by the API)")
    tariff_code: str = Field(min_length=1, max_length=36)


class ClearTariffs(CommandParams):
    """OCPP 2.1 ClearTariffs: the named tariffs (none named: every tariff) off the station, or
    off one EVSE."""

    tariff_codes: list[Annotated[str, Field(min_length=1, max_length=60)]] | None = Field(
        default=None, min_length=1, max_length=100)
    evse_id: int | None = Field(default=None, ge=0, le=OCPP_INT_MAX)


class GetTariffs(CommandParams):
    """OCPP 2.1 GetTariffs: which tariffs the station holds, for an EVSE (0: every EVSE)."""

    evse_id: int = Field(default=0, ge=0, le=OCPP_INT_MAX)


class WebPaymentStarted(CommandParams):
    """OCPP 2.1 NotifyWebPaymentStarted: a driver opened the payment page of an EVSE (the QR
    code on the charger), so the station shows that a payment is under way for `timeout`
    seconds and holds the EVSE for it."""

    evse_id: int = Field(ge=1, le=OCPP_INT_MAX)
    timeout: int = Field(default=300, ge=1, le=3600, description="seconds until no payment result is expected")


# ---- OCPP 2.1 DER control (R04): what a station with a DER (a V2X inverter) does on the grid ----

DER_CONTROL_TYPES = (
    "EnterService", "FreqDroop", "FreqWatt", "FixedPFAbsorb", "FixedPFInject", "FixedVar", "Gradients",
    "HFMustTrip", "HFMayTrip", "HVMustTrip", "HVMomCess", "HVMayTrip", "LimitMaxDischarge", "LFMustTrip",
    "LVMustTrip", "LVMomCess", "LVMayTrip", "PowerMonitoringMustTrip", "VoltVar", "VoltWatt", "WattPF", "WattVar",
)
DER_UNITS = ("Not_Applicable", "PctMaxW", "PctMaxVar", "PctWAvail", "PctVarAvail", "PctEffectiveV")
GRID_EVENT_FAULTS = (
    "CurrentImbalance", "LocalEmergency", "LowInputPower", "OverCurrent", "OverFrequency", "OverVoltage",
    "PhaseRotation", "RemoteEmergency", "UnderFrequency", "UnderVoltage", "VoltageImbalance",
)
# Which settings a control of each type carries (2.1 SetDERControlRequest: one of its sections)
DER_SECTIONS = ("curve", "enter_service", "fixed_pf_absorb", "fixed_pf_inject", "fixed_var", "freq_droop",
                "gradient", "limit_max_discharge")
DER_SECTION_OF: dict[str, str] = {
    **{t: "curve" for t in DER_CONTROL_TYPES},
    "EnterService": "enter_service", "FixedPFAbsorb": "fixed_pf_absorb", "FixedPFInject": "fixed_pf_inject",
    "FixedVar": "fixed_var", "FreqDroop": "freq_droop", "Gradients": "gradient",
    "LimitMaxDischarge": "limit_max_discharge",
}
DerNumber = Annotated[float, Field(allow_inf_nan=False)]
DerPriority = Annotated[int, Field(ge=0, le=OCPP_INT_MAX, description="0 is the highest")]


class DerCurvePoint(BaseModel):
    model_config = {"extra": "forbid"}
    x: DerNumber
    y: DerNumber


class DerHysteresis(BaseModel):
    model_config = {"extra": "forbid"}
    hysteresis_high: DerNumber | None = None
    hysteresis_low: DerNumber | None = None
    hysteresis_delay: DerNumber | None = None
    hysteresis_gradient: DerNumber | None = None


class DerReactivePowerParams(BaseModel):
    model_config = {"extra": "forbid"}
    v_ref: DerNumber | None = None
    autonomous_v_ref_enable: bool | None = None
    autonomous_v_ref_time_constant: DerNumber | None = None


class DerVoltageParams(BaseModel):
    model_config = {"extra": "forbid"}
    hv10_min_mean_value: DerNumber | None = None
    hv10_min_mean_trip_delay: DerNumber | None = None
    power_during_cessation: Literal["Active", "Reactive"] | None = None


class DerTimed(BaseModel):
    model_config = {"extra": "forbid"}
    start_time: datetime | None = Field(default=None, description="when it takes effect (UTC); none: at once")
    duration: DerNumber | None = Field(default=None, ge=0, description="seconds; none: until cleared")

    @field_validator("start_time")
    @classmethod
    def aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("start_time needs a timezone (UTC: a trailing Z)")
        return value


class DerCurve(DerTimed):
    """A curve (volt-watt, volt-var, frequency-watt, trip curves ...): y (in `y_unit`) against x."""

    priority: DerPriority
    y_unit: Literal[DER_UNITS]  # type: ignore[valid-type]
    curve_data: list[DerCurvePoint] = Field(min_length=1, max_length=10)
    hysteresis: DerHysteresis | None = None
    reactive_power_params: DerReactivePowerParams | None = None
    voltage_params: DerVoltageParams | None = None
    response_time: DerNumber | None = Field(default=None, ge=0)


class DerEnterService(BaseModel):
    """When the DER may (re)connect: voltage and frequency window, delay and ramp."""

    model_config = {"extra": "forbid"}
    priority: DerPriority
    high_voltage: DerNumber
    low_voltage: DerNumber
    high_freq: DerNumber
    low_freq: DerNumber
    delay: DerNumber | None = Field(default=None, ge=0)
    random_delay: DerNumber | None = Field(default=None, ge=0)
    ramp_rate: DerNumber | None = Field(default=None, ge=0)


class DerFixedPF(DerTimed):
    priority: DerPriority
    displacement: DerNumber
    excitation: bool


class DerFixedVar(DerTimed):
    priority: DerPriority
    setpoint: DerNumber
    unit: Literal[DER_UNITS]  # type: ignore[valid-type]


class DerFreqDroop(DerTimed):
    priority: DerPriority
    over_freq: DerNumber
    under_freq: DerNumber
    over_droop: DerNumber
    under_droop: DerNumber
    response_time: DerNumber = Field(ge=0)


class DerGradient(BaseModel):
    model_config = {"extra": "forbid"}
    priority: DerPriority
    gradient: DerNumber
    soft_gradient: DerNumber


class DerLimitMaxDischarge(DerTimed):
    """At most this share of the DER's maximum discharge power."""

    priority: DerPriority
    pct_max_discharge_power: DerNumber | None = Field(default=None, ge=0, le=100)
    power_monitoring_must_trip: DerCurve | None = None


class SetDerControl(CommandParams):
    """OCPP 2.1 SetDERControl: one grid-code control on the station's DER (a bidirectional
    charger's inverter). `control_type` says which settings it carries: a curve for the
    curve types (VoltVar, VoltWatt, FreqWatt, WattPF, WattVar and the trip curves), else
    enter_service, fixed_pf_absorb, fixed_pf_inject, fixed_var, freq_droop, gradient (Gradients)
    or limit_max_discharge. `is_default`: a default control, used when no other is active."""

    is_default: bool = False
    control_id: str = Field(min_length=1, max_length=36, description="unique on the station, e.g. a UUID")
    control_type: Literal[DER_CONTROL_TYPES]  # type: ignore[valid-type]
    curve: DerCurve | None = None
    enter_service: DerEnterService | None = None
    fixed_pf_absorb: DerFixedPF | None = None
    fixed_pf_inject: DerFixedPF | None = None
    fixed_var: DerFixedVar | None = None
    freq_droop: DerFreqDroop | None = None
    gradient: DerGradient | None = None
    limit_max_discharge: DerLimitMaxDischarge | None = None

    @model_validator(mode="after")
    def one_section(self) -> SetDerControl:
        wanted = DER_SECTION_OF[self.control_type]
        given = [name for name in DER_SECTIONS if getattr(self, name) is not None]
        if given != [wanted]:
            raise ValueError(f"a {self.control_type} control carries {wanted} and nothing else "
                             f"(given: {', '.join(given) or 'none'})")
        return self

    def settings(self) -> dict:
        """The control's own settings (its one section), as stored."""
        return getattr(self, DER_SECTION_OF[self.control_type]).model_dump(mode="json", exclude_none=True)


class GetDerControl(CommandParams):
    """OCPP 2.1 GetDERControl: the station reports the DER controls it holds (all, or those of
    a type, an id, defaults or not) in ReportDERControl messages for `request_id`."""

    request_id: int = Field(default=0, ge=0, le=OCPP_INT_MAX,
                            description="given by silkcharge when sent through /der-controls/report")
    is_default: bool | None = None
    control_type: Literal[DER_CONTROL_TYPES] | None = None  # type: ignore[valid-type]
    control_id: str | None = Field(default=None, min_length=1, max_length=36)


class ClearDerControl(CommandParams):
    """OCPP 2.1 ClearDERControl: remove the station's DER controls (defaults or scheduled ones),
    all of them or those of a type or an id."""

    is_default: bool = False
    control_type: Literal[DER_CONTROL_TYPES] | None = None  # type: ignore[valid-type]
    control_id: str | None = Field(default=None, min_length=1, max_length=36)


COMMANDS: dict[str, type[CommandParams]] = {
    "remote_start": RemoteStart,
    "remote_stop": RemoteStop,
    "allowed_energy_transfer": AllowedEnergyTransfer,
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
    "certificate_signed": CertificateSigned,
    "install_certificate": InstallCertificate,
    "get_installed_certificate_ids": GetInstalledCertificateIds,
    "delete_certificate": DeleteCertificate,
    "set_default_tariff": SetDefaultTariff,
    "change_transaction_tariff": ChangeTransactionTariff,
    "clear_tariffs": ClearTariffs,
    "get_tariffs": GetTariffs,
    "web_payment_started": WebPaymentStarted,
    "set_der_control": SetDerControl,
    "get_der_control": GetDerControl,
    "clear_der_control": ClearDerControl,
}


class CommandNotSupported(Exception):
    """The command has no equivalent in the station's protocol version."""


# -- device model, display messages, customer information, firmware publishing (issue 13) -------
# OCPP 2.0.1 only (blocks B, N, O, L, E14): a 1.6 adapter has no builder and answers that the
# command has no equivalent in its version.

MONITOR_TYPES = ("UpperThreshold", "LowerThreshold", "Delta", "Periodic", "PeriodicClockAligned")
MESSAGE_PRIORITIES = ("AlwaysFront", "InFront", "NormalCycle")
MESSAGE_STATES = ("Charging", "Faulted", "Idle", "Unavailable")
MESSAGE_FORMATS = ("ASCII", "HTML", "URI", "UTF8")
ID_TOKEN_TYPES = ("Central", "eMAID", "ISO14443", "ISO15693", "KeyCode", "Local", "MacAddress", "NoAuthorization")


class ComponentRef(BaseModel):
    """A device-model component: its name, instance, and the EVSE (and connector) it sits on."""

    model_config = {"extra": "forbid"}
    component: str = Field(min_length=1, max_length=50)
    component_instance: str | None = Field(default=None, min_length=1, max_length=50)
    evse_id: int | None = Field(default=None, ge=0)
    connector_id: int | None = Field(default=None, ge=1)


class VariableRef(ComponentRef):
    variable: str = Field(min_length=1, max_length=50)
    variable_instance: str | None = Field(default=None, min_length=1, max_length=50)


class ComponentCriterion(ComponentRef):
    """A component, or one variable of it, a monitoring report is limited to."""

    variable: str | None = Field(default=None, min_length=1, max_length=50)
    variable_instance: str | None = Field(default=None, min_length=1, max_length=50)


class MonitorIn(VariableRef):
    id: int | None = Field(default=None, ge=0, description="the station's id of a monitor to replace")
    type: Literal[MONITOR_TYPES]  # type: ignore[valid-type]
    value: Decimal = Field(description="threshold, delta, or the period in seconds")
    severity: int = Field(ge=0, le=9, description="0 Danger ... 9 Debug")
    transaction: bool = Field(default=False, description="only while a transaction runs")


class SetVariableMonitoring(CommandParams):
    monitors: list[MonitorIn] = Field(min_length=1)


class ClearVariableMonitoring(CommandParams):
    ids: list[int] = Field(min_length=1, description="the station's monitor ids")


class SetMonitoringBase(CommandParams):
    base: Literal["All", "FactoryDefault", "HardWiredOnly"]


class SetMonitoringLevel(CommandParams):
    severity: int = Field(ge=0, le=9, description="events of this severity and more severe are reported")


class GetReport(CommandParams):
    """B08 Get Custom Report: the variables of these components (all when none is named) that
    meet every criterion (none: any); the station answers with NotifyReport parts."""

    request_id: int = Field(default=1, ge=0, le=OCPP_INT_MAX)
    criteria: list[Literal["Active", "Available", "Enabled", "Problem"]] = Field(
        default_factory=list, max_length=4,
        description="componentCriteria: only components that are active, available, enabled or have a problem")
    components: list[ComponentCriterion] = Field(
        default_factory=list, max_length=100,
        description="componentVariable: these components, or one variable of each")


class GetMonitoringReport(CommandParams):
    request_id: int = Field(default=1, ge=0)
    criteria: list[Literal["ThresholdMonitoring", "DeltaMonitoring", "PeriodicMonitoring"]] = Field(
        default_factory=list, max_length=3
    )
    components: list[ComponentCriterion] = Field(default_factory=list)


class SetDisplayMessage(CommandParams):
    """One message in one language on the station's screen (O01, O02 with a transaction; the
    same id again replaces it, O06)."""

    message_id: int = Field(ge=0)
    priority: Literal[MESSAGE_PRIORITIES] = "NormalCycle"  # type: ignore[valid-type]
    state: Literal[MESSAGE_STATES] | None = None  # type: ignore[valid-type]
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    station_tx_id: str | None = Field(default=None, min_length=1, max_length=36,
                                      description="the station's own transaction id")
    format: Literal[MESSAGE_FORMATS] = "UTF8"  # type: ignore[valid-type]
    language: str | None = Field(default=None, min_length=2, max_length=8, description="RFC 5646, e.g. ru or kk-KZ")
    content: str = Field(min_length=1, max_length=512)
    display: ComponentRef | None = None


class GetDisplayMessages(CommandParams):
    request_id: int = Field(default=1, ge=0)
    ids: list[int] = Field(default_factory=list)
    priority: Literal[MESSAGE_PRIORITIES] | None = None  # type: ignore[valid-type]
    state: Literal[MESSAGE_STATES] | None = None  # type: ignore[valid-type]


class ClearDisplayMessage(CommandParams):
    message_id: int = Field(ge=0)


class CertificateHashIn(BaseModel):
    model_config = {"extra": "forbid"}
    hash_algorithm: Literal["SHA256", "SHA384", "SHA512"]
    issuer_name_hash: str = Field(min_length=1, max_length=128)
    issuer_key_hash: str = Field(min_length=1, max_length=128)
    serial_number: str = Field(min_length=1, max_length=40)


class CustomerInformation(CommandParams):
    """Ask a station what it holds about a customer (N09, `report`), or have it deleted (N10,
    `clear`), naming the customer by idToken, certificate or identifier."""

    request_id: int = Field(default=1, ge=0)
    report: bool = True
    clear: bool = False
    id_token: str | None = Field(default=None, min_length=1, max_length=36)
    id_token_type: Literal[ID_TOKEN_TYPES] = "ISO14443"  # type: ignore[valid-type]
    customer_identifier: str | None = Field(default=None, min_length=1, max_length=64)
    certificate: CertificateHashIn | None = None


class PublishFirmware(CommandParams):
    """Have a local controller download a firmware file and publish it to its stations (L03)."""

    location: str = Field(min_length=1, max_length=512)
    checksum: str = Field(pattern=r"^[0-9A-Fa-f]{32}$", description="MD5 of the file, 32 hex digits")
    request_id: int = Field(default=1, ge=0)
    retries: int | None = Field(default=None, ge=0)
    retry_interval: int | None = Field(default=None, ge=0)


class UnpublishFirmware(CommandParams):
    checksum: str = Field(pattern=r"^[0-9A-Fa-f]{32}$")


class GetTransactionStatus(CommandParams):
    """Whether the station still queues messages for a transaction (E14), or for any when none
    is named."""

    station_tx_id: str | None = Field(default=None, min_length=1, max_length=36)


class SetConfigurationValues(CommandParams):
    """Several 2.0.1 variables in one SetVariables (split into as many calls as the station's
    ItemsPerMessage and BytesPerMessage allow)."""

    values: dict[str, str] = Field(min_length=1, description="'Component.Variable' -> value")


COMMANDS.update({
    "set_variable_monitoring": SetVariableMonitoring,
    "clear_variable_monitoring": ClearVariableMonitoring,
    "set_monitoring_base": SetMonitoringBase,
    "set_monitoring_level": SetMonitoringLevel,
    "get_monitoring_report": GetMonitoringReport,
    "set_display_message": SetDisplayMessage,
    "get_display_messages": GetDisplayMessages,
    "clear_display_message": ClearDisplayMessage,
    "customer_information": CustomerInformation,
    "publish_firmware": PublishFirmware,
    "unpublish_firmware": UnpublishFirmware,
    "get_transaction_status": GetTransactionStatus,
    "set_configuration_values": SetConfigurationValues,
    "get_report": GetReport,
})
