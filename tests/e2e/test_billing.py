"""Money end to end: a tariff published through the API prices a real OCPP session into a CDR
and a receipt whose totals match a hand computation (regulated caps: tests/e2e/test_caps.py)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

from ocpp.v16 import call

from silkcharge.domain.clock import to_ocpp
from tests.e2e.network import add_token, register_station
from tests.e2e.peers import connected_peer, eventually

T0 = datetime(2026, 11, 21, 10, 0, tzinfo=timezone.utc)  # 15:00 in Almaty


def component(kind: str, price: str, step: int) -> dict:
    return {"type": kind, "price": price, "vat": 16, "step_size": step}


STANDARD = {
    "currency": "KZT", "country_code": "KZ", "party_id": "SLK",
    "elements": [
        {"price_components": [component("ENERGY", "80", 1), component("FLAT", "200", 1)]},
        {"price_components": [component("PARKING_TIME", "600", 60)]},
    ],
}


async def publish(api, code: str, tariff: dict, site: str | None = None):
    return await api.post("/api/v1/tariffs", json={"code": code, "operator": "KZ-TEST", "site": site,
                                                   "tariff": tariff})


def energy(at: datetime, wh: int, watts: int) -> list[dict]:
    return [{"timestamp": to_ocpp(at), "sampledValue": [
        {"value": str(wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
        {"value": str(watts), "measurand": "Power.Active.Import", "unit": "W"},
    ]}]


async def cdr_of(api, transaction_id: int) -> dict:
    async def ready():
        response = await api.get(f"/api/v1/transactions/{transaction_id}/cdr")
        return response.json() if response.status_code == 200 else None

    return await eventually(ready)


async def test_session_with_energy_flat_and_parking_matches_the_hand_computed_total(api, ocpp_url):
    await register_station(api, "BILL-16")
    await add_token(api, "CARD-1")
    assert (await publish(api, "KZ-STD", STANDARD)).status_code == 201
    async with connected_peer(ocpp_url, "BILL-16", "1.6") as peer:
        await peer.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
        started = await peer.call(call.StartTransaction(connector_id=1, id_tag="CARD-1", meter_start=0,
                                                        timestamp=to_ocpp(T0)))
        tx = started.transaction_id
        await peer.call(call.MeterValues(connector_id=1, transaction_id=tx,
                                         meter_value=energy(T0 + timedelta(minutes=30), 25000, 50000)))
        await peer.call(call.MeterValues(connector_id=1, transaction_id=tx,
                                         meter_value=energy(T0 + timedelta(minutes=40), 30000, 0)))
        await peer.call(call.StopTransaction(meter_stop=30000, timestamp=to_ocpp(T0 + timedelta(minutes=60)),
                                             transaction_id=tx))
    cdr = await cdr_of(api, tx)
    # 30 kWh x 80 = 2400; flat 200; parked 20 min (power 0 from minute 40) x 600/h = 200.
    # 2800 excl. VAT, + 16 % = 448, 3248 incl. VAT.
    assert Decimal(cdr["total_excl_vat"]) == Decimal("2800")
    assert Decimal(cdr["total_incl_vat"]) == Decimal("3248")
    assert cdr["tariff_code"] == "KZ-STD" and cdr["capped"] is False
    assert Decimal(str(cdr["cdr"]["total_energy"])) == 30
    receipt = await api.get(f"/api/v1/transactions/{tx}/receipt")
    assert receipt.headers["content-type"].startswith("text/html")
    assert "3,248.00" in receipt.text or "3 248,00" in receipt.text
    russian = await api.get(f"/api/v1/transactions/{tx}/receipt?locale=ru")
    assert "3 248,00" in russian.text.replace("\u00a0", " ")


async def test_taxi_fleet_gets_its_concession_tariff(api, ocpp_url):
    await register_station(api, "BILL-TAXI")
    await add_token(api, "TAXI-7", group_id="taxi-almaty")
    await add_token(api, "PRIVATE-1")
    assert (await publish(api, "KZ-STD", STANDARD)).status_code == 201
    fleet = {**STANDARD, "silkcharge": {"token_groups": ["taxi-almaty"]},
             "elements": [{"price_components": [component("ENERGY", "60", 1)]}]}
    response = await publish(api, "KZ-TAXI", fleet)
    assert response.status_code == 201, response.text
    totals = {}
    async with connected_peer(ocpp_url, "BILL-TAXI", "1.6") as peer:
        await peer.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
        for evse, token in ((1, "TAXI-7"), (2, "PRIVATE-1")):
            started = await peer.call(call.StartTransaction(connector_id=evse, id_tag=token, meter_start=1000,
                                                            timestamp=to_ocpp(T0)))
            await peer.call(call.StopTransaction(meter_stop=11000, timestamp=to_ocpp(T0 + timedelta(minutes=20)),
                                                 transaction_id=started.transaction_id))
            totals[token] = await cdr_of(api, started.transaction_id)
    assert totals["TAXI-7"]["tariff_code"] == "KZ-TAXI"
    assert Decimal(totals["TAXI-7"]["total_excl_vat"]) == 600  # 10 kWh x 60
    assert totals["PRIVATE-1"]["tariff_code"] == "KZ-STD"
    assert Decimal(totals["PRIVATE-1"]["total_excl_vat"]) == 1000  # 10 kWh x 80 + 200 flat


async def test_bad_tariffs_are_refused_with_every_reason(api):
    await register_station(api, "BILL-BAD")
    cases = [
        ({**STANDARD, "currency": "UZS"}, "not KZ-TEST's currency"),
        ({**STANDARD, "currency": "XXX"}, "currency"),
        ({**STANDARD, "elements": [{"price_components": [component("ENERGY", "-5", 1)]}]}, "price"),
        ({**STANDARD, "elements": [{"price_components": [component("ENERGY", "80", 1)],
                                    "restrictions": {"min_kwh": 50, "max_kwh": 20}}]}, "min_kwh"),
        ({**STANDARD, "elements": []}, "at least one element"),
        ({**STANDARD, "token_groups": ["taxi"]}, "token_groups: not an OCPI 2.2.1 tariff field"),
    ]
    for index, (tariff, reason) in enumerate(cases):
        response = await publish(api, f"BAD-{index}", tariff)
        assert response.status_code == 422, (reason, response.text)
        assert reason in response.json()["detail"], (reason, response.json())
    assert (await api.get("/api/v1/tariffs")).json() == []


async def test_session_without_a_tariff_says_why_it_has_no_cdr(api, ocpp_url):
    await register_station(api, "BILL-NONE")
    async with connected_peer(ocpp_url, "BILL-NONE", "1.6") as peer:
        await peer.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
        started = await peer.call(call.StartTransaction(connector_id=1, id_tag="X", meter_start=0,
                                                        timestamp=to_ocpp(T0)))
        await peer.call(call.StopTransaction(meter_stop=100, timestamp=to_ocpp(T0 + timedelta(minutes=5)),
                                             transaction_id=started.transaction_id))

    async def explained():
        response = await api.get(f"/api/v1/transactions/{started.transaction_id}/cdr")
        return response if "tariff" in response.json()["detail"] else None

    response = await eventually(explained)
    assert response.status_code == 404


async def test_a_session_never_stopped_is_closed_by_the_rule_and_flagged(api, platform, ocpp_url):
    await register_station(api, "BILL-LOST")
    assert (await publish(api, "KZ-STD", STANDARD)).status_code == 201
    async with connected_peer(ocpp_url, "BILL-LOST", "1.6") as peer:
        await peer.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
        lost = await peer.call(call.StartTransaction(connector_id=1, id_tag="A", meter_start=0,
                                                     timestamp=to_ocpp(T0)))
        await peer.call(call.MeterValues(connector_id=1, transaction_id=lost.transaction_id,
                                         meter_value=energy(T0 + timedelta(minutes=10), 5000, 30000)))
        # the station lost power and its memory: a new session starts on the same connector
        await peer.call(call.StartTransaction(connector_id=1, id_tag="B", meter_start=0,
                                              timestamp=to_ocpp(T0 + timedelta(hours=1))))
    assert await platform.billing.close_abandoned() == [lost.transaction_id]
    tx = (await api.get(f"/api/v1/transactions/{lost.transaction_id}")).json()
    assert (tx["state"], tx["stop_reason"]) == ("Ended", "ClosedWithoutStop")
    assert tx["stopped_at"].startswith("2026-11-21T10:10:00")
    cdr = await cdr_of(api, lost.transaction_id)
    assert cdr["flags"] == ["closed-without-stop"]
    assert Decimal(cdr["total_excl_vat"]) == Decimal("600")  # 5 kWh x 80 + 200 flat


async def test_a_session_silent_past_the_stale_limit_is_closed_and_a_live_one_is_not(api, platform, ocpp_url):
    await register_station(api, "BILL-STALE")
    async with connected_peer(ocpp_url, "BILL-STALE", "1.6") as peer:
        await peer.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
        quiet = await peer.call(call.StartTransaction(connector_id=1, id_tag="A", meter_start=0,
                                                      timestamp=to_ocpp(T0)))
    heard = datetime.now(timezone.utc)  # the session was last heard of just now
    assert await platform.billing.close_abandoned(now=heard + timedelta(hours=23)) == []
    assert await platform.billing.close_abandoned(now=heard + timedelta(hours=25)) == [quiet.transaction_id]
    closed = (await api.get(f"/api/v1/transactions/{quiet.transaction_id}")).json()
    assert (closed["state"], closed["stop_reason"]) == ("Ended", "ClosedWithoutStop")
