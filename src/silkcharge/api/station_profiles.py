"""Station profiles through the API: list, read, store or change, delete; a station's effective
profile. What the facts mean: domain/station_profiles.py; how they combine: docs/ocpp.md."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from silkcharge.api.errors import NotFound, answers
from silkcharge.domain.station_profiles import FACTS
from silkcharge.services.station_profiles import effective_json, profile_json

router = APIRouter(tags=["station profiles"])

NAME = Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.+-]+$")


class ProfileIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    match: dict[str, Any] = Field(
        description="ocpp_version (1.6 / 2.0.1 / 2.1), vendor and model (glob patterns, case-insensitive; "
        "one or a list), firmware_from (inclusive), firmware_before (exclusive); {} matches every station")
    facts: dict[str, Any] = Field(description=f"any of: {', '.join(FACTS)}; null leaves a fact to the layers below")
    note: str | None = Field(default=None, max_length=2000)
    sources: dict[str, str] = Field(default_factory=dict, description="per fact, where it is documented")


def profiles(request: Request):
    return request.app.state.platform.station_profiles


@router.get("/station-profiles")
async def list_profiles(request: Request) -> list[dict[str, Any]]:
    """Every profile: shipped with silkcharge, stored by an operator, or a shipped one edited."""
    return [profile_json(p) for p in await profiles(request).all()]


@router.get("/station-profiles/facts")
async def list_facts() -> list[dict[str, str]]:
    """The facts a profile may state, with their meaning."""
    return [{"name": f.name, "kind": f.kind, "meaning": f.meaning} for f in FACTS.values()]


@router.get("/station-profiles/{name}", responses=answers(404))
async def get_profile(request: Request, name: str = NAME) -> dict[str, Any]:
    return profile_json(await profiles(request).get(name))


@router.put("/station-profiles/{name}", responses={201: {"description": "a new profile, stored"}})
async def put_profile(body: ProfileIn, request: Request, response: Response, name: str = NAME) -> dict[str, Any]:
    """Store a profile under `name` (201 when new). The name of a shipped profile stores an
    edited version of it, which replaces the shipped one until it is deleted."""
    stored, created = await profiles(request).put(name, body.match, body.facts, body.note, body.sources)
    response.status_code = 201 if created else 200
    return profile_json(stored)


@router.delete("/station-profiles/{name}", responses={
    204: {"description": "the stored profile is deleted"},
    **answers(404, 409),
})
async def delete_profile(request: Request, name: str = NAME) -> Response:
    """Delete a stored profile; an edited shipped one is reverted (and returned)."""
    reverted = await profiles(request).delete(name)
    if reverted is None:
        return Response(status_code=204)
    return Response(content=orjson.dumps(profile_json(reverted)), media_type="application/json")


@router.get("/stations/{station_id}/profile", responses=answers(404))
async def station_profile(station_id: str, request: Request) -> dict[str, Any]:
    """The station's effective profile: each fact with the profile or configuration key it
    came from."""
    found = await profiles(request).of_station(station_id)
    if found is None:
        raise NotFound(f"no station {station_id}")
    return effective_json(found)
