"""OCPP 2.1 local cost and ad-hoc payment end to end, on SQLite and PostgreSQL: the operator's
tariff goes to a simulated 2.1 charger only within the price caps, the charger prices the session
itself and the platform shows its figure beside its own (never billing twice), and a driver with
nothing but a bank card charges, pays at the charger's terminal and gets a receipt."""

from __future__ import annotations

import asyncio
import random
from contextlib import asynccontextmanager
from datetime import timedelta
from decimal import Decimal

from ocpp.v21 import call as call21

from silkcharge.domain.clock import to_ocpp, utcnow
from silkcharge.sim.charger import SimulatedCharger
from tests.e2e.network import add_token, register_station
from tests.e2e.peers import connected_peer, eventually
from tests.e2e.test_billing import cdr_of, publish
from tests.e2e.test_caps import IN_ALMATY, site
from tests.e2e.test_caps import publish as publish_at
from tests.e2e.test_smart_charging import spec
from tests.guards import HANG_GUARD

# 80 KZT/kWh and 200 KZT per session, 16 % VAT: what a station can price exactly as we do.
PLAIN = {"currency": "KZT", "country_code": "KZ", "elements": [{"price_components": [
    {"type": "ENERGY", "price": "80", "vat": 16, "step_size": 1},
    {"type": "FLAT", "price": "200", "vat": 16, "step_size": 1}]}]}


@asynccontextmanager
async def charger_21(ocpp_url: str, station: str, seed: int):
    charger = SimulatedCharger(spec(station, "2.1"), ocpp_url, meter_interval=0.2, reconnect_delay=0.1,
                               heartbeat_fallback=30, rng=random.Random(seed))
    task = asyncio.create_task(charger.run())
    try:
        await asyncio.wait_for(charger.booted.wait(), HANG_GUARD)
        yield charger
    finally:
        await charger.stop()
        await asyncio.gather(task, return_exceptions=True)


async def charge_some(api, charger: SimulatedCharger, start) -> dict:
    """Start with `start`, wait for energy to flow, stop: the transaction as the API lists it."""
    station = charger.spec.station_id
    await start()
    tx = (await api.get(f"/api/v1/transactions?station_id={station}")).json()[0]

    c = charger.connector(1)
    started_wh = c.session.meter_start_wh

    async def metered():
        return charger.read_meter(c).energy_wh > started_wh

    await eventually(metered)
    await charger.stop_charging(1)
    return tx


async def test_i_21_a_tariff_within_the_caps_is_sent_and_the_station_prices_the_session_as_the_platform_does(
    api, ocpp_url,
):
    station = "ALA-LOCAL-21"
    await register_station(api, station)
    await add_token(api, "CARD-21")
    assert (await publish(api, "KZ-PLAIN", PLAIN)).status_code == 201
    async with charger_21(ocpp_url, station, 21) as charger:
        sent = await api.post(f"/api/v1/stations/{station}/tariffs", json={"tariff_code": "KZ-PLAIN"})
        assert sent.status_code == 201 and sent.json()["status"] == "Accepted", sent.text
        held = charger.local_cost.defaults[0]
        assert held["tariff_id"] == "KZ-PLAIN" and held["energy"]["prices"] == [{"price_kwh": 80}]
        assert (await api.get(f"/api/v1/stations/{station}/tariffs")).json()[0]["tariff_code"] == "KZ-PLAIN"
        asked = (await api.get(f"/api/v1/stations/{station}/tariffs/on-station")).json()
        assert asked["status"] == "Accepted" and asked["assignments"][0]["tariff_id"] == "KZ-PLAIN"

        tx = await charge_some(api, charger, lambda: charger.plug_in_and_charge(1, "CARD-21"))
        cdr = await cdr_of(api, tx["id"])

        async def compared():
            view = (await api.get(f"/api/v1/transactions/{tx['id']}/station-cost")).json()
            return view if view["reported"] and view["comparison"]["platform"] else None

        view = await eventually(compared)
        ended = view["reported"][-1]
        assert ended["event"] == "Ended" and ended["tariff_id"] == "KZ-PLAIN" and ended["currency"] == "KZT"
        assert Decimal(ended["total_incl_vat"]) == Decimal(cdr["total_incl_vat"])
        assert view["comparison"]["agrees"] is True and Decimal(view["comparison"]["difference"]) == 0
        # the station's figure is shown, never billed: the CDR is the one bill
        assert (await api.get(f"/api/v1/station-costs?station_id={station}&differs=true")).json() == []

        cleared = await api.delete(f"/api/v1/stations/{station}/tariffs", params={"tariff_code": "KZ-PLAIN"})
        assert cleared.status_code == 200 and cleared.json()["cleared"] == ["KZ-PLAIN"], cleared.text
        assert charger.local_cost.defaults == {}
        assert (await api.get(f"/api/v1/stations/{station}/tariffs")).json() == []
        nothing = await api.get(f"/api/v1/stations/{station}/tariffs/on-station")
        assert nothing.json() == {"status": "NoTariff", "assignments": []}


async def test_a_tariff_above_the_cap_or_for_some_drivers_only_never_reaches_the_station(api, ocpp_url):
    await site(api, "ALA-CITY-21", IN_ALMATY, station="ALA-CITY-CHARGER")
    dear = {"currency": "KZT", "country_code": "KZ", "elements": [{"price_components": [
        {"type": "ENERGY", "price": "95", "vat": 16, "step_size": 1}]}]}  # 110.20 incl. VAT > 100
    assert (await publish_at(api, "KZ-DEAR", dear)).status_code == 201  # network-wide, lawful outside Almaty
    fleet = {**PLAIN, "silkcharge": {"token_groups": ["TAXI"]}}
    assert (await publish_at(api, "KZ-TAXI", fleet)).status_code == 201
    async with connected_peer(ocpp_url, "ALA-CITY-CHARGER", "2.1") as peer:
        await peer.call(call21.BootNotification(charging_station={"model": "M", "vendor_name": "V"}, reason="PowerUp"))
        above = await api.post("/api/v1/stations/ALA-CITY-CHARGER/tariffs", json={"tariff_code": "KZ-DEAR"})
        concession = await api.post("/api/v1/stations/ALA-CITY-CHARGER/tariffs", json={"tariff_code": "KZ-TAXI"})
        generic = await api.post("/api/v1/stations/ALA-CITY-CHARGER/commands/set_default_tariff",
                                 json={"tariff_code": "KZ-DEAR"})
        unknown = await api.post("/api/v1/stations/ALA-CITY-CHARGER/tariffs", json={"tariff_code": "NOPE"})
    assert above.status_code == 422 and "cap" in above.json()["detail"], above.text
    assert concession.status_code == 422 and "concession" in concession.json()["detail"], concession.text
    assert generic.status_code == 422 and "cap" in generic.json()["detail"], generic.text  # every route is checked
    assert unknown.status_code == 422 and "no tariff NOPE" in unknown.json()["detail"], unknown.text
    assert not [action for action, _ in peer.received if action == "SetDefaultTariff"]


async def test_a_tariff_is_refused_for_an_ocpp201_station_with_the_reason(api, ocpp_url):
    from tests.e2e.test_ocpp201 import boot

    await register_station(api, "TAS-201-TARIFF")
    assert (await publish(api, "KZ-PLAIN", PLAIN)).status_code == 201
    async with connected_peer(ocpp_url, "TAS-201-TARIFF", "2.0.1") as peer:
        await boot(peer)
        sent = await api.post("/api/v1/stations/TAS-201-TARIFF/tariffs", json={"tariff_code": "KZ-PLAIN"})
    assert sent.status_code == 422 and "2.0.1" in sent.json()["detail"], sent.text
    # After the boot the platform may ask the station whether it shows tariffs (I04: GetVariables,
    # when it answers in time): a question, not a tariff. The refusal itself sent nothing.
    assert [action for action in peer.actions() if action != "GetVariables"] == []


async def test_a_station_cost_that_differs_is_shown_to_the_operator_and_the_cdr_stays_the_bill(api, ocpp_url):
    station = "ALA-DIFF-21"
    await register_station(api, station)
    await add_token(api, "CARD-D")
    assert (await publish(api, "KZ-PLAIN", PLAIN)).status_code == 201
    start = utcnow() - timedelta(minutes=30)

    def meter(at, wh):
        return [{"timestamp": to_ocpp(at), "sampled_value": [
            {"value": wh, "measurand": "Energy.Active.Import.Register", "unit_of_measure": {"unit": "Wh"}}]}]

    async with connected_peer(ocpp_url, station, "2.1") as peer:
        await peer.call(call21.BootNotification(charging_station={"model": "M", "vendor_name": "V"}, reason="PowerUp"))
        await peer.call(call21.TransactionEvent(
            event_type="Started", timestamp=to_ocpp(start), trigger_reason="Authorized", seq_no=0,
            transaction_info={"transaction_id": "diff-1"}, id_token={"id_token": "CARD-D", "type": "ISO14443"},
            evse={"id": 1, "connector_id": 1}, meter_value=meter(start, 0)))
        await peer.call(call21.TransactionEvent(
            event_type="Ended", timestamp=to_ocpp(start + timedelta(minutes=30)), trigger_reason="EVDeparted",
            seq_no=1, transaction_info={"transaction_id": "diff-1", "stopped_reason": "EVDisconnected",
                                        "tariff_id": "KZ-PLAIN"},
            meter_value=meter(start + timedelta(minutes=30), 10000),
            cost_details={"total_cost": {"currency": "KZT", "type_of_cost": "NormalCost",
                                         "total": {"excl_tax": 1500, "incl_tax": 1740}},
                          "total_usage": {"energy": 10000, "charging_time": 1800, "idle_time": 0}}))
    tx = (await api.get(f"/api/v1/transactions?station_id={station}")).json()[0]
    cdr = await cdr_of(api, tx["id"])
    assert Decimal(cdr["total_incl_vat"]) == Decimal("1160")  # (10 x 80 + 200) x 1.16, ours

    async def listed():
        return (await api.get("/api/v1/station-costs?differs=true")).json()

    (shown,) = await eventually(listed)
    assert shown["transaction_id"] == tx["id"] and shown["comparison"]["agrees"] is False
    assert shown["comparison"]["station"] == "1740 KZT" and Decimal(shown["comparison"]["difference"]) == 580
    assert Decimal((await cdr_of(api, tx["id"]))["total_incl_vat"]) == Decimal("1160")


async def test_c_21_a_driver_without_an_app_pays_by_card_at_the_charger_and_scans_a_receipt(api, ocpp_url):
    station = "ALA-CARD-21"
    await register_station(api, station)
    assert (await publish(api, "KZ-PLAIN", PLAIN)).status_code == 201
    async with charger_21(ocpp_url, station, 22) as charger:
        assert (await api.post(f"/api/v1/stations/{station}/tariffs", json={"tariff_code": "KZ-PLAIN"})).status_code == 201
        tx = await charge_some(api, charger, lambda: charger.pay_by_card(1, Decimal("5000")))
        assert tx["id_token"].startswith("PSP-")
        (payment,) = charger.local_cost.payments.values()

        async def settled():
            rows = (await api.get(f"/api/v1/card-settlements?station_id={station}")).json()
            return rows if rows and rows[0]["billed"] is not None else None

        (row,) = await eventually(settled)
        cdr = await cdr_of(api, tx["id"])
        assert row["status"] == "Settled" and row["currency"] == "KZT" and row["transaction_id"] == tx["id"]
        assert Decimal(row["amount"]) == payment.settled == Decimal(cdr["total_incl_vat"])
        assert Decimal(row["difference"]) == 0
        assert payment.receipt_id and payment.receipt_url.endswith(f"/api/v1/receipts/{payment.receipt_id}")

        anonymous = {"X-API-Key": ""}  # the QR code's address needs no key: the driver has no account
        receipt = await api.get(f"/api/v1/receipts/{payment.receipt_id}", headers=anonymous)
        assert receipt.status_code == 200 and "Paid by bank card" in receipt.text and cdr["id"] in receipt.text
        assert payment.psp_ref in receipt.text
        russian = await api.get(f"/api/v1/receipts/{payment.receipt_id}?locale=ru", headers=anonymous)
        assert "Оплачено банковской картой" in russian.text
        assert (await api.get("/api/v1/receipts/not-a-receipt", headers=anonymous)).status_code == 404

        accepted = await charger.validate_vat_number("123456789013")
        refused = await charger.validate_vat_number("123456789012", 1)
        assert accepted["status"] == "Accepted"
        assert refused["status"] == "Rejected" and "check digit" in refused["status_info"]["additional_info"]

        web = await api.post(f"/api/v1/stations/{station}/web-payments", json={"evse_id": 2, "timeout": 120})
        assert web.status_code == 200 and charger.local_cost.web_payments == {2: 120}, web.text


async def test_a_running_21_transaction_is_given_another_tariff_and_the_operator_sees_what_it_changed(api, ocpp_url):
    station = "ALA-CHANGE-21"
    await register_station(api, station)
    await add_token(api, "CARD-C")
    assert (await publish(api, "KZ-PLAIN", PLAIN)).status_code == 201
    cheaper = {**PLAIN, "elements": [{"price_components": [{"type": "ENERGY", "price": "40", "vat": 16, "step_size": 1}]}]}
    assert (await publish(api, "KZ-CHEAP", cheaper, site="ALA-TEST")).status_code == 201
    async with charger_21(ocpp_url, station, 23) as charger:
        assert (await api.post(f"/api/v1/stations/{station}/tariffs", json={"tariff_code": "KZ-PLAIN"})).status_code == 201
        await charger.plug_in_and_charge(1, "CARD-C")
        tx = (await api.get(f"/api/v1/transactions?station_id={station}")).json()[0]
        changed = await api.post(f"/api/v1/transactions/{tx['id']}/tariff", json={"tariff_code": "KZ-CHEAP"})
        assert changed.status_code == 200 and changed.json()["status"] == "Accepted", changed.text
        assert charger.local_cost.per_transaction[tx["station_tx_id"]]["tariff_id"] == "KZ-CHEAP"
        kept = (await api.get(f"/api/v1/stations/{station}/tariffs")).json()
        assert {(t["tariff_code"], t["transaction_id"]) for t in kept} == {("KZ-PLAIN", None), ("KZ-CHEAP", tx["id"])}
        await charger.stop_charging(1)

        async def reported():
            view = (await api.get(f"/api/v1/transactions/{tx['id']}/station-cost")).json()
            return view if view["reported"] and view["comparison"]["platform"] else None

        view = await eventually(reported)
    assert view["reported"][-1]["tariff_id"] == "KZ-CHEAP"
    ended = (await api.post(f"/api/v1/transactions/{tx['id']}/tariff", json={"tariff_code": "KZ-CHEAP"}))
    assert ended.status_code == 422 and "already ended" in ended.json()["detail"], ended.text


async def test_a_card_paid_session_at_a_21_charger_without_a_local_tariff_settles_the_csms_final_cost(api, ocpp_url):
    station = "ALA-CARD-I03"
    await register_station(api, station)
    assert (await publish(api, "KZ-PLAIN", PLAIN)).status_code == 201
    async with charger_21(ocpp_url, station, 24) as charger:
        tx = await charge_some(api, charger, lambda: charger.pay_by_card(1, Decimal("50000")))

        async def settled():
            rows = (await api.get(f"/api/v1/card-settlements?station_id={station}")).json()
            return rows if rows and rows[0]["billed"] is not None else None

        (row,) = await eventually(settled)
    cdr = await cdr_of(api, tx["id"])
    assert Decimal(row["amount"]) == Decimal(cdr["total_incl_vat"]) < 50000  # the final cost it was told (I03)
    assert (await api.get(f"/api/v1/transactions/{tx['id']}/station-cost")).json()["reported"] == []


async def test_a_settlement_replayed_is_kept_once_and_a_negative_one_is_refused(api, ocpp_url):
    import json

    from tests.e2e.test_bad_input import exchange, raw_socket

    station = "ALA-SETTLE-21"
    await register_station(api, station)
    settled = {"pspRef": "PSP-REPLAY", "status": "Settled", "settlementAmount": 1160.5,
               "settlementTime": "2026-12-03T09:00:00.000Z"}
    async with await raw_socket(ocpp_url, "2.1", station) as ws:
        await exchange(ws, json.dumps([2, "b", "BootNotification", {
            "reason": "PowerUp", "chargingStation": {"model": "M", "vendorName": "V"}}]))
        first = await exchange(ws, json.dumps([2, "s1", "NotifySettlement", settled]))
        again = await exchange(ws, json.dumps([2, "s2", "NotifySettlement", settled]))
        failed = await exchange(ws, json.dumps([2, "s3", "NotifySettlement", {
            **settled, "pspRef": "PSP-DECLINED", "status": "Rejected", "statusInfo": "card declined"}]))
        negative = await exchange(ws, json.dumps([2, "s4", "NotifySettlement", {**settled, "settlementAmount": -5}]))
    assert first[:2] == [3, "s1"] and first[2]["receiptId"] and first[2]["receiptUrl"].endswith(first[2]["receiptId"])
    assert again[2] == first[2]  # the station resent it: one settlement, one receipt
    assert failed[2] == {}  # nothing was paid: no receipt
    assert negative[:3] == [4, "s4", "PropertyConstraintViolation"] and "negative" in negative[3]
    rows = (await api.get(f"/api/v1/card-settlements?station_id={station}")).json()
    assert [(r["psp_ref"], r["status"], r["amount"], r["currency"], r["transaction_id"]) for r in rows] == [
        ("PSP-DECLINED", "Rejected", "1160.5", "KZT", None), ("PSP-REPLAY", "Settled", "1160.5", "KZT", None)]
    pending = await api.get(f"/api/v1/receipts/{first[2]['receiptId']}", headers={"X-API-Key": ""})
    assert pending.status_code == 200 and "1,160.50 KZT" in pending.text and "PSP-REPLAY" in pending.text
    assert "once it is priced" not in pending.text  # no session of ours: the payment is all there is


async def test_a_tariff_switched_mid_session_prices_the_energy_before_by_the_old_tariff_and_after_by_the_new(
    api, ocpp_url,
):
    station = "ALA-SWITCH-21"
    await register_station(api, station)
    await add_token(api, "CARD-S")
    # both the site's own: the first published is the one the platform selects at the start
    assert (await publish(api, "KZ-PLAIN", PLAIN, site="ALA-TEST")).status_code == 201
    cheaper = {**PLAIN, "elements": [{"price_components": [
        {"type": "ENERGY", "price": "40", "vat": 16, "step_size": 1},
        {"type": "FLAT", "price": "500", "vat": 16, "step_size": 1}]}]}
    assert (await publish(api, "KZ-CHEAP", cheaper, site="ALA-TEST")).status_code == 201
    async with charger_21(ocpp_url, station, 29) as charger:
        assert (await api.post(f"/api/v1/stations/{station}/tariffs", json={"tariff_code": "KZ-PLAIN"})).status_code == 201
        await charger.plug_in_and_charge(1, "CARD-S")
        tx = (await api.get(f"/api/v1/transactions?station_id={station}")).json()[0]
        c = charger.connector(1)
        started_wh = c.session.meter_start_wh

        async def charged(wh):
            async def enough():
                return charger.read_meter(c).energy_wh >= wh
            await eventually(enough)

        await charged(started_wh + 20)
        changed = await api.post(f"/api/v1/transactions/{tx['id']}/tariff", json={"tariff_code": "KZ-CHEAP"})
        assert changed.status_code == 200 and changed.json()["status"] == "Accepted", changed.text
        await charged(charger.read_meter(c).energy_wh + 20)
        await charger.stop_charging(1)
        cdr = await cdr_of(api, tx["id"])

    body = cdr["cdr"]
    assert [t["id"] for t in body["tariffs"]] == ["KZ-PLAIN", "KZ-CHEAP"]
    named = [p["tariff_id"] for p in body["charging_periods"]]
    assert named[0] == "KZ-PLAIN" and named[-1] == "KZ-CHEAP" and named == sorted(named, key=["KZ-PLAIN", "KZ-CHEAP"].index)
    energy = {code: sum((Decimal(str(d["volume"])) for p in body["charging_periods"] if p["tariff_id"] == code
                         for d in p["dimensions"] if d["type"] == "ENERGY"), Decimal(0))
              for code in ("KZ-PLAIN", "KZ-CHEAP")}
    assert energy["KZ-PLAIN"] > 0 and energy["KZ-CHEAP"] > 0
    assert sum(energy.values()) == Decimal(str(body["total_energy"]))
    # 200 KZT once (the first tariff's session fee, not the new one's 500), 80 KZT/kWh before the
    # switch and 40 after; each part's energy is billed in whole Wh (step size 1, rounded up: the
    # register at the switch is interpolated), each line to the tiyn
    expected = Decimal(200) + 80 * energy["KZ-PLAIN"] + 40 * energy["KZ-CHEAP"]
    steps = Decimal("0.080") + Decimal("0.040") + Decimal("0.02")
    assert expected - Decimal("0.02") <= Decimal(cdr["total_excl_vat"]) <= expected + steps, (cdr["total_excl_vat"], expected)
    whole_by_old = Decimal(200) + 80 * (energy["KZ-PLAIN"] + energy["KZ-CHEAP"])
    assert Decimal(cdr["total_excl_vat"]) < whole_by_old - Decimal("0.5")


async def test_the_running_cost_told_to_a_21_charger_follows_a_mid_session_tariff_switch_as_the_cdr_does(
    api, ocpp_url,
):
    from silkcharge.sim.meter import Ev

    station = "ALA-RUN-SWITCH-21"
    await register_station(api, station)
    await add_token(api, "CARD-R")
    assert (await publish(api, "KZ-PLAIN", PLAIN, site="ALA-TEST")).status_code == 201
    cheaper = {**PLAIN, "elements": [{"price_components": [{"type": "ENERGY", "price": "40", "vat": 16, "step_size": 1}]}]}
    assert (await publish(api, "KZ-CHEAP", cheaper, site="ALA-TEST")).status_code == 201
    async with charger_21(ocpp_url, station, 31) as charger:
        told: list[Decimal] = []  # every running total the CSMS gave the charger (TransactionEvent replies)
        tariffs = charger.settings.management.tariffs
        keep = tariffs.updated

        def updated(transaction_id, message, total_cost):
            if total_cost is not None:
                told.append(Decimal(str(total_cost)))
            keep(transaction_id, message, total_cost)

        tariffs.updated = updated
        # a car that takes 60 Wh at 22 kW and then draws nothing: the register stops, so the
        # running cost at its last reading is what the CDR bills
        car = Ev(Decimal(60_000), Decimal(50), Decimal(60), Decimal(22_000))
        await charger.plug_in_and_charge(1, "CARD-R", car=car)
        tx = (await api.get(f"/api/v1/transactions?station_id={station}")).json()[0]
        c = charger.connector(1)
        started_wh = c.session.meter_start_wh

        async def charged(wh):
            async def enough():
                return charger.read_meter(c).energy_wh >= wh
            await eventually(enough)

        await charged(started_wh + 15)
        changed = await api.post(f"/api/v1/transactions/{tx['id']}/tariff", json={"tariff_code": "KZ-CHEAP"})
        assert changed.status_code == 200 and changed.json()["status"] == "Accepted", changed.text
        async def full():
            return car.full
        await eventually(full)
        seen = len(told)

        async def told_after_full():
            return len(told) >= seen + 2  # two more replies: at least one priced the last reading
        await eventually(told_after_full)
        running = told[-1]
        await charger.stop_charging(1)
        cdr = await cdr_of(api, tx["id"])

    assert [t["id"] for t in cdr["cdr"]["tariffs"]] == ["KZ-PLAIN", "KZ-CHEAP"]
    # the display showed what the bill says, not the whole session at the first tariff's price
    assert running == Decimal(cdr["total_incl_vat"]), (running, cdr["total_incl_vat"])
    energy = Decimal(str(cdr["cdr"]["total_energy"]))
    whole_by_old = (Decimal(200) + Decimal(80) * energy) * Decimal("1.16")
    assert running < whole_by_old - Decimal("0.5")
