"""Reviewing CDRs held for implausible input, through the API: approve bills as priced, correct
prices again from the operator's values with the same pricing code, void bills nothing; every
receipt says which. Real OCPP sessions over sockets, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from ocpp.v16 import call

from silkcharge.domain.clock import to_ocpp
from tests.e2e.network import add_token, register_station
from tests.e2e.peers import connected_peer
from tests.e2e.test_billing import STANDARD, publish
from tests.e2e.test_plausibility import boot16, cdr_of, now


async def held_session(api, ocpp_url, station: str, meter_stop: int = 2_000_000_000) -> dict:
    """A 22 kW connector that reports `meter_stop` Wh after 30 minutes: 2 GWh is held."""
    await register_station(api, station)
    power = await api.patch(f"/api/v1/stations/{station}/connectors/1/1", json={"max_power_kw": "22"})
    assert power.status_code == 200
    await add_token(api, f"CARD-{station}")
    if (await api.get("/api/v1/tariffs/KZ-STD")).status_code == 404:
        assert (await publish(api, "KZ-STD", STANDARD)).status_code == 201
    start = now() - timedelta(minutes=30)
    async with connected_peer(ocpp_url, station, "1.6") as peer:
        await boot16(peer)
        started = await peer.call(call.StartTransaction(connector_id=1, id_tag=f"CARD-{station}", meter_start=0,
                                                        timestamp=to_ocpp(start)))
        await peer.call(call.StopTransaction(meter_stop=meter_stop, timestamp=to_ocpp(start + timedelta(minutes=30)),
                                             transaction_id=started.transaction_id))
    return await cdr_of(api, started.transaction_id)


async def test_approving_a_held_cdr_bills_it_as_priced_and_the_receipt_stops_saying_held(api, ocpp_url):
    cdr = await held_session(api, ocpp_url, "REV-OK")
    assert cdr["review"]["status"] == "held" and cdr["billed"] is False
    assert "held-for-review" in cdr["flags"]
    approved = await api.post(f"/api/v1/cdrs/{cdr['id']}/approve", json={"note": "meter certified; 22 kW was a typo"})
    assert approved.status_code == 200, approved.text
    body = approved.json()
    assert (body["review"]["status"], body["billed"], body["review"]["note"]) == (
        "approved", True, "meter certified; 22 kW was a typo")
    assert body["total_incl_vat"] == cdr["total_incl_vat"]
    assert Decimal(body["review"]["held_totals"]["total_incl_vat"]) == Decimal(cdr["total_incl_vat"])
    assert "held-for-review" not in body["flags"]
    receipt = (await api.get(f"/api/v1/transactions/{cdr['transaction_id']}/receipt")).text
    assert "Held for review" not in receipt
    again = await api.post(f"/api/v1/cdrs/{cdr['id']}/approve", json={})
    assert again.status_code == 409 and "approved" in again.json()["detail"]


async def test_correcting_a_held_cdr_prices_the_corrected_energy_with_the_same_tariff(api, ocpp_url):
    cdr = await held_session(api, ocpp_url, "REV-FIX")
    too_much = await api.post(f"/api/v1/cdrs/{cdr['id']}/correct",
                              json={"energy_wh": "50000", "note": "read off the meter"})
    assert too_much.status_code == 422 and "22 kW" in too_much.json()["detail"]
    assert (await api.post(f"/api/v1/cdrs/{cdr['id']}/correct", json={"note": "nothing"})).status_code == 422
    fixed = await api.post(f"/api/v1/cdrs/{cdr['id']}/correct",
                           json={"energy_wh": "9500", "note": "read off the meter's display"})
    assert fixed.status_code == 200, fixed.text
    body = fixed.json()
    assert body["review"]["status"] == "corrected" and body["billed"] is True
    assert body["review"]["correction"] == {"energy_wh": "9500"}
    assert Decimal(body["total_excl_vat"]) == Decimal("960")  # 9.5 kWh x 80 + 200 flat
    assert Decimal(body["total_incl_vat"]) == Decimal("1113.6")
    receipt = (await api.get(f"/api/v1/transactions/{cdr['transaction_id']}/receipt?locale=ru")).text
    assert "Исправлено оператором" in receipt


async def test_voiding_a_held_cdr_bills_nothing_and_its_receipt_says_so(api, ocpp_url):
    cdr = await held_session(api, ocpp_url, "REV-VOID")
    assert (await api.post(f"/api/v1/cdrs/{cdr['id']}/void", json={})).status_code == 422  # a note is required
    voided = await api.post(f"/api/v1/cdrs/{cdr['id']}/void", json={"note": "test session by the installer"})
    assert voided.status_code == 200, voided.text
    assert (voided.json()["review"]["status"], voided.json()["billed"]) == ("voided", False)
    receipt = (await api.get(f"/api/v1/transactions/{cdr['transaction_id']}/receipt")).text
    assert "Voided by the operator" in receipt
    assert [c["id"] for c in (await api.get("/api/v1/cdrs?review=voided")).json()] == [cdr["id"]]
    assert (await api.get("/api/v1/cdrs?review=held")).json() == []


async def test_a_cdr_billed_without_review_cannot_be_decided_and_unknown_ones_are_404(api, ocpp_url):
    cdr = await held_session(api, ocpp_url, "REV-PLAIN", meter_stop=5000)
    assert cdr["review"] is None and cdr["billed"] is True
    refused = await api.post(f"/api/v1/cdrs/{cdr['id']}/void", json={"note": "why not"})
    assert refused.status_code == 409 and "billed without review" in refused.json()["detail"]
    assert (await api.post("/api/v1/cdrs/nope/approve", json={})).status_code == 404
    assert (await api.get(f"/api/v1/cdrs/{cdr['id']}")).json()["id"] == cdr["id"]
