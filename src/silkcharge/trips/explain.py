"""Why a trip cannot be planned, or what a plan warns about: message codes with parameters.

The planner never words a refusal for one audience. It raises or returns a `Message`: a stable
`code`, its `params` (numbers, names, dates) and the `options` that would help, each an option
code. Each surface words them itself:

* the HTTP API returns code, params and options, plus the English text with the API's own
  field names (`render(..., surface="api")`);
* the CLI prints the English text with its own flags (`surface="cli"`);
* the console translates the codes into its seven languages (web/src/i18n, keys
  `trip.why.<code>` and `trip.option.<option>`), with the same parameters.

Parameters that come from the road data (a crossing's or pass's name, its notes, its opening
hours) are `trips.texts.RoadText`s, never English strings: a key with parameters that each
surface words in its language (data/roads/notes.json, place_names.json).

`MESSAGES` and `OPTIONS` are the English wording; tests check every code the planner can emit
has one here and in every console language.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from silkcharge.trips.texts import plain

__all__ = ["MESSAGES", "OPTIONS", "Message", "render", "render_option"]

Surface = Literal["api", "cli"]


@dataclass(frozen=True)
class Message:
    code: str
    params: dict[str, Any] = field(default_factory=dict)
    options: tuple[str, ...] = ()

    def as_dict(self, surface: Surface = "api") -> dict[str, Any]:
        """A road text among the params (a crossing's name, a pass's note) becomes
        ``{key, params, unverified, text}`` (`trips.texts.RoadText`)."""
        return {"code": self.code, "params": {k: plain(v) for k, v in self.params.items()},
                "options": list(self.options), "message": render(self, surface)}


MESSAGES: dict[str, str] = {
    # refusals
    "no_charger_in_reach": (
        "no compatible charger within the {km} km between {from} and {to}: the {vehicle} needs "
        "about {need_soc} % of its battery there ({need_kwh} kWh, climbing {climb_m} m) and "
        "can use {usable_soc} % (from {max_soc} % down to {floor_soc} %)"),
    "no_charger_fits_inlet": (
        "no charger on the way has a plug the {vehicle} takes ({inlets}): the "
        "{km} km from {from} to {to} need about {need_soc} % of its battery"),
    "start_charge_too_low": (
        "with {start_soc} % at the start the {vehicle} cannot reach {to}, the first compatible "
        "charger on the way, {km} km off: that needs about {need_soc} % of the battery plus the "
        "{floor_soc} % kept on arrival; start with more charge"),
    "arrival_minimum_blocks": (
        "with {start_soc} % at the start the {vehicle} reaches {to} ({km} km) with about "
        "{arrive_soc} %, below the minimum of {floor_soc} % on arrival"),
    "no_road": "no road from {from} to {to}",
    "crossing_closed_to_private_cars": (
        "the road from {from} to {to} crosses {crossings}, closed to private cars (foreign "
        "cars need permits and a guide): no date opens it"),
    "closed_on_date": "on {date} the road from {from} to {to} is closed at {closures}",
    "borders_avoided": "the road from {from} to {to} needs a border you avoid ({avoided})",
    "bad_input": "{detail}",
    # warnings on a plan
    "generic_curve": ("{vehicle} has no measured charging curve: charging times use a "
                      "generic shape and are rough"),
    "seasonal_hazard": "seasonal: {name}: {note}",
    "seasonal_hazard_no_date": "seasonal: {name} (no date given: check before leaving): {note}",
    "border_note": ("{from_country} → {to_country} near {lat}, {lon} at km {km}: no listed "
                    "crossing (unknown crossing or approximate border)"),
    "crossing_hours": "{crossing}: {hours}",
    "crossing_note": "{crossing}: {note}",
    "adapters_uncertain": ("adapters are active converters of uncertain compatibility: "
                           "carry a plan B"),
    "crossing_waits_for_opening": (
        "{crossing} is closed when you arrive ({arrive_local} local): the plan waits "
        "{wait_min} min until it opens at {opens_local}"),
    "route_for_chargers": ("the shortest road ({shortest_km} km) has no charger where this car "
                           "needs one: this plan takes a {km} km road that avoids {avoided}"),
    "no_date_mild_weather": ("no date given: mild weather assumed (15 °C, no heating); give "
                             "a date for the season's temperatures"),
    "cold_charging": ("about {temp_c} °C at {site}: charging there is assumed {percent} % "
                      "slower than in the warm"),
}

OPTIONS: dict[str, dict[str, str]] = {
    "use_adapters": {"api": "an adapter (use_adapters: true)", "cli": "an adapter (--adapters)"},
    "raise_max_charge": {"api": "a higher max_charge_soc", "cli": "a higher --max-charge-soc"},
    "fewer_excluded": {"api": "fewer exclude_operators", "cli": "fewer --exclude-operator"},
    "more_start_charge": {"api": "a higher start_soc", "cli": "a higher --start-soc"},
    "lower_arrival_minimum": {"api": "a lower min_arrival_soc",
                              "cli": "a lower --min-arrival-soc"},
    "allow_borders": {"api": "fewer avoid_borders", "cli": "fewer --avoid-border"},
    "other_date": {"api": "another on_date or depart_at", "cli": "another --date"},
    "accept_busy": {"api": "busy_wait_min (accept busy stations)",
                    "cli": "accepting busy stations (drop --avoid-busy)"},
    "other_vehicle_or_route": {"api": "another vehicle or waypoint", "cli": "another --vehicle or --via"},
}


COUNTRIES: dict[str, str] = {
    "AF": "Afghanistan", "AM": "Armenia", "AZ": "Azerbaijan", "CN": "China", "GE": "Georgia",
    "IR": "Iran", "KG": "Kyrgyzstan", "KZ": "Kazakhstan", "MN": "Mongolia", "PK": "Pakistan",
    "RU": "Russia", "TJ": "Tajikistan", "TM": "Turkmenistan", "UZ": "Uzbekistan",
}
"""English names of the countries in the road graph (data/roads/highways.npz). Parameters
named ``*_country`` carry the ISO 3166 code; the console names it in its own language."""


def render(message: Message, surface: Surface = "api") -> str:
    """English text of a message, its options worded for the surface."""
    params = {k: COUNTRIES.get(v, v) if k.endswith("_country") else _fmt(v)
              for k, v in message.params.items()}
    text = MESSAGES[message.code].format_map(params)
    if message.options:
        text += "; try " + " or ".join(render_option(o, surface) for o in message.options)
    return text


def render_option(option: str, surface: Surface = "api") -> str:
    return OPTIONS[option][surface]


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.0f}" if abs(value) >= 10 or value == int(value) else f"{value:.1f}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_fmt(v) for v in value)
    return str(value)
