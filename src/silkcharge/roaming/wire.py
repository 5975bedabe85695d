"""The OCPI 2.2.1 wire format: the response envelope, status codes, DateTime text and paging.

Every answer under /ocpi is an envelope `{"data", "status_code", "status_message",
"timestamp"}`; an error raised anywhere below /ocpi is an `OcpiError` and becomes such an
envelope with its HTTP status (roaming/http.py installs the handler). Timestamps are RFC 3339
in UTC with a 'Z', at most 25 characters, so at most milliseconds. Amounts go out as JSON
numbers written from their Decimal, never through a float.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from decimal import Decimal
from enum import IntEnum
from typing import Annotated, Any

import orjson
from fastapi import Query, Request
from fastapi.responses import Response
from starlette.datastructures import URL

from silkcharge.domain.clock import utcnow

OCPI_VERSION = "2.2.1"

MAX_LIMIT = 100
"""The most objects one page holds when no setting says otherwise (settings.ocpi_max_page_limit)."""


class Status(IntEnum):
    """OCPI status codes (status_codes.asciidoc): 1xxx success, 2xxx the client's fault,
    3xxx the server's, 4xxx a hub's."""

    SUCCESS = 1000
    CLIENT_ERROR = 2000
    INVALID_PARAMETERS = 2001
    NOT_ENOUGH_INFORMATION = 2002
    UNKNOWN_LOCATION = 2003
    UNKNOWN_TOKEN = 2004
    SERVER_ERROR = 3000
    UNABLE_TO_USE_CLIENT_API = 3001
    UNSUPPORTED_VERSION = 3002
    NO_MATCHING_ENDPOINTS = 3003
    HUB_ERROR = 4000
    UNKNOWN_RECEIVER = 4001
    FORWARD_TIMEOUT = 4002
    CONNECTION_PROBLEM = 4003


class OcpiError(Exception):
    """A refusal under /ocpi: answered as the envelope with `status` and `message`, with HTTP
    status `http_status`."""

    def __init__(self, status: Status, message: str, http_status: int = 400):
        super().__init__(message)
        self.status = Status(status)
        self.message = message
        self.http_status = http_status


def ocpi_datetime(moment: datetime) -> str:
    """`moment` as OCPI writes it: UTC, 'Z', milliseconds only when there are some. A naive
    datetime (SQLite gives those back) is read as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    moment = moment.astimezone(timezone.utc)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    millis = moment.microsecond // 1000
    if millis:
        text += f".{millis:03d}"
    return text + "Z"


_DATETIME = re.compile(
    r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|z|[+-]\d{2}:\d{2})?"
)


def parse_ocpi_datetime(text: str, field: str) -> datetime:
    """An OCPI DateTime as an aware UTC datetime. No zone means UTC (the spec's rule); an
    explicit offset, though the spec wants UTC, is honoured rather than refused. Anything else
    is an OcpiError 2001 that names `field`."""
    match = _DATETIME.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise OcpiError(Status.INVALID_PARAMETERS, f"{field}: {text!r} is not an RFC 3339 date and time")
    whole, fraction, zone = match.groups()
    try:
        moment = datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        raise OcpiError(Status.INVALID_PARAMETERS, f"{field}: {text!r} is not a real date and time") from None
    if fraction:
        moment = moment.replace(microsecond=int(fraction[:6].ljust(6, "0")))
    if zone in (None, "Z", "z"):
        return moment.replace(tzinfo=timezone.utc)
    return datetime.fromisoformat(moment.isoformat() + zone).astimezone(timezone.utc)


def envelope(data: Any = None, status: Status = Status.SUCCESS, message: str | None = None) -> dict:
    """The OCPI response object around `data`."""
    answer: dict[str, Any] = {"data": data, "status_code": int(status)}
    if message is not None:
        answer["status_message"] = message
    answer["timestamp"] = ocpi_datetime(utcnow())
    return answer


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return orjson.Fragment(format(value, "f"))  # the number exactly as written, no float
    if isinstance(value, datetime):
        return ocpi_datetime(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} has no OCPI JSON form")


def dumps(value: Any) -> bytes:
    """JSON for OCPI: Decimals exact, datetimes as OCPI DateTime."""
    return orjson.dumps(value, default=_json_default, option=orjson.OPT_PASSTHROUGH_DATETIME)


def ocpi_response(
    data: Any = None, *, status: Status = Status.SUCCESS, headers: dict[str, str] | None = None,
    message: str | None = None, http_status: int = 200,
) -> Response:
    """An answer under /ocpi: `data` in the envelope."""
    return Response(
        dumps(envelope(data, status, message)), status_code=http_status,
        media_type="application/json", headers=headers,
    )


def _page_cap(request: Request) -> int:
    settings = getattr(getattr(request.app.state, "roaming", None), "settings", None)
    return int(getattr(settings, "ocpi_max_page_limit", None) or MAX_LIMIT)


class Page:
    """The paging of a GET list (server side), as a FastAPI dependency: `offset`, `limit`
    (never above the server's maximum; absent means that maximum), and the optional
    `date_from` (inclusive) and `date_to` (exclusive) on last_updated."""

    def __init__(
        self,
        request: Request,
        offset: Annotated[int, Query(ge=0, description="index of the first object of the page")] = 0,
        limit: Annotated[int | None, Query(ge=1, description="most objects on the page (the server may give fewer)")]
        = None,
        date_from: Annotated[str | None, Query(description="only objects last updated at or after this")] = None,
        date_to: Annotated[str | None, Query(description="only objects last updated before this")] = None,
    ):
        cap = _page_cap(request)
        self.offset = offset
        self.limit = cap if limit is None else min(limit, cap)
        self.date_from = parse_ocpi_datetime(date_from, "date_from") if date_from is not None else None
        self.date_to = parse_ocpi_datetime(date_to, "date_to") if date_to is not None else None
        if self.date_from is not None and self.date_to is not None and self.date_to < self.date_from:
            raise OcpiError(Status.INVALID_PARAMETERS, "date_to is before date_from")

    def headers(self, request: Request, total: int) -> dict[str, str]:
        """X-Total-Count and X-Limit always; a Link to the next page while there is one (the
        same query, offset moved on)."""
        headers = {"X-Total-Count": str(total), "X-Limit": str(self.limit)}
        following = self.offset + self.limit
        if following < total:
            url = _public(request).include_query_params(offset=following, limit=self.limit)
            headers["Link"] = f'<{url}>; rel="next"'
        return headers


def _public(request: Request) -> URL:
    """The request's URL at our public address (settings.public_url), never the Host header's."""
    settings = getattr(getattr(request.app.state, "roaming", None), "settings", None)
    if settings is None:
        return request.url
    origin = URL(settings.public_url or f"http://{settings.api_host}:{settings.api_port}")
    return request.url.replace(scheme=origin.scheme, netloc=origin.netloc)
