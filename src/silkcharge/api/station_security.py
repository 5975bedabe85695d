"""Operator routes that change how a station proves who it is: password rotation and a higher
security profile (services/station_security.py; docs/ocpp.md, "Security profiles")."""

from __future__ import annotations

from fastapi import APIRouter, Request

from silkcharge.api import models as m
from silkcharge.api.errors import STATION_CALL, answers
from silkcharge.domain.security import PasswordRotation, ProfileUpgrade

router = APIRouter(tags=["security"])


@router.post(
    "/stations/{station_id}/password-rotation", response_model=m.SecurityChangeOut,
    responses=answers(404, 422, *STATION_CALL),
)
async def rotate_password(station_id: str, body: PasswordRotation, request: Request):
    """Give the station a new Basic-auth password (2.0.1 SetVariables SecurityCtrlr.BasicAuthPassword,
    1.6 ChangeConfiguration AuthorizationKey). It is stored only once the station accepts; the
    old one is accepted until the station connects with the new one. Without `password` a
    random one is made, and never shown. 409 when the station refuses (nothing changes)."""
    change = await request.app.state.platform.station_security.rotate_password(station_id, body)
    return m.SecurityChangeOut(**change.__dict__)


@router.post(
    "/stations/{station_id}/security-profile-upgrade", response_model=m.SecurityChangeOut,
    responses=answers(404, 422, *STATION_CALL),
)
async def upgrade_security_profile(station_id: str, body: ProfileUpgrade, request: Request):
    """Raise the station's security profile (2.0.1 A05: SetNetworkProfile, NetworkConfigurationPriority,
    Reset; 1.6: ChangeConfiguration SecurityProfile, Reset). The answer has the profile pending;
    it is stored once the station comes back on it, and a weaker handshake is refused from then on."""
    change = await request.app.state.platform.station_security.upgrade_profile(station_id, body)
    return m.SecurityChangeOut(**change.__dict__)
