"""The road data's texts that reach drivers (crossings' and passes' names, notes, opening hours)
are keys with a text in each of the console's seven languages, never English inside another
language (issue 18, item 5)."""

from __future__ import annotations

import json
import re
from datetime import date
from importlib import resources

import pytest

from silkcharge.data.seed import load_seed_network
from silkcharge.domain.vehicles import load_catalog
from silkcharge.trips.network import SiteIndex, sites_from_seed
from silkcharge.trips.planner import TripRequest, Unreachable, plan_trip
from silkcharge.trips.roads import load_road_graph
from silkcharge.trips.texts import LANGUAGES, RoadText, crossing_hours, texts

CYRILLIC = ("ru", "kk", "ky", "tg")
# what may stay in Latin letters inside a Cyrillic or Chinese text: the time zone's name
ALLOWED_LATIN = {"UTC"}


def _data(name: str) -> dict:
    return json.loads((resources.files("silkcharge.data") / "roads" / name).read_text("utf-8"))


def _latin_words(text: str) -> set[str]:
    return set(re.findall(r"[A-Za-z]+", re.sub(r"\{\w+\}", "", text))) - ALLOWED_LATIN


def _words(text: str) -> bool:
    """Whether a text has words of its own, not only placeholders and punctuation."""
    return bool(re.search(r"\w", re.sub(r"\{\w+\}", "", text)))


def _placeholders(text: str) -> set[str]:
    return set(re.findall(r"\{(\w+)\}", text))


@pytest.fixture(scope="module")
def index() -> SiteIndex:
    return SiteIndex(load_road_graph(), sites_from_seed(load_seed_network()))


def used_keys() -> set[str]:
    """Every text key the shipped road data names."""
    crossings, passes = _data("borders.json")["crossings"], _data("seasonal.json")["entries"]
    keys = {f"note.{k}" for entry in [*crossings, *passes] for k in entry.get("notes", ())}
    keys |= {f"crossing.{c['id']}" for c in crossings} | {f"pass.{e['id']}" for e in passes}
    return keys


def test_the_data_names_its_notes_by_key_and_keeps_no_driver_text_of_its_own():
    for entry in [*_data("borders.json")["crossings"], *_data("seasonal.json")["entries"]]:
        assert "note" not in entry and "hours" not in entry, entry["id"]
    assert {k for k in used_keys() if k.startswith("note.")} >= {
        "note.cn-plates-guide", "note.too-ashuu-snow", "note.tm-transit-visa"}


def test_every_note_and_name_the_data_uses_has_a_text_in_all_seven_languages():
    notes = _data("notes.json")["texts"]
    names = _data("place_names.json")
    assert set(_data("notes.json")["languages"]) == set(LANGUAGES)
    for key in sorted(used_keys()):
        if key.startswith("note."):
            assert set(notes.get(key, {})) >= set(LANGUAGES), key
            assert all(notes[key][lang].strip() for lang in LANGUAGES), key
        else:
            kind, ident = key.split(".", 1)
            local = names["crossings" if kind == "crossing" else "passes"].get(ident, {})
            missing = set(LANGUAGES) - {"en"} - set(local)
            assert not missing, f"{key} has no name in {sorted(missing)}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_each_language_has_every_text_with_the_english_placeholders_in_its_own_script(language):
    english, own = texts("en"), texts(language)
    assert set(own) == set(english)
    assert used_keys() <= set(own)
    for key, text in own.items():
        assert _placeholders(text) == _placeholders(english[key]), (language, key)
        if language in CYRILLIC or language == "zh":
            assert not _latin_words(text), f"{language} {key}: English left in {text!r}"
        if language in ("uz", "en"):
            assert not re.search("[\u0400-\u04ff]", text), (language, key)
        if language == "zh" and _words(text):
            assert re.search("[\u4e00-\u9fff]", text), key
    if language != "en":  # translated, not copied
        same = [k for k in own if own[k] == english[k] and _words(own[k])
                and not k.startswith(("crossing.", "pass."))]
        assert same == [], same


def test_hours_are_worded_from_the_structured_fields_with_the_unverified_marker():
    roads = load_road_graph()
    khorgos = roads.crossing("khorgos-nurzholy")
    hours = crossing_hours(khorgos)
    assert hours.unverified  # [memory], low confidence
    assert str(hours) == "open Monday to Friday, 09:00–18:00 (UTC+8) (unverified)"
    assert hours.render("ru") == "работает с понедельника по пятницу с 09:00 до 18:00 (UTC+8) (не проверено)"
    assert str(crossing_hours(roads.crossing("kordai-akzhol"))) == "open 24 hours (unverified)"
    odd = RoadText("hours.days", {"days": RoadText("days.list", {"days": [RoadText("day.5"), RoadText("day.6")]}),
                                  "opens": "10:00", "closes": "16:00", "offset": "+6"})
    assert str(odd) == "open on Saturday, Sunday, 10:00–16:00 (UTC+6)"
    assert odd.render("kk") == "мына күндері: сенбі, жексенбі 10:00–16:00 аралығында жұмыс істейді (UTC+6)"


def test_a_winter_plan_over_too_ashuu_carries_its_note_by_key_and_words_it_in_russian(index):
    car = load_catalog().get("chery-eq7-2024-cn")
    plan = plan_trip(TripRequest("Bishkek", "Osh", car, on_date=date(2027, 1, 15)), index)
    (too_ashuu,) = [n for n in plan.notes if n.code == "seasonal_hazard"
                    and n.params["name"].key == "pass.too-ashuu"]
    (note,) = too_ashuu.params["note"]
    assert note.key == "note.too-ashuu-snow" and not note.unverified  # medium confidence
    assert too_ashuu.as_dict()["params"]["note"][0]["text"].startswith("snow from late October")
    russian = note.render("ru") + too_ashuu.params["name"].render("ru")
    assert not _latin_words(russian), russian
    assert "Тоо-Ашуу" in russian
    assert any("Too-Ashuu" in w and "rockfalls" in w for w in plan.warnings)  # English for the CLI


def test_a_plan_through_alat_farap_tells_its_hours_and_visa_in_any_language(index):
    car = load_catalog().get("chery-eq7-2024-cn")
    plan = plan_trip(TripRequest("Bukhara", "Turkmenabat", car, on_date=date(2026, 7, 15)), index)
    (crossing,) = [c for leg in plan.legs for c in leg.crossings]
    assert crossing.id == "alat-farap" and crossing.hours == "open daily 09:00–18:00 (UTC+5) (unverified)"
    codes = {n.code: n for n in plan.notes}
    assert codes["crossing_hours"].params["hours"].key == "hours.daily"
    note = codes["crossing_note"].params["note"]
    assert (note.key, note.unverified) == ("note.tm-transit-visa", True)
    assert note.render("tg") == "раводиди транзитии Туркманистон лозим аст (тасдиқ нашудааст)"
    assert "Alat – Farap: a Turkmen transit visa is required (unverified)" in plan.warnings


def test_a_refusal_names_the_crossing_by_key(index):
    car = load_catalog().get("chery-eq7-2024-cn")
    with pytest.raises(Unreachable) as caught:
        plan_trip(TripRequest("Almaty", "Urumqi", car, on_date=date(2026, 7, 15)), index)
    (name,) = caught.value.explanation.params["crossings"]
    assert name.key == "crossing.khorgos-nurzholy"
    assert name.render("ru") == "Нур Жолы – Хоргос" and name.render("zh") == "努尔饶力 – 霍尔果斯"
    assert "Nur Zholy – Khorgos" in caught.value.render("cli")


def test_a_border_without_a_listed_crossing_is_told_by_country_name_not_code():
    """The note names both countries (the console words the codes in its language)."""
    from silkcharge.trips.explain import COUNTRIES, Message, render

    graph = load_road_graph()
    assert set(str(c) for c in graph.country) <= set(COUNTRIES)
    note = Message("border_note", {"from_country": "KZ", "to_country": "KG", "lat": "42.800",
                                   "lon": "74.600", "km": 12})
    assert render(note).startswith("Kazakhstan → Kyrgyzstan near 42.800, 74.600 at km 12")
    assert note.as_dict()["params"]["from_country"] == "KZ"
