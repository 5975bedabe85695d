"""Reservations of a whole station end to end: OCPP 1.6 ReserveNow with connectorId 0 (§5.13)
and 2.0.1 ReserveNow without evseId, `ocpp` package chargers against the real gateway, on SQLite
and PostgreSQL. The station keeps one connector free for the token, which may start on any."""

from __future__ import annotations

import pytest
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from silkcharge.domain.clock import to_ocpp, utcnow
from tests.e2e.network import add_token, register_station
from tests.e2e.test_reservations import (
    STATION,
    driver_login,
    in_minutes,
    online_station,
    reserve,
    status_of,
)


async def start_16(peer, connector_id: int, token: str, reservation_id: int | None = None) -> tuple[str, int]:
    reply = await peer.call(call16.StartTransaction(
        connector_id=connector_id, id_tag=token, meter_start=0, timestamp=to_ocpp(utcnow()),
        reservation_id=reservation_id))
    return reply.id_tag_info["status"], reply.transaction_id


async def listed(api, station_id: str) -> list[dict]:
    return (await api.get(f"/api/v1/reservations?station_id={station_id}")).json()


async def test_station_wide_reservation_is_used_on_whichever_connector_the_driver_takes(api, ocpp_url):
    station = STATION["1.6"]
    async with online_station(api, ocpp_url, "1.6") as peer:
        made = await reserve(api, station, evse_id=0)
        assert made.status_code == 201, made.text
        reservation = made.json()
        assert (reservation["evse_id"], reservation["status"]) == (0, "Accepted")
        action, sent = peer.received[-1]
        assert action == "ReserveNow"
        held = (sent["connector_id"], sent["reservation_id"], sent["id_tag"])
        assert held == (0, reservation["id"], "DRIVER-1")
        status, tx = await start_16(peer, 2, "DRIVER-1", reservation["id"])
        assert status == "Accepted"
    used = (await api.get(f"/api/v1/reservations/{reservation['id']}")).json()
    assert (used["status"], used["transaction_id"]) == ("Used", tx)
    started = (await api.get(f"/api/v1/transactions/{tx}")).json()
    assert (started["evse_id"], started["reservation_id"]) == (2, reservation["id"])


async def test_a_start_without_reservation_id_still_uses_the_tokens_station_wide_hold(api, ocpp_url):
    async with online_station(api, ocpp_url, "1.6") as peer:
        reservation = (await reserve(api, STATION["1.6"], evse_id=0)).json()
        status, tx = await start_16(peer, 1, "DRIVER-1")
    assert status == "Accepted"
    used = (await api.get(f"/api/v1/reservations/{reservation['id']}")).json()
    assert (used["status"], used["transaction_id"]) == ("Used", tx)


async def test_another_token_may_start_only_while_a_connector_stays_free_for_the_reserved_one(api, ocpp_url):
    async with online_station(api, ocpp_url, "1.6") as peer:
        await add_token(api, "STRANGER")
        await add_token(api, "SECOND")
        reservation = (await reserve(api, STATION["1.6"], evse_id=0)).json()
        # Two connectors: the first stranger leaves connector 2 free for DRIVER-1 ...
        first, _ = await start_16(peer, 1, "STRANGER")
        # ... a second would take the last one.
        second, _ = await start_16(peer, 2, "SECOND")
    assert (first, second) == ("Accepted", "Invalid")
    assert await status_of(api, reservation["id"]) == "Accepted"


async def test_a_faulted_connector_is_not_the_one_kept_free(api, ocpp_url):
    async with online_station(api, ocpp_url, "1.6") as peer:
        await add_token(api, "STRANGER")
        await peer.call(
            call16.StatusNotification(connector_id=2, error_code="GroundFailure", status="Faulted"))
        reservation = (await reserve(api, STATION["1.6"], evse_id=0)).json()
        assert reservation["status"] == "Accepted"
        status, _ = await start_16(peer, 1, "STRANGER")
        mine, _ = await start_16(peer, 1, "DRIVER-1", reservation["id"])
    assert (status, mine) == ("Invalid", "Accepted")


async def test_a_station_that_reports_no_support_is_refused_and_nothing_is_stored(api, ocpp_url):
    station = STATION["1.6"]
    async with online_station(api, ocpp_url, "1.6") as peer:
        peer.configuration["ReserveConnectorZeroSupported"] = "false"
        read = await api.post(f"/api/v1/stations/{station}/commands/get_configuration",
                              json={"keys": ["ReserveConnectorZeroSupported"]})
        assert read.status_code == 200
        refused = await reserve(api, station, evse_id=0)
        assert "ReserveNow" not in peer.actions()
    assert refused.status_code == 422, refused.text
    assert "(configuration ReserveConnectorZeroSupported)" in refused.json()["detail"]
    assert await listed(api, station) == []


async def test_station_wide_and_connector_reservations_are_decided_by_the_station(api, ocpp_url):
    """A whole-station request while an EVSE is held (or the reverse) is the station's to judge:
    it may keep another connector free, or answer Occupied; both holds may stand together."""
    station = STATION["1.6"]
    async with online_station(api, ocpp_url, "1.6") as peer:
        await add_token(api, "OTHER")
        connector = (await reserve(api, station, evse_id=2, token="OTHER")).json()
        whole = await reserve(api, station, evse_id=0)
        assert whole.status_code == 201, whole.text
        peer.reserve_answer = "Occupied"  # no connector left to keep free for a third
        after = await reserve(api, station, evse_id=1, token="OTHER")
    assert after.status_code == 409
    assert "answered Occupied" in after.json()["detail"]
    holding = sorted(r["id"] for r in await listed(api, station) if r["status"] == "Accepted")
    assert holding == [connector["id"], whole.json()["id"]]


async def test_station_wide_request_naming_a_connector_is_refused(api, ocpp_url):
    async with online_station(api, ocpp_url, "1.6"):
        response = await api.post(f"/api/v1/stations/{STATION['1.6']}/reservations", json={
            "evse_id": 0, "connector_id": 1, "id_token": "DRIVER-1", "expires_at": in_minutes(30)})
    assert response.status_code == 422
    assert "names no connector_id" in response.json()["detail"]
    assert await listed(api, STATION["1.6"]) == []


async def test_driver_reserves_a_whole_station_for_their_own_token(api, platform, ocpp_url):
    async with online_station(api, ocpp_url, "1.6") as peer:
        await platform.drivers.ensure("ana@example.kz", "correct horse", "Ana", "kk", ["DRIVER-1"])
        ana = await driver_login(api, "ana@example.kz", "correct horse")
        made = await api.post("/api/v1/driver/reservations", headers=ana, json={
            "station_id": STATION["1.6"], "evse_id": 0, "expires_at": in_minutes(20)})
        assert made.status_code == 201, made.text
        assert peer.received[-1][1]["connector_id"] == 0
    assert (made.json()["evse_id"], made.json()["id_token"]) == (0, "DRIVER-1")


# -- OCPP 2.0.1: ReserveNow without evseId, where ReservationCtrlr.NonEvseSpecific is true -----

async def test_201_station_wide_reservation_omits_evse_id_and_is_used_on_evse_2(api, ocpp_url):
    station = STATION["2.0.1"]
    async with online_station(api, ocpp_url, "2.0.1") as peer:
        peer.variables[("ReservationCtrlr", "NonEvseSpecific")] = "true"
        made = await reserve(api, station, evse_id=0)
        assert made.status_code == 201, made.text
        reservation = made.json()
        action, sent = peer.received[-1]
        assert action == "ReserveNow"
        assert "evse_id" not in sent
        assert sent["id"] == reservation["id"]
        reply = await peer.call(call201.TransactionEvent(
            event_type="Started", timestamp=to_ocpp(utcnow()), trigger_reason="Authorized", seq_no=0,
            transaction_info={"transaction_id": "tx-wide"}, id_token={"id_token": "DRIVER-1", "type": "ISO14443"},
            evse={"id": 2, "connector_id": 1}, reservation_id=reservation["id"]))
        assert reply.id_token_info["status"] == "Accepted"
    assert await status_of(api, reservation["id"]) == "Used"


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_an_offline_station_is_refused_before_anything_is_asked(api, version):
    station = STATION[version]
    await register_station(api, station)
    await add_token(api, "DRIVER-1")
    response = await reserve(api, station, evse_id=0)
    assert response.status_code == 409
    assert response.json()["detail"] == f"reservation refused: station {station} is offline"
    assert await listed(api, station) == []
