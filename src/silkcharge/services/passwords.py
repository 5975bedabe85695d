"""Station passwords (OCPP security profile 1): stored as salted scrypt hashes, never in clear.

Verification results are cached per (station, password digest) so a station that reconnects
often, or thousands that reconnect at once, do not each pay the key-derivation cost again.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

_N, _R, _P = 2**12, 8, 1


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _bytes(password: str | bytes) -> bytes:
    """A password as the bytes that are hashed. Basic auth carries bytes: a 1.6 AuthorizationKey
    may be binary, so a password that is not UTF-8 is checked as it came, never refused as text."""
    return password if isinstance(password, bytes) else password.encode()


def hash_password(password: str | bytes) -> str:
    if not password:
        raise ValueError("a station password must not be empty")
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(_bytes(password), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${_b64(salt)}${_b64(digest)}"


def _verify(password: bytes, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    candidate = hashlib.scrypt(
        password, salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=32
    )
    return hmac.compare_digest(candidate, base64.b64decode(digest))


class PasswordVerifier:
    def __init__(self, cache_size: int = 200_000) -> None:
        self._good: dict[tuple[str, bytes], str] = {}
        self._cache_size = cache_size

    @staticmethod
    def _key(station_id: str, password: str | bytes) -> tuple[str, bytes]:
        return station_id, hashlib.sha256(_bytes(password)).digest()

    def known(self, station_id: str, password: str | bytes) -> bool:
        """Whether this password was verified for this station before (against any hash): a
        cheap sign that the caller is the station itself, not someone guessing."""
        return self._key(station_id, password) in self._good

    def is_cached(self, station_id: str, password: str | bytes, stored: str | None) -> bool:
        """A cheap check: was this exact password verified against this hash before?"""
        return bool(stored) and self._good.get(self._key(station_id, password)) == stored

    def verify(self, station_id: str, password: str | bytes, stored: str | None) -> bool:
        if not stored:
            return False
        key = self._key(station_id, password)
        if self._good.get(key) == stored:
            return True
        if not _verify(_bytes(password), stored):
            return False
        if len(self._good) >= self._cache_size:
            self._good.clear()
        self._good[key] = stored
        return True
