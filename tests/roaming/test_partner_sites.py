"""A partner's stations for our drivers, over real HTTP on SQLite and PostgreSQL: the Uzbek eMSP
(UZ*UZE) pulls the Kazakh CPO's (KZ*SLK) locations and tariffs, and its drivers' search shows
the Almaty site marked as roaming, priced in UZS at the rate the Uzbek operator entered, with
the Kazakh price behind it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from decimal import Decimal

from ocpp.v16 import call
from sqlalchemy import func, select

from silkcharge.domain.clock import utcnow
from silkcharge.store.schema import RoamingLocation
from tests.e2e.network import PASSWORD
from tests.e2e.peers import Peer16, connected_peer, eventually
from tests.roaming.conftest import Network

KZ_TARIFF = {"currency": "KZT", "country_code": "KZ", "party_id": "SLK",
             "elements": [{"price_components": [{"type": "ENERGY", "price": "100", "vat": 12, "step_size": 1}]}]}
RATE = Decimal("24.65")  # an example: 1 KZT = 24.65 UZS
ALMATY = {"lat": 43.238, "lon": 76.889}


async def almaty_site(kz: Network) -> None:
    """An operator, a site in Almaty with one station (CCS2 at 60 kW and Type 2 at 22 kW) and a KZT
    tariff, made through the Kazakh operator API."""
    made = [
        await kz.api.post("/api/v1/operators", json={"code": "KZ-TEST", "name": "Silk Charge", "country": "KZ",
                                                     "currency": "KZT"}),
        await kz.api.post("/api/v1/sites", json={"code": "ALA-DOSTYK", "operator": "KZ-TEST", "name": "Dostyk Plaza",
                                                 "city": "Almaty", "country": "KZ", "lat": 43.2335, "lon": 76.9565,
                                                 "timezone": "Asia/Almaty"}),
        await kz.api.post("/api/v1/stations", json={"id": "ALA-DOS-01", "site": "ALA-DOSTYK", "password": PASSWORD,
                                                    "connectors": [
                                                        {"evse_id": 1, "connector_id": 1, "standard": "ccs2",
                                                         "max_power_kw": "60"},
                                                        {"evse_id": 2, "connector_id": 1, "standard": "type2",
                                                         "max_power_kw": "22"}]}),
        await kz.api.post("/api/v1/tariffs", json={"code": "KZ-STD", "operator": "KZ-TEST", "tariff": KZ_TARIFF}),
    ]
    assert all(answer.status_code == 201 for answer in made), [answer.text for answer in made]


@contextlib.asynccontextmanager
async def charger_online(kz: Network) -> AsyncIterator[Peer16]:
    """The Almaty station connected over OCPP 1.6, booted, both connectors Available, and the
    Kazakh network's own search showing them so."""
    url = f"ws://127.0.0.1:{kz.platform.gateway.port}/ocpp"
    async with connected_peer(url, "ALA-DOS-01", "1.6") as station:
        await station.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
        for connector in (1, 2):
            await station.call(call.StatusNotification(connector_id=connector, error_code="NoError",
                                                       status="Available"))

        async def both_free():
            found = await search(kz, available="true")
            return found if found and all(c["available"] for s in found for st in s["stations"]
                                          for c in st["connectors"]) else None

        await eventually(both_free)
        yield station


async def enter_rate(uz: Network) -> None:
    """The Uzbek operator enters today's KZT to UZS rate (an example figure)."""
    entered = await uz.api.post("/api/v1/exchange-rates", json={
        "from_currency": "KZT", "to_currency": "UZS", "rate": str(RATE), "valid_on": date.today().isoformat(),
        "source": "Central Bank of Uzbekistan (example)"})
    assert entered.status_code == 201, entered.text


async def pull(uz: Network, **params) -> dict:
    partner = await uz.partner_row()
    answer = await uz.api.post(f"/api/v1/roaming/partners/{partner.id}/pull", params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def search(network: Network, **params) -> list[dict]:
    answer = await network.api.get("/api/v1/search/stations", params={**ALMATY, "radius_km": 20, **params})
    assert answer.status_code == 200, answer.text
    return answer.json()["results"]


async def test_a_pull_keeps_the_partners_locations_and_tariffs_and_the_next_asks_from_when_it_began(registered):
    kz, uz = registered
    await almaty_site(kz)
    before = utcnow()
    first = await pull(uz)
    assert (first["since"], first["locations"], first["tariffs"], first["skipped"], first["error"]) == (
        None, 1, 1, 0, None)
    again = await pull(uz)
    # from when the first began, a minute early for the partner's clock: the same objects again,
    # merged, not doubled
    since = datetime.fromisoformat(again["since"].replace("Z", "+00:00"))
    assert before - timedelta(minutes=1, seconds=1) <= since <= utcnow() - timedelta(minutes=1)
    assert (again["locations"], again["tariffs"], again["error"]) == (1, 1, None)
    async with uz.platform.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(RoamingLocation)) == 1
    everything = await pull(uz, everything="true")
    assert (everything["since"], everything["locations"], everything["tariffs"]) == (None, 1, 1)
    listed = (await uz.api.get("/api/v1/roaming/partners")).json()
    assert listed[0]["last_pull_at"] is not None and listed[0]["last_error"] is None


async def test_the_partners_site_is_found_marked_as_roaming_and_priced_in_our_currency_at_the_entered_rate(registered):
    kz, uz = registered
    await almaty_site(kz)
    await pull(uz)
    await enter_rate(uz)

    [site] = await search(uz, standard="ccs2", kwh=30)
    assert site["roaming"] == {"partner": "Silk Charge KZ", "party": "KZ*SLK", "location_id": "ALA-DOSTYK"}
    assert (site["site"]["name"], site["site"]["city"], site["site"]["operator"]) == ("Dostyk Plaza", "Almaty", "KZ*SLK")
    [station] = site["stations"]
    assert station["id"] == "ALA-DOS-01*1"  # the EVSE's uid: what a start there names
    [ccs] = station["connectors"]
    assert (ccs["standard"], Decimal(ccs["max_power_kw"])) == ("ccs2", Decimal(60))
    price = ccs["price"]
    # 30 kWh at 100 KZT + 12 % VAT = 3,360 KZT, at 24.65 UZS per KZT
    assert price["roaming"]["currency"] == "KZT"
    assert Decimal(price["roaming"]["total_incl_vat"]) == Decimal(3360)
    assert (Decimal(price["roaming"]["rate"]), price["roaming"]["rate_source"]) == (
        RATE, "Central Bank of Uzbekistan (example)")
    assert price["currency"] == "UZS" and Decimal(price["total_incl_vat"]) == Decimal("82824.00")
    assert price["reason"] is None

    # our own drivers' search at home is not changed: the Kazakh network has no partner sites
    [own] = await search(kz, standard="ccs2")
    assert own["roaming"] is None and own["stations"][0]["id"] == "ALA-DOS-01"


async def test_without_a_rate_the_partners_price_is_shown_in_its_currency_with_the_reason(registered):
    kz, uz = registered
    await almaty_site(kz)
    await pull(uz)
    [site] = await search(uz, standard="type2")
    [connector] = site["stations"][0]["connectors"]
    price = connector["price"]
    assert price["total_incl_vat"] is None and "no exchange rate KZT→UZS" in price["reason"]
    assert price["roaming"]["currency"] == "KZT" and price["roaming"]["rate"] is None
    assert Decimal(price["roaming"]["total_incl_vat"]) > 0
    assert "no exchange rate" in price["roaming"]["rate_problem"]


async def test_a_partners_status_change_reaches_the_search_and_available_only_leaves_it_out_when_busy(registered):
    kz, uz = registered
    await almaty_site(kz)
    await pull(uz)
    kz_token = (await kz.partner_row()).token_to_them
    patched = await uz.ocpi("PATCH", "emsp/2.2.1/locations/KZ/SLK/ALA-DOSTYK/ALA-DOS-01*1", kz_token,
                            json={"status": "CHARGING", "last_updated": "2099-01-01T00:00:00Z"})
    assert patched.status_code == 200 and patched.json()["status_code"] == 1000, patched.text
    [site] = await search(uz, standard="ccs2")
    [ccs] = site["stations"][0]["connectors"]
    assert (ccs["status"], ccs["available"], ccs["in_session"]) == ("Charging", False, True)
    assert await search(uz, standard="ccs2", available="true") == []


async def test_an_unknown_or_unregistered_partner_cannot_be_pulled(registered):
    kz, uz = registered
    assert (await uz.api.post("/api/v1/roaming/partners/999/pull")).status_code == 404
    partner = await uz.partner_row()
    assert (await uz.api.post(f"/api/v1/roaming/partners/{partner.id}/unregister")).status_code == 200
    refused = await uz.api.post(f"/api/v1/roaming/partners/{partner.id}/pull")
    assert refused.status_code == 409 and "not registered" in refused.json()["detail"]


async def test_the_trip_planner_stops_at_a_partners_site_priced_in_our_currency(registered):
    kz, uz = registered
    await almaty_site(kz)
    await pull(uz)
    await enter_rate(uz)
    near = (await uz.api.get("/api/v1/vehicles/hyundai-ioniq-5-2024-eu/compatibility",
                             params={"lat": ALMATY["lat"], "lon": ALMATY["lon"], "radius_km": 20})).json()
    [partner] = [s for s in near["near"] if s["roaming"]]
    assert (partner["site_code"], partner["roaming"], partner["standard"]) == (
        "KZ*SLK/ALA-DOSTYK", "Silk Charge KZ", "CCS2")

    # the Uzbek network has no charger of its own near Almaty: the car, low on charge, stops at
    # the Kazakh partner's site and the stop is priced in UZS
    answer = await uz.api.post("/api/v1/trips/plan", json={
        "origin": "Almaty", "destination": "Bishkek", "vehicle_id": "hyundai-ioniq-5-2024-eu",
        "start_soc": 20, "min_arrival_soc": 10})
    assert answer.status_code == 200, answer.text
    [stop] = [leg["stop"] for leg in answer.json()["legs"] if leg["stop"]]
    assert (stop["site_code"], stop["roaming"]) == ("KZ*SLK/ALA-DOSTYK", "Silk Charge KZ")
    # 100 KZT/kWh + 12 % VAT, at 24.65 UZS per KZT (the energy is shown rounded to 0.1 kWh)
    expected = Decimal(str(stop["energy_kwh"])) * 100 * Decimal("1.12") * RATE
    assert stop["cost"]["currency"] == "UZS" and stop["cost"]["tariff"] == "KZ-STD"
    assert abs(Decimal(stop["cost"]["amount"]) - expected) < expected / 100
