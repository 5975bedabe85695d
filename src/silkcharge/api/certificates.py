"""Certificate routes: each station's certificates, installing and deleting them, renewal, the
certificates about to expire, and the CA that signs station certificates."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from silkcharge.api.bounds import RowId
from silkcharge.api.errors import STATION_CALL, answers
from silkcharge.api.models import Body, CommandOut
from silkcharge.security import pki
from silkcharge.services.certificates import CertificateService

router = APIRouter(tags=["certificates"])


class CertificateOut(Body):
    id: int
    station_id: str
    certificate_type: str = Field(description="as OCPP 2.0.1 names it, e.g. ChargingStationCertificate")
    source: str = Field(description="csr (signed by silkcharge's CA), delivered, install, or report")
    status: str = Field(description="Issued, Installed, Rejected or Deleted")
    hash_algorithm: str
    issuer_name_hash: str
    issuer_key_hash: str
    serial_number: str
    subject: str | None
    issuer: str | None
    not_before: datetime | None
    not_after: datetime | None
    pem: str | None
    created_at: datetime
    updated_at: datetime


class CertificateIn(BaseModel):
    model_config = {"extra": "forbid"}
    certificate: str = Field(min_length=1, max_length=5500, description="PEM of a root certificate")
    certificate_type: Literal[
        "CSMSRootCertificate", "ManufacturerRootCertificate", "V2GRootCertificate", "MORootCertificate"
    ]


class CertificateRefreshIn(BaseModel):
    model_config = {"extra": "forbid"}
    certificate_types: list[Literal[
        "CSMSRootCertificate", "ManufacturerRootCertificate", "V2GRootCertificate", "MORootCertificate",
        "V2GCertificateChain",
    ]] = Field(default_factory=list, description="empty: every type (2.0.1); a 1.6 station takes one")


class CertificateAuthorityOut(BaseModel):
    certificate_pem: str
    subject: str
    not_after: datetime
    external: bool = Field(description="configured from ca_cert_file/ca_key_file, not made by silkcharge")


def _certificates(request: Request) -> CertificateService:
    return request.app.state.platform.certificates


@router.get("/stations/{station_id}/certificates", response_model=list[CertificateOut], responses=answers(404))
async def station_certificates(
    station_id: str, request: Request,
    include_deleted: bool = Query(default=False, description="also those no longer on the station"),
):
    """What silkcharge knows is on the station: certificates its CA signed, roots installed by
    command, and what the station last reported (refresh to ask it again)."""
    return await _certificates(request).find(station_id, include_deleted=include_deleted)


@router.post("/stations/{station_id}/certificates", response_model=CommandOut, responses=answers(404, *STATION_CALL))
async def install_certificate(station_id: str, body: CertificateIn, request: Request):
    """Install a root certificate on the station (InstallCertificate); its answer is returned
    and the certificate listed as Installed or Rejected."""
    result = await _certificates(request).install(station_id, body.certificate, body.certificate_type)
    return CommandOut(**result.__dict__)


@router.post("/stations/{station_id}/certificates/refresh", response_model=CommandOut, responses=answers(404, *STATION_CALL))
async def refresh_certificates(station_id: str, body: CertificateRefreshIn, request: Request):
    """Ask the station which certificates it has (GetInstalledCertificateIds); the list follows."""
    result = await _certificates(request).refresh(station_id, list(body.certificate_types))
    return CommandOut(**result.__dict__)


@router.post("/stations/{station_id}/certificates/renew", response_model=CommandOut, responses=answers(404, *STATION_CALL))
async def renew_certificate(station_id: str, request: Request):
    """Ask the station for a new CSR for its own certificate (2.0.1 TriggerMessage, 1.6
    ExtendedTriggerMessage SignChargePointCertificate); silkcharge signs and delivers it."""
    result = await _certificates(request).renew(station_id)
    return CommandOut(**result.__dict__)


@router.delete("/stations/{station_id}/certificates/{certificate_id}", response_model=CommandOut,
               responses=answers(404, *STATION_CALL))
async def delete_certificate(station_id: str, certificate_id: RowId, request: Request):
    """Delete the certificate from the station (DeleteCertificate by its hash data)."""
    result = await _certificates(request).delete(station_id, certificate_id)
    return CommandOut(**result.__dict__)


@router.get("/certificates/expiring", response_model=list[CertificateOut])
async def expiring_certificates(request: Request):
    """Certificates on stations that expire within `certificate_expiry_warning_days`, soonest
    first (renew a station's own with POST .../certificates/renew)."""
    return await _certificates(request).find(expiring=True)


@router.get("/certificate-authority", response_model=CertificateAuthorityOut)
async def certificate_authority(request: Request):
    """The CA that signs station certificates: give its certificate to whatever verifies station
    client certificates (the TLS listener's client CA for security profile 3)."""
    authority = _certificates(request).authority
    ca = await authority.get()
    return CertificateAuthorityOut(
        certificate_pem=pki.certificate_pem(ca.certificate), subject=ca.certificate.subject.rfc4514_string(),
        not_after=ca.certificate.not_valid_after_utc, external=authority.external,
    )
