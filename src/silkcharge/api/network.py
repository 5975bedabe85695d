"""Operator routes that change where a station connects: a network connection profile (OCPP
2.0.1 B09) and moving the station to another CSMS (B10); services/network_profiles.py."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict

from silkcharge.api.errors import STATION_CALL, answers
from silkcharge.domain.network import CsmsMigration, NetworkProfileSetting

router = APIRouter(tags=["provisioning"])


class NetworkProfileChangeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    station_id: str
    action: str
    configuration_slot: int
    connection_data: dict[str, Any]
    status: str | None
    steps: list[dict[str, Any]]
    reason: str | None
    created_at: datetime
    updated_at: datetime


@router.post(
    "/stations/{station_id}/network-profiles", response_model=NetworkProfileChangeOut,
    responses=answers(404, 422, *STATION_CALL),
)
async def set_network_profile(station_id: str, body: NetworkProfileSetting, request: Request):
    """B09: SetNetworkProfile of one slot (never the one in use); nothing else changes until the
    station's NetworkConfigurationPriority names it. The station's answer is stored either way
    (GET .../network-profiles); 409 when it is Rejected."""
    return await request.app.state.platform.network_profiles.set_profile(station_id, body)


@router.get("/stations/{station_id}/network-profiles", response_model=list[NetworkProfileChangeOut],
            responses=answers(404))
async def network_profile_changes(station_id: str, request: Request):
    """The network profiles written and CSMS moves asked for, newest first, with each step's answer."""
    return await request.app.state.platform.network_profiles.changes(station_id)


@router.post(
    "/stations/{station_id}/csms-migration", response_model=NetworkProfileChangeOut,
    responses=answers(404, 422, *STATION_CALL),
)
async def migrate_to_another_csms(station_id: str, body: CsmsMigration, request: Request):
    """B10: a network profile for the other CSMS's URL in a free slot, that slot first in
    OCPPCommCtrlr.NetworkConfigurationPriority, then Reset OnIdle: once it reboots the station
    connects there. Each step's answer is stored; 409 when the profile or the priority is refused
    (the station stays here)."""
    return await request.app.state.platform.network_profiles.migrate(station_id, body)
