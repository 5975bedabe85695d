"""Pseudonyms for idTokens and emails: a keyed hash that reads as a pseudonym.

Who reads the OCPP message log or analytics for operations (support, technicians, planners)
needs to follow one card across sessions, not to know the card's number or the driver's
email. A pseudonym is ``ps-`` and the first 16 hex digits (64 bits) of HMAC-SHA256 of the
value under the platform's secret key: the same value always gives the same pseudonym, and
without the key nobody can tell which card or email it stands for, nor test a guess. It has
19 characters, so it fits where an OCPP 1.6 idTag (CiString20) fits, and a deleted driver's
sessions keep it in place of the idToken.

`PersonalDataView` is the one switch: a reader built with ``clear=False`` shows pseudonyms,
with ``clear=True`` the values themselves (for callers with the personal-data permission).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from typing import Any

PREFIX = "ps-"
DIGITS = 16
_PSEUDONYM = re.compile(rf"^{PREFIX}[0-9a-f]{{{DIGITS}}}$")
_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
TOKEN_FIELDS = frozenset({
    "idTag", "parentIdTag",  # OCPP 1.6
    "idToken", "additionalIdToken", "customerIdentifier",  # OCPP 2.0.1 (idToken and groupIdToken objects)
})
"""Fields of OCPP payloads whose string value identifies a driver, in every action."""
_QUOTED_FIELDS = tuple(f'"{name}"' for name in TOKEN_FIELDS)


def is_pseudonym(value: str) -> bool:
    return bool(_PSEUDONYM.match(value))


class Pseudonyms:
    """Pseudonyms under one key. The key is bytes of at least 32; never log it."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("a pseudonym key needs at least 32 bytes")
        self._key = key

    def __repr__(self) -> str:
        return "Pseudonyms(key=<hidden>)"

    def of(self, value: str) -> str:
        """The pseudonym of an idToken. A pseudonym stays itself, so a value already replaced
        (a deleted driver's sessions) reads the same as the frames that still carry it."""
        if is_pseudonym(value):
            return value
        digest = hmac.new(self._key, value.encode(), hashlib.sha256).hexdigest()
        return PREFIX + digest[:DIGITS]

    def email(self, email: str) -> str:
        """The pseudonym of an email, the same whatever its case or surrounding spaces."""
        return self.of(email.strip().lower())

    def frame(self, text: str) -> str:
        """An OCPP-J frame (as logged) with every idToken and email replaced by its pseudonym;
        the text unchanged when there is none, or when it is not JSON (a malformed frame is
        logged as it came; emails in it are still replaced)."""
        if "@" not in text and not any(name in text for name in _QUOTED_FIELDS):
            return text  # most frames (heartbeats, status, meter values): no parsing
        try:
            frame = json.loads(text)
        except ValueError:
            return _EMAIL.sub(lambda m: self.email(m.group()), text)
        walked, changed = self._walk(frame)
        return json.dumps(walked, ensure_ascii=False, separators=(",", ":")) if changed else text

    def _walk(self, value: Any, field: str | None = None) -> tuple[Any, bool]:
        """The value with pseudonyms in place, and whether anything changed."""
        if isinstance(value, str):
            if field in TOKEN_FIELDS:
                new = self.of(value)
            elif "@" in value:
                new = _EMAIL.sub(lambda m: self.email(m.group()), value)
            else:
                return value, False
            return new, new != value
        if isinstance(value, dict):
            items = {key: self._walk(item, key) for key, item in value.items()}
            return {key: new for key, (new, _) in items.items()}, any(c for _, c in items.values())
        if isinstance(value, list):
            walked = [self._walk(item, field) for item in value]
            return [new for new, _ in walked], any(c for _, c in walked)
        return value, False


@dataclass(frozen=True)
class PersonalDataView:
    """How a reader shows idTokens and emails: pseudonymised unless ``clear``."""

    pseudonyms: Pseudonyms
    clear: bool = False

    def token(self, value: str | None) -> str | None:
        return value if self.clear or value is None else self.pseudonyms.of(value)

    def email(self, value: str | None) -> str | None:
        return value if self.clear or value is None else self.pseudonyms.email(value)

    def frame(self, text: str) -> str:
        return text if self.clear else self.pseudonyms.frame(text)
