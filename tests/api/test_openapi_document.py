"""The OpenAPI document declares what the API answers, with the bodies it really sends
(issue 14: every 422 body broke its declared schema; 400/401/403/404/409/413/429 were not
declared at all). tests/api/test_openapi_fuzz.py checks every operation by generated requests;
these check each kind of error answer by a request known to cause it."""

from __future__ import annotations

from typing import Any

import fastjsonschema
import httpx
import pytest

from silkcharge.api.app import create_api
from tests.api.test_http_limits import serving
from tests.conftest import API_KEY
from tests.e2e.network import register_station
from tests.guards import HANG_GUARD

ERRORS = ["400", "401", "403", "404", "409", "413", "422", "429"]


@pytest.fixture
async def document(api) -> dict[str, Any]:
    response = await api.get("/openapi.json")
    assert response.status_code == 200
    return response.json()


def declared_schema(document: dict[str, Any], method: str, path: str, status: int):
    """A validator for the body `method path` declares for `status`; fails if undeclared."""
    responses = document["paths"][path][method.lower()]["responses"]
    assert str(status) in responses, f"{method} {path} does not declare {status}: {sorted(responses)}"
    schema = responses[str(status)]["content"]["application/json"]["schema"]
    return fastjsonschema.compile({**schema, "components": document["components"]})


async def driver_login_refused_until_limited(api) -> httpx.Response:
    for _ in range(10):
        answer = await api.post("/api/v1/driver/login", json={"email": "nobody@example.kz", "password": "x"})
        if answer.status_code == 429:
            return answer
    raise AssertionError("no login limit within 10 attempts")


@pytest.mark.settings(http_max_body_bytes=2048)
async def test_every_kind_of_error_answer_is_declared_with_the_body_it_sends(api, document):
    await register_station(api, "ALA-9")
    operator = {"code": "KZ-TEST", "name": "again", "country": "KZ", "currency": "KZT"}
    keyless = httpx.AsyncClient(transport=api._transport, base_url="http://silkcharge")
    cases = [
        (400, "POST", "/api/v1/operators", lambda: api.post(
            "/api/v1/operators", content=b'{"code": "\x80"}', headers={"Content-Type": "application/json"})),
        (401, "GET", "/api/v1/stations", lambda: keyless.get("/api/v1/stations")),
        (401, "GET", "/api/v1/driver/me", lambda: keyless.get("/api/v1/driver/me")),
        (404, "GET", "/api/v1/operators/{code}", lambda: api.get("/api/v1/operators/NOPE")),
        (409, "POST", "/api/v1/operators", lambda: api.post("/api/v1/operators", json=operator)),
        (413, "POST", "/api/v1/operators", lambda: api.post(
            "/api/v1/operators", json={**operator, "name": "x" * 4096})),
        (422, "POST", "/api/v1/operators", lambda: api.post("/api/v1/operators", json={})),
        (422, "POST", "/api/v1/operators", lambda: api.post(
            "/api/v1/operators", content=b"{", headers={"Content-Type": "application/json"})),
        (422, "GET", "/api/v1/stations", lambda: api.get("/api/v1/stations?site=%00")),
        (422, "POST", "/api/v1/sites", lambda: api.post("/api/v1/sites", json={
            "code": "NUL", "operator": "KZ-TEST", "name": "a\u0000b", "country": "KZ", "lat": 43,
            "lon": 76, "timezone": "Asia/Almaty"})),
        (422, "POST", "/api/v1/tariffs", lambda: api.post("/api/v1/tariffs", json={
            "code": "T1", "operator": "KZ-TEST", "tariff": {"currency": "KZT", "elements": []}})),
        (422, "GET", "/api/v1/search/stations", lambda: api.get("/api/v1/search/stations")),
        (422, "PUT", "/api/v1/smart/sites/{code}", lambda: api.put("/api/v1/smart/sites/ALA-TEST", json={})),
        (429, "POST", "/api/v1/driver/login", lambda: driver_login_refused_until_limited(api)),
    ]
    async with keyless:
        for status, method, path, request in cases:
            answer = await request()
            assert answer.status_code == status, (method, path, answer.status_code, answer.text)
            validate = declared_schema(document, method, path, status)
            validate(answer.json())  # raises JsonSchemaValueException, naming the broken rule
            assert answer.json()["detail"], answer.text


async def test_each_route_declares_the_errors_it_answers(document):
    declared = {
        ("post", "/api/v1/driver/password-reset/confirm"): {"400", "422"},
        ("get", "/api/v1/stations"): {"401", "422"},
        ("post", "/api/v1/driver/password"): {"401", "403", "429"},
        ("get", "/api/v1/sites/{code}"): {"401", "404"},
        ("delete", "/api/v1/sites/{code}"): {"401", "404", "409"},
        ("post", "/api/v1/stations"): {"400", "401", "404", "409", "413", "422"},
        ("post", "/api/v1/driver/login"): {"401", "429"},
        ("post", "/api/v1/stations/{station_id}/commands/{command}"): {"404", "409", "502", "503", "504"},
    }
    for (method, path), codes in declared.items():
        responses = set(document["paths"][path][method]["responses"])
        assert codes <= responses, f"{method.upper()} {path} lacks {sorted(codes - responses)}"


async def test_no_operation_declares_a_body_the_api_never_sends(document):
    """FastAPI declares its own validation body (HTTPValidationError) on every operation with
    input; this API answers every error with ErrorOut."""
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if status in ERRORS:
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorOut"}, (method, path, status)


async def test_the_event_stream_is_declared_and_sent_as_one(platform, document):
    declared = document["paths"]["/api/v1/events"]["get"]["responses"]["200"]["content"]
    assert list(declared) == ["text/event-stream"]
    async with serving(platform) as port, httpx.AsyncClient(timeout=HANG_GUARD) as client:
        async with client.stream("GET", f"http://127.0.0.1:{port}/api/v1/events",
                                 headers={"X-API-Key": API_KEY}) as answer:
            assert answer.headers["content-type"].startswith("text/event-stream")
            assert (await anext(answer.aiter_bytes())).startswith(b": connected")


async def test_the_document_is_served_with_the_api(platform):
    """The document the fuzzer reads is the app's own, whoever builds the app."""
    app = create_api(platform)
    assert app.openapi()["components"]["schemas"]["ErrorOut"]["additionalProperties"] is False
