"""Driver API: catalog, compare, compatibility and trip planning over the seeded store."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import update

from silkcharge.api.app import create_api
from silkcharge.data.seed import load_seed_network
from silkcharge.domain.pricing import estimate
from silkcharge.domain.tariffs import Tariff
from silkcharge.services.seeding import seed_network
from silkcharge.store.schema import Connector

pytestmark = pytest.mark.asyncio


@pytest.fixture
async def driver(platform):
    """A client without the operator API key: drivers browse and plan without logging in."""
    transport = httpx.ASGITransport(app=create_api(platform))
    async with httpx.AsyncClient(transport=transport, base_url="http://silkcharge") as client:
        yield client


async def test_search_get_and_compare_vehicles_without_a_key(driver):
    found = (await driver.get("/api/v1/vehicles", params={"q": "song plus", "inlet": "GB/T DC"})).json()
    assert found and all("GB/T DC" in v["dc_inlets"] for v in found)
    one = (await driver.get(f"/api/v1/vehicles/{found[0]['id']}")).json()
    assert one["curve"] and one["battery_kwh"] > 0
    compared = await driver.get("/api/v1/vehicles/compare",
                                params={"ids": "hyundai-ioniq-5-2024-eu,byd-song-plus-comfort-2024-cn"})
    assert compared.status_code == 200
    assert compared.json()["rows"]["dc_inlets"] == ["CCS2", "GB/T DC"]


async def test_catalog_errors_are_4xx_with_a_reason(driver):
    missing = await driver.get("/api/v1/vehicles/hyundai-ioniq-5-2024-e")
    assert missing.status_code == 404 and "did you mean" in missing.json()["detail"]
    one = await driver.get("/api/v1/vehicles/compare", params={"ids": "hyundai-ioniq-5-2024-eu"})
    assert one.status_code == 422 and "2 to 4" in one.json()["detail"]
    plug = await driver.get("/api/v1/vehicles", params={"inlet": "scart"})
    assert plug.status_code == 422 and "unknown connector standard" in plug.json()["detail"]


async def test_compatibility_near_a_point_and_along_a_route(platform, driver):
    await seed_network(platform.sessions, load_seed_network())
    near = (await driver.get("/api/v1/vehicles/byd-song-plus-comfort-2024-cn/compatibility",
                             params={"lat": 43.24, "lon": 76.9, "radius_km": 10,
                                     "adapters": False})).json()
    assert {s["standard"] for s in near["standards"]} == {"GB/T AC", "GB/T DC"}
    assert near["near"] and all(s["standard"].startswith("GB/T") for s in near["near"])
    along = (await driver.get("/api/v1/vehicles/hyundai-ioniq-5-2024-eu/compatibility",
                              params={"origin": "Almaty", "destination": "Bishkek"})).json()
    codes = [s["site_code"] for s in along["along"]["sites"]]
    assert "KZ-ALB-002" in codes  # Kordai has CCS2
    kms = [s["km"] for s in along["along"]["sites"]]
    assert kms == sorted(kms)


async def test_plan_almaty_to_samarkand_from_the_store(platform, driver):
    await seed_network(platform.sessions, load_seed_network())
    answer = await driver.post("/api/v1/trips/plan", json={
        "origin": "Almaty", "destination": "Samarkand", "via": ["Bishkek", "Tashkent"],
        "vehicle_id": "byd-song-plus-comfort-2024-cn", "start_soc": 90,
        "depart_at": "2026-06-01T03:00:00Z"})
    assert answer.status_code == 200, answer.text
    plan = answer.json()
    assert plan["totals"]["stops"] >= 2 and plan["totals"]["cost"] == []
    assert plan["totals"]["cost_complete"] is False
    assert plan["legs"][-1]["end"] == "Samarkand"
    assert plan["legs"][0]["depart_at"].endswith("+00:00")
    stops = [leg["stop"] for leg in plan["legs"] if leg["stop"]]
    assert all(s["standard"] == "GB/T DC" for s in stops)


async def test_plan_avoids_faulted_connectors(platform, driver):
    await seed_network(platform.sessions, load_seed_network())
    body = {"origin": "Tashkent", "destination": "Samarkand", "start_soc": 40,
            "vehicle_id": "hyundai-ioniq-5-2024-eu"}
    first = (await driver.post("/api/v1/trips/plan", json=body)).json()
    used = {leg["stop"]["site_code"] for leg in first["legs"] if leg["stop"]}
    async with platform.sessions.begin() as session:
        await session.execute(update(Connector).values(status="Faulted")
                              .where(Connector.standard == "ccs2"))
    again = (await driver.post("/api/v1/trips/plan", json=body)).json()
    stops = [leg["stop"] for leg in again["legs"] if leg["stop"]]
    assert used and stops
    assert all(s["standard"] == "Type 2" for s in stops)  # only AC is left for a CCS2 car


@pytest.mark.parametrize("change, reason", [
    ({"origin": "Almatty"}, "did you mean Almaty"),
    ({"vehicle_id": "no-such-car"}, "unknown vehicle"),
    ({"start_soc": 140}, "start_soc must be a percentage"),
    ({"min_arrival_soc": 90, "max_charge_soc": 80}, "must be below the maximum"),
    ({"avoid_borders": ["KZ-KG", "KZ-UZ", "KZ-CN", "KZ-RU", "KZ-TM"]},
     "the road from Almaty to Bishkek needs a border you avoid"),
])
async def test_plan_bad_input_answers_4xx_with_the_reason(driver, change, reason):
    body = {"origin": "Almaty", "destination": "Bishkek", "vehicle_id": "hyundai-ioniq-5-2024-eu",
            **change}
    answer = await driver.post("/api/v1/trips/plan", json=body)
    assert 400 <= answer.status_code < 500
    assert reason in answer.json()["detail"]


async def test_plan_refusal_carries_its_message_code_params_and_options(driver):
    answer = await driver.post("/api/v1/trips/plan", json={
        "origin": "Almaty", "destination": "Urumqi", "on_date": "2026-07-15",
        "vehicle_id": "byd-song-plus-comfort-2024-cn"})
    assert answer.status_code == 422
    body = answer.json()
    assert body["code"] == "crossing_closed_to_private_cars"
    assert body["params"]["from"] == "Almaty" and body["params"]["crossings"]
    assert "closed to private cars" in body["detail"]


async def test_plan_legs_carry_energy_elevation_profile_and_temperature(platform, driver):
    await seed_network(platform.sessions, load_seed_network())
    answer = await driver.post("/api/v1/trips/plan", json={
        "origin": "Bishkek", "destination": "Osh", "on_date": "2027-01-15",
        "vehicle_id": "byd-song-plus-comfort-2024-cn"})
    assert answer.status_code == 200, answer.text
    plan = answer.json()
    assert all(leg["crossings"] == [] for leg in plan["legs"])
    heights = [p["elevation_m"] for leg in plan["legs"] for p in leg["profile"]
               if p["elevation_m"] is not None]
    assert max(heights) > 3000
    assert all(leg["temp_c"] is not None for leg in plan["legs"])
    assert plan["totals"]["energy_kwh"] > 0
    assert {n["code"] for n in plan["notes"]} >= {"seasonal_hazard"}


async def test_plan_over_the_anzob_tunnel_profiles_every_leg_with_heights(platform, driver):
    await seed_network(platform.sessions, load_seed_network())
    answer = await driver.post("/api/v1/trips/plan", json={
        "origin": "Khujand", "destination": "Dushanbe", "on_date": "2027-07-15",
        "vehicle_id": "byd-song-plus-comfort-2024-cn"})
    assert answer.status_code == 200, answer.text
    legs = answer.json()["legs"]
    points = [p for leg in legs for p in leg["profile"]]
    assert points and all(p["elevation_m"] is not None for p in points)
    assert max(p["elevation_m"] for p in points) == 2720  # the Anzob tunnel
    assert sum(leg["climb_m"] for leg in legs) > 3000


async def test_plan_prices_each_stop_by_its_tariff_in_its_currency(platform, api, driver):
    """A stop at an operator with a tariff costs what `pricing.estimate` says for its energy and
    minutes; a stop elsewhere says it has no tariff; totals are per currency."""
    await seed_network(platform.sessions, load_seed_network())
    body = {"origin": "Almaty", "destination": "Tashkent", "via": ["Bishkek"],
            "vehicle_id": "byd-song-plus-comfort-2024-cn", "start_soc": 90,
            "depart_at": "2026-06-01T03:00:00Z"}
    first = (await driver.post("/api/v1/trips/plan", json=body)).json()
    stops = [leg["stop"] for leg in first["legs"] if leg["stop"]]
    priced_operator = stops[0]["operator"]
    operator = (await api.get(f"/api/v1/operators/{priced_operator}")).json()
    tariff = {"currency": operator["currency"], "country_code": operator["country"], "party_id": "SLK",
              "elements": [{"price_components": [
                  {"type": "ENERGY", "price": "90", "vat": 12, "step_size": 1},
                  {"type": "TIME", "price": "120", "vat": 12, "step_size": 60}]}]}
    published = await api.post("/api/v1/tariffs", json={"code": "TRIP-T", "operator": priced_operator,
                                                        "site": None, "tariff": tariff})
    assert published.status_code == 201, published.text
    plan = (await driver.post("/api/v1/trips/plan", json=body)).json()
    stops = [leg["stop"] for leg in plan["legs"] if leg["stop"]]
    totals: dict[str, Decimal] = {}
    for stop in stops:
        if stop["operator"] != priced_operator:
            assert stop["cost"] is None and "no tariff is published" in stop["cost_note"]
            continue
        start = datetime.fromisoformat(stop["arrive_at"]) + timedelta(minutes=stop["wait_min"])
        raw_energy = stop["energy_kwh"]  # rounded to 0.1 in the answer; re-derive from SoC
        expected = estimate(Tariff.from_ocpi({**tariff, "id": "TRIP-T"}),
                            Decimal(f"{raw_energy:.3f}"), Decimal(f"{stop['charge_min']:.2f}"),
                            start.astimezone(ZoneInfo("Asia/Almaty"))).total_cost
        assert stop["cost"]["tariff"] == "TRIP-T" and stop["cost"]["currency"] == operator["currency"]
        assert Decimal(stop["cost"]["amount"]) == pytest.approx(expected.incl_vat.amount, rel=Decimal("0.02"))
        totals[operator["currency"]] = totals.get(operator["currency"], Decimal(0)) + Decimal(stop["cost"]["amount"])
    assert {c["currency"]: Decimal(c["amount"]) for c in plan["totals"]["cost"]} == totals
    assert plan["totals"]["cost_complete"] is (plan["totals"]["unpriced_stops"] == 0)


async def test_stored_sessions_give_each_site_its_occupancy_by_hour(platform):
    from sqlalchemy import select

    from silkcharge.domain.clock import utcnow
    from silkcharge.store.schema import Site, Station, Transaction
    from silkcharge.trips.network import load_charging_sites

    await seed_network(platform.sessions, load_seed_network())
    async with platform.sessions.begin() as session:
        site_id, code = (await session.execute(select(Site.id, Site.code).order_by(Site.code))).first()
        station = await session.scalar(select(Station.id).where(Station.site_id == site_id))
        today = utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
        for day in range(1, 8):  # a week of sessions 08:00-09:00 UTC on EVSE 1
            begin = today - timedelta(days=day) + timedelta(hours=8)
            session.add(Transaction(station_id=station, station_tx_id=f"hist-{day}", evse_id=1,
                                    connector_id=1, state="Ended", started_at=begin,
                                    stopped_at=begin + timedelta(hours=1)))
    sites = {s.code: s for s in await load_charging_sites(platform.sessions)}
    history = sites[code].occupancy_by_hour
    assert len(history) == 24 and history[8] > 0 and history[8] > history[12] == 0
    assert all(s.occupancy_by_hour == () for c, s in sites.items() if c != code)


async def test_plan_notes_name_road_texts_by_key_and_the_console_gets_their_words(platform, driver):
    """A pass's name and note reach API clients as a key with the English text; the console
    words the key in its language from /console/road-texts."""
    await seed_network(platform.sessions, load_seed_network())
    answer = await driver.post("/api/v1/trips/plan", json={
        "origin": "Bishkek", "destination": "Osh", "on_date": "2027-01-15",
        "vehicle_id": "byd-song-plus-comfort-2024-cn"})
    assert answer.status_code == 200, answer.text
    (hazard,) = [n for n in answer.json()["notes"] if n["code"] == "seasonal_hazard"
                 and n["params"]["name"]["key"] == "pass.too-ashuu"]
    (note,) = hazard["params"]["note"]
    assert note["key"] == "note.too-ashuu-snow" and note["unverified"] is False
    assert note["text"].startswith("snow from late October") and "rockfalls" in hazard["message"]
    words = (await driver.get("/api/v1/console/road-texts", params={"lang": "ru"})).json()["texts"]
    assert words[note["key"]].startswith("снег с конца октября")
    assert words["pass.too-ashuu"].startswith("Перевал и тоннель Тоо-Ашуу")
    assert words["marker.unverified"] == "(не проверено)"
    wrong = await driver.get("/api/v1/console/road-texts", params={"lang": "xx"})
    assert wrong.status_code == 422
    through = await driver.post("/api/v1/trips/plan", json={
        "origin": "Bukhara", "destination": "Turkmenabat", "on_date": "2026-07-15",
        "vehicle_id": "byd-song-plus-comfort-2024-cn"})
    assert through.status_code == 200, through.text
    (crossing,) = [c for leg in through.json()["legs"] for c in leg["crossings"]]
    assert crossing["name_text"]["key"] == "crossing.alat-farap"
    assert crossing["hours"] == crossing["hours_text"]["text"] == "open daily 09:00–18:00 (UTC+5) (unverified)"
    assert crossing["hours_text"]["params"] == {"opens": "09:00", "closes": "18:00", "offset": "+5"}
    assert [n["key"] for n in crossing["notes"]] == ["note.tm-transit-visa"]
