"""What a simulated 2.0.1 station keeps beyond charging, as a real one does: its variable
monitors (N02-N08), the messages on its screen (O01-O06), what it remembers of customers
(N09, N10) and the firmware it publishes as a local controller (L03, L04).

State outlives connections; the v201 link answers the CSMS from it and puts what it produces
(monitor events, reports in parts) on the wire. Dictionaries are in the `ocpp` package's
snake_case, as the link receives and sends them.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

# The display languages a station of each country offers, its default first (station ids begin
# with the country code, as the seed network names them). Source: the official and widely used
# languages of each country; English for visitors.
DISPLAY_LANGUAGES = {
    "KZ": ("kk", "ru", "en"), "UZ": ("uz", "ru", "en"), "KG": ("ky", "ru", "en"),
    "TJ": ("tg", "ru", "en"), "CN": ("zh", "en"), "TM": ("ru", "en"), "MN": ("ru", "en"),
}
DEFAULT_LANGUAGES = ("ru", "en")
DISPLAY_FORMATS = ("ASCII", "UTF8")
DISPLAY_CAPACITY = 10
CUSTOM, PRECONFIGURED = "CustomMonitor", "PreconfiguredMonitor"


def display_languages(station_id: str) -> tuple[str, ...]:
    return DISPLAY_LANGUAGES.get(station_id[:2].upper(), DEFAULT_LANGUAGES)


# ---- monitors ----------------------------------------------------------------------------------


@dataclass
class Monitor:
    id: int
    component: dict[str, Any]
    variable: dict[str, Any]
    type: str
    value: float
    severity: int
    transaction: bool = False
    kind: str = CUSTOM
    active: bool = False  # a threshold crossed and not yet cleared
    last: str | None = None  # the value last reported (Delta)

    def data(self) -> dict[str, Any]:
        return {"id": self.id, "transaction": self.transaction, "value": self.value, "type": self.type,
                "severity": self.severity}


@dataclass(frozen=True)
class MonitorEvent:
    """What a monitor saw: NotifyEvent's eventData, less the event id and time."""

    monitor: Monitor
    actual_value: str
    trigger: str  # Alerting | Delta | Periodic
    cleared: bool = False


def _number(text: str) -> Decimal | None:
    try:
        value = Decimal(text)
    except (InvalidOperation, ValueError):
        return None
    return value if value.is_finite() else None


class Monitors:
    """Monitors by id, the active monitoring base and level (N03, N05)."""

    def __init__(self, preconfigured: list[Monitor]) -> None:
        self.preconfigured = preconfigured
        self.monitors: dict[int, Monitor] = {m.id: m for m in preconfigured}
        self.level = 9  # report every severity
        self.base = "All"
        self._ids = itertools.count(1000)

    def set(self, data: dict[str, Any], supports: Callable[[dict, dict], str | None]) -> dict[str, Any]:
        """One SetMonitoringData item; the SetMonitoringResult for it. `supports` says why the
        addressed variable cannot be monitored (UnknownComponent...), or None."""
        result = {"type": data["type"], "severity": data["severity"], "component": data["component"],
                  "variable": data["variable"]}
        refusal = supports(data["component"], data["variable"])
        if refusal is not None:
            return {**result, "status": refusal}
        if data["type"] in ("Periodic", "PeriodicClockAligned") and data["value"] <= 0:
            return {**result, "status": "Rejected",
                    "status_info": {"reason_code": "InvalidValue", "additional_info": "a period must be positive"}}
        given = data.get("id")
        if given is not None and given not in self.monitors:
            return {**result, "status": "Rejected",
                    "status_info": {"reason_code": "InvalidValue", "additional_info": f"no monitor {given}"}}
        for existing in self.monitors.values():
            if (existing.id != given and existing.component == data["component"]
                    and existing.variable == data["variable"] and existing.type == data["type"]
                    and existing.severity == data["severity"]):
                return {**result, "status": "Duplicate", "id": existing.id}
        monitor_id = given if given is not None else next(self._ids)
        self.monitors[monitor_id] = Monitor(
            monitor_id, data["component"], data["variable"], data["type"], float(data["value"]),
            data["severity"], data.get("transaction", False),
        )
        return {**result, "status": "Accepted", "id": monitor_id}

    def clear(self, monitor_id: int) -> str:
        monitor = self.monitors.get(monitor_id)
        if monitor is None:
            return "NotFound"
        if monitor.kind != CUSTOM:
            return "Rejected"  # preconfigured monitors go only with SetMonitoringBase
        del self.monitors[monitor_id]
        return "Accepted"

    def set_base(self, base: str) -> None:
        """All: preconfigured and custom; FactoryDefault: preconfigured only; HardWiredOnly: none
        (this station has no hard-wired monitors)."""
        self.base = base
        custom = {i: m for i, m in self.monitors.items() if m.kind == CUSTOM} if base == "All" else {}
        kept = {m.id: m for m in self.preconfigured} if base != "HardWiredOnly" else {}
        self.monitors = {**kept, **custom}

    def report(self, criteria: list[str], wanted: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """MonitoringData items for GetMonitoringReport: one per variable, its monitors inside."""
        kinds = {"ThresholdMonitoring": ("UpperThreshold", "LowerThreshold"), "DeltaMonitoring": ("Delta",),
                 "PeriodicMonitoring": ("Periodic", "PeriodicClockAligned")}
        types = {t for c in criteria for t in kinds[c]} if criteria else None
        grouped: dict[str, dict[str, Any]] = {}
        for m in sorted(self.monitors.values(), key=lambda m: m.id):
            if types is not None and m.type not in types:
                continue
            if wanted and not any(_matches(m, w) for w in wanted):
                continue
            key = repr((m.component, m.variable))
            grouped.setdefault(key, {"component": m.component, "variable": m.variable, "variable_monitoring": []})
            grouped[key]["variable_monitoring"].append(m.data())
        return list(grouped.values())

    def check(self, read: Callable[[Monitor], str | None], running: bool) -> list[MonitorEvent]:
        """Threshold and delta monitors whose variable moved: what to report now."""
        events = []
        for m in self.monitors.values():
            if m.type not in ("UpperThreshold", "LowerThreshold", "Delta") or (m.transaction and not running):
                continue
            value = read(m)
            if value is None:
                continue
            event = _crossing(m, value)
            if event is not None and m.severity <= self.level:
                events.append(event)
        return events

    def periodic(self) -> list[Monitor]:
        return [m for m in self.monitors.values() if m.type in ("Periodic", "PeriodicClockAligned")]


def _matches(m: Monitor, wanted: dict[str, Any]) -> bool:
    if m.component.get("name") != wanted["component"]["name"]:
        return False
    if "evse" in wanted["component"] and m.component.get("evse") != wanted["component"]["evse"]:
        return False
    return "variable" not in wanted or m.variable.get("name") == wanted["variable"]["name"]


def _crossing(m: Monitor, value: str) -> MonitorEvent | None:
    number = _number(value)
    if m.type == "Delta":
        if m.last is None:
            m.last = value  # the first reading is the reference
            return None
        previous = _number(m.last)
        moved = (abs(number - previous) >= Decimal(str(m.value)) if number is not None and previous is not None
                 else value != m.last)
        if not moved:
            return None
        m.last = value
        return MonitorEvent(m, value, "Delta")
    if number is None:
        return None
    threshold = Decimal(str(m.value))
    beyond = number > threshold if m.type == "UpperThreshold" else number < threshold
    if beyond == m.active:
        return None
    m.active = beyond
    return MonitorEvent(m, value, "Alerting", cleared=not beyond)


# ---- display messages --------------------------------------------------------------------------


class Display:
    """The messages an operator put on the screen, by id (O01-O06)."""

    def __init__(self, languages: tuple[str, ...]) -> None:
        self.languages = languages
        self.messages: dict[int, dict[str, Any]] = {}

    def set(self, message: dict[str, Any], transactions: set[str]) -> str:
        content = message["message"]
        if content["format"] not in DISPLAY_FORMATS:
            return "NotSupportedMessageFormat"
        if message.get("transaction_id") and message["transaction_id"] not in transactions:
            return "UnknownTransaction"
        if message["id"] not in self.messages and len(self.messages) >= DISPLAY_CAPACITY:
            return "Rejected"
        self.messages[message["id"]] = message  # the same id replaces (O06)
        return "Accepted"

    def find(self, ids: list[int] | None, priority: str | None, state: str | None) -> list[dict[str, Any]]:
        return [m for i, m in sorted(self.messages.items())
                if (not ids or i in ids) and priority in (None, m["priority"]) and state in (None, m.get("state"))]

    def clear(self, message_id: int) -> str:
        return "Accepted" if self.messages.pop(message_id, None) is not None else "Unknown"

    def transaction_ended(self, transaction_id: str) -> None:
        """A message for one transaction goes when the transaction does (O02)."""
        self.messages = {i: m for i, m in self.messages.items() if m.get("transaction_id") != transaction_id}

    def showing(self, language: str | None = None) -> list[str]:
        """What the screen cycles through now, for a driver of `language` (or its default):
        each message in that language where there is one, else in any."""
        wanted = language or self.languages[0]
        chosen = [m for m in self.messages.values()
                  if (m["message"].get("language") or wanted).split("-")[0] == wanted.split("-")[0]]
        return [m["message"]["content"] for m in chosen]


# ---- tariff and cost on the screen (I01-I06) ----------------------------------------------------


@dataclass
class TariffScreen:
    """What the screen says of prices: a driver's own tariff once the CSMS told it (I01, in
    AuthorizeResponse or the Started reply), replaced when the CSMS says it changed (I06);
    the fallback messages the CSMS wrote into TariffCostCtrlr (I04, I05) where it told nothing;
    the session's cost as the CSMS last gave it (I02, I03)."""

    fallback: str = ""
    total_cost_fallback: str = ""
    by_token: dict[str, dict[str, Any]] = field(default_factory=dict)
    by_transaction: dict[str, dict[str, Any]] = field(default_factory=dict)
    total_cost: dict[str, Decimal] = field(default_factory=dict)

    def told(self, id_token: str, message: dict[str, Any] | None) -> None:
        if message:
            self.by_token[id_token] = message

    def started(self, transaction_id: str, id_token: str, message: dict[str, Any] | None) -> None:
        chosen = message or self.by_token.get(id_token)
        if chosen:
            self.by_transaction[transaction_id] = chosen

    def updated(self, transaction_id: str, message: dict[str, Any] | None, total_cost: Any) -> None:
        if message:
            self.by_transaction[transaction_id] = message
        if total_cost is not None:
            self.total_cost[transaction_id] = Decimal(str(total_cost))

    def tariff(self, *, id_token: str | None = None, transaction_id: str | None = None) -> str:
        """The tariff line the screen shows now, for a session or a driver who identified."""
        message = self.by_transaction.get(transaction_id or "") or self.by_token.get(id_token or "")
        return message["content"] if message else self.fallback

    def cost(self, transaction_id: str) -> str:
        """The session's cost as shown: the CSMS's figure, else the fallback text (I05)."""
        total = self.total_cost.get(transaction_id)
        return f"{total}" if total is not None else self.total_cost_fallback

    def set_fallback(self, text: str) -> bool:
        self.fallback = text
        return True

    def set_total_cost_fallback(self, text: str) -> bool:
        self.total_cost_fallback = text
        return True


# ---- customers ---------------------------------------------------------------------------------


@dataclass
class Visit:
    id_token: str
    transaction_id: str
    evse_id: int
    started_at: datetime
    energy_wh: int


@dataclass
class Customers:
    """What the station remembers of each idToken: past sessions (its transaction log)."""

    visits: list[Visit] = field(default_factory=list)

    def about(
        self, id_token: str, cached: str | None, listed: str | None, running: list[Visit] | None = None,
    ) -> str:
        mine = [v for v in self.visits if v.id_token == id_token]
        lines = [f"idToken {id_token}:"]
        lines += [f" session {v.transaction_id} on EVSE {v.evse_id} from {v.started_at:%Y-%m-%d %H:%M} UTC,"
                  f" {v.energy_wh} Wh;" for v in mine]
        lines += [f" session {v.transaction_id} on EVSE {v.evse_id} running since"
                  f" {v.started_at:%Y-%m-%d %H:%M} UTC;" for v in running or [] if v.id_token == id_token]
        if cached is not None:
            lines.append(f" authorization cache: {cached};")
        if listed is not None:
            lines.append(f" local authorization list: {listed};")
        if len(lines) == 1:
            return f"no data held about idToken {id_token}"
        return "".join(lines)

    def forget(self, id_token: str) -> None:
        self.visits = [v for v in self.visits if v.id_token != id_token]


def parts(text: str, size: int) -> list[str]:
    """NotifyCustomerInformation parts: at most `size` characters each (the schema's 512)."""
    return [text[i:i + size] for i in range(0, len(text), size)] or [""]


# ---- firmware publishing -----------------------------------------------------------------------


@dataclass
class Publications:
    """Firmware files this station, as a local controller, publishes (L03, L04), by checksum."""

    published: dict[str, str] = field(default_factory=dict)  # checksum -> status

    def unpublish(self, checksum: str) -> str:
        status = self.published.get(checksum)
        if status is None:
            return "NoFirmware"
        if status != "Published":
            return "DownloadOngoing"
        del self.published[checksum]
        return "Unpublished"


@dataclass
class StationManagement:
    monitors: Monitors
    display: Display
    customers: Customers = field(default_factory=Customers)
    tariffs: TariffScreen = field(default_factory=TariffScreen)
    publications: Publications = field(default_factory=Publications)
