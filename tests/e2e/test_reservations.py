"""Reservations end to end (OCPP 1.6 Reservation profile, OCPP 2.0.1 functional block H):
`ocpp` package chargers of both versions against the real gateway, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from decimal import Decimal

import pytest
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from silkcharge.domain.clock import to_ocpp, utcnow
from silkcharge.store.schema import Reservation
from tests.e2e.network import add_token, register_station
from tests.e2e.peers import connected_peer, eventually

STATION = {"1.6": "ALA-RES-16", "2.0.1": "TAS-RES-201"}
BOTH = pytest.mark.parametrize("version", ["1.6", "2.0.1"])


async def boot(peer, version: str) -> None:
    if version == "1.6":
        reply = await peer.call(
            call16.BootNotification(charge_point_vendor="Zhida", charge_point_model="DC-120"))
    else:
        reply = await peer.call(call201.BootNotification(
            charging_station={"model": "Terra 184", "vendor_name": "ABB"}, reason="PowerUp"))
    assert reply.status == "Accepted"


@contextlib.asynccontextmanager
async def online_station(api, ocpp_url, version: str):
    await register_station(api, STATION[version])
    await add_token(api, "DRIVER-1")
    async with connected_peer(ocpp_url, STATION[version], version) as peer:
        await boot(peer, version)
        yield peer


def in_minutes(minutes: float) -> str:
    return to_ocpp(utcnow() + timedelta(minutes=minutes))


async def reserve(api, station_id: str, *, evse_id: int = 1, token: str = "DRIVER-1", minutes: float = 30):
    return await api.post(
        f"/api/v1/stations/{station_id}/reservations",
        json={"evse_id": evse_id, "id_token": token, "expires_at": in_minutes(minutes)},
    )


async def status_of(api, reservation_id: int) -> str:
    return (await api.get(f"/api/v1/reservations/{reservation_id}")).json()["status"]


async def start(peer, version: str, token: str, reservation_id: int | None = None) -> tuple[str, int | None]:
    """Start a transaction on EVSE 1; the authorization status and our transaction id."""
    if version == "1.6":
        reply = await peer.call(call16.StartTransaction(
            connector_id=1, id_tag=token, meter_start=0, timestamp=to_ocpp(utcnow()),
            reservation_id=reservation_id))
        return reply.id_tag_info["status"], reply.transaction_id
    reply = await peer.call(call201.TransactionEvent(
        event_type="Started", timestamp=to_ocpp(utcnow()), trigger_reason="Authorized", seq_no=0,
        transaction_info={"transaction_id": f"tx-{token}"}, id_token={"id_token": token, "type": "ISO14443"},
        evse={"id": 1, "connector_id": 1}, reservation_id=reservation_id))
    return reply.id_token_info["status"], None


@BOTH
async def test_h01_reservation_reaches_the_station_and_is_used_by_its_token(api, ocpp_url, version):
    async with online_station(api, ocpp_url, version) as peer:
        made = await reserve(api, STATION[version])
        assert made.status_code == 201, made.text
        reservation = made.json()
        assert reservation["status"] == "Accepted"
        action, sent = peer.received[-1]
        assert action == "ReserveNow"
        if version == "1.6":
            held = (sent["reservation_id"], sent["connector_id"], sent["id_tag"])
        else:
            held = (sent["id"], sent["evse_id"], sent["id_token"]["id_token"])
        assert held == (reservation["id"], 1, "DRIVER-1")
        status, _ = await start(peer, version, "DRIVER-1", reservation["id"])
        assert status == "Accepted"
    used = (await api.get(f"/api/v1/reservations/{reservation['id']}")).json()
    tx = (await api.get(f"/api/v1/transactions?station_id={STATION[version]}")).json()[0]
    assert used["status"] == "Used"
    assert used["transaction_id"] == tx["id"]
    assert tx["reservation_id"] == reservation["id"]


@BOTH
async def test_another_token_cannot_start_on_a_reserved_evse(api, ocpp_url, version):
    async with online_station(api, ocpp_url, version) as peer:
        await add_token(api, "STRANGER")
        reservation = (await reserve(api, STATION[version])).json()
        status, _ = await start(peer, version, "STRANGER")
    assert status == "Invalid"
    assert await status_of(api, reservation["id"]) == "Accepted"


@pytest.mark.settings(reservation_check_every=0.1)
async def test_a_reservation_not_used_in_time_expires(api, ocpp_url):
    async with online_station(api, ocpp_url, "1.6"):
        reservation = (await reserve(api, STATION["1.6"], minutes=1.5 / 60)).json()
        assert reservation["status"] == "Accepted"
        assert await eventually(lambda: _is(api, reservation["id"], "Expired"))
        # The EVSE is free again for someone else.
        assert (await reserve(api, STATION["1.6"])).status_code == 201


async def _is(api, reservation_id: int, wanted: str) -> bool:
    return await status_of(api, reservation_id) == wanted


@BOTH
async def test_h02_cancelled_reservation_reaches_the_station(api, ocpp_url, version):
    async with online_station(api, ocpp_url, version) as peer:
        reservation = (await reserve(api, STATION[version])).json()
        cancelled = await api.delete(f"/api/v1/reservations/{reservation['id']}")
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["status"] == "Cancelled"
        assert peer.received[-1] == ("CancelReservation", {"reservation_id": reservation["id"]})
        again = await api.delete(f"/api/v1/reservations/{reservation['id']}")
    assert again.status_code == 409
    assert "already Cancelled" in again.json()["detail"]


async def driver_login(api, email: str, password: str) -> dict[str, str]:
    """A logged-in driver's headers (bearer; the test client keeps no cookie, no API key)."""
    session = await api.post("/api/v1/driver/login", json={"email": email, "password": password})
    assert session.status_code == 200, session.text
    api.cookies.clear()
    return {"X-API-Key": "", "Authorization": f"Bearer {session.json()['token']}"}


async def test_driver_reserves_for_their_own_token_and_only_they_can_cancel(api, platform, ocpp_url):
    async with online_station(api, ocpp_url, "2.0.1"):
        await platform.drivers.ensure("ana@example.kz", "correct horse", "Ana", "kk", ["DRIVER-1"])
        await platform.drivers.register("bek@example.kz", "battery staple", "Bek")
        ana = await driver_login(api, "ana@example.kz", "correct horse")
        bek = await driver_login(api, "bek@example.kz", "battery staple")
        made = await api.post("/api/v1/driver/reservations", headers=ana, json={
            "station_id": STATION["2.0.1"], "evse_id": 2, "expires_at": in_minutes(20)})
        assert made.status_code == 201, made.text
        assert made.json()["id_token"] == "DRIVER-1"
        url = f"/api/v1/driver/reservations/{made.json()['id']}"
        assert (await api.delete(url, headers=bek)).status_code == 404
        mine = await api.delete(url, headers=ana)
    assert mine.status_code == 200
    assert mine.json()["status"] == "Cancelled"


async def test_h04_station_reports_a_reservation_removed(api, ocpp_url):
    async with online_station(api, ocpp_url, "2.0.1") as peer:
        reservation = (await reserve(api, STATION["2.0.1"])).json()
        await peer.call(call201.ReservationStatusUpdate(
            reservation_id=reservation["id"], reservation_update_status="Removed"))
    assert await status_of(api, reservation["id"]) == "Cancelled"


@BOTH
async def test_refusals_name_the_problem_and_store_nothing(api, ocpp_url, version):
    station = STATION[version]
    async with online_station(api, ocpp_url, version):
        await add_token(api, "BLOCKED", status="Blocked")
        refusals = {
            "unknown idToken NOBODY": (422, await reserve(api, station, token="NOBODY")),
            "idToken BLOCKED is Blocked": (422, await reserve(api, station, token="BLOCKED")),
            "is in the past": (422, await reserve(api, station, minutes=-5)),
            "more than 24 hours ahead": (422, await reserve(api, station, minutes=25 * 60)),
            "has no EVSE 7": (422, await reserve(api, station, evse_id=7)),
        }
        assert (await api.get(f"/api/v1/reservations?station_id={station}")).json() == []
    for reason, (code, response) in refusals.items():
        assert response.status_code == code, (reason, response.text)
        assert reason in response.json()["detail"]


@BOTH
async def test_h01_a_held_evse_is_refused_by_the_station_and_the_hold_is_named(api, ocpp_url, version):
    station = STATION[version]
    async with online_station(api, ocpp_url, version):
        first = (await reserve(api, station)).json()
        overlap = await reserve(api, station, minutes=10)
    # The station decides (it answers Occupied for an EVSE it holds); silkcharge names its hold.
    assert overlap.status_code == 409
    detail = overlap.json()["detail"]
    assert "answered Occupied" in detail and f"by reservation {first['id']}" in detail
    listed = (await api.get(f"/api/v1/reservations?station_id={station}")).json()
    assert [(r["id"], r["status"]) for r in listed][::-1] == [(first["id"], "Accepted"), (first["id"] + 1, "Occupied")]


async def test_offline_station_is_refused(api):
    await register_station(api, STATION["1.6"])
    await add_token(api, "DRIVER-1")
    response = await reserve(api, STATION["1.6"])
    assert response.status_code == 409
    assert response.json()["detail"] == f"reservation refused: station {STATION['1.6']} is offline"
    assert (await api.get("/api/v1/reservations")).json() == []


@BOTH
async def test_station_refusal_is_reported_and_recorded(api, ocpp_url, version):
    async with online_station(api, ocpp_url, version) as peer:
        peer.reserve_answer = "Occupied"
        response = await reserve(api, STATION[version])
        assert response.status_code == 409
        assert "answered Occupied" in response.json()["detail"]
        stored = (await api.get("/api/v1/reservations?status=Occupied")).json()
        assert len(stored) == 1
        # A refused reservation holds nothing: the EVSE can be asked again.
        peer.reserve_answer = "Accepted"
        assert (await reserve(api, STATION[version])).status_code == 201


# -- reservation and no-show fees ---------------------------------------------------------------

def _flat(price: str, reservation: str | None = None) -> dict:
    element: dict = {"price_components": [{"type": "FLAT", "price": price, "vat": 16, "step_size": 1}]}
    if reservation:
        element["restrictions"] = {"reservation": reservation}
    return element


# 100 KZT to reserve, 500 KZT more when nobody comes; the session itself 80 KZT/kWh + 200 KZT.
WITH_FEES = {
    "currency": "KZT", "country_code": "KZ", "party_id": "SLK",
    "elements": [
        _flat("100", "RESERVATION"),
        _flat("500", "RESERVATION_EXPIRES"),
        {"price_components": [{"type": "ENERGY", "price": "80", "vat": 16, "step_size": 1},
                              {"type": "FLAT", "price": "200", "vat": 16, "step_size": 1}]},
    ],
}


async def _publish_fees(api) -> None:
    response = await api.post("/api/v1/tariffs", json={"code": "KZ-FEES", "operator": "KZ-TEST",
                                                       "tariff": WITH_FEES})
    assert response.status_code == 201, response.text


async def _charge_10_kwh(peer, version: str, reservation_id: int) -> int | None:
    status, tx = await start(peer, version, "DRIVER-1", reservation_id)
    assert status == "Accepted"
    later = to_ocpp(utcnow() + timedelta(minutes=10))
    if version == "1.6":
        await peer.call(call16.StopTransaction(meter_stop=10000, timestamp=later, transaction_id=tx))
        return tx
    now = to_ocpp(utcnow())
    await peer.call(call201.TransactionEvent(  # the register at the start
        event_type="Updated", timestamp=now, trigger_reason="MeterValuePeriodic", seq_no=1,
        transaction_info={"transaction_id": "tx-DRIVER-1"}, evse={"id": 1, "connector_id": 1},
        meter_value=[{"timestamp": now, "sampled_value": [{"value": 0}]}]))
    await peer.call(call201.TransactionEvent(
        event_type="Ended", timestamp=later, trigger_reason="EVDeparted", seq_no=2,
        transaction_info={"transaction_id": "tx-DRIVER-1"}, evse={"id": 1, "connector_id": 1},
        meter_value=[{"timestamp": later, "sampled_value": [{"value": 10000}]}]))
    return None


async def _cdr(api, path: str) -> dict:
    async def ready():
        response = await api.get(path)
        return response.json() if response.status_code == 200 else None

    return await eventually(ready)


@BOTH
async def test_a_used_reservation_puts_its_fee_on_the_sessions_cdr(api, ocpp_url, version):
    async with online_station(api, ocpp_url, version) as peer:
        await _publish_fees(api)
        reservation = (await reserve(api, STATION[version])).json()
        tx = await _charge_10_kwh(peer, version, reservation["id"])
    if tx is None:
        tx = (await api.get(f"/api/v1/transactions?station_id={STATION[version]}")).json()[0]["id"]
    cdr = await _cdr(api, f"/api/v1/transactions/{tx}/cdr")
    # 10 kWh x 80 + 200 session + 100 reservation = 1100 excl. VAT; x 1.16 = 1276.
    assert (Decimal(cdr["total_excl_vat"]), Decimal(cdr["total_incl_vat"])) == (Decimal(1100), Decimal(1276))
    assert Decimal(str(cdr["cdr"]["total_reservation_cost"]["incl_vat"])) == Decimal(116)
    assert "Reservation fee" in (await api.get(f"/api/v1/transactions/{tx}/receipt")).text
    assert (await api.get(f"/api/v1/reservations/{reservation['id']}/cdr")).status_code == 404


@BOTH
@pytest.mark.settings(reservation_check_every=0.1)
async def test_a_no_show_gets_its_own_charge_with_the_no_show_fee(api, platform, ocpp_url, version):
    async with online_station(api, ocpp_url, version):
        await _publish_fees(api)
        reservation = (await reserve(api, STATION[version], minutes=1.5 / 60)).json()
        assert await eventually(lambda: _is(api, reservation["id"], "Expired"))
    await platform.billing.sweep()  # what the minute sweep does
    charge = await _cdr(api, f"/api/v1/reservations/{reservation['id']}/cdr")
    # 100 to reserve + 500 for not coming = 600 excl. VAT; x 1.16 = 696.
    assert (Decimal(charge["total_excl_vat"]), Decimal(charge["total_incl_vat"])) == (Decimal(600), Decimal(696))
    assert charge["flags"] == ["no-show"]
    assert Decimal(str(charge["cdr"]["total_energy"])) == 0
    receipt = (await api.get(f"/api/v1/reservations/{reservation['id']}/receipt")).text
    assert "696.00" in receipt and "no-show fee" in receipt
    await platform.billing.sweep()  # a second sweep charges nobody twice
    assert (await api.get(f"/api/v1/reservations/{reservation['id']}/cdr")).json()["id"] == charge["id"]


@BOTH
async def test_a_reservation_cancelled_in_time_costs_nothing(api, platform, ocpp_url, version):
    async with online_station(api, ocpp_url, version):
        await _publish_fees(api)
        reservation = (await reserve(api, STATION[version])).json()
        assert (await api.delete(f"/api/v1/reservations/{reservation['id']}")).status_code == 200
    await platform.billing.sweep()
    response = await api.get(f"/api/v1/reservations/{reservation['id']}/cdr")
    assert response.status_code == 404
    assert "a cancelled one costs nothing" in response.json()["detail"]


# -- the same EVSE asked for at the same moment -------------------------------------------------

async def test_concurrent_reservations_for_one_evse_let_exactly_one_through(api, ocpp_url):
    async with online_station(api, ocpp_url, "2.0.1"):
        answers = await asyncio.gather(*(reserve(api, STATION["2.0.1"]) for _ in range(6)))
    codes = sorted(response.status_code for response in answers)
    assert codes == [201, 409, 409, 409, 409, 409], [r.text for r in answers]
    holding = [r for r in (await api.get(f"/api/v1/reservations?station_id={STATION['2.0.1']}")).json()
               if r["status"] in ("Requested", "Accepted")]
    assert len(holding) == 1


async def test_the_database_itself_refuses_a_second_holding_reservation(api, platform):
    await register_station(api, STATION["1.6"])
    later = utcnow() + timedelta(minutes=30)

    async def hold(token: str) -> None:
        async with platform.sessions.begin() as session:
            session.add(Reservation(station_id=STATION["1.6"], evse_id=1, id_token=token,
                                    expires_at=later, status="Accepted"))

    await hold("A")
    with pytest.raises(IntegrityError):
        await hold("B")
    async with platform.sessions.begin() as session:  # a finished one no longer holds the EVSE
        await session.execute(update(Reservation).values(status="Expired"))
    await hold("B")
