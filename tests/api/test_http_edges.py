"""What a careless or hostile client sends the HTTP API is refused with a 4xx that says why,
changes nothing, and breaks nothing for anyone else (issue 14, "HTTP edge")."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select

from silkcharge.api.principals import UNAUTHENTICATED
from silkcharge.store.schema import Operator, Site
from tests.e2e.network import register_station

BEYOND_BIGINT = 2**63
BEYOND_UINT64 = 2**64
BEYOND_INT32 = 2**31


def nested(levels: int) -> dict:
    value: dict = {}
    for _ in range(levels):
        value = {"source": value}
    return value


@pytest.mark.parametrize("too_big", [BEYOND_BIGINT, BEYOND_UINT64])
async def test_ids_beyond_what_the_store_holds_are_refused_with_a_reason(api, too_big):
    """Issue 14: ids above 2^63 answered 500 (an overflow in the database driver) on 7 routes."""
    await register_station(api, "ALA-9")
    requests = [
        ("GET", f"/api/v1/transactions/{too_big}", "transaction_id"),
        ("GET", f"/api/v1/transactions/{too_big}/cdr", "transaction_id"),
        ("GET", f"/api/v1/transactions/{too_big}/receipt", "transaction_id"),
        ("GET", f"/api/v1/reservations/{too_big}", "reservation_id"),
        ("DELETE", f"/api/v1/reservations/{too_big}", "reservation_id"),
        ("GET", f"/api/v1/reservations/{too_big}/cdr", "reservation_id"),
        ("GET", f"/api/v1/reservations/{too_big}/receipt", "reservation_id"),
        ("GET", f"/api/v1/stations/ALA-9/messages?before={too_big}", "before"),
        ("GET", f"/api/v1/security-events?before={too_big}", "before"),
        ("PATCH", f"/api/v1/stations/ALA-9/connectors/{too_big}/1", "evse_id"),
        ("DELETE", f"/api/v1/stations/ALA-9/connectors/1/{too_big}", "connector_id"),
    ]
    for method, path, name in requests:
        response = await api.request(method, path, json={} if method == "PATCH" else None)
        assert response.status_code == 422, (method, path, response.text)
        assert name in response.json()["detail"], (method, path, response.text)


async def test_ids_beyond_an_ocpp_integer_are_refused_on_both_engines(api):
    """Reservation, EVSE and connector ids are OCPP integers, and `integer` columns on
    PostgreSQL: 2^31 overflowed there even though SQLite holds it."""
    await register_station(api, "ALA-9")
    for method, path in [
        ("GET", f"/api/v1/reservations/{BEYOND_INT32}"),
        ("DELETE", f"/api/v1/stations/ALA-9/connectors/{BEYOND_INT32}/1"),
    ]:
        response = await api.request(method, path)
        assert response.status_code == 422, (path, response.text)
        assert "2147483647" in response.json()["detail"]
    added = await api.post("/api/v1/stations/ALA-9/connectors",
                           json={"evse_id": BEYOND_INT32, "standard": "ccs2", "max_power_kw": "50"})
    assert added.status_code == 422, added.text
    assert "evse_id" in added.json()["detail"]


async def test_ids_in_range_but_unknown_answer_404(api):
    for path in ["/api/v1/transactions/9223372036854775807", "/api/v1/reservations/2147483647"]:
        response = await api.get(path)
        assert response.status_code == 404, response.text


async def test_an_unknown_currency_in_an_operator_patch_is_refused_and_changes_nothing(api, platform):
    """Issue 14: PATCH /operators/{code} with an unknown currency answered 500."""
    await register_station(api, "ALA-9")
    response = await api.patch("/api/v1/operators/KZ-TEST", json={"currency": "XXX"})
    assert response.status_code == 422, response.text
    assert "unknown currency 'XXX'" in response.json()["detail"]
    assert response.json()["problems"][0]["field"] == "currency"
    async with platform.sessions() as session:
        assert await session.scalar(select(Operator.currency).where(Operator.code == "KZ-TEST")) == "KZT"
    assert (await api.patch("/api/v1/operators/KZ-TEST", json={"currency": "UZS"})).json()["currency"] == "UZS"


@pytest.mark.parametrize("key", ["kéy".encode(), "ключ".encode(), b"\xff\xfe", b"test-key\x7f"])
async def test_a_non_ascii_or_malformed_api_key_is_refused_with_401(api, key, caplog):
    """Issue 14: a non-ASCII X-API-Key answered 500 with a traceback (compare_digest refuses
    non-ASCII text)."""
    response = await api.get("/api/v1/stations", headers={"X-API-Key": key})
    assert response.status_code == 401, response.text
    assert response.json() == {"detail": UNAUTHENTICATED}
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize("token", ["tökén".encode(), b"\xff\xfe", b"x" * 5000])
async def test_a_malformed_driver_session_token_is_refused_with_401(api, token, caplog):
    response = await api.get("/api/v1/driver/me", headers={"Authorization": b"Bearer " + token})
    assert response.status_code == 401, response.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_deeply_nested_provenance_is_refused_and_the_site_list_stays_readable(api, platform):
    """Issue 14: a site whose provenance nested 400 levels deep was stored, and from then on
    `GET /sites` answered 500 for everyone."""
    await register_station(api, "ALA-9")
    site = {"code": "DEEP-1", "operator": "KZ-TEST", "name": "Deep", "country": "KZ",
            "lat": 43.2, "lon": 76.9, "timezone": "Asia/Almaty"}
    refused = await api.post("/api/v1/sites", json={**site, "provenance": nested(400)})
    assert refused.status_code == 422, refused.text
    assert "provenance" in refused.json()["detail"] and "deeper than 32 levels" in refused.json()["detail"]
    assert (await api.get("/api/v1/sites/DEEP-1")).status_code == 404
    accepted = await api.post("/api/v1/sites", json={**site, "provenance": nested(20)})
    assert accepted.status_code == 201, accepted.text

    async with platform.sessions() as session:  # one stored before the API refused them
        row = await session.scalar(select(Site).where(Site.code == "DEEP-1"))
        row.provenance = nested(400)
        await session.commit()
    listed = await api.get("/api/v1/sites")
    assert listed.status_code == 200, listed.text
    deep = next(s for s in listed.json() if s["code"] == "DEEP-1")
    assert "deeper than 32 levels" in deep["provenance"]["unreadable"]
    assert {s["code"] for s in listed.json()} == {"ALA-TEST", "DEEP-1"}


@pytest.mark.parametrize("query", [
    "kwh=1E%2B999999", "kwh=NaN", "kwh=Infinity", "kwh=-Infinity", "kwh=0", "kwh=2001",
    "minutes=1E%2B999999", "minutes=NaN", "min_power_kw=NaN", "min_power_kw=1E%2B999999x",
    "radius_km=inf", "radius_km=1e999", "lat=nan", "limit=99999999999999999999999",
])
async def test_search_refuses_numbers_that_are_not_numbers_or_out_of_range(api, query):
    """Issue 14: `search?kwh=1E+999999` answered 500 (the price computation overflowed)."""
    response = await api.get(f"/api/v1/search/stations?lat=43.2&lon=76.9&{query}")
    assert response.status_code == 422, response.text
    name = query.split("=")[0]
    assert response.json()["problems"][0]["field"] == f"query.{name}", response.text


async def test_search_still_prices_an_ordinary_session(api):
    await register_station(api, "ALA-9")
    response = await api.get("/api/v1/search/stations?lat=43.2&lon=76.62&kwh=45.5&minutes=40")
    assert response.status_code == 200, response.text
    assert response.json()["count"] == 1


@pytest.mark.parametrize("path, body", [
    ("/api/v1/stations/ALA-9/commands/get_configuration", nested(100)),
    ("/api/v1/stations/ALA-9/ocpp/DataTransfer", {"vendorId": "x", "data": nested(100)}),
    ("/api/v1/tariffs", {"code": "DEEP", "operator": "KZ-TEST", "tariff": nested(100)}),
])
async def test_free_form_json_nested_too_deep_is_refused(api, path, body):
    await register_station(api, "ALA-9")
    response = await api.post(path, json=body)
    assert response.status_code == 422, response.text
    assert "deeper than 32 levels" in response.json()["detail"]
