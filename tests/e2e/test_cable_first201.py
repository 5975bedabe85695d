"""OCPP 2.0.1 cable plugin first (E02, F01): a transaction starts without an idToken, and the
token an Updated event brings later is authorized, adopted and billed, as a start with it would
have been."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from ocpp.v201 import call

from silkcharge.domain.clock import to_ocpp, utcnow
from tests.e2e.network import add_token, register_station
from tests.e2e.peers import connected_peer, eventually
from tests.e2e.test_billing import STANDARD, cdr_of, component, publish
from tests.e2e.test_ocpp201 import boot
from tests.e2e.test_reservations import reserve, status_of

STATION = "TAS-201-CABLE"


def wh(value: int, at) -> list[dict]:
    return [{"timestamp": to_ocpp(at), "sampled_value": [
        {"value": value, "measurand": "Energy.Active.Import.Register", "unit_of_measure": {"unit": "Wh"}}]}]


async def plugged_in(peer, tx_id: str, evse: int = 1, at=None) -> dict:
    """TransactionEvent Started on cable plug-in, before any idToken (E02.FR.01)."""
    reply = await peer.call(call.TransactionEvent(
        event_type="Started", timestamp=to_ocpp(at or utcnow()), trigger_reason="CablePluggedIn", seq_no=0,
        transaction_info={"transaction_id": tx_id, "charging_state": "EVConnected"},
        evse={"id": evse, "connector_id": 1}, meter_value=wh(1000, at or utcnow()),
    ))
    assert reply.id_token_info is None  # nothing to authorize yet
    return reply


async def token_presented(peer, tx_id: str, token: str, *, trigger: str = "Authorized", at=None, **info):
    return await peer.call(call.TransactionEvent(
        event_type="Updated", timestamp=to_ocpp(at or utcnow()), trigger_reason=trigger, seq_no=1,
        transaction_info={"transaction_id": tx_id, "charging_state": "Charging", **info},
        id_token={"id_token": token, "type": "ISO14443"},
    ))


async def transaction(api, tx_id: str) -> dict:
    rows = (await api.get(f"/api/v1/transactions?station_id={STATION}")).json()
    return next(row for row in rows if row["station_tx_id"] == tx_id)


async def test_e02_cable_plugin_first_token_in_updated_is_authorized_adopted_and_billed(api, ocpp_url):
    await register_station(api, STATION)
    await add_token(api, "TAXI-7", group_id="taxi-almaty")
    assert (await publish(api, "KZ-STD", STANDARD)).status_code == 201
    fleet = {**STANDARD, "silkcharge": {"token_groups": ["taxi-almaty"]},
             "elements": [{"price_components": [component("ENERGY", "60", 1)]}]}
    assert (await publish(api, "KZ-TAXI", fleet)).status_code == 201
    t0 = utcnow() - timedelta(minutes=30)
    async with connected_peer(ocpp_url, STATION, "2.0.1") as peer:
        await boot(peer)
        await plugged_in(peer, "cable-1", at=t0)
        assert (await transaction(api, "cable-1"))["id_token"] is None
        reply = await token_presented(peer, "cable-1", "TAXI-7", at=t0 + timedelta(minutes=1))
        assert reply.id_token_info["status"] == "Accepted"
        assert reply.id_token_info["group_id_token"]["id_token"] == "taxi-almaty"
        adopted = await transaction(api, "cable-1")
        assert (adopted["id_token"], adopted["token_status"]) == ("TAXI-7", "Accepted")
        await peer.call(call.TransactionEvent(
            event_type="Ended", timestamp=to_ocpp(t0 + timedelta(minutes=20)), trigger_reason="EVDeparted",
            seq_no=2, transaction_info={"transaction_id": "cable-1", "stopped_reason": "EVDisconnected"},
            meter_value=wh(11000, t0 + timedelta(minutes=20)),
        ))
    cdr = await cdr_of(api, adopted["id"])
    assert cdr["tariff_code"] == "KZ-TAXI"  # the token's fleet tariff, not the standard one
    assert Decimal(cdr["total_excl_vat"]) == 600  # 10 kWh x 60


async def test_e02_unknown_token_in_updated_is_answered_unknown_and_kept_with_its_status(api, ocpp_url):
    await register_station(api, STATION)
    async with connected_peer(ocpp_url, STATION, "2.0.1") as peer:
        await boot(peer)
        await plugged_in(peer, "cable-2")
        reply = await token_presented(peer, "cable-2", "NOBODY")
    assert reply.id_token_info["status"] == "Unknown"
    row = await transaction(api, "cable-2")
    assert (row["id_token"], row["token_status"]) == ("NOBODY", "Unknown")


async def test_e02_token_charging_elsewhere_is_answered_concurrent_tx_when_it_comes_in_updated(api, ocpp_url):
    await register_station(api, STATION)
    await add_token(api, "CARD-1")
    async with connected_peer(ocpp_url, STATION, "2.0.1") as peer:
        await boot(peer)
        first = await peer.call(call.TransactionEvent(
            event_type="Started", timestamp=to_ocpp(utcnow()), trigger_reason="Authorized", seq_no=0,
            transaction_info={"transaction_id": "card-first"}, evse={"id": 1, "connector_id": 1},
            id_token={"id_token": "CARD-1", "type": "ISO14443"},
        ))
        assert first.id_token_info["status"] == "Accepted"
        await plugged_in(peer, "cable-3", evse=2)
        reply = await token_presented(peer, "cable-3", "CARD-1")
    assert reply.id_token_info["status"] == "ConcurrentTx"
    assert (await transaction(api, "cable-3"))["token_status"] == "ConcurrentTx"


async def test_e02_token_in_updated_uses_its_reservation_and_another_token_is_invalid(api, ocpp_url):
    await register_station(api, STATION)
    await add_token(api, "DRIVER-1")
    await add_token(api, "DRIVER-2")
    async with connected_peer(ocpp_url, STATION, "2.0.1") as peer:
        await boot(peer)
        held = await reserve(api, STATION, evse_id=1, token="DRIVER-1")
        other = await reserve(api, STATION, evse_id=2, token="DRIVER-1")
        assert held.status_code == other.status_code == 201, held.text
        await plugged_in(peer, "cable-4", evse=1)
        assert (await token_presented(peer, "cable-4", "DRIVER-1")).id_token_info["status"] == "Accepted"
        await plugged_in(peer, "cable-5", evse=2)
        assert (await token_presented(peer, "cable-5", "DRIVER-2")).id_token_info["status"] == "Invalid"
    assert await status_of(api, held.json()["id"]) == "Used"
    assert await status_of(api, other.json()["id"]) == "Accepted"


async def test_f01_remote_start_cable_plugin_first_adopts_the_token_and_its_remote_start_id(api, ocpp_url):
    await register_station(api, STATION)
    await add_token(api, "APP-77", type="Central")
    async with connected_peer(ocpp_url, STATION, "2.0.1") as peer:
        await boot(peer)
        await plugged_in(peer, "cable-6")
        sent = await api.post(f"/api/v1/stations/{STATION}/commands/remote_start",
                              json={"id_token": "APP-77", "evse_id": 1, "remote_start_id": 4242})
        assert sent.json()["status"] == "Accepted", sent.text
        asked = dict(peer.received)["RequestStartTransaction"]
        assert (asked["id_token"], asked["remote_start_id"]) == ({"id_token": "APP-77", "type": "Central"}, 4242)
        reply = await token_presented(peer, "cable-6", "APP-77", trigger="RemoteStart", remote_start_id=4242)
    assert reply.id_token_info["status"] == "Accepted"
    row = await eventually(lambda: transaction(api, "cable-6"))
    assert (row["id_token"], row["token_status"], row["remote_start_id"]) == ("APP-77", "Accepted", 4242)
