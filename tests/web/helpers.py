"""Choosing seeded stations for the browser tests, and waiting for a station page to settle."""

from __future__ import annotations

from playwright.async_api import expect

from silkcharge.sim.spec import StationSpec


def pick(fleet: dict[str, StationSpec], prefix: str, version: str, skip: int = 0) -> StationSpec:
    """The seeded station whose id starts with `prefix` and speaks `version` (the `skip`-th)."""
    found = [s for id_, s in sorted(fleet.items()) if id_.startswith(prefix) and s.ocpp_version == version]
    return found[skip]


async def settled(page) -> None:
    """Wait until the station page has filled its sections and no reload is waiting: its
    sections change height as they fill, so a click during that can land on another element
    (Playwright checks only the press, not the release, against the target)."""
    await expect(page.locator("#page")).to_have_attribute("aria-busy", "false")
