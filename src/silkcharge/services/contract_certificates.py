"""Passing 2.0.1 Get15118EVCertificate (M01/M02: install or update an EV's contract
certificate) to the contract-certificate service the operator configured.

OCPP leaves the CSMS's side of this exchange to the operator's ISO 15118 PKI (a contract
certificate pool, a mobility operator's backend). silkcharge speaks one small JSON contract with
it, documented in docs/operations.md ("Certificates"), so an operator puts an adapter for their
PKI behind `contract_certificate_service_url`:

    POST {url}  {"stationId", "iso15118SchemaVersion", "action", "exiRequest"}
    200         {"status": "Accepted" | "Failed", "exiResponse": "<base64 EXI>"}
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from silkcharge.security.outbound import verifying_context

EXI_MAX = 7500  # Get15118EVCertificateResponse.exiResponse


class ContractServiceFailure(Exception):
    """The service could not answer; the reason says why."""


@dataclass(frozen=True)
class ContractAnswer:
    status: str
    exi_response: str


class ContractCertificateService:
    def __init__(self, url: str | None, timeout: float) -> None:
        self._url = url
        self._timeout = timeout

    async def request(
        self, station_id: str, schema_version: str, action: str, exi_request: str
    ) -> ContractAnswer:
        if not self._url:
            raise ContractServiceFailure(
                "no contract certificate service is configured (setting contract_certificate_service_url)"
            )
        body = {"stationId": station_id, "iso15118SchemaVersion": schema_version, "action": action,
                "exiRequest": exi_request}
        try:
            async with httpx.AsyncClient(timeout=self._timeout, verify=verifying_context()) as client:
                response = await client.post(self._url, json=body)
        except httpx.HTTPError as exc:
            raise ContractServiceFailure(f"the contract certificate service could not be reached: {exc!r}") from None
        if response.status_code != 200:
            raise ContractServiceFailure(f"the contract certificate service answered HTTP {response.status_code}")
        try:
            data = response.json()
            status, exi = data["status"], data.get("exiResponse", "")
        except (ValueError, KeyError, TypeError, AttributeError):
            raise ContractServiceFailure("the contract certificate service's answer is not the expected JSON") from None
        if status not in ("Accepted", "Failed") or not isinstance(exi, str) or len(exi) > EXI_MAX:
            raise ContractServiceFailure(
                f"the contract certificate service's answer is not usable (status {status!r}, "
                f"exiResponse of {len(exi) if isinstance(exi, str) else '?'} characters)"
            )
        return ContractAnswer(status, exi)
