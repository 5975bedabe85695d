"""Seeding the curated network: everything lands in the store once, with provenance, on both engines."""

from __future__ import annotations

from silkcharge.data.seed import load_seed_network
from silkcharge.services.passwords import PasswordVerifier
from silkcharge.services.seeding import seed_network, wire_model


async def test_seeded_network_is_visible_through_the_api(api, platform):
    network = load_seed_network()
    created = await seed_network(platform.sessions, network, tokens=[{"token": "DEMO-1"}])
    station_count = sum(len(site["stations"]) for site in network["sites"])
    assert len(created) == station_count

    operators = (await api.get("/api/v1/operators")).json()
    assert {o["country"]: o["currency"] for o in operators}["UZ"] == "UZS"
    sites = (await api.get("/api/v1/sites")).json()
    assert len(sites) == len(network["sites"])
    assert all(site["provenance"]["source"] for site in sites)
    cities = {site["city"] for site in sites}
    assert {"Almaty", "Bishkek", "Tashkent", "Dushanbe", "Khujand", "Samarkand"} <= cities
    stations = (await api.get("/api/v1/stations")).json()
    assert len(stations) == station_count
    standards = {c["standard"] for s in stations for c in s["connectors"]}
    assert {"gbt_dc", "ccs2", "type2"} <= standards
    assert (await api.get("/api/v1/tokens/DEMO-1")).status_code == 200


async def test_seeding_twice_creates_nothing_new(platform):
    network = load_seed_network()
    await seed_network(platform.sessions, network)
    assert await seed_network(platform.sessions, network) == []


async def test_seeded_passwords_are_stored_hashed_and_verify(platform):
    network = load_seed_network()
    network = {**network, "sites": network["sites"][:1]}
    created = await seed_network(platform.sessions, network)
    verdict = await platform.stations.admit(created[0].station_id, created[0].password)
    wrong = await platform.stations.admit(created[0].station_id, "guess")
    assert verdict.admission.value == "accept"
    assert wrong.admission.value == "bad_password"
    assert PasswordVerifier().verify(created[0].station_id, "guess", None) is False


def test_wire_model_fits_ocpp_twenty_characters():
    network = load_seed_network()
    models = {wire_model(station) for site in network["sites"] for station in site["stations"]}
    assert all(len(model) <= 20 for model in models)
    assert "DC240-2E" in models
