"""Asking an OCSP responder (RFC 6960) about a certificate OCPP names by its hash data.

Used for 2.0.1 GetCertificateStatus (M06: the station wants an OCSP answer to staple for an EV)
and for contract certificates in Authorize (C07). The responder is the one configured
(`ocsp_responder_url`); the URL a station puts in its request is not followed, so a station
cannot make the CSMS call an address of its choosing. Every answer is checked before it is
believed (pki.read_ocsp_response: the right certificate, current, signed by the issuer or its
delegated responder).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
from cryptography import x509

from silkcharge.security import pki
from silkcharge.security.outbound import verifying_context


class OcspFailure(Exception):
    """No trustworthy answer: the reason says why (no responder, unreachable, unverifiable)."""


@dataclass(frozen=True)
class OcspResult:
    answer: pki.OcspAnswer
    der: bytes
    """The responder's answer as received, for a station to staple."""


class OcspChecker:
    def __init__(
        self, responder_url: str | None, timeout: float,
        known_issuers: Callable[[], Awaitable[list[x509.Certificate]]],
    ) -> None:
        self._url = responder_url
        self._timeout = timeout
        self._known_issuers = known_issuers

    async def check(self, hashes_of: dict[str, str]) -> OcspResult:
        if not self._url:
            raise OcspFailure("no OCSP responder is configured (setting ocsp_responder_url)")
        try:
            request = pki.ocsp_request(hashes_of)
        except (ValueError, KeyError) as exc:
            raise OcspFailure(f"the certificate hash data cannot form an OCSP request: {exc}") from None
        try:
            async with httpx.AsyncClient(timeout=self._timeout, verify=verifying_context()) as client:
                response = await client.post(
                    self._url, content=request, headers={"Content-Type": "application/ocsp-request"}
                )
        except httpx.HTTPError as exc:
            raise OcspFailure(f"the OCSP responder could not be reached: {exc!r}") from None
        if response.status_code != 200:
            raise OcspFailure(f"the OCSP responder answered HTTP {response.status_code}")
        try:
            answer = pki.read_ocsp_response(response.content, hashes_of, await self._known_issuers())
        except ValueError as exc:
            raise OcspFailure(str(exc)) from None
        return OcspResult(answer, response.content)
