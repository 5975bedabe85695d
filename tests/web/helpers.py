"""Choosing seeded stations for the browser tests."""

from __future__ import annotations

from silkcharge.sim.spec import StationSpec


def pick(fleet: dict[str, StationSpec], prefix: str, version: str, skip: int = 0) -> StationSpec:
    """The seeded station whose id starts with `prefix` and speaks `version` (the `skip`-th)."""
    found = [s for id_, s in sorted(fleet.items()) if id_.startswith(prefix) and s.ocpp_version == version]
    return found[skip]
