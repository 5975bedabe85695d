"""What a station's HTTP upgrade request says, read strictly: the OCPP subprotocol it offers and
its Basic-auth credentials. Whatever is malformed (no supported subprotocol, two Authorization
headers, a header that is not Base64, a user that is not UTF-8) becomes a `BadHandshake` with
the HTTP status and a reason to answer, never an exception that would answer 500.
"""

from __future__ import annotations

import base64
import binascii
from http import HTTPStatus

from websockets.datastructures import Headers

SUBPROTOCOLS = {"ocpp2.1": "2.1", "ocpp2.0.1": "2.0.1", "ocpp1.6": "1.6"}  # in order of preference


class BadHandshake(Exception):
    def __init__(self, status: HTTPStatus, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def printable(text: str, limit: int = 100) -> str:
    """Text a client sent, safe to put in an answer or a log line."""
    return "".join(c if c.isascii() and c.isprintable() else "?" for c in text)[:limit]


def check_subprotocol(headers: Headers) -> str:
    """The subprotocol to answer with: ours most preferred among those offered. OCPP-J: a CSMS
    refuses the upgrade when none of the offered subprotocols is one it speaks."""
    offered = [name.strip() for value in headers.get_all("Sec-WebSocket-Protocol")
               for name in value.split(",") if name.strip()]
    for name in SUBPROTOCOLS:
        if name in offered:
            return name
    raise BadHandshake(
        HTTPStatus.BAD_REQUEST,
        f"unsupported OCPP subprotocol (offered: {printable(', '.join(offered)) or 'none'}); "
        "use ocpp1.6, ocpp2.0.1 or ocpp2.1",
    )


def basic_credentials(headers: Headers) -> tuple[str, bytes] | None:
    """(user, password) of HTTP Basic authentication, or None without an Authorization header.
    The password stays bytes: a 1.6 AuthorizationKey may be binary."""
    values = headers.get_all("Authorization")
    if not values:
        return None
    if len(values) > 1:
        raise BadHandshake(HTTPStatus.BAD_REQUEST, f"send one Authorization header, not {len(values)}")
    scheme, _, token = values[0].strip().partition(" ")
    if scheme.lower() != "basic":
        raise BadHandshake(
            HTTPStatus.BAD_REQUEST,
            f"Authorization must use the Basic scheme (OCPP security profiles 1 and 2), not {printable(scheme, 20)!r}",
        )
    try:
        if not token.isascii():
            raise ValueError
        decoded = base64.b64decode(token.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise BadHandshake(
            HTTPStatus.BAD_REQUEST, "the Basic credentials are not valid Base64 of user:password"
        ) from None
    user, colon, password = decoded.partition(b":")
    if not colon:
        raise BadHandshake(HTTPStatus.BAD_REQUEST, "the Basic credentials must be user:password")
    try:
        return user.decode("utf-8"), password
    except UnicodeDecodeError:
        raise BadHandshake(HTTPStatus.BAD_REQUEST, "the Basic-auth user is not valid UTF-8") from None
