"""Plausibility at the edge (issue 14, "Poison" and "Implausible energy billed"): what a station
sends that cannot be true is accepted where OCPP forbids refusing it, its frame kept in the
message log, the value quarantined, the transaction flagged with a reason an operator can read,
and its CDR held for review instead of billed. Nothing a station sends breaks a read or a sweep.

Real chargers (the `ocpp` package) over real sockets, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from ocpp.v16 import call
from ocpp.v201 import call as call201
from sqlalchemy import text

from silkcharge.domain.clock import to_ocpp, utcnow
from silkcharge.store.schema import Transaction
from tests.e2e.network import add_token, register_station
from tests.e2e.peers import connected_peer, eventually
from tests.e2e.test_bad_input import BOOT_16, raw_socket
from tests.e2e.test_billing import STANDARD, energy, publish


async def exchange(ws, frame: str) -> list:
    """Send a CALL and return the reply to it. Calls the CSMS makes meanwhile (it may ask a
    station for its configuration when a session starts) are left unanswered."""
    message_id = json.loads(frame)[1]
    await ws.send(frame)
    while True:
        reply = json.loads(await ws.recv())
        if reply[0] != 2 and reply[1] == message_id:
            return reply


def now() -> datetime:
    return utcnow().replace(microsecond=0)


async def boot16(peer) -> None:
    await peer.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))


async def boot201(peer) -> None:
    await peer.call(call201.BootNotification(charging_station={"model": "M", "vendor_name": "V"},
                                             reason="PowerUp"))


def event201(kind: str, seq: int, at: datetime, tx: str, wh, *, token: str | None = None) -> call201.TransactionEvent:
    return call201.TransactionEvent(
        event_type=kind, timestamp=to_ocpp(at), seq_no=seq,
        trigger_reason={"Started": "Authorized", "Updated": "MeterValuePeriodic"}.get(kind, "EVDeparted"),
        transaction_info={"transaction_id": tx, "charging_state": "Charging"},
        id_token={"id_token": token, "type": "ISO14443"} if token else None,
        evse={"id": 1, "connector_id": 1} if kind == "Started" else None,
        meter_value=[{"timestamp": to_ocpp(at), "sampled_value": [
            {"value": wh, "measurand": "Energy.Active.Import.Register"}]}],
    )


async def cdr_of(api, transaction_id: int) -> dict:
    async def ready():
        response = await api.get(f"/api/v1/transactions/{transaction_id}/cdr")
        return response.json() if response.status_code == 200 else None

    return await eventually(ready)


async def flags_of(api, transaction_id: int) -> list[dict]:
    response = await api.get(f"/api/v1/transactions/{transaction_id}")
    assert response.status_code == 200, response.text
    return response.json()["flags"]


async def abandoned_elsewhere(api, ocpp_url) -> int:
    """Another station's session that its station never stopped: a newer one started on the
    same EVSE. The sweep must close it whatever else is stored."""
    await register_station(api, "PLAUS-OTHER")
    async with connected_peer(ocpp_url, "PLAUS-OTHER", "1.6") as peer:
        await boot16(peer)
        lost = await peer.call(call.StartTransaction(connector_id=1, id_tag="OTHER", meter_start=0,
                                                     timestamp=to_ocpp(now() - timedelta(hours=2))))
        await peer.call(call.StartTransaction(connector_id=1, id_tag="OTHER", meter_start=0,
                                              timestamp=to_ocpp(now() - timedelta(hours=1))))
    return lost.transaction_id


# -- Poison -------------------------------------------------------------------------------------


async def test_an_energy_register_of_1e30_wh_is_quarantined_and_breaks_no_list_stop_or_sweep_16(
    api, platform, ocpp_url
):
    other = await abandoned_elsewhere(api, ocpp_url)
    await register_station(api, "POISON-16")
    start = now() - timedelta(minutes=30)
    async with await raw_socket(ocpp_url, "1.6", "POISON-16") as ws:
        await exchange(ws, BOOT_16)
        started = await exchange(ws, json.dumps([2, "s", "StartTransaction", {
            "connectorId": 1, "idTag": "CARD", "meterStart": 1000, "timestamp": to_ocpp(start)}]))
        tx = started[2]["transactionId"]
        reply = await exchange(ws, json.dumps([2, "poison-mv", "MeterValues", {
            "connectorId": 1, "transactionId": tx, "meterValue": [{"timestamp": to_ocpp(start + timedelta(minutes=10)),
                                                                   "sampledValue": [{"value": "1E+30"}]}]}]))
        assert reply == [3, "poison-mv", {}]  # a transaction message: accepted, never refused
        listed = await api.get("/api/v1/transactions")
        assert listed.status_code == 200, listed.text
        stopped = await exchange(ws, json.dumps([2, "stop", "StopTransaction", {
            "transactionId": tx, "meterStop": 11000, "timestamp": to_ocpp(start + timedelta(minutes=20))}]))
        assert stopped[0] == 3, stopped
    body = (await api.get(f"/api/v1/transactions/{tx}")).json()
    assert (body["state"], Decimal(body["energy_wh"])) == ("Ended", Decimal(10000))
    [flag] = body["flags"]
    assert flag["rule"] == "value-fits" and flag["value"] == "1E+30" and flag["used"] is None
    assert flag["message_id"] == "poison-mv" and flag["action"] == "MeterValues"
    assert "1E+30" in flag["reason"]
    # the raw frame is where the flag says (the message log is written in batches)
    async def logged():
        frames = (await api.get("/api/v1/stations/POISON-16/messages")).json()
        return any(f["message_id"] == "poison-mv" and "1E+30" in f["payload"] for f in frames)

    await eventually(logged)
    await platform.billing.sweep()
    assert (await api.get(f"/api/v1/transactions/{other}")).json()["state"] == "Ended"
    assert (await api.get("/api/v1/transactions")).status_code == 200


async def test_an_energy_register_of_1e30_wh_is_quarantined_in_a_201_transaction_event(api, ocpp_url):
    await register_station(api, "POISON-201")
    start = now() - timedelta(minutes=30)
    async with connected_peer(ocpp_url, "POISON-201", "2.0.1") as peer:
        await boot201(peer)
        await peer.call(event201("Started", 0, start, "p-1", 1000))
        await peer.call(event201("Updated", 1, start + timedelta(minutes=10), "p-1", 1e30))
        await peer.call(event201("Ended", 2, start + timedelta(minutes=20), "p-1", 11000))
    listed = await api.get("/api/v1/transactions?station_id=POISON-201")
    assert listed.status_code == 200, listed.text
    [tx] = listed.json()
    assert (tx["state"], Decimal(tx["energy_wh"])) == ("Ended", Decimal(10000))
    assert [f["rule"] for f in tx["flags"]] == ["value-fits"]


async def test_a_status_notification_for_connector_2_pow_64_is_refused_and_the_station_list_still_answers(
    api, ocpp_url
):
    await register_station(api, "HUGE-ID")
    async with await raw_socket(ocpp_url, "1.6", "HUGE-ID") as ws:
        await exchange(ws, BOOT_16)
        reply = await exchange(ws, json.dumps([2, "st", "StatusNotification", {
            "connectorId": 2**64, "errorCode": "NoError", "status": "Available"}]))
        assert reply[:3] == [4, "st", "PropertyConstraintViolation"]
        assert "connectorId" in reply[3]
    async with await raw_socket(ocpp_url, "2.0.1", "HUGE-ID") as ws:
        await exchange(ws, json.dumps([2, "b", "BootNotification", {
            "chargingStation": {"model": "M", "vendorName": "V"}, "reason": "PowerUp"}]))
        reply = await exchange(ws, json.dumps([2, "st2", "StatusNotification", {
            "timestamp": to_ocpp(now()), "connectorStatus": "Available", "evseId": 2**64, "connectorId": 1}]))
        assert reply[:3] == [4, "st2", "PropertyConstraintViolation"]
    listed = await api.get("/api/v1/stations")
    assert listed.status_code == 200, listed.text
    [station] = [s for s in listed.json() if s["id"] == "HUGE-ID"]
    assert [(c["evse_id"], c["connector_id"]) for c in station["connectors"]] == [(1, 1), (2, 1)]


async def test_a_session_started_in_year_9999_gets_the_receive_time_and_a_clock_alert(api, ocpp_url):
    await register_station(api, "Y9999")
    before = now()
    async with connected_peer(ocpp_url, "Y9999", "1.6") as peer:
        await boot16(peer)
        started = await peer.call(call.StartTransaction(connector_id=1, id_tag="CARD", meter_start=0,
                                                        timestamp="9999-12-31T23:59:59.000Z"))
    tx = (await api.get(f"/api/v1/transactions/{started.transaction_id}")).json()
    assert before <= datetime.fromisoformat(tx["started_at"]) <= now() + timedelta(seconds=1)
    [flag] = tx["flags"]
    assert (flag["rule"], flag["value"]) == ("clock-window", "9999-12-31T23:59:59.000Z")
    assert flag["used"].startswith(str(before.year))
    [alert] = (await api.get("/api/v1/plausibility/clock-alerts")).json()
    assert alert["station_id"] == "Y9999" and "check the charger's clock" in alert["reason"]


async def test_a_stored_session_of_year_9999_does_not_block_the_sweep(api, platform, ocpp_url):
    """A row written before these rules existed (or by hand) must not stop the sweep either."""
    other = await abandoned_elsewhere(api, ocpp_url)
    await register_station(api, "Y9999-OLD")
    far = datetime(9999, 12, 31, 23, 0, tzinfo=timezone.utc)
    async with platform.sessions.begin() as session:
        session.add(Transaction(station_id="Y9999-OLD", station_tx_id="old", evse_id=1, connector_id=1,
                                id_token="CARD", state="Active", started_at=far, meter_start_wh=0,
                                updated_at=now() - timedelta(days=3)))
    assert (await publish(api, "KZ-STD", STANDARD)).status_code == 201
    await platform.billing.sweep()
    assert (await api.get(f"/api/v1/transactions/{other}")).json()["state"] == "Ended"
    assert (await cdr_of(api, other))["tariff_code"] == "KZ-STD"
    assert (await api.get("/api/v1/transactions")).status_code == 200


# -- Implausible energy billed ---------------------------------------------------------------------


async def test_two_gwh_in_ten_minutes_on_a_22_kw_connector_is_held_not_billed(api, ocpp_url):
    await register_station(api, "GWH-22")
    assert (await api.patch("/api/v1/stations/GWH-22/connectors/1/1", json={"max_power_kw": "22"})).status_code == 200
    await add_token(api, "CARD-GWH")
    assert (await publish(api, "KZ-STD", STANDARD)).status_code == 201
    start = now() - timedelta(minutes=10)
    async with connected_peer(ocpp_url, "GWH-22", "1.6") as peer:
        await boot16(peer)
        started = await peer.call(call.StartTransaction(connector_id=1, id_tag="CARD-GWH", meter_start=0,
                                                        timestamp=to_ocpp(start)))
        await peer.call(call.StopTransaction(meter_stop=2_000_000_000, timestamp=to_ocpp(now()),
                                             transaction_id=started.transaction_id))
    tx = started.transaction_id
    flags = await flags_of(api, tx)
    assert [f["rule"] for f in flags] == ["power-bound"]
    assert "22 kW" in flags[0]["reason"]
    cdr = await cdr_of(api, tx)
    assert cdr["review"]["status"] == "held"
    assert any("22 kW" in reason for reason in cdr["review"]["reasons"])
    assert cdr["billed"] is False
    receipt = (await api.get(f"/api/v1/transactions/{tx}/receipt")).text
    assert "held for review" in receipt.lower()
    held = (await api.get("/api/v1/cdrs?review=held")).json()
    assert [c["transaction_id"] for c in held] == [tx]


async def test_a_meter_stop_of_1e22_wh_is_quarantined_and_its_cdr_held(api, ocpp_url):
    await register_station(api, "WH-1E22")
    await add_token(api, "CARD-E22")
    assert (await publish(api, "KZ-STD", STANDARD)).status_code == 201
    start = now() - timedelta(minutes=30)
    async with await raw_socket(ocpp_url, "1.6", "WH-1E22") as ws:
        await exchange(ws, BOOT_16)
        started = await exchange(ws, json.dumps([2, "s", "StartTransaction", {
            "connectorId": 1, "idTag": "CARD-E22", "meterStart": 0, "timestamp": to_ocpp(start)}]))
        tx = started[2]["transactionId"]
        reading = energy(start + timedelta(minutes=20), 9000, 30000)
        await exchange(ws, json.dumps([2, "mv", "MeterValues", {"connectorId": 1, "transactionId": tx,
                                                               "meterValue": reading}]))
        end = to_ocpp(start + timedelta(minutes=30))
        stopped = await exchange(ws, f'[2, "stop-e22", "StopTransaction", {{"transactionId": {tx}, '
                                     f'"meterStop": {10**22}, "timestamp": "{end}"}}]')
        assert stopped[0] == 3, stopped
    body = (await api.get(f"/api/v1/transactions/{tx}")).json()
    assert body["state"] == "Ended" and body["meter_stop_wh"] is not None
    assert Decimal(body["energy_wh"]) == Decimal(9000)  # the last plausible register
    assert [(f["rule"], f["message_id"]) for f in body["flags"]] == [("value-fits", "stop-e22")]
    cdr = await cdr_of(api, tx)
    assert cdr["review"]["status"] == "held" and cdr["billed"] is False
    assert Decimal(cdr["total_incl_vat"]) < 10_000  # 9 kWh x 80 + 200, never 9.28e20


async def test_a_start_time_in_1970_is_replaced_by_the_receive_time_and_the_cdr_held(api, ocpp_url):
    await register_station(api, "CLOCK-1970")
    await add_token(api, "CARD-1970")
    assert (await publish(api, "KZ-STD", STANDARD)).status_code == 201
    before = now()
    async with connected_peer(ocpp_url, "CLOCK-1970", "1.6") as peer:
        await boot16(peer)
        started = await peer.call(call.StartTransaction(connector_id=1, id_tag="CARD-1970", meter_start=0,
                                                        timestamp="1970-01-01T00:00:00.000Z"))
        await peer.call(call.StopTransaction(meter_stop=1000, timestamp=to_ocpp(now() + timedelta(seconds=1)),
                                             transaction_id=started.transaction_id))
    tx = (await api.get(f"/api/v1/transactions/{started.transaction_id}")).json()
    assert datetime.fromisoformat(tx["started_at"]) >= before
    assert [(f["rule"], f["value"]) for f in tx["flags"]] == [("clock-window", "1970-01-01T00:00:00.000Z")]
    cdr = await cdr_of(api, started.transaction_id)
    assert cdr["review"]["status"] == "held"
    assert Decimal(cdr["total_incl_vat"]) < 1000  # 1 kWh, a minute: not 34.7 M KZT of parking
    alerts = (await api.get("/api/v1/plausibility/clock-alerts")).json()
    assert [a["station_id"] for a in alerts] == ["CLOCK-1970"]


async def test_a_well_behaved_session_is_billed_without_review(api, ocpp_url):
    await register_station(api, "GOOD-16")
    await add_token(api, "CARD-GOOD")
    assert (await publish(api, "KZ-STD", STANDARD)).status_code == 201
    start = now() - timedelta(hours=1)
    async with connected_peer(ocpp_url, "GOOD-16", "1.6") as peer:
        await boot16(peer)
        started = await peer.call(call.StartTransaction(connector_id=1, id_tag="CARD-GOOD", meter_start=500,
                                                        timestamp=to_ocpp(start)))
        await peer.call(call.MeterValues(connector_id=1, transaction_id=started.transaction_id,
                                         meter_value=energy(start + timedelta(minutes=30), 25_500, 50_000)))
        await peer.call(call.StopTransaction(meter_stop=40_500, timestamp=to_ocpp(start + timedelta(minutes=50)),
                                             transaction_id=started.transaction_id))
    assert await flags_of(api, started.transaction_id) == []
    cdr = await cdr_of(api, started.transaction_id)
    assert cdr["review"] is None and cdr["billed"] is True
    assert Decimal(cdr["total_excl_vat"]) == Decimal(3400)  # 40 kWh x 80 + 200
    assert (await api.get("/api/v1/plausibility/clock-alerts")).json() == []


# -- ConcurrentTx lockout -----------------------------------------------------------------------------


async def test_a_start_refused_with_concurrent_tx_does_not_count_against_the_token_16(api, platform, ocpp_url):
    for station in ("CTX-A", "CTX-B", "CTX-C"):
        await register_station(api, station, connectors=1)
    await add_token(api, "CARD-CTX")
    async with (
        connected_peer(ocpp_url, "CTX-A", "1.6") as a,
        connected_peer(ocpp_url, "CTX-B", "1.6") as b,
        connected_peer(ocpp_url, "CTX-C", "1.6") as c,
    ):
        for peer in (a, b, c):
            await boot16(peer)
        first = await a.call(call.StartTransaction(connector_id=1, id_tag="CARD-CTX", meter_start=0,
                                                   timestamp=to_ocpp(now())))
        assert first.id_tag_info["status"] == "Accepted"
        refused = await b.call(call.StartTransaction(connector_id=1, id_tag="CARD-CTX", meter_start=0,
                                                     timestamp=to_ocpp(now())))
        assert refused.id_tag_info["status"] == "ConcurrentTx"
        # B never stops its refused session (the car left); A ends its own.
        await a.call(call.StopTransaction(meter_stop=100, timestamp=to_ocpp(now()),
                                          transaction_id=first.transaction_id))
        later = await c.call(call.StartTransaction(connector_id=1, id_tag="CARD-CTX", meter_start=0,
                                                   timestamp=to_ocpp(now())))
    assert later.id_tag_info["status"] == "Accepted"
    async with platform.sessions() as session:
        stored = await session.get(Transaction, refused.transaction_id)
    assert stored.token_status == "ConcurrentTx"


async def test_a_start_refused_with_concurrent_tx_does_not_count_against_the_token_201(api, ocpp_url):
    for station in ("CTX2-A", "CTX2-B", "CTX2-C"):
        await register_station(api, station, connectors=1)
    await add_token(api, "CARD-CTX2")
    at = now()
    async with (
        connected_peer(ocpp_url, "CTX2-A", "2.0.1") as a,
        connected_peer(ocpp_url, "CTX2-B", "2.0.1") as b,
        connected_peer(ocpp_url, "CTX2-C", "2.0.1") as c,
    ):
        for peer in (a, b, c):
            await boot201(peer)
        first = await a.call(event201("Started", 0, at, "a-1", 0, token="CARD-CTX2"))
        assert first.id_token_info["status"] == "Accepted"
        refused = await b.call(event201("Started", 0, at, "b-1", 0, token="CARD-CTX2"))
        assert refused.id_token_info["status"] == "ConcurrentTx"
        await a.call(event201("Ended", 1, at, "a-1", 100))
        later = await c.call(event201("Started", 0, at, "c-1", 0, token="CARD-CTX2"))
    assert later.id_token_info["status"] == "Accepted"
    rows = {t["station_tx_id"]: t["token_status"] for t in (await api.get("/api/v1/transactions")).json()}
    assert rows == {"a-1": "Accepted", "b-1": "ConcurrentTx", "c-1": "Accepted"}


# -- the operator ends a stale transaction ------------------------------------------------------------


async def test_an_operator_ends_a_transaction_the_station_never_stopped_with_a_reason(api, ocpp_url):
    await register_station(api, "STALE-OP")
    await add_token(api, "CARD-STALE")
    assert (await publish(api, "KZ-STD", STANDARD)).status_code == 201
    start = now() - timedelta(hours=3)
    async with connected_peer(ocpp_url, "STALE-OP", "1.6") as peer:
        await boot16(peer)
        started = await peer.call(call.StartTransaction(connector_id=1, id_tag="CARD-STALE", meter_start=0,
                                                        timestamp=to_ocpp(start)))
        await peer.call(call.MeterValues(connector_id=1, transaction_id=started.transaction_id,
                                         meter_value=energy(start + timedelta(minutes=40), 20_000, 0)))
    tx = started.transaction_id
    missing = await api.post(f"/api/v1/transactions/{tx}/end", json={})
    assert missing.status_code == 422 and "reason" in missing.text
    reason = "charger lost its memory; car left at 12:40"
    ended = await api.post(f"/api/v1/transactions/{tx}/end", json={"reason": reason})
    assert ended.status_code == 200, ended.text
    body = ended.json()
    assert (body["state"], body["stop_reason"]) == ("Ended", "EndedByOperator")
    assert body["end_reason"] == reason
    assert datetime.fromisoformat(body["stopped_at"]) == start + timedelta(minutes=40)  # its last reading
    again = await api.post(f"/api/v1/transactions/{tx}/end", json={"reason": "twice"})
    assert again.status_code == 409
    cdr = await cdr_of(api, tx)
    assert "ended-by-operator" in cdr["flags"] and cdr["billed"] is True
    assert Decimal(cdr["total_excl_vat"]) == Decimal(1800)  # 20 kWh x 80 + 200
    receipt = (await api.get(f"/api/v1/transactions/{tx}/receipt")).text
    assert "the operator ended it" in receipt


async def test_ending_a_transaction_with_an_implausible_meter_stop_is_refused_with_the_rule(api, ocpp_url):
    await register_station(api, "STALE-BAD")
    start = now() - timedelta(minutes=10)
    async with connected_peer(ocpp_url, "STALE-BAD", "1.6") as peer:
        await boot16(peer)
        started = await peer.call(call.StartTransaction(connector_id=1, id_tag="X", meter_start=0,
                                                        timestamp=to_ocpp(start)))
    response = await api.post(f"/api/v1/transactions/{started.transaction_id}/end",
                              json={"reason": "stuck", "meter_stop_wh": "5000000"})
    assert response.status_code == 422
    assert "60 kW" in response.json()["detail"]
    future = await api.post(f"/api/v1/transactions/{started.transaction_id}/end",
                            json={"reason": "stuck", "stopped_at": to_ocpp(now() + timedelta(days=1))})
    assert future.status_code == 422
    assert (await api.get(f"/api/v1/transactions/{started.transaction_id}")).json()["state"] == "Active"


async def test_a_stop_is_never_refused_for_a_bad_value_stored_before_the_rules(api, platform, ocpp_url):
    """Rows written before these rules existed: on SQLite a register of 1E+30 kept as text, on
    PostgreSQL (whose column never held that) a start in year 9999 and a negative meter start.
    The list still answers, and the station's StopTransaction is accepted, not InternalError."""
    await register_station(api, "LEGACY")
    start = now() - timedelta(minutes=30)
    async with await raw_socket(ocpp_url, "1.6", "LEGACY") as ws:
        await exchange(ws, BOOT_16)
        started = await exchange(ws, json.dumps([2, "s", "StartTransaction", {
            "connectorId": 1, "idTag": "CARD", "meterStart": 1000, "timestamp": to_ocpp(start)}]))
        tx = started[2]["transactionId"]
        async with platform.sessions.begin() as session:
            if session.bind.dialect.name == "sqlite":
                await session.execute(text("UPDATE transactions SET meter_start_wh = '1E+30' WHERE id = :id"),
                                      {"id": tx})
                await session.execute(text(
                    "INSERT INTO meter_samples (station_id, evse_id, transaction_id, timestamp, measurand, phase, "
                    "location, context, unit, value) VALUES ('LEGACY', 1, :id, :at, "
                    "'Energy.Active.Import.Register', '', '', '', 'Wh', '1E+30')"),
                    {"id": tx, "at": (start + timedelta(minutes=5)).replace(tzinfo=None)})
            else:
                await session.execute(text(
                    "UPDATE transactions SET started_at = '9999-12-31 23:00:00+00', meter_start_wh = -5 "
                    "WHERE id = :id"), {"id": tx})
        listed = await api.get("/api/v1/transactions")
        assert listed.status_code == 200, listed.text
        assert (await api.get(f"/api/v1/transactions/{tx}")).status_code == 200
        stopped = await exchange(ws, json.dumps([2, "stop", "StopTransaction", {
            "transactionId": tx, "meterStop": 11000, "timestamp": to_ocpp(start + timedelta(minutes=20))}]))
        assert stopped[0] == 3, stopped
    assert (await api.get(f"/api/v1/transactions/{tx}")).json()["state"] == "Ended"
    await platform.billing.sweep()  # pricing it may fail; the sweep goes on
    assert (await api.get("/api/v1/transactions")).status_code == 200


async def test_a_status_from_a_clock_in_2099_uses_the_receive_time_so_later_reports_still_count(api, ocpp_url):
    """A report stamped in the future would make every later, correct one look older and be
    ignored; with the receive time stored instead, the station's next report counts."""
    await register_station(api, "CLOCK-2099")
    async with connected_peer(ocpp_url, "CLOCK-2099", "2.0.1") as peer:
        await boot201(peer)
        await peer.call(call201.StatusNotification(timestamp="2099-01-01T00:00:00.000Z",
                                                   connector_status="Occupied", evse_id=1, connector_id=1))
        fixed = utcnow() + timedelta(seconds=1)  # the station's clock, set right again
        await peer.call(call201.StatusNotification(timestamp=to_ocpp(fixed), connector_status="Available",
                                                   evse_id=1, connector_id=1))
    [connector, _] = (await api.get("/api/v1/stations/CLOCK-2099/connectors")).json()
    assert connector["status"] == "Available"
    [flag] = (await api.get("/api/v1/plausibility/flags?station_id=CLOCK-2099")).json()
    assert (flag["rule"], flag["transaction_id"], flag["action"]) == ("clock-window", None, "StatusNotification")
    assert [a["station_id"] for a in (await api.get("/api/v1/plausibility/clock-alerts")).json()] == ["CLOCK-2099"]


async def test_meter_values_outside_a_transaction_with_a_register_of_1e30_are_refused_with_the_rule(api, ocpp_url):
    await register_station(api, "MV-201")
    async with await raw_socket(ocpp_url, "2.0.1", "MV-201") as ws:
        await exchange(ws, json.dumps([2, "b", "BootNotification", {
            "chargingStation": {"model": "M", "vendorName": "V"}, "reason": "PowerUp"}]))
        reply = await exchange(ws, json.dumps([2, "mv", "MeterValues", {"evseId": 1, "meterValue": [
            {"timestamp": to_ocpp(now()), "sampledValue": [{"value": 1e30}]}]}]))
    assert reply[:3] == [4, "mv", "PropertyConstraintViolation"]
    assert "1E+30" in reply[3] and "larger than any meter holds" in reply[3]


@pytest.mark.settings(plausibility_limits={"clock-window.behind_days": 1})
async def test_an_operators_limit_replaces_the_default_and_is_listed_with_the_rules(api, ocpp_url):
    rules = {r["name"]: r for r in (await api.get("/api/v1/plausibility/rules")).json()}
    assert Decimal(rules["clock-window"]["limits"]["behind_days"]) == 1
    assert rules["value-fits"]["tunable"] is False
    await register_station(api, "QUEUED")
    async with connected_peer(ocpp_url, "QUEUED", "1.6") as peer:
        await boot16(peer)
        started = await peer.call(call.StartTransaction(connector_id=1, id_tag="CARD", meter_start=0,
                                                        timestamp=to_ocpp(now() - timedelta(days=2))))
    [flag] = await flags_of(api, started.transaction_id)
    assert flag["rule"] == "clock-window" and "1 days behind" in flag["reason"]
