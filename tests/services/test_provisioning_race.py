"""Auto-provisioning when a station's handshakes overlap (a retry while the first is inside)."""

from __future__ import annotations

import asyncio

import pytest

from silkcharge.services.stations import Admission


@pytest.mark.settings(auto_provision=True)
async def test_overlapping_first_handshakes_both_get_in_and_one_station_is_stored(platform):
    verdicts = await asyncio.gather(*(platform.stations.admit("RACE-1", "first-password") for _ in range(5)))
    assert [v.admission for v in verdicts] == [Admission.ACCEPT] * 5
    assert (await platform.stations.admit("RACE-1", "another-password")).admission is Admission.BAD_PASSWORD


@pytest.mark.settings(auto_provision=True)
async def test_a_concurrent_handshake_with_another_password_is_refused_not_an_error(platform):
    verdicts = await asyncio.gather(
        platform.stations.admit("RACE-2", "password-one"), platform.stations.admit("RACE-2", "password-two")
    )
    assert sorted(v.admission.value for v in verdicts) == ["accept", "bad_password"]
