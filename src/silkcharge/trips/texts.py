"""Texts of the road data that reach drivers, in the console's seven languages.

The notes of border crossings and mountain passes, their opening hours and their names are
data, not code: `data/roads/notes.json` holds the notes and the words for hours and weekdays,
`data/roads/place_names.json` the crossings' and passes' names (`crossings`, `passes`; the
English name is the one in borders.json / seasonal.json). The planner never puts their English
text in a message: it puts a `RoadText`, a key with parameters. Each surface words it:

* the API sends ``{"key", "params", "unverified", "text"}``, ``text`` being the English;
* the CLI prints the English (`str(text)`);
* the console fetches the texts of its language (``/api/v1/console/road-texts?lang=ru``) and
  fills the parameters itself.

A text from an entry of low confidence (the `[memory]` facts) is `unverified`: every surface
adds the translated `marker.unverified` after it, so the driver sees the fact is unchecked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

__all__ = ["LANGUAGES", "RoadText", "crossing_hours", "crossing_name", "crossing_notes",
           "pass_name", "pass_notes", "plain", "texts", "utc_offset", "weekday_time"]

LANGUAGES = ("en", "ru", "kk", "ky", "uz", "tg", "zh")
_PLACEHOLDER = "{%s}"
_WEEKDAYS = (0, 1, 2, 3, 4)


@dataclass(frozen=True)
class RoadText:
    key: str
    """`note.<id>`, `crossing.<id>`, `pass.<id>`, `hours.*`, `days.*`, `day.N`, ..."""
    params: dict[str, Any] = field(default_factory=dict)
    """Filled into the text's {placeholders}: strings, numbers, RoadTexts or lists of them."""
    unverified: bool = False
    """A low-confidence fact: shown with the translated "unverified" marker."""
    fallback: str | None = None
    """English to show when the key is not in the data (a test graph's own crossing)."""

    def render(self, language: str = "en") -> str:
        table = texts(language)
        template = table.get(self.key) or texts("en").get(self.key) or self.fallback or self.key
        for name, value in self.params.items():
            template = template.replace(_PLACEHOLDER % name, _word(value, language))
        if self.unverified:
            template += " " + table["marker.unverified"]
        return template

    def __str__(self) -> str:
        return self.render("en")

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "params": {k: plain(v) for k, v in self.params.items()},
                "unverified": self.unverified, "text": self.render("en")}


def plain(value: Any) -> Any:
    """`value` with every RoadText in it as its JSON dict."""
    if isinstance(value, RoadText):
        return value.as_dict()
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def _word(value: Any, language: str) -> str:
    if isinstance(value, RoadText):
        return value.render(language)
    if isinstance(value, (list, tuple)):
        return ", ".join(_word(v, language) for v in value)
    return str(value)


def _read(name: str) -> dict[str, Any]:
    return json.loads((resources.files("silkcharge.data") / "roads" / name).read_text("utf-8"))


@cache
def texts(language: str) -> dict[str, str]:
    """Every road text in `language`, by key: the notes, hours and weekday words of notes.json
    and the crossings' and passes' names (English from borders.json and seasonal.json; in
    another language a name place_names.json lacks falls back to its fallback language's, else
    the English). Raises KeyError for a language the console does not have."""
    if language not in LANGUAGES:
        raise KeyError(language)
    notes, names = _read("notes.json"), _read("place_names.json")
    out = {key: by_language.get(language) or by_language["en"]
           for key, by_language in notes["texts"].items()}
    english = {("crossing", c["id"]): c["name"] for c in _read("borders.json")["crossings"]}
    english |= {("pass", e["id"]): e["name"] for e in _read("seasonal.json")["entries"]}
    fallback = names["fallback"].get(language)
    for (kind, ident), name in english.items():
        local = names["crossings" if kind == "crossing" else "passes"].get(ident, {})
        out[f"{kind}.{ident}"] = local.get(language) or local.get(fallback or "") or name
    return out


def _low(entry: Any) -> bool:
    return getattr(entry, "confidence", "") == "low"


def crossing_name(crossing: Any) -> RoadText:
    return RoadText(f"crossing.{crossing.id}", fallback=crossing.name)


def pass_name(entry: Any) -> RoadText:
    return RoadText(f"pass.{entry.id}", fallback=entry.name)


def crossing_notes(crossing: Any) -> list[RoadText]:
    return [RoadText(f"note.{key}", unverified=_low(crossing)) for key in crossing.notes]


def pass_notes(entry: Any) -> list[RoadText]:
    return [RoadText(f"note.{key}", unverified=_low(entry)) for key in entry.notes]


def utc_offset(zone: str, at: datetime | None = None) -> str:
    """"+8", "+5", "+5:30": the zone's offset (now, or at `at`)."""
    offset = (at or datetime.now(ZoneInfo(zone))).astimezone(ZoneInfo(zone)).utcoffset()
    minutes = round(offset.total_seconds() / 60) if offset else 0
    sign, minutes = ("+" if minutes >= 0 else "-"), abs(minutes)
    return f"{sign}{minutes // 60}" + (f":{minutes % 60:02d}" if minutes % 60 else "")


def crossing_hours(crossing: Any) -> RoadText:
    """The crossing's opening hours worded from its structured fields (`open_days`, `opens`,
    `closes`, `timezone`), never from free text."""
    low = _low(crossing)
    if crossing.always_open:
        return RoadText("hours.always", unverified=low)
    clock = {"opens": crossing.opens, "closes": crossing.closes,
             "offset": utc_offset(crossing.timezone)}
    days = tuple(sorted(crossing.open_days))
    if len(days) == 7:
        return RoadText("hours.daily", clock, unverified=low)
    words = (RoadText("days.weekdays") if days == _WEEKDAYS else
             RoadText("days.list", {"days": [RoadText(f"day.{d}") for d in days]}))
    return RoadText("hours.days", {"days": words, **clock}, unverified=low)


def weekday_time(at: datetime) -> RoadText:
    """A local time with its weekday ("Monday 23:00"), in any language."""
    return RoadText("time.day", {"day": RoadText(f"day.{at.weekday()}"), "time": at.strftime("%H:%M")})
