"""Reservations exactly as OCPP says (1.6 Reservation profile, 2.0.1 block H): the station
decides, stale stored state refuses nothing, a failed or ended reservation holds nothing, and
ReserveNow carries the token's type, a connector type and a group. `ocpp` package chargers
of both versions over real sockets, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201
from sqlalchemy import select

from silkcharge.domain.clock import to_ocpp, utcnow
from silkcharge.store.schema import Reservation
from tests.e2e.network import add_token
from tests.e2e.test_reservations import (
    STATION,
    in_minutes,
    online_station,
    reserve,
    start,
    status_of,
)

BOTH = pytest.mark.parametrize("version", ["1.6", "2.0.1"])


async def report_status(peer, version: str, evse_id: int, status: str) -> None:
    if version == "1.6":
        error = "GroundFailure" if status == "Faulted" else "NoError"
        await peer.call(call16.StatusNotification(connector_id=evse_id, error_code=error, status=status))
    else:
        await peer.call(call201.StatusNotification(
            timestamp=to_ocpp(utcnow()), connector_status=status, evse_id=evse_id, connector_id=1))


def sent_token(sent: dict, version: str) -> tuple:
    if version == "1.6":
        return sent["id_tag"], sent.get("parent_id_tag")
    group = sent.get("group_id_token") or {}
    return sent["id_token"], group.get("id_token"), group.get("type")


# -- the station decides ------------------------------------------------------------------------

@BOTH
@pytest.mark.parametrize("stored", ["Faulted", "Unavailable"])
async def test_h01_reservation_not_refused_on_stale_unavailable_state(api, ocpp_url, version, stored):
    """A connector stored Faulted or Unavailable (e.g. before a reboot) refuses nothing: the
    station is asked and its answer returned."""
    async with online_station(api, ocpp_url, version) as peer:
        await report_status(peer, version, 1, stored)
        made = await reserve(api, STATION[version])
        assert made.status_code == 201, made.text
        assert peer.actions()[-1] == "ReserveNow"
        # And when the station itself says so, that answer is what the caller gets.
        peer.reserve_answer = stored
        refused = await reserve(api, STATION[version], evse_id=2)
    assert refused.status_code == 409
    assert f"answered {stored}" in refused.json()["detail"]
    kept = (await api.get(f"/api/v1/reservations?station_id={STATION[version]}&status={stored}")).json()
    assert [r["evse_id"] for r in kept] == [2]  # kept with the station's answer; it holds nothing


@BOTH
async def test_h01_reservation_not_refused_on_a_reservation_left_over(api, ocpp_url, version):
    """A hold the station forgot (it rebooted) does not block the EVSE: the station accepts
    the new reservation, and the stored one, which it no longer held, becomes Superseded."""
    async with online_station(api, ocpp_url, version) as peer:
        await add_token(api, "LATER")
        old = (await reserve(api, STATION[version])).json()
        peer.held.clear()  # the station reboots and forgets its reservations
        new = await reserve(api, STATION[version], token="LATER")
        assert new.status_code == 201, new.text
        status, _ = await start(peer, version, "LATER", new.json()["id"])
    assert status == "Accepted"
    assert await status_of(api, old["id"]) == "Superseded"
    assert await status_of(api, new.json()["id"]) == "Used"


async def test_h01_concurrent_requests_reach_the_station_once(api, ocpp_url):
    """Two requests for one EVSE at the same instant: one request in flight per EVSE (a unique
    index), so the station is asked once."""
    async with online_station(api, ocpp_url, "2.0.1") as peer:
        answers = await asyncio.gather(*(reserve(api, STATION["2.0.1"]) for _ in range(4)))
    codes = sorted(response.status_code for response in answers)
    assert codes.count(201) == 1, [r.text for r in answers]
    assert set(codes) == {201, 409}
    holding = (await api.get("/api/v1/reservations?status=Accepted")).json()
    assert len(holding) == 1 and len(peer.held) == 1


# -- what holds the EVSE --------------------------------------------------------------------------

@BOTH
async def test_h01_a_reservation_whose_command_failed_never_holds_the_evse(api, ocpp_url, version):
    async with online_station(api, ocpp_url, version) as peer:
        def broken(**p):
            raise ValueError("reservation store full")

        # The station answers ReserveNow with a CALLERROR.
        original = peer.route_map["ReserveNow"]
        peer.route_map["ReserveNow"] = {**original, "_on_action": broken}
        failed = await reserve(api, STATION[version])
        peer.route_map["ReserveNow"] = original
        again = await reserve(api, STATION[version])
    assert failed.status_code == 502, failed.text
    assert again.status_code == 201, again.text
    statuses = [r["status"] for r in (await api.get(f"/api/v1/reservations?station_id={STATION[version]}")).json()]
    assert statuses == ["Accepted", "Rejected"]


async def test_h01_a_request_left_unanswered_by_a_crash_never_holds_the_evse(api, platform, ocpp_url):
    async with online_station(api, ocpp_url, "1.6"):
        async with platform.sessions.begin() as session:  # what a crash between ask and answer leaves
            orphan = Reservation(
                station_id=STATION["1.6"], evse_id=1, id_token="DRIVER-1", status="Requested",
                expires_at=utcnow() + timedelta(minutes=30), created_at=utcnow() - timedelta(minutes=5),
                updated_at=utcnow() - timedelta(minutes=5))
            session.add(orphan)
        made = await reserve(api, STATION["1.6"])
    assert made.status_code == 201, made.text
    assert await status_of(api, orphan.id) == "Rejected"


async def test_h01_a_request_still_awaiting_the_stations_answer_is_not_taken_for_unanswered(api, platform, ocpp_url):
    """On a loaded machine a ReserveNow may wait longer than the sweep's unanswered limit:
    the sweep leaves a request this process still awaits, and the station's Accepted holds."""
    async with online_station(api, ocpp_url, "1.6") as peer:
        asked, answer = asyncio.Event(), asyncio.Event()
        accept = peer.route_map["ReserveNow"]["_on_action"]

        async def slow_station(**payload):
            asked.set()
            await answer.wait()
            return accept(**payload)

        peer.route_map["ReserveNow"]["_on_action"] = slow_station
        made = asyncio.create_task(reserve(api, STATION["1.6"]))
        await asyncio.wait_for(asked.wait(), timeout=30)
        swept = await platform.reservations.expire_due(now=utcnow() + timedelta(minutes=5))
        answer.set()
        made = await made
    assert swept == 0
    assert made.status_code == 201, made.text
    assert await status_of(api, made.json()["id"]) == "Accepted"


@BOTH
async def test_h02_a_cancelled_reservation_frees_the_evse_at_the_station(api, ocpp_url, version):
    async with online_station(api, ocpp_url, version) as peer:
        first = (await reserve(api, STATION[version])).json()
        assert (await api.delete(f"/api/v1/reservations/{first['id']}")).status_code == 200
        again = await reserve(api, STATION[version])
    assert again.status_code == 201, again.text
    assert list(peer.held.values()) == [again.json()["id"]]


# -- what ReserveNow carries ------------------------------------------------------------------------

async def test_h01_reserve_now_carries_the_token_type(api, ocpp_url):
    async with online_station(api, ocpp_url, "2.0.1") as peer:
        await add_token(api, "KEYPAD-4711", type="KeyCode")
        made = await reserve(api, STATION["2.0.1"], token="KEYPAD-4711")
        assert made.status_code == 201, made.text
        reserved = peer.received[-1][1]["id_token"]
        started_type = await remote_start_type(api, peer, "KEYPAD-4711")
    assert reserved == {"id_token": "KEYPAD-4711", "type": "KeyCode"}
    assert started_type == "KeyCode"


async def remote_start_type(api, peer, token: str) -> str:
    sent = await api.post(f"/api/v1/stations/{STATION['2.0.1']}/commands/remote_start",
                          json={"id_token": token, "evse_id": 2})
    assert sent.status_code == 200, sent.text
    return peer.received[-1][1]["id_token"]["type"]


async def test_d01_send_local_list_carries_each_token_type(api, ocpp_url):
    async with online_station(api, ocpp_url, "2.0.1") as peer:
        await add_token(api, "MAC-00AABBCC", type="MacAddress")
        sent = await api.post(f"/api/v1/stations/{STATION['2.0.1']}/commands/send_local_list", json={
            "version": 1, "entries": [{"id_token": "DRIVER-1"}, {"id_token": "MAC-00AABBCC"},
                                      {"id_token": "APP-77", "type": "Central"}]})
        assert sent.status_code == 200, sent.text
        entries = peer.received[-1][1]["local_authorization_list"]
    assert [e["id_token"] for e in entries] == [
        {"id_token": "DRIVER-1", "type": "ISO14443"}, {"id_token": "MAC-00AABBCC", "type": "MacAddress"},
        {"id_token": "APP-77", "type": "Central"}]


@BOTH
async def test_h01_reservation_carries_a_group_and_the_group_member_uses_it(api, ocpp_url, version):
    """groupIdToken (1.6 parentIdTag): a token of the group may use the reservation too."""
    async with online_station(api, ocpp_url, version) as peer:
        await add_token(api, "FLEET-HQ", type="Central")
        await add_token(api, "FLEET-CAR-7", group_id="FLEET-HQ")
        made = await api.post(f"/api/v1/stations/{STATION[version]}/reservations", json={
            "evse_id": 1, "id_token": "DRIVER-1", "expires_at": in_minutes(30), "groupIdToken": "FLEET-HQ"})
        assert made.status_code == 201, made.text
        sent = peer.received[-1][1]
        status, _ = await start(peer, version, "FLEET-CAR-7")
    expected = ("DRIVER-1", "FLEET-HQ") if version == "1.6" else (
        {"id_token": "DRIVER-1", "type": "ISO14443"}, "FLEET-HQ", "Central")
    assert sent_token(sent, version) == expected
    assert made.json()["group_id_token"] == "FLEET-HQ"
    assert status == "Accepted"
    assert await status_of(api, made.json()["id"]) == "Used"


async def test_h01_reservation_with_connector_type(api, ocpp_url):
    async with online_station(api, ocpp_url, "2.0.1") as peer:
        made = await api.post(f"/api/v1/stations/{STATION['2.0.1']}/reservations", json={
            "evse_id": 0, "id_token": "DRIVER-1", "expires_at": in_minutes(30), "connectorType": "cCCS2"})
        assert made.status_code == 201, made.text
        sent = peer.received[-1][1]
    assert sent["connector_type"] == "cCCS2" and "evse_id" not in sent
    assert made.json()["connector_type"] == "cCCS2"


async def test_h01_connector_type_has_no_1_6_equivalent_and_nothing_is_stored(api, ocpp_url):
    async with online_station(api, ocpp_url, "1.6") as peer:
        refused = await api.post(f"/api/v1/stations/{STATION['1.6']}/reservations", json={
            "evse_id": 1, "id_token": "DRIVER-1", "expires_at": in_minutes(30), "connectorType": "cType2"})
        assert "ReserveNow" not in peer.actions()
    assert refused.status_code == 422
    assert "names no connector type" in refused.json()["detail"]
    assert (await api.get(f"/api/v1/reservations?station_id={STATION['1.6']}")).json() == []


# -- a whole station ---------------------------------------------------------------------------------

@BOTH
async def test_h03_station_wide_tried_when_support_unknown(api, ocpp_url, version):
    """Nothing says whether the station takes a non-EVSE-specific reservation: it is tried, and
    the station's answer decides."""
    async with online_station(api, ocpp_url, version) as peer:
        if version == "1.6":
            del peer.configuration["ReserveConnectorZeroSupported"]
        made = await reserve(api, STATION[version], evse_id=0)
        assert made.status_code == 201, made.text
        peer.held.clear()
        peer.reserve_answer = "Rejected"
        refused = await reserve(api, STATION[version], evse_id=0)
    assert "GetConfiguration" not in peer.actions() and "GetVariables" not in peer.actions()
    assert refused.status_code == 409
    assert "answered Rejected" in refused.json()["detail"]


async def test_h03_station_wide_refused_where_the_station_says_it_does_not_take_one(api, ocpp_url):
    async with online_station(api, ocpp_url, "2.0.1") as peer:
        sent = await api.post(f"/api/v1/stations/{STATION['2.0.1']}/commands/get_configuration",
                              json={"keys": ["ReservationCtrlr.NonEvseSpecific"]})
        assert sent.status_code == 200
        peer.variables[("ReservationCtrlr", "NonEvseSpecific")] = "false"
        await api.post(f"/api/v1/stations/{STATION['2.0.1']}/commands/get_configuration",
                       json={"keys": ["ReservationCtrlr.NonEvseSpecific"]})
        refused = await reserve(api, STATION["2.0.1"], evse_id=0)
        assert "ReserveNow" not in peer.actions()
    assert refused.status_code == 422
    assert "configuration ReservationCtrlr.NonEvseSpecific" in refused.json()["detail"]


async def test_h_stored_reservation_columns_are_what_the_route_took(api, platform, ocpp_url):
    async with online_station(api, ocpp_url, "2.0.1"):
        await add_token(api, "GROUP-A")
        made = await api.post(f"/api/v1/stations/{STATION['2.0.1']}/reservations", json={
            "evse_id": 2, "id_token": "DRIVER-1", "expires_at": in_minutes(30),
            "connector_type": "cType2", "group_id_token": "GROUP-A"})
        assert made.status_code == 201, made.text
    async with platform.sessions() as session:
        row = await session.scalar(select(Reservation).where(Reservation.id == made.json()["id"]))
    assert (row.connector_type, row.group_id_token) == ("cType2", "GROUP-A")

