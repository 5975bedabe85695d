"""OCPP 1.6 configuration keys of a simulated station (GetConfiguration / ChangeConfiguration).

Keys the station acts on are bound to its `Tunables`, so a CSMS that changes HeartbeatInterval
or MeterValueSampleInterval changes the station's behaviour, not just a stored string.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from ocpp.v16.enums import Measurand

from silkcharge.sim.network import Network
from silkcharge.sim.state import Tunables, setting_text, setting_value

MEASURANDS = frozenset(m.value for m in Measurand)


class Kind(StrEnum):
    INTEGER = "integer"
    BOOLEAN = "boolean"
    MEASURANDS = "measurands"
    TEXT = "text"


@dataclass
class Key:
    name: str
    value: str
    readonly: bool
    kind: Kind
    bound_to: str | None = None  # a Tunables attribute
    read: Callable[[], str] | None = None  # a live value
    write: Callable[[str], str] | None = None  # applies a change, answers its status
    secret: bool = False  # write-only: GetConfiguration does not report it


def _keys(connectors: int, dc: bool) -> list[Key]:
    sampled = "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage"
    if dc:
        sampled += ",SoC"
    rw, ro = False, True
    return [
        Key("AllowOfflineTxForUnknownId", "false", rw, Kind.BOOLEAN),
        Key("AuthorizationCacheEnabled", "", rw, Kind.BOOLEAN, "auth_cache_enabled"),
        Key("AuthorizeRemoteTxRequests", "", rw, Kind.BOOLEAN, "authorize_remote_start"),
        Key("ChargeProfileMaxStackLevel", "10", ro, Kind.INTEGER),
        Key("ChargingScheduleAllowedChargingRateUnit", "Current,Power", ro, Kind.TEXT),
        Key("ChargingScheduleMaxPeriods", "96", ro, Kind.INTEGER),
        Key("ClockAlignedDataInterval", "0", rw, Kind.INTEGER),
        Key("ConnectionTimeOut", "60", rw, Kind.INTEGER),
        Key("ConnectorPhaseRotation", "0.RST", rw, Kind.TEXT),
        Key("GetConfigurationMaxKeys", "50", ro, Kind.INTEGER),
        Key("HeartbeatInterval", "", rw, Kind.INTEGER, "heartbeat_interval"),
        Key("LocalAuthorizeOffline", "", rw, Kind.BOOLEAN, "local_authorize_offline"),
        Key("LocalPreAuthorize", "false", rw, Kind.BOOLEAN),
        Key("MaxChargingProfilesInstalled", "20", ro, Kind.INTEGER),
        Key("MeterValuesAlignedData", "Energy.Active.Import.Register", rw, Kind.MEASURANDS),
        Key("MeterValuesSampledData", sampled, rw, Kind.MEASURANDS),
        Key("MeterValuesSampledDataMaxLength", "8", ro, Kind.INTEGER),
        Key("MeterValueSampleInterval", "", rw, Kind.INTEGER, "meter_interval"),
        Key("NumberOfConnectors", str(connectors), ro, Kind.INTEGER),
        Key("ResetRetries", "1", rw, Kind.INTEGER),
        Key("StopTransactionOnEVSideDisconnect", "true", rw, Kind.BOOLEAN),
        Key("StopTransactionOnInvalidId", "true", rw, Kind.BOOLEAN),
        Key("StopTxnAlignedData", "", rw, Kind.MEASURANDS),
        Key("StopTxnSampledData", "Energy.Active.Import.Register", rw, Kind.MEASURANDS),
        Key("ReserveConnectorZeroSupported", "true", ro, Kind.BOOLEAN),
        Key("SupportedFeatureProfiles",
            "Core,FirmwareManagement,LocalAuthListManagement,RemoteTrigger,Reservation,SmartCharging",
            ro, Kind.TEXT),
        Key("TransactionMessageAttempts", "3", rw, Kind.INTEGER),
        Key("TransactionMessageRetryInterval", "60", rw, Kind.INTEGER),
        Key("UnlockConnectorOnEVSideDisconnect", "true", rw, Kind.BOOLEAN),
        Key("WebSocketPingInterval", "20", rw, Kind.INTEGER),
        Key("LocalAuthListEnabled", "", rw, Kind.BOOLEAN, "local_auth_list_enabled"),
        Key("LocalAuthListMaxLength", "1000", ro, Kind.INTEGER),
        Key("SendLocalListMaxLength", "100", ro, Kind.INTEGER),
        # The OCA security extension ("Improved security for OCPP 1.6-J"): its keys say the
        # station speaks it (GetLog, ExtendedTriggerMessage, certificate management).
        Key("SecurityProfile", "1", rw, Kind.INTEGER),
        Key("CertificateStoreMaxLength", "10", ro, Kind.INTEGER),
    ]


def _security_keys(network: Network) -> list[Key]:
    """The 1.6 security whitepaper's keys: the Basic-auth password and the security profile."""
    return [
        Key("AuthorizationKey", "", False, Kind.TEXT, write=network.set_authorization_key, secret=True),
        Key("SecurityProfile", "", False, Kind.INTEGER, read=lambda: str(network.security_profile),
            write=lambda value: network.raise_profile(int(value))),
    ]


class Configuration:
    """The station's key set; values are strings on the wire, typed where the station uses them."""

    def __init__(self, tunables: Tunables, connectors: int, dc: bool, network: Network) -> None:
        self._tunables = tunables
        self._keys = {key.name: key for key in [*_keys(connectors, dc), *_security_keys(network)]}

    def get(self, names: list[str] | None) -> tuple[list[dict], list[str]]:
        """GetConfiguration: (configurationKey entries, unknownKey names)."""
        wanted = names or [name for name, key in self._keys.items() if not key.secret]
        known = [self._entry(self._keys[n]) for n in wanted if n in self._keys and not self._keys[n].secret]
        return known, [n for n in wanted if n not in self._keys or self._keys[n].secret]

    def change(self, name: str, value: str) -> str:
        """ChangeConfiguration status: Accepted, Rejected (read-only or bad value), NotSupported."""
        key = self._keys.get(name)
        if key is None:
            return "NotSupported"
        if key.readonly or not _valid(key.kind, value):
            return "Rejected"
        if key.write is not None:
            return key.write(value)
        if key.bound_to is None:
            key.value = value
        else:
            setattr(self._tunables, key.bound_to, setting_value(value, key.kind is Kind.BOOLEAN))
        return "Accepted"

    def value(self, name: str) -> str:
        return self._value(self._keys[name])

    def master_pass_group(self) -> None:
        """OCPP 1.6 has no master pass (2.0.1 C16)."""
        return None

    def measurands(self, name: str) -> list[str]:
        return [m for m in self.value(name).split(",") if m]

    def _entry(self, key: Key) -> dict:
        return {"key": key.name, "readonly": key.readonly, "value": self._value(key)}

    def _value(self, key: Key) -> str:
        if key.read is not None:
            return key.read()
        if key.bound_to is None:
            return key.value
        return setting_text(getattr(self._tunables, key.bound_to))


def _valid(kind: Kind, value: str) -> bool:
    if kind is Kind.INTEGER:
        return value.strip().isdigit()
    if kind is Kind.BOOLEAN:
        return value.strip().lower() in ("true", "false")
    if kind is Kind.MEASURANDS:
        return all(m.strip() in MEASURANDS for m in value.split(",") if m.strip())
    return True
