"""The console's reference routes and the static mount."""

from __future__ import annotations

import re

import httpx
import pytest

from silkcharge.domain.commands import COMMANDS
from silkcharge.trips.roads import load_road_graph
from tests.e2e.network import register_station

OCPP16_ERROR_CODES = {
    "ConnectorLockFailure", "EVCommunicationError", "GroundFailure", "HighTemperature", "InternalError",
    "LocalListConflict", "NoError", "OtherError", "OverCurrentFailure", "OverVoltage", "PowerMeterFailure",
    "PowerSwitchFailure", "ReaderFailure", "ResetFailure", "UnderVoltage", "WeakSignal",
}


async def test_error_codes_explain_every_ocpp16_code_and_what_to_check(api: httpx.AsyncClient):
    codes = (await api.get("/api/v1/console/error-codes", headers={"X-API-Key": ""})).json()["codes"]
    assert OCPP16_ERROR_CODES | {"Offline", "NeverConnected"} <= set(codes)
    for code, entry in codes.items():
        assert entry["meaning"] and entry["check"] and entry["source"], code
        assert entry["severity"] in {"none", "warning", "fault"}, code


async def test_command_forms_describe_every_command(api: httpx.AsyncClient):
    forms = (await api.get("/api/v1/console/commands")).json()
    assert set(forms) == set(COMMANDS)
    assert forms["reset"]["properties"]["type"]["enum"] == ["soft", "hard"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_the_console_is_served_at_the_root_and_the_api_still_answers(api: httpx.AsyncClient):
    from silkcharge.api.console import STATIC

    if not (STATIC / "index.html").is_file():
        pytest.skip("the console is not built (make web)")
    page = await api.get("/")
    assert page.status_code == 200 and '<div id="page"' not in page.text and 'id="page"' in page.text
    assert (await api.get("/api/v1/health")).json()["status"] == "ok"
    assert (await api.get("/docs")).status_code == 200


CONSOLE_LANGUAGES = {"ru", "kk", "uz", "ky", "tg", "zh"}


@pytest.fixture
async def fleet_sites(api):
    """One registered station at the test site (Kaskelen), so there is a charging site to locate."""
    await register_station(api, "CONSOLE-1")


async def test_every_error_code_is_explained_in_every_console_language(api: httpx.AsyncClient):
    """English is the base text; a code added without all six translations fails here."""
    codes = (await api.get("/api/v1/console/error-codes")).json()["codes"]
    missing = {code: sorted(CONSOLE_LANGUAGES - set(entry["i18n"]))
               for code, entry in codes.items() if set(entry["i18n"]) != CONSOLE_LANGUAGES}
    assert missing == {}, f"translations missing (code: languages): {missing}"
    for code, entry in codes.items():
        for language, text in entry["i18n"].items():
            assert text["meaning"].strip() and text["check"].strip(), (code, language)
            assert text["meaning"] != entry["meaning"], (code, language)
            assert text["check"] != entry["check"], (code, language)
            for command in re.findall(r"\b[a-z]+(?:_[a-z]+)+\b", entry["check"]):
                assert command in text["check"], f"{code}/{language} translated the command {command}"


async def test_trip_map_locates_places_and_stops_and_draws_the_road(api: httpx.AsyncClient, fleet_sites):
    answer = await api.get("/api/v1/console/trip-map",
                           params=[("point", "Almaty"), ("point", "site:ALA-TEST"), ("point", "Bishkek")])
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert [(p["kind"], p["name"]) for p in body["points"]] == [
        ("place", "Almaty"), ("stop", "Kaskelen test site"), ("place", "Bishkek")]
    assert 10 < len(body["route"]) <= 800
    assert body["route"][0] == pytest.approx([43.24, 76.9], abs=0.3)
    assert body["route"][-1] == pytest.approx([42.87, 74.6], abs=0.3)


async def test_trip_map_draws_the_road_the_plan_drives_not_a_detour_through_a_stop(api: httpx.AsyncClient, fleet_sites):
    """A stop beside the curated Bishkek-Osh mountain road once snapped to a node of another
    road: the map drew a 370 km loop through Naryn for a 149 km leg."""
    site = await api.post("/api/v1/sites", json={
        "code": "KG-SUUSAMYR", "operator": "KZ-TEST", "name": "Suusamyr stop", "country": "KG",
        "lat": 42.2631, "lon": 73.7561, "timezone": "Asia/Bishkek"})
    assert site.status_code == 201, site.text
    await api.post("/api/v1/stations", json={
        "id": "SUUSAMYR-1", "site": "KG-SUUSAMYR", "password": "a-long-station-password",
        "connectors": [{"evse_id": 1, "connector_id": 1, "standard": "ccs2", "max_power_kw": "60"}]})
    answer = await api.get("/api/v1/console/trip-map",
                           params=[("point", "Bishkek"), ("point", "site:KG-SUUSAMYR"), ("point", "Osh")])
    assert answer.status_code == 200, answer.text
    route = answer.json()["route"]
    assert max(lon for _, lon in route) < 74.7  # never east of Bishkek (74.6): no loop via Naryn
    assert min(lat for lat, _ in route) == pytest.approx(40.51, abs=0.1)


@pytest.mark.parametrize("params, reason", [
    ([("point", "Almaty")], "2 to 12 points"),
    ([("point", "Almaty"), ("point", "Atlantis")], "Atlantis"),
    ([("point", "Almaty"), ("point", "site:NOWHERE")], "no charging site NOWHERE"),
])
async def test_trip_map_says_what_is_wrong(api: httpx.AsyncClient, params, reason):
    answer = await api.get("/api/v1/console/trip-map", params=params)
    assert answer.status_code == 422 and reason in answer.json()["detail"]


async def test_places_are_the_planners_places(api: httpx.AsyncClient):
    places = (await api.get("/api/v1/console/places", headers={"X-API-Key": ""})).json()
    names = {p["name"] for p in places}
    assert {"Almaty", "Bishkek", "Tashkent", "Dushanbe"} <= names


async def test_map_roads_are_the_planners_whole_road_network_as_geojson_lines(api: httpx.AsyncClient):
    answer = await api.get("/api/v1/console/map/roads")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/geo+json")
    assert answer.headers["content-encoding"] == "gzip"  # httpx asks for it and unpacks it
    lines = answer.json()["features"][0]["geometry"]["coordinates"]
    assert sum(len(line) - 1 for line in lines) == load_road_graph().edge_count
    # every coordinate is [lon, lat] inside the graph's box (lat 35-56, lon 46-90, with margin)
    assert all(44 <= lon <= 92 and 34 <= lat <= 57 for line in lines for lon, lat in line)


@pytest.mark.parametrize(("lang", "almaty", "urumqi"), [
    ("en", "Almaty", "Urumqi"), ("ru", "Алматы", "Урумчи"), ("zh", "阿拉木图", "乌鲁木齐"),
    ("kk", "Алматы", "Урумчи"), ("uz", "Almaty", "Urumqi")])
async def test_map_cities_are_named_in_the_consoles_language_where_a_name_exists(
    api: httpx.AsyncClient, lang, almaty, urumqi
):
    cities = (await api.get("/api/v1/console/map/cities", params={"lang": lang})).json()["features"]
    names = {c["properties"]["id"]: c["properties"]["name"] for c in cities}
    assert (names["Almaty"], names["Urumqi"]) == (almaty, urumqi)
    almaty_point = next(c for c in cities if c["properties"]["id"] == "Almaty")
    assert almaty_point["geometry"]["coordinates"] == pytest.approx([76.946, 43.238])
    assert almaty_point["properties"]["major"] is True


async def test_map_cities_refuse_a_language_the_console_does_not_have(api: httpx.AsyncClient):
    answer = await api.get("/api/v1/console/map/cities", params={"lang": "xx"})
    assert answer.status_code == 422
