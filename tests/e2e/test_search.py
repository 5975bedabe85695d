"""Availability search end to end: a real charger's status reaches the driver's search without a
restart, and the price shown is the one computation (`pricing.estimate`) for that driver."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from decimal import Decimal

import httpx
import pytest
from ocpp.v16 import call

from silkcharge.api.app import create_api
from silkcharge.domain.pricing import estimate
from silkcharge.domain.tariffs import Tariff
from tests.e2e.network import add_token, register_station
from tests.e2e.peers import connected_peer, eventually
from tests.e2e.test_billing import STANDARD, component, publish

NEAR_TEST_SITE = {"lat": 43.21, "lon": 76.63, "radius_km": 10}  # Kaskelen, west of Almaty
TAXI = {**STANDARD, "silkcharge": {"token_groups": ["taxi-almaty"]},
        "elements": [{"price_components": [component("ENERGY", "60", 1)]}]}


@pytest.fixture
async def driver(platform) -> AsyncIterator[httpx.AsyncClient]:
    """A driver's client: no API key."""
    transport = httpx.ASGITransport(app=create_api(platform))
    async with httpx.AsyncClient(transport=transport, base_url="http://silkcharge") as client:
        yield client


async def search(driver: httpx.AsyncClient, **params) -> dict:
    response = await driver.get("/api/v1/search/stations", params={**NEAR_TEST_SITE, **params})
    assert response.status_code == 200, response.text
    return response.json()


def connector(result: dict, standard: str) -> dict:
    return next(c for s in result["stations"] for c in s["connectors"] if c["standard"] == standard)


async def test_a_faulted_connector_shows_at_once_and_leaves_available_now(api, driver, ocpp_url):
    await register_station(api, "SRCH-1", connectors=3)
    before = await search(driver, standard="GB/T DC")
    assert before["count"] == 1 and before["results"][0]["stations"][0]["offline"] is True
    assert (await search(driver, standard="GB/T DC", available="true"))["count"] == 0
    async with connected_peer(ocpp_url, "SRCH-1", "1.6") as peer:
        await peer.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
        for n in (1, 2, 3):
            await peer.call(call.StatusNotification(connector_id=n, error_code="NoError", status="Available"))

        async def free(standard: str) -> bool:
            return (await search(driver, standard=standard, available="true"))["count"] == 1

        await eventually(lambda: free("gbt_dc"))
        await peer.call(call.StatusNotification(connector_id=1, error_code="GroundFailure", status="Faulted"))

        async def faulted():
            found = await search(driver, standard="GB/T DC")
            return found if connector(found["results"][0], "gbt_dc")["status"] == "Faulted" else None

        shown = connector((await eventually(faulted))["results"][0], "gbt_dc")
        assert shown["error_code"] == "GroundFailure" and shown["available"] is False
        assert shown["status_at"] is not None
        assert not await free("gbt_dc")
        assert await free("CCS2")

    async def offline() -> bool:
        found = await search(driver, standard="ccs2")
        return found["results"][0]["stations"][0]["offline"] is True

    await eventually(offline)
    assert not await free("ccs2")


async def test_price_is_the_estimate_for_this_driver_and_a_taxi_gets_its_concession(api, driver):
    await register_station(api, "SRCH-PRICE", connectors=3)
    unpriced = connector((await search(driver))["results"][0], "ccs2")["price"]
    assert unpriced["total_incl_vat"] is None and "no tariff applies" in unpriced["reason"]
    assert (await publish(api, "KZ-STD", STANDARD)).status_code == 201
    assert (await publish(api, "KZ-TAXI", TAXI)).status_code == 201
    await add_token(api, "TAXI-7", group_id="taxi-almaty")
    regular = connector((await search(driver))["results"][0], "ccs2")["price"]
    taxi = connector((await search(driver, token="TAXI-7"))["results"][0], "ccs2")["price"]
    stranger = connector((await search(driver, token="NOBODY"))["results"][0], "ccs2")["price"]
    for price, body, code in ((regular, STANDARD, "KZ-STD"), (taxi, TAXI, "KZ-TAXI")):
        assert price["tariff"] == code and price["currency"] == "KZT"
        assert price["session"] == {"kwh": "30", "minutes": "36.00", "start_local": price["session"]["start_local"]}
        expected = estimate(Tariff.from_ocpi({**body, "id": code}), 30, Decimal("36.00"),
                            datetime.fromisoformat(price["session"]["start_local"])).total_cost
        assert Decimal(price["total_incl_vat"]) == expected.incl_vat.amount
        assert Decimal(price["total_excl_vat"]) == expected.excl_vat.amount
    assert Decimal(taxi["total_incl_vat"]) == Decimal("2088.00")  # 30 kWh x 60 + 16 %
    assert stranger == regular
    longer = connector((await search(driver, kwh="10", minutes="90"))["results"][0], "ccs2")["price"]
    assert longer["session"]["minutes"] == "90"


@pytest.mark.parametrize("params, problem", [
    ({"radius_km": 0}, "radius_km"),
    ({"radius_km": 2500}, "radius_km"),
    ({"lat": 95}, "query.lat: Input should be less than or equal to 90"),
    ({"lon": -181}, "query.lon: Input should be greater than or equal to -180"),
    ({"standard": "Schuko"}, "unknown connector standard"),
    ({"min_lat": 44, "min_lon": 76, "max_lat": 43, "max_lon": 77}, "inverted"),
    ({"min_lat": 43}, "all of min_lat"),
])
async def test_bad_searches_are_refused_with_a_reason(driver, params, problem):
    response = await driver.get("/api/v1/search/stations", params={**NEAR_TEST_SITE, **params})
    assert response.status_code == 422
    assert problem in response.json()["detail"]


BISHKEK = {"lat": 42.874, "lon": 74.59, "radius_km": 10}
SITE_FAR = {"code": "FRU-INC", "operator": "KZ-TEST", "name": "Bishkek site", "city": "Bishkek",
            "country": "KG", "lat": 42.875, "lon": 74.6, "timezone": "Asia/Bishkek"}


def site_codes(found: dict) -> list[str]:
    return [result["site"]["code"] for result in found["results"]]


async def test_changes_reach_search_on_the_next_refresh_without_a_full_reload(api, driver, platform):
    await register_station(api, "SRCH-INC", connectors=2)
    assert (await api.post("/api/v1/sites", json=SITE_FAR)).status_code == 201
    station = {"id": "SRCH-FAR", "site": "FRU-INC", "password": "s3cret-password-16",
               "connectors": [{"evse_id": 1, "connector_id": 1, "standard": "ccs2", "max_power_kw": "50"}]}
    assert (await api.post("/api/v1/stations", json=station)).status_code == 201
    assert site_codes(await search(driver, **BISHKEK)) == ["FRU-INC"]  # new ids: seen at once

    # Changed: the site moves to Almaty and its connector gains power. The next refresh shows both.
    moved = await api.patch("/api/v1/sites/FRU-INC", json={"lat": 43.22, "lon": 76.64})
    assert moved.status_code == 200
    assert (await api.patch("/api/v1/stations/SRCH-FAR/connectors/1/1",
                            json={"max_power_kw": "150"})).status_code == 200
    await platform.search.refresh()
    assert (await search(driver, **BISHKEK))["count"] == 0
    assert site_codes(await search(driver, min_power_kw="100")) == ["FRU-INC"]

    # A tariff of that site alone prices it, and no other; withdrawn, the price goes with it.
    assert (await publish(api, "FRU-OWN", STANDARD, site="FRU-INC")).status_code == 201
    await platform.search.refresh()
    prices = {r["site"]["code"]: connector(r, "ccs2")["price"] for r in (await search(driver))["results"]}
    assert prices["FRU-INC"]["tariff"] == "FRU-OWN" and prices["ALA-TEST"]["tariff"] is None
    assert (await api.delete("/api/v1/tariffs/FRU-OWN")).status_code == 204
    await platform.search.refresh()
    gone = connector(next(r for r in (await search(driver))["results"]
                          if r["site"]["code"] == "FRU-INC"), "ccs2")["price"]
    assert gone["tariff"] is None and "no tariff applies" in gone["reason"]

    # Deleted: the connector first, then the station and its site.
    assert (await api.delete("/api/v1/stations/SRCH-INC/connectors/2/1")).status_code == 204
    await platform.search.refresh()
    assert (await search(driver, standard="ccs2"))["results"][0]["site"]["code"] == "FRU-INC"
    assert site_codes(await search(driver, standard="ccs2")) == ["FRU-INC"]
    assert (await api.delete("/api/v1/stations/SRCH-FAR")).status_code == 204
    assert (await api.delete("/api/v1/sites/FRU-INC")).status_code == 204
    await platform.search.refresh()
    assert site_codes(await search(driver)) == ["ALA-TEST"]
    assert platform.search.full_loads == 1


async def test_a_status_reported_while_a_refresh_reads_survives_the_merge(api, driver, platform, ocpp_url):
    await register_station(api, "SRCH-RACE", connectors=1)
    async with connected_peer(ocpp_url, "SRCH-RACE", "1.6") as peer:
        await peer.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
        await peer.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Available"))
        await eventually(lambda: _status_is(driver, "Available"))
        refreshing = asyncio.create_task(platform.search.refresh())
        await peer.call(call.StatusNotification(connector_id=1, error_code="GroundFailure", status="Faulted"))
        await refreshing
        await platform.search.refresh()
        await eventually(lambda: _status_is(driver, "Faulted"))
        await platform.search.refresh()
        assert await _status_is(driver, "Faulted")


async def _status_is(driver: httpx.AsyncClient, status: str) -> bool:
    found = await search(driver)
    return connector(found["results"][0], "gbt_dc")["status"] == status


async def test_rows_imported_with_an_old_change_stamp_still_reach_search(api, driver, platform):
    """An import may write sites and connectors whose `updated_at` is older than the last refresh;
    the refresh finds them by the ids it lacks, not by their stamp."""
    from datetime import timedelta

    from sqlalchemy import select, update

    from silkcharge.domain.clock import utcnow
    from silkcharge.store.schema import Connector, Site

    await register_station(api, "SRCH-OLD-0", connectors=1)
    await platform.search.refresh()
    assert (await api.post("/api/v1/sites", json=SITE_FAR)).status_code == 201
    station = {"id": "SRCH-OLD", "site": "FRU-INC", "password": "s3cret-password-16",
               "connectors": [{"evse_id": 1, "connector_id": 1, "standard": "ccs2", "max_power_kw": "50"}]}
    assert (await api.post("/api/v1/stations", json=station)).status_code == 201
    long_ago = utcnow() - timedelta(days=365)
    async with platform.sessions.begin() as session:
        site_id = await session.scalar(select(Site.id).where(Site.code == "FRU-INC"))
        await session.execute(update(Site).where(Site.id == site_id).values(updated_at=long_ago))
        await session.execute(
            update(Connector).where(Connector.station_id == "SRCH-OLD").values(updated_at=long_ago)
        )
    await platform.search.refresh()
    found = await search(driver, **BISHKEK)
    assert site_codes(found) == ["FRU-INC"]
    assert connector(found["results"][0], "ccs2") is not None
