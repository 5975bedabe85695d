"""Availability search end to end: a real charger's status reaches the driver's search without a
restart, and the price shown is the one computation (`pricing.estimate`) for that driver."""

from __future__ import annotations

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

NEAR_ALMATY = {"lat": 43.24, "lon": 76.9, "radius_km": 10}
TAXI = {**STANDARD, "silkcharge": {"token_groups": ["taxi-almaty"]},
        "elements": [{"price_components": [component("ENERGY", "60", 1)]}]}


@pytest.fixture
async def driver(platform) -> AsyncIterator[httpx.AsyncClient]:
    """A driver's client: no API key."""
    transport = httpx.ASGITransport(app=create_api(platform))
    async with httpx.AsyncClient(transport=transport, base_url="http://silkcharge") as client:
        yield client


async def search(driver: httpx.AsyncClient, **params) -> dict:
    response = await driver.get("/api/v1/search/stations", params={**NEAR_ALMATY, **params})
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
    ({"lat": 95}, "lat 95"),
    ({"lon": -181}, "lon -181"),
    ({"standard": "Schuko"}, "unknown connector standard"),
    ({"min_lat": 44, "min_lon": 76, "max_lat": 43, "max_lon": 77}, "inverted"),
    ({"min_lat": 43}, "all of min_lat"),
])
async def test_bad_searches_are_refused_with_a_reason(driver, params, problem):
    response = await driver.get("/api/v1/search/stations", params={**NEAR_ALMATY, **params})
    assert response.status_code == 422
    assert problem in response.json()["detail"]
