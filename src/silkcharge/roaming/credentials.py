"""The version information and credentials endpoints (OCPI 2.2.1), the partner's way in.

GET /ocpi/versions lists the versions we speak (2.2.1 only), GET /ocpi/2.2.1 its endpoints:
credentials and every module roaming/http.py mounts. /ocpi/2.2.1/credentials registers (POST),
renews (PUT), reads (GET) and ends (DELETE) a partner's registration (roaming/partners.py).

These endpoints accept any token that names a partner still able to register: token A of an
invited partner, the token we gave a partner we are registering with (it calls our versions
back with it), or a registered partner's token C. The spec's 405 answers: POST by a
registered partner, PUT or DELETE by one not registered.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from silkcharge.roaming.auth import presented_tokens, unauthorized
from silkcharge.roaming.partners import (
    Credentials,
    NoIdentity,
    PartnerService,
    Presented,
    RegistrationFailed,
    RegistrationRefused,
)
from silkcharge.roaming.wire import OCPI_VERSION, OcpiError, Status, ocpi_response
from silkcharge.store.tenancy import tenant_scope

router = APIRouter()

METHOD_NOT_ALLOWED = 405
CREDENTIALS_PATH = f"{OCPI_VERSION}/credentials"


def partners_of(request: Request) -> PartnerService:
    return request.app.state.roaming.partners


async def registering(request: Request) -> AsyncIterator[Presented]:
    """The partner whose token A, B or C is presented, in its tenant's scope; 401 otherwise."""
    found = await partners_of(request).presented(presented_tokens(request))
    if found is None:
        raise unauthorized()
    request.state.tenant_id = found.tenant_id
    with tenant_scope(found.tenant_id):
        yield found


def endpoints_listed(request: Request) -> list[dict[str, str]]:
    """Our 2.2.1 endpoints: credentials (symmetric: listed in both roles) and the modules'."""
    partners = partners_of(request)
    listed = [{"identifier": "credentials", "role": role, "url": partners.url_of(CREDENTIALS_PATH)}
              for role in ("SENDER", "RECEIVER")]
    for identifier, role, path in getattr(request.app.state, "ocpi_endpoints", []):
        listed.append({"identifier": identifier, "role": role, "url": partners.url_of(path)})
    return listed


@router.get("/versions")
async def versions(request: Request, _: Presented = Depends(registering)) -> Response:
    return ocpi_response([{"version": OCPI_VERSION, "url": partners_of(request).version_url}])


@router.get(f"/{OCPI_VERSION}")
async def version_details(request: Request, _: Presented = Depends(registering)) -> Response:
    return ocpi_response({"version": OCPI_VERSION, "endpoints": endpoints_listed(request)})


@router.get(f"/{CREDENTIALS_PATH}")
async def read_credentials(request: Request, who: Presented = Depends(registering)) -> Response:
    """Our credentials, with the token the partner called with."""
    return ocpi_response(await _ours(partners_of(request), who))


@router.post(f"/{CREDENTIALS_PATH}")
async def register(request: Request, credentials: Credentials, who: Presented = Depends(registering)) -> Response:
    return ocpi_response(await _accept(partners_of(request), who, "POST", credentials))


@router.put(f"/{CREDENTIALS_PATH}")
async def update(request: Request, credentials: Credentials, who: Presented = Depends(registering)) -> Response:
    return ocpi_response(await _accept(partners_of(request), who, "PUT", credentials))


@router.delete(f"/{CREDENTIALS_PATH}")
async def unregister(request: Request, who: Presented = Depends(registering)) -> Response:
    try:
        await partners_of(request).forget(who)
    except RegistrationRefused as refused:
        raise OcpiError(Status.CLIENT_ERROR, str(refused), METHOD_NOT_ALLOWED) from None
    return ocpi_response(None)


async def _ours(partners: PartnerService, who: Presented) -> dict:
    try:
        return await partners.our_credentials(who.token)
    except NoIdentity as missing:
        raise OcpiError(Status.SERVER_ERROR, str(missing), 503) from None


async def _accept(partners: PartnerService, who: Presented, method: str, credentials: Credentials) -> dict:
    try:
        return await partners.accept(who, method, credentials)
    except RegistrationRefused as refused:
        raise OcpiError(Status.CLIENT_ERROR, str(refused), METHOD_NOT_ALLOWED) from None
    except RegistrationFailed as failed:
        raise OcpiError(_known(failed.status), failed.message) from None
    except NoIdentity as missing:
        raise OcpiError(Status.SERVER_ERROR, str(missing), 503) from None


def _known(status: Status | int) -> Status:
    try:
        return Status(status)
    except ValueError:
        return Status.SERVER_ERROR
