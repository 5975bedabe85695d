"""A security decision's reason is one sentence in English on the server and the same sentence,
word for word, in the console's English; every other language of the console fills in the same
values."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from silkcharge.domain.security_reasons import REASONS, placeholders, reason

I18N = Path(__file__).resolve().parents[2] / "web" / "src" / "i18n"
PREFIX = "security.reason."


def console_reasons(language: str) -> dict[str, str]:
    strings = json.loads((I18N / f"{language}.json").read_text(encoding="utf-8"))
    return {key.removeprefix(PREFIX): text for key, text in strings.items() if key.startswith(PREFIX)}


def test_the_consoles_english_says_each_reason_as_the_server_does():
    assert console_reasons("en") == REASONS


@pytest.mark.parametrize("language", sorted(p.stem for p in I18N.glob("*.json") if p.stem != "en"))
def test_every_language_words_every_reason_with_the_same_values(language):
    words = console_reasons(language)
    assert set(words) == set(REASONS)
    for code, text in words.items():
        assert set(re.findall(r"\{(\w+)\}", text)) == placeholders(REASONS[code]), (language, code)
        assert text != REASONS[code], f"{language} leaves {code} in English"


def test_a_reason_is_made_with_exactly_its_values_and_reads_them_in():
    made = reason("too_many_address", key="10.0.0.7", limit=5, window="60", retry=12)
    assert made.values == {"key": "10.0.0.7", "limit": "5", "window": "60", "retry": "12"}
    assert made.text == "too many failed handshakes for source address 10.0.0.7 (5 within 60 s); try again in 12 s"
    with pytest.raises(KeyError):
        reason("too_many_address", key="10.0.0.7")
    with pytest.raises(KeyError):
        reason("wrong_password", station="S-1")
    with pytest.raises(KeyError):
        reason("no_such_reason")
