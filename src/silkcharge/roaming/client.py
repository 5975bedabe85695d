"""Calling a roaming partner's OCPI platform: the client side of the transport.

Every request carries `Authorization: Token <base64 of the token>` (2.2.1), a fresh
X-Request-ID, an X-Correlation-ID (one per exchange: a registration's requests share it) and,
when the parties are known, the OCPI-from/to-country-code and -party-id routing headers. An
answer counts only as a 2xx whose body is an OCPI envelope with a 1xxx status; anything else
(another status, a body that is not an envelope, no answer in time, no connection) is an
`OcpiPeerError` that says what went wrong, so the operator can be told why.
"""

from __future__ import annotations

import base64
import logging
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from silkcharge.roaming.wire import Status, dumps
from silkcharge.security.outbound import verifying_context

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 10.0
MAX_PAGES = 10_000
"""A bound on how many pages one listing follows, against a partner whose Link never ends."""


class OcpiPeerError(Exception):
    """A partner's platform did not answer with success: its OCPI status and message when it
    sent an envelope, 3001 (we cannot use its API) when it did not, and its HTTP status
    (None: no HTTP answer at all)."""

    def __init__(self, status: Status | int, message: str, http_status: int | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.http_status = http_status

    def __str__(self) -> str:
        http = f"HTTP {self.http_status}, " if self.http_status is not None else ""
        return f"{self.message} ({http}OCPI {int(self.status)})"


@dataclass(frozen=True)
class PartyHeaders:
    """The OCPI routing headers: who sends (our party) and who should receive (theirs)."""

    from_country_code: str | None = None
    from_party_id: str | None = None
    to_country_code: str | None = None
    to_party_id: str | None = None

    def as_headers(self) -> dict[str, str]:
        pairs = {
            "OCPI-from-country-code": self.from_country_code, "OCPI-from-party-id": self.from_party_id,
            "OCPI-to-country-code": self.to_country_code, "OCPI-to-party-id": self.to_party_id,
        }
        return {name: value for name, value in pairs.items() if value}


def authorization(token: str) -> str:
    return "Token " + base64.b64encode(token.encode("utf-8")).decode("ascii")


_NEXT_LINK = re.compile(r'<([^>]+)>\s*;\s*rel\s*=\s*"?next"?', re.IGNORECASE)


def next_link(response: httpx.Response) -> str | None:
    """The URL of the next page, from the Link header (None on the last page)."""
    for value in response.headers.get_list("link"):
        match = _NEXT_LINK.search(value)
        if match:
            return match.group(1)
    return None


def _same_endpoint(link: str, url: str) -> bool:
    """Whether `link` names the same scheme, host, port and path as `url` (a trailing slash
    aside): a next page of the same list."""
    try:
        a, b = httpx.URL(link), httpx.URL(url)
    except (httpx.InvalidURL, ValueError):
        return False
    return (a.scheme, a.host, a.port, a.path.rstrip("/")) == (b.scheme, b.host, b.port, b.path.rstrip("/"))


def _header_int(response: httpx.Response, name: str) -> int | None:
    try:
        return int(response.headers[name])
    except (KeyError, ValueError):
        return None


class OcpiClient:
    """One partner's API, seen with one token. Use as `async with OcpiClient(...) as client`,
    or call `aclose()`. `party_headers`: a PartyHeaders, or the OCPI-from/to headers by name;
    `transport` is for tests that need a particular socket setup."""

    def __init__(
        self, token: str, *, party_headers: PartyHeaders | dict[str, str] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        correlation_id: str | None = None, transport: httpx.AsyncBaseTransport | None = None,
    ):
        self._token = token
        if isinstance(party_headers, dict):
            self._party_headers = {name: value for name, value in party_headers.items() if value}
        else:
            self._party_headers = (party_headers or PartyHeaders()).as_headers()
        self.correlation_id = correlation_id or str(uuid.uuid4())
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(timeout), transport=transport, follow_redirects=False,
                                       verify=verifying_context())

    async def __aenter__(self) -> OcpiClient:
        return self

    async def __aexit__(self, *_exc) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def get(self, url: str, params: dict[str, Any] | None = None) -> tuple[Any, httpx.Response]:
        return await self.request("GET", url, params=params)

    async def post(self, url: str, json: Any = None) -> tuple[Any, httpx.Response]:
        return await self.request("POST", url, json=json)

    async def put(self, url: str, json: Any = None) -> tuple[Any, httpx.Response]:
        return await self.request("PUT", url, json=json)

    async def patch(self, url: str, json: Any = None) -> tuple[Any, httpx.Response]:
        return await self.request("PATCH", url, json=json)

    async def delete(self, url: str, json: Any = None) -> tuple[Any, httpx.Response]:
        return await self.request("DELETE", url, json=json)

    async def pages(self, url: str, params: dict[str, Any] | None = None) -> AsyncIterator[Any]:
        """Every object of a paginated list, page after page as the Link headers lead.

        A Link that leaves the list's own endpoint (another scheme, host or path) is not
        followed: our token would go where the partner did not register it, and such links come
        from servers that build them from settings rather than the request (the independent
        peer announces https and a path of enum names). The next page is then asked of the
        endpoint itself with OCPI's `offset`, until X-Total-Count is reached or a page is empty."""
        following: str | None = url
        query = params
        offset = int((params or {}).get("offset") or 0)
        for _ in range(MAX_PAGES):
            if following is None:
                return
            data, response = await self.get(following, params=query)
            if not isinstance(data, list):
                raise OcpiPeerError(Status.UNABLE_TO_USE_CLIENT_API, f"{following} answered a page that is not a list",
                                    response.status_code)
            for item in data:
                yield item
            offset += len(data)
            link = next_link(response)
            if link is None or _same_endpoint(link, url):
                following, query = link, None  # the link carries the query
                continue
            total = _header_int(response, "x-total-count")
            if not data or (total is not None and offset >= total):
                return
            log.info("%s: its Link leads elsewhere (%s); the next page is asked by offset", url, link)
            following, query = url, {**(params or {}), "offset": offset}
        raise OcpiPeerError(Status.UNABLE_TO_USE_CLIENT_API, f"{url} did not stop paging after {MAX_PAGES} pages")

    async def request(
        self, method: str, url: str, *, params: dict[str, Any] | None = None, json: Any = None,
    ) -> tuple[Any, httpx.Response]:
        """One request; its envelope's data and the response, or OcpiPeerError."""
        headers = {
            "Authorization": authorization(self._token),
            "X-Request-ID": str(uuid.uuid4()),
            "X-Correlation-ID": self.correlation_id,
            **self._party_headers,
        }
        content = None
        if json is not None:
            headers["Content-Type"] = "application/json"
            content = dumps(json)
        try:
            response = await self._http.request(method, url, params=params, content=content, headers=headers)
        except httpx.TimeoutException:
            raise OcpiPeerError(Status.UNABLE_TO_USE_CLIENT_API, f"{method} {url}: no answer in time") from None
        except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:  # InvalidURL, ValueError: a URL httpx cannot use
            raise OcpiPeerError(Status.UNABLE_TO_USE_CLIENT_API, f"{method} {url}: could not connect ({exc})") from None
        return _read(method, url, response), response


def _read(method: str, url: str, response: httpx.Response) -> Any:
    where = f"{method} {url}"
    try:
        body = orjson.loads(response.content) if response.content else None
    except orjson.JSONDecodeError:
        body = None
    status = body.get("status_code") if isinstance(body, dict) else None
    if not isinstance(status, int) or isinstance(status, bool):
        if not response.is_success:
            raise OcpiPeerError(Status.UNABLE_TO_USE_CLIENT_API, f"{where} answered HTTP {response.status_code} "
                                "without an OCPI envelope", response.status_code)
        raise OcpiPeerError(Status.UNABLE_TO_USE_CLIENT_API, f"{where} did not answer an OCPI envelope "
                            f"(status_code missing): {_excerpt(response)}", response.status_code)
    message = body.get("status_message")
    if not response.is_success or not 1000 <= status < 2000:
        text = message if isinstance(message, str) and message else "no status_message"
        raise OcpiPeerError(_status(status), f"{where} refused: {text}", response.status_code)
    return body.get("data")


def _status(code: int) -> Status | int:
    try:
        return Status(code)
    except ValueError:
        return code


def _excerpt(response: httpx.Response, size: int = 120) -> str:
    text = response.content[:size].decode("utf-8", "replace")
    return repr(text + ("…" if len(response.content) > size else ""))
