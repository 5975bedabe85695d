"""Time-based one-time passwords (RFC 6238 over RFC 4226 HOTP): 6 digits, 30-second steps,
HMAC-SHA1, as every authenticator app reads from an ``otpauth://`` URI."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
from datetime import datetime, timedelta
from urllib.parse import quote

STEP = 30
DIGITS = 6


def new_secret() -> str:
    """160 random bits in base32, as RFC 4226 recommends."""
    return base64.b32encode(secrets.token_bytes(20)).decode().rstrip("=")


def code_at(secret: str, at: datetime) -> str:
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    counter = int(at.timestamp()) // STEP
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10**DIGITS).zfill(DIGITS)


def verify(secret: str, code: str, at: datetime, *, drift_steps: int = 1) -> bool:
    """Whether `code` is the one for `at`, or for a step before or after (a phone's clock drifts)."""
    code = code.strip().replace(" ", "")
    if len(code) != DIGITS or not code.isdigit():
        return False
    return any(
        hmac.compare_digest(code, code_at(secret, at + timedelta(seconds=STEP * step)))
        for step in range(-drift_steps, drift_steps + 1)
    )


def uri(secret: str, account: str, issuer: str = "silkcharge") -> str:
    """The otpauth:// URI an authenticator app reads (as a QR code or pasted)."""
    return f"otpauth://totp/{quote(issuer)}:{quote(account)}?secret={secret}&issuer={quote(issuer)}&digits={DIGITS}&period={STEP}"
