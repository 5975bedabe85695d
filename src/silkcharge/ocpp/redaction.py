"""Secrets out of OCPP frames, at the socket: before a frame is logged and before its payload
reaches the services or an API caller.

A station reports its own Basic-auth password when asked for its whole configuration (1.6
GetConfiguration, 2.0.1 NotifyReport), and the CSMS sends one when it sets it (1.6
ChangeConfiguration AuthorizationKey, 2.0.1 SetVariables BasicAuthPassword); 2.0.1 network
profiles carry VPN and APN passwords. Each rule below names the action, the direction and where
the secret sits; `domain/security.py` says which settings are secret.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from silkcharge.domain.security import REDACTED, is_secret

Payload = dict[str, Any]


def _dicts(value: Any) -> list[dict[str, Any]]:
    """The objects of a list field; anything malformed is skipped here (the schema refuses it)."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _configuration_keys(payload: Payload) -> bool:
    """1.6 GetConfiguration.conf: configurationKey[].value of a secret key."""
    found = False
    for item in _dicts(payload.get("configurationKey")):
        if is_secret(None, str(item.get("key", ""))) and "value" in item:
            item["value"], found = REDACTED, True
    return found


def _change_configuration(payload: Payload) -> bool:
    """1.6 ChangeConfiguration.req: the value of a secret key."""
    if is_secret(None, str(payload.get("key", ""))) and "value" in payload:
        payload["value"] = REDACTED
        return True
    return False


def _named(item: dict[str, Any]) -> bool:
    return is_secret(str(_dict(item.get("component")).get("name", "")),
                     str(_dict(item.get("variable")).get("name", "")))


def _variable_values(items_field: str, value_field: str) -> Callable[[Payload], bool]:
    """2.0.1 Get/SetVariables: the attributeValue of a secret variable."""

    def redact(payload: Payload) -> bool:
        found = False
        for item in _dicts(payload.get(items_field)):
            if _named(item) and value_field in item:
                item[value_field], found = REDACTED, True
        return found

    return redact


def _report_data(payload: Payload) -> bool:
    """2.0.1 NotifyReport.req: every attribute value of a secret variable."""
    found = False
    for item in _dicts(payload.get("reportData")):
        if _named(item):
            for attribute in _dicts(item.get("variableAttribute")):
                if "value" in attribute:
                    attribute["value"], found = REDACTED, True
    return found


def _network_profile(payload: Payload) -> bool:
    """2.0.1 SetNetworkProfile.req: the VPN and APN passwords (2.1 also: basicAuthPassword)."""
    found = False
    data = _dict(payload.get("connectionData"))
    if "basicAuthPassword" in data:
        data["basicAuthPassword"], found = REDACTED, True
    for part, field in (("vpn", "password"), ("apn", "apnPassword")):
        if field in _dict(data.get(part)):
            data[part][field], found = REDACTED, True
    return found


# (version, action, True for the reply / False for the request) -> rule
_RULES: dict[tuple[str, str, bool], Callable[[Payload], bool]] = {
    ("1.6", "GetConfiguration", True): _configuration_keys,
    ("1.6", "ChangeConfiguration", False): _change_configuration,
    ("2.0.1", "SetVariables", False): _variable_values("setVariableData", "attributeValue"),
    ("2.0.1", "GetVariables", True): _variable_values("getVariableResult", "attributeValue"),
    ("2.0.1", "NotifyReport", False): _report_data,
    ("2.0.1", "SetNetworkProfile", False): _network_profile,
}
# 2.1 carries the same secrets in the same places (and the network profile's basicAuthPassword)
_RULES.update({("2.1", action, response): rule for (version, action, response), rule in list(_RULES.items())
               if version == "2.0.1"})


def redacted(version: str, action: str | None, payload: Any, *, response: bool) -> Payload | None:
    """A copy of the payload with its secrets replaced by REDACTED, or None when it holds none
    (the common case costs a dictionary lookup)."""
    rule = _RULES.get((version, action or "", response))
    if rule is None or not isinstance(payload, dict):
        return None
    copied = copy.deepcopy(payload)
    return copied if rule(copied) else None
