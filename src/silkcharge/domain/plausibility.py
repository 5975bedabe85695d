"""Plausibility: what a station may report and still be believed.

A charger's word is the only measure of a session, and chargers are wrong in known ways: a
register that overflows or jumps, a clock back at 1970 after a power cut, an id no station has.
Each rule is data (`RULES`): a name, its limits, what it checks and the reason an operator reads
when it fires. The checks here are pure; `services/plausibility.py` applies them where a
station's values arrive, with what the store knows (a connector's power, a session's start).

A rule either *quarantines* a value (it is set aside: not stored as a number and not used; a
wrong timestamp is replaced by the time silkcharge received it) or *flags* it (it is kept and
used, but the session's CDR waits for an operator). Either way the finding is stored with the
value as received and the message id of its frame, which the message log keeps.

Where OCPP lets the CSMS refuse (messages that are not about a transaction), a quarantined value
is refused instead: the station gets a CALLERROR naming the finding (`Implausible`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from types import MappingProxyType

from silkcharge.domain.clock import to_ocpp, utcnow

__all__ = [
    "RULES",
    "Action",
    "Checks",
    "Finding",
    "Implausible",
    "Limits",
    "Origin",
    "Rule",
    "reading",
]

DECIMAL_COLUMN_LIMIT = Decimal(10) ** 14
"""Exact decimals are NUMERIC(20, 6) in the store: 14 digits before the point."""
INTEGER_COLUMN_LIMIT = 2**31 - 1
"""Ids, sequence numbers and reservation ids are 32-bit integers in the store."""
EVSE_FIELD = "evseId (1.6: connectorId)"
"""OCPP 1.6 numbers EVSEs by connectorId; findings name the field as both versions know it."""
UNIT_COLUMN_LENGTH = 16
"""A meter sample's unit (OCPP 2.0.1 allows 20 characters of free text)."""


class Action(StrEnum):
    QUARANTINE = "quarantine"
    """The value is set aside (or, for a timestamp, replaced by the receive time)."""
    FLAG = "flag"
    """The value is kept and used; the session's CDR is held for an operator's review."""


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    checks: str
    """What the rule checks, in a sentence (docs, `GET /api/v1/plausibility/rules`)."""
    reason: str
    """The reason an operator reads, a template over the finding's field, value and limits."""
    action: Action
    limits: Mapping[str, Decimal] = field(default_factory=dict)
    tunable: bool = True
    """False where the limit is the store's own (a column's range), not an operator's choice."""


def _limits(**values: int | str) -> Mapping[str, Decimal]:
    return MappingProxyType({name: Decimal(str(value)) for name, value in values.items()})


RULES: tuple[Rule, ...] = (
    Rule(
        "number-finite", "every meter reading is a number",
        "{field} {value} is not a number", Action.QUARANTINE, tunable=False,
    ),
    Rule(
        "value-fits", "every meter reading fits the store (NUMERIC(20, 6))",
        "{field} {value} is larger than any meter holds (the store keeps less than {limit})",
        Action.QUARANTINE, _limits(limit=DECIMAL_COLUMN_LIMIT), tunable=False,
    ),
    Rule(
        "number-fits", "sequence numbers, reservation and remote start ids fit the store (32 bits)",
        "{field} {value} is larger than the store keeps ({limit}); it was ignored",
        Action.QUARANTINE, _limits(limit=INTEGER_COLUMN_LIMIT), tunable=False,
    ),
    Rule(
        "text-fits", "a unit of measure fits the store",
        "{field} {value} is longer than the store keeps ({limit} characters)",
        Action.QUARANTINE, _limits(limit=UNIT_COLUMN_LENGTH), tunable=False,
    ),
    Rule(
        "register-non-negative", "an energy register is never negative",
        "{field} {value} Wh is negative; an energy register never is", Action.QUARANTINE,
    ),
    Rule(
        "register-monotonic", "an energy register never goes back within a transaction",
        "{field} went back from {previous} Wh to {value} Wh within the transaction",
        Action.FLAG, _limits(tolerance_wh=1),
    ),
    Rule(
        "power-bound",
        "the energy of a transaction is at most the connector's maximum power times the elapsed "
        "time, plus a margin and an allowance for meter resolution",
        "{energy} Wh in {elapsed} is more than the connector's {power_kw} kW can deliver "
        "(at most {most} Wh with a {margin_percent} % margin)",
        Action.FLAG, _limits(margin_percent=10, allowance_wh=1000, unknown_power_kw=1000),
    ),
    Rule(
        "clock-window",
        "a station's timestamps lie within a window around the server's clock",
        "{field} {value} is {offset} the server's clock (allowed: {ahead_minutes} min ahead, "
        "{behind_days} days behind); the receive time {used} was used: check the charger's clock",
        Action.QUARANTINE, _limits(ahead_minutes=15, behind_days=365, alert_hours=24),
    ),
    Rule(
        "id-range",
        "EVSE and connector ids are registered, or small enough to be registered when a station "
        "reports them",
        "{field} {value} is neither registered for this station nor within the {limit} "
        "this CSMS registers when a station reports it",
        Action.QUARANTINE, _limits(evse_max=128, connector_max=16),
    ),
    Rule(
        "evse-unknown", "a transaction runs on an EVSE the station registered or reported",
        "EVSE {value} is neither registered for this station nor reported by it",
        Action.FLAG,
    ),
    Rule(
        "stored-value", "what is stored (a session, a reservation) can be priced and changed",
        "(what went wrong, as found by the sweep or the stop that met the stored value)",
        Action.FLAG, tunable=False,
    ),
)
RULES_BY_NAME: Mapping[str, Rule] = MappingProxyType({rule.name: rule for rule in RULES})


class Limits:
    """The rule table's limits, with an operator's overrides by "rule.limit" name (the
    `plausibility_limits` setting, e.g. {"power-bound.margin_percent": 20})."""

    def __init__(self, overrides: Mapping[str, Decimal | int | float | str] | None = None) -> None:
        values = {f"{rule.name}.{name}": value for rule in RULES for name, value in rule.limits.items()}
        for key, raw in (overrides or {}).items():
            rule_name, _, name = key.partition(".")
            rule = RULES_BY_NAME.get(rule_name)
            if rule is None or name not in rule.limits:
                known = ", ".join(sorted(k for k in values if RULES_BY_NAME[k.split(".")[0]].tunable))
                raise ValueError(f"no plausibility limit {key!r}; the limits are: {known}")
            if not rule.tunable:
                raise ValueError(f"{key} is the store's own limit and cannot be changed")
            try:
                value = Decimal(str(raw))
            except InvalidOperation:
                raise ValueError(f"{key}: {raw!r} is not a number") from None
            if not value.is_finite() or value < 0:
                raise ValueError(f"{key}: {raw!r} must be a number of at least 0")
            values[key] = value
        self._values = values

    def __getitem__(self, key: str) -> Decimal:
        return self._values[key]

    def of(self, rule: Rule) -> dict[str, Decimal]:
        return {name: self._values[f"{rule.name}.{name}"] for name in rule.limits}


@dataclass(frozen=True, slots=True)
class Origin:
    """The frame a value came in: the message log finds it by station, message id and time."""

    message_id: str | None
    action: str | None
    received_at: datetime

    @classmethod
    def now(cls, action: str | None = None) -> Origin:
        return cls(None, action, utcnow())


@dataclass(frozen=True, slots=True)
class Finding:
    rule: str
    field: str
    value: str
    """The value as the station sent it (or as stored, for `stored-value`)."""
    reason: str
    used: str | None = None
    """What was used instead; None when the value was set aside."""

    @property
    def action(self) -> Action:
        return RULES_BY_NAME[self.rule].action


class Implausible(ValueError):
    """A report refused because of what it says (only where OCPP lets the CSMS refuse)."""

    def __init__(self, findings: Iterable[Finding]) -> None:
        self.findings = tuple(findings)
        super().__init__("; ".join(f.reason for f in self.findings))


def reading(raw: object) -> Decimal:
    """A meter reading as an exact Decimal; text that is no number becomes NaN, which the
    `number-finite` rule then quarantines (or refuses), naming the text as received."""
    try:
        return Decimal(str(raw))
    except (InvalidOperation, ValueError):
        return Decimal("NaN")


def _text(value: object, limit: int = 100) -> str:
    text = value if isinstance(value, str) else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _number(value: Decimal) -> str:
    """A limit or a quantity as an operator reads it: 22, 0.5, 3667."""
    normal = value.normalize()
    return str(int(normal)) if normal == normal.to_integral_value() else format(normal, "f")


def _span(delta: timedelta) -> str:
    seconds = abs(int(delta.total_seconds()))
    if seconds >= 2 * 86400:
        return f"{seconds // 86400} days"
    if seconds >= 2 * 3600:
        return f"{seconds // 3600} h"
    if seconds >= 120:
        return f"{seconds // 60} min"
    return f"{seconds} s"


class Checks:
    """The pure checks, each returning the finding it makes (None: believed)."""

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        # The clock window, computed once: it is checked for every timestamp a station sends.
        self._ahead = timedelta(minutes=float(self.limits["clock-window.ahead_minutes"]))
        self._behind = timedelta(days=float(self.limits["clock-window.behind_days"]))

    def _finding(
        self, name: str, field: str, value: object, used: str | None = None, **facts: object
    ) -> Finding:
        rule = RULES_BY_NAME[name]
        values = {key: _number(v) for key, v in self.limits.of(rule).items()}
        reason = rule.reason.format(field=field, value=_text(value), used=used, **values, **facts)
        return Finding(name, field, _text(value), reason[:500], used)

    # -- numbers --------------------------------------------------------------------------

    def reading(self, field: str, value: Decimal, *, register: bool, raw: str | None = None) -> Finding | None:
        """A sampled value, meterStart or meterStop: a finite number the store can hold; an
        energy register also never negative."""
        shown = raw if raw is not None else value
        if not value.is_finite():
            return self._finding("number-finite", field, shown)
        if abs(value) >= DECIMAL_COLUMN_LIMIT:
            return self._finding("value-fits", field, shown)
        if register and value < 0:
            return self._finding("register-non-negative", field, shown)
        return None

    def unit(self, field: str, unit: str | None) -> Finding | None:
        if unit is None or len(unit) <= UNIT_COLUMN_LENGTH:
            return None
        return self._finding("text-fits", field, unit)

    def integer(self, field: str, value: int | float | None) -> Finding | None:
        """A sequence number, reservation id or remote start id the store can hold."""
        if value is None or (float(value).is_integer() and 0 <= value <= INTEGER_COLUMN_LIMIT):
            return None
        return self._finding("number-fits", field, value if isinstance(value, int) else _integral(value))

    def id_in_range(self, field: str, value: int | float, *, kind: str) -> Finding | None:
        """An EVSE ("evse") or connector ("connector") id small enough to register when a station
        reports it. A registered id is always fine: the caller asks only about unregistered ones."""
        limit = self.limits[f"id-range.{kind}_max"]
        if float(value).is_integer() and 0 <= value <= limit:
            return None
        return self._finding("id-range", field, _integral(value), limit=f"{kind} ids 0 to {_number(limit)}")

    # -- energy ---------------------------------------------------------------------------

    def monotonic(self, field: str, previous_wh: Decimal, value_wh: Decimal) -> Finding | None:
        if value_wh >= previous_wh - self.limits["register-monotonic.tolerance_wh"]:
            return None
        return self._finding("register-monotonic", field, _number(value_wh), previous=_number(previous_wh))

    def power_bound(
        self, field: str, energy_wh: Decimal, elapsed: timedelta, max_power_kw: Decimal | None, value: Decimal
    ) -> Finding | None:
        """At most `max_power_kw` (unknown or 0: the rule's `unknown_power_kw`) for `elapsed`,
        plus the margin and the allowance for a meter's resolution."""
        power = max_power_kw if max_power_kw else self.limits["power-bound.unknown_power_kw"]
        hours = Decimal(str(max(0.0, elapsed.total_seconds()))) / 3600
        margin = 1 + self.limits["power-bound.margin_percent"] / 100
        most = power * 1000 * hours * margin + self.limits["power-bound.allowance_wh"]
        if energy_wh <= most:
            return None
        return self._finding(
            "power-bound", field, _number(value), energy=_number(energy_wh), elapsed=_span(elapsed),
            power_kw=_number(power), most=_number(most.quantize(Decimal(1))),
        )

    def unknown_evse(self, evse_id: int) -> Finding:
        return self._finding("evse-unknown", EVSE_FIELD, evse_id)

    # -- time -----------------------------------------------------------------------------

    def timestamp(self, field: str, moment: datetime, received: datetime) -> Finding | None:
        """A station's time within the window around the server's clock; outside it, the
        receive time is used instead (the finding's `used`)."""
        if received - self._behind <= moment <= received + self._ahead:
            return None
        offset = moment - received
        where = f"{_span(offset)} ahead of" if offset > timedelta(0) else f"{_span(offset)} behind"
        return self._finding("clock-window", field, to_ocpp(moment), used=to_ocpp(received), offset=where)

    # -- what the store holds ---------------------------------------------------------------

    def stored(self, field: str, problem: str) -> Finding:
        """A stored value that cannot be used: the problem is its own reason."""
        return Finding("stored-value", field, _text(problem), problem[:500])


def _integral(value: int | float) -> str:
    """2**64 arrives as the float 1.8446744073709552e+19 (JSON numbers beyond 64 bits): show
    it as the integer a person would read."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
