"""The station page's command forms speak the operator's language: every command in COMMANDS has
a title and every parameter a label in each of the console's 7 languages, the API name stays
as a small hint, and a form still sends what it did."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from playwright.async_api import expect

from silkcharge.domain.commands import COMMANDS
from tests.web.conftest import screenshot
from tests.web.helpers import pick

ROOT = Path(__file__).resolve().parents[2]
I18N = ROOT / "web" / "src" / "i18n"
STATION_PAGE = ROOT / "web" / "src" / "pages" / "station.ts"
LANGUAGES = ["en", "ru", "kk", "uz", "ky", "tg", "zh"]
SNAKE = re.compile(r"\b[A-Za-z0-9]+_[A-Za-z0-9_]+\b")


def strings(language: str) -> dict[str, str]:
    return json.loads((I18N / f"{language}.json").read_text(encoding="utf-8"))


def schemas() -> dict[str, dict]:
    return {name: params.model_json_schema() for name, params in COMMANDS.items()}


def parameters() -> set[str]:
    return {param for schema in schemas().values() for param in schema.get("properties", {})}


def groups() -> dict[str, list[str]]:
    """COMMAND_GROUPS of station.ts: each group and the commands listed under it."""
    block = re.search(r"const COMMAND_GROUPS[^=]*= \{(.*?)\n\};", STATION_PAGE.read_text("utf-8"), re.S)
    assert block, "station.ts has no COMMAND_GROUPS"
    return {group: re.findall(r'"(\w+)"', names)
            for group, names in re.findall(r"(\w+): \[(.*?)\]", block.group(1), re.S)}


def test_commands_have_parameters_to_label():
    assert len(COMMANDS) >= 48 and len(parameters()) >= 82


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_command_and_parameter_has_words_in_every_language(language):
    text = strings(language)
    wanted = [f"station.command_{name}" for name in COMMANDS] + [f"station.param_{p}" for p in sorted(parameters())]
    assert [key for key in wanted if key not in text] == [], f"{language}: add these keys to web/src/i18n/*.json"
    for key in wanted:
        words = text[key].strip()
        assert words, f"{language}: {key} is empty"
        assert not SNAKE.search(words), f"{language}: {key} shows an API name: {words!r}"
        if language != "en":
            assert words != strings("en")[key], f"{language}: {key} is still English"


def test_the_command_groups_name_real_commands_and_have_titles():
    listed = groups()
    names = [name for names in listed.values() for name in names]
    assert sorted(set(names) - set(COMMANDS)) == [], "station.ts groups a command COMMANDS does not have"
    assert len(names) == len(set(names)), "a command is in two groups"
    assert sorted(set(COMMANDS) - set(names)) == [], "put the new command in a group of COMMAND_GROUPS"
    for language in LANGUAGES:
        text = strings(language)
        for group in [*listed, "other"]:
            assert text.get(f"station.group_{group}", "").strip(), (language, group)


def test_translated_options_are_real_ocpp_values():
    enums = {}
    for schema in schemas().values():
        for param, spec in schema.get("properties", {}).items():
            for choice in [spec, *spec.get("anyOf", [])]:
                enums.setdefault(param, set()).update(choice.get("enum", []))
    options = [key.removeprefix("station.option_") for key in strings("en") if key.startswith("station.option_")]
    assert options
    for option in options:
        assert any(option == f"{param}_{value}" for param, values in enums.items() for value in values), option


def test_parameter_descriptions_are_not_empty():
    """The API docs show each parameter's description: one that is there says something."""
    for name, schema in schemas().items():
        for param, spec in schema.get("properties", {}).items():
            if "description" in spec:
                assert spec["description"].strip(), (name, param)


@pytest.mark.parametrize("locale, language, reset, evse", [
    ("ru-RU", "ru", "Перезагрузить станцию", "Номер EVSE"),
    ("zh-CN", "zh", "重启充电桩", "EVSE 编号"),
])
async def test_command_forms_show_translated_words_and_still_send(
        fleet, chargers, open_console, locale, language, reset, evse):
    spec = pick(fleet, "KZ-ALA", "1.6")
    await chargers(spec)
    page = await open_console(f"/#/stations/{spec.station_id}", locale=locale)
    await expect(page.locator("#connector-table tbody tr")).to_have_count(len(spec.connectors))
    text = strings(language)
    await expect(page.locator("#command-reset")).to_have_text(reset)
    await expect(page.locator("#command-clear_cache")).to_have_text(text["station.command_clear_cache"])
    unlock = page.locator('form.command[data-command="unlock_connector"]')
    await expect(unlock.locator("label").first).to_contain_text(evse)
    await expect(unlock.locator("code.api-name").first).to_have_text("unlock_connector")
    # every generic command form is there, under its group heading
    forms = page.locator("#commands form.command")
    offered = {await forms.nth(i).get_attribute("data-command") for i in range(await forms.count())}
    assert set(COMMANDS) <= offered
    await expect(page.locator('#commands .command-group[data-group="charging"] h3')).to_have_text(
        text["station.group_charging"])
    # the reset type's options: translated words over the OCPP values
    options = page.locator("#param-type option")
    assert [await options.nth(i).get_attribute("value") for i in range(await options.count())] == ["", "soft", "hard"]
    await expect(page.locator('#param-type option[value="soft"]')).to_have_text(text["station.option_type_soft"])
    await expect(page.locator('#param-type option[value="hard"]')).to_have_text(text["station.option_type_hard"])
    # no API name on screen but in the small code hints (and the station's replies)
    shown = await page.evaluate("""() => {
        const copy = document.querySelector('#commands').cloneNode(true);
        copy.querySelectorAll('code.api-name, pre.reply').forEach((e) => e.remove());
        return copy.textContent;
    }""")
    assert SNAKE.findall(shown) == []
    assert await page.evaluate("[...window.silkchargeMissing]") == []
    # a translated form still sends the command and shows the station's reply
    form = page.locator('form.command[data-command="clear_cache"]')
    await form.locator("button[type=submit]").click()
    reply = page.locator('pre.reply[data-command="clear_cache"]')
    await expect(reply).to_have_class("reply ok")
    await expect(reply).to_contain_text("Accepted")
    await screenshot(page, f"{language}-station-command-titles")
