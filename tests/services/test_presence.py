"""Presence when a station hops between sockets (and nodes) faster than their writes land."""

from __future__ import annotations

import time
import uuid

import pytest

from silkcharge.store.schema import Station


def socket_id(opened_ns: int) -> str:
    return f"{opened_ns:016x}{uuid.uuid4().hex[:16]}"  # as StationConnection names its socket


async def stored(platform, station_id: str) -> Station:
    async with platform.sessions() as session:
        return await session.get(Station, station_id)


@pytest.mark.settings(auto_provision=True)
async def test_an_older_sockets_late_presence_write_and_close_leave_the_newer_socket_online(platform):
    await platform.stations.admit("HOP-1", "hop-password-0001")  # provisions it
    now = time.time_ns()
    older, newer = socket_id(now), socket_id(now + 1_000_000)
    await platform.stations.connected("HOP-1", "1.6", newer)
    await platform.stations.connected("HOP-1", "1.6", older)  # landed late, from the other node
    await platform.stations.disconnected("HOP-1", "socket closed", older)
    station = await stored(platform, "HOP-1")
    assert station.online is True and station.connection_id == newer


@pytest.mark.settings(auto_provision=True)
async def test_the_same_socket_coming_back_from_silence_is_online_again_and_its_close_takes_it_offline(platform):
    await platform.stations.admit("HOP-2", "hop-password-0002")  # provisions it
    mine = socket_id(time.time_ns())
    await platform.stations.connected("HOP-2", "1.6", mine)
    await platform.stations.connected("HOP-2", "1.6", mine)  # after being marked silent
    assert (await stored(platform, "HOP-2")).online is True
    await platform.stations.disconnected("HOP-2", "socket closed", mine)
    assert (await stored(platform, "HOP-2")).online is False
